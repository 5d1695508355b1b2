package agenttest

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// RealisticLogs is what the agents of td send through a logs SDK beside
// their spans, with each record in the context (trace and span id) of the
// span it was written in. Per run: a GenAI
// gen_ai.client.inference.operation.details event (1.37+: content in the
// gen_ai.input/output.messages attributes) and a gen_ai.user.message event
// (1.28-1.36: content in its map body, event name as an attribute) on the
// first LLM span, an ordinary log line (string body, a content attribute)
// on the first tool span, and on every 3rd run a gen_ai.evaluation.result
// verdict (hallucinated) on the first LLM span. 3 or 4 records a run.
func RealisticLogs(td ptrace.Traces) plog.Logs {
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
