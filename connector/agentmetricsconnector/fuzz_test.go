package agentmetricsconnector

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsumeTraces feeds spans with arbitrary names, attribute values,
// parents and timestamps: the connector must never panic, and every flush
// must produce metrics without negative counts.
func FuzzConsumeTraces(f *testing.F) {
	f.Add("invoke_agent", "gen_ai.operation.name", "chat", "lookup_order", int64(100), int64(-5), 1.5, byte(1), byte(0), uint64(10), uint64(5))
	f.Add("agent.request", "agent.llm.tokens.input", "NaN", "", int64(1<<40), int64(0), -1.0, byte(2), byte(2), uint64(0), uint64(1<<63))
	f.Add("execute_tool x", "agent.feedback.score", "1e400", "t", int64(0), int64(7), 3.0, byte(3), byte(1), uint64(5), uint64(5))
	f.Fuzz(func(t *testing.T, name, key, sval, tool string, ival, ival2 int64, dval float64, trace, parent byte, start, end uint64) {
		h := newHarness(t, nil)
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for i, op := range []string{"invoke_agent", "chat", "execute_tool", name} {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{trace})
			s.SetSpanID(pcommon.SpanID{byte(i + 1)})
			if i > 0 {
				s.SetParentSpanID(pcommon.SpanID{parent})
			}
			s.SetName(name)
			s.SetStartTimestamp(pcommon.Timestamp(start))
			s.SetEndTimestamp(pcommon.Timestamp(end))
			a := s.Attributes()
			a.PutStr("gen_ai.operation.name", op)
			a.PutStr("gen_ai.tool.name", tool)
			a.PutStr(key, sval)
			a.PutInt("gen_ai.usage.input_tokens", ival)
			a.PutInt("gen_ai.usage.output_tokens", ival2)
			a.PutDouble("agent.feedback.score", dval)
			a.PutStr("gen_ai.request.model", sval)
			ev := s.Events().AppendEmpty()
			ev.SetName("gen_ai.evaluation.result")
			ev.Attributes().PutStr("gen_ai.evaluation.name", "hallucination")
			ev.Attributes().PutStr("gen_ai.evaluation.score.label", sval)
		}
		h.consume(td)
		h.advance(10 * time.Minute)
		v := h.flush()
		for name, series := range v.sums {
			for labels, val := range series {
				if val < 0 || val != val {
					t.Fatalf("%s{%s} = %v", name, labels, val)
				}
			}
		}
		if err := h.c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
