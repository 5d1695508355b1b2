package agentmetricsconnector

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadata"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

const benchRuns = 100 // about 1,075 spans a batch

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
			// New trace ids for the next round: every batch opens new runs,
			// as a live stream does (never the late-span path).
			b.StopTimer()
			if closeRuns != nil {
				closeRuns(i)
			}
			for j := range batches {
				setGeneration(batches[j], i+1+j)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
}

// BenchmarkConsumeTraces: agentmetrics and contrib span_metrics side by side
// on the same realistic agent batches (ns/span, allocs/op).
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
			// Close the runs of the last batches so state stays bounded,
			// as the periodic flush does in a live collector.
			now = now.Add(time.Hour)
			_ = c.flush(context.Background())
		})
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

// BenchmarkMemoryPerInFlightRun measures heap bytes per open run: runs whose
// LLM and tool spans have arrived (with the agent id the processor writes)
// and whose root has not.
func BenchmarkMemoryPerInFlightRun(b *testing.B) {
	for _, runs := range []int{10_000, 100_000} {
		b.Run(map[int]string{10_000: "10k", 100_000: "100k"}[runs], func(b *testing.B) {
			for range b.N {
				cfg := createDefaultConfig().(*Config)
				cfg.Runs.MaxRuns = runs
				c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				// Warm the batch scratch space (it is per batch, not per run)
				// with a batch of the same size that opens no run.
				warm := ptrace.NewTraces()
				wss := warm.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
				for i := range runs {
					s := wss.Spans().AppendEmpty()
					s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 2})
					s.SetName("GET /health")
				}
				if err := c.ConsumeTraces(context.Background(), warm); err != nil {
					b.Fatal(err)
				}
				td := ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", "svc")
				ss := rs.ScopeSpans().AppendEmpty()
				for i := range runs {
					s := ss.Spans().AppendEmpty()
					s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 1})
					s.SetSpanID(pcommon.SpanID{1})
					s.SetParentSpanID(pcommon.SpanID{9})
					s.SetName("chat")
					s.Attributes().PutStr("gen_ai.operation.name", "chat")
					s.Attributes().PutStr("gen_ai.request.model", "gpt-4o")
					s.Attributes().PutStr("agent.agent.id", "support")
					s.Attributes().PutInt("gen_ai.usage.input_tokens", 100)
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				if len(c.runs.runs) != runs {
					b.Fatalf("%d runs open, want %d", len(c.runs.runs), runs)
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(runs), "bytes/run")
				runtime.KeepAlive(td)
				runtime.KeepAlive(c)
			}
		})
	}
}
