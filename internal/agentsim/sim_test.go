package agentsim

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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

func TestTotalsMatchWhatWasSent(t *testing.T) {
	cfg := Config{Agents: []string{"a", "b"}, Conventions: []string{ConvSeed, ConvGenAI, ConvOpenInference}, Seed: 3,
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
		} else if s.SpanKind == 3 {
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
		switch {
		case !s.Parent.IsValid():
			roots++
		case s.SpanKind == 3: // client: the LLM calls
			llm++
		default:
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

// runsOf is each run's calls (LLM and tool spans) in start order, by trace,
// with the agent and convention of the run.
func runsOf(spans tracetest.SpanStubs) (map[string][]call, map[string]string) {
	runs, agent := map[string][]call{}, map[string]string{}
	for _, s := range spans {
		id := s.SpanContext.TraceID().String()
		if !s.Parent.IsValid() {
			agent[id], _ = attr(s, "agent.agent.id", "gen_ai.agent.name", "agent.name")
			continue
		}
		c := call{llm: s.SpanKind == 3, start: s.StartTime, end: s.EndTime, status: "success"}
		if !c.llm {
			c.tool, _ = attr(s, "agent.tool.name", "gen_ai.tool.name", "tool.name")
			c.args, c.key = attr(s, "agent.tool.arguments", "gen_ai.tool.call.arguments", "input.value")
			if s.Status.Code == codes.Error {
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
	runs, agentOf := runsOf(spans)
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
			runs, agentOf := runsOf(spans)
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
		if !s.Parent.IsValid() || s.SpanKind != 3 {
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
