package agentspan

import (
	"regexp"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

type traceTotals struct {
	runs, llm, tools, toolFailures int
	input, output                  int64
	agentIDs                       map[string]int
	toolNames                      map[string]int
}

// classifyTraces runs the extractor on every span: per-span facts only
// (runs are decided per trace by the connector's trace store).
func classifyTraces(td ptrace.Traces) traceTotals {
	tot := traceTotals{agentIDs: map[string]int{}, toolNames: map[string]int{}}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				var in Info
				DefaultExtractor.Extract(s, &in)
				switch in.Kind {
				case KindRun:
					tot.runs++
					tot.agentIDs[in.AgentID]++
				case KindLLM:
					tot.llm++
					tot.input += in.Tokens.Input
					tot.output += in.Tokens.Output
				case KindTool:
					tot.tools++
					tot.toolNames[in.ToolName]++
					if in.ToolStatus == ToolStatusFailure {
						tot.toolFailures++
					}
				}
			}
		}
	}
	return tot
}

// The exact truth of the recorded fixtures (their README).
func TestRealClientFixtures(t *testing.T) {
	wantAgent := map[string]string{
		"otel-genai.otlp.jsonl":    "support_bot",
		"openinference.otlp.jsonl": "support_bot",
		"traceloop.otlp.jsonl":     "support_bot",
	}
	for _, f := range agenttest.RealClientFiles {
		t.Run(f, func(t *testing.T) {
			tot := classifyTraces(agenttest.LoadMerged(t, f))
			if tot.runs != 10 || tot.llm != 30 || tot.tools != 20 || tot.toolFailures != 2 {
				t.Errorf("runs %d llm %d tools %d failures %d; want 10, 30, 20, 2", tot.runs, tot.llm, tot.tools, tot.toolFailures)
			}
			if tot.input != 3900 || tot.output != 600 {
				t.Errorf("tokens in %d out %d; want 3900, 600", tot.input, tot.output)
			}
			if tot.toolNames["lookup_order"] != 10 || tot.toolNames["process_refund"] != 10 {
				t.Errorf("tool names %v", tot.toolNames)
			}
			if tot.agentIDs[wantAgent[f]] != 10 {
				t.Errorf("run agent ids %v, want %s x10", tot.agentIDs, wantAgent[f])
			}
		})
	}
}

func newSpan(name string, kind ptrace.SpanKind, attrs map[string]any) ptrace.Span {
	s := ptrace.NewSpan()
	s.SetName(name)
	s.SetKind(kind)
	_ = s.Attributes().FromRaw(attrs)
	return s
}

func TestClassificationByConvention(t *testing.T) {
	cases := []struct {
		name     string
		span     ptrace.Span
		kind     Kind
		explicit bool
		check    func(t *testing.T, in *Info)
	}{
		{"seed request", newSpan("agent.request", ptrace.SpanKindServer, map[string]any{"agent.agent.id": "a1", "agent.run.total_steps": 4}), KindRun, true,
			func(t *testing.T, in *Info) {
				if in.AgentID != "a1" || in.RunTotalSteps != 4 || !in.HasTotalSteps {
					t.Errorf("%+v", in)
				}
			}},
		{"seed llm", newSpan("agent.llm.reasoning", ptrace.SpanKindInternal, map[string]any{"agent.model.name": "gpt-4o", "agent.llm.tokens.input": 10, "agent.llm.tokens.output": "5"}), KindLLM, false,
			func(t *testing.T, in *Info) {
				if in.Model != "gpt-4o" || in.Tokens.Input != 10 || in.Tokens.Output != 5 {
					t.Errorf("%+v", in.Tokens)
				}
			}},
		{"seed tool", newSpan("agent.tool.execute", ptrace.SpanKindInternal, map[string]any{"agent.tool.name": "search", "agent.tool.status": "timeout"}), KindTool, false,
			func(t *testing.T, in *Info) {
				if in.ToolName != "search" || in.ToolStatus != "timeout" {
					t.Errorf("%+v", in)
				}
			}},
		{"genai deprecated usage", newSpan("chat m", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-haiku", "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 3}), KindLLM, false,
			func(t *testing.T, in *Info) {
				if in.Provider != "anthropic" || in.Tokens.Input != 7 || in.Tokens.Output != 3 || in.Model != "claude-3-haiku" {
					t.Errorf("%+v %+v", in, in.Tokens)
				}
			}},
		{"genai response model wins", newSpan("chat", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"}), KindLLM, false,
			func(t *testing.T, in *Info) {
				if in.Model != "gpt-4o-2024-08-06" {
					t.Errorf("model %q", in.Model)
				}
			}},
		{"genai workflow", newSpan("invoke_workflow w", ptrace.SpanKindInternal, map[string]any{"gen_ai.operation.name": "invoke_workflow"}), KindRun, true, nil},
		{"genai create_agent is not a run", newSpan("create_agent a", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "create_agent"}), KindOther, false, nil},
		{"openinference chain", newSpan("chain", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 100}), KindOther, false, nil},
		{"openinference cache details", newSpan("llm", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 100, "llm.token_count.prompt_details.cache_read": 60, "llm.token_count.completion_details.reasoning": 9}), KindLLM, false,
			func(t *testing.T, in *Info) {
				if in.Tokens.Input != 100 || in.Tokens.CacheRead != 60 || in.Tokens.Uncached() != 40 || in.Tokens.Reasoning != 9 {
					t.Errorf("%+v", in.Tokens)
				}
			}},
		{"traceloop workflow", newSpan("wf.workflow", ptrace.SpanKindInternal, map[string]any{"traceloop.span.kind": "workflow", "traceloop.entity.name": "planner"}), KindRun, true,
			func(t *testing.T, in *Info) {
				if in.AgentID != "planner" {
					t.Errorf("agent %q", in.AgentID)
				}
			}},
		{"traceloop task", newSpan("t.task", ptrace.SpanKindInternal, map[string]any{"traceloop.span.kind": "task", "gen_ai.usage.input_tokens": 5}), KindOther, false, nil},
		{"openllmetry legacy", newSpan("openai.chat", ptrace.SpanKindClient, map[string]any{"llm.request.type": "chat", "gen_ai.system": "OpenAI", "llm.usage.prompt_tokens": 11, "llm.usage.completion_tokens": 2}), KindLLM, false,
			func(t *testing.T, in *Info) {
				if in.Tokens.Input != 11 || in.Tokens.Output != 2 {
					t.Errorf("%+v", in.Tokens)
				}
			}},
		{"vercel parent sums usage", newSpan("ai.generateText", ptrace.SpanKindInternal, map[string]any{"ai.operationId": "ai.generateText", "ai.usage.promptTokens": 300, "ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat", "ai.telemetry.functionId": "support"}), KindOther, false,
			func(t *testing.T, in *Info) {
				if in.AgentID != "support" {
					t.Errorf("agent %q", in.AgentID)
				}
			}},
		{"vercel doGenerate", newSpan("ai.generateText.doGenerate", ptrace.SpanKindClient, map[string]any{"ai.operationId": "ai.generateText.doGenerate", "ai.usage.inputTokens": 100, "ai.usage.outputTokens": 7, "ai.usage.cachedInputTokens": 20, "ai.model.id": "gpt-4o"}), KindLLM, false,
			func(t *testing.T, in *Info) {
				if in.Tokens.Input != 100 || in.Tokens.CacheRead != 20 || in.Tokens.Output != 7 {
					t.Errorf("%+v", in.Tokens)
				}
			}},
		{"vercel tool", newSpan("ai.toolCall", ptrace.SpanKindInternal, map[string]any{"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather"}), KindTool, false,
			func(t *testing.T, in *Info) {
				if in.ToolName != "weather" || in.ToolStatus != "success" {
					t.Errorf("%+v", in)
				}
			}},
		{"client heuristic", newSpan("POST /v1/messages", ptrace.SpanKindClient, map[string]any{"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-haiku", "gen_ai.usage.input_tokens": 3}), KindLLM, false, nil},
		{"internal parent with usage stays other", newSpan("agent loop", ptrace.SpanKindInternal, map[string]any{"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-haiku", "gen_ai.usage.input_tokens": 300}), KindOther, false, nil},
		{"canonical kind wins", newSpan("chat", ptrace.SpanKindClient, map[string]any{"agent.span.kind": "tool", "gen_ai.operation.name": "chat"}), KindTool, false, nil},
		{"tool name from span name", newSpan("execute_tool get_weather", ptrace.SpanKindInternal, map[string]any{"gen_ai.operation.name": "execute_tool"}), KindTool, false,
			func(t *testing.T, in *Info) {
				if in.ToolName != "get_weather" {
					t.Errorf("tool %q", in.ToolName)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in Info
			DefaultExtractor.Extract(tc.span, &in)
			if in.Kind != tc.kind || in.ExplicitRun != tc.explicit {
				t.Fatalf("kind %v explicit %v, want %v %v", in.Kind, in.ExplicitRun, tc.kind, tc.explicit)
			}
			if tc.check != nil {
				tc.check(t, &in)
			}
		})
	}
}

func TestToolStatusFromSpanStatus(t *testing.T) {
	s := newSpan("execute_tool x", ptrace.SpanKindInternal, map[string]any{"gen_ai.operation.name": "execute_tool"})
	s.Status().SetCode(ptrace.StatusCodeError)
	var in Info
	DefaultExtractor.Extract(s, &in)
	if in.ToolStatus != ToolStatusFailure {
		t.Fatalf("status %q", in.ToolStatus)
	}
	s.Attributes().PutStr("error.type", "TimeoutError")
	DefaultExtractor.Extract(s, &in)
	if in.ToolStatus != ToolStatusTimeout {
		t.Fatalf("status %q", in.ToolStatus)
	}
	s.Attributes().Remove("error.type")
	s.Status().SetMessage("context deadline exceeded")
	DefaultExtractor.Extract(s, &in)
	if in.ToolStatus != ToolStatusTimeout {
		t.Fatalf("status %q", in.ToolStatus)
	}
}

func TestCacheAccounting(t *testing.T) {
	anth := func(extra map[string]any) ptrace.Span {
		a := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": 50,
			"gen_ai.usage.cache_read.input_tokens": 900, "gen_ai.usage.cache_creation.input_tokens": 100, "gen_ai.usage.output_tokens": 10}
		for k, v := range extra {
			a[k] = v
		}
		return newSpan("chat", ptrace.SpanKindClient, a)
	}
	var in Info
	// Auto: cache (1000) > input (50) proves input excluded the cache.
	DefaultExtractor.Extract(anth(nil), &in)
	if in.Tokens.Input != 1050 || in.Tokens.Uncached() != 50 {
		t.Fatalf("auto: %+v", in.Tokens)
	}
	// Explicit per-provider setting, where auto cannot tell (cache < input).
	e := NewExtractor(Settings{CacheAccounting: map[string]CacheAccounting{"anthropic": CacheExcluded}})
	s := anth(map[string]any{"gen_ai.usage.input_tokens": 2000})
	e.Extract(s, &in)
	if in.Tokens.Input != 3000 || in.Tokens.Uncached() != 2000 {
		t.Fatalf("excluded: %+v", in.Tokens)
	}
	DefaultExtractor.Extract(s, &in)
	if in.Tokens.Input != 2000 || in.Tokens.Uncached() != 1000 {
		t.Fatalf("auto, included: %+v", in.Tokens)
	}
	// Canonical input is already normalised: never adjusted again.
	s.Attributes().PutInt(AttrTokensInput, 3000)
	e.Extract(s, &in)
	if in.Tokens.Input != 3000 {
		t.Fatalf("canonical re-adjusted: %+v", in.Tokens)
	}
}

func TestInvalidNumbers(t *testing.T) {
	cases := map[string]struct {
		v      any
		reason InvalidReason
	}{
		"non-numeric string": {"lots", InvalidNonNumeric},
		"negative":           {-5, InvalidNegative},
		"NaN":                {"NaN", InvalidNotFinite},
		"inf":                {"+Inf", InvalidNotFinite},
		"fraction":           {12.5, InvalidNonInteger},
		"absurd":             {int64(20_000_000), InvalidTooLarge},
		"bool":               {true, InvalidNonNumeric},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSpan("chat", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": tc.v, "gen_ai.usage.output_tokens": 4})
			var in Info
			DefaultExtractor.Extract(s, &in)
			if in.Tokens.Has&HasInput != 0 {
				t.Errorf("invalid input accepted: %+v", in.Tokens)
			}
			if in.Tokens.Output != 4 {
				t.Errorf("valid output lost: %+v", in.Tokens)
			}
			if in.NumInvalid != 1 || in.Invalid[0].Reason != tc.reason || in.Invalid[0].Key != "gen_ai.usage.input_tokens" {
				t.Errorf("invalid %+v, want %v", in.Invalid[:in.NumInvalid], tc.reason)
			}
		})
	}
	// A valid lower-precedence source is used when the higher one is invalid.
	s := newSpan("chat", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat", AttrTokensInput: "x", "gen_ai.usage.input_tokens": "42"})
	var in Info
	DefaultExtractor.Extract(s, &in)
	if in.Tokens.Input != 42 || in.NumInvalid != 1 {
		t.Fatalf("%+v %d", in.Tokens, in.NumInvalid)
	}
}

func TestUserRulesAndMappings(t *testing.T) {
	e := NewExtractor(Settings{
		Rules: []Rule{
			{SpanName: regexp.MustCompile(`^acme\.infer`), Kind: KindLLM},
			{AttributeKey: "acme.kind", AttributeValue: "job", Kind: KindRun},
		},
		AttributeMappings: map[string][]string{"model": {"acme.model"}, "input_tokens": {"acme.in"}, "agent_id": {"acme.bot"}},
	})
	var in Info
	e.Extract(newSpan("acme.inference", ptrace.SpanKindInternal, map[string]any{"acme.model": "acme-7b", "acme.in": 12, "gen_ai.request.model": "other"}), &in)
	if in.Kind != KindLLM || in.Model != "acme-7b" || in.Tokens.Input != 12 || !in.KindFixed {
		t.Fatalf("%+v", in)
	}
	e.Extract(newSpan("job", ptrace.SpanKindServer, map[string]any{"acme.kind": "job", "acme.bot": "b"}), &in)
	if in.Kind != KindRun || !in.ExplicitRun || in.AgentID != "b" {
		t.Fatalf("%+v", in)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("chat", "gen_ai.usage.input_tokens", "123", int64(5), 1.5)
	f.Add("agent.request", "agent.llm.tokens.input", "NaN", int64(-1), -3.0)
	f.Add("execute_tool x", "llm.token_count.prompt", "1e300", int64(1<<62), 1e308)
	f.Fuzz(func(t *testing.T, name, key, sval string, ival int64, dval float64) {
		s := ptrace.NewSpan()
		s.SetName(name)
		a := s.Attributes()
		a.PutStr("gen_ai.operation.name", name)
		a.PutStr(key, sval)
		a.PutInt("gen_ai.usage.output_tokens", ival)
		a.PutDouble("gen_ai.usage.cache_read.input_tokens", dval)
		a.PutStr("gen_ai.usage.input_tokens", sval)
		var in Info
		DefaultExtractor.Extract(s, &in)
		tk := in.Tokens
		for _, v := range []int64{tk.Input, tk.Output, tk.CacheRead, tk.CacheWrite, tk.Reasoning} {
			if v < 0 || v > 3*DefaultMaxTokensPerCall {
				t.Fatalf("accepted out-of-range token count %d from %q/%d/%v", v, sval, ival, dval)
			}
		}
		// Input is normalised to include cache reads and writes (the auto
		// rule adds them when they exceed it), so uncached is what is left.
		if tk.Has&HasInput != 0 && tk.Input < tk.CacheRead+tk.CacheWrite {
			t.Fatalf("input %d below its cache reads %d + writes %d", tk.Input, tk.CacheRead, tk.CacheWrite)
		}
		if tk.Uncached() != max(0, tk.Input-tk.CacheRead-tk.CacheWrite) {
			t.Fatalf("uncached %d of %+v", tk.Uncached(), tk)
		}
	})
}
