package agentmetricsconnector

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/signaltometricsconnector"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadata"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

const benchRuns = 100 // about 1,075 spans a batch

// signalToMetricsTokens configures contrib signal_to_metrics for input and
// output token sums per model (the GenAI semconv attributes).
const signalToMetricsTokens = `
spans:
  - name: gen_ai.client.tokens.input
    description: input tokens
    conditions: ['attributes["gen_ai.usage.input_tokens"] != nil']
    attributes: [{key: gen_ai.request.model}]
    sum:
      value: Int(attributes["gen_ai.usage.input_tokens"])
  - name: gen_ai.client.tokens.output
    description: output tokens
    conditions: ['attributes["gen_ai.usage.output_tokens"] != nil']
    attributes: [{key: gen_ai.request.model}]
    sum:
      value: Int(attributes["gen_ai.usage.output_tokens"])
`

// withFreshTraceIDs gives every run of tmpl new trace ids per iteration, so
// each iteration opens new runs as a live stream does.
func withFreshTraceIDs(tmpl ptrace.Traces, iter int) ptrace.Traces {
	td := ptrace.NewTraces()
	tmpl.CopyTo(td)
	setGeneration(td, iter)
	return td
}

// setGeneration stamps iter into every trace id of td (in place).
func setGeneration(td ptrace.Traces, iter int) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				id := s.TraceID()
				id[12], id[13], id[14], id[15] = byte(iter), byte(iter>>8), byte(iter>>16), byte(iter>>24)
				s.SetTraceID(id)
			}
		}
	}
}

func benchConnector(b *testing.B, c connector.Traces, closeRuns func(int)) {
	tmpl := agenttest.RealisticBatch(benchRuns, 1)
	spans := tmpl.SpanCount()
	ctx := context.Background()
	if err := c.Start(ctx, componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(ctx) }()
	// Pre-build the batches so the copies are not measured.
	const distinct = 64
	batches := make([]ptrace.Traces, distinct)
	for i := range batches {
		batches[i] = withFreshTraceIDs(tmpl, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := c.ConsumeTraces(ctx, batches[i%distinct]); err != nil {
			b.Fatal(err)
		}
		if i%distinct == distinct-1 {
			// Closing the runs is part of the per-span work (span_metrics
			// does all of its work in ConsumeTraces): timed.
			if closeRuns != nil {
				closeRuns(i)
			}
			// New trace ids for the next round: every batch opens new runs,
			// as a live stream does (never the late-span path).
			b.StopTimer()
			for j := range batches {
				setGeneration(batches[j], i+1+j)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
}

// BenchmarkConsumeTraces: agentmetrics, contrib span_metrics and
// signal_to_metrics side by side on the same realistic agent batches
// (ns/span, allocs/op). The OTLP decode of that batch, the reference for the
// processor + connector target, is BenchmarkDecodeOTLP in the processor's
// package.
func BenchmarkConsumeTraces(b *testing.B) {
	b.Run("agentmetrics", func(b *testing.B) {
		cfg := createDefaultConfig().(*Config)
		cfg.FlushInterval = time.Hour // flushes are not part of the per-span cost
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.now = func() time.Time { return now }
		benchConnector(b, c, func(int) {
			// Close (decide and emit) the runs of the last batches, as the
			// periodic flush does in a live collector.
			now = now.Add(time.Hour)
			_ = c.flush(context.Background())
		})
	})
	b.Run("signal_to_metrics", func(b *testing.B) {
		// Configured for what it can do of ours: token sums per model.
		f := signaltometricsconnector.NewFactory()
		cfg := f.CreateDefaultConfig()
		var raw map[string]any
		if err := yaml.Unmarshal([]byte(signalToMetricsTokens), &raw); err != nil {
			b.Fatal(err)
		}
		if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
			b.Fatal(err)
		}
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(component.MustNewType("signal_to_metrics")), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		benchConnector(b, c, nil)
	})
	b.Run("span_metrics", func(b *testing.B) {
		f := spanmetricsconnector.NewFactory()
		cfg := f.CreateDefaultConfig()
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(component.MustNewType("span_metrics")), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		benchConnector(b, c, nil)
	})
}

// BenchmarkMemoryPerHeldRun measures the heap held per open run and per
// held span: realistic runs (root, 3-8 LLM and 2-6 tool spans in the four
// conventions, long prompt content, conversation ids) whose spans arrived
// and whose trace has not closed yet (the root is withheld, as before an
// SDK exports it last). It reports the heap and the store's own account.
func BenchmarkMemoryPerHeldRun(b *testing.B) {
	for _, runs := range []int{10_000, 100_000} {
		b.Run(map[int]string{10_000: "10k", 100_000: "100k"}[runs], func(b *testing.B) {
			td := agenttest.RealisticBatch(runs, 7)
			// Withhold the roots: every run stays open.
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					ss.Spans().RemoveIf(func(s ptrace.Span) bool { return s.ParentSpanID().IsEmpty() })
				}
			}
			spans := td.SpanCount()
			for range b.N {
				cfg := createDefaultConfig().(*Config)
				c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				// Warm the batch scratch space (it is per batch, not per run)
				// with a plain batch of the same size that opens nothing.
				warm := ptrace.NewTraces()
				wss := warm.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
				for i := range spans {
					s := wss.Spans().AppendEmpty()
					s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 2})
					s.SetName("GET /health")
				}
				if err := c.ConsumeTraces(context.Background(), warm); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				if c.store.Len() != runs {
					b.Fatalf("%d traces open, want %d", c.store.Len(), runs)
				}
				heap := float64(after.HeapAlloc - before.HeapAlloc)
				b.ReportMetric(heap/float64(runs), "bytes/run")
				b.ReportMetric(heap/float64(spans), "bytes/span")
				b.ReportMetric(float64(c.store.Bytes())/float64(spans), "accounted-bytes/span")
				runtime.KeepAlive(td)
				runtime.KeepAlive(c)
			}
		})
	}
}

// BenchmarkManyToolNames streams 100k distinct tool names (a cardinality
// attack, or a bug that puts ids in tool names) and reports the tool-call
// series held and the heap after: both must stay bounded by the limit.
func BenchmarkManyToolNames(b *testing.B) {
	for range b.N {
		cfg := createDefaultConfig().(*Config)
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.now = func() time.Time { return now }
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const names, perBatch = 100_000, 1000
		for start := 0; start < names; start += perBatch {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "svc")
			ss := rs.ScopeSpans().AppendEmpty()
			for i := start; i < start+perBatch; i++ {
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 3})
				s.SetSpanID(pcommon.SpanID{1})
				s.SetParentSpanID(pcommon.SpanID{9})
				s.SetName("agent.tool.execute")
				s.Attributes().PutStr("agent.agent.id", "support")
				s.Attributes().PutStr("agent.tool.name", fmt.Sprintf("tool-%06d", i))
			}
			if err := c.ConsumeTraces(context.Background(), td); err != nil {
				b.Fatal(err)
			}
			now = now.Add(time.Second)
			if start%(10*perBatch) == 0 {
				_ = c.flush(context.Background())
			}
		}
		now = now.Add(time.Hour)
		_ = c.flush(context.Background())
		runtime.GC()
		runtime.ReadMemStats(&after)
		series := c.metrics.toolCalls.Len()
		if series > cfg.CardinalityLimit+1 {
			b.Fatalf("%d tool-call series, limit %d", series, cfg.CardinalityLimit)
		}
		b.ReportMetric(float64(series), "series")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB")
		runtime.KeepAlive(c)
	}
}
