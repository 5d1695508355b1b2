package agentsim

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func simulate(t *testing.T, cfg Config, runs int, at func(i int) time.Duration) (Totals, tracetest.SpanStubs) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	s := New(cfg, tp.Tracer("test"))
	for i := range runs {
		s.Run(context.Background(), at(i))
	}
	return s.Totals(), exp.GetSpans()
}

// What a span is, read from its attributes as the connector reads them.
const (
	spanRun       = "run"
	spanLLM       = "llm"
	spanTool      = "tool"       // a tool call: the convention's tool span, or an MCP tools/call client span
	spanMCPServer = "mcp_server" // the server's side of an MCP tools/call: not a call of its own
	spanMCPOther  = "mcp_other"  // an MCP request that is no tool call (tools/list)
	spanGuardrail = "guardrail"  // GenAI apply_guardrail, OpenInference GUARDRAIL
)

func kindOf(t *testing.T, s tracetest.SpanStub) string {
	t.Helper()
	if !s.Parent.IsValid() {
		return spanRun
	}
	method, _ := attr(s, "mcp.method.name")
	op, _ := attr(s, "gen_ai.operation.name")
	oi, _ := attr(s, "openinference.span.kind")
	tool, _ := attr(s, "agent.tool.name", "gen_ai.tool.name", "tool.name")
	switch {
	case method == MCPToolsCall && s.SpanKind == trace.SpanKindServer:
		return spanMCPServer
	case method == MCPToolsCall:
		return spanTool
	case method != "":
		return spanMCPOther
	case op == "apply_guardrail" || oi == "GUARDRAIL":
		return spanGuardrail
	case tool != "":
		return spanTool
	case s.SpanKind == trace.SpanKindClient:
		return spanLLM
	}
	t.Fatalf("span %q of no kind: %v", s.Name, s.Attributes)
	return ""
}

func TestTotalsMatchWhatWasSent(t *testing.T) {
	for _, share := range []float64{0, 0.5} {
		t.Run(fmt.Sprintf("mcp_share=%v", share), func(t *testing.T) { testTotalsMatchWhatWasSent(t, share) })
	}
}

func testTotalsMatchWhatWasSent(t *testing.T, mcpShare float64) {
	cfg := Config{Agents: []string{"a", "b"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: 3, MCPShare: mcpShare,
		Scenarios: []ScenarioAt{{Name: ToolFailureSpike, Start: 50 * time.Second}, {Name: ToolLoop, Start: 30 * time.Second}}}
	tot, spans := simulate(t, cfg, 100, func(i int) time.Duration { return time.Duration(i) * time.Second })
	roots, llm, tools := 0, 0, 0
	// Steps as the connector derives them from the spans: a run's
	// agent.run.total_steps when it has one, else its LLM calls.
	stepsAttr, llmOf := map[string]int{}, map[string]int{}
	for _, s := range spans {
		if !s.Parent.IsValid() {
			for _, kv := range s.Attributes {
				if kv.Key == "agent.run.total_steps" {
					stepsAttr[s.SpanContext.TraceID().String()] = int(kv.Value.AsInt64())
				}
			}
		} else if kindOf(t, s) == spanLLM {
			llmOf[s.SpanContext.TraceID().String()]++
		}
	}
	wantSteps := 0
	for id, n := range llmOf {
		if v, ok := stepsAttr[id]; ok {
			wantSteps += v
		} else {
			wantSteps += n
		}
	}
	if len(stepsAttr) == 0 {
		t.Fatal("no run carries agent.run.total_steps: that path is not exercised")
	}
	for _, s := range spans {
		switch kindOf(t, s) {
		case spanRun:
			roots++
		case spanLLM:
			llm++
		case spanTool:
			tools++
		}
	}
	if roots != 100 || tot.Runs != 100 {
		t.Fatalf("roots %d runs %d", roots, tot.Runs)
	}
	sumLLM, sumTools, sumSteps := 0, 0, 0
	for a := range tot.Requests {
		sumLLM += tot.LLMCalls[a]
		sumSteps += tot.ReasoningSteps[a]
		for _, n := range tot.ToolCalls[a] {
			sumTools += n
		}
	}
	if llm != sumLLM || tools != sumTools || sumSteps != wantSteps {
		t.Fatalf("spans llm %d tools %d steps %d; totals llm %d tools %d steps %d", llm, tools, wantSteps, sumLLM, sumTools, sumSteps)
	}
	if sumSteps == sumLLM {
		t.Fatal("steps equal LLM calls: the e2e check could not tell agent.run.total_steps from counting calls")
	}
}

func TestDeterministicForASeed(t *testing.T) {
	cfg := Config{Agents: []string{"a"}, Seed: 9}
	at := func(int) time.Duration { return 0 }
	a, _ := simulate(t, cfg, 50, at)
	b, _ := simulate(t, cfg, 50, at)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different totals")
	}
}

func TestToolSelectionDriftScenario(t *testing.T) {
	cfg := Config{Agents: []string{"refund-bot"}, Seed: 1, Scenarios: []ScenarioAt{{Name: ToolSelectionDrift, Start: 10 * time.Second}}}
	tot, _ := simulate(t, cfg, 20, func(i int) time.Duration { return time.Duration(i) * time.Second })
	calls := tot.ToolCalls["refund-bot"]
	if calls["process_refund/success"]+calls["process_refund/failure"] != 10 || calls["return_unable_to_process/success"] != 10 {
		t.Fatalf("tool calls %v: want process_refund before the incident only, then return_unable_to_process, all succeeding", calls)
	}
	if calls["return_unable_to_process/failure"] != 0 {
		t.Fatal("the drift incident has no failures")
	}
}

func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario("tool_selection_drift@2m")
	if err != nil || sc.Name != ToolSelectionDrift || sc.Start != 2*time.Minute {
		t.Fatalf("%+v %v", sc, err)
	}
	if sc, err := ParseScenario("tool_loop@90s"); err != nil || sc.Name != ToolLoop || sc.Start != 90*time.Second {
		t.Fatalf("%+v %v", sc, err)
	}
	if _, err := ParseScenario("meteor_strike"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
	if _, err := ParseScenario("steady@soon"); err == nil {
		t.Fatal("bad start accepted")
	}
}

func TestExtraTools(t *testing.T) {
	tot, _ := simulate(t, Config{Agents: []string{"a"}, Tools: []string{"search_kb", "send_email"}, Seed: 2}, 40, func(int) time.Duration { return 0 })
	extra := 0
	for key, n := range tot.ToolCalls["a"] {
		if strings.HasPrefix(key, "search_kb/") || strings.HasPrefix(key, "send_email/") {
			extra += n
		}
	}
	if extra != 40 {
		t.Fatalf("extra tool calls %d, want one a run (40): %v", extra, tot.ToolCalls["a"])
	}
}

// call is a span of a run as the connector reads it: a tool call's name and
// the arguments it hashes, whichever convention the run was written in.
type call struct {
	llm         bool
	tool, args  string
	start, end  time.Time
	status, key string // key: the attribute the arguments came from
}

func attr(s tracetest.SpanStub, keys ...string) (string, string) {
	for _, k := range keys {
		for _, kv := range s.Attributes {
			if string(kv.Key) == k {
				return kv.Value.AsString(), k
			}
		}
	}
	return "", ""
}

// runsOf is each run's calls (LLM and tool spans, an MCP call's client
// span only) in start order, by trace, with the agent of the run.
func runsOf(t *testing.T, spans tracetest.SpanStubs) (map[string][]call, map[string]string) {
	t.Helper()
	runs, agent := map[string][]call{}, map[string]string{}
	for _, s := range spans {
		id := s.SpanContext.TraceID().String()
		k := kindOf(t, s)
		if k == spanRun {
			agent[id], _ = attr(s, "agent.agent.id", "gen_ai.agent.name", "agent.name")
			continue
		}
		if k != spanLLM && k != spanTool {
			continue
		}
		c := call{llm: k == spanLLM, start: s.StartTime, end: s.EndTime, status: "success"}
		if !c.llm {
			c.tool, _ = attr(s, "agent.tool.name", "gen_ai.tool.name", "tool.name")
			c.args, c.key = attr(s, "agent.tool.arguments", "gen_ai.tool.call.arguments", "input.value")
			if et, _ := attr(s, "error.type"); s.Status.Code == codes.Error || et == "tool_error" {
				c.status = "failure"
			}
		}
		runs[id] = append(runs[id], c)
	}
	for _, cs := range runs {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].start.Before(cs[j].start) })
	}
	return runs, agent
}

// looped applies the loop rule of agent_loops_total to a run's calls: a tool
// loops when it is called with the same arguments n times, or n times in a
// row with no other tool call between (LLM calls between do not break it).
func looped(calls []call, n int) map[string]bool {
	out := map[string]bool{}
	same := map[[2]string]int{}
	prev, streak := "", 0
	for _, c := range calls {
		if c.llm {
			continue
		}
		same[[2]string{c.tool, c.args}]++
		if c.tool == prev {
			streak++
		} else {
			prev, streak = c.tool, 1
		}
		if same[[2]string{c.tool, c.args}] >= n || streak >= n {
			out[c.tool] = true
		}
	}
	return out
}

// Under tool_loop a share of every agent's runs polls LoopTool LoopCalls
// times with identical arguments, an LLM call before each poll; nothing else
// in any run loops, and the totals count each stuck run once.
func TestToolLoopScenario(t *testing.T) {
	cfg := Config{Agents: []string{"a", "b", "c"}, Tools: []string{"search_kb", "send_email"}, Seed: 4,
		Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference},
		Scenarios:   []ScenarioAt{{Name: ToolLoop, Start: 100 * time.Second}, {Name: ToolFailureSpike}}}
	const n = 400
	tot, spans := simulate(t, cfg, n, func(i int) time.Duration { return time.Duration(i) * time.Second })
	runs, agentOf := runsOf(t, spans)
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	stuck, loopLLM := map[string]int{}, map[string]int{}
	keys := map[string]bool{}
	for id, calls := range runs {
		l := looped(calls, 3)
		if len(l) == 0 {
			continue
		}
		agent := agentOf[id]
		if !reflect.DeepEqual(l, map[string]bool{LoopTool: true}) {
			t.Fatalf("run %s of %s loops on %v, want only %s", id, agent, l, LoopTool)
		}
		stuck[agent]++
		var idx []int
		for i, c := range calls {
			if c.tool == LoopTool {
				idx = append(idx, i)
			}
		}
		if len(idx) != LoopCalls {
			t.Fatalf("run %s: %d calls of %s, want %d", id, len(idx), LoopTool, LoopCalls)
		}
		first, last := calls[idx[0]], calls[idx[len(idx)-1]]
		keys[first.key] = true
		for k, i := range idx {
			c := calls[i]
			if c.args == "" || c.args != first.args {
				t.Fatalf("run %s: call %d of %s has arguments %q, call 1 %q: want identical, non-empty", id, k+1, LoopTool, c.args, first.args)
			}
			if c.status != "success" {
				t.Fatalf("run %s: poll %d is %s: the polls succeed, even in a tool failure spike", id, k+1, c.status)
			}
			if i == 0 || !calls[i-1].llm {
				t.Fatalf("run %s: call %d of %s is not preceded by an LLM call", id, k+1, LoopTool)
			}
			if k > 0 && idx[k-1] != i-2 {
				t.Fatalf("run %s: another tool call between calls %d and %d of %s", id, k, k+1, LoopTool)
			}
		}
		for _, c := range calls {
			if c.llm && !c.start.Before(first.start) && !c.start.After(last.end) {
				loopLLM[agent]++
			}
			if c.llm && c.start.Equal(last.end) {
				t.Fatalf("run %s: an LLM call starts exactly where the loop ends: inside it or not hangs on the boundary", id)
			}
		}
	}
	sum := 0
	for _, a := range cfg.Agents {
		if stuck[a] == 0 {
			t.Fatalf("no run of %s got stuck: %v", a, stuck)
		}
		if stuck[a] != tot.Loops[a][LoopTool] || len(tot.Loops[a]) != 1 {
			t.Fatalf("%s: %d stuck runs in the spans, totals say %v", a, stuck[a], tot.Loops[a])
		}
		if loopLLM[a] != tot.LoopLLMCalls[a] || loopLLM[a] != stuck[a]*(LoopCalls-1) {
			t.Fatalf("%s: %d LLM calls start inside loops, totals say %d, want %d a stuck run", a, loopLLM[a], tot.LoopLLMCalls[a], LoopCalls-1)
		}
		sum += stuck[a]
	}
	// The scenario starts at run 100: a share of the 300 runs after it.
	if want := LoopShare * (n - 100); float64(sum) < want/2 || float64(sum) > want*1.5 {
		t.Fatalf("%d stuck runs, want about %.0f", sum, want)
	}
	for _, k := range []string{"agent.tool.arguments", "gen_ai.tool.call.arguments", "input.value"} {
		if !keys[k] {
			t.Fatalf("no stuck run carries its arguments in %s: %v", k, keys)
		}
	}
	// None before the scenario starts.
	early, _ := simulate(t, cfg, 100, func(i int) time.Duration { return time.Duration(i) * time.Second })
	if len(early.Loops) != 0 || len(early.LoopLLMCalls) != 0 {
		t.Fatalf("loops before the scenario started: %v %v", early.Loops, early.LoopLLMCalls)
	}
}

// Without tool_loop no run of any agent loops: never a tool three times in
// a row, never three calls with the same arguments, whatever else is on and
// even when the extra tools repeat the refund flow's. Every tool call
// carries arguments, so the connector has them to compare.
func TestNoLoopsWithoutTheScenario(t *testing.T) {
	var others []ScenarioAt
	for _, name := range Scenarios {
		if name != ToolLoop {
			others = append(others, ScenarioAt{Name: name})
		}
	}
	twice := 0
	for seed := uint64(1); seed <= 4; seed++ {
		for _, scenarios := range [][]ScenarioAt{nil, others} {
			cfg := Config{Agents: []string{"a", "b", "c"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: seed,
				Tools: []string{"search_kb", "lookup_order", "process_refund", "return_unable_to_process"}, Scenarios: scenarios}
			tot, spans := simulate(t, cfg, 1000, func(int) time.Duration { return time.Hour })
			runs, agentOf := runsOf(t, spans)
			for id, calls := range runs {
				for _, c := range calls {
					if !c.llm && c.args == "" {
						t.Fatalf("seed %d: a %s call of %s without arguments", seed, c.tool, agentOf[id])
					}
				}
				if l := looped(calls, 3); len(l) > 0 {
					t.Fatalf("seed %d scenarios %v: run %s of %s loops on %v: %+v", seed, scenarios, id, agentOf[id], l, calls)
				}
				if len(looped(calls, 2)) > 0 {
					twice++
				}
			}
			if len(tot.Loops) != 0 || len(tot.LoopLLMCalls) != 0 {
				t.Fatalf("seed %d: totals count loops without the scenario: %v %v", seed, tot.Loops, tot.LoopLLMCalls)
			}
		}
	}
	// The check sees repeats: with the flow's tools among the extras some
	// runs call one twice (same arguments, or back to back).
	if twice == 0 {
		t.Fatal("no run calls a tool twice: the loop check above cannot see repeats")
	}
}

// About half the LLM calls of every convention are streamed and say their
// time to first token where that convention puts it: the seed's and GenAI's
// seconds attributes, OpenInference's event at the first token. Per agent,
// the totals count exactly the calls that say it and sum exactly the values
// on the wire (the event as a nanosecond offset from the span's start).
// TTFT is a part of the call, a larger one under latency_spike.
func TestStreamedCallsMatchWhatWasSent(t *testing.T) {
	const n, spikeAt = 300, 200
	cfg := Config{Agents: []string{"a", "b"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: 5,
		Models:    []string{"m1", "m2"},
		Scenarios: []ScenarioAt{{Name: ToolLoop}, {Name: LatencySpike, Start: spikeAt * time.Second}}}
	tot, spans := simulate(t, cfg, n, func(i int) time.Duration { return time.Duration(i) * time.Second })
	// A run's root ends after its calls, and runs go one after another:
	// the i-th root is run i.
	run, agentOf := map[string]int{}, map[string]string{}
	for _, s := range spans {
		if !s.Parent.IsValid() {
			id := s.SpanContext.TraceID().String()
			run[id] = len(run)
			agentOf[id], _ = attr(s, "agent.agent.id", "gen_ai.agent.name", "agent.name")
		}
	}
	streamed, sum := map[string]int{}, map[string]float64{}
	calls, withTTFT := map[string]int{}, map[string]int{} // by convention
	for _, s := range spans {
		if kindOf(t, s) != spanLLM {
			continue
		}
		id := s.SpanContext.TraceID().String()
		conv := map[string]string{"agent.llm.reasoning": ConvSeed, "ChatCompletion": ConvOpenInference}[s.Name]
		if strings.HasPrefix(s.Name, "chat ") {
			conv = ConvGenAI
		}
		if conv == "" {
			t.Fatalf("LLM span %q of no convention", s.Name)
		}
		calls[conv]++
		var sources []string
		var ttft float64
		for _, kv := range s.Attributes {
			if k := string(kv.Key); k == "agent.llm.time_to_first_token" || k == "gen_ai.response.time_to_first_chunk" {
				sources = append(sources, k)
				ttft = kv.Value.AsFloat64()
			}
		}
		for _, ev := range s.Events {
			if strings.Contains(strings.ToLower(ev.Name), "first") {
				sources = append(sources, ev.Name)
				// What OTLP carries: nanoseconds since the epoch.
				ttft = time.Duration(ev.Time.UnixNano() - s.StartTime.UnixNano()).Seconds()
			}
		}
		if len(sources) == 0 {
			continue
		}
		want := map[string]string{ConvSeed: "agent.llm.time_to_first_token", ConvGenAI: "gen_ai.response.time_to_first_chunk",
			ConvOpenInference: "First Token Stream Event"}[conv]
		if len(sources) != 1 || sources[0] != want {
			t.Fatalf("%s LLM call says its time to first token in %v, want only %s", conv, sources, want)
		}
		withTTFT[conv]++
		dur := s.EndTime.Sub(s.StartTime).Seconds()
		lo, hi := 0.10, 0.40
		if run[id] >= spikeAt {
			lo, hi = 0.40, 0.70
		}
		// Whole milliseconds, rounded down: up to 1ms below the share.
		if f := ttft / dur; ttft < lo*dur-0.001 || f > hi+1e-9 {
			t.Fatalf("run %d (%s): time to first token %vs of a %vs call (%.3f), want %.0f-%.0f%%", run[id], conv, ttft, dur, f, lo*100, hi*100)
		}
		agent := agentOf[id]
		streamed[agent]++
		sum[agent] += ttft // in the order they were sent, as the totals
	}
	for _, conv := range cfg.Conventions {
		if share := float64(withTTFT[conv]) / float64(calls[conv]); share < 0.35 || share > 0.65 {
			t.Fatalf("%s: %d of %d LLM calls streamed, want about half", conv, withTTFT[conv], calls[conv])
		}
	}
	if !reflect.DeepEqual(streamed, tot.StreamedCalls) || !reflect.DeepEqual(sum, tot.TTFTSeconds) {
		t.Fatalf("spans: streamed %v ttft %v; totals: streamed %v ttft %v", streamed, sum, tot.StreamedCalls, tot.TTFTSeconds)
	}
	if len(streamed) != len(cfg.Agents) {
		t.Fatalf("streamed calls of %v only", streamed)
	}
}

// oldTotals is Totals as it was before conversations, guardrails and MCP:
// what a seed sent then, it still sends.
type oldTotals struct {
	Runs           int                       `json:"runs"`
	Requests       map[string]map[string]int `json:"requests"`
	LLMCalls       map[string]int            `json:"llm_calls"`
	InputTokens    map[string]int64          `json:"input_tokens"`
	OutputTokens   map[string]int64          `json:"output_tokens"`
	ToolCalls      map[string]map[string]int `json:"tool_calls"`
	ReasoningSteps map[string]int            `json:"reasoning_steps"`
	Hallucinations map[string]int            `json:"hallucinations"`
	Feedback       map[string]int            `json:"feedback"`
	Loops          map[string]map[string]int `json:"loops"`
	LoopLLMCalls   map[string]int            `json:"loop_llm_calls"`
	StreamedCalls  map[string]int            `json:"streamed_calls"`
	TTFTSeconds    map[string]float64        `json:"ttft_seconds"`
}

// The totals of 120 runs (run i at i seconds) of two configurations, sent
// by the simulator of the commit before this one (9859fad's TTFT, the
// parent's sim.go run unchanged): the e2e test's, and one with extra tools
// and every scenario starting one after another.
const (
	goldenE2E = `{"runs":120,"requests":{"billing-agent":{"failure":1,"success":39},"support-agent":{"success":40},"triage-agent":{"failure":1,"success":39}},"llm_calls":{"billing-agent":195,"support-agent":186,"triage-agent":218},"input_tokens":{"billing-agent":212550,"support-agent":212279,"triage-agent":244112},"output_tokens":{"billing-agent":41873,"support-agent":39796,"triage-agent":47236},"tool_calls":{"billing-agent":{"check_refund_status/success":80,"lookup_order/failure":16,"lookup_order/success":24,"process_refund/failure":15,"process_refund/success":25},"support-agent":{"check_refund_status/success":60,"lookup_order/failure":19,"lookup_order/success":21,"process_refund/failure":14,"process_refund/success":26},"triage-agent":{"check_refund_status/success":100,"lookup_order/failure":17,"lookup_order/success":23,"process_refund/failure":19,"process_refund/success":21}},"reasoning_steps":{"billing-agent":243,"support-agent":234,"triage-agent":276},"hallucinations":{"billing-agent":70,"support-agent":52,"triage-agent":55},"feedback":{"billing-agent":8,"support-agent":8,"triage-agent":10},"loops":{"billing-agent":{"check_refund_status":8},"support-agent":{"check_refund_status":6},"triage-agent":{"check_refund_status":10}},"loop_llm_calls":{"billing-agent":72,"support-agent":54,"triage-agent":90},"streamed_calls":{"billing-agent":94,"support-agent":101,"triage-agent":120},"ttft_seconds":{"billing-agent":26.70399999999999,"support-agent":25.786999999999995,"triage-agent":31.944000000000003}}`
	goldenAll = `{"runs":120,"requests":{"a":{"failure":16,"success":44},"b":{"failure":14,"success":46}},"llm_calls":{"a":199,"b":256},"input_tokens":{"a":1718743,"b":2313661},"output_tokens":{"a":356372,"b":456513},"tool_calls":{"a":{"check_refund_status/success":20,"lookup_order/failure":3,"lookup_order/success":57,"process_refund/failure":6,"process_refund/success":24,"return_unable_to_process/success":30,"search_kb/failure":2,"search_kb/success":34,"send_email/failure":2,"send_email/success":22},"b":{"check_refund_status/success":70,"lookup_order/failure":2,"lookup_order/success":58,"process_refund/failure":4,"process_refund/success":26,"return_unable_to_process/success":30,"search_kb/failure":3,"search_kb/success":27,"send_email/failure":1,"send_email/success":29}},"reasoning_steps":{"a":259,"b":336},"hallucinations":{"a":40,"b":60},"feedback":{"a":21,"b":15},"loops":{"a":{"check_refund_status":2},"b":{"check_refund_status":7}},"loop_llm_calls":{"a":18,"b":63},"streamed_calls":{"a":96,"b":135},"ttft_seconds":{"a":213.526,"b":337.3589999999999}}`
)

// Conversations, guardrails and MCP draw from a source of their own: what a
// seed sent before, it sends still, with MCP or without; and MCP draws the
// same for every run whatever its share.
func TestExistingTotalsUnchanged(t *testing.T) {
	conv := []string{ConvSeed, ConvGenAI, ConvOpenInference}
	var others []ScenarioAt
	for i, n := range Scenarios {
		others = append(others, ScenarioAt{Name: n, Start: time.Duration(10*i) * time.Second})
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		golden string
	}{
		{"e2e", Config{Agents: []string{"support-agent", "billing-agent", "triage-agent"}, Models: []string{"gpt-4o-mini", "claude-sonnet-4-5"}, Conventions: conv, Seed: 42,
			Scenarios: []ScenarioAt{{Name: HallucinationSpike}, {Name: ToolFailureSpike}, {Name: ToolLoop}}}, goldenE2E},
		{"all", Config{Agents: []string{"a", "b"}, Tools: []string{"search_kb", "send_email"}, Models: []string{"m1", "m2"}, Conventions: conv, Seed: 8, Scenarios: others}, goldenAll},
	} {
		var noMCP Totals
		for _, share := range []float64{0, 0.5, 1} {
			cfg := tc.cfg
			cfg.MCPShare = share
			tot, _ := simulate(t, cfg, 120, func(i int) time.Duration { return time.Duration(i) * time.Second })
			// Nor does MCP change the conversations and guardrails.
			if share == 0 {
				noMCP = tot
			} else if !reflect.DeepEqual(tot.Guardrails, noMCP.Guardrails) || !reflect.DeepEqual(tot.Conversations, noMCP.Conversations) ||
				!reflect.DeepEqual(tot.InputTokenGrowth, noMCP.InputTokenGrowth) {
				t.Fatalf("%s: MCP share %v changed the guardrails or conversations: %v %v, without MCP %v %v", tc.name, share,
					tot.Guardrails, tot.Conversations, noMCP.Guardrails, noMCP.Conversations)
			}
			raw, err := json.Marshal(tot)
			if err != nil {
				t.Fatal(err)
			}
			var got, want oldTotals
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.golden), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Fatalf("%s, MCP share %v: the totals changed:\n got  %s\n want %s", tc.name, share, g, tc.golden)
			}
		}
	}
}

// Every run passes one input guardrail, written in its convention; the
// totals count exactly the results the connector's rules read from the
// spans (README "Guardrails"): a GenAI gen_ai.guardrail.result event,
// named by the event's gen_ai.guardrail.component.name, else the span's;
// an OpenInference GUARDRAIL span, by its name, result unspecified; the
// seed's safety_blocked step. Some intervene; none is a failure.
func TestGuardrailsMatchWhatWasSent(t *testing.T) {
	cfg := Config{Agents: []string{"a", "b"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: 6,
		Scenarios: []ScenarioAt{{Name: HallucinationSpike}, {Name: ErrorSpike}}}
	const n = 600
	tot, spans := simulate(t, cfg, n, func(int) time.Duration { return 0 })
	agentOf, convOf := map[string]string{}, map[string]string{}
	for _, s := range spans {
		if !s.Parent.IsValid() {
			id := s.SpanContext.TraceID().String()
			agentOf[id], _ = attr(s, "agent.agent.id", "gen_ai.agent.name", "agent.name")
			convOf[id] = map[string]string{"agent.request": ConvSeed, "invoke_agent " + agentOf[id]: ConvGenAI, agentOf[id]: ConvOpenInference}[s.Name]
		}
	}
	got := map[string]map[string]int{}
	add := func(agent, name, result string) {
		if got[agent] == nil {
			got[agent] = map[string]int{}
		}
		got[agent][name+"/"+result]++
	}
	checks, byConv := map[string]int{}, map[string]map[string]int{} // guardrail spans per trace; results per convention
	for _, s := range spans {
		id := s.SpanContext.TraceID().String()
		conv := convOf[id]
		if byConv[conv] == nil {
			byConv[conv] = map[string]int{}
		}
		if outcome, _ := attr(s, "agent.step.outcome"); outcome == StepSafetyBlocked {
			if conv != ConvSeed || kindOf(t, s) != spanLLM || s.Status.Code == codes.Error {
				t.Fatalf("%s span %q blocked: only the seed's LLM steps are, and a block is no failure", conv, s.Name)
			}
			if h, _ := attr(s, "agent.hallucination.type"); h != "" {
				t.Fatalf("a hallucinated step blocked: one outcome a step")
			}
			add(agentOf[id], GuardrailSafety, StepSafetyBlocked)
			byConv[conv][StepSafetyBlocked]++
		}
		if kindOf(t, s) != spanGuardrail {
			continue
		}
		checks[id]++
		if s.Status.Code == codes.Error {
			t.Fatalf("guardrail span %q with an Error status", s.Name)
		}
		if op, _ := attr(s, "gen_ai.operation.name"); op == "apply_guardrail" {
			if conv != ConvGenAI {
				t.Fatalf("apply_guardrail span in a %s run", conv)
			}
			if v, _ := attr(s, "gen_ai.guardrail.result.value"); v != "" {
				t.Fatal("an apply_guardrail span with its own result: it would count besides its event")
			}
			name, _ := attr(s, "gen_ai.guardrail.component.name")
			if name == "" || s.Name != "apply_guardrail "+name {
				t.Fatalf("apply_guardrail span %q names guardrail %q", s.Name, name)
			}
			events := 0
			for _, ev := range s.Events {
				if ev.Name != "gen_ai.guardrail.result" {
					continue
				}
				events++
				g, result := name, ""
				for _, kv := range ev.Attributes {
					switch kv.Key {
					case "gen_ai.guardrail.component.name":
						g = kv.Value.AsString()
					case "gen_ai.guardrail.result.value":
						result = kv.Value.AsString()
					}
				}
				if result != GuardrailPass && result != GuardrailIntervened {
					t.Fatalf("guardrail result %q", result)
				}
				add(agentOf[id], g, result)
				byConv[conv][result]++
			}
			if events != 1 {
				t.Fatalf("apply_guardrail span with %d result events, want 1", events)
			}
			continue
		}
		if conv != ConvOpenInference {
			t.Fatalf("GUARDRAIL span in a %s run", conv)
		}
		add(agentOf[id], s.Name, GuardrailUnspecified)
		byConv[conv][GuardrailUnspecified]++
	}
	for id, conv := range convOf {
		if want := map[bool]int{true: 1}[conv != ConvSeed]; checks[id] != want {
			t.Fatalf("%s run with %d guardrail spans, want %d", conv, checks[id], want)
		}
	}
	if !reflect.DeepEqual(got, tot.Guardrails) {
		t.Fatalf("guardrail results in the spans %v, totals %v", got, tot.Guardrails)
	}
	// A share of the seed's and GenAI's checks intervene (the seed's only
	// when its answer step is no hallucination, a third of them here).
	runs := float64(n / 3)
	if g := byConv[ConvGenAI]; float64(g[GuardrailIntervened]+g[GuardrailPass]) != runs ||
		float64(g[GuardrailIntervened]) < GuardrailBlockShare*runs/2 || float64(g[GuardrailIntervened]) > GuardrailBlockShare*runs*1.5 {
		t.Fatalf("GenAI guardrail results %v of %.0f runs, want about %.0f%% intervened", g, runs, GuardrailBlockShare*100)
	}
	if b := byConv[ConvSeed][StepSafetyBlocked]; b == 0 || float64(b) > GuardrailBlockShare*runs*1.5 {
		t.Fatalf("%d seed runs blocked of %.0f", b, runs)
	}
	for _, a := range cfg.Agents {
		names := 0
		for _, g := range Guardrails {
			if got[a][g+"/"+GuardrailUnspecified] > 0 && got[a][g+"/"+GuardrailPass] > 0 {
				names++
			}
		}
		if names != len(Guardrails) {
			t.Fatalf("%s: not every guardrail ran in both conventions: %v", a, got[a])
		}
	}
	// A block is a result, not a failure: the runs fail as often as before
	// (TestExistingTotalsUnchanged), the error spike's share.
	failed := 0
	for _, s := range spans {
		if !s.Parent.IsValid() && s.Status.Code == codes.Error {
			failed++
		}
	}
	if sent := tot.Requests["a"]["failure"] + tot.Requests["b"]["failure"]; failed != sent {
		t.Fatalf("%d runs failed in the spans, totals %d", failed, sent)
	}
}

// With MCPShare, that share of the runs lists the tools and calls every tool
// through MCP: a tools/call client span (kind client) with the server's
// tools/call span (kind server) right beneath it, same tool, same
// arguments. Per the README's rule the pair is one call, the client's, and
// tool_error is a failure: the tool calls in the spans are the totals'; the
// MCP spans by side and method are the totals' too.
func TestMCPMatchesWhatWasSent(t *testing.T) {
	const share = 0.4
	cfg := Config{Agents: []string{"a", "b"}, Tools: []string{"search_kb"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: 12,
		MCPShare: share, Scenarios: []ScenarioAt{{Name: ToolFailureSpike}, {Name: ToolLoop}}}
	const n = 300
	tot, spans := simulate(t, cfg, n, func(int) time.Duration { return 0 })
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	mcp := map[string]map[string]int{}
	mcpRuns, failures := map[string]bool{}, 0
	for _, s := range spans {
		method, _ := attr(s, "mcp.method.name")
		if method == "" {
			continue
		}
		side := MCPClient
		if s.SpanKind == trace.SpanKindServer || s.SpanKind == trace.SpanKindConsumer {
			side = MCPServer
		}
		if mcp[side] == nil {
			mcp[side] = map[string]int{}
		}
		mcp[side][method]++
		mcpRuns[s.SpanContext.TraceID().String()] = true
		if sid, _ := attr(s, "mcp.session.id"); sid == "" {
			t.Fatalf("MCP span %q without mcp.session.id", s.Name)
		}
		if method != MCPToolsCall {
			continue
		}
		tool, _ := attr(s, "gen_ai.tool.name")
		if s.Name != MCPToolsCall+" "+tool {
			t.Fatalf("tools/call span %q of tool %q", s.Name, tool)
		}
		if s.Status.Code == codes.Error {
			t.Fatalf("MCP span %q with an Error status: a tool error is a result (error.type tool_error)", s.Name)
		}
		if et, _ := attr(s, "error.type"); et != "" && et != "tool_error" {
			t.Fatalf("error.type %q", et)
		} else if et != "" && side == MCPClient {
			failures++
		}
		parent, ok := byID[s.Parent.SpanID()]
		switch side {
		case MCPServer: // right under its client span: the same call
			if !ok || kindOf(t, parent) != spanTool || parent.SpanKind != trace.SpanKindClient || parent.Name != s.Name ||
				!reflect.DeepEqual(parent.Attributes, s.Attributes) || s.StartTime.Before(parent.StartTime) || s.EndTime.After(parent.EndTime) {
				t.Fatalf("server span %q not inside a client span of the same call (parent %q)", s.Name, parent.Name)
			}
		case MCPClient:
			if !ok || kindOf(t, parent) != spanRun {
				t.Fatalf("client span %q not under its run", s.Name)
			}
		}
	}
	if !reflect.DeepEqual(mcp, tot.MCPSpans) {
		t.Fatalf("MCP spans %v, totals %v", mcp, tot.MCPSpans)
	}
	if c, s := mcp[MCPClient][MCPToolsCall], mcp[MCPServer][MCPToolsCall]; c != s || mcp[MCPClient][MCPToolsList] != len(mcpRuns) || mcp[MCPServer][MCPToolsList] != 0 {
		t.Fatalf("MCP spans %v in %d runs: want a server span for each client tools/call and one tools/list a run", mcp, len(mcpRuns))
	}
	if f := float64(len(mcpRuns)) / n; f < share-0.1 || f > share+0.1 {
		t.Fatalf("%d of %d runs use MCP, want about %.0f%%", len(mcpRuns), n, share*100)
	}
	if failures == 0 {
		t.Fatal("no MCP tool call failed: tool_error is not exercised")
	}
	// The tool calls as the connector counts them: the client's span only.
	runs, agentOf := runsOf(t, spans)
	calls := map[string]map[string]int{}
	loops := map[string]map[string]int{}
	mcpLoops := 0
	for id, cs := range runs {
		a := agentOf[id]
		if calls[a] == nil {
			calls[a] = map[string]int{}
		}
		for _, c := range cs {
			if !c.llm {
				calls[a][c.tool+"/"+c.status]++
			}
		}
		for tool := range looped(cs, 3) {
			if loops[a] == nil {
				loops[a] = map[string]int{}
			}
			loops[a][tool]++
			if mcpRuns[id] {
				mcpLoops++
			}
		}
	}
	if !reflect.DeepEqual(calls, tot.ToolCalls) || !reflect.DeepEqual(loops, tot.Loops) {
		t.Fatalf("spans: tool calls %v loops %v; totals %v %v", calls, loops, tot.ToolCalls, tot.Loops)
	}
	if mcpLoops == 0 {
		t.Fatal("no run looped through MCP")
	}
	// Without MCPShare, no MCP span.
	none, spans := simulate(t, Config{Agents: []string{"a"}, Conventions: cfg.Conventions, Seed: 12}, 60, func(int) time.Duration { return 0 })
	for _, s := range spans {
		if m, _ := attr(s, "mcp.method.name"); m != "" {
			t.Fatalf("an MCP span without MCPShare: %q", s.Name)
		}
	}
	if len(none.MCPSpans) != 0 {
		t.Fatalf("MCP totals without MCPShare: %v", none.MCPSpans)
	}
}

// Every run is a turn of a conversation of 1 to MaxTurns turns, one agent's
// in one convention, named in that convention's attribute on the run span.
// The totals count the conversations by their turns and the input-token
// growth of each turn after the first in start order (of the turn's first
// LLM call), as the connector observes them (README "Sessions"), also when
// runs are sent from several goroutines at once.
func TestConversationsMatchWhatWasSent(t *testing.T) {
	cfg := Config{Agents: []string{"a", "b", "c"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: 13,
		Scenarios: []ScenarioAt{{Name: TokenCostSpike, Start: 40 * time.Second}}}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	s := New(cfg, tp.Tracer("test"))
	const n, workers = 400, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				s.Run(context.Background(), time.Duration(i)*100*time.Millisecond)
			}
		})
	}
	wg.Wait()
	tot, spans := s.Totals(), exp.GetSpans()

	type conv struct {
		agent, convention string
		turns             []turn
	}
	convs := map[string]*conv{}
	idOf, agentOf := map[string]string{}, map[string]string{}
	input, first := map[string]int64{}, map[string]int64{}
	for _, sp := range spans {
		tr := sp.SpanContext.TraceID().String()
		switch kindOf(t, sp) {
		case spanRun:
			agentOf[tr], _ = attr(sp, "agent.agent.id", "gen_ai.agent.name", "agent.name")
			var keys []string
			for k, v := range AttrConversation {
				if id, _ := attr(sp, v); id != "" {
					idOf[tr] = id
					keys = append(keys, k)
				}
			}
			if len(keys) != 1 {
				t.Fatalf("run %q names its conversation in the attributes of %v, want one", sp.Name, keys)
			}
			c := convs[idOf[tr]]
			if c == nil {
				c = &conv{agent: agentOf[tr], convention: keys[0]}
				convs[idOf[tr]] = c
			}
			if c.agent != agentOf[tr] || c.convention != keys[0] {
				t.Fatalf("conversation %s: runs of %s (%s) and %s (%s)", idOf[tr], c.agent, c.convention, agentOf[tr], keys[0])
			}
			c.turns = append(c.turns, turn{})
		case spanLLM:
			for _, kv := range sp.Attributes {
				switch kv.Key {
				case "agent.llm.tokens.input", "gen_ai.usage.input_tokens", "llm.token_count.prompt":
					input[tr] += kv.Value.AsInt64()
				}
			}
			if st := sp.StartTime.UnixNano(); first[tr] == 0 || st < first[tr] {
				first[tr] = st
			}
		}
	}
	// The turns of each conversation, with their start and input tokens.
	for _, c := range convs {
		c.turns = c.turns[:0]
	}
	for tr, id := range idOf {
		convs[id].turns = append(convs[id].turns, turn{start: first[tr], input: input[tr]})
	}
	got, growthN, growth := map[string]map[int]int{}, map[string]int{}, map[string]int64{}
	reordered, lengths := 0, map[int]int{}
	for _, c := range convs {
		if len(c.turns) > MaxTurns {
			t.Fatalf("a conversation of %d turns, at most %d", len(c.turns), MaxTurns)
		}
		lengths[len(c.turns)]++
		if got[c.agent] == nil {
			got[c.agent] = map[int]int{}
		}
		got[c.agent][len(c.turns)]++
		sorted := slices.Clone(c.turns)
		slices.SortStableFunc(sorted, func(a, b turn) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.input, b.input)) })
		d, dSorted := int64(0), int64(0)
		for i := 1; i < len(sorted); i++ {
			growthN[c.agent]++
			growth[c.agent] += sorted[i].input - sorted[i-1].input
			dSorted += sorted[i].input - sorted[i-1].input
			d += c.turns[i].input - c.turns[i-1].input
		}
		if d != dSorted {
			reordered++
		}
	}
	if !reflect.DeepEqual(got, tot.Conversations) || !reflect.DeepEqual(growthN, tot.GrowthTurns) || !reflect.DeepEqual(growth, tot.InputTokenGrowth) {
		t.Fatalf("spans: conversations %v growth %v over %v turns; totals %v, %v over %v", got, growth, growthN, tot.Conversations, tot.InputTokenGrowth, tot.GrowthTurns)
	}
	for k := 1; k <= MaxTurns; k++ {
		if lengths[k] == 0 {
			t.Fatalf("no conversation of %d turns: %v", k, lengths)
		}
	}
	// The start order is not the order the spans came in: a turn that takes
	// longer starts earlier.
	if reordered == 0 {
		t.Fatal("every conversation's turns came in start order: the order is not exercised")
	}
	runs := 0
	for _, byTurns := range tot.Conversations {
		for k, c := range byTurns {
			runs += k * c
		}
	}
	if runs != n || tot.Runs != n {
		t.Fatalf("conversations add up to %d turns, %d runs sent", runs, tot.Runs)
	}
}
