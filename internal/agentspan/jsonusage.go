package agentspan

import (
	"encoding/json"
	"math"
	"strings"
)

// Usage carried as JSON strings. Parsed only for LLM spans that carry no
// token attribute (the JSON is the only place the counts are), so the cost
// is per inference, not per span.

// langfuseUsage reads langfuse.observation.usage_details. Two shapes:
//   - the provider's raw usage, as Langfuse's Python OpenAI integration
//     passes it: prompt_tokens (cache included), completion_tokens,
//     prompt_tokens_details.cached_tokens,
//     completion_tokens_details.reasoning_tokens;
//   - Langfuse's own buckets (the JS SDK's OpenAI integration and manual
//     usage), which add up to the total: input (uncached), output, and
//     parts such as input_cached_tokens, input_cache_read,
//     input_cache_creation, cache_read_input_tokens,
//     cache_creation_input_tokens, output_reasoning_tokens; total is their
//     sum and is not added.
//
// It returns false when the value is not a JSON object with a token count.
func langfuseUsage(s string, t *Tokens, max int64) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &m) != nil {
		return false
	}
	// A count that is a number but not a token count (negative,
	// fractional, too large) spoils the whole usage: no partial numbers.
	bad := false
	num := func(raw json.RawMessage) (int64, bool) {
		var f float64
		if len(raw) == 0 || json.Unmarshal(raw, &f) != nil {
			return 0, false // absent, or not a number (a nested detail object)
		}
		n, ok := tokenCount(&f, max)
		bad = bad || !ok
		return n, ok
	}
	if _, openai := m["prompt_tokens"]; openai || m["completion_tokens"] != nil {
		if n, ok := num(m["prompt_tokens"]); ok {
			t.Input, t.Has = n, t.Has|HasInput
		}
		if n, ok := num(m["completion_tokens"]); ok {
			t.Output, t.Has = n, t.Has|HasOutput
		}
		var pd struct {
			Cached json.RawMessage `json:"cached_tokens"`
		}
		if json.Unmarshal(m["prompt_tokens_details"], &pd) == nil {
			if n, ok := num(pd.Cached); ok && n > 0 {
				t.CacheRead, t.Has = n, t.Has|HasCacheRead
			}
		}
		var cd struct {
			Reasoning json.RawMessage `json:"reasoning_tokens"`
		}
		if json.Unmarshal(m["completion_tokens_details"], &cd) == nil {
			if n, ok := num(cd.Reasoning); ok && n > 0 {
				t.Reasoning, t.Has = n, t.Has|HasReasoning
			}
		}
		return !bad && t.Has&(HasInput|HasOutput) != 0
	}
	for k, raw := range m {
		n, ok := num(raw)
		if !ok || k == "total" {
			continue
		}
		switch {
		case strings.Contains(k, "cache_read") || strings.Contains(k, "cached"):
			t.CacheRead += n
			t.Input += n
			t.Has |= HasCacheRead | HasInput
		case strings.Contains(k, "cache_creation") || strings.Contains(k, "cache_write"):
			t.CacheWrite += n
			t.Input += n
			t.Has |= HasCacheWrite | HasInput
		case strings.HasPrefix(k, "input"):
			t.Input += n
			t.Has |= HasInput
		case strings.HasPrefix(k, "output"):
			t.Output += n
			t.Has |= HasOutput
			if strings.Contains(k, "reasoning") {
				t.Reasoning += n
				t.Has |= HasReasoning
			}
		}
	}
	return !bad && t.Has&(HasInput|HasOutput) != 0
}

// langfuseCost reads langfuse.observation.cost_details ({key: USD}): its
// total, else the sum of its parts.
func langfuseCost(s string) (float64, bool) {
	var m map[string]float64
	if json.Unmarshal([]byte(s), &m) != nil || len(m) == 0 {
		return 0, false
	}
	if v, ok := m["total"]; ok {
		return v, v >= 0
	}
	sum := 0.0
	for _, v := range m {
		if v < 0 {
			return 0, false
		}
		sum += v
	}
	return sum, true
}

// genkitUsage reads the usage of a Genkit model action from its output
// (GenerateResponse JSON): usage.inputTokens (the cache included, as
// Gemini reports it), usage.cachedContentTokens (cache reads),
// usage.outputTokens and usage.thoughtsTokens (reasoning, billed as output,
// so added to it). Genkit has no cache-write count.
func genkitUsage(s string, t *Tokens, max int64) bool {
	var out struct {
		Usage *struct {
			Input    *float64 `json:"inputTokens"`
			Output   *float64 `json:"outputTokens"`
			Cached   *float64 `json:"cachedContentTokens"`
			Thoughts *float64 `json:"thoughtsTokens"`
		} `json:"usage"`
	}
	if json.Unmarshal([]byte(s), &out) != nil || out.Usage == nil {
		return false
	}
	bad := false // as in langfuseUsage: a refused count spoils the usage
	ok := func(p *float64) (int64, bool) {
		if p == nil {
			return 0, false
		}
		n, good := tokenCount(p, max)
		bad = bad || !good
		return n, good
	}
	u := out.Usage
	if n, good := ok(u.Input); good {
		t.Input, t.Has = n, t.Has|HasInput
	}
	if n, good := ok(u.Output); good {
		t.Output, t.Has = n, t.Has|HasOutput
	}
	if n, good := ok(u.Cached); good && n > 0 {
		t.CacheRead, t.Has = n, t.Has|HasCacheRead
	}
	if n, good := ok(u.Thoughts); good && n > 0 {
		t.Reasoning, t.Output, t.Has = n, t.Output+n, t.Has|HasReasoning|HasOutput
	}
	return !bad && t.Has&(HasInput|HasOutput) != 0
}

// tokenCount accepts a JSON token count as the attribute roles do: a whole,
// non-negative number no larger than max_tokens_per_call.
func tokenCount(p *float64, max int64) (int64, bool) {
	if *p < 0 || *p != math.Trunc(*p) || *p > float64(max) {
		return 0, false
	}
	return int64(*p), true
}
