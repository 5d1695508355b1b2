// Package stockbench runs contrib's span_metrics and signal_to_metrics
// connectors through the same benchmark loop and on the same realistic agent
// batches as agentmetrics' BenchmarkConsumeTraces, so that the report compares
// like with like. It lives in the distribution's module, not the connector's,
// so that the connector's go.mod requires no contrib connector (a user adding
// agentmetrics to their own build is not pulled onto ours).
package stockbench

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/signaltometricsconnector"
	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

// signalToMetricsTokens configures contrib signal_to_metrics for input and
// output token sums per model (the GenAI semconv attributes): what it can do
// of ours.
const signalToMetricsTokens = `
spans:
  - name: gen_ai.client.tokens.input
    description: input tokens
    conditions: ['attributes["gen_ai.usage.input_tokens"] != nil']
    attributes: [{key: gen_ai.request.model}]
    sum:
      value: Int(attributes["gen_ai.usage.input_tokens"])
  - name: gen_ai.client.tokens.output
    description: output tokens
    conditions: ['attributes["gen_ai.usage.output_tokens"] != nil']
    attributes: [{key: gen_ai.request.model}]
    sum:
      value: Int(attributes["gen_ai.usage.output_tokens"])
`

// BenchmarkConsumeTraces: the stock connectors' halves of the side-by-side
// (the agentmetrics half is in the connector's package; same name, so the
// report reads them as one table).
func BenchmarkConsumeTraces(b *testing.B) {
	b.Run("signal_to_metrics", func(b *testing.B) {
		f := signaltometricsconnector.NewFactory()
		cfg := f.CreateDefaultConfig()
		var raw map[string]any
		if err := yaml.Unmarshal([]byte(signalToMetricsTokens), &raw); err != nil {
			b.Fatal(err)
		}
		if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
			b.Fatal(err)
		}
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(component.MustNewType("signal_to_metrics")), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		agenttest.BenchTracesConnector(b, c, nil)
	})
	b.Run("span_metrics", func(b *testing.B) {
		f := spanmetricsconnector.NewFactory()
		c, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(component.MustNewType("span_metrics")), f.CreateDefaultConfig(), consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		agenttest.BenchTracesConnector(b, c, nil)
	})
}
