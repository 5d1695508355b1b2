package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

type helmValues struct {
	FullnameOverride string `yaml:"fullnameOverride"`
	Mode             string `yaml:"mode"`
	Command          struct {
		Name      string   `yaml:"name"`
		ExtraArgs []string `yaml:"extraArgs"`
	} `yaml:"command"`
	ConfigMap struct {
		Create       bool   `yaml:"create"`
		ExistingName string `yaml:"existingName"`
	} `yaml:"configMap"`
	Service struct {
		ClusterIP string `yaml:"clusterIP"`
	} `yaml:"service"`
	ExtraEnvs []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"extraEnvs"`
	ExtraVolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"extraVolumeMounts"`
	Statefulset struct {
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"statefulset"`
}

// The Helm values wire this repository's configurations, unchanged, into
// the official chart: every variable they set is one the configuration
// reads, every file they name is under a mounted volume, the gateway's
// queue is on the StatefulSet's volume behind a headless service that the
// edge resolves, and both configurations validate through the binary with
// the values' environment and arguments. (helm template itself is not run:
// deploy/helm/README.md says why.)
func TestHelmValuesMatchTheConfigs(t *testing.T) {
	root := e2etest.RepoRoot(t)
	load := func(name string) helmValues {
		raw, err := os.ReadFile(filepath.Join(root, "deploy/helm", name))
		if err != nil {
			t.Fatal(err)
		}
		var v helmValues
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	gw, edge := load("gateway-values.yaml"), load("edge-values.yaml")
	envOf := func(v helmValues) map[string]string {
		m := map[string]string{}
		for _, e := range v.ExtraEnvs {
			m[e.Name] = e.Value
		}
		return m
	}
	check := func(name string, v helmValues, config, mode string) {
		if v.Mode != mode || v.Command.Name != "otelcol-agent" || v.ConfigMap.Create || v.ConfigMap.ExistingName == "" {
			t.Errorf("%s: mode %q command %q configMap %+v", name, v.Mode, v.Command.Name, v.ConfigMap)
		}
		cfg, err := os.ReadFile(filepath.Join(root, config))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Join(v.Command.ExtraArgs, " ")
		for _, e := range v.ExtraEnvs {
			if strings.HasPrefix(e.Name, "OTELCOL_AGENT_") && !strings.Contains(string(cfg), "${env:"+e.Name) && !strings.Contains(args, "${env:"+e.Name) {
				t.Errorf("%s sets %s, which %s does not read", name, e.Name, config)
			}
			if strings.HasPrefix(e.Value, "/") {
				mounted := false
				for _, m := range v.ExtraVolumeMounts {
					mounted = mounted || strings.HasPrefix(e.Value, m.MountPath+"/")
				}
				if !mounted {
					t.Errorf("%s: %s=%s is under no mounted volume", name, e.Name, e.Value)
				}
			}
		}
		// The binary takes the configuration with the values' environment
		// and arguments (--config flags the chart adds after its own).
		cmdArgs := []string{"validate", "--config", filepath.Join(root, config)}
		for _, a := range v.Command.ExtraArgs {
			cmdArgs = append(cmdArgs, a)
		}
		cmd := exec.Command(e2etest.Binary(t), cmdArgs...)
		cmd.Env = os.Environ()
		for k, val := range envOf(v) {
			cmd.Env = append(cmd.Env, k+"="+val)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %s does not validate with the values: %v\n%s", name, config, err, out)
		}
	}
	check("gateway-values.yaml", gw, "config/gateway.yaml", "statefulset")
	check("edge-values.yaml", edge, "config/edge.yaml", "daemonset")

	if gw.Service.ClusterIP != "None" {
		t.Errorf("gateway service clusterIP %q: the edge's DNS resolver needs a headless service", gw.Service.ClusterIP)
	}
	// The queue and the checkpoint on the StatefulSet's own volume.
	queue := envOf(gw)["OTELCOL_AGENT_QUEUE_DIR"]
	onClaim := false
	for _, c := range gw.Statefulset.VolumeClaimTemplates {
		for _, m := range gw.ExtraVolumeMounts {
			onClaim = onClaim || (m.Name == c.Metadata.Name && strings.HasPrefix(queue, m.MountPath+"/"))
		}
	}
	if !onClaim {
		t.Errorf("gateway queue %q is not on a volumeClaimTemplate's volume", queue)
	}
	// The edge resolves the gateways' headless service by DNS.
	svc := envOf(edge)["OTELCOL_AGENT_GATEWAY_SERVICE"]
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(gw.FullnameOverride) + `\.[a-z0-9-]+\.svc\.cluster\.local$`).MatchString(svc) {
		t.Errorf("edge resolves %q, not the gateway service %q", svc, gw.FullnameOverride)
	}
	if !strings.Contains(strings.Join(edge.Command.ExtraArgs, " "), "dns:") {
		t.Error("the edge does not use the DNS resolver")
	}
}
