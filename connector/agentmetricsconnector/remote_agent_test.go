package agentmetricsconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// GenAI semconv v1.38+: a CLIENT invoke_agent span calls a remote agent
// (Bedrock Agents, OpenAI Assistants) and may carry that agent's usage.
// With none of the remote agent's own spans in the trace, that usage is its
// one LLM call; when the remote agent exports its spans here too, they are
// the calls and the client span's usage is not counted again. An INTERNAL
// invoke_agent's usage (an in-process agent summing its calls) never is.
func TestRemoteAgentUsageCountsOnceAndOnlyWhenItIsTheOnlyRecord(t *testing.T) {
	h := newHarness(t, nil)
	remote := func(td ptrace.Traces, ss ptrace.ScopeSpans, trace int) {
		mkSpan(ss, trace, 1, 0, "invoke_agent planner", 0, 9e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})
		s := mkSpan(ss, trace, 2, 1, "invoke_agent bedrock_helper", 1e9, 5e9, map[string]any{"gen_ai.operation.name": "invoke_agent",
			"gen_ai.agent.name": "bedrock_helper", "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.provider.name": "aws.bedrock",
			"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100})
		s.SetKind(ptrace.SpanKindClient)
	}
	// Trace 1: the remote agent's usage is the only record.
	td, ss := batchOf()
	remote(td, ss, 1)
	h.consume(td)
	// Trace 2: the remote agent's own chat span arrives too (remote parent).
	td, ss = batchOf()
	remote(td, ss, 2)
	mkSpan(ss, 2, 3, 2, "chat claude-sonnet-4-5", 2e9, 4e9, map[string]any{"gen_ai.operation.name": "chat",
		"gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100})
	h.consume(td)
	// Trace 3: an in-process agent whose span sums its calls' usage.
	td, ss = batchOf()
	mkSpan(ss, 3, 1, 0, "invoke_agent local", 0, 9e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "local",
		"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 777, "gen_ai.usage.output_tokens": 7})
	mkSpan(ss, 3, 2, 1, "chat gpt-4o", 1e9, 2e9, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 777, "gen_ai.usage.output_tokens": 7})
	h.consume(td)
	// Trace 4: as trace 1, after the agentsemconv processor marked the
	// client span a run (agent.span.kind): still the remote agent's call.
	td, ss = batchOf()
	remote(td, ss, 4)
	ss.Spans().At(1).Attributes().PutStr("agent.span.kind", "run")
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, 3.0, v.total("agent_llm_calls_total", "agent_id=bedrock_helper", "model=claude-sonnet-4-5"), "one call each, never both")
	assert.Equal(t, 3000.0, v.total("agent_tokens_consumed_total", "agent_id=bedrock_helper", "direction=input"))
	assert.Equal(t, 300.0, v.total("agent_tokens_consumed_total", "agent_id=bedrock_helper", "direction=output"))
	assert.InDelta(t, 3*(1000*3.0+100*15.0)/1e6, v.total("agent_cost_usd_total", "agent_id=bedrock_helper"), 1e-12)
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "agent_id=local"))
	assert.Equal(t, 784.0, v.total("agent_tokens_consumed_total", "agent_id=local"), "the in-process agent's sum is not a call")
	assert.Equal(t, 0.0, v.total("agent_llm_calls_total", "agent_id=planner"))
	assert.Equal(t, 4.0, v.total("agent_requests_total"))
}
