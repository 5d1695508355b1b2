package agentmetricsconnector

import (
	"errors"
	"fmt"
	"time"
)

// Config is the agentmetrics connector configuration.
type Config struct {
	// FlushInterval is how often metrics are emitted (and runs past their
	// grace period or TTL are closed).
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// AggregationTemporality is "cumulative" (default) or "delta".
	AggregationTemporality string `mapstructure:"aggregation_temporality"`
	// InstanceID is written as service.instance.id on the emitted metrics,
	// so gateway replicas never write the same series (default: host:pid).
	InstanceID string     `mapstructure:"instance_id"`
	Runs       RunsConfig `mapstructure:"runs"`
	// CardinalityLimit is the most series per metric; more go to one
	// overflow series labelled otel_metric_overflow="true".
	CardinalityLimit int `mapstructure:"cardinality_limit"`
	// MaxLabelLength caps label values (bytes).
	MaxLabelLength int             `mapstructure:"max_label_length"`
	Exemplars      ExemplarsConfig `mapstructure:"exemplars"`
	ToolSelection  ToolSelection   `mapstructure:"tool_selection"`
	// ToolDurationBuckets are the bounds of agent_tool_duration_seconds.
	ToolDurationBuckets []float64 `mapstructure:"tool_duration_buckets"`
	// GenAIMetrics also emits the OpenTelemetry GenAI semconv metrics.
	GenAIMetrics bool `mapstructure:"genai_semconv_metrics"`

	_ struct{}
}

// RunsConfig bounds the per-run state.
type RunsConfig struct {
	// MaxRuns in memory; the oldest is closed early (evicted) past it.
	MaxRuns int `mapstructure:"max_runs"`
	// GracePeriod after the run span (and after each later span of the
	// run) for late children before the run's metrics are emitted.
	GracePeriod time.Duration `mapstructure:"grace_period"`
	// TTL for runs whose run span never comes.
	TTL time.Duration `mapstructure:"ttl"`
	// MaxPendingPerRun bounds span observations held while a run's agent
	// id is unknown; more are dropped and counted.
	MaxPendingPerRun int `mapstructure:"max_pending_per_run"`
}

// ExemplarsConfig controls histogram exemplars.
type ExemplarsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// MaxPerDataPoint keeps the newest this many per histogram series.
	MaxPerDataPoint int `mapstructure:"max_per_data_point"`
}

// ToolSelection configures agent_tool_selection_ratio and _drift.
type ToolSelection struct {
	Window   time.Duration `mapstructure:"window"`
	Baseline time.Duration `mapstructure:"baseline"`
	// MinBaselineCalls and MinWindowCalls: below them no drift is emitted
	// (cold start).
	MinBaselineCalls int64 `mapstructure:"min_baseline_calls"`
	MinWindowCalls   int64 `mapstructure:"min_window_calls"`
}

// Validate reports every configuration error, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("flush_interval: must be positive, got %s", c.FlushInterval))
	}
	if c.AggregationTemporality != "cumulative" && c.AggregationTemporality != "delta" {
		errs = append(errs, fmt.Errorf("aggregation_temporality: %q is not one of cumulative, delta", c.AggregationTemporality))
	}
	if c.Runs.MaxRuns <= 0 {
		errs = append(errs, fmt.Errorf("runs.max_runs: must be positive, got %d", c.Runs.MaxRuns))
	}
	if c.Runs.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("runs.grace_period: must not be negative, got %s", c.Runs.GracePeriod))
	}
	if c.Runs.TTL <= c.Runs.GracePeriod {
		errs = append(errs, fmt.Errorf("runs.ttl: must be longer than runs.grace_period (%s), got %s", c.Runs.GracePeriod, c.Runs.TTL))
	}
	if c.Runs.MaxPendingPerRun < 0 {
		errs = append(errs, fmt.Errorf("runs.max_pending_per_run: must not be negative, got %d", c.Runs.MaxPendingPerRun))
	}
	if c.CardinalityLimit <= 0 {
		errs = append(errs, fmt.Errorf("cardinality_limit: must be positive, got %d", c.CardinalityLimit))
	}
	if c.MaxLabelLength <= 0 {
		errs = append(errs, fmt.Errorf("max_label_length: must be positive, got %d", c.MaxLabelLength))
	}
	if c.Exemplars.Enabled && c.Exemplars.MaxPerDataPoint <= 0 {
		errs = append(errs, fmt.Errorf("exemplars.max_per_data_point: must be positive when exemplars are enabled, got %d", c.Exemplars.MaxPerDataPoint))
	}
	if c.ToolSelection.Window <= 0 {
		errs = append(errs, fmt.Errorf("tool_selection.window: must be positive, got %s", c.ToolSelection.Window))
	}
	if c.ToolSelection.Baseline < c.ToolSelection.Window {
		errs = append(errs, fmt.Errorf("tool_selection.baseline: must be at least tool_selection.window (%s), got %s", c.ToolSelection.Window, c.ToolSelection.Baseline))
	}
	if len(c.ToolDurationBuckets) == 0 {
		errs = append(errs, errors.New("tool_duration_buckets: at least one bound is required"))
	}
	for i := 1; i < len(c.ToolDurationBuckets); i++ {
		if c.ToolDurationBuckets[i] <= c.ToolDurationBuckets[i-1] {
			errs = append(errs, fmt.Errorf("tool_duration_buckets: bounds must increase (index %d)", i))
			break
		}
	}
	return errors.Join(errs...)
}
