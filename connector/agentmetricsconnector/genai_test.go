package agentmetricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The optional GenAI semconv metrics on a supervisor that calls a nested
// researcher, as opentelemetry-instrumentation-openai-agents emits it:
// per-invocation call counts (each call once, against the agent that made
// it), the request and response model apart, the provider and operation
// from the span, error.type on failures, the semconv's buckets.
func TestGenAISemconvMetrics(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.GenAIMetrics = true })
	td, ss := batchOf()
	llm := func(tokens int) map[string]any {
		return map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 10}
	}
	mkSpan(ss, 1, 3, 2, "chat gpt-4o", 1e9, 2e9, llm(100))
	mkSpan(ss, 1, 4, 2, "execute_tool delegate", 2e9, 2.5e9, toolSpan("delegate"))
	mkSpan(ss, 1, 6, 5, "chat gpt-4o", 3e9, 4e9, llm(50))
	mkSpan(ss, 1, 7, 5, "execute_tool search", 4e9, 4.3e9, toolSpan("search"))
	failed := mkSpan(ss, 1, 8, 5, "execute_tool search", 4.3e9, 4.4e9, toolSpan("search"))
	failed.Status().SetCode(ptrace.StatusCodeError)
	mkSpan(ss, 1, 5, 2, "invoke_agent researcher", 2.6e9, 5e9, agentSpan("researcher"))
	mkSpan(ss, 1, 9, 2, "chat gpt-4o", 5e9, 6e9, llm(70))
	mkSpan(ss, 1, 2, 0, "invoke_agent supervisor", 0, 7e9, agentSpan("supervisor"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()

	calls := v.hists["gen_ai.invoke_agent.inference_calls"]
	require.Len(t, calls, 2)
	assert.EqualValues(t, 1, calls["gen_ai.agent.name=supervisor"].Count())
	assert.EqualValues(t, 2, calls["gen_ai.agent.name=supervisor"].Sum(), "its own two chats, not the researcher's")
	assert.EqualValues(t, 1, calls["gen_ai.agent.name=researcher"].Sum())
	assert.Equal(t, []float64{1, 2, 4, 8, 16, 32, 64, 128}, calls["gen_ai.agent.name=supervisor"].ExplicitBounds().AsRaw())
	tools := v.hists["gen_ai.invoke_agent.tool_calls"]
	assert.EqualValues(t, 1, tools["gen_ai.agent.name=supervisor"].Sum())
	assert.EqualValues(t, 2, tools["gen_ai.agent.name=researcher"].Sum())

	dur := v.hists["gen_ai.invoke_agent.duration"]
	require.Len(t, dur, 2, "every invocation, the nested one too: %v", dur)
	assert.InDelta(t, 7, dur["gen_ai.agent.name=supervisor"].Sum(), 1e-6)
	assert.InDelta(t, 2.4, dur["gen_ai.agent.name=researcher"].Sum(), 1e-6)
	assert.Equal(t, 409.6, dur["gen_ai.agent.name=supervisor"].ExplicitBounds().At(12))

	usage := v.hists["gen_ai.client.token.usage"]
	in := "gen_ai.operation.name=chat,gen_ai.provider.name=openai,gen_ai.request.model=gpt-4o,gen_ai.response.model=gpt-4o-2024-08-06,gen_ai.token.type=input"
	require.Contains(t, usage, in, "request and response model apart: %v", keysOf(usage))
	assert.EqualValues(t, 3, usage[in].Count())
	assert.EqualValues(t, 220, usage[in].Sum())

	tool := v.hists["gen_ai.execute_tool.duration"]
	assert.EqualValues(t, 1, tool["error.type=_OTHER,gen_ai.agent.name=researcher,gen_ai.tool.name=search"].Count())
	assert.EqualValues(t, 1, tool["gen_ai.agent.name=researcher,gen_ai.tool.name=search"].Count())
	assert.EqualValues(t, 1, tool["gen_ai.agent.name=supervisor,gen_ai.tool.name=delegate"].Count())
	assert.Equal(t, genaiSeconds, tool["gen_ai.agent.name=supervisor,gen_ai.tool.name=delegate"].ExplicitBounds().AsRaw())
}

// Off by default: none of them.
func TestGenAISemconvMetricsOffByDefault(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 3, 2, "chat", 1e9, 2e9, chat(10))
	mkSpan(ss, 1, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	for name := range v.hists {
		assert.NotContains(t, name, "gen_ai.", name)
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// 100k distinct agent and tool names with the GenAI semconv metrics on:
// every one of them within the cardinality limit (plus the overflow
// series), every invocation and tool call observed.
func TestGenAISemconvMetricsUnderAttack(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.GenAIMetrics = true })
	const n = 100_000
	for tr := range n {
		td, ss := batchOf()
		name := fmt.Sprintf("x-%d", tr)
		mkSpan(ss, 0, 3, 2, "execute_tool "+name, 1e9, 2e9, toolSpan(name))
		mkSpan(ss, 0, 2, 0, "invoke_agent "+name, 0, 3e9, agentSpan(name))
		h.consumeNth(td, tr)
	}
	h.advance(time.Minute)
	v := h.flush()
	limit := createDefaultConfig().(*Config).CardinalityLimit
	for _, name := range []string{"gen_ai.invoke_agent.duration", "gen_ai.invoke_agent.tool_calls", "gen_ai.execute_tool.duration"} {
		assert.LessOrEqual(t, len(v.hists[name]), limit+1, name)
		c, _ := v.histCountSum(name)
		assert.EqualValues(t, n, c, name)
	}
}
