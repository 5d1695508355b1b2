package agentmetricsconnector

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadatatest"
)

// harness drives a connector with a fake clock.
type harness struct {
	t    *testing.T
	c    *agentConnector
	sink *consumertest.MetricsSink
	tel  *componenttest.Telemetry
	now  time.Time
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	sink := &consumertest.MetricsSink{}
	c, err := newConnector(metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	h := &harness{t: t, c: c, sink: sink, tel: tel, now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	c.now = func() time.Time { return h.now }
	return h
}

func (h *harness) consume(td ptrace.Traces) {
	h.t.Helper()
	require.NoError(h.t, h.c.ConsumeTraces(context.Background(), td))
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

// consumeNth consumes td as the tr-th of many one-trace batches (the attack
// tests): every span gets trace tr's own id (mkSpan's ids hold only 65,536
// traces), and every 20,000 traces a minute passes and a flush closes them.
func (h *harness) consumeNth(td ptrace.Traces, tr int) {
	h.t.Helper()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.SetTraceID(pcommon.TraceID{byte(tr), byte(tr >> 8), byte(tr >> 16), 0xa7})
			}
		}
	}
	h.consume(td)
	if tr%20_000 == 19_999 {
		h.advance(time.Minute)
		h.flush()
	}
}

// flush closes what is due and returns the last metrics emitted.
func (h *harness) flush() metricsView {
	h.t.Helper()
	require.NoError(h.t, h.c.flush(context.Background()))
	all := h.sink.AllMetrics()
	if len(all) == 0 {
		return metricsView{}
	}
	return newView(all[len(all)-1])
}

// metricsView indexes data points by metric name and "k=v,k=v" labels.
type metricsView struct {
	sums  map[string]map[string]float64
	hists map[string]map[string]pmetric.HistogramDataPoint
	gauge map[string]map[string]float64
	md    pmetric.Metrics
}

func labelKey(m interface{ AsRaw() map[string]any }) string {
	raw := m.AsRaw()
	keys := make([]string, 0, len(raw))
	for k, v := range raw {
		keys = append(keys, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func newView(md pmetric.Metrics) metricsView {
	v := metricsView{sums: map[string]map[string]float64{}, hists: map[string]map[string]pmetric.HistogramDataPoint{}, gauge: map[string]map[string]float64{}, md: md}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeSum:
					v.sums[m.Name()] = map[string]float64{}
					for _, dp := range m.Sum().DataPoints().All() {
						val := dp.DoubleValue()
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							val = float64(dp.IntValue())
						}
						v.sums[m.Name()][labelKey(dp.Attributes())] = val
					}
				case pmetric.MetricTypeHistogram:
					v.hists[m.Name()] = map[string]pmetric.HistogramDataPoint{}
					for _, dp := range m.Histogram().DataPoints().All() {
						v.hists[m.Name()][labelKey(dp.Attributes())] = dp
					}
				case pmetric.MetricTypeGauge:
					v.gauge[m.Name()] = map[string]float64{}
					for _, dp := range m.Gauge().DataPoints().All() {
						v.gauge[m.Name()][labelKey(dp.Attributes())] = dp.DoubleValue()
					}
				}
			}
		}
	}
	return v
}

// total sums a metric's points whose labels contain every filter ("k=v").
func (v metricsView) total(name string, filters ...string) float64 {
	t := 0.0
	for k, val := range v.sums[name] {
		if matches(k, filters) {
			t += val
		}
	}
	return t
}

func (v metricsView) histCountSum(name string, filters ...string) (uint64, float64) {
	var n uint64
	var s float64
	for k, dp := range v.hists[name] {
		if matches(k, filters) {
			n += dp.Count()
			s += dp.Sum()
		}
	}
	return n, s
}

func matches(labels string, filters []string) bool {
	for _, f := range filters {
		if !strings.Contains(","+labels+",", ","+f+",") {
			return false
		}
	}
	return true
}
