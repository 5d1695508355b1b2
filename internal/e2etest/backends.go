package e2etest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Process is a backend (Prometheus, Alertmanager) started for a test.
type Process struct {
	Addr string
	cmd  *exec.Cmd
	out  *syncBuffer
}

// StartProcess runs bin with args and waits until GET readyURL answers 200.
// The process is stopped when the test ends.
func StartProcess(t testing.TB, bin string, args []string, addr, readyPath string) *Process {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s is not installed: run scripts/install-test-deps.sh (make test does): %v", bin, err)
	}
	cmd := exec.Command(path, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Addr: addr, cmd: cmd, out: out}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", bin, tail(out.String(), 4000))
		}
	})
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", bin, out.String())
		default:
		}
		if resp, err := client.Get("http://" + addr + readyPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready on %s:\n%s", bin, addr, out.String())
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// StartPrometheus runs Prometheus (Debian package) with configYAML on a
// loopback address, exemplar storage on.
func StartPrometheus(t testing.TB, configYAML []byte, addr string) *Process {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, configYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	return StartProcess(t, "prometheus", []string{
		"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--enable-feature=exemplar-storage", "--log.level=warn",
	}, addr, "/-/ready")
}

// StartAlertmanager runs Alertmanager (Debian package) with configYAML on a
// loopback address, clustering off (it would listen on every interface).
func StartAlertmanager(t testing.TB, configYAML []byte, addr string) *Process {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, configYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	return StartProcess(t, "prometheus-alertmanager", []string{
		"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--cluster.listen-address=", "--log.level=warn",
	}, addr, "/-/ready")
}

// PromResult is one series of an instant query.
type PromResult struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Float is the sample value.
func (r PromResult) Float() float64 {
	s, _ := r.Value[1].(string)
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// Query runs an instant PromQL query; a parse or execution error is returned.
func Query(addr, q string) ([]PromResult, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []PromResult `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %w: %s", q, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	return r.Data.Result, nil
}

// Scalar sums every series of an instant query.
func Scalar(addr, q string) (float64, error) {
	res, err := Query(addr, q)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, r := range res {
		total += r.Float()
	}
	return total, nil
}

// StartVictoriaLogs runs the pinned VictoriaLogs that
// scripts/install-test-deps.sh builds into bin/victoria-logs, storing in a
// temporary directory and listening on a loopback address. It ingests OTLP
// logs at /insert/opentelemetry/v1/logs and answers LogsQL at
// /select/logsql/query.
func StartVictoriaLogs(t testing.TB, addr string) *Process {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), "bin", "victoria-logs")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run scripts/install-test-deps.sh (make test does): %v", bin, err)
	}
	return StartProcess(t, bin, []string{
		"-storageDataPath=" + t.TempDir(), "-httpListenAddr=" + addr, "-loggerLevel=WARN",
	}, addr, "/health")
}
