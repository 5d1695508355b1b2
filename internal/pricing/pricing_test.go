package pricing

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func mustBuiltin(t *testing.T) *Table {
	t.Helper()
	tb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// at is the instant the tests price at (the database has dated prices).
var at = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestBuiltinTableCoverage(t *testing.T) {
	tb := mustBuiltin(t)
	if tb.Source() != "@pydantic/genai-prices@0.1.8" {
		t.Errorf("source %q: the database's package and version must be recorded", tb.Source())
	}
	if n := len(tb.db.byName); n < 1000 {
		t.Fatalf("the database prices %d model names exactly, want at least 1,000", n)
	}
	if tb.Len() < len(tb.db.byName) {
		t.Fatalf("Len %d below the database's %d names", tb.Len(), len(tb.db.byName))
	}
	date := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	for name, e := range tb.over.byName {
		if e.Source == "" || !date.MatchString(e.AsOf) {
			t.Errorf("override %s: source %q as_of %q: every override needs a source and an as-of date", name, e.Source, e.AsOf)
		}
	}
	for name, e := range tb.db.byName {
		if !strings.HasPrefix(e.Source, "@pydantic/genai-prices@0.1.8 ") || e.Provider() == "" || e.ID() == "" {
			t.Errorf("%s: source %q provider %q id %q", name, e.Source, e.Provider(), e.ID())
		}
	}
	// One model of every family the table promises.
	for _, m := range []string{"gpt-4o", "gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro", "mistral-large", "llama-3.3-70b-instruct",
		"deepseek-chat", "grok-4", "nova-pro", "command-r-plus", "us.anthropic.claude-sonnet-4-20250514-v1:0"} {
		if _, ok := tb.Lookup(m); !ok {
			t.Errorf("%s: no price", m)
		}
	}
}

// Every price the package's own calcPrice computes (make prices records
// them: every model under a small usage, a usage past every long-context
// tier, and output-free usage, dated models at several instants) is what
// Cost computes from the generated data.
func TestDatabaseMatchesThePackagesOwnPrices(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "genai_prices_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Source  string  `json:"source"`
		Vectors [][]any `json:"vectors"` // provider, model id, [input, cache read, cache write, output], instant, input price, output price
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	db, err := loadDatabase(databaseJSON)
	if err != nil {
		t.Fatal(err)
	}
	if f.Source != db.source {
		t.Fatalf("vectors from %s, data from %s: run make prices", f.Source, db.source)
	}
	byID := map[string]*Entry{}
	for _, d := range db.entries {
		byID[d.entry.provider+"/"+d.entry.id] = d.entry
	}
	tiered, dated, checked, incomplete := 0, 0, 0, 0
	for _, v := range f.Vectors {
		key := v[0].(string) + "/" + v[1].(string)
		e := byID[key]
		if e == nil {
			t.Errorf("%s: not in the data", key)
			continue
		}
		n := v[2].([]any)
		u := Usage{Input: int64(n[0].(float64)), CacheRead: int64(n[1].(float64)), CacheWrite: int64(n[2].(float64)), Output: int64(n[3].(float64))}
		when, err := time.Parse(time.RFC3339, v[3].(string))
		if err != nil {
			t.Fatal(err)
		}
		want := v[4].(float64) + v[5].(float64)
		got, complete := e.Cost(u, when)
		if !complete {
			// The package bills a part without a price at zero; we do not
			// call such a cost complete. It must be one.
			ps := e.setAt(when)
			if !(u.Output > 0 && !ps.output.set) && ps.input.set {
				t.Errorf("%s %+v at %s: incomplete, the package prices it %v", key, u, when, want)
			}
			incomplete++
			continue
		}
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("%s %+v at %s: cost %v, the package says %v", key, u, when, got, want)
		}
		checked++
		if s := e.setAt(when); len(s.input.tiers) > 0 && u.Input >= s.input.tiers[0].start {
			tiered++
		}
		if len(e.dated) > 1 {
			dated++
		}
	}
	t.Logf("%d prices checked against %s (%d past a long-context tier, %d of dated models); %d incomplete (a part with tokens and no price)",
		checked, f.Source, tiered, dated, incomplete)
	if checked < 4000 || tiered < 150 || dated < 50 {
		t.Fatalf("too few reference prices checked: %d (%d tiered, %d dated)", checked, tiered, dated)
	}
}

// Long-context tiers reprice the whole request once the prompt (all input,
// cache included) passes the threshold; at the threshold it is the base.
func TestTieredPrices(t *testing.T) {
	tb := mustBuiltin(t)
	e, m := tb.Resolve("claude-sonnet-4-5")
	if m != MatchExact {
		t.Fatalf("claude-sonnet-4-5: %v", m)
	}
	got, ok := e.Cost(Usage{Input: 300000, CacheRead: 100000, Output: 100}, at)
	if want := (200000*6.0 + 100000*0.6 + 100*22.5) / 1e6; !ok || math.Abs(got-want) > 1e-12 {
		t.Fatalf("past the tier: %v %v, want %v", got, ok, want)
	}
	got, _ = e.Cost(Usage{Input: 200000, Output: 100}, at)
	if want := (200000*3.0 + 100*15.0) / 1e6; math.Abs(got-want) > 1e-12 {
		t.Fatalf("at the threshold: %v, want the base %v", got, want)
	}
}

// Dated prices apply from their start date; time-of-day prices in their
// UTC window.
func TestDatedPrices(t *testing.T) {
	tb := mustBuiltin(t)
	e, _ := tb.Resolve("gemini-3.7-flash")
	if len(e.dated) < 2 {
		t.Fatalf("gemini-3.7-flash: %d price sets, want an introductory and a later one", len(e.dated))
	}
	u := Usage{Input: 1e6}
	before, _ := e.Cost(u, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC))
	after, _ := e.Cost(u, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if before != 0.75 || after != 1.5 {
		t.Fatalf("gemini-3.7-flash input: %v before 2027-01-01, %v after; want 0.75 and 1.5", before, after)
	}
	var windowed *Entry
	for _, e := range tb.db.byName {
		for _, d := range e.dated {
			if d.when.kind == timeOfDay {
				windowed = e
			}
		}
	}
	if windowed == nil {
		t.Fatal("no time-of-day prices in the database")
	}
	for i := range windowed.dated {
		d := &windowed.dated[i]
		if d.when.kind != timeOfDay {
			continue
		}
		in := time.Date(2028, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(d.when.from) * time.Second)
		if got := windowed.setAt(in); got != &d.set {
			t.Errorf("%s: the set of the window starting at %ds does not apply inside it", windowed.id, d.when.from)
		}
	}
}

// A part with tokens and no price makes the cost incomplete; cache parts
// without a price fall back to the input price (as the package does).
func TestIncompleteCost(t *testing.T) {
	e := &Entry{dated: []datedPrices{{set: priceSet{input: flat(1)}}}}
	if c, ok := e.Cost(Usage{Input: 1000}, at); !ok || c != 0.001 {
		t.Fatalf("input only: %v %v", c, ok)
	}
	if c, ok := e.Cost(Usage{Input: 1000, CacheRead: 500}, at); !ok || c != 0.001 {
		t.Fatalf("cache read at the input price: %v %v", c, ok)
	}
	if _, ok := e.Cost(Usage{Input: 1000, Output: 1}, at); ok {
		t.Fatal("output tokens without an output price: complete")
	}
	e = &Entry{dated: []datedPrices{{set: priceSet{output: flat(1)}}}}
	if _, ok := e.Cost(Usage{Input: 10, CacheRead: 10, Output: 5}, at); ok {
		t.Fatal("cache reads without a cache or an input price: complete")
	}
}

// Every name of the hand-kept table this one replaced still resolves to
// its old rates, or to the new ones testdata/old-table-changes.yaml lists
// with the reason.
func TestHandKeptTableStillResolves(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "hand-kept-2025-11.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := parseTable(old)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "old-table-changes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var changes struct {
		Changes []struct {
			Model string     `yaml:"model"`
			Old   [4]float64 `yaml:"old"`
			New   [4]float64 `yaml:"new"`
			Now   string     `yaml:"now"`
			Why   string     `yaml:"why"`
		} `yaml:"changes"`
	}
	if err := yaml.Unmarshal(raw, &changes); err != nil {
		t.Fatal(err)
	}
	changed := map[string][2][4]float64{}
	for _, c := range changes.Changes {
		if c.Why == "" {
			t.Errorf("%s: a change needs its reason", c.Model)
		}
		changed[c.Model] = [2][4]float64{c.Old, c.New}
	}
	tb := mustBuiltin(t)
	names := 0
	for _, e := range entries {
		oldRates := effective(e.dated0())
		for _, m := range e.Models {
			names++
			n, ok := tb.Lookup(m)
			if !ok {
				t.Errorf("%s: no longer priced", m)
				continue
			}
			got := effective(n.setAt(at))
			want := oldRates
			if c, listed := changed[m]; listed {
				if c[0] != oldRates {
					t.Errorf("%s: old rates listed %v, the old table says %v", m, c[0], oldRates)
				}
				want = c[1]
				delete(changed, m)
			}
			if got != want {
				t.Errorf("%s: rates %v (%s/%s), want %v", m, got, n.Provider(), n.ID(), want)
			}
		}
	}
	for m := range changed {
		t.Errorf("%s: listed as changed but not in the old table", m)
	}
	if names < 200 {
		t.Fatalf("old table has %d names", names)
	}
}

func (e Entry) dated0() *priceSet {
	s := priceSet{input: flat(e.Input), output: flat(e.Output)}
	if e.CacheRead != nil {
		s.cacheRead = flat(*e.CacheRead)
	}
	if e.CacheWrite != nil {
		s.cacheWrite = flat(*e.CacheWrite)
	}
	return &s
}

// effective: input, output, cache read and cache write base rates, a cache
// part without a price at the input rate.
func effective(s *priceSet) [4]float64 {
	r := [4]float64{s.input.base, s.output.base, s.input.base, s.input.base}
	if s.cacheRead.set {
		r[2] = s.cacheRead.base
	}
	if s.cacheWrite.set {
		r[3] = s.cacheWrite.base
	}
	return r
}

func TestLookupNormalisesNames(t *testing.T) {
	tb := mustBuiltin(t)
	cases := map[string]struct {
		input float64
		m     Match
	}{ // model -> expected input price and kind of match
		"gpt-4o":                                       {2.50, MatchExact},
		"openai/gpt-4o-2024-08-06":                     {2.50, MatchExact}, // the database lists it
		"gpt-4o-2024-05-13":                            {5.00, MatchExact}, // a dated name with its own price wins over the stripped one
		"GPT-4o-Mini":                                  {0.15, MatchExact},
		"gpt-4o-mini-2024-07-18":                       {0.15, MatchExact},
		"claude-sonnet-4-5-20250929":                   {3.00, MatchFamily}, // by the database's pattern
		"anthropic/claude-3-5-haiku-latest":            {0.80, MatchFamily},
		"us.anthropic.claude-3-5-sonnet-20241022-v2:0": {3.00, MatchFamily},
		"claude-3-5-sonnet-v2@20241022":                {3.00, MatchFamily},
		"meta.llama3-1-70b-instruct-v1:0":              {0.72, MatchExact}, // Bedrock's id, in the database
		"amazon.nova-lite-v1:0":                        {0.06, MatchExact},
		"us.amazon.nova-lite-v1:0":                     {0.06, MatchFamily},
		"gemini-2.5-flash-preview-05-20":               {0.15, MatchExact}, // the database lists it
		"acme/gpt-4o-mini-2024-07-18":                  {0.15, MatchFamily},
		"gpt-4o-mini-2024-07-18-ft-acme":               {0.15, MatchFamily},
		"mistral-large-latest":                         {2.00, MatchExact},
		"gpt-3.5-turbo-0125":                           {0.50, MatchExact},
		"my-finetune-of-gpt-4o":                        {0, MatchNone},
	}
	for model, want := range cases {
		e, m := tb.Resolve(model)
		if m != want.m {
			t.Errorf("%s: %v match, want %v", model, m, want.m)
		}
		if m == MatchNone {
			continue
		}
		if got := e.setAt(at).input.base; got != want.input {
			t.Errorf("%s: input price %v, want %v (matched %s/%s %v)", model, got, want.input, e.Provider(), e.ID(), e.Models)
		}
	}
	for _, unknown := range []string{"", "my-finetune", "gpt", "claude", "acme-internal-model-v3"} {
		if e, ok := tb.Lookup(unknown); ok {
			t.Errorf("%q matched %s/%s %v, want unknown", unknown, e.Provider(), e.ID(), e.Models)
		}
	}
}

func TestCostWithCache(t *testing.T) {
	tb := mustBuiltin(t)
	e, _ := tb.Lookup("claude-sonnet-4-5")
	// 1000 input of which 600 cache read and 100 cache write; 200 output.
	got, ok := e.Cost(Usage{Input: 1000, CacheRead: 600, CacheWrite: 100, Output: 200}, at)
	want := (300*3.00 + 600*0.30 + 100*3.75 + 200*15.00) / 1e6
	if !ok || math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost %v %v, want %v", got, ok, want)
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
	if c, ok := func() (float64, bool) { e, _ := tb.Lookup("gpt-4o"); return e.Cost(Usage{Input: 1e6, Output: 1e6}, at) }(); !ok || c != 3 {
		t.Fatalf("override cost %v %v, want 3", c, ok)
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
		if _, m := p.Resolve("acme/gpt-4o-mini-2024-07-18"); m != MatchFamily {
			t.Fatalf("match %v", m)
		}
		if _, ok := p.Lookup("nope"); ok {
			t.Fatal("unknown found")
		}
	}
	if p.size.Load() != 2 {
		t.Fatalf("cache size %d, want 2", p.size.Load())
	}
	if n := testing.AllocsPerRun(100, func() { p.Resolve("acme/gpt-4o-mini-2024-07-18") }); n != 0 {
		t.Fatalf("memoised lookup allocates %v times", n)
	}
}

// Unknown names walk every database pattern: bounded, not free.
func BenchmarkResolveUnknown(b *testing.B) {
	tb, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tb.Resolve("acme-internal-model-v3-2026")
	}
}

func BenchmarkBuiltin(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Builtin(); err != nil {
			b.Fatal(err)
		}
	}
}
