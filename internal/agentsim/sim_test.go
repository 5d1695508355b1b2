package agentsim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

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
		Scenarios: []ScenarioAt{{Name: ToolFailureSpike, Start: 50 * time.Second}}}
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
