package series

import (
	"fmt"
	"testing"

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
	allocs := testing.AllocsPerRun(1000, func() {
		c.Add(Key{"a", "b", "c"}, 1, 2)
		h.Observe(Key{"a"}, 1.5, pcommon.TraceID{2}, pcommon.SpanID{2}, 2)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per observation on existing series", allocs)
	}
}
