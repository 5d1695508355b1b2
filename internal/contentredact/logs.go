package contentredact

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// EventName is the name of the event a log record carries: the record's
// EventName field (OTLP 1.5+), else its event.name attribute (how the
// GenAI semconv events were sent before that field existed).
func EventName(lr plog.LogRecord) string {
	if n := lr.EventName(); n != "" {
		return n
	}
	if v, ok := lr.Attributes().Get("event.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// isGenAIEvent: the GenAI semconv events (gen_ai.user.message,
// gen_ai.choice, gen_ai.client.inference.operation.details, ...) carry
// model input and output in their body and attributes.
func isGenAIEvent(name string) bool { return strings.HasPrefix(name, "gen_ai.") }

// LogRecord redacts one log record and returns how many values it changed
// or removed. Attributes are redacted as span attributes are. A GenAI
// event's body is content: a map body loses (or has truncated/hashed) its
// content keys at any depth ({"content": ...}, {"message": {...}},
// {"tool_calls": [...]}); any other body of such an event is content as a
// whole. The body of an ordinary log line is the application's message and
// is kept, except the content keys of a map body.
func (r *Redactor) LogRecord(lr plog.LogRecord) int {
	if r.mode == ModeKeep {
		return 0
	}
	name := EventName(lr)
	genai := isGenAIEvent(name)
	match := r.IsContent
	if genai {
		match = func(k string) bool { return isEventContent(k) || r.IsContent(k) }
	}
	n := r.apply(lr.Attributes(), match)
	body := lr.Body()
	switch body.Type() {
	case pcommon.ValueTypeEmpty:
	case pcommon.ValueTypeMap:
		n += r.applyDeep(body.Map(), match, genai)
	case pcommon.ValueTypeSlice:
		if genai {
			n += r.applyDeepSlice(body.Slice(), match)
		}
	default:
		if genai {
			n += r.value(body)
		}
	}
	return n
}

// applyDeep redacts the content keys of m and, when deep, of every map
// nested in it.
func (r *Redactor) applyDeep(m pcommon.Map, match func(string) bool, deep bool) int {
	n := r.apply(m, match)
	if !deep {
		return n
	}
	for _, v := range m.All() {
		switch v.Type() {
		case pcommon.ValueTypeMap:
			n += r.applyDeep(v.Map(), match, true)
		case pcommon.ValueTypeSlice:
			n += r.applyDeepSlice(v.Slice(), match)
		}
	}
	return n
}

func (r *Redactor) applyDeepSlice(s pcommon.Slice, match func(string) bool) int {
	n := 0
	for _, v := range s.All() {
		switch v.Type() {
		case pcommon.ValueTypeMap:
			n += r.applyDeep(v.Map(), match, true)
		case pcommon.ValueTypeSlice:
			n += r.applyDeepSlice(v.Slice(), match)
		}
	}
	return n
}

// value redacts one whole value in place (drop empties it).
func (r *Redactor) value(v pcommon.Value) int {
	switch r.mode {
	case ModeDrop:
		v.SetStr("")
		return 1
	case ModeTruncate:
		s := v.AsString()
		if len(s) > r.n || v.Type() != pcommon.ValueTypeStr {
			v.SetStr(truncateUTF8(s, r.n))
			return 1
		}
		return 0
	case ModeHash:
		v.SetStr(hashString(v.AsString()))
		return 1
	}
	return 0
}
