package agentsemconvprocessor

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadata"
)

const benchRuns = 100 // about 1,075 spans a batch

// benchLogRuns: 300 runs of agenttest.RealisticLogs, 1,000 records a batch.
const benchLogRuns = 300

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
	consumeDecodedAhead(b, func() (ptrace.Traces, error) { return u.UnmarshalTraces(data) },
		func(td ptrace.Traces) error { return p.ConsumeTraces(ctx, td) })
	agenttest.ReportPer(b, spans, "span")
}

// consumeDecodedAhead runs consume on b.N batches, each decoded by decode
// with the timer stopped, chunk of them ahead, and the decoder's garbage
// collected before the timer restarts: the method BenchmarkProcessTraces
// describes, shared by the trace and log benchmarks so that ns/span and
// ns/record are the same measure.
func consumeDecodedAhead[T any](b *testing.B, decode func() (T, error), consume func(T) error) {
	const chunk = 16
	batches := make([]T, chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		b.StopTimer()
		n := min(chunk, b.N-done)
		for i := range n {
			var err error
			if batches[i], err = decode(); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.StartTimer()
		for _, batch := range batches[:n] {
			if err := consume(batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
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
	agenttest.ReportPer(b, spans, "span")
}

// BenchmarkProcessLogs measures the processor's logs path (redaction,
// default config: drop) on agenttest.RealisticLogs of 300 runs, 1,000 records, with
// the method of BenchmarkProcessTraces: each iteration gets its own batch,
// decoded from OTLP protobuf 16 ahead with the timer stopped, and the
// decoder's garbage collected before the timer restarts. Inside the timer:
// ConsumeLogs only (the redaction of every record, the telemetry counters,
// the nop consumer); its own allocations are in allocs/op and B/op.
func BenchmarkProcessLogs(b *testing.B) {
	tmpl := agenttest.RealisticLogs(agenttest.RealisticBatch(benchLogRuns, 1))
	records := tmpl.LogRecordCount()
	data, err := (&plog.ProtoMarshaler{}).MarshalLogs(tmpl)
	if err != nil {
		b.Fatal(err)
	}
	var u plog.ProtoUnmarshaler
	ctx := context.Background()
	set := processortest.NewNopSettings(metadata.Type)

	// The batch has content, and the processor removes all of it.
	sink := &consumertest.LogsSink{}
	check, err := NewFactory().CreateLogs(ctx, set, createDefaultConfig(), sink)
	if err != nil {
		b.Fatal(err)
	}
	ld, err := u.UnmarshalLogs(data)
	if err != nil {
		b.Fatal(err)
	}
	if err := check.ConsumeLogs(ctx, ld); err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(string(data), "4111") || logsContain(sink.AllLogs()[0], "4111") {
		b.Fatal("the benchmark batch must have content and the processor must remove it")
	}

	p, err := NewFactory().CreateLogs(ctx, set, createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	consumeDecodedAhead(b, func() (plog.Logs, error) { return u.UnmarshalLogs(data) },
		func(ld plog.Logs) error { return p.ConsumeLogs(ctx, ld) })
	agenttest.ReportPer(b, records, "record")
}

// BenchmarkDecodeOTLPLogs is the logs' reference, as BenchmarkDecodeOTLP
// is the spans': decoding the same 1,000 records from OTLP protobuf.
func BenchmarkDecodeOTLPLogs(b *testing.B) {
	tmpl := agenttest.RealisticLogs(agenttest.RealisticBatch(benchLogRuns, 1))
	records := tmpl.LogRecordCount()
	data, err := (&plog.ProtoMarshaler{}).MarshalLogs(tmpl)
	if err != nil {
		b.Fatal(err)
	}
	var u plog.ProtoUnmarshaler
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := u.UnmarshalLogs(data); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	agenttest.ReportPer(b, records, "record")
}

// logsContain reports whether s is in any body or attribute of ld.
func logsContain(ld plog.Logs, s string) bool {
	found := false
	var walk func(v pcommon.Value)
	walk = func(v pcommon.Value) {
		switch v.Type() {
		case pcommon.ValueTypeMap:
			for _, e := range v.Map().All() {
				walk(e)
			}
		case pcommon.ValueTypeSlice:
			for _, e := range v.Slice().All() {
				walk(e)
			}
		default:
			found = found || strings.Contains(v.AsString(), s)
		}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				walk(lr.Body())
				for _, v := range lr.Attributes().All() {
					walk(v)
				}
			}
		}
	}
	return found
}
