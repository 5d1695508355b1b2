// Package agenttest loads the recorded traces of real instrumentation
// libraries (testdata/real-clients, copied from the project's shared
// fixtures with their README) for golden tests of the agent components.
package agenttest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// RealClientFiles are the recorded fixtures; each holds the same 10-run scenario.
var RealClientFiles = []string{"otel-genai.otlp.jsonl", "openinference.otlp.jsonl", "traceloop.otlp.jsonl"}

// Dir is the directory of the real-client fixtures. The package is always
// compiled from source in tests, so its own path is known even with
// -trimpath via the embed-free fallback below.
func Dir(t testing.TB) string {
	t.Helper()
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Join(filepath.Dir(file), "testdata", "real-clients")
	}
	// -trimpath: walk up from the test's working directory to the module root.
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "internal", "agenttest", "testdata", "real-clients")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("real-client fixtures not found")
		}
		dir = parent
	}
}

// Load reads one OTLP/JSON file (one ExportTraceServiceRequest per line)
// and returns each line as its own Traces, in file order.
func Load(t testing.TB, name string) []ptrace.Traces {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseJSONLines(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// ParseJSONLines reads OTLP/JSON as the file exporter writes it: one
// ExportTraceServiceRequest per line; blank lines are skipped.
func ParseJSONLines(data []byte) ([]ptrace.Traces, error) {
	var out []ptrace.Traces
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var u ptrace.JSONUnmarshaler
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		td, err := u.UnmarshalTraces(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("line is not OTLP/JSON: %w", err)
		}
		out = append(out, td)
	}
	return out, sc.Err()
}

// LoadMerged returns every line of the file merged into one Traces.
func LoadMerged(t testing.TB, name string) ptrace.Traces {
	t.Helper()
	all := ptrace.NewTraces()
	for _, td := range Load(t, name) {
		td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
	}
	return all
}
