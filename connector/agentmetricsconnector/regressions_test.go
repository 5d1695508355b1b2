package agentmetricsconnector

// Regressions found in review of the trace store (each failed before its fix).

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// remoteFlags: the W3C is-remote bit is known and set (OTLP span flags).
const remoteFlags = 0x300

func batchSvc(svc string) (ptrace.Traces, ptrace.ScopeSpans) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", svc)
	return td, rs.ScopeSpans().AppendEmpty()
}

// R1: agent A (service a) calls agent B in service b over HTTP; B's span has
// a remote parent that IS held in the same trace. Contract: B is nested
// (caller A), one request.
func TestAgentCalledOverTheNetworkIsNested(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchSvc("b")
	mkSpan(ss, 1, 5, 4, "chat", 2e9, 3e9, chat(10))
	b := mkSpan(ss, 1, 4, 3, "invoke_agent B", 2e9, 4e9, agentSpan("B"))
	b.SetFlags(remoteFlags)
	h.consume(td)
	td, ss = batchSvc("a")
	mkSpan(ss, 1, 3, 2, "execute_tool call_b", 1e9, 5e9, toolSpan("call_b"))
	mkSpan(ss, 1, 2, 0, "invoke_agent A", 0, 6e9, agentSpan("A"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total"), "B is nested under A")
	assert.Equal(t, 1.0, v.total("agent_invocations_total", "agent_id=B", "caller_agent_id=A"))
}

// R1b: A's tool calls service b, whose HTTP server span (remote parent,
// no agent) runs an LLM call. Contract: the call's innermost invocation is A.
func TestCallInARemoteServiceBelongsToTheCallingAgent(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchSvc("b")
	mkSpan(ss, 1, 5, 4, "chat", 2e9, 3e9, chat(10))
	s := mkSpan(ss, 1, 4, 3, "POST /complete", 2e9, 4e9, nil)
	s.SetFlags(remoteFlags)
	h.consume(td)
	td, ss = batchSvc("a")
	mkSpan(ss, 1, 3, 2, "execute_tool call_b", 1e9, 5e9, toolSpan("call_b"))
	mkSpan(ss, 1, 2, 0, "invoke_agent A", 0, 6e9, agentSpan("A"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "agent_id=A"))
}

// R2: an HTTP handler root (no agent attributes) delivered before its LLM
// children (another batch, within the grace). Whole-trace: one request.
func TestPlainRootArrivingFirstIsKept(t *testing.T) {
	whole := func() metricsView {
		h := newHarness(t, nil)
		td, ss := batchOf()
		mkSpan(ss, 1, 1, 0, "POST /chat", 0, 3e9, nil)
		mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
		h.consume(td)
		h.advance(31 * time.Minute)
		return h.flush()
	}()
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 1, 0, "POST /chat", 0, 3e9, nil)
	h.consume(td)
	h.advance(time.Second)
	td, ss = batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, whole.total("agent_requests_total"))
	assert.Equal(t, whole.total("agent_requests_total"), v.total("agent_requests_total"), "same trace, other order, decided after the grace")
}

// R3: a batch delivered twice (exporter retry): held twice in the trace.
func TestBatchDeliveredTwiceCountsOnce(t *testing.T) {
	h := newHarness(t, nil)
	mk := func() ptrace.Traces {
		td, ss := batchOf()
		mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
		mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
		return td
	}
	h.consume(mk())
	h.consume(mk())
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total"))
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total"))
}

// R4: decision cache bytes are in the same budget as open traces, but
// evicting open traces cannot shrink it: past max_bytes every new trace is
// evicted at its first batch.
func TestDecisionCacheIsOutsideTheByteBudget(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Runs.MaxBytes = 1 << 20 })
	n := 0
	for i := 0; i < 20000; i++ {
		td, ss := batchOf()
		tr := i + 10
		s := mkSpan(ss, 0, 2, 1, "chat", 1e9, 2e9, chat(10))
		s.SetTraceID(pcommon.TraceID{byte(tr), byte(tr >> 8), byte(tr >> 16), 0xcd})
		s = mkSpan(ss, 0, 1, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
		s.SetTraceID(pcommon.TraceID{byte(tr), byte(tr >> 8), byte(tr >> 16), 0xcd})
		h.consume(td)
		n++
		if i%100 == 0 {
			h.advance(6 * time.Second)
			h.flush()
		}
	}
	h.c.mu.Lock()
	h.c.mu.Unlock()
	// Now a two-batch run: child first, root later.
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
	h.consume(td)
	h.advance(time.Second)
	td, ss = batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent solo", 0, 3e9, agentSpan("solo"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=solo"), "a two-batch run within the grace")
}

// R5: B's part (remote-parent root) closes after the grace before A's part
// arrives from A's process: A's root and calls become late.
func TestRemotePartWaitsForItsCaller(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchSvc("b")
	mkSpan(ss, 1, 5, 4, "chat", 2e9, 3e9, chat(10))
	b := mkSpan(ss, 1, 4, 3, "invoke_agent B", 2e9, 4e9, agentSpan("B"))
	b.SetFlags(remoteFlags)
	h.consume(td)
	h.advance(6 * time.Second) // A's exporter/batch delay
	h.flush()
	td, ss = batchSvc("a")
	mkSpan(ss, 1, 6, 2, "chat", 5e9, 6e9, chat(1000))
	mkSpan(ss, 1, 3, 2, "execute_tool call_b", 1e9, 5e9, toolSpan("call_b"))
	mkSpan(ss, 1, 2, 0, "invoke_agent A", 0, 7e9, agentSpan("A"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=A"))
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "agent_id=A"))
}

// R6: framework + provider llm spans arriving after the trace closed: both
// counted (no shadowing on the late path).
func TestLateLLMSpanAboveLLMSpanCountsOnce(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Runs.MaxRuns = 1 })
	td, ss := batchOf()
	mkSpan(ss, 1, 5, 1, "execute_tool t", 1e9, 2e9, toolSpan("t"))
	h.consume(td)
	td, ss = batchOf()
	mkSpan(ss, 2, 2, 1, "chat", 1e9, 2e9, chat(10)) // evicts trace 1
	h.consume(td)
	td, ss = batchOf()
	mkSpan(ss, 1, 3, 2, "chat gpt-4o", 1e9, 2e9, chat(100))
	mkSpan(ss, 1, 2, 1, "ChatOpenAI", 1e9, 2e9, map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 100})
	h.consume(td)
	h.advance(31 * time.Minute)
	v := h.flush()
	assert.Equal(t, 100.0, v.total("agent_tokens_consumed_total", "direction=input", "agent_id=svc-fallback")-10)
}

// R2b: a CHAIN root with a conversation id whose previous turn closed,
// delivered before its LLM child: swallowed by feedbackByConversation.
func TestChainRootNamingAConversationStartsARun(t *testing.T) {
	h := newHarness(t, nil)
	root := map[string]any{"openinference.span.kind": "CHAIN", "session.id": "s1"}
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
	mkSpan(ss, 1, 1, 0, "RunnableSequence", 0, 3e9, root)
	h.consume(td)
	h.advance(6 * time.Second)
	h.flush()
	td, ss = batchOf()
	mkSpan(ss, 2, 1, 0, "RunnableSequence", 0, 3e9, root)
	h.consume(td)
	h.advance(time.Second)
	td, ss = batchOf()
	mkSpan(ss, 2, 2, 1, "chat", 1e9, 2e9, chat(10))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	h.advance(31 * time.Minute)
	v = h.flush()
	if v.total("agent_requests_total") != 2 {
		t.Errorf("want 2 requests, got %v", v.total("agent_requests_total"))
	}
}
