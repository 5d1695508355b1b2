package agenttest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchRuns is the number of RealisticBatch runs a connector benchmark batch
// holds (about 1,075 spans).
const BenchRuns = 100

// ReportPer reports the timed CPU per item (span or record) of a benchmark
// whose every iteration handles one batch of n items, and n itself
// ("spans/op", "records/op": the report divides allocs/op and B/op by it).
// Every trace and log benchmark uses it, in whichever module it lives, so
// that ns/span and ns/record are the same measure everywhere.
func ReportPer(b *testing.B, n int, item string) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/"+item)
	b.ReportMetric(float64(n), item+"s/op")
}

// WithFreshTraceIDs copies tmpl and stamps iter into every trace id, so each
// iteration opens new runs as a live stream does.
func WithFreshTraceIDs(tmpl ptrace.Traces, iter int) ptrace.Traces {
	td := ptrace.NewTraces()
	tmpl.CopyTo(td)
	SetGeneration(td, iter)
	return td
}

// SetGeneration stamps iter into every trace id of td (in place).
func SetGeneration(td ptrace.Traces, iter int) {
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

// BenchTracesConnector runs a traces connector on RealisticBatch(BenchRuns)
// batches with new trace ids every round and reports ns/span. closeRuns, when
// given, is called (timed) after every round of distinct batches: the work a
// connector that holds runs does at its periodic flush, which a connector
// doing everything in ConsumeTraces (span_metrics) does not need. The same
// loop serves ours and the stock connectors, so their numbers compare.
func BenchTracesConnector(b *testing.B, c connector.Traces, closeRuns func(int)) {
	BenchTracesConnectorOn(b, c, nil, closeRuns)
}

// BenchTracesConnectorOn is BenchTracesConnector on the realistic batch
// changed by decorate (nil: as it is), before the timer starts.
func BenchTracesConnectorOn(b *testing.B, c connector.Traces, decorate func(ptrace.Traces), closeRuns func(int)) {
	tmpl := RealisticBatch(BenchRuns, 1)
	if decorate != nil {
		decorate(tmpl)
	}
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
		batches[i] = WithFreshTraceIDs(tmpl, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := c.ConsumeTraces(ctx, batches[i%distinct]); err != nil {
			b.Fatal(err)
		}
		if i%distinct == distinct-1 {
			if closeRuns != nil {
				closeRuns(i)
			}
			// New trace ids for the next round: every batch opens new runs,
			// as a live stream does (never the late-span path).
			b.StopTimer()
			for j := range batches {
				SetGeneration(batches[j], i+1+j)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	ReportPer(b, spans, "span")
}
