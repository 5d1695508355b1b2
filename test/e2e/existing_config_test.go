package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// traceSink is an OTLP gRPC trace backend (Tempo's place) that keeps what it
// receives and the authorization each request carried.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	ids  map[string]ptrace.ResourceSpans
	auth map[string]int
}

func (s *traceSink) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range md.Get("authorization") {
		s.auth[a]++
	}
	if len(md.Get("authorization")) == 0 {
		s.auth[""]++
	}
	for _, rs := range req.Traces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.ids[sp.TraceID().String()] = rs
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func startTraceSink(t *testing.T, addr string, cert e2etest.TestCert) *traceSink {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cert.Server)))
	sink := &traceSink{ids: map[string]ptrace.ResourceSpans{}, auth: map[string]int{}}
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sink
}

// remoteWriteSink is a Prometheus remote-write endpoint that keeps the last
// sample of every series it receives.
type remoteWriteSink struct {
	mu     sync.Mutex
	last   map[string]float64 // series key → value
	labels map[string]map[string]string
}

func (s *remoteWriteSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, "snappy: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, "proto: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ts := range req.Timeseries {
		ls := map[string]string{}
		key := ""
		for _, l := range ts.Labels {
			ls[l.Name] = l.Value
			key += l.Name + "=" + l.Value + ","
		}
		for _, smp := range ts.Samples {
			s.last[key] = smp.Value
		}
		s.labels[key] = ls
	}
	w.WriteHeader(http.StatusNoContent)
}

// sum adds the last value of every series of name whose labels include want.
func (s *remoteWriteSink) sum(name string, want map[string]string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0.0
	for key, ls := range s.labels {
		if ls["__name__"] != name {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && ls[k] == v
		}
		if ok {
			total += s.last[key]
		}
	}
	return total
}

// sampledByPolicy returns the ids of the traces the config's tail_sampling
// policies keep: an error span, or longer than 5 s end to end.
func sampledByPolicy(batches []ptrace.Traces) (map[string]bool, int) {
	type span struct{ start, end uint64 }
	first, last := map[string]uint64{}, map[string]uint64{}
	errs := map[string]bool{}
	for _, td := range batches {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					id := sp.TraceID().String()
					st, en := uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())
					if f, ok := first[id]; !ok || st < f {
						first[id] = st
					}
					if en > last[id] {
						last[id] = en
					}
					if sp.Status().Code() == ptrace.StatusCodeError {
						errs[id] = true
					}
				}
			}
		}
	}
	keep := map[string]bool{}
	for id := range first {
		if errs[id] || last[id]-first[id] > uint64(5*time.Second) {
			keep[id] = true
		}
	}
	return keep, len(first)
}

// TestExistingGatewayConfigRuns: a gateway config written the way users run
// them (pod metadata, tail sampling, OTLP to Tempo with OAuth2, Prometheus
// remote write), with our two components added as the README shows, validates
// and runs on loopback: the sampled traces reach the trace backend with the
// OAuth2 token and the cluster stamped, and the agent metrics that reach
// remote write count every run, the unsampled ones too.
func TestExistingGatewayConfigRuns(t *testing.T) {
	cfg := filepath.Join(e2etest.RepoRoot(t), "test/e2e/testdata/existing-gateway.yaml")
	addrs := e2etest.ReserveAddrs(t, 5)
	grpcAddr, httpAddr, health, tempoAddr := addrs[0], addrs[1], addrs[2], addrs[3]

	var tokenRequests int
	var tokenMu sync.Mutex
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || id != "trace-gateway" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		tokenMu.Lock()
		tokenRequests++
		tokenMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-gateway-1", "token_type": "Bearer", "expires_in": 3600})
	}))
	defer tokens.Close()
	rw := &remoteWriteSink{last: map[string]float64{}, labels: map[string]map[string]string{}}
	rwServer := httptest.NewServer(rw)
	defer rwServer.Close()
	// Tempo over TLS: gRPC sends per-RPC OAuth2 credentials only on a
	// secure transport, as any real deployment has.
	cert := e2etest.NewTestCert(t)
	tempo := startTraceSink(t, tempoAddr, cert)

	env := map[string]string{
		"HEALTH_ENDPOINT":     health,
		"OTLP_GRPC_ENDPOINT":  grpcAddr,
		"OTLP_HTTP_ENDPOINT":  httpAddr,
		"CLUSTER_NAME":        "prod-eu-1",
		"OAUTH_CLIENT_SECRET": "s3cret",
		"OAUTH_TOKEN_URL":     tokens.URL + "/oauth2/token",
		"TEMPO_ENDPOINT":      tempoAddr,
		"TEMPO_CA_FILE":       cert.CAFile,
		"REMOTE_WRITE_URL":    rwServer.URL + "/api/v1/write",
	}
	for k, v := range env {
		t.Setenv(k, v) // for validate, which resolves ${env:...} too
	}
	validate := exec.Command(e2etest.Binary(t), "validate", "--config", cfg)
	if out, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("otelcol-agent validate on the existing gateway config: %v\n%s", err, out)
	}
	e2etest.Start(t, []string{cfg}, env, health)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	batches := agenttest.Load(t, "otel-genai.otlp.jsonl")
	for _, td := range batches {
		if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatal(err)
		}
	}
	keep, total := sampledByPolicy(batches)
	if len(keep) == 0 || len(keep) == total {
		t.Fatalf("the fixture does not exercise the sampler: it keeps %d of %d traces", len(keep), total)
	}

	// Agent metrics through remote write: every run, sampled or not.
	e2etest.Eventually(t, 45*time.Second, func(context.Context) error {
		if got := rw.sum("agent_requests_total", map[string]string{"agent_id": "support_bot"}); got != float64(total) {
			return fmt.Errorf("remote write: agent_requests_total{agent_id=support_bot} = %g, want %d (every run, before sampling)", got, total)
		}
		return nil
	})
	// Sampled traces at the trace backend: exactly the policy's, with the
	// OAuth2 token and the cluster the gateway stamps.
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		tempo.mu.Lock()
		defer tempo.mu.Unlock()
		if len(tempo.ids) != len(keep) {
			return fmt.Errorf("trace backend holds %d traces, want the %d the policies keep", len(tempo.ids), len(keep))
		}
		for id := range keep {
			rs, ok := tempo.ids[id]
			if !ok {
				return fmt.Errorf("trace %s (error or slow) was not exported", id)
			}
			if v, _ := rs.Resource().Attributes().Get("k8s.cluster.name"); v.Str() != "prod-eu-1" {
				return fmt.Errorf("trace %s: k8s.cluster.name = %q, want prod-eu-1", id, v.Str())
			}
		}
		if tempo.auth["Bearer tok-gateway-1"] == 0 || len(tempo.auth) != 1 {
			return fmt.Errorf("authorization seen by the trace backend: %v, want only the OAuth2 token", tempo.auth)
		}
		return nil
	})
	tokenMu.Lock()
	defer tokenMu.Unlock()
	if tokenRequests == 0 {
		t.Error("the OAuth2 token endpoint was never asked")
	}
	t.Logf("existing gateway config: %d of %d traces sampled to the backend, agent metrics counted all %d runs; %d token request(s)", len(keep), total, total, tokenRequests)
}
