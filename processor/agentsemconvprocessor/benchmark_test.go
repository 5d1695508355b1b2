package agentsemconvprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadata"
)

const benchRuns = 100 // about 1,300 spans a batch

func reportPerSpan(b *testing.B, spans int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
}

// BenchmarkProcessTraces measures the processor on a realistic agent batch.
// Each iteration gets a fresh copy of the batch (made with the timer and
// allocation counting stopped), since the processor changes it in place.
func BenchmarkProcessTraces(b *testing.B) {
	tmpl := agenttest.RealisticBatch(benchRuns, 1)
	spans := tmpl.SpanCount()
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		td := ptrace.NewTraces()
		tmpl.CopyTo(td)
		b.StartTimer()
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPerSpan(b, spans)
}

// BenchmarkDecodeOTLP is the reference: decoding the same batch from OTLP
// protobuf, which every collector pays before any processor runs.
func BenchmarkDecodeOTLP(b *testing.B) {
	tmpl := agenttest.RealisticBatch(benchRuns, 1)
	spans := tmpl.SpanCount()
	data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(tmpl)
	if err != nil {
		b.Fatal(err)
	}
	var u ptrace.ProtoUnmarshaler
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := u.UnmarshalTraces(data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPerSpan(b, spans)
}
