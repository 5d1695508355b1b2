// Package pricing prices LLM token usage in USD from a table of per-model
// prices: a built-in table (prices.yaml, embedded) plus user overrides.
package pricing

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

//go:embed prices.yaml
var builtinYAML []byte

// Price is USD per 1M tokens for one model.
type Price struct {
	Input      float64  `yaml:"input" mapstructure:"input"`
	Output     float64  `yaml:"output" mapstructure:"output"`
	CacheRead  *float64 `yaml:"cache_read" mapstructure:"cache_read"`
	CacheWrite *float64 `yaml:"cache_write" mapstructure:"cache_write"`
}

// Entry is one row of a price table.
type Entry struct {
	Models []string `yaml:"models" mapstructure:"models"`
	Price  `yaml:",inline" mapstructure:",squash"`
	Source string `yaml:"source" mapstructure:"source"`
	AsOf   string `yaml:"as_of" mapstructure:"as_of"`
}

type providerBlock struct {
	Name   string  `yaml:"name"`
	Source string  `yaml:"source"`
	AsOf   string  `yaml:"as_of"`
	Models []Entry `yaml:"models"`
}

type tableFile struct {
	Providers []providerBlock `yaml:"providers"`
}

// Table maps normalised model names to prices.
type Table struct {
	byName map[string]*Entry
}

// Builtin parses the embedded table. It is called once per component start.
func Builtin() (*Table, error) {
	entries, err := parseTable(builtinYAML)
	if err != nil {
		return nil, fmt.Errorf("built-in price table: %w", err)
	}
	t := &Table{byName: map[string]*Entry{}}
	return t, t.add(entries)
}

// Empty returns a table with no prices.
func Empty() *Table { return &Table{byName: map[string]*Entry{}} }

// LoadFile adds (or overrides) the entries of a YAML file in the built-in
// table's format.
func (t *Table) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	entries, err := parseTable(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return t.add(entries)
}

// Add adds (or overrides) entries.
func (t *Table) Add(entries []Entry) error { return t.add(entries) }

func parseTable(data []byte) ([]Entry, error) {
	var f tableFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	var out []Entry
	for _, p := range f.Providers {
		for _, e := range p.Models {
			if e.Source == "" {
				e.Source = p.Source
			}
			if e.AsOf == "" {
				e.AsOf = p.AsOf
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// ValidateEntry reports what is wrong with an entry, naming the field.
func ValidateEntry(e Entry) error {
	var errs []error
	if len(e.Models) == 0 {
		errs = append(errs, errors.New("models: at least one model name is required"))
	}
	for _, m := range e.Models {
		if strings.TrimSpace(m) == "" {
			errs = append(errs, errors.New("models: empty model name"))
		}
	}
	check := func(name string, v float64) {
		if v < 0 || v != v {
			errs = append(errs, fmt.Errorf("%s: price must be a non-negative number, got %v", name, v))
		}
	}
	check("input", e.Input)
	check("output", e.Output)
	if e.CacheRead != nil {
		check("cache_read", *e.CacheRead)
	}
	if e.CacheWrite != nil {
		check("cache_write", *e.CacheWrite)
	}
	return errors.Join(errs...)
}

func (t *Table) add(entries []Entry) error {
	for i := range entries {
		e := entries[i]
		if err := ValidateEntry(e); err != nil {
			return fmt.Errorf("entry %d (%v): %w", i, e.Models, err)
		}
		for _, m := range e.Models {
			t.byName[strings.ToLower(strings.TrimSpace(m))] = &e
		}
	}
	return nil
}

// Len is the number of model names the table knows.
func (t *Table) Len() int { return len(t.byName) }

// Entries returns every name with its entry (for docs and tests).
func (t *Table) Entries() map[string]Entry {
	out := make(map[string]Entry, len(t.byName))
	for k, v := range t.byName {
		out[k] = *v
	}
	return out
}

// Usage is what a call consumed. Input includes CacheRead and CacheWrite.
type Usage struct {
	Input, Output, CacheRead, CacheWrite int64
}

// Cost prices usage with p: uncached input at the input price, cache reads
// and writes at their prices (the input price when the entry has none),
// output at the output price.
func (p *Price) Cost(u Usage) float64 {
	uncached := u.Input - u.CacheRead - u.CacheWrite
	if uncached < 0 {
		uncached = 0
	}
	cr, cw := p.Input, p.Input
	if p.CacheRead != nil {
		cr = *p.CacheRead
	}
	if p.CacheWrite != nil {
		cw = *p.CacheWrite
	}
	return (float64(uncached)*p.Input + float64(u.CacheRead)*cr + float64(u.CacheWrite)*cw + float64(u.Output)*p.Output) / 1e6
}

// Lookup finds the price of model, trying in order: the exact name (lower
// case); the name without provider prefixes (anything up to the last "/",
// Bedrock's "us.anthropic." style prefixes); without version and date
// suffixes ("-v1:0", "@20240620", "-2024-08-06", "-20250929", "-0613",
// "-latest"); then the longest known name that is a prefix ending at a "-".
// It does not allocate when the name is already lower case.
func (t *Table) Lookup(model string) (*Entry, bool) {
	if model == "" {
		return nil, false
	}
	name := lowerASCII(model)
	if e, ok := t.byName[name]; ok {
		return e, true
	}
	name = stripProviderPrefix(name)
	if e, ok := t.byName[name]; ok {
		return e, true
	}
	name = stripVersionSuffix(name)
	if e, ok := t.byName[name]; ok {
		return e, true
	}
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '-' {
			if e, ok := t.byName[name[:i]]; ok {
				return e, true
			}
		}
	}
	return nil, false
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Bedrock: [region.]vendor.model, e.g. "us.anthropic.claude-3-5-sonnet-...",
// "meta.llama3-1-70b-instruct-v1:0", "amazon.nova-pro-v1:0".
var bedrockVendors = []string{"anthropic.", "meta.", "amazon.", "mistral.", "deepseek.", "cohere.", "ai21.", "openai.", "writer.", "qwen."}
var bedrockRegions = []string{"us.", "eu.", "apac.", "global.", "us-gov.", "ca.", "jp.", "au."}

func stripProviderPrefix(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	for _, r := range bedrockRegions {
		if strings.HasPrefix(s, r) {
			s = s[len(r):]
			break
		}
	}
	for _, v := range bedrockVendors {
		if strings.HasPrefix(s, v) {
			return s[len(v):]
		}
	}
	return s
}

var (
	reBedrockVersion = regexp.MustCompile(`-v\d+(:\d+)?$|:\d+$`)
	reVertexVersion  = regexp.MustCompile(`@.*$`)
	reDateISO        = regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`)
	reDateCompact    = regexp.MustCompile(`-20\d{6}$`)
	reDateMMDD       = regexp.MustCompile(`-\d{4}$`)
)

func stripVersionSuffix(s string) string {
	if strings.ContainsAny(s, "@:") || strings.Contains(s, "-v") {
		s = reVertexVersion.ReplaceAllString(s, "")
		s = reBedrockVersion.ReplaceAllString(s, "")
	}
	s = strings.TrimSuffix(s, "-latest")
	s = reDateISO.ReplaceAllString(s, "")
	s = reDateCompact.ReplaceAllString(s, "")
	s = reDateMMDD.ReplaceAllString(s, "")
	return s
}

// maxCachedNames bounds the lookup cache; names past it are looked up each time.
const maxCachedNames = 4096

// Pricer memoises Lookup per model name (model names repeat on every span).
// It is safe for concurrent use.
type Pricer struct {
	table *Table
	cache sync.Map // string -> *Entry (nil: unknown)
	size  atomic.Int64
}

// NewPricer wraps t.
func NewPricer(t *Table) *Pricer { return &Pricer{table: t} }

// Lookup is Table.Lookup with memoisation.
func (p *Pricer) Lookup(model string) (*Entry, bool) {
	if v, ok := p.cache.Load(model); ok {
		e := v.(*Entry)
		return e, e != nil
	}
	e, ok := p.table.Lookup(model)
	if p.size.Load() < maxCachedNames {
		if _, loaded := p.cache.LoadOrStore(model, e); !loaded {
			p.size.Add(1)
		}
	}
	return e, ok
}
