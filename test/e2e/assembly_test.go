package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// The trace-assembly scenarios of the issue, through the built binary on
// config/default.yaml (metrics flushed every second to keep the test short).

func startDefault(t *testing.T, extra map[string]string, overlays ...string) (e2etest.Ports, *e2etest.Collector) {
	t.Helper()
	ports := e2etest.NewPorts(t)
	env := ports.Env()
	env["OTELCOL_AGENT_TRACE_FILE"] = filepath.Join(t.TempDir(), "traces.jsonl")
	env["OTELCOL_AGENT_METRICS_FLUSH"] = "1s"
	for k, v := range extra {
		env[k] = v
	}
	return ports, e2etest.Start(t, append([]string{"config/default.yaml"}, overlays...), env, ports.Health)
}

// sdkTracer is an OpenTelemetry Go SDK with the batch span processor, as
// agents ship it: spans are exported as they end, roots last.
func sdkTracer(t *testing.T, endpoint, service string) (trace.Tracer, func()) {
	t.Helper()
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	return tp.Tracer("e2e"), func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

func invoke(ctx context.Context, tr trace.Tracer, agent string) (context.Context, trace.Span) {
	return tr.Start(ctx, "invoke_agent "+agent, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", agent)))
}

func llmCall(ctx context.Context, tr trace.Tracer, tokens int) {
	_, s := tr.Start(ctx, "chat gpt-4o", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
		attribute.Int("gen_ai.usage.input_tokens", tokens), attribute.Int("gen_ai.usage.output_tokens", 10)))
	s.End()
}

func toolCall(ctx context.Context, tr trace.Tracer, tool string) {
	_, s := tr.Start(ctx, "execute_tool "+tool, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", tool)))
	s.End()
}

// waitMetrics scrapes until cond holds on the families.
func waitMetrics(t *testing.T, addr string, timeout time.Duration, cond func(map[string]*dto.MetricFamily) error) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	e2etest.Eventually(t, timeout, func(context.Context) (err error) {
		if fams, err = scrape(addr); err != nil {
			return err
		}
		return cond(fams)
	})
	return fams
}

func sumOf(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	if fams[name] == nil {
		return 0
	}
	return sumWhere(fams[name], labels)
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := sumOf(fams, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// Five requests, each: an HTTP span running a supervisor (which calls a
// nested researcher) and then a sibling summarizer, exported by the SDK's
// batch processor (children first, roots last).
func TestMultiAgentTraceThroughTheBinary(t *testing.T) {
	ports, _ := startDefault(t, nil)
	tr, shutdown := sdkTracer(t, ports.OTLPGRPC, "answer-service")
	for range 5 {
		ctx, req := tr.Start(context.Background(), "POST /answer", trace.WithSpanKind(trace.SpanKindServer))
		sctx, sup := invoke(ctx, tr, "supervisor")
		llmCall(sctx, tr, 50)
		rctx, res := invoke(sctx, tr, "researcher")
		llmCall(rctx, tr, 100)
		toolCall(rctx, tr, "web_search")
		res.End()
		toolCall(sctx, tr, "delegate")
		sup.End()
		mctx, sum := invoke(ctx, tr, "summarizer")
		llmCall(mctx, tr, 20)
		sum.End()
		req.End()
	}
	shutdown()
	fams := waitMetrics(t, ports.Prometheus, 30*time.Second, func(f map[string]*dto.MetricFamily) error {
		if n := sumOf(f, "agent_requests_total", nil); n != 10 {
			return fmt.Errorf("agent_requests_total %v, want 10", n)
		}
		return nil
	})
	expect(t, fams, "agent_requests_total", map[string]string{"agent_id": "supervisor"}, 5)
	expect(t, fams, "agent_requests_total", map[string]string{"agent_id": "summarizer"}, 5)
	expect(t, fams, "agent_requests_total", map[string]string{"agent_id": "researcher"}, 0)
	expect(t, fams, "agent_invocations_total", nil, 15)
	expect(t, fams, "agent_invocations_total", map[string]string{"agent_id": "researcher", "caller_agent_id": "supervisor"}, 5)
	expect(t, fams, "agent_invocations_total", map[string]string{"agent_id": "supervisor", "caller_agent_id": ""}, 5)
	for agent, tokens := range map[string]float64{"supervisor": 250, "researcher": 500, "summarizer": 100} {
		expect(t, fams, "agent_llm_calls_total", map[string]string{"agent_id": agent}, 5)
		expect(t, fams, "agent_tokens_consumed_total", map[string]string{"agent_id": agent, "direction": "input"}, tokens)
	}
	expect(t, fams, "agent_tool_calls_total", map[string]string{"agent_id": "researcher", "tool_name": "web_search"}, 5)
	expect(t, fams, "agent_tool_calls_total", map[string]string{"agent_id": "supervisor", "tool_name": "delegate"}, 5)
	expect(t, fams, "agent_llm_calls_total", nil, 15)
}

// A run whose spans keep coming for longer than the run TTL (3 s here, so
// the test is short; 30 m by default) counts once, under its own agent.
func TestRunLongerThanTheTTLThroughTheBinary(t *testing.T) {
	ports, _ := startDefault(t, map[string]string{"OTELCOL_AGENT_RUN_TTL": "3s", "OTELCOL_AGENT_RUN_GRACE": "1s"})
	tr, shutdown := sdkTracer(t, ports.OTLPGRPC, "coder-service")
	ctx, run := invoke(context.Background(), tr, "coder")
	for range 5 { // 10 s of work, a call every 2 s
		llmCall(ctx, tr, 10)
		toolCall(ctx, tr, "run_tests")
		time.Sleep(2 * time.Second)
	}
	run.End()
	shutdown()
	fams := waitMetrics(t, ports.Prometheus, 30*time.Second, func(f map[string]*dto.MetricFamily) error {
		if n := sumOf(f, "agent_requests_total", nil); n != 1 {
			return fmt.Errorf("agent_requests_total %v, want 1", n)
		}
		return nil
	})
	expect(t, fams, "agent_requests_total", map[string]string{"agent_id": "coder"}, 1)
	expect(t, fams, "agent_llm_calls_total", map[string]string{"agent_id": "coder"}, 5)
	expect(t, fams, "agent_tool_calls_total", map[string]string{"agent_id": "coder"}, 5)
	expect(t, fams, "agent_llm_calls_total", map[string]string{"agent_id": "coder-service"}, 0)
	expect(t, fams, "agent_reasoning_steps", map[string]string{"agent_id": "coder"}, 5)
	if h := fams["agent_request_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleSum() < 10 {
		t.Errorf("run duration %v s, want >= 10", h.GetSampleSum())
	}
}

// otlpSpan is one span sent as raw OTLP (to control batches exactly).
type otlpSpan struct {
	id, parent byte
	name       string
	attrs      map[string]any
}

func exportSpans(t *testing.T, client ptraceotlp.GRPCClient, traceID byte, service string, spans ...otlpSpan) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for _, sp := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{traceID, 0xe2})
		s.SetSpanID(pcommon.SpanID{sp.id, 0xe2})
		if sp.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{sp.parent, 0xe2})
		}
		s.SetName(sp.name)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		if err := s.Attributes().FromRaw(sp.attrs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		t.Fatal(err)
	}
}

func otlpClient(t *testing.T, endpoint string) ptraceotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

var (
	oiLLM   = map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 100, "llm.token_count.completion": 10}
	oiTool  = map[string]any{"openinference.span.kind": "TOOL", "tool.name": "lookup_order"}
	oiChain = map[string]any{"openinference.span.kind": "CHAIN"}
)

// The normal export order: a LangChain/OpenInference run whose CHAIN root
// arrives in a later batch, past the grace period, than its LLM and tool
// spans; and a sub-agent arriving past the grace before its outer agent.
// Also: a run that names no agent anywhere is under service.name on every
// series, and an LLM span under an LLM span counts once.
func TestLateRootsThroughTheBinary(t *testing.T) {
	ports, _ := startDefault(t, map[string]string{"OTELCOL_AGENT_RUN_GRACE": "2s"})
	client := otlpClient(t, ports.OTLPGRPC)
	// Trace 1: CHAIN root later. Trace 2: sub-agent long before the outer.
	exportSpans(t, client, 1, "chain-service",
		otlpSpan{3, 2, "ChatOpenAI.provider", oiLLM}, otlpSpan{2, 1, "ChatOpenAI", oiLLM}, otlpSpan{4, 1, "lookup_order", oiTool})
	exportSpans(t, client, 2, "agents-service",
		otlpSpan{3, 2, "chat", map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 7}},
		otlpSpan{2, 1, "invoke_agent sub", map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "sub"}})
	time.Sleep(5 * time.Second) // > grace, several flushes
	exportSpans(t, client, 1, "chain-service", otlpSpan{1, 0, "RunnableSequence", oiChain})
	exportSpans(t, client, 2, "agents-service", otlpSpan{1, 0, "invoke_agent outer", map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "outer"}})
	fams := waitMetrics(t, ports.Prometheus, 30*time.Second, func(f map[string]*dto.MetricFamily) error {
		if n := sumOf(f, "agent_requests_total", nil); n != 2 {
			return fmt.Errorf("agent_requests_total %v, want 2", n)
		}
		return nil
	})
	svc := map[string]string{"agent_id": "chain-service"}
	for _, m := range []string{"agent_requests_total", "agent_llm_calls_total", "agent_tool_calls_total", "agent_invocations_total", "agent_tasks_total"} {
		expect(t, fams, m, svc, 1)
	}
	expect(t, fams, "agent_tokens_consumed_total", map[string]string{"agent_id": "chain-service", "direction": "input"}, 100)
	expect(t, fams, "agent_requests_total", map[string]string{"agent_id": "outer"}, 1)
	expect(t, fams, "agent_requests_total", map[string]string{"agent_id": "sub"}, 0)
	expect(t, fams, "agent_invocations_total", map[string]string{"agent_id": "sub", "caller_agent_id": "outer"}, 1)
	expect(t, fams, "agent_llm_calls_total", map[string]string{"agent_id": "sub"}, 1)
	expect(t, fams, "agent_llm_calls_total", nil, 2)
}

// A restart does not drop runs in flight: a complete run still in its
// grace period and a run whose root has not come are decided at shutdown
// and reach the metrics exporter (a file, read after the process ends).
func TestShutdownKeepsRunsInFlightThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	metricsFile := filepath.Join(dir, "metrics.jsonl")
	overlay := filepath.Join(dir, "metrics-file.yaml")
	if err := os.WriteFile(overlay, []byte(fmt.Sprintf(`exporters:
  file/metrics:
    path: %s
service:
  pipelines:
    metrics:
      exporters: [prometheus, file/metrics]
`, metricsFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	ports, col := startDefault(t, map[string]string{"OTELCOL_AGENT_METRICS_FLUSH": "1h", "OTELCOL_AGENT_RUN_GRACE": "1m"}, overlay)
	client := otlpClient(t, ports.OTLPGRPC)
	exportSpans(t, client, 1, "svc",
		otlpSpan{2, 1, "chat", map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5}},
		otlpSpan{1, 0, "invoke_agent a", map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}})
	exportSpans(t, client, 2, "svc",
		otlpSpan{2, 1, "chat", map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5}})
	time.Sleep(time.Second) // past the batch processor
	if err := col.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, col.Output())
	}
	data, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	var u pmetric.JSONUnmarshaler
	for sc.Scan() {
		md, err := u.UnmarshalMetrics(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Type() != pmetric.MetricTypeSum {
						continue
					}
					for _, dp := range m.Sum().DataPoints().All() {
						agent, _ := dp.Attributes().Get("agent_id")
						sums[m.Name()+"/"+agent.Str()] = float64(dp.IntValue()) // cumulative: the last wins
					}
				}
			}
		}
	}
	if sums["agent_requests_total/a"] != 1 || sums["agent_llm_calls_total/a"] != 1 || sums["agent_llm_calls_total/svc"] != 1 {
		t.Fatalf("metrics written at shutdown: %v", sums)
	}
}
