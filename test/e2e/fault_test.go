package e2e

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// countingSink is an OTLP gRPC trace backend that counts every span id it
// receives, so lost and duplicated spans both show.
type countingSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	seen map[pcommon.SpanID]int
}

func (s *countingSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.Traces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.seen[sp.SpanID()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *countingSink) counts(sent map[pcommon.SpanID]bool) (delivered, duplicated, foreign int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, n := range s.seen {
		if !sent[id] {
			foreign++
			continue
		}
		delivered++
		duplicated += n - 1
	}
	return delivered, duplicated, foreign
}

func startCountingSink(t *testing.T, addr string) *countingSink {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	sink := &countingSink{seen: map[pcommon.SpanID]int{}}
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sink
}

// faultBatch is one export request: runs of an agent (a run span, a chat
// and a tool call each), with span ids numbered from first.
func faultBatch(runs, first int) (ptraceotlp.ExportRequest, []pcommon.SpanID) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "fault-agent")
	ss := rs.ScopeSpans().AppendEmpty()
	var ids []pcommon.SpanID
	now := time.Now()
	for r := range runs {
		n := first + 3*r
		trace := pcommon.TraceID{0xfa, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		id := func(k int) pcommon.SpanID {
			v := n + k
			return pcommon.SpanID{0xfa, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		}
		mk := func(k int, name string, parent pcommon.SpanID, attrs map[string]any) {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(trace)
			s.SetSpanID(id(k))
			s.SetParentSpanID(parent)
			s.SetName(name)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(10*(3-k)) * time.Millisecond)))
			_ = s.Attributes().FromRaw(attrs)
			ids = append(ids, id(k))
		}
		mk(1, "chat gpt-4o-mini", id(0), map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
			"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10})
		mk(2, "execute_tool lookup_order", id(0), map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"})
		mk(0, "invoke_agent fault_bot", pcommon.SpanID{}, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "fault_bot"})
	}
	return ptraceotlp.NewExportRequestFromTraces(td), ids
}

// exportUntilAccepted sends req as an SDK does: a retryable refusal or a
// gateway that is down is retried (the exporter's own backoff, shortened)
// until the request is acknowledged.
func exportUntilAccepted(ctx context.Context, t *testing.T, dial func() (*grpc.ClientConn, error), req ptraceotlp.ExportRequest, token string) (retries int) {
	for {
		conn, err := dial()
		if err == nil {
			cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), 5*time.Second)
			_, err = ptraceotlp.NewGRPCClient(conn).Export(cctx, req)
			cancel()
			conn.Close()
			if err == nil {
				return retries
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.ResourceExhausted && c != codes.DeadlineExceeded && c != codes.Canceled {
				t.Fatalf("export refused with a non-retryable error: %v", err)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("gave up retrying: %v", err)
		}
		retries++
		time.Sleep(200 * time.Millisecond)
	}
}

// The gateway under faults, as config/gateway.yaml ships it (TLS and a
// token on the receiver, the persistent queue and the connector's
// checkpoint under the data directory): the backend is down for the first
// 60 s; after a third of the load the gateway is restarted gracefully, and
// in the middle of the rest it is killed with SIGKILL while a sender keeps
// sending (and retrying, as SDKs do), and started again on the same data
// directory. Every span acknowledged arrives, none twice; the runs counted
// go on across the graceful restart without a reset, and after the kill
// the loss is what the connector reports.
func TestGatewayLosesNothingWhenKilledWithTheBackendDown(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about two minutes")
	}
	sec := newSecrets(t, "fault-token")
	p := e2etest.NewPorts(t)
	env := sec.gatewayEnv(t, p, "gw-fault") // the backend on p.Spare: down for now
	env["OTELCOL_AGENT_CHECKPOINT_INTERVAL"] = "5s"
	backendUp := time.Now().Add(60 * time.Second)
	gw := e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)

	creds := credentials.NewTLS(sec.clientTLS(t))
	dial := func() (*grpc.ClientConn, error) {
		return grpc.NewClient(p.OTLPGRPC, grpc.WithTransportCredentials(creds))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	runs := func() float64 {
		fams, err := scrape(p.Prometheus)
		if err != nil || fams["agent_requests_total"] == nil {
			return -1 // down, or not flushed yet since a start
		}
		return sumOf(fams, "agent_requests_total", map[string]string{"agent_id": "fault_bot"})
	}

	const requests, runsPerRequest = 60, 50 // 3,000 runs, 9,000 spans
	sent := map[pcommon.SpanID]bool{}
	var mu sync.Mutex
	retries := 0
	send := func(from, to int, pace time.Duration, progress chan<- int) {
		for i := from; i < to; i++ {
			req, ids := faultBatch(runsPerRequest, i*runsPerRequest*3)
			n := exportUntilAccepted(ctx, t, dial, req, sec.token)
			mu.Lock()
			retries += n
			for _, id := range ids {
				sent[id] = true
			}
			mu.Unlock()
			if progress != nil {
				progress <- i
			}
			time.Sleep(pace)
		}
	}

	// A third, counted, then a graceful restart: the count goes on.
	send(0, requests/3, 100*time.Millisecond, nil)
	first := float64(requests / 3 * runsPerRequest)
	e2etest.Eventually(t, 40*time.Second, func(context.Context) error {
		if n := runs(); n != first {
			return fmt.Errorf("runs counted %v, want %v", n, first)
		}
		return nil
	})
	if err := gw.Stop(30 * time.Second); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	gw = e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)
	var afterRestart float64
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		if afterRestart = runs(); afterRestart < 0 {
			return fmt.Errorf("no agent_requests_total yet")
		}
		return nil
	})
	if afterRestart != first {
		t.Errorf("runs counted after a graceful restart %v, want %v: the counter reset", afterRestart, first)
	}

	// The rest, with a SIGKILL in the middle while the sender goes on.
	progress := make(chan int, requests)
	done := make(chan struct{})
	// 600 ms apart: the kill comes about 12 s after the restart, after a
	// flush and a periodic checkpoint (5 s here) of the new process.
	go func() { defer close(done); send(requests/3, requests, 600*time.Millisecond, progress) }()
	var beforeKill float64
	for i := range progress {
		if i == 2*requests/3 {
			beforeKill = runs()
			gw.Kill()
			time.Sleep(time.Second) // the sender meets a dead gateway and retries
			gw = e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)
			break
		}
	}
	<-done // progress is buffered for every request: the sender never waits on it
	afterKill := runs()

	time.Sleep(time.Until(backendUp))
	sink := startCountingSink(t, p.Spare)
	var delivered, duplicated, foreign int
	e2etest.Eventually(t, 90*time.Second, func(context.Context) error {
		delivered, duplicated, foreign = sink.counts(sent)
		if delivered < len(sent) {
			return fmt.Errorf("%d of %d spans delivered", delivered, len(sent))
		}
		return nil
	})
	time.Sleep(2 * time.Second) // anything sent twice would be in by now
	delivered, duplicated, foreign = sink.counts(sent)
	final := runs()
	lost := 0.0
	if fams, err := scrape(p.Telemetry); err == nil {
		lost = sumOf(fams, "otelcol_connector_agentmetrics_checkpoint_lost_seconds", nil)
	}
	t.Logf("fault suite: spans sent %d (acknowledged), delivered %d, duplicated %d, unknown %d; sender retries %d", len(sent), delivered, duplicated, foreign, retries)
	t.Logf("fault suite: runs sent %d; counted %v before the graceful restart, %v after it; %v before SIGKILL, %v after it, %v at the end; checkpoint loss reported %.1f s",
		requests*runsPerRequest, first, afterRestart, beforeKill, afterKill, final, lost)
	if delivered != len(sent) || duplicated != 0 || foreign != 0 {
		t.Fatalf("spans sent %d, delivered %d, duplicated %d, unknown %d", len(sent), delivered, duplicated, foreign)
	}
	if retries == 0 {
		t.Error("the sender never met the killed gateway: the kill was not mid-load")
	}
	if beforeKill <= first || afterKill < first || final > float64(requests*runsPerRequest) {
		t.Errorf("runs %v before the kill, %v after it (the %v counted before the graceful restart must stay), %v at the end (of %d sent)",
			beforeKill, afterKill, first, final, requests*runsPerRequest)
	}
	if final < float64(requests*runsPerRequest) && lost <= 0 {
		t.Errorf("%v runs of %d counted in the end, and no loss reported", final, requests*runsPerRequest)
	}
}

// A full persistent queue refuses new data with a retryable error (the
// sender backs off), never a silent drop: what was refused is retried and
// arrives once the backend is back; what was accepted arrives too.
func TestGatewayFullQueueRefusesWithARetryableError(t *testing.T) {
	sec := newSecrets(t, "queue-token")
	p := e2etest.NewPorts(t)
	env := sec.gatewayEnv(t, p, "gw-full")
	env["OTELCOL_AGENT_QUEUE_SIZE"] = "10"
	e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)
	creds := credentials.NewTLS(sec.clientTLS(t))
	conn, err := grpc.NewClient(p.OTLPGRPC, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+sec.token)
	sent := map[pcommon.SpanID]bool{}
	var refused []ptraceotlp.ExportRequest
	for i := range 40 {
		req, ids := faultBatch(1, i*3)
		if _, err := client.Export(ctx, req); err != nil {
			if c := status.Code(err); c != codes.Unavailable && c != codes.ResourceExhausted {
				t.Fatalf("a full queue refused with %v, want a retryable code", err)
			}
			refused = append(refused, req)
		}
		for _, id := range ids {
			sent[id] = true
		}
	}
	if len(refused) == 0 {
		t.Fatal("40 requests into a queue of 10 with the backend down: none refused")
	}
	t.Logf("queue of 10 requests, backend down: %d of 40 requests refused with a retryable error", len(refused))
	sink := startCountingSink(t, p.Spare)
	dial := func() (*grpc.ClientConn, error) {
		return grpc.NewClient(p.OTLPGRPC, grpc.WithTransportCredentials(creds))
	}
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, req := range refused {
		exportUntilAccepted(rctx, t, dial, req, sec.token)
	}
	e2etest.Eventually(t, 60*time.Second, func(context.Context) error {
		if d, dup, _ := sink.counts(sent); d != len(sent) || dup != 0 {
			return fmt.Errorf("delivered %d of %d, %d twice", d, len(sent), dup)
		}
		return nil
	})
}
