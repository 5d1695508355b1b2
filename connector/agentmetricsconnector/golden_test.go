package agentmetricsconnector

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The connector's whole metric output for each recorded real-client
// fixture, under the default configuration and a fixed clock: every series,
// value, bucket and exemplar (trace and span ids) against a reviewed golden
// file. Regenerate with `go test -run TestRealClientsGoldenMetrics -update`
// and review the diff.
func TestRealClientsGoldenMetrics(t *testing.T) {
	for _, f := range agenttest.RealClientFiles {
		t.Run(f, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.InstanceID = "golden" })
			for _, td := range agenttest.Load(t, f) { // the recorded requests, in order
				h.consume(td)
			}
			h.advance(time.Minute)
			h.flush()
			all := h.sink.AllMetrics()
			require.NotEmpty(t, all)
			got := all[len(all)-1]
			path := filepath.Join("testdata", "golden", strings.TrimSuffix(f, ".otlp.jsonl")+".yaml")
			if *update {
				require.NoError(t, golden.WriteMetrics(t, path, got))
			}
			want, err := golden.ReadMetrics(path)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got,
				pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(),
				pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp())) // golden files hold normalised times
		})
	}
}

// The same for every sender fixture (testdata/golden/senders), requests in
// export order 5 s apart (the batch processor's default delay).
func TestSendersGoldenMetrics(t *testing.T) {
	for _, name := range agenttest.SenderFiles(t) {
		t.Run(name, func(t *testing.T) {
			tds, _ := agenttest.LoadSender(t, name)
			h := newHarness(t, func(c *Config) { c.InstanceID = "golden" })
			for _, td := range tds {
				h.consume(td)
				h.advance(5 * time.Second)
			}
			h.advance(time.Minute)
			h.flush()
			all := h.sink.AllMetrics()
			require.NotEmpty(t, all)
			got := all[len(all)-1]
			path := filepath.Join("testdata", "golden", "senders", name+".yaml")
			if *update {
				require.NoError(t, golden.WriteMetrics(t, path, got))
			}
			want, err := golden.ReadMetrics(path)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got,
				pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(),
				pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp()))
		})
	}
}
