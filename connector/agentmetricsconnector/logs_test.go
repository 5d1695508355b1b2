package agentmetricsconnector

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadatatest"
)

func (h *harness) consumeLogs(ld plog.Logs) {
	h.t.Helper()
	require.NoError(h.t, h.c.ConsumeLogs(context.Background(), ld))
}

func logsOf(service string) (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	return ld, rl.ScopeLogs().AppendEmpty().LogRecords()
}

// verdictRecord is a gen_ai.evaluation.result event as the GenAI semconv
// (1.37+) sends it: a log record with the span's context, the event name
// in the EventName field.
func verdictRecord(recs plog.LogRecordSlice, trace int, span byte, label string) plog.LogRecord {
	lr := recs.AppendEmpty()
	if trace != 0 {
		lr.SetTraceID(pcommon.TraceID{byte(trace), byte(trace >> 8), 0xab})
		lr.SetSpanID(pcommon.SpanID{span})
	}
	lr.SetEventName(evEvaluation)
	lr.Attributes().PutStr("gen_ai.evaluation.name", "hallucination")
	lr.Attributes().PutStr("gen_ai.evaluation.score.label", label)
	return lr
}

func addVerdictEvent(s ptrace.Span) {
	ev := s.Events().AppendEmpty()
	ev.SetName(evEvaluation)
	ev.Attributes().PutStr("gen_ai.evaluation.name", "hallucination")
	ev.Attributes().PutStr("gen_ai.evaluation.score.label", "hallucinated")
}

// supervisorTrace: a supervisor (span 2) calls a researcher (3) whose
// chat call (4) is judged; the supervisor's own chat call (5) is judged
// too; root 1 is an HTTP handler. withEvents puts the verdicts on the
// chat spans as span events as well.
func supervisorTrace(trace int, withEvents bool) ptrace.Traces {
	td, ss := batchOf()
	r := mkSpan(ss, trace, 4, 3, "chat", 2e9, 3e9, chat(100))
	s := mkSpan(ss, trace, 5, 2, "chat", 1e9, 2e9, chat(50))
	if withEvents {
		addVerdictEvent(r)
		addVerdictEvent(s)
	}
	mkSpan(ss, trace, 3, 2, "invoke_agent researcher", 2e9, 5e9, agentSpan("researcher"))
	mkSpan(ss, trace, 2, 1, "invoke_agent supervisor", 1e9, 6e9, agentSpan("supervisor"))
	mkSpan(ss, trace, 1, 0, "POST /answer", 0, 9e9, nil)
	return td
}

func verdictLogs(trace int) plog.Logs {
	ld, recs := logsOf("svc-fallback")
	verdictRecord(recs, trace, 4, "hallucinated")
	verdictRecord(recs, trace, 5, "hallucinated")
	verdictRecord(recs, trace, 4, "grounded") // no hallucination: not counted
	return ld
}

// Every way a verdict can arrive (log record, span event, both) in every
// order real SDKs produce (logs first: the log batch delay is 1 s and the
// span's 5 s; logs after the spans but before the close; logs after the
// close) counts once per verdict, against the agent that owns the judged
// span.
func TestLogVerdictsCountOnceAgainstTheirSpansAgent(t *testing.T) {
	for _, ways := range []string{"log", "event", "both"} {
		for _, order := range []string{"logs-first", "logs-before-close", "logs-after-close"} {
			if ways == "event" && order != "logs-first" {
				continue
			}
			t.Run(ways+"/"+order, func(t *testing.T) {
				h := newHarness(t, nil)
				const runs = 7
				sendLogs := func() {
					if ways != "event" {
						for tr := 1; tr <= runs; tr++ {
							h.consumeLogs(verdictLogs(tr))
						}
					}
				}
				if order == "logs-first" {
					sendLogs()
					h.advance(4 * time.Second)
				}
				for tr := 1; tr <= runs; tr++ {
					h.consume(supervisorTrace(tr, ways != "log"))
				}
				h.advance(2 * time.Second)
				if order == "logs-before-close" {
					sendLogs()
				}
				h.advance(10 * time.Second)
				v := h.flush()
				if order == "logs-after-close" {
					sendLogs()
					h.advance(time.Second)
					v = h.flush()
				}
				assert.Equal(t, float64(runs), v.total("agent_hallucination_total", "agent_id=researcher", "hallucination_type=hallucination"))
				assert.Equal(t, float64(runs), v.total("agent_hallucination_total", "agent_id=supervisor", "hallucination_type=hallucination"))
				assert.Equal(t, float64(2*runs), v.total("agent_hallucination_total"))
				assert.Equal(t, float64(runs), v.total("agent_requests_total"), "logs never make a run")
			})
		}
	}
}

// A record of a span that never reaches the collector counts against the
// agent it names, else the trace's entry agent; one without trace context
// against the agent it names, else its service.
func TestLogVerdictsWithoutTheirSpan(t *testing.T) {
	h := newHarness(t, nil)
	ld, recs := logsOf("judge-svc")
	verdictRecord(recs, 1, 0x77, "hallucinated") // span 0x77 is not in trace 1
	named := verdictRecord(recs, 1, 0x78, "yes")
	named.Attributes().PutStr("gen_ai.agent.name", "critic")
	verdictRecord(recs, 0, 0, "detected") // no trace context
	loose := verdictRecord(recs, 0, 0, "fail")
	loose.Attributes().PutStr("gen_ai.agent.name", "critic")
	h.consumeLogs(ld)
	h.consume(supervisorTrace(1, false))
	h.advance(10 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_hallucination_total", "agent_id=supervisor"))
	assert.Equal(t, 2.0, v.total("agent_hallucination_total", "agent_id=critic"))
	assert.Equal(t, 1.0, v.total("agent_hallucination_total", "agent_id=judge-svc"))
	assert.Equal(t, 4.0, v.total("agent_hallucination_total"))
	metadatatest.AssertEqualConnectorAgentmetricsLogRecords(t, h.tel, []metricdata.DataPoint[int64]{{Value: 4}}, ignoreTime...)
}

// Feedback sent as a log record (agent.feedback event) after its run
// closed, in a trace of its own, keyed by the conversation.
func TestLogFeedbackByConversation(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	a := agentSpan("support")
	a["gen_ai.conversation.id"] = "conv-1"
	mkSpan(ss, 1, 1, 0, "invoke_agent support", 0, 2e9, a)
	mkSpan(ss, 1, 2, 1, "chat", 0, 1e9, chat(10))
	h.consume(td)
	h.advance(10 * time.Second)
	h.flush()
	ld, recs := logsOf("web-frontend")
	lr := recs.AppendEmpty()
	lr.Attributes().PutStr("event.name", evFeedback)
	lr.Attributes().PutStr("gen_ai.conversation.id", "conv-1")
	lr.Attributes().PutDouble("agent.feedback.score", 0.25)
	h.consumeLogs(ld)
	v := h.flush()
	n, sum := v.histCountSum("agent_user_feedback_score", "agent_id=support")
	assert.EqualValues(t, 1, n)
	assert.Equal(t, 0.25, sum)
}

// Ordinary log lines are not read, and a trace opened by a record alone
// (its spans never come) closes at the idle timeout and still counts.
func TestLogOnlyTraceExpires(t *testing.T) {
	h := newHarness(t, nil)
	ld, recs := logsOf("lonely")
	recs.AppendEmpty().Body().SetStr("just a line")
	verdictRecord(recs, 9, 1, "hallucinated")
	h.consumeLogs(ld)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, 0.0, v.total("agent_hallucination_total"), "held until the trace closes")
	assert.Equal(t, 1, h.c.store.Len())
	h.advance(31 * time.Minute)
	v = h.flush()
	assert.Equal(t, 1.0, v.total("agent_hallucination_total", "agent_id=lonely"))
	assert.Equal(t, 0, h.c.store.Len())
	metadatatest.AssertEqualConnectorAgentmetricsLogRecords(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, ignoreTime...)
}

// One connector serves the traces and the logs pipelines of one id: the
// collector creates it twice with the same configuration.
func TestTracesAndLogsShareOneConnector(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	set := connectortest.NewNopSettings(f.Type())
	sink := &consumertest.MetricsSink{}
	tc, err := f.CreateTracesToMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	lc, err := f.CreateLogsToMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.Same(t, tc.(*agentConnector), lc.(*agentConnector))
	other, err := f.CreateLogsToMetrics(context.Background(), set, f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NotSame(t, tc.(*agentConnector), other.(*agentConnector), "another connector id is another instance")
	host := componenttest.NewNopHost()
	require.NoError(t, tc.Start(context.Background(), host))
	require.NoError(t, lc.Start(context.Background(), host))
	// A verdict log and its span, through the two faces.
	require.NoError(t, lc.ConsumeLogs(context.Background(), verdictLogs(3)))
	require.NoError(t, tc.ConsumeTraces(context.Background(), supervisorTrace(3, false)))
	require.NoError(t, tc.Shutdown(context.Background()))
	require.Empty(t, sink.AllMetrics(), "still running for the logs pipeline")
	require.NoError(t, lc.Shutdown(context.Background()))
	// The last shutdown decided the open trace and flushed.
	require.NotEmpty(t, sink.AllMetrics())
	v := newView(sink.AllMetrics()[len(sink.AllMetrics())-1])
	assert.Equal(t, 1.0, v.total("agent_hallucination_total", "agent_id=researcher"))
	require.NoError(t, other.Shutdown(context.Background()))

}
