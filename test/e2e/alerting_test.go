package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/internal/agentsim"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// shortenRules is the documented mechanism (README "Alerting") that lets the
// end-to-end test run the shipped alert rules in seconds: every range and
// `for:` is scaled down; the rules' logic and thresholds stay as shipped.
// The shipped files are never changed (promtool tests cover their timing).
var shortenings = []struct{ from, to string }{
	{"[5m]", "[10s]"}, {"[15m]", "[30s]"}, {"[1h]", "[1m]"}, {"[1d]", "[1m]"},
}

func shortenRules(t *testing.T, dir string) []string {
	t.Helper()
	root := e2etest.RepoRoot(t)
	var out []string
	forRe := regexp.MustCompile(`(?m)^(\s+for:) \d+[smh]$`)
	intervalRe := regexp.MustCompile(`(?m)^(\s+interval:) \d+[smh]$`)
	for _, f := range []string{"agent-recording-rules.yaml", "agent-alert-rules.yaml"} {
		raw, err := os.ReadFile(filepath.Join(root, "config/prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		for _, r := range shortenings {
			s = strings.ReplaceAll(s, r.from, r.to)
		}
		s = forRe.ReplaceAllString(s, "$1 5s")
		s = intervalRe.ReplaceAllString(s, "$1 1s")
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// alertmanagerConfig is the shipped config/alertmanager/alertmanager.yml
// with its secret files written here (Slack and PagerDuty pointed at the
// test's webhook) and notification delays cut to a second.
func alertmanagerConfig(t *testing.T, webhook string) []byte {
	t.Helper()
	root := e2etest.RepoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "config/alertmanager/alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	slackFile, pdFile := filepath.Join(dir, "slack_webhook_url"), filepath.Join(dir, "pagerduty_routing_key")
	os.WriteFile(slackFile, []byte("http://"+webhook+"/slack"), 0o600)
	os.WriteFile(pdFile, []byte("test-routing-key"), 0o600)
	s := strings.ReplaceAll(string(raw), "/etc/alertmanager/secrets/slack_webhook_url", slackFile)
	s = strings.ReplaceAll(s, "/etc/alertmanager/secrets/pagerduty_routing_key", pdFile)
	s = strings.ReplaceAll(s, "/etc/alertmanager/templates/", filepath.Join(root, "config/alertmanager/templates")+"/")
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(s), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["global"].(map[string]any)["pagerduty_url"] = "http://" + webhook + "/pagerduty"
	var fast func(r map[string]any)
	fast = func(r map[string]any) {
		for _, k := range []string{"group_wait", "group_interval"} {
			r[k] = "1s"
		}
		if routes, ok := r["routes"].([]any); ok {
			for _, sub := range routes {
				fast(sub.(map[string]any))
			}
		}
	}
	fast(cfg["route"].(map[string]any))
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type notification struct {
	path, body string
	at         time.Time
}

type webhookSink struct {
	mu   sync.Mutex
	got  []notification
	addr string
}

func startWebhook(t *testing.T, addr string) *webhookSink {
	t.Helper()
	w := &webhookSink{addr: addr}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.got = append(w.got, notification{path: r.URL.Path, body: string(b), at: time.Now()})
		w.mu.Unlock()
		rw.WriteHeader(http.StatusOK)
		_, _ = rw.Write([]byte(`{"status":"success","message":"ok"}`))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return w
}

func (w *webhookSink) find(path string, needles ...string) (notification, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.got {
		if n.path != path {
			continue
		}
		ok := true
		for _, s := range needles {
			if !strings.Contains(n.body, s) {
				ok = false
			}
		}
		if ok {
			return n, true
		}
	}
	return notification{}, false
}

// The tool_selection_drift scenario, end to end: agentsim -> otelcol-agent
// -> Prometheus (shipped rules, shortened) -> Alertmanager (shipped routing)
// -> a local webhook standing in for Slack and PagerDuty.
func TestDriftAlertReachesTheReceivers(t *testing.T) {
	ports := e2etest.NewPorts(t)
	e2etest.Start(t, []string{"config/default.yaml"}, collectorEnv(t, ports, map[string]string{
		"OTELCOL_AGENT_DRIFT_WINDOW": "10s", "OTELCOL_AGENT_DRIFT_BASELINE": "2m",
		"OTELCOL_AGENT_DRIFT_MIN_BASELINE_CALLS": "50", "OTELCOL_AGENT_DRIFT_MIN_WINDOW_CALLS": "10",
	}), ports.Health)
	promAddr, amAddr, hookAddr := ports.Spare, ports.Spare2, ports.Spare3
	hook := startWebhook(t, hookAddr)
	e2etest.StartAlertmanager(t, alertmanagerConfig(t, hookAddr), amAddr)
	e2etest.StartPrometheus(t, prometheusConfig(t, ports.Prometheus, ports.Telemetry, amAddr, shortenRules(t, t.TempDir())), promAddr)

	tp, flush := simTracer(t, ports.OTLPGRPC)
	defer flush()
	const incidentAt = 40 * time.Second
	sim := agentsim.New(agentsim.Config{Agents: []string{"refund-bot"}, Seed: 3,
		Scenarios: []agentsim.ScenarioAt{{Name: agentsim.ToolSelectionDrift, Start: incidentAt}}}, tp.Tracer("agentsim"))
	ctx, cancel := context.WithTimeout(context.Background(), incidentAt+90*time.Second)
	defer cancel()
	start := time.Now()
	var p2, p1 notification
	var gotP2, gotP1 bool
	for ctx.Err() == nil && !(gotP2 && gotP1) {
		sim.Run(ctx, time.Since(start)) // about 20 runs a second
		time.Sleep(50 * time.Millisecond)
		if !gotP2 {
			p2, gotP2 = hook.find("/slack", "AgentToolSelectionDrift", "P2", "refund-bot")
		}
		if !gotP1 {
			p1, gotP1 = hook.find("/pagerduty", "AgentRefundToolShareDrop", "refund-bot")
		}
	}
	if !gotP2 {
		n, _ := e2etest.Query(promAddr, "agent_tool_selection_drift")
		t.Fatalf("no P2 drift notification on the Slack webhook within %s of the incident (drift now %v)", 90*time.Second, n)
	}
	if early := p2.at.Sub(start); early < incidentAt {
		t.Fatalf("drift alert %s before the incident started (%s): a false positive in steady traffic", early, incidentAt)
	}
	t.Logf("P2 AgentToolSelectionDrift reached Slack %s after the incident", p2.at.Sub(start)-incidentAt)
	if !gotP1 {
		t.Fatalf("no P1 share-drop page on the PagerDuty webhook")
	}
	t.Logf("P1 AgentRefundToolShareDrop reached PagerDuty %s after the incident", p1.at.Sub(start)-incidentAt)
	// The P1 also goes to Slack, with a mention (<!here>, JSON-escaped).
	e2etest.Eventually(t, 15*time.Second, func(context.Context) error {
		if _, ok := hook.find("/slack", "AgentRefundToolShareDrop", "P1", "!here"); !ok {
			return fmt.Errorf("the P1 page did not also reach Slack with a mention")
		}
		return nil
	})
	if !strings.Contains(p1.body, "test-routing-key") {
		t.Errorf("PagerDuty event without the routing key read from its secret file: %s", p1.body)
	}
}
