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
	"go.opentelemetry.io/collector/pdata/ptrace"

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
			goldenMetrics(t, agenttest.Load(t, f), 0, filepath.Join("testdata", "golden", strings.TrimSuffix(f, ".otlp.jsonl")+".yaml"))
		})
	}
}

// The same for every sender fixture (testdata/golden/senders), requests in
// export order 5 s apart (the batch processor's default delay).
func TestSendersGoldenMetrics(t *testing.T) {
	for _, name := range agenttest.SenderFiles(t) {
		t.Run(name, func(t *testing.T) {
			tds, _ := agenttest.LoadSender(t, name)
			goldenMetrics(t, tds, 5*time.Second, filepath.Join("testdata", "golden", "senders", name+".yaml"))
		})
	}
}

// goldenMetrics consumes the requests in order, gap apart, closes every
// trace and compares the connector's last output with the golden file
// (rewritten with -update).
func goldenMetrics(t *testing.T, requests []ptrace.Traces, gap time.Duration, path string) {
	t.Helper()
	h := newHarness(t, func(c *Config) { c.InstanceID = "golden" })
	for _, td := range requests {
		h.consume(td)
		h.advance(gap)
	}
	h.advance(time.Minute)
	h.flush()
	all := h.sink.AllMetrics()
	require.NotEmpty(t, all)
	got := all[len(all)-1]
	if *update {
		require.NoError(t, golden.WriteMetrics(t, path, got))
	}
	want, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(want, got,
		pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(),
		pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp())) // golden files hold normalised times
}
