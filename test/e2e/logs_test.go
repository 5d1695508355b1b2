package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// logSecret marks prompt content in the logs the tests send; it must be
// in no file and no store.
const logSecret = "SECRET-PROMPT-card-4111"

// contentLogs is one log of each way content reaches logs: a GenAI message
// event with the prompt in its body (semconv 1.28-1.36), a GenAI
// operation-details event with it in attributes (1.37+), and an ordinary
// log line with a content attribute. marker is in every record's body or
// attributes so the test can find them; traceID/spanID give them context.
func contentLogs(service, marker string, traceID pcommon.TraceID, spanID pcommon.SpanID) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := pcommon.NewTimestampFromTime(time.Now())
	add := func() plog.LogRecord {
		lr := recs.AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetObservedTimestamp(now)
		lr.SetTraceID(traceID)
		lr.SetSpanID(spanID)
		lr.Attributes().PutStr("test.marker", marker)
		return lr
	}
	msg := add()
	msg.Attributes().PutStr("event.name", "gen_ai.user.message")
	msg.Body().SetEmptyMap().PutStr("content", logSecret)
	det := add()
	det.SetEventName("gen_ai.client.inference.operation.details")
	det.Body().SetStr("inference details")
	det.Attributes().PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"`+logSecret+`"}]}]`)
	line := add()
	line.SetSeverityText("ERROR")
	line.Body().SetStr("tool fetch_order timed out after 30s " + marker)
	line.Attributes().PutStr("gen_ai.tool.call.arguments", `{"card":"`+logSecret+`"}`)
	return ld
}

func post(url, contentType string, body []byte) (int, string, error) {
	return postWith(http.DefaultClient, "", url, contentType, body)
}

// postWith is post through client, with a bearer token when one is given.
func postWith(client *http.Client, token, url, contentType string, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// logFileRecords reads a file exporter's OTLP/JSON log file.
func logFileRecords(path string) ([]plog.LogRecord, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var out []plog.LogRecord
	var u plog.JSONUnmarshaler
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ld, err := u.UnmarshalLogs(line)
		if err != nil {
			return nil, nil, err
		}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, lr)
				}
			}
		}
	}
	return out, data, nil
}

func markerOf(lr plog.LogRecord) string {
	v, _ := lr.Attributes().Get("test.marker")
	return v.AsString()
}

// Every shipped configuration takes OTLP logs over HTTP (protobuf and JSON)
// and gRPC; a malformed payload gets the receiver's 400 and does not stop
// traces. Where the config writes a log file, the records are there with
// no prompt content.
func TestLogsAcceptedOnEveryShippedConfig(t *testing.T) {
	for _, cfg := range []string{"default", "gateway", "edge", "audit-content"} {
		t.Run(cfg, func(t *testing.T) {
			ports := e2etest.NewPorts(t)
			dir := t.TempDir()
			env := collectorEnv(t, ports, map[string]string{
				"OTELCOL_AGENT_LOG_FILE":         filepath.Join(dir, "logs.jsonl"),
				"OTELCOL_AGENT_QUEUE_DIR":        dir,
				"OTELCOL_AGENT_FORWARD_ENDPOINT": ports.Spare, // nothing listens: queued, retried
				"OTELCOL_AGENT_GATEWAYS":         "[" + ports.Spare + "]",
				"OTELCOL_AGENT_AUDIT_FILE":       filepath.Join(dir, "audit.jsonl"),
				"OTELCOL_AGENT_AUDIT_LOG_FILE":   filepath.Join(dir, "audit-logs.jsonl"),
			})
			// The gateway and the edge take TLS and a token only.
			scheme, client, token := "http", http.DefaultClient, ""
			var grpcOpts []otlploggrpc.Option
			if cfg == "gateway" || cfg == "edge" {
				sec := newSecrets(t, "logs-token")
				env = sec.serverEnv(env)
				env["OTELCOL_AGENT_GATEWAY_CA_FILE"] = sec.cert.CAFile
				env["OTELCOL_AGENT_GATEWAY_TOKEN_FILE"] = sec.tokenFile
				scheme, token = "https", sec.token
				client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: sec.clientTLS(t)}}
				grpcOpts = []otlploggrpc.Option{otlploggrpc.WithTLSCredentials(credentials.NewTLS(sec.clientTLS(t))),
					otlploggrpc.WithHeaders(map[string]string{"authorization": "Bearer " + sec.token})}
			}
			post := func(url, ct string, body []byte) (int, string, error) { return postWith(client, token, url, ct, body) }
			e2etest.Start(t, []string{"config/" + cfg + ".yaml"}, env, ports.Health)
			url := scheme + "://" + ports.OTLPHTTP + "/v1/logs"
			tid := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
			sid := pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8}

			pb, err := (&plog.ProtoMarshaler{}).MarshalLogs(contentLogs("logs-e2e", "via-http-proto", tid, sid))
			if err != nil {
				t.Fatal(err)
			}
			if code, body, err := post(url, "application/x-protobuf", pb); err != nil || code != http.StatusOK {
				t.Fatalf("POST /v1/logs protobuf: %d %s %v", code, body, err)
			}
			js, err := (&plog.JSONMarshaler{}).MarshalLogs(contentLogs("logs-e2e", "via-http-json", tid, sid))
			if err != nil {
				t.Fatal(err)
			}
			if code, body, err := post(url, "application/json", js); err != nil || code != http.StatusOK {
				t.Fatalf("POST /v1/logs JSON: %d %s %v", code, body, err)
			}
			sendSDKLogs(t, ports.OTLPGRPC, "via-grpc", grpcOpts...)

			for _, bad := range []struct{ ct, body string }{
				{"application/x-protobuf", "\xff\xff\xff\x0fnot protobuf"},
				{"application/json", `{"resourceLogs": [{"scopeLogs": [`},
			} {
				code, body, err := post(url, bad.ct, []byte(bad.body))
				if err != nil || code != http.StatusBadRequest {
					t.Errorf("malformed %s: got %d %q %v, want 400", bad.ct, code, body, err)
				}
			}
			// Traces still flow after the bad payloads.
			td := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"logs-e2e"}}]},"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"after-bad-logs","kind":1,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`
			if code, body, err := post(scheme+"://"+ports.OTLPHTTP+"/v1/traces", "application/json", []byte(td)); err != nil || code != http.StatusOK {
				t.Fatalf("traces after malformed logs: %d %s %v", code, body, err)
			}
			if cfg == "edge" {
				return // the edge forwards logs to a gateway and writes none
			}
			var recs []plog.LogRecord
			e2etest.Eventually(t, 20*time.Second, func(context.Context) error {
				var data []byte
				recs, data, err = logFileRecords(env["OTELCOL_AGENT_LOG_FILE"])
				if err != nil {
					return err
				}
				if bytes.Contains(data, []byte(logSecret)) {
					t.Fatalf("prompt content in the log file:\n%s", data)
				}
				seen := map[string]int{}
				for _, lr := range recs {
					seen[markerOf(lr)]++
				}
				if seen["via-http-proto"] != 3 || seen["via-http-json"] != 3 || seen["via-grpc"] != 1 {
					return fmt.Errorf("log file records by way: %v", seen)
				}
				return nil
			})
			for _, lr := range recs {
				if markerOf(lr) == "via-http-proto" && lr.TraceID() != tid {
					t.Errorf("record lost its trace id: %s", lr.TraceID())
				}
			}
			if cfg == "audit-content" {
				e2etest.Eventually(t, 20*time.Second, func(context.Context) error {
					data, err := os.ReadFile(env["OTELCOL_AGENT_AUDIT_LOG_FILE"])
					if err != nil {
						return err
					}
					if !bytes.Contains(data, []byte(logSecret)) {
						return fmt.Errorf("the audit log file lacks the content")
					}
					return nil
				})
			}
		})
	}
}

// sendSDKLogs emits one log line through the OpenTelemetry Go logs SDK over
// OTLP gRPC, as an agent's log bridge does.
func sendSDKLogs(t *testing.T, grpcAddr, marker string, opts ...otlploggrpc.Option) {
	t.Helper()
	ctx := context.Background()
	if len(opts) == 0 {
		opts = []otlploggrpc.Option{otlploggrpc.WithInsecure()}
	}
	exp, err := otlploggrpc.New(ctx, append(opts, otlploggrpc.WithEndpoint(grpcAddr))...)
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "logs-e2e"))))
	var r otellog.Record
	r.SetTimestamp(time.Now())
	r.SetBody(attribute.StringValue("sdk line " + marker))
	r.AddAttributes(attribute.String("test.marker", marker), attribute.String("input.value", logSecret))
	lp.Logger("agent").Emit(ctx, r)
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("logs over gRPC: %v", err)
	}
}
