package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// The component types the distribution promises (issue 2); ours are appended
// as they land.
var wantComponents = map[string][]string{
	"receivers": {"otlp"},
	"processors": {"batch", "memory_limiter", "attributes", "transform", "filter", "tail_sampling", "redaction", "agentsemconv",
		// What a production gateway config commonly uses (issue 17).
		"resource", "probabilistic_sampler", "groupbytrace", "groupbyattrs"},
	"connectors": {"span_metrics", "signal_to_metrics", "agentmetrics", "forward"},
	"exporters":  {"otlp_grpc", "otlp_http", "debug", "prometheus", "prometheus_remote_write", "file", "load_balancing"},
	"extensions": {"health_check", "pprof", "zpages", "file_storage", "bearertokenauth", "oauth2client", "oidc"},
}

type componentList struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
}

func TestComponentsListsEveryPromisedComponent(t *testing.T) {
	out, err := exec.Command(e2etest.Binary(t), "components").Output()
	if err != nil {
		t.Fatalf("components: %v", err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatalf("components output is not YAML: %v\n%s", err, out)
	}
	modules := map[string]bool{}
	for kind, want := range wantComponents {
		var list []componentList
		raw, _ := yaml.Marshal(got[kind])
		if err := yaml.Unmarshal(raw, &list); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		have := map[string]bool{}
		for _, c := range list {
			have[c.Name] = true
			modules[c.Module] = true
		}
		for _, name := range want {
			if !have[name] {
				t.Errorf("%s: %q missing from 'otelcol-agent components'", kind, name)
			}
		}
	}
	// Every module the builder manifest pins is in the binary at that version.
	manifest, err := os.ReadFile(filepath.Join(e2etest.RepoRoot(t), "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+- gomod: (\S+ v\S+)`).FindAllStringSubmatch(string(manifest), -1) {
		if strings.Contains(m[1], "confmap/provider") {
			continue
		}
		if !modules[m[1]] {
			t.Errorf("builder-config.yaml pins %q but no component of the binary reports that module", m[1])
		}
	}
}

func TestValidateShippedConfigs(t *testing.T) {
	root := e2etest.RepoRoot(t)
	cmd := exec.Command(e2etest.Binary(t), "validate", "--config", filepath.Join(root, "config/default.yaml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate config/default.yaml: %v\n%s", err, out)
	}
}

func TestMalformedConfigNamesTheField(t *testing.T) {
	cases := map[string]struct {
		config string
		want   []string
	}{
		"unknown field": {
			config: `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
        max_recv_msg_size_mibb: 4
exporters:
  debug:
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
`,
			want: []string{"max_recv_msg_size_mibb"},
		},
		"wrong type": {
			config: `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  batch:
    send_batch_size: lots
exporters:
  debug:
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}
`,
			want: []string{"send_batch_size"},
		},
		"undefined component in pipeline": {
			config: `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  debug:
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug, otlp_grpc/missing]}
`,
			want: []string{"otlp_grpc/missing"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(e2etest.Binary(t), "validate", "--config", path).CombinedOutput()
			if err == nil {
				t.Fatalf("validate accepted a malformed config:\n%s", out)
			}
			if strings.Contains(string(out), "panic") {
				t.Fatalf("validate panicked:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("error does not name %q:\n%s", w, out)
				}
			}
		})
	}
}

// The binary starts by itself: with no flag it runs the embedded default
// configuration (config/default.yaml) from a fresh directory, creates its
// data directory, serves OTLP and /metrics, and derives agent metrics;
// `validate` with no flag checks the same embedded configuration; and a
// --config replaces the default, as with any collector.
func TestStartsWithNoFlags(t *testing.T) {
	ports := e2etest.NewPorts(t)
	c := e2etest.Start(t, nil, ports.Env(), ports.Health)
	sendAgentRun(t, ports.OTLPGRPC)
	waitMetrics(t, ports.Prometheus, 30*time.Second, func(f map[string]*dto.MetricFamily) error {
		if n := sumOf(f, "agent_requests_total", map[string]string{"agent_id": "support_bot"}); n != 1 {
			return fmt.Errorf("agent_requests_total %v, want 1", n)
		}
		return nil
	})
	e2etest.Eventually(t, 10*time.Second, func(context.Context) error {
		_, err := os.Stat(filepath.Join(c.Dir, "data", "traces.jsonl"))
		return err
	})
	if !strings.Contains(c.Output(), "Everything is ready") {
		t.Errorf("no ready line in the output:\n%s", c.Output())
	}

	cmd := exec.Command(e2etest.Binary(t), "validate")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate with no flags: %v\n%s", err, out)
	}
	// The embedded default is the file in the repository.
	out, err := exec.Command(e2etest.Binary(t), "print-config").CombinedOutput()
	if err != nil {
		t.Fatalf("print-config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "agentsemconv") || !strings.Contains(string(out), "file/traces") {
		t.Errorf("print-config with no flags does not show the default configuration:\n%s", out)
	}

	// A --config replaces the embedded default: a config without the
	// prometheus exporter leaves its port free.
	other := e2etest.NewPorts(t)
	minimal := filepath.Join(t.TempDir(), "minimal.yaml")
	if err := os.WriteFile(minimal, []byte(`receivers: {otlp: {protocols: {grpc: {endpoint: "${env:OTELCOL_AGENT_OTLP_GRPC_ENDPOINT}"}}}}
exporters: {debug: {}}
extensions: {health_check: {endpoint: "${env:OTELCOL_AGENT_HEALTH_ENDPOINT}"}}
service:
  extensions: [health_check]
  telemetry: {metrics: {level: none}}
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e2etest.Start(t, []string{minimal}, other.Env(), other.Health)
	if _, err := scrape(other.Prometheus); err == nil {
		t.Error("with --config, the embedded default still served /metrics")
	}
}
