package agentmetricsconnector

import (
	"context"
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
		Conventions:         agentconv.Default(),
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(set, cfg.(*Config), next)
}
