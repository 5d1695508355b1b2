package agentmetricsconnector

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// A guardrail name longer than the label cap keeps its result label (the
// name and result were cut as one string, losing the result).
func TestLongGuardrailNameKeepsItsResult(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	long := strings.Repeat("g", 120)
	s := mkSpan(ss, 1, 3, 2, "apply_guardrail x", 1e9, 2e9, map[string]any{"gen_ai.operation.name": "apply_guardrail", "gen_ai.guardrail.component.name": long})
	ev := s.Events().AppendEmpty()
	ev.SetName("gen_ai.guardrail.result")
	ev.Attributes().PutStr("gen_ai.guardrail.result.value", "GUARDRAIL_INTERVENED")
	mkSpan(ss, 1, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_guardrail_results_total", "result=GUARDRAIL_INTERVENED"), "%v", v.sums["agent_guardrail_results_total"])
}

// A turn with no LLM call takes its place by its tool call's start, not
// first: turns at 100 s (1000 input tokens), 200 s (1500), 300 s (a tool
// call only) grow +500 then -1500.
func TestSessionTurnWithoutLLMCall(t *testing.T) {
	h := newHarness(t, nil)
	turn := func(trace int, start int64, tokens int) {
		td, ss := batchOf()
		if tokens > 0 {
			mkSpan(ss, trace, 3, 2, "chat", start+1e9, start+2e9, chat(tokens))
		} else {
			mkSpan(ss, trace, 3, 2, "execute_tool t", start+1e9, start+2e9, toolSpan("t"))
		}
		attrs := agentSpan("a")
		attrs["gen_ai.conversation.id"] = "c"
		mkSpan(ss, trace, 2, 0, "invoke_agent a", start, start+3e9, attrs)
		h.consume(td)
	}
	turn(3, 300e9, 0) // closes first
	turn(1, 100e9, 1000)
	turn(2, 200e9, 1500)
	h.advance(time.Minute)
	h.flush()
	h.advance(2 * time.Hour)
	v := h.flush()
	g := v.hists["agent_session_input_token_growth"]["agent_id=a"]
	assert.EqualValues(t, 2, g.Count())
	assert.EqualValues(t, -1000, g.Sum(), "+500 - 1500")
}

// Calls with the same start (millisecond clocks, parallel calls) loop or
// not whatever order they arrive in: the same four spans (three calls of A
// with ids 10-12, one of B with id 13), sent in two orders.
func TestLoopTiesDoNotDependOnArrival(t *testing.T) {
	run := func(order []byte) float64 {
		h := newHarness(t, nil)
		td, ss := batchOf()
		for _, id := range order {
			tool := "A"
			if id == 13 {
				tool = "B"
			}
			mkSpan(ss, 1, id, 2, "execute_tool "+tool, 1e9, 2e9, genaiTool(tool, string(rune('a'+id))))
		}
		mkSpan(ss, 1, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
		h.consume(td)
		h.advance(time.Minute)
		return h.flush().total("agent_loops_total")
	}
	assert.Equal(t, 1.0, run([]byte{10, 11, 12, 13}), "by span id: A A A B, three in a row")
	assert.Equal(t, 1.0, run([]byte{10, 13, 11, 12}), "the same spans arriving A B A A")
}

// An MCP client and server span that both arrive after their trace closed
// are still one call.
func TestLateMCPPairIsOneCall(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	h.consume(td)
	h.advance(time.Minute)
	h.flush()
	td, ss = batchOf()
	mkSpan(ss, 1, 5, 2, "tools/call get_weather", 1e9, 2e9, mcpAttrs("tools/call", "get_weather", nil)).SetKind(ptrace.SpanKindClient)
	mkSpan(ss, 1, 6, 5, "tools/call get_weather", 1.1e9, 1.9e9, mcpAttrs("tools/call", "get_weather", nil)).SetKind(ptrace.SpanKindServer)
	h.consume(td)
	h.advance(time.Minute)
	assert.Equal(t, 1.0, h.flush().total("agent_tool_calls_total", "tool_name=get_weather"))
}
