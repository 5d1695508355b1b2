// Package agentconv is the settings block that says how spans are read:
// classification rules, attribute mappings, cache accounting and prices.
// The agentsemconv processor and the agentmetrics connector embed the same
// block, so that both classify, map and price a span the same way.
package agentconv

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/pricing"
)

// Conventions is the shared block; embed it with `mapstructure:",squash"`.
type Conventions struct {
	// MaxTokensPerCall: token counts above it are refused as too_large.
	MaxTokensPerCall int64 `mapstructure:"max_tokens_per_call"`
	// Rules classify in-house spans before every built-in convention.
	Rules []RuleConfig `mapstructure:"rules"`
	// AttributeMappings maps a role (agent_id, model, provider, tool_name,
	// tool_status, conversation_id, request_id, task_type, task_outcome,
	// input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
	// reasoning_tokens, cost_usd, run_total_steps) to in-house attribute keys.
	AttributeMappings map[string][]string `mapstructure:"attribute_mappings"`
	// CacheAccounting says per provider name (as in gen_ai.provider.name or
	// gen_ai.system) whether reported input tokens include cached tokens:
	// "included", "excluded" or "auto" (the default for unlisted providers).
	CacheAccounting map[string]string `mapstructure:"cache_accounting"`
	Pricing         PricingConfig     `mapstructure:"pricing"`
}

// Default is the block's default.
func Default() Conventions {
	return Conventions{MaxTokensPerCall: agentspan.DefaultMaxTokensPerCall}
}

// RuleConfig classifies spans of an in-house convention.
type RuleConfig struct {
	// SpanName is a regular expression the span name must match.
	SpanName string `mapstructure:"span_name"`
	// Attribute must be present on the span (and equal Value when set).
	Attribute string `mapstructure:"attribute"`
	Value     string `mapstructure:"value"`
	// Kind is run, llm, tool or other.
	Kind string `mapstructure:"kind"`
}

// PricingConfig adds to or replaces the built-in price table.
type PricingConfig struct {
	// DisableBuiltin starts from an empty table.
	DisableBuiltin bool `mapstructure:"disable_builtin"`
	// File is a YAML price table in the built-in table's format, applied
	// over the built-in table.
	File string `mapstructure:"file"`
	// Models are inline entries, applied last.
	Models []pricing.Entry `mapstructure:"models"`
}

var cacheModes = map[string]agentspan.CacheAccounting{
	"auto":     agentspan.CacheAuto,
	"included": agentspan.CacheIncluded,
	"excluded": agentspan.CacheExcluded,
}

// Validate returns one error per invalid field, each naming it.
func (c *Conventions) Validate() []error {
	var errs []error
	if c.MaxTokensPerCall <= 0 {
		errs = append(errs, fmt.Errorf("max_tokens_per_call: must be positive, got %d", c.MaxTokensPerCall))
	}
	for i, r := range c.Rules {
		if r.SpanName == "" && r.Attribute == "" {
			errs = append(errs, fmt.Errorf("rules[%d]: set span_name or attribute (a rule without a matcher would classify every span)", i))
		}
		if r.SpanName != "" {
			if _, err := regexp.Compile(r.SpanName); err != nil {
				errs = append(errs, fmt.Errorf("rules[%d].span_name: %w", i, err))
			}
		}
		if r.Value != "" && r.Attribute == "" {
			errs = append(errs, fmt.Errorf("rules[%d].value: needs attribute", i))
		}
		if _, ok := agentspan.ParseKind(r.Kind); !ok {
			errs = append(errs, fmt.Errorf("rules[%d].kind: %q is not one of run, llm, tool, other", i, r.Kind))
		}
	}
	roles := agentspan.RoleNames()
	for name, keys := range c.AttributeMappings {
		if !slices.Contains(roles, name) {
			slices.Sort(roles)
			errs = append(errs, fmt.Errorf("attribute_mappings: unknown role %q (one of %s)", name, strings.Join(roles, ", ")))
		}
		for _, k := range keys {
			if k == "" {
				errs = append(errs, fmt.Errorf("attribute_mappings.%s: empty attribute key", name))
			}
		}
	}
	for provider, mode := range c.CacheAccounting {
		if _, ok := cacheModes[mode]; !ok {
			errs = append(errs, fmt.Errorf("cache_accounting.%s: %q is not one of auto, included, excluded", provider, mode))
		}
	}
	for i, e := range c.Pricing.Models {
		if err := pricing.ValidateEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("pricing.models[%d]: %w", i, err))
		}
	}
	if c.Pricing.DisableBuiltin && c.Pricing.File == "" && len(c.Pricing.Models) == 0 {
		errs = append(errs, errors.New("pricing.disable_builtin: no prices left; set pricing.file or pricing.models"))
	}
	return errs
}

// ExtractorSettings turns the validated block into agentspan settings.
func (c *Conventions) ExtractorSettings() agentspan.Settings {
	s := agentspan.Settings{
		AttributeMappings: c.AttributeMappings,
		MaxTokensPerCall:  c.MaxTokensPerCall,
		CacheAccounting:   map[string]agentspan.CacheAccounting{},
	}
	for p, m := range c.CacheAccounting {
		s.CacheAccounting[p] = cacheModes[m]
	}
	for _, r := range c.Rules {
		k, _ := agentspan.ParseKind(r.Kind)
		rule := agentspan.Rule{AttributeKey: r.Attribute, AttributeValue: r.Value, Kind: k}
		if r.SpanName != "" {
			rule.SpanName = regexp.MustCompile(r.SpanName)
		}
		s.Rules = append(s.Rules, rule)
	}
	return s
}

// PriceTable builds the table: built-in, then file, then inline models.
func (c *Conventions) PriceTable() (*pricing.Table, error) {
	t := pricing.Empty()
	if !c.Pricing.DisableBuiltin {
		var err error
		if t, err = pricing.Builtin(); err != nil {
			return nil, err
		}
	}
	if c.Pricing.File != "" {
		if err := t.LoadFile(c.Pricing.File); err != nil {
			return nil, fmt.Errorf("pricing.file: %w", err)
		}
	}
	if err := t.Add(c.Pricing.Models); err != nil {
		return nil, fmt.Errorf("pricing.models: %w", err)
	}
	return t, nil
}
