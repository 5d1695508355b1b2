package agentspan

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Time to first token from each convention that carries it, in the shape
// its library emits (sources in docs/conventions.md).
func TestTimeToFirstToken(t *testing.T) {
	const start = 1_700_000_000_000_000_000
	streamed := func(name string, attrs map[string]any, events ...string) ptrace.Span {
		s := newSpan(name, ptrace.SpanKindClient, attrs)
		s.SetStartTimestamp(start)
		s.SetEndTimestamp(start + 3e9)
		for _, ev := range events {
			e := s.Events().AppendEmpty()
			e.SetName(ev)
			e.SetTimestamp(start + 4e8)
		}
		return s
	}
	chat := func(extra map[string]any) map[string]any {
		m := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name    string
		span    ptrace.Span
		want    float64
		has     bool
		invalid int
	}{
		{"GenAI semconv v1.41 inference span", streamed("chat gpt-4o", chat(map[string]any{"gen_ai.response.time_to_first_chunk": 0.25})), 0.25, true, 0},
		{"OpenLIT", streamed("chat gpt-4o", chat(map[string]any{"gen_ai.server.time_to_first_token": 0.5})), 0.5, true, 0},
		{"Vercel AI SDK streamText doStream (ms)", streamed("ai.streamText.doStream", map[string]any{"ai.operationId": "ai.streamText.doStream", "ai.model.id": "gpt-4o", "ai.response.msToFirstChunk": 830}, "ai.stream.firstChunk"), 0.83, true, 0},
		{"Vercel AI SDK streamObject doStream (ms)", streamed("ai.streamObject.doStream", map[string]any{"ai.operationId": "ai.streamObject.doStream", "ai.model.id": "gpt-4o", "ai.stream.msToFirstChunk": 120}), 0.12, true, 0},
		{"OpenInference first token event (timestamp only)", streamed("ChatCompletion", map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o"}, "First Token Stream Event"), 0.4, true, 0},
		{"Langfuse completion start time (JSON-quoted ISO time)", streamed("chat", chat(map[string]any{"langfuse.observation.completion_start_time": `"2023-11-14T22:13:20.15Z"`})), 0.15, true, 0},
		{"seconds before milliseconds", streamed("chat", chat(map[string]any{"gen_ai.response.time_to_first_chunk": 0.2, "ai.response.msToFirstChunk": 900})), 0.2, true, 0},
		{"a negative value is refused and the event used", streamed("ChatCompletion", map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "gen_ai.response.time_to_first_chunk": -1}, "First Token Stream Event"), 0.4, true, 1},
		{"an unparsable completion start is refused", streamed("chat", chat(map[string]any{"langfuse.observation.completion_start_time": "soon"})), 0, false, 1},
		{"not streamed: no time to first token", streamed("chat", chat(nil)), 0, false, 0},
		{"not an LLM span: not read", streamed("execute_tool t", map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t", "gen_ai.response.time_to_first_chunk": 0.3}), 0, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in Info
			DefaultExtractor.Extract(tc.span, &in)
			if in.HasTTFT != tc.has || (tc.has && (in.TTFT < tc.want-1e-9 || in.TTFT > tc.want+1e-9)) {
				t.Fatalf("TTFT = %v (has %v), want %v (has %v); kind %v", in.TTFT, in.HasTTFT, tc.want, tc.has, in.Kind)
			}
			if int(in.NumInvalid) != tc.invalid {
				t.Fatalf("invalid = %v, want %d", in.Invalid[:in.NumInvalid], tc.invalid)
			}
		})
	}
}
