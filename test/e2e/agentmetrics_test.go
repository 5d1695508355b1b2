package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// The metric contract: names and label sets as a Prometheus user sees them.
var contract = map[string][]string{
	"agent_requests_total":           {"agent_id", "status"},
	"agent_request_duration_seconds": {"agent_id"},
	"agent_invocations_total":        {"agent_id", "status"},
	"agent_llm_calls_total":          {"agent_id", "model", "status"},
	"agent_tokens_consumed_total":    {"agent_id", "direction", "model"},
	"agent_model_latency_seconds":    {"agent_id", "model"},
	"agent_cost_usd_total":           {"agent_id", "model"},
	"agent_tool_calls_total":         {"agent_id", "status", "tool_name"},
	"agent_tool_duration_seconds":    {"agent_id", "tool_name"},
	"agent_reasoning_steps":          {"agent_id"},
	"agent_tool_calls_per_run":       {"agent_id"},
	"agent_tool_selection_ratio":     {"agent_id", "tool_name"},
	"agent_tasks_total":              {"agent_id", "outcome", "task_type"},
	"agent_run_cost_usd":             {"agent_id"},
}

// Labels every series carries besides its own: the collector instance
// (job/instance from the connector's resource) and the instrumentation scope.
var ambient = map[string]bool{"job": true, "instance": true, "otel_scope_name": true, "otel_scope_version": true, "otel_scope_schema_url": true}

func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(string(body)))
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func sumWhere(fam *dto.MetricFamily, want map[string]string) float64 {
	total := 0.0
	for _, m := range fam.GetMetric() {
		l := labelsOf(m)
		ok := true
		for k, v := range want {
			if l[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Histogram != nil:
			total += m.GetHistogram().GetSampleSum()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		}
	}
	return total
}

func TestAgentMetricsThroughTheBinary(t *testing.T) {
	ports := e2etest.NewPorts(t)
	env := ports.Env()
	env["OTELCOL_AGENT_TRACE_FILE"] = filepath.Join(t.TempDir(), "traces.jsonl")
	env["OTELCOL_AGENT_METRICS_FLUSH"] = "1s"
	e2etest.Start(t, []string{"config/default.yaml"}, env, ports.Health)

	conn, err := grpc.NewClient(ports.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	for _, td := range agenttest.Load(t, "otel-genai.otlp.jsonl") {
		if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatal(err)
		}
	}

	var fams map[string]*dto.MetricFamily
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		fams, err = scrape(ports.Prometheus)
		if err != nil {
			return err
		}
		fam := fams["agent_requests_total"]
		if fam == nil || sumWhere(fam, map[string]string{"agent_id": "support_bot"}) != 10 {
			return fmt.Errorf("agent_requests_total not yet 10")
		}
		return nil
	})
	for name, labels := range contract {
		fam := fams[name]
		if fam == nil {
			t.Errorf("metric %s missing from /metrics", name)
			continue
		}
		for _, m := range fam.GetMetric() {
			var got []string
			for k := range labelsOf(m) {
				if !ambient[k] {
					got = append(got, k)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(labels, ",") {
				t.Errorf("%s labels %v, want %v", name, got, labels)
			}
		}
	}
	sb := map[string]string{"agent_id": "support_bot"}
	checks := []struct {
		name string
		want map[string]string
		val  float64
	}{
		{"agent_requests_total", map[string]string{"agent_id": "support_bot", "status": "success"}, 10},
		{"agent_llm_calls_total", map[string]string{"agent_id": "support_bot", "model": "gpt-4o-mini"}, 30},
		{"agent_tokens_consumed_total", map[string]string{"agent_id": "support_bot", "direction": "input"}, 3900},
		{"agent_tokens_consumed_total", map[string]string{"agent_id": "support_bot", "direction": "output"}, 600},
		{"agent_tool_calls_total", map[string]string{"agent_id": "support_bot", "tool_name": "lookup_order", "status": "failure"}, 2},
		{"agent_tool_calls_total", sb, 20},
		{"agent_reasoning_steps", sb, 30},
		{"agent_tool_calls_per_run", sb, 20},
	}
	for _, c := range checks {
		if got := sumWhere(fams[c.name], c.want); got != c.val {
			t.Errorf("%s%v = %v, want %v", c.name, c.want, got, c.val)
		}
	}
	if n := fams["agent_reasoning_steps"].GetMetric()[0].GetHistogram().GetSampleCount(); n != 10 {
		t.Errorf("agent_reasoning_steps count %d, want 10", n)
	}
}
