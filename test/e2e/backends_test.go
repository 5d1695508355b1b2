package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/internal/agentsim"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// prometheusConfig is config/prometheus/prometheus.yml pointed at this
// test's collector and Alertmanager, scraping every second. Rule files are
// given by the caller (the shipped ones, or their shortened copies).
func prometheusConfig(t *testing.T, collector, telemetry, alertmanager string, ruleFiles []string) []byte {
	t.Helper()
	root := e2etest.RepoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "config/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	cfg["rule_files"] = ruleFiles
	if alertmanager == "" {
		delete(cfg, "alerting")
	} else {
		cfg["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{"static_configs": []any{map[string]any{"targets": []string{alertmanager}}}}}}
	}
	scrapes := cfg["scrape_configs"].([]any)
	for _, sc := range scrapes {
		m := sc.(map[string]any)
		m["scrape_interval"] = "1s"
		target := collector
		if m["job_name"] == "otelcol-agent-self" {
			target = telemetry
		}
		m["static_configs"] = []any{map[string]any{"targets": []string{target}}}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func simTracer(t *testing.T, endpoint string, opts ...otlptracegrpc.Option) (*sdktrace.TracerProvider, func()) {
	t.Helper()
	if len(opts) == 0 {
		opts = []otlptracegrpc.Option{otlptracegrpc.WithInsecure()}
	}
	exp, err := otlptracegrpc.New(context.Background(), append(opts, otlptracegrpc.WithEndpoint(endpoint))...)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(100*time.Millisecond), sdktrace.WithMaxQueueSize(100_000)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "agentsim"))))
	return tp, func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("flushing spans: %v", err)
		}
	}
}

// runSim sends n runs as fast as the SDK takes them and returns the totals.
func runSim(t *testing.T, sim *agentsim.Sim, n int, elapsed time.Duration) {
	for range n {
		sim.Run(context.Background(), elapsed)
	}
}

func collectorEnv(t *testing.T, ports e2etest.Ports, extra map[string]string) map[string]string {
	env := ports.Env()
	env["OTELCOL_AGENT_TRACE_FILE"] = filepath.Join(t.TempDir(), "traces.jsonl")
	env["OTELCOL_AGENT_LOG_FILE"] = filepath.Join(t.TempDir(), "logs.jsonl")
	env["OTELCOL_AGENT_METRICS_FLUSH"] = "1s"
	env["OTELCOL_AGENT_RUN_GRACE"] = "2s"
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func equalEventually(t *testing.T, prom, q string, want float64) {
	t.Helper()
	e2etest.Eventually(t, 60*time.Second, func(context.Context) error {
		got, err := e2etest.Scalar(prom, q)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s = %v, want %v", q, got, want)
		}
		return nil
	})
}

// nearEventually is equalEventually for a sum of float seconds: the
// connector keeps each time to first token as a float32, so the sum in
// Prometheus is within a few microseconds of the simulator's, far less than
// one call's (at least 30ms).
func nearEventually(t *testing.T, prom, q string, want float64) {
	t.Helper()
	tol := 1e-4 + 1e-6*math.Abs(want)
	e2etest.Eventually(t, 60*time.Second, func(context.Context) error {
		got, err := e2etest.Scalar(prom, q)
		if err != nil {
			return err
		}
		if math.Abs(got-want) > tol {
			return fmt.Errorf("%s = %v, want %v ± %v", q, got, want, tol)
		}
		return nil
	})
}

// sessionIdle is the e2e collector's sessions.idle_timeout (1h by default,
// which config/default.yaml does not expose): a conversation is observed
// that long after its last turn closed. It must be longer than runs.ttl,
// shortened with it (OTELCOL_AGENT_RUN_TTL), and longer than the few
// seconds the turns of one conversation take to close.
const sessionIdle, sessionRunTTL = "8s", "4s"

// agentsim -> otelcol-agent -> Prometheus: the series in Prometheus equal
// what the simulator sent; then every dashboard panel's query parses and
// returns data.
func TestSimulatorThroughPrometheus(t *testing.T) {
	ports := e2etest.NewPorts(t)
	e2etest.Start(t, []string{"config/default.yaml", "yaml:connectors::agentmetrics::sessions::idle_timeout: " + sessionIdle},
		collectorEnv(t, ports, map[string]string{
			// Short drift windows so the drift gauge exists within the test.
			"OTELCOL_AGENT_DRIFT_WINDOW": "3s", "OTELCOL_AGENT_DRIFT_BASELINE": "1m",
			"OTELCOL_AGENT_DRIFT_MIN_BASELINE_CALLS": "10", "OTELCOL_AGENT_DRIFT_MIN_WINDOW_CALLS": "1",
			"OTELCOL_AGENT_RUN_TTL": sessionRunTTL,
		}), ports.Health)
	root := e2etest.RepoRoot(t)
	rules := []string{filepath.Join(root, "config/prometheus/agent-recording-rules.yaml"), filepath.Join(root, "config/prometheus/agent-alert-rules.yaml")}
	promAddr := ports.Spare
	e2etest.StartPrometheus(t, prometheusConfig(t, ports.Prometheus, ports.Telemetry, "", rules), promAddr)

	tp, flush := simTracer(t, ports.OTLPGRPC)
	sim := agentsim.New(agentsim.Config{
		Agents: []string{"support-agent", "billing-agent", "triage-agent"}, Models: []string{"gpt-4o-mini", "claude-sonnet-4-5"},
		Conventions: []string{agentsim.ConvSeed, agentsim.ConvGenAI, agentsim.ConvOpenInference}, Seed: 42,
		// tool_loop: the loop panels' series exist only once a run has looped.
		Scenarios: []agentsim.ScenarioAt{{Name: agentsim.HallucinationSpike}, {Name: agentsim.ToolFailureSpike}, {Name: agentsim.ToolLoop}},
		// A share of the runs call their tools through MCP (client and
		// server span of each call): the tool calls above stay one each.
		MCPShare: 0.4,
	}, tp.Tracer("agentsim"))
	runSim(t, sim, 300, time.Minute)
	flush()
	tot := sim.Totals()
	if js, err := json.Marshal(tot); err == nil {
		t.Logf("simulator totals: %s", js)
	}

	equalEventually(t, promAddr, `sum(agent_requests_total)`, float64(tot.Runs))
	for agent, byStatus := range tot.Requests {
		for status, n := range byStatus {
			equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_requests_total{agent_id=%q,status=%q})`, agent, status), float64(n))
		}
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_llm_calls_total{agent_id=%q})`, agent), float64(tot.LLMCalls[agent]))
		// input is the uncached part; the cache reads are their own direction.
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_tokens_consumed_total{agent_id=%q,direction="input"})`, agent), float64(tot.InputTokens[agent]-tot.CacheReadTokens[agent]))
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_tokens_consumed_total{agent_id=%q,direction="cache_read"})`, agent), float64(tot.CacheReadTokens[agent]))
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_tokens_consumed_total{agent_id=%q,direction="output"})`, agent), float64(tot.OutputTokens[agent]))
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_reasoning_steps_sum{agent_id=%q})`, agent), float64(tot.ReasoningSteps[agent]))
		runs := 0
		for _, n := range byStatus {
			runs += n
		}
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_reasoning_steps_count{agent_id=%q})`, agent), float64(runs))
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_hallucination_total{agent_id=%q})`, agent), float64(tot.Hallucinations[agent]))
		// One observation per streamed LLM call, in whichever convention
		// it said its time to first token (attribute or event).
		if tot.StreamedCalls[agent] == 0 {
			t.Fatalf("%s: no streamed LLM call: the time to first token is not exercised", agent)
		}
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_time_to_first_token_seconds_count{agent_id=%q})`, agent), float64(tot.StreamedCalls[agent]))
		nearEventually(t, promAddr, fmt.Sprintf(`sum(agent_time_to_first_token_seconds_sum{agent_id=%q})`, agent), tot.TTFTSeconds[agent])
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_user_feedback_score_count{agent_id=%q})`, agent), float64(tot.Feedback[agent]))
		for key, n := range tot.ToolCalls[agent] {
			tool, status, _ := strings.Cut(key, "/")
			equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_tool_calls_total{agent_id=%q,tool_name=%q,status=%q})`, agent, tool, status), float64(n))
		}
		// Every stuck run is one loop, whatever the convention it was sent in.
		for tool, n := range tot.Loops[agent] {
			equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_loops_total{agent_id=%q,tool_name=%q})`, agent, tool), float64(n))
		}
	}
	loops := 0
	for _, byTool := range tot.Loops {
		for _, n := range byTool {
			loops += n
		}
	}
	if loops == 0 {
		t.Fatal("the tool_loop scenario made no loop")
	}
	equalEventually(t, promAddr, `sum(agent_loops_total)`, float64(loops))

	// Guardrail results by agent, guardrail and the provider's own result,
	// in each convention's shape; and no other series.
	results, blocked := 0, 0
	for agent, byKey := range tot.Guardrails {
		for key, n := range byKey {
			name, result, _ := strings.Cut(key, "/")
			equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_guardrail_results_total{agent_id=%q,guardrail_name=%q,result=%q})`, agent, name, result), float64(n))
			results += n
			if result == agentsim.GuardrailIntervened || result == agentsim.StepSafetyBlocked {
				blocked += n
			}
		}
	}
	if results == 0 || blocked == 0 {
		t.Fatalf("guardrail results %v: none, or none that intervened", tot.Guardrails)
	}
	equalEventually(t, promAddr, `sum(agent_guardrail_results_total)`, float64(results))
	// Every MCP span by side and method (0: none sent, e.g. a server
	// tools/list); the tool calls above count each client+server pair once.
	if tot.MCPSpans[agentsim.MCPClient][agentsim.MCPToolsCall] == 0 {
		t.Fatal("no MCP tool call sent")
	}
	for _, side := range []string{agentsim.MCPClient, agentsim.MCPServer} {
		for _, method := range []string{agentsim.MCPToolsCall, agentsim.MCPToolsList} {
			equalEventually(t, promAddr, fmt.Sprintf(`sum(mcp_%s_operation_duration_seconds_count{mcp_method_name=%q})`, side, method), float64(tot.MCPSpans[side][method]))
		}
	}
	// Sessions, once their conversations have been idle for sessionIdle:
	// one turns observation per conversation (its turns by bucket), one
	// growth observation per turn after the first, summing the input
	// tokens' growth in start order.
	conversations := 0
	for agent, byTurns := range tot.Conversations {
		n, turns := 0, 0
		for k, c := range byTurns {
			n += c
			turns += k * c
		}
		conversations += n
		runs := 0
		for _, c := range tot.Requests[agent] {
			runs += c
		}
		if turns != runs {
			t.Fatalf("%s: conversations of %d turns, %d runs", agent, turns, runs)
		}
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_session_turns_count{agent_id=%q})`, agent), float64(n))
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_session_turns_sum{agent_id=%q})`, agent), float64(turns))
		for _, le := range []int{1, 2, 3, 5} { // "1" or "1.0", as this Prometheus writes it
			upTo := 0
			for k, c := range byTurns {
				if k <= le {
					upTo += c
				}
			}
			equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_session_turns_bucket{agent_id=%q,le=~"%d|%d.0"})`, agent, le, le), float64(upTo))
		}
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_session_input_token_growth_count{agent_id=%q})`, agent), float64(tot.GrowthTurns[agent]))
		equalEventually(t, promAddr, fmt.Sprintf(`sum(agent_session_input_token_growth_sum{agent_id=%q})`, agent), float64(tot.InputTokenGrowth[agent]))
	}
	if conversations == 0 || conversations == tot.Runs {
		t.Fatalf("%d conversations of %d runs: want conversations of several turns", conversations, tot.Runs)
	}
	equalEventually(t, promAddr, `sum(agent_session_turns_count)`, float64(conversations))

	// Keep traffic flowing while the dashboards are queried, so the
	// sliding-window gauges (tool selection, drift) have live data.
	tp2, flush2 := simTracer(t, ports.OTLPGRPC)
	live := agentsim.New(agentsim.Config{Agents: []string{"support-agent"}, Seed: 7, MCPShare: 0.4}, tp2.Tracer("agentsim"))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			live.Run(ctx, time.Minute)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { stop(); <-done; flush2() }()
	time.Sleep(5 * time.Second)
	// A conversation observed since the first scrape, so the sessions
	// panel's rate has one (the main run's all came in one flush): a live
	// conversation, observed sessionIdle after its last turn.
	mainConversations := 0
	for _, c := range tot.Conversations["support-agent"] {
		mainConversations += c
	}
	e2etest.Eventually(t, 60*time.Second, func(context.Context) error {
		got, err := e2etest.Scalar(promAddr, `sum(agent_session_turns_count{agent_id="support-agent"})`)
		if err != nil {
			return err
		}
		if got <= float64(mainConversations) {
			return fmt.Errorf("no live conversation observed yet (%v, %d before)", got, mainConversations)
		}
		return nil
	})
	checkDashboards(t, promAddr)
}

// checkDashboards runs every panel query of config/grafana/dashboards with
// the template variables substituted: each must parse and return data.
func checkDashboards(t *testing.T, prom string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e2etest.RepoRoot(t), "config/grafana/dashboards/*.json"))
	if len(files) < 2 {
		t.Fatalf("dashboards: %v", files)
	}
	queries := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr       string `json:"expr"`
					Datasource struct {
						Type string `json:"type"`
					} `json:"datasource"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.Type != "prometheus" {
					continue // Jaeger panels: checkJaegerPanels
				}
				q := strings.ReplaceAll(tg.Expr, "$agent_id", ".*")
				queries++
				e2etest.Eventually(t, 20*time.Second, func(context.Context) error {
					res, err := e2etest.Query(prom, q)
					if err != nil {
						return fmt.Errorf("%s / %s: %w", d.Title, p.Title, err)
					}
					if len(res) == 0 {
						return fmt.Errorf("%s / %s: no data for %s", d.Title, p.Title, q)
					}
					return nil
				})
			}
		}
	}
	t.Logf("%d dashboard queries parsed and returned data", queries)
}
