// Package series aggregates metric series with a per-metric cardinality
// limit, bounded exemplars and cumulative or delta output as pmetric.
package series

import (
	"strings"

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

// MaxLabels is the most labels a metric may have.
const MaxLabels = 3

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
	// MaxExemplars per data point (0 disables exemplars).
	MaxExemplars int
	Delta        bool
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
	value     float64 // sum or gauge value, histogram sum
	count     uint64
	buckets   []uint64
	exemplars []exemplar // ring of at most MaxExemplars
	exNext    int
	touched   bool
}

// Metric is one metric's series.
type Metric struct {
	def      Def
	set      *Settings
	points   map[Key]*point
	overflow *point
}

func newMetric(def Def, set *Settings) *Metric {
	return &Metric{def: def, set: set, points: map[Key]*point{}}
}

// Len is the number of series, the overflow series included.
func (m *Metric) Len() int {
	if m.overflow != nil {
		return len(m.points) + 1
	}
	return len(m.points)
}

func (m *Metric) capKey(k Key) Key {
	if n := m.set.MaxLabelLength; n > 0 {
		for i := range k {
			if len(k[i]) > n {
				k[i] = k[i][:n]
			}
		}
	}
	return k
}

func (m *Metric) point(k Key, now pcommon.Timestamp) *point {
	k = m.capKey(k)
	if p, ok := m.points[k]; ok {
		return p
	}
	if m.set.CardinalityLimit > 0 && len(m.points) >= m.set.CardinalityLimit {
		if m.set.OnOverflow != nil {
			m.set.OnOverflow(m.def.Name)
		}
		if m.overflow == nil {
			m.overflow = m.newPoint(Key{}, now)
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
	p := &point{m: m, key: k, start: now}
	if m.def.Type == Histogram {
		p.buckets = make([]uint64, len(m.def.Bounds)+1)
	}
	return p
}

// Add adds v to a sum.
func (m *Metric) Add(k Key, v float64, now pcommon.Timestamp) {
	p := m.point(k, now)
	p.value += v
	p.touched = true
}

// Set sets a gauge.
func (m *Metric) Set(k Key, v float64, now pcommon.Timestamp) {
	p := m.point(k, now)
	p.value = v
	p.touched = true
}

// Observe records a histogram observation with an exemplar when traceID is set.
func (m *Metric) Observe(k Key, v float64, traceID pcommon.TraceID, spanID pcommon.SpanID, now pcommon.Timestamp) {
	m.point(k, now).observe(v, traceID, spanID, now)
}

// Point is a handle on one series, so a caller that feeds the same series
// many times pays the label hashing once.
type Point = point

// Handle returns the series for k (the overflow series past the limit).
// A handle stays valid until Reset.
func (m *Metric) Handle(k Key, now pcommon.Timestamp) *Point { return m.point(k, now) }

// Add adds v to a sum series.
func (p *point) Add(v float64) {
	p.value += v
	p.touched = true
}

// Observe records a histogram observation.
func (p *point) Observe(v float64, traceID pcommon.TraceID, spanID pcommon.SpanID, ts pcommon.Timestamp) {
	p.observe(v, traceID, spanID, ts)
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
	if max := m.set.MaxExemplars; max > 0 && !traceID.IsEmpty() {
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
func (m *Metric) Reset() {
	clear(m.points)
	m.overflow = nil
}

// appendTo writes the metric's series into ms. With delta temporality only
// series touched since the last call are written, and then reset.
func (m *Metric) appendTo(ms pmetric.MetricSlice, now pcommon.Timestamp) {
	if m.Len() == 0 {
		return
	}
	out := pmetric.NewMetric()
	out.SetName(m.def.Name)
	out.SetDescription(m.def.Description)
	out.SetUnit(m.def.Unit)
	temporality := pmetric.AggregationTemporalityCumulative
	if m.set.Delta {
		temporality = pmetric.AggregationTemporalityDelta
	}
	n := 0
	emit := func(p *point, overflow bool) {
		if m.set.Delta && !p.touched {
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
			m.attrs(dp.Attributes(), p, overflow)
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
			m.attrs(dp.Attributes(), p, overflow)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(p.value)
		case Histogram:
			if n == 1 {
				out.SetEmptyHistogram().SetAggregationTemporality(temporality)
			}
			dp := out.Histogram().DataPoints().AppendEmpty()
			m.attrs(dp.Attributes(), p, overflow)
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
		if m.set.Delta {
			p.value, p.count, p.touched = 0, 0, false
			clear(p.buckets)
			p.exemplars, p.exNext = p.exemplars[:0], 0
			p.start = now
		}
	}
	for _, p := range m.points {
		emit(p, false)
	}
	if m.overflow != nil {
		emit(m.overflow, true)
	}
	if n > 0 {
		out.MoveTo(ms.AppendEmpty())
	}
}

func (m *Metric) attrs(a pcommon.Map, p *point, overflow bool) {
	if overflow {
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

// Set is the group of metrics one connector produces.
type Set struct {
	settings Settings
	metrics  []*Metric
}

// NewSet creates an empty Set.
func NewSet(s Settings) *Set { return &Set{settings: s} }

// Register adds a metric definition and returns its handle.
func (s *Set) Register(def Def) *Metric {
	m := newMetric(def, &s.settings)
	s.metrics = append(s.metrics, m)
	return m
}

// AppendTo writes every metric with data into sm.
func (s *Set) AppendTo(sm pmetric.ScopeMetrics, now pcommon.Timestamp) {
	for _, m := range s.metrics {
		m.appendTo(sm.Metrics(), now)
	}
}
