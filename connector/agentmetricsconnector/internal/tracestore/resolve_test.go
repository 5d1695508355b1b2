package tracestore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// node builds a span skeleton: id, parent (0 = root), kind, flags.
func node(id, parent byte, kind agentspan.Kind, flags Flags) Span {
	s := Span{ID: pcommon.SpanID{id}, Kind: kind, Flags: flags}
	if parent != 0 {
		s.Parent = pcommon.SpanID{parent}
	}
	return s
}

func resolve(spans ...Span) *Resolution {
	s := New(Settings{})
	t := &Trace{Spans: spans}
	return s.Resolve(t)
}

const (
	run   = agentspan.KindRun
	llm   = agentspan.KindLLM
	tool  = agentspan.KindTool
	other = agentspan.KindOther
)

func TestNestedAndSiblingAgents(t *testing.T) {
	// http(1) > supervisor(2) > [llm(3), researcher(4) > [llm(5), tool(6)], tool(7)]
	//         > summarizer(8) > llm(9)
	// Spans listed roots last, as SDKs export them.
	r := resolve(
		node(3, 2, llm, 0), node(5, 4, llm, 0), node(6, 4, tool, 0), node(4, 2, run, Explicit),
		node(7, 2, tool, 0), node(2, 1, run, Explicit), node(9, 8, llm, 0), node(8, 1, run, Explicit),
		node(1, 0, other, 0),
	)
	// Indexes: 0:llm3 1:llm5 2:tool6 3:researcher 4:tool7 5:supervisor 6:llm9 7:summarizer 8:http
	assert.Equal(t, []int32{3, 5, 7}, r.Invocations, "every explicit agent span; the generic root is not one")
	assert.Equal(t, []int32{5, 3, 3, 3, 5, 5, 7, 7, -1}, r.Owner, "innermost enclosing invocation")
	assert.Equal(t, int32(5), r.Caller[3], "researcher called by supervisor")
	assert.Equal(t, int32(-1), r.Caller[5], "supervisor is an entry")
	assert.Equal(t, int32(-1), r.Caller[7], "summarizer is an entry")
	assert.Equal(t, []int32{5, 5, 5, 5, 5, 5, 7, 7, -1}, r.Entry)
}

func TestGenericRootIsTheRunWithoutExplicitAgents(t *testing.T) {
	r := resolve(node(2, 1, tool, 0), node(3, 1, llm, 0), node(1, 0, other, 0))
	assert.Equal(t, []int32{2}, r.Invocations)
	assert.Equal(t, []int32{2, 2, 2}, r.Owner)
	// A root with no llm or tool work is not a run.
	r = resolve(node(2, 1, other, 0), node(1, 0, other, 0))
	assert.Empty(t, r.Invocations)
	// A root fixed as other by agent.span.kind or a rule is never the run.
	r = resolve(node(2, 1, tool, 0), node(1, 0, other, KindFixed))
	assert.Empty(t, r.Invocations)
	// A root that is itself a call is not a run.
	r = resolve(node(1, 0, llm, 0))
	assert.Empty(t, r.Invocations)
	// A remote-parent local root holding work is a run too.
	r = resolve(node(2, 1, llm, 0), node(1, 9, other, RemoteParent))
	assert.Equal(t, []int32{1}, r.Invocations)
}

func TestBrokenAncestryFallsBackToTheOnlyInvocation(t *testing.T) {
	// llm(3) whose parent (2) never arrived; one agent (1) in the trace.
	r := resolve(node(3, 2, llm, 0), node(1, 0, run, Explicit))
	assert.Equal(t, int32(1), r.Owner[0])
	// Two agents: a call with broken ancestry belongs to neither.
	r = resolve(node(3, 2, llm, 0), node(1, 0, run, Explicit), node(4, 0, run, Explicit))
	assert.Equal(t, int32(-1), r.Owner[0])
	// A call outside any agent (whole ancestry present) belongs to none,
	// even when the trace has exactly one agent elsewhere.
	r = resolve(node(3, 1, llm, 0), node(2, 1, run, Explicit), node(1, 0, other, 0))
	assert.Equal(t, int32(-1), r.Owner[0])
	assert.Equal(t, int32(1), r.Owner[1])
}

func TestLLMAboveLLMIsShadowed(t *testing.T) {
	// agent(1) > framework llm(2) > provider llm(3); llm(4) alone.
	r := resolve(node(3, 2, llm, 0), node(2, 1, llm, 0), node(4, 1, llm, 0), node(1, 0, run, Explicit))
	assert.Equal(t, []bool{false, true, false, false}, r.Shadowed)
	// Three deep: only the innermost counts.
	r = resolve(node(4, 3, llm, 0), node(3, 2, llm, 0), node(2, 1, llm, 0), node(1, 0, run, Explicit))
	assert.Equal(t, []bool{false, true, true, false}, r.Shadowed)
	// An llm span above an agent that holds llm spans is not shadowed by them.
	r = resolve(node(3, 2, llm, 0), node(2, 1, run, Explicit), node(1, 0, llm, 0))
	assert.Equal(t, []bool{false, false, false}, r.Shadowed)
}

func TestParentCycleTerminatesAsBrokenAncestry(t *testing.T) {
	// 1 -> 2 -> 1: neither reaches a root; with an agent elsewhere in the
	// trace, the calls in the cycle fall back to it (broken ancestry).
	r := resolve(node(1, 2, llm, 0), node(2, 1, tool, 0), node(3, 3, llm, 0), node(9, 0, run, Explicit))
	require.Len(t, r.Owner, 4)
	assert.Equal(t, []int32{3, 3, 3, 3}, r.Owner)
	assert.Equal(t, []bool{false, false, false, false}, r.Shadowed, "no llm in the cycle marked by walking it forever")
	// An agent inside a cycle is its own owner and has no caller.
	r = resolve(node(1, 2, run, Explicit), node(2, 1, llm, 0))
	assert.Equal(t, []int32{0, 0}, r.Owner)
	assert.Equal(t, int32(-1), r.Caller[0])
}

func TestDeepChainIsResolvedOnce(t *testing.T) {
	// A 100k-deep chain under one agent: linear, no recursion.
	const n = 100_000
	spans := make([]Span, 0, n+1)
	for i := n; i >= 1; i-- {
		id := pcommon.SpanID{byte(i), byte(i >> 8), byte(i >> 16), 1}
		parent := pcommon.SpanID{byte(i - 1), byte((i - 1) >> 8), byte((i - 1) >> 16), 1}
		spans = append(spans, Span{ID: id, Parent: parent, Kind: llm})
	}
	spans = append(spans, Span{ID: pcommon.SpanID{0, 0, 0, 1}, Kind: run, Flags: Explicit})
	r := resolve(spans...)
	for i := range n {
		if r.Owner[i] != n {
			t.Fatalf("span %d owner %d", i, r.Owner[i])
		}
	}
	assert.False(t, r.Shadowed[0], "the innermost llm counts")
	assert.True(t, r.Shadowed[n-1], "the outermost llm is above others")
}
