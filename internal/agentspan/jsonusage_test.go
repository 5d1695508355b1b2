package agentspan

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Usage carried as JSON (Langfuse's usage details, a Genkit model's
// output): both of Langfuse's shapes, Genkit's thoughts added to output;
// malformed JSON or a count over max_tokens_per_call is no usage and is
// counted invalid, never a number.
func TestJSONUsage(t *testing.T) {
	lf := func(usage string) ptrace.Span {
		return newSpan("generation", ptrace.SpanKindInternal, map[string]any{"langfuse.observation.type": "generation",
			"langfuse.observation.model.name": "gpt-4o-mini", "langfuse.observation.usage_details": usage})
	}
	gk := func(output string) ptrace.Span {
		return newSpan("googleai/gemini-2.5-flash", ptrace.SpanKindInternal, map[string]any{"genkit:type": "action",
			"genkit:metadata:subtype": "model", "genkit:name": "googleai/gemini-2.5-flash", "genkit:output": output})
	}
	e := NewExtractor(Settings{MaxTokensPerCall: 1000000})
	for _, tc := range []struct {
		name                          string
		span                          ptrace.Span
		in, out, read, write, reasons int64
		invalid                       bool
	}{
		{"langfuse raw OpenAI usage", lf(`{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050,"prompt_tokens_details":{"cached_tokens":400},"completion_tokens_details":{"reasoning_tokens":7}}`), 1000, 50, 400, 0, 7, false},
		{"langfuse buckets", lf(`{"input":600,"output":40,"total":940,"input_cache_read":0,"input_cache_creation":300,"output_reasoning_tokens":5}`), 900, 45, 0, 300, 5, false},
		{"langfuse malformed", lf(`{"input":`), 0, 0, 0, 0, 0, true},
		{"langfuse over the limit", lf(`{"input":5000000,"output":1}`), 0, 0, 0, 0, 0, true},
		{"langfuse negative", lf(`{"prompt_tokens":-3,"completion_tokens":1}`), 0, 0, 0, 0, 0, true},
		{"genkit fractional", gk(`{"usage":{"inputTokens":10.5,"outputTokens":3}}`), 0, 0, 0, 0, 0, true},
		{"genkit usage", gk(`{"usage":{"inputTokens":1000,"cachedContentTokens":400,"outputTokens":50,"thoughtsTokens":20}}`), 1000, 70, 400, 0, 20, false},
		{"genkit truncated", gk(`{"message":{},"usage":{"inputTokens":10`), 0, 0, 0, 0, 0, true},
	} {
		var in Info
		e.Extract(tc.span, &in)
		tk := in.Tokens
		if in.Kind != KindLLM || tk.Input != tc.in || tk.Output != tc.out || tk.CacheRead != tc.read || tk.CacheWrite != tc.write || tk.Reasoning != tc.reasons {
			t.Errorf("%s: kind %v tokens %+v", tc.name, in.Kind, tk)
		}
		if got := in.NumInvalid > 0; got != tc.invalid {
			t.Errorf("%s: invalid %v, want %v", tc.name, got, tc.invalid)
		}
	}
}
