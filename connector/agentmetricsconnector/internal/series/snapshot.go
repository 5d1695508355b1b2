package series

import "go.opentelemetry.io/collector/pdata/pcommon"

// Snapshot is a Set's series as values (for a checkpoint): enough to go on
// counting after a restart with the same start times, so cumulative series
// do not reset. Exemplars are not kept (they describe recent traces only).
type Snapshot struct {
	Clock   int64
	Metrics []MetricSnapshot
}

// MetricSnapshot is one metric's series.
type MetricSnapshot struct {
	Name    string
	Buckets int // histogram bucket count it was taken with
	Points  []PointSnapshot
}

// PointSnapshot is one series.
type PointSnapshot struct {
	Key         Key
	Start, Last int64
	Value       float64
	Count       uint64
	Buckets     []uint64
	Overflow    bool
}

// Snapshot copies every series of the Set.
func (s *Set) Snapshot() Snapshot {
	out := Snapshot{Clock: int64(s.clock), Metrics: make([]MetricSnapshot, 0, len(s.metrics))}
	for _, m := range s.metrics {
		ms := MetricSnapshot{Name: m.def.Name, Buckets: len(m.def.Bounds) + 1, Points: make([]PointSnapshot, 0, m.Len())}
		add := func(p *point) {
			ms.Points = append(ms.Points, PointSnapshot{Key: p.key, Start: int64(p.start), Last: int64(p.last),
				Value: p.value, Count: p.count, Buckets: append([]uint64(nil), p.buckets...), Overflow: p.overflow})
		}
		for _, p := range m.points {
			add(p)
		}
		if m.overflow != nil {
			add(m.overflow)
		}
		out.Metrics = append(out.Metrics, ms)
	}
	return out
}

// Restore puts a Snapshot's series back into an empty Set. A metric the Set
// no longer has, or a histogram whose buckets changed, is skipped and
// reported in skipped (its series restart). It returns the series restored.
func (s *Set) Restore(snap Snapshot) (restored int, skipped []string) {
	byName := make(map[string]*Metric, len(s.metrics))
	for _, m := range s.metrics {
		byName[m.def.Name] = m
	}
	s.tick(pcommon.Timestamp(snap.Clock))
	for _, ms := range snap.Metrics {
		m := byName[ms.Name]
		if m == nil || (m.def.Type == Histogram && ms.Buckets != len(m.def.Bounds)+1) {
			skipped = append(skipped, ms.Name)
			continue
		}
		for _, ps := range ms.Points {
			p := m.newPoint(ps.Key, pcommon.Timestamp(ps.Start))
			p.last, p.value, p.count, p.overflow = pcommon.Timestamp(ps.Last), ps.Value, ps.Count, ps.Overflow
			if p.buckets != nil && len(ps.Buckets) == len(p.buckets) {
				copy(p.buckets, ps.Buckets)
			}
			p.touched = true
			if ps.Overflow {
				m.overflow = p
			} else {
				m.points[ps.Key] = p
			}
			restored++
		}
	}
	return restored, skipped
}
