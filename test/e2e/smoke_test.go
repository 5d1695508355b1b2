// Package e2e holds end-to-end tests that run the built otelcol-agent binary
// on loopback ports.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// sendSpans emits one span named name through a fresh SDK tracer provider
// using exporter, and flushes it.
func sendSpans(t *testing.T, exporter sdktrace.SpanExporter, name string) {
	t.Helper()
	ctx := context.Background()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(exporter),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "smoke-agent"))),
	)
	_, span := tp.Tracer("smoke").Start(ctx, name)
	span.SetAttributes(attribute.String("agent.agent.id", "smoke"))
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("flush %s: %v", name, err)
	}
}

// fileSpans returns every span of an OTLP/JSON trace file written by the
// file exporter, and the file's bytes.
func fileSpans(path string) ([]ptrace.Span, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	batches, err := agenttest.ParseJSONLines(data)
	if err != nil {
		return nil, nil, err
	}
	var spans []ptrace.Span
	for _, td := range batches {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					spans = append(spans, s)
				}
			}
		}
	}
	return spans, data, nil
}

// spanNamesInFile counts the spans of a trace file by name.
func spanNamesInFile(path string) (map[string]int, error) {
	spans, _, err := fileSpans(path)
	if err != nil {
		return nil, err
	}
	names := map[string]int{}
	for _, s := range spans {
		names[s.Name()]++
	}
	return names, nil
}

func TestSmokeDefaultConfig(t *testing.T) {
	ports := e2etest.NewPorts(t)
	traceFile := filepath.Join(t.TempDir(), "traces.jsonl")
	env := ports.Env()
	env["OTELCOL_AGENT_TRACE_FILE"] = traceFile
	col := e2etest.Start(t, []string{"config/default.yaml"}, env, ports.Health)

	ctx := context.Background()
	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(ports.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sendSpans(t, grpcExp, "smoke.grpc")
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(ports.OTLPHTTP), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sendSpans(t, httpExp, "smoke.http")

	e2etest.Eventually(t, 20*time.Second, func(context.Context) error {
		names, err := spanNamesInFile(traceFile)
		if err != nil {
			return err
		}
		if names["smoke.grpc"] != 1 || names["smoke.http"] != 1 {
			return fmt.Errorf("trace file has spans %v, want smoke.grpc and smoke.http once each", names)
		}
		return nil
	})

	resp, err := http.Get("http://" + ports.Prometheus + "/metrics")
	if err != nil {
		t.Fatalf("metrics endpoint: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics endpoint status %d", resp.StatusCode)
	}

	if err := col.Stop(15 * time.Second); err != nil {
		t.Fatalf("collector did not shut down cleanly: %v", err)
	}
	if out := col.Output(); strings.Contains(out, "panic") {
		t.Fatalf("collector log mentions a panic:\n%s", out)
	}
}
