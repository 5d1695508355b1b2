// Package receiverfuzz feeds arbitrary bytes to the OTLP trace decoders the
// otlp receiver uses (protobuf and JSON, as /v1/traces and gRPC take them)
// and everything that decodes through our processor and connector, built
// by their factories as the distribution builds them. Nothing may panic or
// hang; malformed input is the decoder's error, never ours.
package receiverfuzz

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor"
)

type pipeline struct {
	traces consumer.Traces
	conn   connector.Traces
}

func newPipeline(t testing.TB) pipeline {
	t.Helper()
	ctx := context.Background()
	cf := agentmetricsconnector.NewFactory()
	conn, err := cf.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(cf.Type()), cf.CreateDefaultConfig(), &consumertest.MetricsSink{})
	if err != nil {
		t.Fatal(err)
	}
	pf := agentsemconvprocessor.NewFactory()
	proc, err := pf.CreateTraces(ctx, processortest.NewNopSettings(pf.Type()), pf.CreateDefaultConfig(), conn)
	if err != nil {
		t.Fatal(err)
	}
	host := componenttest.NewNopHost()
	if err := conn.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = proc.Shutdown(ctx)
		_ = conn.Shutdown(ctx)
	})
	return pipeline{traces: proc, conn: conn}
}

func FuzzOTLPTraceRequests(f *testing.F) {
	// Seeds: every recorded and sender fixture as protobuf and JSON.
	var seeds []ptrace.Traces
	for _, name := range agenttest.RealClientFiles {
		seeds = append(seeds, agenttest.Load(f, name)...)
	}
	for _, name := range agenttest.SenderFiles(f) {
		tds, _ := agenttest.LoadSender(f, name)
		seeds = append(seeds, tds...)
	}
	for _, td := range seeds {
		req := ptraceotlp.NewExportRequestFromTraces(td)
		pb, _ := req.MarshalProto()
		js, _ := req.MarshalJSON()
		f.Add(pb, false)
		f.Add(js, true)
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, false) // a length past the end
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","parentSpanId":"01"}]}]}]}`), true)
	p := newPipeline(f)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		req := ptraceotlp.NewExportRequest()
		var err error
		if json {
			err = req.UnmarshalJSON(data)
		} else {
			err = req.UnmarshalProto(data)
		}
		if err != nil {
			return // the receiver answers 400 / InvalidArgument
		}
		// Both may refuse (a counted drop); neither may panic.
		_ = p.traces.ConsumeTraces(context.Background(), req.Traces())
	})
}
