package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

const secretPrompt = "my card number is 4111-1111-1111-1111"

// sendAgentRun sends one GenAI-semconv agent run (agent, chat with prompt
// content, tool) over OTLP gRPC and returns its trace id.
func sendAgentRun(t *testing.T, endpoint string) trace.TraceID {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "e2e-agent"))))
	tr := tp.Tracer("e2e")
	ctx, run := tr.Start(ctx, "invoke_agent support_bot", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", "support_bot")))
	_, chat := tr.Start(ctx, "chat gpt-4o-mini", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o-mini"),
		attribute.Int("gen_ai.usage.input_tokens", 1000), attribute.Int("gen_ai.usage.output_tokens", 100),
		attribute.String("gen_ai.input.messages", secretPrompt)))
	chat.End()
	_, tool := tr.Start(ctx, "execute_tool lookup_order", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", "lookup_order")))
	tool.End()
	run.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return run.SpanContext().TraceID()
}

// spansOfTrace returns the spans of one trace in an OTLP/JSON file, by name,
// and the file's bytes.
func spansOfTrace(path string, id trace.TraceID) (map[string]ptrace.Span, []byte, error) {
	spans, data, err := fileSpans(path)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]ptrace.Span{}
	for _, s := range spans {
		if [16]byte(s.TraceID()) == [16]byte(id) {
			out[s.Name()] = s
		}
	}
	return out, data, nil
}

func waitSpans(t *testing.T, path string, id trace.TraceID, n int) (map[string]ptrace.Span, []byte) {
	t.Helper()
	var spans map[string]ptrace.Span
	var raw []byte
	e2etest.Eventually(t, 20*time.Second, func(context.Context) error {
		var err error
		spans, raw, err = spansOfTrace(path, id)
		if err != nil {
			return err
		}
		if len(spans) < n {
			return fmt.Errorf("%s has %d spans of trace %s, want %d", path, len(spans), id, n)
		}
		return nil
	})
	return spans, raw
}

func attr(s ptrace.Span, k string) string {
	if v, ok := s.Attributes().Get(k); ok {
		return v.AsString()
	}
	return ""
}

func TestDefaultPipelineCanonicalisesAndRedacts(t *testing.T) {
	ports := e2etest.NewPorts(t)
	traceFile := filepath.Join(t.TempDir(), "traces.jsonl")
	env := ports.Env()
	env["OTELCOL_AGENT_TRACE_FILE"] = traceFile
	e2etest.Start(t, []string{"config/default.yaml"}, env, ports.Health)

	id := sendAgentRun(t, ports.OTLPGRPC)
	spans, raw := waitSpans(t, traceFile, id, 3)
	if strings.Contains(string(raw), "4111") {
		t.Fatal("prompt content reached the trace file")
	}
	chat := spans["chat gpt-4o-mini"]
	for k, want := range map[string]string{
		"agent.span.kind": "llm", "agent.model.name": "gpt-4o-mini",
		"agent.llm.tokens.input": "1000", "agent.llm.tokens.output": "100", "agent.llm.cost_usd": "0.00021",
	} {
		if got := attr(chat, k); got != want {
			t.Errorf("chat span %s = %q, want %q", k, got, want)
		}
	}
	if got := attr(spans["execute_tool lookup_order"], "agent.tool.status"); got != "success" {
		t.Errorf("tool status %q", got)
	}
	if got := attr(spans["invoke_agent support_bot"], "agent.span.kind"); got != "run" {
		t.Errorf("run kind %q", got)
	}
	// The run span names its agent; which agent made a call is decided on
	// the whole trace by the connector, never copied within a batch.
	if got := attr(spans["invoke_agent support_bot"], "agent.agent.id"); got != "support_bot" {
		t.Errorf("run agent id %q", got)
	}
	if got := attr(chat, "agent.agent.id"); got != "" {
		t.Errorf("chat span carries agent id %q copied from its batch", got)
	}
}

func TestAuditConfigKeepsContentOnlyInTheAuditFile(t *testing.T) {
	ports := e2etest.NewPorts(t)
	dir := t.TempDir()
	traceFile, auditFile := filepath.Join(dir, "traces.jsonl"), filepath.Join(dir, "audit.jsonl")
	env := ports.Env()
	env["OTELCOL_AGENT_TRACE_FILE"] = traceFile
	env["OTELCOL_AGENT_AUDIT_FILE"] = auditFile
	env["OTELCOL_AGENT_FORWARD_ENDPOINT"] = ports.Spare // nothing listens: the forward just retries
	e2etest.Start(t, []string{"config/audit-content.yaml"}, env, ports.Health)

	id := sendAgentRun(t, ports.OTLPGRPC)
	_, redacted := waitSpans(t, traceFile, id, 3)
	audit, _ := waitSpans(t, auditFile, id, 3)
	if strings.Contains(string(redacted), "4111") {
		t.Fatal("content in the redacted trace file")
	}
	if got := attr(audit["chat gpt-4o-mini"], "gen_ai.input.messages"); got != secretPrompt {
		t.Fatalf("audit copy lost the content: %q", got)
	}
}
