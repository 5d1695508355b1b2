package agentmetricsconnector

import (
	"errors"
	"fmt"
	"time"

	"github.com/otelcol-agent/otelcol-agent/internal/agentconv"
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
	// MetricsExpiration removes a series that received no observation for
	// this long (0: never), as span_metrics' metrics_expiration; a series
	// that comes back restarts (a counter reset for Prometheus).
	MetricsExpiration time.Duration  `mapstructure:"metrics_expiration"`
	Loops             LoopsConfig    `mapstructure:"loops"`
	Sessions          SessionsConfig `mapstructure:"sessions"`
	Tenants           TenantsConfig  `mapstructure:"tenants"`
	// GenAIMetrics also emits the OpenTelemetry GenAI semconv metrics.
	GenAIMetrics bool `mapstructure:"genai_semconv_metrics"`
	// Checkpoint writes the cumulative series and open runs to a storage
	// extension and restores them at start (see checkpoint.go).
	Checkpoint CheckpointConfig `mapstructure:"checkpoint"`
	// Conventions (max_tokens_per_call, rules, attribute_mappings,
	// cache_accounting, pricing): the agentsemconv processor's block, so
	// both classify, map and price a span the same way. Canonical agent.*
	// attributes the processor wrote are read first.
	agentconv.Conventions `mapstructure:",squash"`

	_ struct{}
}

// RunsConfig bounds the trace store: the spans of open traces are held
// (as a compact skeleton, never the span) until the trace closes, and runs,
// agents and attribution are decided then, once, on the whole trace.
type RunsConfig struct {
	// MaxRuns is the most open traces held; past it (or MaxSpans or
	// MaxBytes) the least recently active trace is closed early (evicted)
	// with what it has. Closed traces remembered for late spans are
	// bounded by it too.
	MaxRuns int `mapstructure:"max_runs"`
	// MaxSpans is the most spans held across open traces.
	MaxSpans int `mapstructure:"max_spans"`
	// MaxBytes is the most memory (bytes) the held state may use.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// GracePeriod: a trace that looks complete (its root is held and every
	// held span's parent is held) closes after this long without a span.
	GracePeriod time.Duration `mapstructure:"grace_period"`
	// RemoteGracePeriod replaces GracePeriod for a trace whose only roots
	// have their parent in another process (an agent called over the
	// network): the caller's spans, if it exports here too, may still come.
	// A value below GracePeriod means GracePeriod.
	RemoteGracePeriod time.Duration `mapstructure:"remote_grace_period"`
	// TTL: a trace that does not look complete closes after this long
	// without a span (every span renews it), so runs of any length are
	// held while they are active. Closed traces are remembered this long.
	TTL time.Duration `mapstructure:"ttl"`
	// MaxPendingPerRun is deprecated and ignored (observations are held
	// in the trace store, bounded by max_spans and max_bytes).
	MaxPendingPerRun int `mapstructure:"max_pending_per_run"`
}

// LoopsConfig configures loop detection (agent_loops_total,
// agent_loop_cost_usd_total): within one agent invocation, a tool called
// with the same arguments MinRepeats times, or MinRepeats times in a row
// with no other tool between, is a loop.
type LoopsConfig struct {
	Enabled    bool `mapstructure:"enabled"`
	MinRepeats int  `mapstructure:"min_repeats"`
}

// SessionsConfig configures agent_session_turns and
// agent_session_input_token_growth (conversations of several runs).
type SessionsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// IdleTimeout: a conversation with no turn closed for this long has
	// ended (longer than runs.ttl).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxSessions bounds the conversations followed at once (about 100
	// bytes each); past it the least recently active one ends early.
	MaxSessions int `mapstructure:"max_sessions"`
}

// TenantsConfig turns on cost and tokens per tenant (or user):
// agent_tenant_cost_usd_total and agent_tenant_tokens_total.
type TenantsConfig struct {
	// Attributes name the tenant, tried in order on each LLM span, then on
	// its resource (for example tenant.id, enduser.id). Empty: off.
	Attributes []string `mapstructure:"attributes"`
	// Label is the series label that holds the tenant.
	Label string `mapstructure:"label"`
	// TopK tenants by recent spend have a series; the rest count in one
	// series labelled _other.
	TopK int `mapstructure:"top_k"`
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
	if c.Checkpoint.Storage != nil && c.Checkpoint.Interval <= 0 {
		errs = append(errs, fmt.Errorf("checkpoint.interval: must be positive with checkpoint.storage set, got %s", c.Checkpoint.Interval))
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
	if c.Runs.RemoteGracePeriod < 0 {
		errs = append(errs, fmt.Errorf("runs.remote_grace_period: must not be negative, got %s", c.Runs.RemoteGracePeriod))
	}
	if c.Runs.TTL <= c.Runs.GracePeriod {
		errs = append(errs, fmt.Errorf("runs.ttl: must be longer than runs.grace_period (%s), got %s", c.Runs.GracePeriod, c.Runs.TTL))
	}
	if c.Runs.MaxSpans <= 0 {
		errs = append(errs, fmt.Errorf("runs.max_spans: must be positive, got %d", c.Runs.MaxSpans))
	}
	if c.Runs.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("runs.max_bytes: must be positive, got %d", c.Runs.MaxBytes))
	}
	if c.MetricsExpiration < 0 {
		errs = append(errs, fmt.Errorf("metrics_expiration: must not be negative, got %s", c.MetricsExpiration))
	} else if c.MetricsExpiration > 0 && c.MetricsExpiration <= c.FlushInterval {
		errs = append(errs, fmt.Errorf("metrics_expiration: must be longer than flush_interval (%s), got %s", c.FlushInterval, c.MetricsExpiration))
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
	if c.Loops.Enabled && c.Loops.MinRepeats < 2 {
		errs = append(errs, fmt.Errorf("loops.min_repeats: must be at least 2 (a call repeated once is not a loop), got %d", c.Loops.MinRepeats))
	}
	// A turn's trace may close up to runs.ttl after its last span: a
	// shorter idle timeout would end conversations between two turns.
	if c.Sessions.Enabled && c.Sessions.IdleTimeout <= c.Runs.TTL {
		errs = append(errs, fmt.Errorf("sessions.idle_timeout: must be longer than runs.ttl (%s), got %s", c.Runs.TTL, c.Sessions.IdleTimeout))
	}
	if c.Sessions.Enabled && c.Sessions.MaxSessions <= 0 {
		errs = append(errs, fmt.Errorf("sessions.max_sessions: must be positive, got %d", c.Sessions.MaxSessions))
	}
	if len(c.Tenants.Attributes) > 0 {
		if c.Tenants.TopK <= 0 || c.Tenants.TopK > c.CardinalityLimit {
			errs = append(errs, fmt.Errorf("tenants.top_k: must be between 1 and cardinality_limit (%d), got %d", c.CardinalityLimit, c.Tenants.TopK))
		}
		if c.Tenants.Label == "" || c.Tenants.Label == lAgent || c.Tenants.Label == lDir {
			errs = append(errs, fmt.Errorf("tenants.label: must be set and differ from %s and %s, got %q", lAgent, lDir, c.Tenants.Label))
		}
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
	errs = append(errs, c.Conventions.Validate()...)
	return errors.Join(errs...)
}
