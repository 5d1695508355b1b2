package contentredact

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

const secret = "SECRET-PROMPT"

// logRecords are the three ways content reaches a log: a GenAI message
// event's body (semconv 1.28-1.36, event.name attribute), a GenAI
// operation-details event's attributes (1.37+, EventName field), and a
// content attribute on an ordinary log line.
func logRecords() plog.LogRecordSlice {
	s := plog.NewLogRecordSlice()
	msg := s.AppendEmpty()
	msg.Attributes().PutStr("event.name", "gen_ai.choice")
	_ = msg.Body().SetEmptyMap().FromRaw(map[string]any{
		"index": 0, "finish_reason": "stop",
		"message": map[string]any{"role": "assistant", "content": secret + " answer",
			"tool_calls": []any{map[string]any{"id": "c1", "function": map[string]any{"name": "lookup", "arguments": secret}}}},
	})
	det := s.AppendEmpty()
	det.SetEventName("gen_ai.client.inference.operation.details")
	det.Attributes().PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"`+secret+`"}]}]`)
	det.Attributes().PutStr("gen_ai.system_instructions", secret)
	det.Attributes().PutStr("gen_ai.request.model", "gpt-4o")
	line := s.AppendEmpty()
	line.Body().SetStr("tool fetch_order timed out after 30s")
	line.Attributes().PutStr("input.value", secret)
	line.Attributes().PutStr("order.id", "o-17")
	str := s.AppendEmpty()
	str.Attributes().PutStr("event.name", "gen_ai.user.message")
	str.Body().SetStr(secret + " as a plain body")
	return s
}

func dump(s plog.LogRecordSlice) string {
	var b strings.Builder
	for _, lr := range s.All() {
		b.WriteString(lr.Body().AsString())
		for k, v := range lr.Attributes().All() {
			b.WriteString(" " + k + "=" + v.AsString())
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestLogRecordDrop(t *testing.T) {
	recs := logRecords()
	r := New(Settings{Mode: ModeDrop})
	n := 0
	for _, lr := range recs.All() {
		n += r.LogRecord(lr)
	}
	out := dump(recs)
	if strings.Contains(out, secret) {
		t.Fatalf("content left after drop:\n%s", out)
	}
	// Removed: message (with its content and tool calls), two attributes of
	// the details event, input.value, the string body.
	if n != 5 {
		t.Errorf("redacted %d values, want 5:\n%s", n, out)
	}
	for _, keep := range []string{"tool fetch_order timed out after 30s", "order.id=o-17", "gen_ai.request.model=gpt-4o", `"finish_reason":"stop"`} {
		if !strings.Contains(out, keep) {
			t.Errorf("%q lost:\n%s", keep, out)
		}
	}
}

func TestLogRecordHashAndTruncate(t *testing.T) {
	recs := logRecords()
	r := New(Settings{Mode: ModeHash})
	for _, lr := range recs.All() {
		r.LogRecord(lr)
	}
	if got, want := recs.At(1).Attributes().AsRaw()["gen_ai.system_instructions"], hashString(secret); got != want {
		t.Errorf("hash: got %v, want %v", got, want)
	}
	if got, want := recs.At(3).Body().Str(), hashString(secret+" as a plain body"); got != want {
		t.Errorf("hashed body: got %q, want %q", got, want)
	}
	// The message map is hashed as a whole under its key: its content is gone.
	if strings.Contains(dump(recs), secret) {
		t.Errorf("content left after hash:\n%s", dump(recs))
	}

	recs = logRecords()
	r = New(Settings{Mode: ModeTruncate, TruncateBytes: 6})
	for _, lr := range recs.All() {
		r.LogRecord(lr)
	}
	if got := recs.At(2).Attributes().AsRaw()["input.value"]; got != "SECRET" {
		t.Errorf("truncated attribute: %q", got)
	}
	if got := recs.At(3).Body().Str(); got != "SECRET" {
		t.Errorf("truncated body: %q", got)
	}
}

func TestLogRecordKeep(t *testing.T) {
	recs := logRecords()
	before := dump(recs)
	r := New(Settings{Mode: ModeKeep})
	for _, lr := range recs.All() {
		if n := r.LogRecord(lr); n != 0 {
			t.Errorf("keep changed %d values", n)
		}
	}
	if dump(recs) != before {
		t.Error("keep changed a record")
	}
}
