package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// victoriaLogsQuery runs a LogsQL query and returns the matching records,
// one JSON object per line in VictoriaLogs' answer.
func victoriaLogsQuery(addr, query string) ([]map[string]any, string, error) {
	resp, err := http.Get("http://" + addr + "/select/logsql/query?" + url.Values{"query": {query}}.Encode())
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, string(body), fmt.Errorf("logsql %q: %s: %.300s", query, resp.Status, body)
	}
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, string(body), fmt.Errorf("logsql answer line: %w: %.200s", err, sc.Text())
		}
		out = append(out, rec)
	}
	return out, string(body), sc.Err()
}

// firingAlert reports whether Prometheus has alert name firing with the
// given labels.
func firingAlert(prom, name string, labels map[string]string) (bool, error) {
	resp, err := http.Get("http://" + prom + "/api/v1/alerts")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return false, err
	}
next:
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] != name || a.State != "firing" {
			continue
		}
		for k, v := range labels {
			if a.Labels[k] != v {
				continue next
			}
		}
		return true, nil
	}
	return false, nil
}

// timeoutAgent is an agent instrumented the way the README's Phase 0 asks:
// the OpenTelemetry trace SDK and the logs SDK (a log bridge) side by side,
// both over OTLP gRPC to the collector with their default-shaped batching,
// so every log emitted inside a span carries that span's trace and span id.
type timeoutAgent struct {
	tracer trace.Tracer
	logger otellog.Logger
	// verdictEvery: every verdictEvery-th run a hallucination verdict is
	// sent as a gen_ai.evaluation.result log record; every other one of
	// those also as the same event on the LLM span (counted once).
	verdictEvery int
	verdicts     int
	runs         int
}

const (
	timeoutAgentID   = "billing-bot"
	timeoutAgentTool = "fetch_invoice"
)

// run emits one run whose tool call times out, with a log line inside the
// tool span, prompt content in a log body, a log attribute and a GenAI event,
// and sometimes an evaluation verdict. It returns the run's trace id.
func (a *timeoutAgent) run(ctx context.Context) string {
	a.runs++
	n := a.runs
	start := time.Now().Add(-2 * time.Second)
	ctx, root := a.tracer.Start(ctx, "invoke_agent "+timeoutAgentID, trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", timeoutAgentID)))
	emit := func(ctx context.Context, body attribute.Value, sev otellog.Severity, event string, kv ...attribute.KeyValue) {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(sev)
		if event != "" {
			r.SetEventName(event)
		}
		r.SetBody(body)
		r.AddAttributes(kv...)
		a.logger.Emit(ctx, r)
	}

	llmCtx, llm := a.tracer.Start(ctx, "chat gpt-4o-mini", trace.WithTimestamp(start.Add(10*time.Millisecond)),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o-mini"),
			attribute.Int("gen_ai.usage.input_tokens", 120), attribute.Int("gen_ai.usage.output_tokens", 30)))
	// GenAI operation details as an event: prompt content in its attributes.
	emit(llmCtx, attribute.StringValue("inference details"), otellog.SeverityInfo, "gen_ai.client.inference.operation.details",
		attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"`+logSecret+`"}]}]`))
	if a.verdictEvery > 0 && n%a.verdictEvery == 0 {
		a.verdicts++
		verdict := []attribute.KeyValue{attribute.String("gen_ai.evaluation.name", "hallucination"), attribute.String("gen_ai.evaluation.score.label", "hallucinated")}
		emit(llmCtx, attribute.StringValue("evaluation"), otellog.SeverityWarn, "gen_ai.evaluation.result", verdict...)
		if (n/a.verdictEvery)%2 == 0 {
			llm.AddEvent("gen_ai.evaluation.result", trace.WithAttributes(verdict...))
		}
	}
	llm.End(trace.WithTimestamp(start.Add(400 * time.Millisecond)))

	toolCtx, tool := a.tracer.Start(ctx, "execute_tool "+timeoutAgentTool, trace.WithTimestamp(start.Add(450*time.Millisecond)),
		trace.WithAttributes(attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", timeoutAgentTool),
			attribute.String("error.type", "timeout")))
	// The log line the on-call engineer is looking for, with the tool's
	// arguments (content) as an attribute, and a user message event with the
	// prompt in its body.
	emit(toolCtx, attribute.StringValue(fmt.Sprintf("tool %s timed out after 1.5s (run %d)", timeoutAgentTool, n)), otellog.SeverityError, "",
		attribute.String("gen_ai.tool.call.arguments", `{"card":"`+logSecret+`"}`))
	emit(toolCtx, attribute.MapValue(attribute.String("content", logSecret)), otellog.SeverityInfo, "gen_ai.user.message")
	tool.SetStatus(codes.Error, "context deadline exceeded")
	tool.End(trace.WithTimestamp(start.Add(1950 * time.Millisecond)))
	root.End(trace.WithTimestamp(start.Add(2 * time.Second)))
	return root.SpanContext().TraceID().String()
}

// The seed's debugging chain, end to end with real backends: an agent's
// tool keeps timing out and logs it inside the tool span -> the shipped
// AgentToolFailureRateCritical alert fires in Prometheus (rules shortened)
// -> an exemplar of the tool's latency histogram gives a trace id -> that
// trace is in Jaeger, tool span in error -> VictoriaLogs, queried by the
// trace id, returns the timeout log line; prompt content is in neither the
// log store nor the log file. Hallucination verdicts sent as log records
// count exactly once each, also when the same verdict is a span event too.
func TestAlertToTraceToLog(t *testing.T) {
	ports := e2etest.NewPorts(t)
	b := e2etest.ReserveAddrs(t, 4)
	jOTLP, jHTTP, jGRPC, vlAddr := b[0], b[1], b[2], b[3]
	t.Setenv("JAEGER_OTLP_GRPC", jOTLP)
	t.Setenv("JAEGER_QUERY_HTTP", jHTTP)
	t.Setenv("JAEGER_QUERY_GRPC", jGRPC)
	e2etest.StartProcess(t, jaegerBin(t), []string{"--config", filepath.Join(e2etest.RepoRoot(t), "test/e2e/testdata/jaeger.yaml")}, jHTTP, "/api/services")
	e2etest.StartVictoriaLogs(t, vlAddr)

	env := collectorEnv(t, ports, map[string]string{
		"OTELCOL_AGENT_FORWARD_ENDPOINT":     jOTLP,
		"OTELCOL_AGENT_LOG_FORWARD_ENDPOINT": "http://" + vlAddr + "/insert/opentelemetry/v1/logs",
		"OTELCOL_AGENT_METRICS_FLUSH":        "3s",
	})
	e2etest.Start(t, []string{"config/default.yaml", "config/overlays/forward-otlp.yaml", "config/overlays/forward-logs-otlp.yaml"}, env, ports.Health)
	promAddr := ports.Spare
	e2etest.StartPrometheus(t, prometheusConfig(t, ports.Prometheus, ports.Telemetry, "", shortenRules(t, t.TempDir())), promAddr)

	tp, flushSpans := simTracer(t, ports.OTLPGRPC)
	logExp, err := otlploggrpc.New(context.Background(), otlploggrpc.WithEndpoint(ports.OTLPGRPC), otlploggrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp, sdklog.WithExportInterval(200*time.Millisecond))),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "agentsim"))))
	agent := &timeoutAgent{tracer: tp.Tracer("billing-bot"), logger: lp.Logger("billing-bot"), verdictEvery: 3}

	// About two runs a second, every tool call timing out, until the alert
	// fires (the shortened rule: 10 s windows, 5 s for:).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alertLabels := map[string]string{"agent_id": timeoutAgentID, "tool_name": timeoutAgentTool, "severity": "P1"}
	fired := false
	start := time.Now()
	for ctx.Err() == nil && !fired {
		agent.run(ctx)
		time.Sleep(500 * time.Millisecond)
		if agent.runs%4 == 0 {
			fired, err = firingAlert(promAddr, "AgentToolFailureRateCritical", alertLabels)
			if err != nil {
				t.Logf("alerts: %v", err)
			}
		}
	}
	if !fired {
		// Say where the chain stopped: no tool calls counted, or counted but
		// the rule's ratio or volume guard not met.
		calls, _ := e2etest.Query(promAddr, `agent_tool_calls_total{agent_id="`+timeoutAgentID+`"}`)
		ratio, _ := e2etest.Query(promAddr, `agent:tool_failure:ratio5m{agent_id="`+timeoutAgentID+`"}`)
		t.Fatalf("AgentToolFailureRateCritical never fired for %s/%s after %d runs (tool calls in Prometheus: %v; failure ratio: %v)",
			timeoutAgentID, timeoutAgentTool, agent.runs, calls, ratio)
	}
	t.Logf("AgentToolFailureRateCritical fired after %d runs, %s after the first", agent.runs, time.Since(start).Round(time.Second))
	flushSpans()
	if err := lp.Shutdown(context.Background()); err != nil {
		t.Fatalf("flushing logs: %v", err)
	}

	// The exemplar on the failing tool's latency histogram names a trace.
	var traceID string
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		var err error
		traceID, err = exemplarTraceIDOf(promAddr, `agent_tool_duration_seconds_bucket{agent_id="`+timeoutAgentID+`",tool_name="`+timeoutAgentTool+`"}`)
		return err
	})

	// It resolves in Jaeger, to a trace whose tool span is in error.
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		traces, err := jaegerTraces(jHTTP, "/api/traces/"+traceID)
		if err != nil {
			return err
		}
		if len(traces) != 1 {
			return fmt.Errorf("trace %s not in Jaeger: %d traces", traceID, len(traces))
		}
		for _, s := range traces[0] {
			if s.OperationName == "execute_tool "+timeoutAgentTool {
				if v, _ := s.tag("error"); v != "true" {
					return fmt.Errorf("tool span of %s not in error in Jaeger (error=%q)", traceID, v)
				}
				return nil
			}
		}
		return fmt.Errorf("trace %s in Jaeger has no %s span yet (%d spans)", traceID, timeoutAgentTool, len(traces[0]))
	})

	// The log store, queried by that trace id, returns the timeout line,
	// inside the tool span, and every other record of the run the local
	// file holds (the user message event, the operation-details event, the
	// verdict on some runs); prompt content is in neither.
	var recs []map[string]any
	var raw string
	logFile := env["OTELCOL_AGENT_LOG_FILE"]
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		var err error
		recs, raw, err = victoriaLogsQuery(vlAddr, `trace_id:"`+traceID+`"`)
		if err != nil {
			return err
		}
		line := false
		for _, r := range recs {
			line = line || strings.Contains(fmt.Sprint(r["_msg"]), "timed out after")
		}
		if !line {
			return fmt.Errorf("no timeout log line for trace %s in VictoriaLogs yet (%d records)", traceID, len(recs))
		}
		fileRecs, _, err := logFileRecords(logFile)
		if err != nil {
			return err
		}
		inFile := 0
		for _, lr := range fileRecs {
			if lr.TraceID().String() == traceID {
				inFile++
			}
		}
		if inFile < 3 || inFile != len(recs) {
			return fmt.Errorf("trace %s: %d records in the log file, %d in the log store, want the same and at least 3", traceID, inFile, len(recs))
		}
		return nil
	})
	toolSpanID := jaegerSpanID(t, jHTTP, traceID, "execute_tool "+timeoutAgentTool)
	for _, r := range recs {
		if strings.Contains(fmt.Sprint(r["_msg"]), "timed out after") && r["span_id"] != toolSpanID {
			t.Errorf("timeout line carries span_id %v, want the tool span %s", r["span_id"], toolSpanID)
		}
	}
	if strings.Contains(raw, logSecret) {
		t.Errorf("prompt content reached the log store: %s", raw)
	}
	wantAll := 3*agent.runs + agent.verdicts
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		all, allRaw, err := victoriaLogsQuery(vlAddr, `service.name:"agentsim"`)
		if err != nil {
			return err
		}
		if strings.Contains(allRaw, logSecret) {
			t.Fatalf("prompt content in the log store (%d records)", len(all))
		}
		if len(all) != wantAll {
			return fmt.Errorf("%d records in the log store, want %d (3 per run and the verdicts)", len(all), wantAll)
		}
		return nil
	})
	if _, data, err := logFileRecords(logFile); err != nil {
		t.Fatal(err)
	} else if strings.Contains(string(data), logSecret) {
		t.Errorf("prompt content in the log file")
	}

	// Grafana's provisioned links work on these stores: the trace's logs
	// from Jaeger, the trace from a log record; the overview's Slowest
	// traces panel finds these runs (2 s each) in Jaeger.
	checkGrafanaTraceLogLinks(t, vlAddr, traceID, len(recs))
	checkJaegerPanels(t, jHTTP, map[string]string{"trace_service": "agentsim", "slow_threshold": "1500ms"})

	// Every verdict counted once, whichever way it came.
	equalEventually(t, promAddr, `sum(agent_hallucination_total{agent_id="`+timeoutAgentID+`"})`, float64(agent.verdicts))
	equalEventually(t, promAddr, `sum(agent_requests_total{agent_id="`+timeoutAgentID+`"})`, float64(agent.runs))
	t.Logf("%d runs, %d verdicts as log records (half also as span events), trace %s: %d records in the log store", agent.runs, agent.verdicts, traceID, len(recs))
}

// jaegerSpanID returns the span id of the named span of a trace in Jaeger.
func jaegerSpanID(t *testing.T, addr, traceID, name string) string {
	t.Helper()
	traces, err := jaegerTraces(addr, "/api/traces/"+traceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, spans := range traces {
		for _, s := range spans {
			if s.OperationName == name {
				return s.SpanID
			}
		}
	}
	return ""
}

// grafanaDatasources reads the provisioned Grafana data sources, with the
// provisioning file's $$ escapes undone as Grafana does.
func grafanaDatasources(t *testing.T) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e2etest.RepoRoot(t), "config/grafana/provisioning/datasources/datasources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Datasources []map[string]any `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(raw), "$$", "$")), &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, ds := range f.Datasources {
		out[fmt.Sprint(ds["uid"])] = ds
	}
	return out
}

// checkGrafanaTraceLogLinks runs the provisioned links against the real
// stores: Jaeger's trace-to-logs query, with the trace id filled in, finds
// the run's records in the log store, and the log data source's derived
// field names a field those records carry, holding that trace id (the link
// back to Jaeger, whose uid it names).
func checkGrafanaTraceLogLinks(t *testing.T, vlAddr, traceID string, wantRecords int) {
	t.Helper()
	dss := grafanaDatasources(t)
	jaeger, ok := dss["jaeger"]
	if !ok {
		t.Fatal("no Jaeger data source (uid jaeger) provisioned")
	}
	jd, _ := jaeger["jsonData"].(map[string]any)
	t2l, _ := jd["tracesToLogsV2"].(map[string]any)
	logsUID := fmt.Sprint(t2l["datasourceUid"])
	logs, ok := dss[logsUID]
	if !ok {
		t.Fatalf("Jaeger's tracesToLogsV2 names data source %q, which is not provisioned", logsUID)
	}
	if logs["type"] != "victoriametrics-logs-datasource" {
		t.Fatalf("log data source type %v: this test runs its queries on VictoriaLogs", logs["type"])
	}
	q := strings.ReplaceAll(fmt.Sprint(t2l["query"]), "${__trace.traceId}", traceID)
	recs, _, err := victoriaLogsQuery(vlAddr, q)
	if err != nil {
		t.Fatalf("trace-to-logs query %q: %v", q, err)
	}
	if len(recs) != wantRecords {
		t.Errorf("trace-to-logs query %q found %d records, want the run's %d", q, len(recs), wantRecords)
	}
	ld, _ := logs["jsonData"].(map[string]any)
	fields, _ := ld["derivedFields"].([]any)
	linked := false
	for _, f := range fields {
		df, _ := f.(map[string]any)
		if df["datasourceUid"] != "jaeger" || df["matcherType"] != "label" {
			continue
		}
		field := fmt.Sprint(df["matcherRegex"])
		for _, r := range recs {
			if r[field] != traceID {
				t.Errorf("derived field %q of a log record is %v, want the trace id %s", field, r[field], traceID)
			}
		}
		if df["url"] != "${__value.raw}" {
			t.Errorf("derived field url %v: Jaeger needs the bare trace id", df["url"])
		}
		linked = true
	}
	if !linked {
		t.Error("no derived field links log records to the Jaeger data source")
	}
}

// checkJaegerPanels runs every Jaeger panel of the dashboards on the real
// Jaeger, as Grafana's Jaeger search would: with the template variables
// given, the search answers traces, each with a span at least minDuration
// long.
func checkJaegerPanels(t *testing.T, jaegerHTTP string, vars map[string]string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e2etest.RepoRoot(t), "config/grafana/dashboards/*.json"))
	panels := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Datasource struct {
						Type string `json:"type"`
					} `json:"datasource"`
					QueryType   string `json:"queryType"`
					Service     string `json:"service"`
					MinDuration string `json:"minDuration"`
					Limit       int    `json:"limit"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		sub := func(s string) string {
			for k, v := range vars {
				s = strings.ReplaceAll(s, "$"+k, v)
			}
			return s
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource.Type != "jaeger" {
					continue
				}
				panels++
				if tg.QueryType != "search" {
					t.Errorf("%s: Jaeger query type %q, want search", p.Title, tg.QueryType)
					continue
				}
				minDur, err := time.ParseDuration(sub(tg.MinDuration))
				if err != nil {
					t.Errorf("%s: minDuration %q: %v", p.Title, tg.MinDuration, err)
					continue
				}
				q := url.Values{"service": {sub(tg.Service)}, "minDuration": {sub(tg.MinDuration)}, "limit": {fmt.Sprint(tg.Limit)}, "lookback": {"1h"}}
				traces, err := jaegerTraceDurations(jaegerHTTP, q)
				if err != nil {
					t.Errorf("%s: %v", p.Title, err)
					continue
				}
				if len(traces) == 0 || len(traces) > tg.Limit {
					t.Errorf("%s: Jaeger answered %d traces for %v, want 1..%d", p.Title, len(traces), q, tg.Limit)
				}
				for id, longest := range traces {
					if longest < minDur {
						t.Errorf("%s: trace %s has no span of %s (longest %s)", p.Title, id, minDur, longest)
					}
				}
			}
		}
	}
	if panels == 0 {
		t.Error("no Jaeger panel in the dashboards (the overview's Slowest traces)")
	}
}

// jaegerTraceDurations searches Jaeger and returns each trace's longest span.
func jaegerTraceDurations(addr string, q url.Values) (map[string]time.Duration, error) {
	traces, err := jaegerTraces(addr, "/api/traces?"+q.Encode())
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, spans := range traces {
		var longest time.Duration
		for _, s := range spans {
			longest = max(longest, time.Duration(s.Duration)*time.Microsecond)
		}
		if len(spans) > 0 {
			out[spans[0].TraceID] = longest
		}
	}
	return out, nil
}
