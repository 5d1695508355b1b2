package agentmetricsconnector

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/argshash"
)

// genaiTool is an execute_tool span as the OTel GenAI instrumentations
// (opentelemetry-instrumentation-openai-agents, the semconv's own examples)
// emit it: name, call id and the arguments the model produced.
func genaiTool(name, args string) map[string]any {
	return map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
		"gen_ai.tool.call.id": "call_" + args, "gen_ai.tool.call.arguments": args}
}

// stuckRun is one trace of the incident the issue cites: an invoke_agent
// span whose chat spans and execute_tool spans are siblings under it (the
// OpenAI Agents SDK shape), the model asking for the same poll calls times,
// each call preceded by a chat; a final chat answers. Spans come children
// first, the root last, in two batches.
func stuckRun(h *harness, trace, calls int, args func(i int) string) {
	td, ss := batchOf()
	t0 := int64(1e9)
	id := byte(3)
	for i := range calls {
		mkSpan(ss, trace, id, 2, "chat gpt-4o", t0, t0+4e8, chat(1000))
		mkSpan(ss, trace, id+1, 2, "execute_tool poll_job", t0+5e8, t0+9e8, genaiTool("poll_job", args(i)))
		id += 2
		t0 += 1e9
	}
	mkSpan(ss, trace, id, 2, "chat gpt-4o", t0, t0+4e8, chat(1000))
	h.consume(td)
	td, ss = batchOf()
	mkSpan(ss, trace, 2, 1, "invoke_agent ops", 5e8, t0+5e8, agentSpan("ops"))
	mkSpan(ss, trace, 1, 0, "POST /run", 0, t0+6e8, nil)
	h.consume(td)
}

// A loop of the same call 10 times in one run counts once, and its cost is
// exactly the cost of the chats that started inside it: the nine between
// the first poll and the last (the chat that asked for the first poll and
// the one that read the last result are outside).
func TestLoopOfTenCountsOnceWithItsCost(t *testing.T) {
	h := newHarness(t, nil)
	stuckRun(h, 1, 10, func(int) string { return `{"job_id":"j-42"}` })
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, map[string]float64{"agent_id=ops,tool_name=poll_job": 1}, v.sums["agent_loops_total"])
	all := v.total("agent_cost_usd_total", "agent_id=ops")
	require.Greater(t, all, 0.0, "gpt-4o is priced")
	assert.InDelta(t, all*9/11, v.total("agent_loop_cost_usd_total", "agent_id=ops"), 1e-12, "9 of the run's 11 equal chats are inside the loop")
	assert.Equal(t, 10.0, v.total("agent_tool_calls_total", "tool_name=poll_job"), "the calls themselves still count")
}

func TestLoopThresholds(t *testing.T) {
	cases := []struct {
		name  string
		calls int
		args  func(i int) string
		loops float64
	}{
		{"two identical calls are not a loop", 2, func(int) string { return `{"job_id":"j"}` }, 0},
		{"three identical calls are", 3, func(int) string { return `{"job_id":"j"}` }, 1},
		// Three in a row of one tool loop whatever the arguments.
		{"three in a row, new arguments each", 3, func(i int) string { return fmt.Sprintf(`{"page":%d}`, i) }, 1},
		{"white space around the arguments is not a difference", 3, func(i int) string { return []string{`{"a":1}`, ` {"a":1}`, "{\"a\":1}\n"}[i] }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			stuckRun(h, 1, tc.calls, tc.args)
			h.advance(time.Minute)
			v := h.flush()
			assert.Equal(t, tc.loops, v.total("agent_loops_total"))
		})
	}
	t.Run("min_repeats 5", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Loops.MinRepeats = 5 })
		stuckRun(h, 1, 4, func(int) string { return "{}" })
		stuckRun(h, 2, 5, func(int) string { return "{}" })
		h.advance(time.Minute)
		assert.Equal(t, 1.0, h.flush().total("agent_loops_total"))
	})
	t.Run("disabled", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Loops.Enabled = false })
		stuckRun(h, 1, 10, func(int) string { return "{}" })
		h.advance(time.Minute)
		v := h.flush()
		assert.Empty(t, v.sums["agent_loops_total"])
		assert.Equal(t, 10.0, v.total("agent_tool_calls_total"))
	})
}

// OpenInference (the openai-agents and LangChain instrumentations): an
// AGENT span with LLM and TOOL spans beneath it, the arguments in
// input.value. The same search, with the same query, three times but never
// twice in a row (another tool between): a loop by arguments only.
func TestLoopBySameArgumentsNotInARow(t *testing.T) {
	oiTool := func(name, args string) map[string]any {
		return map[string]any{"openinference.span.kind": "TOOL", "tool.name": name, "input.value": args}
	}
	build := func(h *harness, trace int) {
		td, ss := batchOf()
		seq := []struct{ tool, args string }{
			{"search", `{"q":"refund policy"}`}, {"open_page", `{"url":"a"}`},
			{"search", `{"q":"refund policy"}`}, {"open_page", `{"url":"b"}`},
			{"search", `{"q":"refund policy"}`}, {"open_page", `{"url":"c"}`},
		}
		for i, c := range seq {
			st := int64(i+1) * 1e9
			mkSpan(ss, trace, byte(10+i), 2, c.tool, st, st+5e8, oiTool(c.tool, c.args))
		}
		mkSpan(ss, trace, 2, 0, "Agent", 0, 8e9, map[string]any{"openinference.span.kind": "AGENT", "agent.name": "researcher"})
		h.consume(td)
	}
	h := newHarness(t, nil)
	build(h, 1)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, map[string]float64{"agent_id=researcher,tool_name=search": 1}, v.sums["agent_loops_total"])

}

// A sub-agent's calls are its own: the parent calling a tool once between
// two identical calls of its sub-agent is no loop of either.
func TestLoopsArePerInvocation(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 10, 3, "execute_tool lookup", 1e9, 1.1e9, genaiTool("lookup", `{"id":1}`))
	mkSpan(ss, 1, 11, 2, "execute_tool lookup", 2e9, 2.1e9, genaiTool("lookup", `{"id":1}`))
	mkSpan(ss, 1, 12, 3, "execute_tool lookup", 3e9, 3.1e9, genaiTool("lookup", `{"id":1}`))
	mkSpan(ss, 1, 3, 2, "invoke_agent helper", 5e8, 4e9, agentSpan("helper"))
	mkSpan(ss, 1, 2, 0, "invoke_agent boss", 0, 5e9, agentSpan("boss"))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Empty(t, v.sums["agent_loops_total"], "2 calls of helper's, 1 of boss's: no invocation reached 3")
	assert.Equal(t, 3.0, v.total("agent_tool_calls_total", "tool_name=lookup"))
}

// The recorded real clients loop nowhere.
func TestNoLoopOnRealClients(t *testing.T) {
	for _, f := range agenttest.RealClientFiles {
		h := newHarness(t, nil)
		for _, td := range agenttest.Load(t, f) {
			h.consume(td)
		}
		h.advance(time.Minute)
		v := h.flush()
		require.NotZero(t, v.total("agent_tool_calls_total"), f)
		assert.Empty(t, v.sums["agent_loops_total"], f)
		assert.Empty(t, v.sums["agent_loop_cost_usd_total"], f)
	}
}

// The hash the processor put in the side table is the one the connector
// compares, even when the span reaches it without arguments.
func TestLoopArgumentsFromTheProcessorsHash(t *testing.T) {
	const args = `{"q":"refund policy"}`
	h := newHarness(t, nil)
	td, ss := batchOf()
	seq := []string{"search", "open_page", "search", "open_page", "search"}
	for i, tool := range seq {
		st := int64(i+1) * 1e9
		s := mkSpan(ss, 1, byte(10+i), 2, tool, st, st+5e8, genaiTool(tool, fmt.Sprint(i)))
		s.Attributes().Remove("gen_ai.tool.call.arguments") // dropped by redaction
		if tool == "search" {
			argshash.Shared.Put(s.TraceID(), s.SpanID(), agentspan.HashArgs(args))
		}
	}
	mkSpan(ss, 1, 2, 0, "invoke_agent researcher", 0, 8e9, agentSpan("researcher"))
	h.consume(td)
	h.advance(time.Minute)
	assert.Equal(t, 1.0, h.flush().total("agent_loops_total", "tool_name=search"))
}

// Property: on random call sequences (several invocations, few tools and
// argument sets, so that loops are common), the loops counted are exactly
// those a direct reading of the rule finds, and their cost is exactly the
// cost of the chats starting inside them.
func TestLoopsMatchTheRuleOnRandomRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	for iter := range 300 {
		h := newHarness(t, nil)
		td, ss := batchOf()
		id := byte(10)
		wantLoops := map[string]float64{}
		wantCost := 0.0
		perChat := -1.0
		type call struct {
			tool, args string
			start, end int64
			chat       bool
		}
		for inv := range 2 {
			parent := byte(2 + inv)
			agent := fmt.Sprintf("a%d", inv)
			var seq []call
			t0 := int64(1e9)
			for range r.IntN(9) {
				c := call{tool: []string{"x", "y", "z"}[r.IntN(3)], args: fmt.Sprint(r.IntN(2)), start: t0, end: t0 + 5e8, chat: r.IntN(2) == 0}
				seq = append(seq, c)
				t0 += 1e9
			}
			for _, c := range seq {
				if c.chat {
					mkSpan(ss, 1, id, parent, "chat", c.start-2e8, c.start-1e8, chat(100))
					id++
				}
				mkSpan(ss, 1, id, parent, "execute_tool "+c.tool, c.start, c.end, genaiTool(c.tool, c.args))
				id++
			}
			mkSpan(ss, 1, parent, 1, "invoke_agent "+agent, 0, t0+1e9, agentSpan(agent))
			// The rule, read directly: groups of 3+ by (tool, args), runs
			// of 3+ of one tool.
			type iv struct{ a, b int64 }
			var ivs []iv
			looped := map[string]bool{}
			for i := range seq {
				n, last := 0, int64(0)
				for j := i; j < len(seq); j++ {
					if seq[j].tool == seq[i].tool && seq[j].args == seq[i].args {
						n++
						last = seq[j].end
					}
				}
				first := true
				for j := 0; j < i; j++ {
					first = first && !(seq[j].tool == seq[i].tool && seq[j].args == seq[i].args)
				}
				if first && n >= 3 {
					ivs = append(ivs, iv{seq[i].start, last})
					looped[seq[i].tool] = true
				}
				if i == 0 || seq[i-1].tool != seq[i].tool {
					j := i
					for j < len(seq) && seq[j].tool == seq[i].tool {
						j++
					}
					if j-i >= 3 {
						ivs = append(ivs, iv{seq[i].start, seq[j-1].end})
						looped[seq[i].tool] = true
					}
				}
			}
			for tool := range looped {
				wantLoops["agent_id="+agent+",tool_name="+tool]++
			}
			for _, c := range seq {
				if !c.chat {
					continue
				}
				for _, x := range ivs {
					if c.start-2e8 >= x.a && c.start-2e8 <= x.b {
						wantCost++ // in chats; priced below
						break
					}
				}
			}
		}
		mkSpan(ss, 1, 1, 0, "POST /", 0, 20e9, nil)
		h.consume(td)
		h.advance(time.Minute)
		v := h.flush()
		got := v.sums["agent_loops_total"]
		if len(wantLoops) == 0 {
			require.Empty(t, got, "iteration %d", iter)
		} else {
			require.Equal(t, wantLoops, got, "iteration %d", iter)
		}
		chats, _ := v.histCountSum("agent_model_latency_seconds")
		if chats > 0 {
			perChat = v.total("agent_cost_usd_total") / float64(chats)
		}
		if wantCost > 0 {
			require.InDelta(t, wantCost*perChat, v.total("agent_loop_cost_usd_total"), 1e-12, "iteration %d", iter)
		} else {
			require.Empty(t, v.sums["agent_loop_cost_usd_total"], "iteration %d", iter)
		}
	}
}

// Under an attack of 100k distinct looping tool names the loop series stay
// within the cardinality limit (the rest in the overflow series), and every
// loop is still counted.
func TestLoopCardinalityUnderAttack(t *testing.T) {
	h := newHarness(t, nil)
	const runs = 100_000
	for tr := range runs {
		td, ss := batchOf()
		name := fmt.Sprintf("tool-%d", tr)
		for i := range 3 {
			st := int64(i+1) * 1e9
			mkSpan(ss, 0, byte(10+i), 2, "execute_tool "+name, st, st+5e8, genaiTool(name, "{}"))
		}
		mkSpan(ss, 0, 2, 0, "invoke_agent a", 0, 5e9, agentSpan("a"))
		h.consumeNth(td, tr)
	}
	h.advance(time.Minute)
	v := h.flush()
	limit := createDefaultConfig().(*Config).CardinalityLimit
	assert.LessOrEqual(t, len(v.sums["agent_loops_total"]), limit+1, "the limit plus one overflow series")
	assert.Equal(t, float64(runs), v.total("agent_loops_total"), "every loop counted")
}
