package agentmetricsconnector

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadata"
	"github.com/otelcol-agent/otelcol-agent/internal/agentconv"
)

// NewFactory returns the agentmetrics connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
		connector.WithLogsToMetrics(createLogsToMetrics, metadata.LogsToMetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		FlushInterval:          10 * time.Second,
		AggregationTemporality: "cumulative",
		// Sized for 100k concurrent runs of 20 spans (docs: memory).
		Runs: RunsConfig{
			MaxRuns:           200_000,
			MaxSpans:          4_000_000,
			MaxBytes:          512 << 20,
			GracePeriod:       5 * time.Second,
			RemoteGracePeriod: 30 * time.Second,
			TTL:               30 * time.Minute,
		},
		CardinalityLimit: 2000,
		MaxLabelLength:   128,
		Exemplars:        ExemplarsConfig{Enabled: true, MaxPerDataPoint: 4},
		ToolSelection: ToolSelection{
			Window:           5 * time.Minute,
			Baseline:         24 * time.Hour,
			MinBaselineCalls: 100,
			MinWindowCalls:   20,
		},
		ToolDurationBuckets: DefaultToolDurationBuckets,
		Loops:               LoopsConfig{Enabled: true, MinRepeats: 3},
		Sessions:            SessionsConfig{Enabled: true, IdleTimeout: time.Hour, MaxSessions: 100_000},
		Tenants:             TenantsConfig{Label: "tenant", TopK: 100},
		Checkpoint:          CheckpointConfig{Interval: 30 * time.Second},
		Conventions:         agentconv.Default(),
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return acquire(set, cfg.(*Config), next)
}

// createLogsToMetrics returns the same connector as createTracesToMetrics
// for the same configuration: log-borne signals attach to runs through
// the one trace store.
func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	return acquire(set, cfg.(*Config), next)
}

// shared holds one connector per configuration (the collector passes the
// same *Config to every pipeline pair of one connector id), as contrib's
// receivers share one instance between signals.
var shared = struct {
	sync.Mutex
	m map[*Config]*agentConnector
}{m: map[*Config]*agentConnector{}}

// acquire returns the connector of cfg, creating it on first use; each
// acquire is matched by one Shutdown, and the last one stops it.
func acquire(set connector.Settings, cfg *Config, next consumer.Metrics) (*agentConnector, error) {
	shared.Lock()
	defer shared.Unlock()
	if c, ok := shared.m[cfg]; ok {
		c.refs++
		return c, nil
	}
	c, err := newConnector(set, cfg, next)
	if err != nil {
		return nil, err
	}
	c.refs = 1
	c.release = func() {
		shared.Lock()
		defer shared.Unlock()
		c.refs--
		if c.refs > 0 {
			return
		}
		delete(shared.m, cfg)
		c.last = true
	}
	shared.m[cfg] = c
	return c, nil
}
