// Package series aggregates metric series with a per-metric cardinality
// limit, bounded exemplars, expiry of idle series and cumulative or delta
// output as pmetric.
package series

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Type is the metric's data type.
type Type uint8

const (
	Sum Type = iota
	Histogram
	Gauge
)

// OverflowAttribute marks the one series that takes every observation past
// the cardinality limit (the OpenTelemetry SDK's convention); the
// Prometheus exporter shows it as otel_metric_overflow="true".
const OverflowAttribute = "otel.metric.overflow"

// MaxLabels is the most labels a metric may have (the GenAI semconv token
// usage has five).
const MaxLabels = 5

// Key holds a series' label values in Def.Labels order.
type Key [MaxLabels]string

// Def describes one metric.
type Def struct {
	Name, Description, Unit string
	Type                    Type
	Labels                  []string
	Bounds                  []float64 // histograms
	IntValues               bool      // sums of whole numbers
}

// Settings shared by every metric of a Set.
type Settings struct {
	CardinalityLimit int
	MaxLabelLength   int
	// MaxExemplars per data point (0 disables exemplars). A data point
	// carries only the exemplars observed since the previous AppendTo, in
	// both temporalities.
	MaxExemplars int
	Delta        bool
	// Expiration removes a series that received no observation for longer
	// than this (0: series never expire), as the span metrics connector's
	// metrics_expiration does. Time is the now values the Set is given;
	// expiry happens in AppendTo, before writing, so an expired series is
	// not written, its cardinality slot is free again and, if it comes
	// back, it is a new series (a cumulative one restarts from zero with a
	// new start timestamp).
	Expiration time.Duration
	// OnOverflow is called once per observation routed to the overflow series.
	OnOverflow func(metric string)
}

type exemplar struct {
	value   float64
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	ts      pcommon.Timestamp
}

type point struct {
	m         *Metric
	key       Key
	start     pcommon.Timestamp
	last      pcommon.Timestamp // newest observation (expiry)
	value     float64           // sum or gauge value, histogram sum
	count     uint64
	buckets   []uint64
	exemplars []exemplar // ring of at most MaxExemplars, since the last AppendTo
	exNext    int
	touched   bool
	overflow  bool
	// removed: the point left its Metric (expired or Reset). A Point
	// handle holding it resolves its key again on next use, so nothing is
	// ever written into a series that is no longer emitted.
	removed bool
}

// seen records an observation at now for expiry.
func (p *point) seen(now pcommon.Timestamp) {
	if now > p.last {
		p.last = now
	}
}

// Metric is one metric's series.
type Metric struct {
	def      Def
	s        *Set
	points   map[Key]*point
	overflow *point
}

func newMetric(def Def, s *Set) *Metric {
	return &Metric{def: def, s: s, points: map[Key]*point{}}
}

// Len is the number of series, the overflow series included.
func (m *Metric) Len() int {
	if m.overflow != nil {
		return len(m.points) + 1
	}
	return len(m.points)
}

func (m *Metric) capKey(k Key) Key {
	if n := m.s.settings.MaxLabelLength; n > 0 {
		for i := range k {
			if len(k[i]) > n {
				k[i] = k[i][:n]
			}
		}
	}
	return k
}

// point returns the live series of k (capped), creating it, or the
// overflow series past the cardinality limit.
func (m *Metric) point(k Key, now pcommon.Timestamp) *point {
	k = m.capKey(k)
	if p, ok := m.points[k]; ok {
		return p
	}
	if lim := m.s.settings.CardinalityLimit; lim > 0 && len(m.points) >= lim {
		if f := m.s.settings.OnOverflow; f != nil {
			f(m.def.Name)
		}
		if m.overflow == nil {
			m.overflow = m.newPoint(Key{}, now)
			m.overflow.overflow = true
		}
		return m.overflow
	}
	// Clone: label values alias span attribute memory that must not be kept alive.
	for i := range k {
		k[i] = strings.Clone(k[i])
	}
	p := m.newPoint(k, now)
	m.points[k] = p
	return p
}

func (m *Metric) newPoint(k Key, now pcommon.Timestamp) *point {
	p := &point{m: m, key: k, start: now, last: now}
	if m.def.Type == Histogram {
		p.buckets = make([]uint64, len(m.def.Bounds)+1)
	}
	return p
}

// Add adds v to a sum.
func (m *Metric) Add(k Key, v float64, now pcommon.Timestamp) {
	m.s.tick(now)
	p := m.point(k, now)
	p.value += v
	p.touched = true
	p.seen(now)
}

// Set sets a gauge.
func (m *Metric) Set(k Key, v float64, now pcommon.Timestamp) {
	m.s.tick(now)
	p := m.point(k, now)
	p.value = v
	p.touched = true
	p.seen(now)
}

// Observe records a histogram observation with an exemplar when traceID is set.
func (m *Metric) Observe(k Key, v float64, traceID pcommon.TraceID, spanID pcommon.SpanID, now pcommon.Timestamp) {
	m.s.tick(now)
	m.point(k, now).observe(v, traceID, spanID, now)
}

// Point is a handle on one series, so a caller that feeds the same series
// many times pays the label hashing once.
//
// A handle never writes into a removed series. It remembers its label set
// and, when its series has been removed (expired under
// Settings.Expiration, or dropped by Reset), its next Add or Observe looks
// the label set up again: it writes into the live series of that label
// set, which it creates (a new series, with a new start timestamp) if
// there is none and the cardinality limit allows, or else into the
// overflow series. A caller may therefore keep handles for as long as it
// likes; it needs no expiry notification (Set.Expired is informational).
// A handle obtained past the cardinality limit writes into the overflow
// series, and tries its own label set again once the overflow series is
// removed.
type Point struct {
	m   *Metric
	key Key // capped and cloned
	p   *point
}

// Handle returns a handle on the series of k (the overflow series past the
// limit). It is valid for the life of the Set (see Point).
func (m *Metric) Handle(k Key, now pcommon.Timestamp) *Point {
	m.s.tick(now)
	p := m.point(k, now)
	key := p.key
	if p.overflow {
		key = m.capKey(k)
		for i := range key {
			key[i] = strings.Clone(key[i])
		}
	}
	return &Point{m: m, key: key, p: p}
}

// live returns the handle's series, resolving its label set again if the
// series has been removed.
func (h *Point) live() *point {
	if h.p.removed {
		h.p = h.m.point(h.key, h.m.s.clock)
	}
	return h.p
}

// Add adds v to a sum series. Add takes no time: for expiry, the
// observation is dated by the newest timestamp the Set has been given (by
// any call taking now, AppendTo included).
func (h *Point) Add(v float64) {
	p := h.live()
	p.value += v
	p.touched = true
	p.seen(h.m.s.clock)
}

// Observe records a histogram observation at ts.
func (h *Point) Observe(v float64, traceID pcommon.TraceID, spanID pcommon.SpanID, ts pcommon.Timestamp) {
	h.m.s.tick(ts)
	h.live().observe(v, traceID, spanID, ts)
}

func (p *point) observe(v float64, traceID pcommon.TraceID, spanID pcommon.SpanID, now pcommon.Timestamp) {
	m := p.m
	p.value += v
	p.count++
	i := 0
	for i < len(m.def.Bounds) && v > m.def.Bounds[i] {
		i++
	}
	p.buckets[i]++
	p.touched = true
	p.seen(now)
	if max := m.s.settings.MaxExemplars; max > 0 && !traceID.IsEmpty() {
		e := exemplar{value: v, traceID: traceID, spanID: spanID, ts: now}
		if len(p.exemplars) < max {
			p.exemplars = append(p.exemplars, e)
		} else {
			p.exemplars[p.exNext] = e
			p.exNext = (p.exNext + 1) % max
		}
	}
}

// Reset drops every series (gauges recomputed at each flush use it).
// Handles on them resolve their label set again on next use.
func (m *Metric) Reset() {
	for _, p := range m.points {
		p.removed = true
	}
	clear(m.points)
	if m.overflow != nil {
		m.overflow.removed = true
		m.overflow = nil
	}
}

// expire removes the series whose newest observation is more than exp
// before now and returns how many it removed.
func (m *Metric) expire(now pcommon.Timestamp, exp time.Duration) int {
	stale := func(p *point) bool {
		return now > p.last && time.Duration(now-p.last) > exp
	}
	n := 0
	for k, p := range m.points {
		if stale(p) {
			p.removed = true
			delete(m.points, k)
			n++
		}
	}
	if m.overflow != nil && stale(m.overflow) {
		m.overflow.removed = true
		m.overflow = nil
		n++
	}
	return n
}

// appendTo writes the metric's series into ms. With delta temporality only
// series touched since the last call are written, and then reset. In both
// temporalities the exemplars written are dropped from the series.
func (m *Metric) appendTo(ms pmetric.MetricSlice, now pcommon.Timestamp) {
	if m.Len() == 0 {
		return
	}
	delta := m.s.settings.Delta
	out := pmetric.NewMetric()
	out.SetName(m.def.Name)
	out.SetDescription(m.def.Description)
	out.SetUnit(m.def.Unit)
	temporality := pmetric.AggregationTemporalityCumulative
	if delta {
		temporality = pmetric.AggregationTemporalityDelta
	}
	n := 0
	emit := func(p *point) {
		if delta && !p.touched {
			return
		}
		n++
		switch m.def.Type {
		case Sum:
			if n == 1 {
				s := out.SetEmptySum()
				s.SetIsMonotonic(true)
				s.SetAggregationTemporality(temporality)
			}
			dp := out.Sum().DataPoints().AppendEmpty()
			m.attrs(dp.Attributes(), p)
			dp.SetStartTimestamp(p.start)
			dp.SetTimestamp(now)
			if m.def.IntValues {
				dp.SetIntValue(int64(p.value))
			} else {
				dp.SetDoubleValue(p.value)
			}
		case Gauge:
			if n == 1 {
				out.SetEmptyGauge()
			}
			dp := out.Gauge().DataPoints().AppendEmpty()
			m.attrs(dp.Attributes(), p)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(p.value)
		case Histogram:
			if n == 1 {
				out.SetEmptyHistogram().SetAggregationTemporality(temporality)
			}
			dp := out.Histogram().DataPoints().AppendEmpty()
			m.attrs(dp.Attributes(), p)
			dp.SetStartTimestamp(p.start)
			dp.SetTimestamp(now)
			dp.SetCount(p.count)
			dp.SetSum(p.value)
			dp.ExplicitBounds().FromRaw(m.def.Bounds)
			dp.BucketCounts().FromRaw(p.buckets)
			// Oldest first: Prometheus refuses exemplars out of time order.
			for i := range p.exemplars {
				e := p.exemplars[(p.exNext+i)%len(p.exemplars)]
				ex := dp.Exemplars().AppendEmpty()
				ex.SetDoubleValue(e.value)
				ex.SetTraceID(e.traceID)
				ex.SetSpanID(e.spanID)
				ex.SetTimestamp(e.ts)
			}
		}
		// Exemplars belong to the interval just written: a cumulative
		// point must not repeat them at the next flush (as span metrics
		// clears them per flush).
		p.exemplars, p.exNext = p.exemplars[:0], 0
		if delta {
			p.value, p.count, p.touched = 0, 0, false
			clear(p.buckets)
			p.start = now
		}
	}
	for _, p := range m.points {
		emit(p)
	}
	if m.overflow != nil {
		emit(m.overflow)
	}
	if n > 0 {
		out.MoveTo(ms.AppendEmpty())
	}
}

func (m *Metric) attrs(a pcommon.Map, p *point) {
	if p.overflow {
		a.PutBool(OverflowAttribute, true)
		return
	}
	for i, l := range m.def.Labels {
		// An empty value is an absent label (caller_agent_id of an entry
		// invocation), as Prometheus treats it.
		if p.key[i] != "" {
			a.PutStr(l, p.key[i])
		}
	}
}

// Set is the group of metrics one connector produces. Not safe for
// concurrent use.
type Set struct {
	settings Settings
	metrics  []*Metric
	// clock is the newest now the Set has been given; it dates Point.Add
	// observations and the start of a series a handle re-creates.
	clock   pcommon.Timestamp
	expired int
}

// NewSet creates an empty Set.
func NewSet(s Settings) *Set { return &Set{settings: s} }

func (s *Set) tick(now pcommon.Timestamp) {
	if now > s.clock {
		s.clock = now
	}
}

// Register adds a metric definition and returns its handle.
func (s *Set) Register(def Def) *Metric {
	m := newMetric(def, s)
	s.metrics = append(s.metrics, m)
	return m
}

// AppendTo removes the series idle for longer than Settings.Expiration,
// then writes every metric with data into sm.
func (s *Set) AppendTo(sm pmetric.ScopeMetrics, now pcommon.Timestamp) {
	s.tick(now)
	s.expired = 0
	for _, m := range s.metrics {
		if exp := s.settings.Expiration; exp > 0 {
			s.expired += m.expire(now, exp)
		}
		m.appendTo(sm.Metrics(), now)
	}
}

// Expired is the number of series the last AppendTo removed for
// expiration, over all metrics (for the caller's own telemetry; handles
// need no action, see Point).
func (s *Set) Expired() int { return s.expired }
