package agentmetricsconnector

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

// Every sender fixture (one library's traces, in the shape it emits, in
// export order) gives its truth exactly: runs by outcome, LLM calls and
// tokens by model and direction (nothing double counted: the totals are
// the truth's), tool calls by status, all under the agent the run names.
func TestSendersGiveTheirTruth(t *testing.T) {
	for _, name := range agenttest.SenderFiles(t) {
		t.Run(name, func(t *testing.T) {
			tds, truth := agenttest.LoadSender(t, name)
			h := newHarness(t, nil)
			for _, td := range tds {
				h.consume(td)
				h.advance(5 * time.Second) // the batch processor's default delay between requests
			}
			h.advance(time.Minute)
			v := h.flush()
			checkSenderTruth(t, v, truth)
		})
	}
}

// The same truth whatever the order and batching the spans arrive in.
func TestSendersShuffledAndBatchedKeepTheirTruth(t *testing.T) {
	for _, name := range agenttest.SenderFiles(t) {
		t.Run(name, func(t *testing.T) {
			tds, truth := agenttest.LoadSender(t, name)
			all := ptrace.NewTraces()
			for _, td := range tds {
				td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
			}
			for seed := range 8 {
				checkSenderTruth(t, replayShuffled(t, all, seed), truth)
			}
		})
	}
}

func checkSenderTruth(t *testing.T, v metricsView, truth agenttest.SenderTruth) {
	t.Helper()
	var diffs []string
	eq := func(want float64, what, name string, filters ...string) {
		if got := v.total(name, filters...); got != want {
			diffs = append(diffs, fmt.Sprintf("%s: %v, want %v", what, got, want))
		}
	}
	agent := "agent_id=" + truth.AgentID
	eq(float64(truth.Runs.Success), "successful runs", "agent_requests_total", agent, "status=success")
	eq(float64(truth.Runs.Failure), "failed runs", "agent_requests_total", agent, "status=failure")
	eq(float64(truth.Runs.Success+truth.Runs.Failure), "runs of any agent", "agent_requests_total")
	calls, tokens, tools := 0, int64(0), 0
	for model, n := range truth.LLMCalls {
		calls += n
		eq(float64(n), "LLM calls of "+model, "agent_llm_calls_total", agent, "model="+model)
	}
	eq(float64(calls), "LLM calls of any agent and model", "agent_llm_calls_total")
	for model, dirs := range truth.Tokens {
		for dir, n := range dirs {
			tokens += n
			eq(float64(n), dir+" tokens of "+model, "agent_tokens_consumed_total", agent, "model="+model, "direction="+dir)
		}
	}
	eq(float64(tokens), "tokens of any agent, model and direction", "agent_tokens_consumed_total")
	for tool, byStatus := range truth.ToolCalls {
		for status, n := range byStatus {
			tools += n
			eq(float64(n), status+" calls of "+tool, "agent_tool_calls_total", agent, "tool_name="+tool, "status="+status)
		}
	}
	eq(float64(tools), "tool calls of any agent", "agent_tool_calls_total")
	if len(diffs) == 0 {
		return
	}
	var got []string
	for _, m := range []string{"agent_requests_total", "agent_llm_calls_total", "agent_tokens_consumed_total", "agent_tool_calls_total"} {
		for k, n := range v.sums[m] {
			got = append(got, fmt.Sprintf("  %s{%s} %v", m, k, n))
		}
	}
	sort.Strings(got)
	sort.Strings(diffs)
	t.Errorf("%s (%s):\n  %s\ngot:\n%s", truth.Sender, truth.Library, strings.Join(diffs, "\n  "), strings.Join(got, "\n"))
}
