package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-agent/otelcol-agent/internal/agentsim"
	"github.com/otelcol-agent/otelcol-agent/internal/contentredact"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// jaegerBin is the pinned Jaeger v2 built by scripts/install-test-deps.sh.
func jaegerBin(t *testing.T) string {
	p := filepath.Join(e2etest.RepoRoot(t), "bin", "jaeger")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s missing: run scripts/install-test-deps.sh (make test does): %v", p, err)
	}
	return p
}

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	Duration      int64  `json:"duration"` // microseconds
	Tags          []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) tag(k string) (string, bool) {
	for _, t := range s.Tags {
		if t.Key == k {
			return fmt.Sprint(t.Value), true
		}
	}
	return "", false
}

func jaegerTraces(addr, path string) ([][]jaegerSpan, error) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Data []struct {
			Spans []jaegerSpan `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %.200s", path, err, body)
	}
	out := make([][]jaegerSpan, 0, len(r.Data))
	for _, d := range r.Data {
		out = append(out, d.Spans)
	}
	return out, nil
}

// exemplarTraceID takes a trace id from an exemplar Prometheus stored for
// the run duration histogram.
func exemplarTraceID(prom string) (string, error) {
	return exemplarTraceIDOf(prom, "agent_request_duration_seconds_bucket")
}

// exemplarTraceIDOf takes a trace id from an exemplar of the series query
// selects.
func exemplarTraceIDOf(prom, query string) (string, error) {
	now := time.Now()
	q := url.Values{"query": {query},
		"start": {strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)}}
	resp, err := http.Get("http://" + prom + "/api/v1/query_exemplars?" + q.Encode())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	for _, d := range r.Data {
		for _, e := range d.Exemplars {
			if id := e.Labels["trace_id"]; id != "" {
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("no exemplar with a trace_id yet")
}

// An exemplar trace id taken from Prometheus resolves to that trace in
// Jaeger; its spans carry the canonical agent.* attributes, are findable by
// tag, and hold no prompt content.
func TestExemplarLeadsToTheTraceInJaeger(t *testing.T) {
	ports := e2etest.NewPorts(t)
	j := e2etest.ReserveAddrs(t, 3)
	jOTLP, jHTTP, jGRPC := j[0], j[1], j[2]
	t.Setenv("JAEGER_OTLP_GRPC", jOTLP)
	t.Setenv("JAEGER_QUERY_HTTP", jHTTP)
	t.Setenv("JAEGER_QUERY_GRPC", jGRPC)
	e2etest.StartProcess(t, jaegerBin(t), []string{"--config", filepath.Join(e2etest.RepoRoot(t), "test/e2e/testdata/jaeger.yaml")}, jHTTP, "/api/services")

	// Exemplars are those observed since the previous flush: Prometheus
	// (1 s) scrapes more often than the connector flushes (3 s), as the
	// README asks, so every flush's exemplars are scraped.
	env := collectorEnv(t, ports, map[string]string{"OTELCOL_AGENT_FORWARD_ENDPOINT": jOTLP, "OTELCOL_AGENT_METRICS_FLUSH": "3s"})
	e2etest.Start(t, []string{"config/default.yaml", "config/overlays/forward-otlp.yaml"}, env, ports.Health)
	e2etest.StartPrometheus(t, prometheusConfig(t, ports.Prometheus, ports.Telemetry, "", nil), ports.Spare)

	tp, flush := simTracer(t, ports.OTLPGRPC)
	sim := agentsim.New(agentsim.Config{Agents: []string{"support-agent"}, Seed: 5,
		Conventions: []string{agentsim.ConvGenAI, agentsim.ConvOpenInference, agentsim.ConvSeed}}, tp.Tracer("agentsim"))
	runSim(t, sim, 60, 0)
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Exemplars are those of one flush: on a loaded machine a scrape can
	// miss a window, so runs keep coming (a few per poll) until Prometheus
	// has stored one.
	var traceID string
	e2etest.Eventually(t, 90*time.Second, func(ctx context.Context) (err error) {
		if traceID, err = exemplarTraceID(ports.Spare); err == nil {
			return nil
		}
		runSim(t, sim, 3, 0)
		_ = tp.ForceFlush(ctx)
		return err
	})
	flush()
	var spans []jaegerSpan
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		traces, err := jaegerTraces(jHTTP, "/api/traces/"+traceID)
		if err != nil {
			return err
		}
		if len(traces) != 1 || len(traces[0]) < 3 {
			return fmt.Errorf("trace %s not (fully) in Jaeger yet: %d traces", traceID, len(traces))
		}
		spans = traces[0]
		return nil
	})
	kinds := map[string]int{}
	redactor := contentredact.New(contentredact.Settings{Mode: contentredact.ModeDrop})
	for _, s := range spans {
		if !strings.EqualFold(s.TraceID, traceID) {
			t.Errorf("span of trace %s in trace %s", s.TraceID, traceID)
		}
		kind, _ := s.tag("agent.span.kind")
		kinds[kind]++
		if kind == "run" {
			if id, _ := s.tag("agent.agent.id"); id != "support-agent" {
				t.Errorf("%s span %q: agent.agent.id %q", kind, s.OperationName, id)
			}
		}
		if kind == "llm" {
			for _, k := range []string{"agent.model.name", "agent.llm.tokens.input", "agent.llm.tokens.output", "agent.llm.cost_usd"} {
				if _, ok := s.tag(k); !ok {
					t.Errorf("llm span %q lacks %s", s.OperationName, k)
				}
			}
		}
		for _, tg := range s.Tags {
			if redactor.IsContent(tg.Key) {
				t.Errorf("span %q carries content attribute %s in Jaeger", s.OperationName, tg.Key)
			}
		}
	}
	if kinds["run"] != 1 || kinds["llm"] < 2 || kinds["tool"] != 2 {
		t.Fatalf("span kinds in the exemplar's trace: %v", kinds)
	}
	// Findable by tag, as an on-call engineer searches.
	q := url.Values{"service": {"agentsim"}, "tags": {`{"agent.tool.name":"process_refund"}`}, "limit": {"5"}, "lookback": {"1h"}}
	traces, err := jaegerTraces(jHTTP, "/api/traces?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) == 0 {
		t.Fatal("no trace found in Jaeger by tag agent.tool.name=process_refund")
	}
	// And by the agent id its run span carries.
	q = url.Values{"service": {"agentsim"}, "tags": {`{"agent.agent.id":"support-agent"}`}, "limit": {"5"}, "lookback": {"1h"}}
	if byAgent, err := jaegerTraces(jHTTP, "/api/traces?"+q.Encode()); err != nil || len(byAgent) == 0 {
		t.Fatalf("no trace found in Jaeger by tag agent.agent.id=support-agent (%v)", err)
	}
	t.Logf("exemplar trace %s: %d spans %v; %d traces found by tag", traceID, len(spans), kinds, len(traces))
}
