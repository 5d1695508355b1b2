package agentmetricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agent_time_to_first_token_seconds: one observation per streamed LLM call
// that says its time to first token, against the call's agent and model,
// in the GenAI semconv's buckets; calls that were not streamed add none.
func TestTimeToFirstTokenPerAgentAndModel(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	streamed := func(ttft float64) map[string]any {
		m := chat(100)
		m["gen_ai.response.time_to_first_chunk"] = ttft
		return m
	}
	mkSpan(ss, 1, 3, 2, "chat gpt-4o", 1e9, 3e9, streamed(0.25))
	mkSpan(ss, 1, 4, 2, "chat gpt-4o", 3e9, 5e9, streamed(1.5))
	mkSpan(ss, 1, 5, 2, "chat gpt-4o", 5e9, 6e9, chat(100)) // not streamed
	// Vercel AI SDK: milliseconds, on the doStream span.
	mkSpan(ss, 1, 6, 2, "ai.streamText.doStream", 6e9, 7e9, map[string]any{
		"ai.operationId": "ai.streamText.doStream", "ai.model.id": "claude-sonnet-4", "ai.response.msToFirstChunk": 830, "ai.usage.inputTokens": 10})
	mkSpan(ss, 1, 2, 0, "invoke_agent writer", 0, 8e9, agentSpan("writer"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	hs := v.hists["agent_time_to_first_token_seconds"]
	require.Len(t, hs, 2, "one series per agent and model: %v", hs)
	dp := hs["agent_id=writer,model=gpt-4o"]
	assert.EqualValues(t, 2, dp.Count(), "the call that was not streamed adds none")
	assert.InDelta(t, 1.75, dp.Sum(), 1e-6)
	assert.Equal(t, ttftBuckets, dp.ExplicitBounds().AsRaw())
	// 0.25 falls in (0.16, 0.32], 1.5 in (1.28, 2.56].
	counts := dp.BucketCounts().AsRaw()
	assert.EqualValues(t, 1, counts[5])
	assert.EqualValues(t, 1, counts[8])
	dp = hs["agent_id=writer,model=claude-sonnet-4"]
	assert.EqualValues(t, 1, dp.Count())
	assert.InDelta(t, 0.83, dp.Sum(), 1e-6)
	assert.Equal(t, 1, dp.Exemplars().Len(), "an exemplar leads to the call")
}

// A streamed call that arrives after its trace closed still counts.
func TestTimeToFirstTokenOfALateCall(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 0, "invoke_agent writer", 0, 8e9, agentSpan("writer"))
	h.consume(td)
	h.advance(time.Minute)
	h.flush()
	td, ss = batchOf()
	m := chat(100)
	m["gen_ai.response.time_to_first_chunk"] = 0.5
	mkSpan(ss, 1, 3, 2, "chat gpt-4o", 1e9, 3e9, m)
	h.consume(td)
	h.advance(time.Minute)
	n, sum := h.flush().histCountSum("agent_time_to_first_token_seconds", "agent_id=writer")
	assert.EqualValues(t, 1, n)
	assert.InDelta(t, 0.5, sum, 1e-6)
}

// 100k distinct model names with a time to first token: the series stay
// within the cardinality limit and every call is observed.
func TestTimeToFirstTokenCardinalityUnderAttack(t *testing.T) {
	h := newHarness(t, nil)
	const calls = 100_000
	for tr := range calls {
		td, ss := batchOf()
		m := chat(10)
		m["gen_ai.request.model"] = fmt.Sprintf("model-%d", tr)
		m["gen_ai.response.time_to_first_chunk"] = 0.1
		mkSpan(ss, 0, 3, 2, "chat", 1e9, 2e9, m)
		mkSpan(ss, 0, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
		h.consumeNth(td, tr)
	}
	h.advance(time.Minute)
	v := h.flush()
	limit := createDefaultConfig().(*Config).CardinalityLimit
	assert.LessOrEqual(t, len(v.hists["agent_time_to_first_token_seconds"]), limit+1)
	n, _ := v.histCountSum("agent_time_to_first_token_seconds")
	assert.EqualValues(t, calls, n)
}
