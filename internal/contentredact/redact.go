// Package contentredact removes prompt, completion, system-instruction and
// tool argument/result content from span and event attributes, for every
// convention agentspan understands.
package contentredact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Mode is what happens to a content attribute.
type Mode string

const (
	ModeDrop     Mode = "drop"
	ModeTruncate Mode = "truncate"
	ModeHash     Mode = "hash"
	ModeKeep     Mode = "keep"
)

// Valid reports whether m is one of the modes.
func (m Mode) Valid() bool {
	switch m {
	case ModeDrop, ModeTruncate, ModeHash, ModeKeep:
		return true
	}
	return false
}

// contentKeys are attributes that hold content, by exact name.
var contentKeys = []string{
	// OpenTelemetry GenAI semconv (current)
	"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
	"gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
	// OpenInference
	"input.value", "output.value", "tool.parameters",
	// OpenLLMetry / Traceloop
	"traceloop.entity.input", "traceloop.entity.output",
	// Vercel AI SDK
	"ai.response.text", "ai.response.object", "ai.response.toolCalls", "ai.toolCall.args", "ai.toolCall.result",
	// Langfuse (Python v3+, JS v4+), Google Genkit, Pydantic AI / Logfire, Mastra
	"langfuse.observation.input", "langfuse.observation.output", "langfuse.trace.input", "langfuse.trace.output",
	"genkit:input", "genkit:output", "pydantic_ai.all_messages", "final_result",
	"mastra.agent_run.input", "mastra.agent_run.output", "mastra.model_generation.input", "mastra.model_generation.output",
	"mastra.model_step.input", "mastra.model_step.output", "mastra.model_chunk.output",
	"mastra.tool_call.input", "mastra.tool_call.output",
	// the seed's agent.* convention
	"agent.llm.prompt", "agent.llm.completion", "agent.llm.response", "agent.request.input", "agent.request.output",
	"agent.tool.input", "agent.tool.output", "agent.tool.arguments", "agent.tool.result",
}

// contentPrefixes hold content in every attribute below them
// ("gen_ai.prompt" matches "gen_ai.prompt" and "gen_ai.prompt.0.content").
var contentPrefixes = []string{
	"gen_ai.prompt", "gen_ai.completion", // GenAI semconv before 1.28, OpenLLMetry
	"llm.input_messages", "llm.output_messages", // OpenInference
	"llm.prompts", "llm.completions", // OpenLLMetry legacy
	"ai.prompt", // Vercel AI SDK: ai.prompt, ai.prompt.messages, ai.prompt.tools...
}

// eventContentKeys are content attributes of GenAI message events
// (gen_ai.user.message, gen_ai.choice, gen_ai.content.prompt, ...).
var eventContentKeys = []string{"content", "message", "tool_calls", "arguments", "gen_ai.event.content"}

// Settings configure a Redactor.
type Settings struct {
	Mode Mode
	// TruncateBytes is the length kept by ModeTruncate.
	TruncateBytes int
	// ExtraKeys are more content attributes: exact names, or "prefix.*".
	ExtraKeys []string
}

// Redactor applies Settings. It is safe for concurrent use.
type Redactor struct {
	mode  Mode
	n     int
	exact map[string]struct{}
	// prefixes grouped by first byte: most keys are rejected by one index.
	prefixes [256][]string
	count    int
}

// New builds a Redactor.
func New(s Settings) *Redactor {
	r := &Redactor{mode: s.Mode, n: s.TruncateBytes, exact: map[string]struct{}{}}
	for _, p := range contentPrefixes {
		r.addPrefix(p)
	}
	for _, k := range s.ExtraKeys {
		if p, ok := strings.CutSuffix(k, ".*"); ok && p != "" {
			r.addPrefix(p)
		} else {
			r.exact[k] = struct{}{}
		}
	}
	return r
}

func (r *Redactor) addPrefix(p string) {
	r.prefixes[p[0]] = append(r.prefixes[p[0]], p)
	r.count++
}

// isBuiltinContentKey is contentKeys as a switch: the compiler's binary
// search on length and bytes is cheaper than hashing every key of every span.
func isBuiltinContentKey(key string) bool {
	switch key {
	case "gen_ai.input.messages",
		"gen_ai.output.messages",
		"gen_ai.system_instructions",
		"gen_ai.tool.call.arguments",
		"gen_ai.tool.call.result",
		"input.value",
		"output.value",
		"tool.parameters",
		"traceloop.entity.input",
		"traceloop.entity.output",
		"ai.response.text",
		"ai.response.object",
		"ai.response.toolCalls",
		"ai.toolCall.args",
		"ai.toolCall.result",
		"langfuse.observation.input",
		"langfuse.observation.output",
		"langfuse.trace.input",
		"langfuse.trace.output",
		"genkit:input",
		"genkit:output",
		"pydantic_ai.all_messages",
		"final_result",
		"mastra.agent_run.input",
		"mastra.agent_run.output",
		"mastra.model_generation.input",
		"mastra.model_generation.output",
		"mastra.model_step.input",
		"mastra.model_step.output",
		"mastra.model_chunk.output",
		"mastra.tool_call.input",
		"mastra.tool_call.output",
		"agent.llm.prompt",
		"agent.llm.completion",
		"agent.llm.response",
		"agent.request.input",
		"agent.request.output",
		"agent.tool.input",
		"agent.tool.output",
		"agent.tool.arguments",
		"agent.tool.result":
		return true
	}
	return false
}

// IsContent reports whether an attribute key holds content.
func (r *Redactor) IsContent(key string) bool {
	if isBuiltinContentKey(key) {
		return true
	}
	if len(r.exact) > 0 {
		if _, ok := r.exact[key]; ok {
			return true
		}
	}
	if key == "" {
		return false
	}
	for _, p := range r.prefixes[key[0]] {
		if strings.HasPrefix(key, p) && (len(key) == len(p) || key[len(p)] == '.') {
			return true
		}
	}
	return false
}

func isEventContent(key string) bool {
	for _, k := range eventContentKeys {
		if k == key {
			return true
		}
	}
	return false
}

// Span redacts the span's attributes and its events' attributes and returns
// how many attributes it changed or removed.
func (r *Redactor) Span(span ptrace.Span) int {
	if r.mode == ModeKeep {
		return 0
	}
	return r.apply(span.Attributes(), r.IsContent) + r.Events(span)
}

// Drops reports whether the mode removes content attributes (so a caller may
// remove them in a pass of its own, with IsContent).
func (r *Redactor) Drops() bool { return r.mode == ModeDrop }

// Keeps reports whether content is exported as received (mode keep).
func (r *Redactor) Keeps() bool { return r.mode == ModeKeep }

// Events redacts the attributes of the span's events only.
func (r *Redactor) Events(span ptrace.Span) int {
	if r.mode == ModeKeep {
		return 0
	}
	n := 0
	for _, ev := range span.Events().All() {
		if strings.HasPrefix(ev.Name(), "gen_ai.") {
			n += r.apply(ev.Attributes(), func(k string) bool { return isEventContent(k) || r.IsContent(k) })
		} else {
			n += r.apply(ev.Attributes(), r.IsContent)
		}
	}
	return n
}

func (r *Redactor) apply(attrs pcommon.Map, match func(string) bool) int {
	n := 0
	if r.mode == ModeDrop {
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			if match(k) {
				n++
				return true
			}
			return false
		})
		return n
	}
	for k, v := range attrs.All() {
		if !match(k) {
			continue
		}
		switch r.mode {
		case ModeTruncate:
			s := v.AsString()
			if len(s) > r.n || v.Type() != pcommon.ValueTypeStr {
				v.SetStr(truncateUTF8(s, r.n))
				n++
			}
		case ModeHash:
			v.SetStr(hashString(v.AsString()))
			n++
		}
	}
	return n
}

// hashString is the hash mode's replacement: equal content, equal value.
func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Describe is a one-line summary for logs.
func (r *Redactor) Describe() string {
	return fmt.Sprintf("mode=%s truncate_bytes=%d keys=%d prefixes=%d", r.mode, r.n, len(contentKeys)+len(r.exact), r.count)
}
