package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// BuilderEnv names the pinned builder (ocb) binary; the Makefile sets it.
const BuilderEnv = "OTELCOL_AGENT_BUILDER"

// ourModules are the Go modules a user's build needs from this repository:
// the two components and the shared conventions code they import.
var ourModules = []string{"processor/agentsemconvprocessor", "connector/agentmetricsconnector", "internal"}

// externalManifest is a user's own minimal builder manifest with our two
// components added by module path, exactly as README "Your own build" shows,
// plus the replaces that point them at this working tree (a released version
// would need none).
func externalManifest(root, out string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `dist:
  name: otelcol-mine
  description: a user's own collector build with the agent components added
  output_path: %s
  module: example.com/otelcol-mine
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v0.161.0
processors:
  - gomod: github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor v0.0.0
connectors:
  - gomod: github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector v0.0.0
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v0.161.0
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter v0.161.0
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v1.67.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.67.0
replaces:
`, out)
	for _, m := range ourModules {
		fmt.Fprintf(&b, "  - github.com/otelcol-agent/otelcol-agent/%s => %s\n", m, filepath.Join(root, m))
	}
	return b.String()
}

// minimalPipeline is the traces pipeline such a user runs: OTLP in, our
// processor, our connector to Prometheus, debug for the traces. Both binaries
// run this same file, so their agent metrics must be the same.
const minimalPipeline = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:OTLP_ENDPOINT}
processors:
  agentsemconv: {}
connectors:
  agentmetrics:
    flush_interval: 1s
    runs:
      grace_period: 1s
exporters:
  debug:
    verbosity: basic
  prometheus:
    endpoint: ${env:PROM_ENDPOINT}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [agentsemconv]
      exporters: [agentmetrics, debug]
    metrics:
      receivers: [agentmetrics]
      exporters: [prometheus]
`

// builderBinary returns the pinned builder: $OTELCOL_AGENT_BUILDER, or a
// build of it from internal/tools (the module that pins it).
func builderBinary(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv(BuilderEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", BuilderEnv, p, err)
		}
		return p
	}
	p := filepath.Join(t.TempDir(), "builder")
	cmd := exec.Command("go", "-C", filepath.Join(root, "internal/tools"), "build", "-o", p, "go.opentelemetry.io/collector/cmd/builder")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the pinned builder: %v\n%s", err, out)
	}
	return p
}

// agentSeries flattens every agent_* series of a scrape to "name{labels}" →
// value (histograms: count, sum and every bucket), leaving out the labels
// that name the process rather than the data.
func agentSeries(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, fam := range fams {
		if !strings.HasPrefix(name, "agent_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			var ls []string
			for k, v := range labelsOf(m) {
				if !ambient[k] {
					ls = append(ls, k+"="+v)
				}
			}
			sort.Strings(ls)
			key := name + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				out[key+"_count"] = float64(h.GetSampleCount())
				out[key+"_sum"] = h.GetSampleSum()
				for _, bk := range h.GetBucket() {
					out[fmt.Sprintf("%s_bucket{le=%g}", key, bk.GetUpperBound())] = float64(bk.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func diffSeries(a, b map[string]float64) []string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			d = append(d, fmt.Sprintf("%s: ours %g, theirs %g (present %v)", k, v, w, ok))
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: only in theirs (%g)", k, w))
		}
	}
	sort.Strings(d)
	return d
}

// runMinimal starts bin on minimalPipeline, sends the OTel GenAI fixture and
// returns the agent series once all ten runs are counted.
func runMinimal(t *testing.T, bin, cfg string) map[string]float64 {
	t.Helper()
	addrs := e2etest.ReserveAddrs(t, 2)
	otlpAddr, promAddr := addrs[0], addrs[1]
	t.Setenv("OTLP_ENDPOINT", otlpAddr)
	t.Setenv("PROM_ENDPOINT", promAddr)
	e2etest.StartProcess(t, bin, []string{"--config", cfg}, promAddr, "/metrics")

	conn, err := grpc.NewClient(otlpAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	for _, td := range agenttest.Load(t, "otel-genai.otlp.jsonl") {
		e2etest.Eventually(t, 10*time.Second, func(ctx context.Context) error {
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
			return err
		})
	}
	var series map[string]float64
	e2etest.Eventually(t, 30*time.Second, func(context.Context) error {
		fams, err := scrape(promAddr)
		if err != nil {
			return err
		}
		fam := fams["agent_requests_total"]
		if fam == nil || sumWhere(fam, map[string]string{"agent_id": "support_bot"}) != 10 {
			return fmt.Errorf("%s: agent_requests_total{agent_id=support_bot} not yet 10", filepath.Base(bin))
		}
		series = agentSeries(fams)
		return nil
	})
	return series
}

// TestComponentModulesPinOneRelease: the modules a user's build takes from
// us require no contrib component (nothing to drag a user's receivers or
// exporters onto another version) and every collector module at the one
// release the distribution is built on, as a contrib component of that
// release does.
func TestComponentModulesPinOneRelease(t *testing.T) {
	root := e2etest.RepoRoot(t)
	for _, m := range ourModules {
		f, err := os.Open(filepath.Join(root, m, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
			if len(fields) < 2 || !strings.HasPrefix(fields[1], "v") {
				continue
			}
			path, version := fields[0], fields[1]
			for _, kind := range []string{"receiver/", "processor/", "exporter/", "connector/", "extension/"} {
				if strings.HasPrefix(path, "github.com/open-telemetry/opentelemetry-collector-contrib/"+kind) {
					t.Errorf("%s/go.mod requires the contrib component %s %s: a user adding our component would be pulled onto it", m, path, version)
				}
			}
			if strings.HasPrefix(path, "go.opentelemetry.io/collector/") && version != "v0.161.0" && version != "v1.67.0" {
				t.Errorf("%s/go.mod requires %s %s, not the release v0.161.0 / v1.67.0 the distribution is built on", m, path, version)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOurComponentsInYourOwnBuild: a user's own minimal manifest with our two
// components added by module path builds with the pinned builder against
// this working tree, lists them, and on the same traces and the same config
// gives exactly the agent metrics the otelcol-agent binary gives.
func TestOurComponentsInYourOwnBuild(t *testing.T) {
	root := e2etest.RepoRoot(t)
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	manifest := filepath.Join(dir, "manifest.yaml")
	if err := os.WriteFile(manifest, []byte(externalManifest(root, dist)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, builderBinary(t, root), "--config", manifest)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("builder on a user's manifest: %v\n%s", err, out)
	}
	t.Logf("external build (builder: go mod tidy + compile, module and build caches reused): %s", time.Since(start).Round(100*time.Millisecond))
	theirs := filepath.Join(dist, "otelcol-mine")

	out, err := exec.Command(theirs, "components").Output()
	if err != nil {
		t.Fatalf("%s components: %v", theirs, err)
	}
	for _, want := range []string{"name: agentsemconv", "name: agentmetrics"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the user's build does not list %q:\n%s", want, out)
		}
	}

	cfg := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(cfg, []byte(minimalPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runMinimal(t, theirs, cfg)
	want := runMinimal(t, e2etest.Binary(t), cfg)
	if len(want) < 20 {
		t.Fatalf("otelcol-agent gave only %d agent series on the fixture: %v", len(want), want)
	}
	if d := diffSeries(want, got); len(d) > 0 {
		t.Errorf("the user's build and otelcol-agent disagree on %d agent series:\n%s", len(d), strings.Join(d, "\n"))
	}
	t.Logf("the user's build and otelcol-agent agree on all %d agent series", len(want))

	// The connector alone (no agentsemconv in the pipeline) reads the same
	// conventions itself: the same agent metrics (README "Only the
	// connector"); what is lost is on the exported spans, not in the numbers.
	alone := filepath.Join(dir, "connector-only.yaml")
	if err := os.WriteFile(alone, []byte(strings.Replace(minimalPipeline, "processors: [agentsemconv]", "processors: []", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(want, runMinimal(t, theirs, alone)); len(d) > 0 {
		t.Errorf("the connector alone and processor + connector disagree on %d agent series:\n%s", len(d), strings.Join(d, "\n"))
	}
}
