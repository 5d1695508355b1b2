package agentsemconvprocessor

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadatatest"
)

// genaiLogs is what an agent using the OpenTelemetry logs SDK and a GenAI
// instrumentation sends: a log line inside a tool span, a message event
// with content in its body, an operation-details event with content in
// attributes, and an evaluation verdict (no content, kept whole).
func genaiLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "support-agent")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	line := recs.AppendEmpty()
	line.Body().SetStr("fetch_order timed out")
	line.Attributes().PutStr("gen_ai.tool.call.arguments", `{"card":"4111"}`)
	msg := recs.AppendEmpty()
	msg.Attributes().PutStr("event.name", "gen_ai.user.message")
	msg.Body().SetEmptyMap().PutStr("content", "my card is 4111")
	det := recs.AppendEmpty()
	det.SetEventName("gen_ai.client.inference.operation.details")
	det.Attributes().PutStr("gen_ai.output.messages", "4111 is your card")
	ev := recs.AppendEmpty()
	ev.SetEventName("gen_ai.evaluation.result")
	ev.Attributes().PutStr("gen_ai.evaluation.name", "hallucination")
	ev.Attributes().PutStr("gen_ai.evaluation.score.label", "hallucinated")
	return ld
}

func TestLogsAreRedactedLikeSpans(t *testing.T) {
	for _, mode := range []string{"drop", "hash", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			cfg := defaultCfg()
			cfg.Redaction.Mode, cfg.Redaction.TruncateBytes = mode, 2
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			sink := &consumertest.LogsSink{}
			p, err := createLogs(context.Background(), metadatatest.NewSettings(tel), cfg, sink)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, p.ConsumeLogs(context.Background(), genaiLogs()))
			require.NoError(t, p.Shutdown(context.Background()))
			require.Len(t, sink.AllLogs(), 1)
			out := sink.AllLogs()[0]
			require.Equal(t, 4, out.LogRecordCount())
			var text strings.Builder
			recs := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			for _, lr := range recs.All() {
				text.WriteString(lr.Body().AsString())
				for k, v := range lr.Attributes().All() {
					text.WriteString(" " + k + "=" + v.AsString())
				}
			}
			if strings.Contains(text.String(), "4111") {
				t.Fatalf("content left in logs: %s", text.String())
			}
			for _, keep := range []string{"fetch_order timed out", "gen_ai.evaluation.score.label=hallucinated"} {
				if !strings.Contains(text.String(), keep) {
					t.Errorf("%q lost: %s", keep, text.String())
				}
			}
			metadatatest.AssertEqualProcessorAgentsemconvLogRecords(t, tel, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatestIgnore...)
			metadatatest.AssertEqualProcessorAgentsemconvRedactedAttributes(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatestIgnore...)
		})
	}
}

func TestLogsKeepMode(t *testing.T) {
	cfg := defaultCfg()
	cfg.Redaction.Mode = "keep"
	sink := &consumertest.LogsSink{}
	p, err := createLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, sink)
	require.NoError(t, err)
	in := genaiLogs()
	want := plog.NewLogs()
	in.CopyTo(want)
	require.NoError(t, p.ConsumeLogs(context.Background(), in))
	require.Equal(t, want, sink.AllLogs()[0])
}
