package agentmetricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// mcpAttrs are an MCP span's attributes as the MCP semconv (semantic-
// conventions-genai docs/gen-ai/mcp.md) has instrumentations write them.
func mcpAttrs(method, tool string, extra map[string]any) map[string]any {
	m := map[string]any{"mcp.method.name": method, "mcp.session.id": "191c4850af6c49e08843a3f6c80e5046",
		"jsonrpc.request.id": "7", "mcp.protocol.version": "2025-06-18", "network.transport": "tcp"}
	if tool != "" {
		m["gen_ai.tool.name"] = tool
		m["gen_ai.operation.name"] = "execute_tool"
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// An agent calls an MCP tool; both the client and the server export their
// span (the server's parent is the client's, through params._meta): one
// tool call, named by the MCP tool. Other MCP methods are no tool calls;
// every MCP span's duration counts by method, on its side.
func TestMCPClientAndServerAreOneCall(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 3, 2, "initialize", 1e8, 2e8, mcpAttrs("initialize", "", nil)).SetKind(ptrace.SpanKindClient)
	mkSpan(ss, 1, 4, 2, "tools/list", 2e8, 3e8, mcpAttrs("tools/list", "", nil)).SetKind(ptrace.SpanKindClient)
	mkSpan(ss, 1, 5, 2, "tools/call get_weather", 1e9, 2e9, mcpAttrs("tools/call", "get_weather", nil)).SetKind(ptrace.SpanKindClient)
	mkSpan(ss, 1, 6, 5, "tools/call get_weather", 1.1e9, 1.9e9, mcpAttrs("tools/call", "get_weather", nil)).SetKind(ptrace.SpanKindServer)
	// The tool's result said isError: error.type tool_error, status unset.
	mkSpan(ss, 1, 7, 2, "tools/call book_flight", 2e9, 3e9, mcpAttrs("tools/call", "book_flight", map[string]any{"error.type": "tool_error"})).SetKind(ptrace.SpanKindClient)
	mkSpan(ss, 1, 2, 0, "invoke_agent travel", 0, 4e9, agentSpan("travel"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, map[string]float64{
		"agent_id=travel,status=success,tool_name=get_weather": 1,
		"agent_id=travel,status=failure,tool_name=book_flight": 1,
	}, v.sums["agent_tool_calls_total"], "client and server span of one call are one call; tool_error is a failure")
	n, _ := v.histCountSum("agent_tool_calls_per_run")
	assert.EqualValues(t, 1, n)
	_, perRun := v.histCountSum("agent_tool_calls_per_run", "agent_id=travel")
	assert.EqualValues(t, 2, perRun)

	client := v.hists["mcp.client.operation.duration"]
	assert.EqualValues(t, 2, client["mcp.method.name=tools/call"].Count())
	assert.EqualValues(t, 1, client["mcp.method.name=initialize"].Count())
	assert.EqualValues(t, 1, client["mcp.method.name=tools/list"].Count())
	assert.Len(t, client, 3, "mcp.method.name only: no session or request id label")
	server := v.hists["mcp.server.operation.duration"]
	assert.EqualValues(t, 1, server["mcp.method.name=tools/call"].Count())
	assert.InDelta(t, 0.8, server["mcp.method.name=tools/call"].Sum(), 1e-9)
	assert.Equal(t, mcpBuckets, server["mcp.method.name=tools/call"].ExplicitBounds().AsRaw())
}

// A server that exports and a client that does not: the server's span is
// the call (its parent is remote), named by the tool, without the
// operation name the semconv only recommends.
func TestMCPServerOnly(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	s := mkSpan(ss, 1, 6, 5, "tools/call search_docs", 1e9, 2e9, map[string]any{"mcp.method.name": "tools/call"})
	s.SetKind(ptrace.SpanKindServer)
	s.SetFlags(0x100 | 0x200) // W3C: the parent is remote
	h.consume(td)
	h.advance(time.Hour)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_tool_calls_total", "tool_name=search_docs", "status=success"))
}

// 100k distinct (custom) MCP method names: bounded.
func TestMCPCardinalityUnderAttack(t *testing.T) {
	h := newHarness(t, nil)
	const n = 100_000
	for tr := range n {
		td, ss := batchOf()
		s := mkSpan(ss, 0, 3, 0, "m", 0, 1e9, map[string]any{"mcp.method.name": fmt.Sprintf("custom/%d", tr)})
		s.SetKind(ptrace.SpanKindClient)
		s.SetTraceID(pcommon.TraceID{byte(tr), byte(tr >> 8), byte(tr >> 16), 0xd0})
		h.consume(td)
	}
	h.advance(time.Minute)
	v := h.flush()
	limit := createDefaultConfig().(*Config).CardinalityLimit
	assert.LessOrEqual(t, len(v.hists["mcp.client.operation.duration"]), limit+1)
	c, _ := v.histCountSum("mcp.client.operation.duration")
	assert.EqualValues(t, n, c)
}
