package series

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func flush(s *Set, now pcommon.Timestamp) pmetric.MetricSlice {
	sm := pmetric.NewScopeMetrics()
	s.AppendTo(sm, now)
	return sm.Metrics()
}

func TestCardinalityLimitRoutesToOverflow(t *testing.T) {
	overflows := 0
	s := NewSet(Settings{CardinalityLimit: 3, OnOverflow: func(string) { overflows++ }})
	m := s.Register(Def{Name: "calls", Type: Sum, Labels: []string{"tool"}, IntValues: true})
	for i := range 10 {
		m.Add(Key{fmt.Sprintf("tool-%d", i)}, 1, 1)
	}
	m.Add(Key{"tool-0"}, 1, 1) // existing series still counted
	if m.Len() != 4 || overflows != 7 {
		t.Fatalf("series %d overflows %d", m.Len(), overflows)
	}
	dps := flush(s, 2).At(0).Sum().DataPoints()
	total := int64(0)
	found := false
	for _, dp := range dps.All() {
		total += dp.IntValue()
		if v, ok := dp.Attributes().Get(OverflowAttribute); ok && v.Bool() {
			found = true
			if dp.IntValue() != 7 {
				t.Fatalf("overflow value %d", dp.IntValue())
			}
			if dp.Attributes().Len() != 1 {
				t.Fatalf("overflow series carries labels %v", dp.Attributes().AsRaw())
			}
		}
	}
	if !found || total != 11 {
		t.Fatalf("overflow found %v, total %d (nothing may be lost)", found, total)
	}
}

func TestHistogramBucketsAndExemplarBound(t *testing.T) {
	s := NewSet(Settings{MaxExemplars: 2})
	m := s.Register(Def{Name: "lat", Type: Histogram, Labels: []string{"a"}, Bounds: []float64{1, 2, 5}})
	for i, v := range []float64{0.5, 1, 1.5, 7, 3} {
		m.Observe(Key{"x"}, v, pcommon.TraceID{byte(i + 1)}, pcommon.SpanID{byte(i + 1)}, 10)
	}
	dp := flush(s, 11).At(0).Histogram().DataPoints().At(0)
	if got := dp.BucketCounts().AsRaw(); fmt.Sprint(got) != "[2 1 1 1]" { // <=1, <=2, <=5, +Inf
		t.Fatalf("buckets %v", got)
	}
	if dp.Count() != 5 || dp.Sum() != 13 {
		t.Fatalf("count %d sum %v", dp.Count(), dp.Sum())
	}
	if dp.Exemplars().Len() != 2 {
		t.Fatalf("exemplars %d, want the bound 2", dp.Exemplars().Len())
	}
	ids := map[byte]bool{}
	for _, e := range dp.Exemplars().All() {
		ids[e.TraceID()[0]] = true
	}
	if !ids[4] || !ids[5] {
		t.Fatalf("kept exemplars %v, want the newest two", ids)
	}
}

func TestDeltaResetsAndCumulativeKeeps(t *testing.T) {
	for _, delta := range []bool{false, true} {
		s := NewSet(Settings{Delta: delta})
		m := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}, IntValues: true})
		m.Add(Key{"x"}, 2, 1)
		flush(s, 2)
		m.Add(Key{"x"}, 3, 3)
		dp := flush(s, 4).At(0).Sum().DataPoints().At(0)
		want := int64(5)
		if delta {
			want = 3
		}
		if dp.IntValue() != want {
			t.Fatalf("delta=%v value %d want %d", delta, dp.IntValue(), want)
		}
		if delta && flush(s, 5).Len() != 0 {
			t.Fatal("delta re-sent an untouched series")
		}
	}
}

func TestLabelValuesAreCapped(t *testing.T) {
	s := NewSet(Settings{MaxLabelLength: 4})
	m := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}})
	m.Add(Key{"abcdefgh"}, 1, 1)
	m.Add(Key{"abcdXYZ"}, 1, 1)
	if m.Len() != 1 {
		t.Fatalf("series %d", m.Len())
	}
	v, _ := flush(s, 2).At(0).Sum().DataPoints().At(0).Attributes().Get("a")
	if v.Str() != "abcd" {
		t.Fatalf("label %q", v.Str())
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	s := NewSet(Settings{MaxExemplars: 4, CardinalityLimit: 100})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a", "b", "c"}})
	h := s.Register(Def{Name: "h", Type: Histogram, Labels: []string{"a"}, Bounds: []float64{1, 2}})
	c.Add(Key{"a", "b", "c"}, 1, 1)
	h.Observe(Key{"a"}, 1, pcommon.TraceID{1}, pcommon.SpanID{1}, 1)
	for range 4 {
		h.Observe(Key{"a"}, 1, pcommon.TraceID{1}, pcommon.SpanID{1}, 1)
	}
	hc := c.Handle(Key{"a", "b", "c"}, 1)
	hh := h.Handle(Key{"a"}, 1)
	allocs := testing.AllocsPerRun(1000, func() {
		c.Add(Key{"a", "b", "c"}, 1, 2)
		h.Observe(Key{"a"}, 1.5, pcommon.TraceID{2}, pcommon.SpanID{2}, 2)
		hc.Add(1)
		hh.Observe(1.5, pcommon.TraceID{2}, pcommon.SpanID{2}, 2)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per observation on existing series", allocs)
	}
}

const sec = pcommon.Timestamp(time.Second)

// find returns the data point of metric name whose label a is v (or the
// overflow point when v is OverflowAttribute).
func find(ms pmetric.MetricSlice, name, v string) (pmetric.NumberDataPoint, pmetric.HistogramDataPoint, bool) {
	match := func(a pcommon.Map) bool {
		if v == OverflowAttribute {
			o, ok := a.Get(OverflowAttribute)
			return ok && o.Bool()
		}
		s, ok := a.Get("a")
		return ok && s.Str() == v
	}
	for _, m := range ms.All() {
		if m.Name() != name {
			continue
		}
		switch m.Type() {
		case pmetric.MetricTypeSum:
			for _, dp := range m.Sum().DataPoints().All() {
				if match(dp.Attributes()) {
					return dp, pmetric.HistogramDataPoint{}, true
				}
			}
		case pmetric.MetricTypeGauge:
			for _, dp := range m.Gauge().DataPoints().All() {
				if match(dp.Attributes()) {
					return dp, pmetric.HistogramDataPoint{}, true
				}
			}
		case pmetric.MetricTypeHistogram:
			for _, dp := range m.Histogram().DataPoints().All() {
				if match(dp.Attributes()) {
					return pmetric.NumberDataPoint{}, dp, true
				}
			}
		}
	}
	return pmetric.NumberDataPoint{}, pmetric.HistogramDataPoint{}, false
}

// A series idle for longer than Expiration is removed before writing, for
// every type, in both temporalities; one idle for exactly Expiration stays.
func TestIdleSeriesExpire(t *testing.T) {
	const exp = 10 * time.Second
	for _, delta := range []bool{false, true} {
		s := NewSet(Settings{Expiration: exp, Delta: delta})
		c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}})
		g := s.Register(Def{Name: "g", Type: Gauge, Labels: []string{"a"}})
		h := s.Register(Def{Name: "h", Type: Histogram, Labels: []string{"a"}, Bounds: []float64{1}})
		t0 := 100 * sec
		for _, k := range []string{"A", "B"} {
			c.Add(Key{k}, 1, t0)
			g.Set(Key{k}, 1, t0)
			h.Observe(Key{k}, 1, pcommon.TraceID{}, pcommon.SpanID{}, t0)
		}
		c.Add(Key{"B"}, 1, t0+5*sec)
		g.Set(Key{"B"}, 1, t0+5*sec)
		h.Observe(Key{"B"}, 1, pcommon.TraceID{}, pcommon.SpanID{}, t0+5*sec)

		ms := flush(s, t0+pcommon.Timestamp(exp)) // idle exactly exp: not longer
		for _, name := range []string{"c", "g", "h"} {
			if _, _, ok := find(ms, name, "A"); !ok {
				t.Fatalf("delta=%v %s: A expired after exactly the expiration", delta, name)
			}
		}
		if s.Expired() != 0 || c.Len() != 2 {
			t.Fatalf("delta=%v expired %d, len %d", delta, s.Expired(), c.Len())
		}

		c.Add(Key{"B"}, 1, t0+10*sec)
		g.Set(Key{"B"}, 1, t0+10*sec)
		h.Observe(Key{"B"}, 1, pcommon.TraceID{}, pcommon.SpanID{}, t0+10*sec)
		ms = flush(s, t0+pcommon.Timestamp(exp)+sec)
		for _, m := range []*Metric{c, g, h} {
			if m.Len() != 1 {
				t.Fatalf("delta=%v %s: %d series after A expired, want 1", delta, m.def.Name, m.Len())
			}
			if _, _, ok := find(ms, m.def.Name, "A"); ok {
				t.Fatalf("delta=%v %s: expired series A written", delta, m.def.Name)
			}
			if _, _, ok := find(ms, m.def.Name, "B"); !ok {
				t.Fatalf("delta=%v %s: live series B missing", delta, m.def.Name)
			}
		}
		if s.Expired() != 3 {
			t.Fatalf("delta=%v Expired() %d, want 3", delta, s.Expired())
		}
		if flush(s, t0+pcommon.Timestamp(exp)+2*sec); s.Expired() != 0 {
			t.Fatalf("Expired() %d on a flush that removed nothing", s.Expired())
		}
	}
}

func TestNoExpirationKeepsSeries(t *testing.T) {
	s := NewSet(Settings{})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}})
	c.Add(Key{"A"}, 1, sec)
	if flush(s, 1e6*sec); c.Len() != 1 || s.Expired() != 0 {
		t.Fatalf("len %d expired %d with expiration off", c.Len(), s.Expired())
	}
}

// Expiry frees the cardinality slot: a new label set takes it.
func TestExpiryFreesCardinalitySlot(t *testing.T) {
	overflows := 0
	s := NewSet(Settings{CardinalityLimit: 1, Expiration: time.Second, OnOverflow: func(string) { overflows++ }})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}, IntValues: true})
	c.Add(Key{"A"}, 1, sec)
	c.Add(Key{"B"}, 1, sec) // over the limit
	if overflows != 1 {
		t.Fatalf("overflows %d", overflows)
	}
	flush(s, 3*sec) // A and the overflow series expire
	if c.Len() != 0 {
		t.Fatalf("len %d after expiry", c.Len())
	}
	c.Add(Key{"B"}, 1, 4*sec)
	if overflows != 1 || c.Len() != 1 {
		t.Fatalf("B after expiry: overflows %d len %d, want its own series", overflows, c.Len())
	}
	dp, _, ok := find(flush(s, 5*sec), "c", "B")
	if !ok || dp.IntValue() != 1 || dp.StartTimestamp() != 4*sec {
		t.Fatalf("B written %v value %d start %d", ok, dp.IntValue(), dp.StartTimestamp())
	}
}

// Series churning through the limit never overflow when each label set is
// used for less than the expiration and the live ones fit in the limit.
func TestExpiryBoundsChurn(t *testing.T) {
	overflows := 0
	s := NewSet(Settings{CardinalityLimit: 1000, Expiration: 500 * time.Millisecond, OnOverflow: func(string) { overflows++ }})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}})
	const ms = pcommon.Timestamp(time.Millisecond)
	for i := range 100_000 { // 1000 new label sets a second
		now := pcommon.Timestamp(i) * ms
		c.Add(Key{fmt.Sprint("k", i)}, 1, now)
		if i%100 == 99 {
			flush(s, now)
			if c.Len() > 700 {
				t.Fatalf("%d series held at %d", c.Len(), i)
			}
		}
	}
	if overflows != 0 {
		t.Fatalf("%d observations overflowed", overflows)
	}
}

// A handle obtained before its series expired writes into a live series
// that is written, restarted from zero with a new start timestamp.
func TestHandleAfterExpiryWritesLiveSeries(t *testing.T) {
	s := NewSet(Settings{Expiration: 10 * time.Second, MaxExemplars: 2})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}, IntValues: true})
	h := s.Register(Def{Name: "h", Type: Histogram, Labels: []string{"a"}, Bounds: []float64{1}})
	hc := c.Handle(Key{"A"}, sec)
	hh := h.Handle(Key{"A"}, sec)
	hc.Add(5)
	hh.Observe(3, pcommon.TraceID{1}, pcommon.SpanID{1}, sec)
	flush(s, 2*sec)
	flush(s, 20*sec) // A idle 19s: expired
	if c.Len() != 0 || h.Len() != 0 {
		t.Fatalf("len %d %d after expiry", c.Len(), h.Len())
	}

	hc.Add(2) // dated by the Set's clock: the last flush
	hh.Observe(0.5, pcommon.TraceID{2}, pcommon.SpanID{2}, 25*sec)
	if c.Len() != 1 || h.Len() != 1 {
		t.Fatalf("len %d %d: the handles did not re-create their series", c.Len(), h.Len())
	}
	ms := flush(s, 26*sec)
	dp, _, ok := find(ms, "c", "A")
	if !ok || dp.IntValue() != 2 || dp.StartTimestamp() != 20*sec {
		t.Fatalf("sum written %v value %d start %d, want 2 from 20s", ok, dp.IntValue(), dp.StartTimestamp())
	}
	_, hdp, ok := find(ms, "h", "A")
	if !ok || hdp.Count() != 1 || hdp.Sum() != 0.5 || hdp.StartTimestamp() != 25*sec {
		t.Fatalf("histogram written %v count %d sum %v start %d", ok, hdp.Count(), hdp.Sum(), hdp.StartTimestamp())
	}
	if hdp.Exemplars().Len() != 1 || hdp.Exemplars().At(0).TraceID()[0] != 2 {
		t.Fatalf("exemplars of the restarted series %d", hdp.Exemplars().Len())
	}

	// The handle keeps its series alive: no expiry while it is fed.
	for now := 30 * sec; now < 60*sec; now += 5 * sec {
		hh.Observe(1, pcommon.TraceID{}, pcommon.SpanID{}, now)
		hc.Add(1) // dated by the Set's clock, now
		ms := flush(s, now)
		if _, dp, ok := find(ms, "h", "A"); !ok || dp.StartTimestamp() != 25*sec {
			t.Fatalf("at %v a fed histogram was dropped or restarted (written %v)", now, ok)
		}
		if dp, _, ok := find(ms, "c", "A"); !ok || dp.StartTimestamp() != 20*sec {
			t.Fatalf("at %v a fed sum was dropped or restarted (written %v)", now, ok)
		}
	}
}

// Once its series expired, a handle and the key path meet in one series.
func TestHandleAndKeyShareRecreatedSeries(t *testing.T) {
	s := NewSet(Settings{Expiration: time.Second})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}, IntValues: true})
	hc := c.Handle(Key{"A"}, sec)
	hc.Add(1)
	flush(s, 5*sec)
	c.Add(Key{"A"}, 10, 6*sec) // re-created by the key path
	hc.Add(1)
	if c.Len() != 1 {
		t.Fatalf("len %d: handle and key path diverged", c.Len())
	}
	if dp, _, _ := find(flush(s, 6*sec), "c", "A"); dp.IntValue() != 11 {
		t.Fatalf("value %d, want 11", dp.IntValue())
	}
}

// A handle whose slot was taken while its series was expired goes to the
// overflow series: nothing is lost, the limit holds.
func TestHandleAfterExpiryRespectsLimit(t *testing.T) {
	overflows := 0
	s := NewSet(Settings{CardinalityLimit: 1, Expiration: time.Second, OnOverflow: func(string) { overflows++ }})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}, IntValues: true})
	hc := c.Handle(Key{"A"}, sec)
	hc.Add(1)
	flush(s, 5*sec)
	c.Add(Key{"B"}, 1, 6*sec)
	hc.Add(3)
	if c.Len() != 2 || overflows != 1 {
		t.Fatalf("len %d overflows %d", c.Len(), overflows)
	}
	ms := flush(s, 6*sec)
	if dp, _, ok := find(ms, "c", OverflowAttribute); !ok || dp.IntValue() != 3 {
		t.Fatalf("overflow %v %d", ok, dp.IntValue())
	}
	if _, _, ok := find(ms, "c", "A"); ok {
		t.Fatal("A written past the limit")
	}
}

// A handle survives Reset the same way.
func TestHandleAfterReset(t *testing.T) {
	s := NewSet(Settings{})
	c := s.Register(Def{Name: "c", Type: Sum, Labels: []string{"a"}, IntValues: true})
	hc := c.Handle(Key{"A"}, sec)
	hc.Add(1)
	c.Reset()
	hc.Add(2)
	if dp, _, ok := find(flush(s, 2*sec), "c", "A"); !ok || dp.IntValue() != 2 {
		t.Fatalf("after Reset: written %v value %d", ok, dp.IntValue())
	}
}

// A cumulative point carries only the exemplars observed since the
// previous flush.
func TestCumulativeExemplarsResetPerFlush(t *testing.T) {
	for _, delta := range []bool{false, true} {
		s := NewSet(Settings{MaxExemplars: 4, Delta: delta})
		h := s.Register(Def{Name: "h", Type: Histogram, Labels: []string{"a"}, Bounds: []float64{1}})
		hh := h.Handle(Key{"A"}, sec)
		h.Observe(Key{"A"}, 1, pcommon.TraceID{1}, pcommon.SpanID{1}, sec)
		hh.Observe(1, pcommon.TraceID{2}, pcommon.SpanID{2}, sec)
		_, dp, _ := find(flush(s, 2*sec), "h", "A")
		if dp.Exemplars().Len() != 2 {
			t.Fatalf("delta=%v first flush: %d exemplars", delta, dp.Exemplars().Len())
		}
		h.Observe(Key{"A"}, 1, pcommon.TraceID{3}, pcommon.SpanID{3}, 3*sec)
		_, dp, _ = find(flush(s, 4*sec), "h", "A")
		if dp.Exemplars().Len() != 1 || dp.Exemplars().At(0).TraceID()[0] != 3 {
			t.Fatalf("delta=%v second flush: %d exemplars, want only trace 3", delta, dp.Exemplars().Len())
		}
		if !delta {
			if dp.Count() != 3 {
				t.Fatalf("cumulative count %d", dp.Count())
			}
			_, dp, _ = find(flush(s, 5*sec), "h", "A")
			if dp.Count() != 3 || dp.Exemplars().Len() != 0 {
				t.Fatalf("idle cumulative flush: count %d, %d exemplars, want 3 and none", dp.Count(), dp.Exemplars().Len())
			}
		}
	}
}
