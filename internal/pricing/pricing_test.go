package pricing

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func mustBuiltin(t *testing.T) *Table {
	t.Helper()
	tb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestBuiltinTableCoverage(t *testing.T) {
	tb := mustBuiltin(t)
	if tb.Len() < 150 {
		t.Fatalf("built-in table has %d model patterns, want at least 150", tb.Len())
	}
	date := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	for name, e := range tb.Entries() {
		if e.Source == "" || !date.MatchString(e.AsOf) {
			t.Errorf("%s: source %q as_of %q: every entry needs a source and an as-of date", name, e.Source, e.AsOf)
		}
	}
	// One model of every family the table promises.
	for _, m := range []string{"gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "mistral-large", "llama-3.3-70b-instruct",
		"deepseek-chat", "grok-4", "nova-pro"} {
		if _, ok := tb.Lookup(m); !ok {
			t.Errorf("%s: no price", m)
		}
	}
}

func TestLookupNormalisesNames(t *testing.T) {
	tb := mustBuiltin(t)
	cases := map[string]float64{ // model -> expected input price
		"gpt-4o":                                       2.50,
		"openai/gpt-4o-2024-08-06":                     2.50,
		"gpt-4o-2024-05-13":                            5.00, // a dated name with its own price wins over the stripped one
		"GPT-4o-Mini":                                  0.15,
		"gpt-4o-mini-2024-07-18":                       0.15,
		"claude-sonnet-4-5-20250929":                   3.00,
		"anthropic/claude-3-5-haiku-latest":            0.80,
		"us.anthropic.claude-3-5-sonnet-20241022-v2:0": 3.00,
		"claude-3-5-sonnet-v2@20241022":                3.00,
		"meta.llama3-1-70b-instruct-v1:0":              0.72,
		"meta-llama/Llama-3.3-70B-Instruct-Turbo":      0.88,
		"meta-llama/llama-4-scout-17b-16e-instruct":    0.11, // Groq's name for it, with the prefix, is an exact entry
		"amazon.nova-lite-v1:0":                        0.06,
		"gemini-2.5-flash-preview-05-20":               0.30, // prefix match
		"mistral-large-latest":                         2.00,
		"gpt-3.5-turbo-0125":                           0.50,
		"deepseek/deepseek-reasoner":                   0.28,
		"x-ai/grok-4-fast-reasoning":                   0.20,
	}
	for model, want := range cases {
		e, ok := tb.Lookup(model)
		if !ok {
			t.Errorf("%s: not found", model)
			continue
		}
		if e.Input != want {
			t.Errorf("%s: input price %v, want %v (matched %v)", model, e.Input, want, e.Models)
		}
	}
	for _, unknown := range []string{"", "my-finetune", "gpt", "claude", "text-davinci-unknown-x"} {
		if e, ok := tb.Lookup(unknown); ok {
			t.Errorf("%q matched %v, want unknown", unknown, e.Models)
		}
	}
}

func TestCostWithCache(t *testing.T) {
	tb := mustBuiltin(t)
	e, _ := tb.Lookup("claude-sonnet-4-5")
	// 1000 input of which 600 cache read and 100 cache write; 200 output.
	got := e.Cost(Usage{Input: 1000, CacheRead: 600, CacheWrite: 100, Output: 200})
	want := (300*3.00 + 600*0.30 + 100*3.75 + 200*15.00) / 1e6
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost %v, want %v", got, want)
	}
	// No cache prices: cache tokens cost the input price.
	e, _ = tb.Lookup("mistral-large")
	got = e.Cost(Usage{Input: 1000, CacheRead: 500, Output: 0})
	if want := 1000 * 2.00 / 1e6; math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost %v, want %v", got, want)
	}
}

func TestLoadFileOverridesAndValidates(t *testing.T) {
	tb := mustBuiltin(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "p.yaml")
	os.WriteFile(good, []byte("providers:\n  - name: inhouse\n    source: contract\n    as_of: \"2026-01-01\"\n    models:\n      - {models: [gpt-4o, acme-7b], input: 1, output: 2}\n"), 0o600)
	if err := tb.LoadFile(good); err != nil {
		t.Fatal(err)
	}
	if e, _ := tb.Lookup("gpt-4o"); e.Input != 1 || e.Source != "contract" {
		t.Fatalf("override not applied: %+v", e)
	}
	if _, ok := tb.Lookup("acme-7b-chat"); !ok {
		t.Fatal("added model not found by prefix")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("providers:\n  - name: x\n    models:\n      - {models: [m], input: -1, output: 2}\n"), 0o600)
	if err := tb.LoadFile(bad); err == nil || !regexp.MustCompile(`input: price must be a non-negative`).MatchString(err.Error()) {
		t.Fatalf("negative price: err %v", err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("providers:\n  - name: x\n    models:\n      - {models: [m], inptu: 1, output: 2}\n"), 0o600)
	if err := tb.LoadFile(typo); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func TestPricerMemoises(t *testing.T) {
	p := NewPricer(mustBuiltin(t))
	for range 3 {
		if _, ok := p.Lookup("openai/gpt-4o-2024-08-06"); !ok {
			t.Fatal("not found")
		}
		if _, ok := p.Lookup("nope"); ok {
			t.Fatal("unknown found")
		}
	}
	if p.size.Load() != 2 {
		t.Fatalf("cache size %d, want 2", p.size.Load())
	}
	if n := testing.AllocsPerRun(100, func() { p.Lookup("openai/gpt-4o-2024-08-06") }); n != 0 {
		t.Fatalf("memoised lookup allocates %v times", n)
	}
}
