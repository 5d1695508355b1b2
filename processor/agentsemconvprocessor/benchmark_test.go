package agentsemconvprocessor

import (
	"context"
	"fmt"
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

// benchLogRuns: 300 runs of realisticLogs, 1,000 records a batch.
const benchLogRuns = 300

// reportPer reports the timed CPU per item (span or record) of a benchmark
// whose every iteration handles one batch of n items, and n itself
// ("spans/op", "records/op": the report divides allocs/op and B/op by it).
// Trace and log benchmarks use it alike, so that ns/span and ns/record are
// the same measure.
func reportPer(b *testing.B, n int, item string) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/"+item)
	b.ReportMetric(float64(n), item+"s/op")
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
	reportPer(b, spans, "span")
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
	reportPer(b, spans, "span")
}

// realisticLogs is what the agents of td send through a logs SDK beside
// their spans, with each record in the context (trace and span id) of the
// span it was written in. Per run: a GenAI
// gen_ai.client.inference.operation.details event (1.37+: content in the
// gen_ai.input/output.messages attributes) and a gen_ai.user.message event
// (1.28-1.36: content in its map body, event name as an attribute) on the
// first LLM span, an ordinary log line (string body, a content attribute)
// on the first tool span, and on every 3rd run a gen_ai.evaluation.result
// verdict (hallucinated) on the first LLM span. 3 or 4 records a run.
// Same as realisticLogs in connector/agentmetricsconnector/benchmark_test.go:
// keep them in step.
func realisticLogs(td ptrace.Traces) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	td.ResourceSpans().At(0).Resource().CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("agent-instrumentation")
	recs := sl.LogRecords()
	add := func(s ptrace.Span, sev plog.SeverityNumber) plog.LogRecord {
		lr := recs.AppendEmpty()
		lr.SetTimestamp(s.StartTimestamp() + 1_000_000)
		lr.SetObservedTimestamp(s.StartTimestamp() + 2_000_000)
		lr.SetTraceID(s.TraceID())
		lr.SetSpanID(s.SpanID())
		lr.SetSeverityNumber(sev)
		lr.SetSeverityText(sev.String())
		return lr
	}
	run, llmDone, toolDone := -1, false, false
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				switch {
				case s.ParentSpanID().IsEmpty():
					run, llmDone, toolDone = run+1, false, false
				case s.Kind() == ptrace.SpanKindClient && !llmDone:
					llmDone = true
					det := add(s, plog.SeverityNumberInfo)
					det.SetEventName("gen_ai.client.inference.operation.details")
					a := det.Attributes()
					a.PutStr("gen_ai.operation.name", "chat")
					a.PutStr("gen_ai.request.model", "gpt-4o-mini")
					a.PutInt("gen_ai.usage.input_tokens", 812)
					a.PutStr("gen_ai.input.messages", fmt.Sprintf(`[{"role":"system","parts":[{"type":"text","content":"You are a support agent for an online shop."}]},{"role":"user","parts":[{"type":"text","content":"Please refund order #%d, it arrived broken. My card is 4111 1111 1111 1111."}]}]`, 1000+run))
					a.PutStr("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"tool_call","name":"lookup_order","arguments":{"order_id":"1234"}}]}]`)
					msg := add(s, plog.SeverityNumberInfo)
					msg.Attributes().PutStr("event.name", "gen_ai.user.message")
					msg.Attributes().PutStr("gen_ai.system", "openai")
					msg.Body().SetEmptyMap().PutStr("content", fmt.Sprintf("Please refund order #%d, it arrived broken. My card is 4111 1111 1111 1111.", 1000+run))
					if run%3 == 0 {
						ev := add(s, plog.SeverityNumberWarn)
						ev.SetEventName("gen_ai.evaluation.result")
						ev.Attributes().PutStr("gen_ai.evaluation.name", "hallucination")
						ev.Attributes().PutStr("gen_ai.evaluation.score.label", "hallucinated")
						ev.Attributes().PutDouble("gen_ai.evaluation.score.value", 0.91)
					}
				case s.Kind() == ptrace.SpanKindInternal && !toolDone:
					toolDone = true
					line := add(s, plog.SeverityNumberError)
					line.Body().SetStr(fmt.Sprintf("tool lookup_order failed after 30s: upstream timeout (order %d)", 1000+run))
					line.Attributes().PutStr("code.function.name", "tools.lookup_order")
					line.Attributes().PutStr("gen_ai.tool.call.arguments", `{"order_id":"1234","card":"4111 1111 1111 1111"}`)
				}
			}
		}
	}
	return ld
}

// BenchmarkProcessLogs measures the processor's logs path (redaction,
// default config: drop) on realisticLogs of 300 runs, 1,000 records, with
// the method of BenchmarkProcessTraces: each iteration gets its own batch,
// decoded from OTLP protobuf 16 ahead with the timer stopped, and the
// decoder's garbage collected before the timer restarts. Inside the timer:
// ConsumeLogs only (the redaction of every record, the telemetry counters,
// the nop consumer); its own allocations are in allocs/op and B/op.
func BenchmarkProcessLogs(b *testing.B) {
	const chunk = 16
	tmpl := realisticLogs(agenttest.RealisticBatch(benchLogRuns, 1))
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
	batches := make([]plog.Logs, chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		b.StopTimer()
		n := min(chunk, b.N-done)
		for i := range n {
			if batches[i], err = u.UnmarshalLogs(data); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.StartTimer()
		for _, ld := range batches[:n] {
			if err := p.ConsumeLogs(ctx, ld); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportPer(b, records, "record")
}

// BenchmarkDecodeOTLPLogs is the logs' reference, as BenchmarkDecodeOTLP
// is the spans': decoding the same 1,000 records from OTLP protobuf.
func BenchmarkDecodeOTLPLogs(b *testing.B) {
	tmpl := realisticLogs(agenttest.RealisticBatch(benchLogRuns, 1))
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
	reportPer(b, records, "record")
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
