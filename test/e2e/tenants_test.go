package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

// The tenant-cost overlay on the default config, through the binary: the
// recorded OTel GenAI client's traces, sent by two tenants (tenant.id on
// every span of a trace), give each tenant the cost of its own traces, and
// together the whole.
func TestTenantCostThroughTheBinary(t *testing.T) {
	ports, _ := startDefault(t, nil, "config/overlays/tenant-cost.yaml")
	conn, err := grpc.NewClient(ports.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	traces := map[[16]byte]string{}
	for _, td := range agenttest.Load(t, "otel-genai.otlp.jsonl") {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					id := [16]byte(sp.TraceID())
					if _, ok := traces[id]; !ok {
						traces[id] = []string{"acme", "globex"}[len(traces)%2]
					}
					// Per trace, as a baggage span processor sets it.
					sp.Attributes().PutStr("tenant.id", traces[id])
				}
			}
		}
		if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatal(err)
		}
	}
	fams := waitMetrics(t, ports.Prometheus, 30*time.Second, func(f map[string]*dto.MetricFamily) error {
		if got := sumOf(f, "agent_requests_total", nil); got != 10 {
			return fmt.Errorf("agent_requests_total = %v, want 10", got)
		}
		return nil
	})
	total := sumOf(fams, "agent_cost_usd_total", nil)
	acme := sumOf(fams, "agent_tenant_cost_usd_total", map[string]string{"tenant": "acme"})
	globex := sumOf(fams, "agent_tenant_cost_usd_total", map[string]string{"tenant": "globex"})
	if total <= 0 || acme <= 0 || globex <= 0 {
		t.Fatalf("cost: total %v, acme %v, globex %v: want all priced", total, acme, globex)
	}
	if math.Abs(acme+globex-total) > 1e-9*total {
		t.Errorf("tenants add up to %v, agent_cost_usd_total is %v", acme+globex, total)
	}
	in := sumOf(fams, "agent_tokens_consumed_total", map[string]string{"direction": "input"})
	if got := sumOf(fams, "agent_tenant_tokens_total", map[string]string{"direction": "input"}); got != in {
		t.Errorf("tenant input tokens %v, agent input tokens %v", got, in)
	}
	t.Logf("tenant cost through the binary: acme %.6f + globex %.6f = %.6f USD", acme, globex, total)
}
