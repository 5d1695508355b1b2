package agentmetricsconnector

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadata"
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

func TestDefaults(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.LessOrEqual(t, cfg.FlushInterval, 15*time.Second)
	assert.Equal(t, "cumulative", cfg.AggregationTemporality)
	assert.True(t, cfg.Exemplars.Enabled)
	assert.Equal(t, 5*time.Minute, cfg.ToolSelection.Window)
	assert.Equal(t, 24*time.Hour, cfg.ToolSelection.Baseline)
	assert.Equal(t, 30*time.Minute, cfg.Runs.TTL, "idle timeout of incomplete traces, renewed by every span")
	assert.Equal(t, 4_000_000, cfg.Runs.MaxSpans)
	assert.Zero(t, cfg.MetricsExpiration, "series never expire unless configured, as span_metrics")
}

func TestCustom(t *testing.T) {
	cfg := loadConfig(t, "custom")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "delta", cfg.AggregationTemporality)
	assert.Equal(t, 1000, cfg.Runs.MaxRuns)
	assert.Equal(t, 50000, cfg.Runs.MaxSpans)
	assert.EqualValues(t, 10000000, cfg.Runs.MaxBytes)
	assert.Equal(t, time.Hour, cfg.MetricsExpiration)
	assert.Equal(t, []float64{0.1, 1, 10}, cfg.ToolDurationBuckets)
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, c.Shutdown(context.Background()))
}

func TestInvalidNamesEveryField(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, f := range []string{"flush_interval", "aggregation_temporality", "runs.max_runs", "runs.max_spans", "runs.max_bytes", "runs.ttl", "metrics_expiration", "cardinality_limit",
		"max_label_length", "exemplars.max_per_data_point", "tool_selection.baseline", "tool_duration_buckets", "checkpoint.interval"} {
		assert.ErrorContains(t, err, f)
	}
}
