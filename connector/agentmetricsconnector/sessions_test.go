package agentmetricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// turnTrace is one turn of a conversation in the OpenAI Agents SDK's
// shape through the OTel GenAI instrumentation (gen_ai.conversation.id on
// invoke_agent, the chat spans under it) or OpenInference's (session.id on
// the AGENT span); input tokens grow with the conversation's context.
func turnTrace(h *harness, trace int, conv string, openInference bool, start int64, inputs ...int) {
	td, ss := batchOf()
	for i, in := range inputs {
		st := start + int64(i+1)*1e9
		if openInference {
			mkSpan(ss, trace, byte(10+i), 2, "ChatCompletion", st, st+5e8, map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
				"llm.token_count.prompt": in, "llm.token_count.completion": 10, "session.id": conv})
		} else {
			mkSpan(ss, trace, byte(10+i), 2, "chat gpt-4o", st, st+5e8, chat(in))
		}
	}
	if openInference {
		mkSpan(ss, trace, 2, 0, "Agent", start, start+10e9, map[string]any{"openinference.span.kind": "AGENT", "agent.name": "concierge", "session.id": conv})
	} else {
		attrs := agentSpan("concierge")
		attrs["gen_ai.conversation.id"] = conv
		mkSpan(ss, trace, 2, 0, "invoke_agent concierge", start, start+10e9, attrs)
	}
	h.consume(td)
}

// Three turns of one conversation (100, then 250, then 400 input tokens)
// and a one-turn conversation: when they have been idle for the timeout,
// turns 3 and 1, growth 150 and 150 (start order, whichever closed first).
func TestSessionTurnsAndGrowth(t *testing.T) {
	for _, oi := range []bool{false, true} {
		t.Run(fmt.Sprint("openinference=", oi), func(t *testing.T) {
			h := newHarness(t, nil)
			// The third turn's trace closes first: order comes from the
			// turns' start, not from when their traces closed.
			turnTrace(h, 3, "conv-a", oi, 120e9, 400)
			h.advance(time.Minute)
			h.flush()
			turnTrace(h, 1, "conv-a", oi, 0, 60, 40)
			turnTrace(h, 2, "conv-a", oi, 60e9, 250)
			turnTrace(h, 4, "conv-b", oi, 0, 70)
			h.advance(time.Minute)
			v := h.flush()
			assert.Empty(t, v.hists["agent_session_turns"], "conversations still open")
			h.advance(time.Hour)
			v = h.flush()
			turns := v.hists["agent_session_turns"]
			require.Len(t, turns, 1, "agent_id only: %v", keysOf(turns))
			dp := turns["agent_id=concierge"]
			assert.EqualValues(t, 2, dp.Count())
			assert.EqualValues(t, 4, dp.Sum(), "3 + 1 turns")
			g := v.hists["agent_session_input_token_growth"]["agent_id=concierge"]
			assert.EqualValues(t, 2, g.Count())
			assert.EqualValues(t, 300, g.Sum(), "250-100, 400-250")
			assert.Zero(t, h.c.sessions.order.Len())
		})
	}
}

// 100k distinct conversations with max_sessions 1,000: never more held,
// the early-ended ones counted, every conversation observed once.
func TestSessionsBoundedUnderAttack(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Sessions.MaxSessions = 1000 })
	const n = 100_000
	for tr := range n {
		td, ss := batchOf()
		attrs := agentSpan("a")
		attrs["gen_ai.conversation.id"] = fmt.Sprintf("attacker-%d", tr)
		mkSpan(ss, 0, 3, 2, "chat", 1e9, 2e9, chat(10))
		mkSpan(ss, 0, 2, 0, "invoke_agent a", 0, 3e9, attrs)
		for _, s := range ss.Spans().All() {
			s.SetTraceID(pcommon.TraceID{byte(tr), byte(tr >> 8), byte(tr >> 16), 0xd1})
		}
		h.consume(td)
		if tr%10_000 == 9_999 {
			h.advance(10 * time.Second)
			h.flush()
			require.LessOrEqual(t, h.c.sessions.order.Len(), 1000)
		}
	}
	h.advance(2 * time.Hour)
	v := h.flush()
	n2, _ := v.histCountSum("agent_session_turns")
	assert.EqualValues(t, n, n2)
	assert.EqualValues(t, n-1000, h.c.sessions.ended)
}
