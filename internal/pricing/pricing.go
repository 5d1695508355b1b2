// Package pricing prices LLM token usage in USD: a price database generated
// from a maintained registry package (genai_prices.json, embedded; see
// tools/prices), hand-kept overrides on top (overrides.yaml), and the
// user's overrides on top of those.
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
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed overrides.yaml
var overridesYAML []byte

// Price is USD per 1M tokens for one model: the format of overrides
// (overrides.yaml, pricing.file, pricing.models). A cache price left out
// bills those tokens at the input price.
type Price struct {
	Input      float64  `yaml:"input" mapstructure:"input"`
	Output     float64  `yaml:"output" mapstructure:"output"`
	CacheRead  *float64 `yaml:"cache_read" mapstructure:"cache_read"`
	CacheWrite *float64 `yaml:"cache_write" mapstructure:"cache_write"`
}

// Entry is one priced model: an override row, or a model of the price
// database (then Price holds its first price set's base rates, and the
// dated, tiered sets are used to price usage).
type Entry struct {
	Models []string `yaml:"models" mapstructure:"models"`
	Price  `yaml:",inline" mapstructure:",squash"`
	Source string `yaml:"source" mapstructure:"source"`
	AsOf   string `yaml:"as_of" mapstructure:"as_of"`

	provider, id string        // database provider and model id ("" for overrides)
	dated        []datedPrices // price sets; the last that applies wins
}

// Provider is the database provider id of the entry ("" for an override).
func (e *Entry) Provider() string { return e.provider }

// ID is the database model id of the entry ("" for an override).
func (e *Entry) ID() string { return e.id }

type providerBlock struct {
	Name   string  `yaml:"name"`
	Source string  `yaml:"source"`
	AsOf   string  `yaml:"as_of"`
	Models []Entry `yaml:"models"`
}

type tableFile struct {
	Providers []providerBlock `yaml:"providers"`
}

// Match says how a model name found its price.
type Match uint8

const (
	// MatchNone: no price for the name.
	MatchNone Match = iota
	// MatchExact: the name as sent (case aside) is a priced name.
	MatchExact
	// MatchFamily: found after removing provider prefixes and version or
	// date suffixes, by a database pattern, or by the longest priced prefix.
	MatchFamily
)

func (m Match) String() string {
	switch m {
	case MatchExact:
		return "exact"
	case MatchFamily:
		return "family"
	}
	return "unpriced"
}

// layer is one level of the table: overrides, or the database.
type layer struct {
	byName   map[string]*Entry
	patterns []dbEntry // database models whose rule is more than exact names, in preference order
}

// Table prices model names: overrides (the hand-kept overrides.yaml, then
// the user's file and models) on top of the price database.
type Table struct {
	over   layer
	db     layer
	source string // the database's package@version ("" without it)
}

// Builtin is the price database with the hand-kept overrides on top. It is
// called once per component start; the database is compiled once per
// process and shared (read-only) by every table.
func Builtin() (*Table, error) {
	db, err := builtinDB()
	if err != nil {
		return nil, err
	}
	t := Empty()
	t.source, t.db = db.source, db.layer
	entries, err := parseTable(overridesYAML)
	if err != nil {
		return nil, fmt.Errorf("built-in price overrides: %w", err)
	}
	return t, t.add(entries)
}

// compiledDB is the embedded database as a lookup layer.
type compiledDB struct {
	source string
	layer  layer
}

var builtinDB = sync.OnceValues(func() (*compiledDB, error) {
	db, err := loadDatabase(databaseJSON)
	if err != nil {
		return nil, err
	}
	out := &compiledDB{source: db.source, layer: layer{byName: map[string]*Entry{}}}
	for _, d := range db.entries {
		names := d.rule.equalsNames(nil)
		if id := strings.ToLower(d.entry.id); d.rule.match(id) {
			names = append(names, id)
		}
		for _, n := range names {
			if _, taken := out.layer.byName[n]; !taken { // the preferred provider, first model in its order
				out.layer.byName[n] = d.entry
			}
		}
		if !d.rule.onlyEquals() {
			out.layer.patterns = append(out.layer.patterns, d)
		}
	}
	return out, nil
})

// Source is the price database the table was built from (package@version).
func (t *Table) Source() string { return t.source }

// Empty returns a table with no prices.
func Empty() *Table {
	return &Table{over: layer{byName: map[string]*Entry{}}, db: layer{byName: map[string]*Entry{}}}
}

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
		set := priceSet{input: flat(e.Input), output: flat(e.Output)}
		if e.CacheRead != nil {
			set.cacheRead = flat(*e.CacheRead)
		}
		if e.CacheWrite != nil {
			set.cacheWrite = flat(*e.CacheWrite)
		}
		e.dated = []datedPrices{{set: set}}
		for _, m := range e.Models {
			t.over.byName[strings.ToLower(strings.TrimSpace(m))] = &e
		}
	}
	return nil
}

// Len is the number of model names the table prices exactly (overrides and
// the database's names; its patterns price more).
func (t *Table) Len() int {
	n := len(t.db.byName)
	for name := range t.over.byName {
		if _, ok := t.db.byName[name]; !ok {
			n++
		}
	}
	return n
}

// Entries returns every exactly priced name with its entry (for docs and
// tests); an override shadows the database's entry of the same name.
func (t *Table) Entries() map[string]Entry {
	out := make(map[string]Entry, t.Len())
	for k, v := range t.db.byName {
		out[k] = *v
	}
	for k, v := range t.over.byName {
		out[k] = *v
	}
	return out
}

// Usage is what a call consumed. Input includes CacheRead and CacheWrite.
type Usage struct {
	Input, Output, CacheRead, CacheWrite int64
}

// Cost prices usage at time at (which picks among dated prices; the zero
// time takes the first set): uncached input at the input price, cache reads
// and writes at their prices (the input price when the model has none),
// output at the output price. Past a long-context tier's threshold of input
// tokens every part is billed at that tier. complete is false when a part
// with tokens has no price (a model priced per request, say): the cost is
// then the priced parts only and must not be reported as the call's cost.
func (e *Entry) Cost(u Usage, at time.Time) (usd float64, complete bool) {
	s := e.setAt(at)
	complete = true
	part := func(n int64, r, fallback *rate) float64 {
		if n <= 0 {
			return 0
		}
		if !r.set {
			r = fallback
		}
		if r == nil || !r.set {
			complete = false
			return 0
		}
		return float64(n) * r.at(u.Input)
	}
	uncached := u.Input - u.CacheRead - u.CacheWrite
	usd = part(uncached, &s.input, nil) + part(u.CacheRead, &s.cacheRead, &s.input) +
		part(u.CacheWrite, &s.cacheWrite, &s.input) + part(u.Output, &s.output, nil)
	return usd / 1e6, complete
}

// setAt is the price set that applies at t: the last one whose constraint
// holds, as the database orders them.
func (e *Entry) setAt(t time.Time) *priceSet {
	if len(e.dated) == 1 {
		return &e.dated[0].set
	}
	for i := len(e.dated) - 1; i >= 0; i-- {
		c := &e.dated[i].when
		switch c.kind {
		case always:
			return &e.dated[i].set
		case fromDate:
			if !t.Before(c.start) {
				return &e.dated[i].set
			}
		case timeOfDay:
			u := t.UTC()
			s := int32(u.Hour()*3600 + u.Minute()*60 + u.Second())
			if (c.to < c.from && (s >= c.from || s < c.to)) || (c.from <= c.to && s >= c.from && s < c.to) {
				return &e.dated[i].set
			}
		}
	}
	return &e.dated[0].set
}

// Lookup is Resolve without the kind of match.
func (t *Table) Lookup(model string) (*Entry, bool) {
	e, m := t.Resolve(model)
	return e, m != MatchNone
}

// Resolve finds the price of model, trying in order: the exact name (lower
// case) in the overrides, then in the database; the database's patterns;
// the same three on the name without provider prefixes (anything up to the
// last "/", Bedrock's "us.anthropic." style prefixes), then without version
// and date suffixes ("-v1:0", "@20240620", "-2024-08-06", "-20250929",
// "-0613", "-latest"); then the longest priced name that is a prefix ending
// at a "-", overrides first. Among database providers pricing the same name
// the model's maker wins (providerFirst). It does not allocate when the
// name is lower case.
func (t *Table) Resolve(model string) (*Entry, Match) {
	if model == "" {
		return nil, MatchNone
	}
	name := lowerASCII(model)
	if e := t.named(name); e != nil {
		return e, MatchExact
	}
	if e := t.db.pattern(name); e != nil {
		return e, MatchFamily
	}
	s := stripProviderPrefix(name)
	if s != name {
		if e := t.namedOrPattern(s); e != nil {
			return e, MatchFamily
		}
	}
	v := stripVersionSuffix(s)
	if v != s {
		if e := t.namedOrPattern(v); e != nil {
			return e, MatchFamily
		}
	}
	for i := len(v) - 1; i > 0; i-- {
		if v[i] == '-' {
			if e := t.named(v[:i]); e != nil {
				return e, MatchFamily
			}
		}
	}
	return nil, MatchNone
}

func (t *Table) named(name string) *Entry {
	if e := t.over.byName[name]; e != nil {
		return e
	}
	return t.db.byName[name]
}

func (t *Table) namedOrPattern(name string) *Entry {
	if e := t.named(name); e != nil {
		return e
	}
	return t.db.pattern(name)
}

func (l *layer) pattern(name string) *Entry {
	for i := range l.patterns {
		if l.patterns[i].rule.match(name) {
			return l.patterns[i].entry
		}
	}
	return nil
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

// Pricer memoises Resolve per model name (model names repeat on every
// span). It is safe for concurrent use.
type Pricer struct {
	table *Table
	cache sync.Map // string -> *resolved
	size  atomic.Int64
}

type resolved struct {
	e *Entry
	m Match
}

// NewPricer wraps t.
func NewPricer(t *Table) *Pricer { return &Pricer{table: t} }

// Resolve is Table.Resolve with memoisation.
func (p *Pricer) Resolve(model string) (*Entry, Match) {
	if v, ok := p.cache.Load(model); ok {
		r := v.(*resolved)
		return r.e, r.m
	}
	e, m := p.table.Resolve(model)
	if p.size.Load() < maxCachedNames {
		if _, loaded := p.cache.LoadOrStore(strings.Clone(model), &resolved{e, m}); !loaded {
			p.size.Add(1)
		}
	}
	return e, m
}

// Lookup is Resolve without the kind of match.
func (p *Pricer) Lookup(model string) (*Entry, bool) {
	e, m := p.Resolve(model)
	return e, m != MatchNone
}
