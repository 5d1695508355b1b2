package agentsemconvprocessor

import (
	"context"
	"runtime"
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
// The processor changes batches in place, so each iteration gets its own,
// decoded from OTLP protobuf with the timer and allocation counting stopped:
// decoded, not copied, because the collector hands processors decoded data,
// whose attribute slices have the spare capacity the decoder's appends
// leave (a pdata copy has none, and every write would grow the slice).
// Batches are decoded ahead in chunks and the decoder's garbage is collected
// before the timer restarts, so that its collection is not billed to the
// processor (the processor's own garbage is: allocs/op and B/op).
func BenchmarkProcessTraces(b *testing.B) {
	const chunk = 16
	data, tmpl, err := agenttest.RealisticBatchOTLP(benchRuns, 1)
	if err != nil {
		b.Fatal(err)
	}
	spans := tmpl.SpanCount()
	var u ptrace.ProtoUnmarshaler
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	batches := make([]ptrace.Traces, chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		b.StopTimer()
		n := min(chunk, b.N-done)
		for i := range n {
			if batches[i], err = u.UnmarshalTraces(data); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.StartTimer()
		for _, td := range batches[:n] {
			if err := p.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportPerSpan(b, spans)
}

// BenchmarkDecodeOTLP is the reference: decoding the same batch from OTLP
// protobuf, which every collector pays before any processor runs.
func BenchmarkDecodeOTLP(b *testing.B) {
	data, tmpl, err := agenttest.RealisticBatchOTLP(benchRuns, 1)
	if err != nil {
		b.Fatal(err)
	}
	spans := tmpl.SpanCount()
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
