package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// secrets are what the gateway and edge configs read from files: a
// certificate made by the test, and a token written next to it.
type secrets struct {
	cert      e2etest.TestCert
	token     string
	tokenFile string
}

func newSecrets(t *testing.T, token string) secrets {
	t.Helper()
	s := secrets{cert: e2etest.NewTestCert(t), token: token, tokenFile: filepath.Join(t.TempDir(), "token")}
	if err := os.WriteFile(s.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// serverEnv: the receiver side of config/gateway.yaml and config/edge.yaml.
func (s secrets) serverEnv(env map[string]string) map[string]string {
	env["OTELCOL_AGENT_TLS_CERT_FILE"] = s.cert.CertFile
	env["OTELCOL_AGENT_TLS_KEY_FILE"] = s.cert.KeyFile
	env["OTELCOL_AGENT_TOKEN_FILE"] = s.tokenFile
	return env
}

// gatewayEnv is config/gateway.yaml's environment for one test gateway on
// p: its secrets, an instance id, its own queue directory, and the
// backend it forwards to on p.Spare (nothing listens there unless the test
// starts one).
func (s secrets) gatewayEnv(t *testing.T, p e2etest.Ports, instance string) map[string]string {
	env := s.serverEnv(p.Env())
	env["OTELCOL_AGENT_INSTANCE_ID"] = instance
	env["OTELCOL_AGENT_FORWARD_ENDPOINT"] = p.Spare
	env["OTELCOL_AGENT_QUEUE_DIR"] = t.TempDir()
	return env
}

func (s secrets) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.cert.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// The gateway (and the edge, the same receiver settings) take OTLP only
// over TLS and only with the right bearer token, on gRPC and HTTP; the
// loopback default stays open.
func TestGatewayRefusesWithoutTLSAndToken(t *testing.T) {
	sec := newSecrets(t, "s3cr3t-token-for-tests")
	p := e2etest.NewPorts(t)
	env := sec.gatewayEnv(t, p, "gw-auth")
	e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)

	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID([16]byte{1, 2, 3})
	span.SetSpanID([8]byte{1})
	span.SetName("invoke_agent auth_bot")
	span.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
	span.Attributes().PutStr("gen_ai.agent.name", "auth_bot")
	req := ptraceotlp.NewExportRequestFromTraces(td)

	export := func(creds credentials.TransportCredentials, token string) error {
		conn, err := grpc.NewClient(p.OTLPGRPC, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, req)
		return err
	}
	tlsCreds := credentials.NewTLS(sec.clientTLS(t))
	if err := export(insecure.NewCredentials(), sec.token); err == nil {
		t.Error("gRPC in plaintext with the right token was accepted")
	}
	for name, token := range map[string]string{"no token": "", "a wrong token": "not-the-token"} {
		err := export(tlsCreds, token)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC over TLS with %s: %v, want Unauthenticated", name, err)
		}
	}
	if err := export(tlsCreds, sec.token); err != nil {
		t.Fatalf("gRPC over TLS with the right token: %v", err)
	}

	body, _ := req.MarshalProto()
	httpsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: sec.clientTLS(t)}}
	post := func(client *http.Client, scheme, token string) (int, error) {
		r, _ := http.NewRequest(http.MethodPost, scheme+"://"+p.OTLPHTTP+"/v1/traces", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/x-protobuf")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(r)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post(&http.Client{Timeout: 5 * time.Second}, "http", sec.token); err == nil && code == http.StatusOK {
		t.Error("OTLP/HTTP in plaintext with the right token was accepted")
	}
	for name, token := range map[string]string{"no token": "", "a wrong token": "not-the-token"} {
		if code, err := post(httpsClient, "https", token); err != nil || code != http.StatusUnauthorized {
			t.Errorf("OTLP/HTTP over TLS with %s: %d %v, want 401", name, code, err)
		}
	}
	if code, err := post(httpsClient, "https", sec.token); err != nil || code != http.StatusOK {
		t.Fatalf("OTLP/HTTP over TLS with the right token: %d %v", code, err)
	}

	// What was accepted is counted: the two runs sent with the token.
	waitMetrics(t, p.Prometheus, 30*time.Second, func(f map[string]*dto.MetricFamily) error {
		if n := sumOf(f, "agent_requests_total", map[string]string{"agent_id": "auth_bot"}); n != 1 {
			// Both requests carry the same span (one trace): one run.
			return fmt.Errorf("agent_requests_total %v, want 1", n)
		}
		return nil
	})
}

// tracerOptions make an SDK exporter to a TLS + token receiver.
func (s secrets) tracerOptions(t *testing.T) []otlptracegrpc.Option {
	return []otlptracegrpc.Option{otlptracegrpc.WithTLSCredentials(credentials.NewTLS(s.clientTLS(t))),
		otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + s.token})}
}

// Mutual TLS, optional, on the same receivers: with a client CA set, a
// client without a certificate is refused even with the right token; one
// with a certificate the CA signed is accepted.
func TestGatewayRequiresClientCertificatesWhenAsked(t *testing.T) {
	sec := newSecrets(t, "mtls-token")
	p := e2etest.NewPorts(t)
	env := sec.gatewayEnv(t, p, "gw-mtls")
	env["OTELCOL_AGENT_TLS_CLIENT_CA_FILE"] = sec.cert.CAFile
	e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("x")
	req := ptraceotlp.NewExportRequestFromTraces(td)
	export := func(cfg *tls.Config) error {
		conn, err := grpc.NewClient(p.OTLPGRPC, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+sec.token), 5*time.Second)
		defer cancel()
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, req)
		return err
	}
	if err := export(sec.clientTLS(t)); err == nil {
		t.Error("no client certificate, mTLS required: accepted")
	}
	withCert := sec.clientTLS(t)
	pair, err := tls.LoadX509KeyPair(sec.cert.CertFile, sec.cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	withCert.Certificates = []tls.Certificate{pair}
	if err := export(withCert); err != nil {
		t.Fatalf("client certificate signed by the CA, right token: %v", err)
	}
}
