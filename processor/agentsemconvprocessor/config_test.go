package agentsemconvprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestDefaultConfig(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.True(t, cfg.KeepOriginalAttributes)
	assert.False(t, cfg.PropagateAgentID, "deprecated, off")
	assert.Equal(t, "drop", cfg.Redaction.Mode, "content redaction is on by default")
	assert.EqualValues(t, 10_000_000, cfg.MaxTokensPerCall)
}

func TestCustomConfig(t *testing.T) {
	cfg := loadConfig(t, "custom")
	require.NoError(t, confmap.Validate(cfg))
	assert.False(t, cfg.KeepOriginalAttributes)
	assert.Len(t, cfg.Rules, 2)
	assert.Equal(t, "excluded", cfg.CacheAccounting["anthropic"])
	require.Len(t, cfg.Pricing.Models, 1)
	assert.Equal(t, 0.5, cfg.Pricing.Models[0].Input)
	assert.Equal(t, "internal contract", cfg.Pricing.Models[0].Source)
	table, err := cfg.PriceTable()
	require.NoError(t, err)
	e, ok := table.Lookup("acme-7b")
	require.True(t, ok)
	assert.Equal(t, 1.5, e.Output)
}

func TestInvalidConfigNamesEveryField(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, field := range []string{
		"max_tokens_per_call", "rules[0]: set span_name or attribute", "rules[0].kind", "rules[1].span_name",
		"attribute_mappings: unknown role \"colour\"", "cache_accounting.openai", "pricing.models[0]: models", "input: price",
		"redaction.mode",
	} {
		assert.ErrorContains(t, err, field)
	}
}
