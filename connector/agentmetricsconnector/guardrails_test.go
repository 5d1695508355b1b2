package agentmetricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Guardrail results, in the shapes the instrumentations emit, counted by
// agent, guardrail and the provider's own result; a block is not a failure.
func TestGuardrailResultsByConvention(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	// OpenLLMetry traceloop-sdk 0.62: {name}.guardrail (guardrail.run) with
	// its status, per-guard {guard}.guard children (not counted again).
	mkSpan(ss, 1, 3, 2, "pii_check.guardrail", 1e9, 2e9, map[string]any{
		"gen_ai.operation.name": "guardrail.run", "gen_ai.guardrail.name": "pii_check", "gen_ai.guardrail.status": "FAILED", "gen_ai.guardrail.guard_count": 2})
	mkSpan(ss, 1, 4, 3, "regex.guard", 1e9, 1.5e9, map[string]any{"gen_ai.operation.name": "guard"})
	// OpenInference openai-agents 2.0: a GUARDRAIL span named after the
	// guardrail, no result attribute.
	mkSpan(ss, 1, 5, 2, "math_homework_guardrail", 2e9, 2.5e9, map[string]any{"openinference.span.kind": "GUARDRAIL"})
	// GenAI semconv draft: apply_guardrail with gen_ai.guardrail.result
	// events carrying the provider's value.
	s := mkSpan(ss, 1, 6, 2, "apply_guardrail content_filter", 3e9, 3.5e9, map[string]any{
		"gen_ai.operation.name": "apply_guardrail", "gen_ai.guardrail.component.name": "content_filter"})
	ev := s.Events().AppendEmpty()
	ev.SetName("gen_ai.guardrail.result")
	ev.Attributes().PutStr("gen_ai.guardrail.result.type", "action")
	ev.Attributes().PutStr("gen_ai.guardrail.result.value", "GUARDRAIL_INTERVENED")
	// OpenLIT 1.45: a guard.evaluation event on the LLM call it checked.
	s = mkSpan(ss, 1, 7, 2, "chat gpt-4o", 4e9, 5e9, chat(100))
	ev = s.Events().AppendEmpty()
	ev.SetName("guard.evaluation")
	ev.Attributes().PutStr("guard.name", "prompt_injection")
	ev.Attributes().PutStr("guard.action", "deny")
	// The seed: a step whose outcome is safety_blocked.
	mkSpan(ss, 1, 8, 2, "agent.step", 5e9, 5.5e9, map[string]any{"agent.step.outcome": "safety_blocked"})
	mkSpan(ss, 1, 2, 0, "invoke_agent tutor", 0, 6e9, agentSpan("tutor"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, map[string]float64{
		"agent_id=tutor,guardrail_name=pii_check,result=FAILED":                    1,
		"agent_id=tutor,guardrail_name=math_homework_guardrail,result=unspecified": 1,
		"agent_id=tutor,guardrail_name=content_filter,result=GUARDRAIL_INTERVENED": 1,
		"agent_id=tutor,guardrail_name=prompt_injection,result=deny":               1,
		"agent_id=tutor,guardrail_name=safety,result=safety_blocked":               1,
	}, v.sums["agent_guardrail_results_total"])
	assert.Equal(t, 1.0, v.total("agent_step_outcomes_total", "outcome=safety_blocked"), "the step outcome still counts as one")
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=tutor", "status=success"), "a block is not a failure")
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "status=success"))
	assert.Empty(t, v.sums["agent_tool_calls_total"], "guardrail spans are not tool calls")
}

// 100k distinct guardrail names: within the cardinality limit, every result
// counted.
func TestGuardrailCardinalityUnderAttack(t *testing.T) {
	h := newHarness(t, nil)
	const n = 100_000
	for tr := range n {
		td, ss := batchOf()
		mkSpan(ss, 0, 3, 2, "g.guardrail", 1e9, 2e9, map[string]any{
			"gen_ai.operation.name": "guardrail.run", "gen_ai.guardrail.name": fmt.Sprintf("g-%d", tr), "gen_ai.guardrail.status": "PASSED"})
		mkSpan(ss, 0, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
		h.consumeNth(td, tr)
	}
	h.advance(time.Minute)
	v := h.flush()
	limit := createDefaultConfig().(*Config).CardinalityLimit
	assert.LessOrEqual(t, len(v.sums["agent_guardrail_results_total"]), limit+1)
	assert.Equal(t, float64(n), v.total("agent_guardrail_results_total"))
}
