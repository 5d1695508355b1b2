package contentredact

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

func span() ptrace.Span {
	s := ptrace.NewSpan()
	_ = s.Attributes().FromRaw(map[string]any{
		"gen_ai.input.messages":                        `[{"role":"user","parts":[{"type":"text","content":"my card is 4111"}]}]`,
		"gen_ai.prompt.0.content":                      "secret prompt",
		"gen_ai.usage.prompt_tokens":                   10, // not content
		"llm.input_messages.0.message.content":         "héllo wörld",
		"input.value":                                  "refund my order",
		"ai.prompt.messages":                           "[]",
		"ai.promptTokens":                              3, // not under ai.prompt.
		"tool.parameters":                              `{"q":"x"}`,
		"tool.name":                                    "lookup",
		"agent.tool.result":                            "ok",
		"acme.notes":                                   "private",
		"gen_ai.tool.definitions":                      "schema, not content",
		"llm.output_messages.0.message.tool_calls.0.x": "y",
	})
	ev := s.Events().AppendEmpty()
	ev.SetName("gen_ai.user.message")
	ev.Attributes().PutStr("content", "hi there")
	ev.Attributes().PutStr("gen_ai.system", "openai")
	other := s.Events().AppendEmpty()
	other.SetName("exception")
	other.Attributes().PutStr("content", "stack trace stays")
	return s
}

var wantRedacted = []string{"gen_ai.input.messages", "gen_ai.prompt.0.content", "llm.input_messages.0.message.content",
	"input.value", "ai.prompt.messages", "tool.parameters", "agent.tool.result", "acme.notes", "llm.output_messages.0.message.tool_calls.0.x"}
var wantKept = []string{"gen_ai.usage.prompt_tokens", "ai.promptTokens", "tool.name", "gen_ai.tool.definitions"}

func TestDrop(t *testing.T) {
	s := span()
	r := New(Settings{Mode: ModeDrop, ExtraKeys: []string{"acme.*"}})
	if n := r.Span(s); n != len(wantRedacted)+1 {
		t.Errorf("redacted %d, want %d", n, len(wantRedacted)+1)
	}
	for _, k := range wantRedacted {
		if _, ok := s.Attributes().Get(k); ok {
			t.Errorf("%s kept", k)
		}
	}
	for _, k := range wantKept {
		if _, ok := s.Attributes().Get(k); !ok {
			t.Errorf("%s dropped", k)
		}
	}
	if _, ok := s.Events().At(0).Attributes().Get("content"); ok {
		t.Error("gen_ai event content kept")
	}
	if _, ok := s.Events().At(0).Attributes().Get("gen_ai.system"); !ok {
		t.Error("gen_ai event metadata dropped")
	}
	if _, ok := s.Events().At(1).Attributes().Get("content"); !ok {
		t.Error("non-GenAI event attribute dropped")
	}
}

func TestTruncateKeepsValidUTF8(t *testing.T) {
	s := span()
	New(Settings{Mode: ModeTruncate, TruncateBytes: 2}).Span(s)
	v, _ := s.Attributes().Get("llm.input_messages.0.message.content")
	if v.Str() != "h" { // "hé": é is 2 bytes and would be split
		t.Fatalf("got %q", v.Str())
	}
	v, _ = s.Attributes().Get("input.value")
	if v.Str() != "re" {
		t.Fatalf("got %q", v.Str())
	}
}

func TestHashLinksWithoutContent(t *testing.T) {
	a, b := span(), span()
	r := New(Settings{Mode: ModeHash})
	r.Span(a)
	r.Span(b)
	va, _ := a.Attributes().Get("input.value")
	vb, _ := b.Attributes().Get("input.value")
	if !strings.HasPrefix(va.Str(), "sha256:") || len(va.Str()) != 7+64 || va.Str() != vb.Str() {
		t.Fatalf("hash %q vs %q", va.Str(), vb.Str())
	}
	if strings.Contains(va.Str(), "refund") {
		t.Fatal("content leaked")
	}
}

func TestKeepIsOptOut(t *testing.T) {
	s := span()
	if n := New(Settings{Mode: ModeKeep}).Span(s); n != 0 {
		t.Fatalf("keep changed %d", n)
	}
	if v, _ := s.Attributes().Get("input.value"); v.Str() != "refund my order" {
		t.Fatal("keep changed content")
	}
}

// The switch and the documented list must not drift apart.
func TestSwitchMatchesList(t *testing.T) {
	for _, k := range contentKeys {
		if !isBuiltinContentKey(k) {
			t.Errorf("%s missing from isBuiltinContentKey", k)
		}
	}
}
