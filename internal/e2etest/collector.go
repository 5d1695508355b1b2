// Package e2etest starts the built otelcol-agent binary for end-to-end tests:
// it finds (or builds) the binary, picks free loopback ports, waits for the
// health check and stops the process cleanly.
package e2etest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names the environment variable that points the tests at an
// already built collector (the Makefile sets it).
const BinaryEnv = "OTELCOL_AGENT_BIN"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// RepoRoot returns the repository root: the nearest directory above the
// test's working directory whose go.mod is this module's. (runtime.Caller
// cannot be used: the Makefile builds with -trimpath.)
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(mod), "module github.com/otelcol-agent/otelcol-agent\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no otelcol-agent go.mod above the working directory")
		}
		dir = parent
	}
}

// Binary returns the path of the collector binary: $OTELCOL_AGENT_BIN when
// set, otherwise a build of ./cmd/otelcol-agent made once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", BinaryEnv, p, err)
		}
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "otelcol-agent-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "otelcol-agent")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", buildPath, "./cmd/otelcol-agent")
		cmd.Dir = RepoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Collector is a running otelcol-agent process.
type Collector struct {
	t      testing.TB
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan error
	// Health is the health_check address.
	Health string
	// Dir is the working directory it runs in (a fresh temporary one).
	Dir string
}

// Ports is the set of loopback addresses a collector started with the
// default configuration listens on.
type Ports struct {
	OTLPGRPC, OTLPHTTP, Prometheus, Health string
	Telemetry                              string
	// Spare addresses are free too and distinct from the others (for a
	// test's own servers: Prometheus, Alertmanager, a webhook).
	Spare, Spare2, Spare3 string
}

// ReserveAddrs returns n distinct loopback addresses whose ports were free
// a moment ago. The listeners are held open together until all are picked,
// so the kernel cannot hand the same port out twice.
func ReserveAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

// NewPorts picks free loopback addresses for every listener of
// config/default.yaml, plus spares for the test's own servers.
func NewPorts(t testing.TB) Ports {
	t.Helper()
	a := ReserveAddrs(t, 8)
	return Ports{OTLPGRPC: a[0], OTLPHTTP: a[1], Prometheus: a[2], Health: a[3], Telemetry: a[4], Spare: a[5], Spare2: a[6], Spare3: a[7]}
}

// Env returns the environment variables config/default.yaml reads for these ports.
func (p Ports) Env() map[string]string {
	_, telemetryPort, _ := net.SplitHostPort(p.Telemetry)
	return map[string]string{
		"OTELCOL_AGENT_OTLP_GRPC_ENDPOINT":  p.OTLPGRPC,
		"OTELCOL_AGENT_OTLP_HTTP_ENDPOINT":  p.OTLPHTTP,
		"OTELCOL_AGENT_PROMETHEUS_ENDPOINT": p.Prometheus,
		"OTELCOL_AGENT_HEALTH_ENDPOINT":     p.Health,
		"OTELCOL_AGENT_TELEMETRY_PORT":      telemetryPort,
	}
}

// Start runs the collector with the given --config arguments (paths relative
// to the repository root; none: the embedded default) and extra environment, and waits until its health
// check reports ready. The process is stopped when the test ends.
func Start(t testing.TB, configs []string, env map[string]string, healthAddr string) *Collector {
	t.Helper()
	args := []string{}
	for _, c := range configs {
		if !filepath.IsAbs(c) && !strings.Contains(c, ":") {
			c = filepath.Join(RepoRoot(t), c)
		}
		args = append(args, "--config", c)
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Collector{t: t, cmd: cmd, output: out, done: make(chan error, 1), Health: healthAddr, Dir: cmd.Dir}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", c.output.String())
		}
	})
	c.waitHealthy(60 * time.Second)
	return c
}

func (c *Collector) waitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			c.t.Fatalf("collector exited before it was healthy: %v\n%s", err, c.output.String())
		default:
		}
		resp, err := client.Get("http://" + c.Health + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("collector not healthy on %s within %s\n%s", c.Health, timeout, c.output.String())
}

// Output returns what the collector has logged so far.
func (c *Collector) Output() string { return c.output.String() }

// PeakRSSBytes is the collector's peak resident memory so far (VmHWM, Linux).
func (c *Collector) PeakRSSBytes() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// Kill ends the collector with SIGKILL (no shutdown, nothing flushed) and
// waits for it to be gone.
func (c *Collector) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
	c.done <- nil // for the cleanup
}

// Stop sends SIGTERM and waits for a clean exit (status 0) within the timeout.
func (c *Collector) Stop(timeout time.Duration) error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		return err
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		return errors.New("collector did not stop within " + timeout.String())
	}
}

// Eventually polls cond every interval until it returns nil or the timeout
// passes, and fails the test with the last error.
func Eventually(t testing.TB, timeout time.Duration, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = cond(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %s: %v", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
