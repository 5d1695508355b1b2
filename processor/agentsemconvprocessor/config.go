package agentsemconvprocessor

import (
	"errors"
	"fmt"

	"github.com/otelcol-agent/otelcol-agent/internal/agentconv"
	"github.com/otelcol-agent/otelcol-agent/internal/contentredact"
)

// Config is the agentsemconv processor configuration.
type Config struct {
	// KeepOriginalAttributes keeps the convention attributes a canonical
	// agent.* attribute was derived from (default true). When false they
	// are removed once the canonical attribute is written.
	KeepOriginalAttributes bool `mapstructure:"keep_original_attributes"`
	// PropagateAgentID is deprecated and ignored: which agent made a call
	// depends on the whole trace, which a batch may not hold; the
	// agentmetrics connector decides it when the trace closes.
	PropagateAgentID bool `mapstructure:"propagate_agent_id"`
	// Conventions (max_tokens_per_call, rules, attribute_mappings,
	// cache_accounting, pricing) are the settings the agentmetrics
	// connector shares: give both the same block.
	agentconv.Conventions `mapstructure:",squash"`
	Redaction             RedactionConfig `mapstructure:"redaction"`
	// UnknownModelsLimit bounds the distinct model names reported in the
	// unknown_models and price_lookups telemetry; later names are reported
	// as "other" and "_other".
	UnknownModelsLimit int `mapstructure:"unknown_models_limit"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RedactionConfig controls prompt/completion/tool content.
type RedactionConfig struct {
	// Mode is drop (default), truncate, hash or keep.
	Mode string `mapstructure:"mode"`
	// TruncateBytes is what truncate keeps (default 256).
	TruncateBytes int `mapstructure:"truncate_bytes"`
	// ExtraAttributes are more content attributes: exact keys or "prefix.*".
	ExtraAttributes []string `mapstructure:"extra_attributes"`
}

// Validate reports every configuration error, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if c.UnknownModelsLimit < 0 {
		errs = append(errs, fmt.Errorf("unknown_models_limit: must not be negative, got %d", c.UnknownModelsLimit))
	}
	errs = append(errs, c.Conventions.Validate()...)
	if !contentredact.Mode(c.Redaction.Mode).Valid() {
		errs = append(errs, fmt.Errorf("redaction.mode: %q is not one of drop, truncate, hash, keep", c.Redaction.Mode))
	}
	if c.Redaction.Mode == string(contentredact.ModeTruncate) && c.Redaction.TruncateBytes <= 0 {
		errs = append(errs, fmt.Errorf("redaction.truncate_bytes: must be positive with mode truncate, got %d", c.Redaction.TruncateBytes))
	}
	return errors.Join(errs...)
}
