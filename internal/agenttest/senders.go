package agenttest

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.yaml.in/yaml/v3"
)

// A sender fixture (testdata/senders) is one library's traces for the same
// two-run scenario (an agent "support_bot": two LLM calls around a
// lookup_order tool call per run, the second run's tool call failing), built
// in the shape that library emits from its public source, with the truth a
// correct reader derives. The truth file names the library, its version
// and the source files read.

// SenderTruth is a sender fixture's truth file.
type SenderTruth struct {
	Sender   string   `yaml:"sender"`
	Library  string   `yaml:"library"`
	ReadFrom []string `yaml:"read_from"`
	AgentID  string   `yaml:"agent_id"`
	Runs     struct {
		Success int `yaml:"success"`
		Failure int `yaml:"failure"`
	} `yaml:"runs"`
	LLMCalls  map[string]int              `yaml:"llm_calls"`
	Tokens    map[string]map[string]int64 `yaml:"tokens"`     // model -> direction (input = uncached) -> tokens
	ToolCalls map[string]map[string]int   `yaml:"tool_calls"` // tool -> status -> calls
	Notes     string                      `yaml:"notes"`
}

// SenderFiles lists the sender fixtures (names without extension).
func SenderFiles(t testing.TB) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(sendersDir(t), "*.otlp.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(filepath.Base(m), ".otlp.jsonl"))
	}
	sort.Strings(out)
	return out
}

// LoadSender reads a sender fixture: its requests, one per line in export
// order, and its truth.
func LoadSender(t testing.TB, name string) ([]ptrace.Traces, SenderTruth) {
	t.Helper()
	dir := sendersDir(t)
	data, err := os.ReadFile(filepath.Join(dir, name+".otlp.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tds, err := ParseJSONLines(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name+".truth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var truth SenderTruth
	if err := yaml.Unmarshal(raw, &truth); err != nil {
		t.Fatalf("%s.truth.yaml: %v", name, err)
	}
	if truth.Sender != name || truth.Library == "" || len(truth.ReadFrom) == 0 {
		t.Fatalf("%s.truth.yaml: sender, library and read_from are required", name)
	}
	return tds, truth
}

func sendersDir(t testing.TB) string {
	return filepath.Join(filepath.Dir(Dir(t)), "senders")
}
