package agentmetricsconnector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadatatest"
)

// memStorage is a storage extension in memory that outlives the connectors
// using it, as file_storage's directory outlives a process.
type memStorage struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memStorage) Start(context.Context, component.Host) error { return nil }
func (m *memStorage) Shutdown(context.Context) error              { return nil }
func (m *memStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return &memClient{m}, nil
}

type memClient struct{ m *memStorage }

func (c *memClient) Get(_ context.Context, k string) ([]byte, error) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.data[k], nil
}

func (c *memClient) Set(_ context.Context, k string, v []byte) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.data[k] = append([]byte(nil), v...)
	return nil
}

func (c *memClient) Delete(_ context.Context, k string) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	delete(c.m.data, k)
	return nil
}

func (c *memClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value, _ = c.Get(ctx, op.Key)
		case storage.Set:
			_ = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			_ = c.Delete(ctx, op.Key)
		}
	}
	return nil
}

func (c *memClient) Close(context.Context) error { return nil }

type storageHost struct {
	ext map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.ext }

var storageID = component.MustNewID("file_storage")

// checkpointed starts a connector on the storage (the fake clock goes on
// from at), as a restarted collector starts on the same directory.
func checkpointed(t *testing.T, st *memStorage, at time.Time) *harness {
	t.Helper()
	h := newHarness(t, func(c *Config) {
		id := storageID
		c.Checkpoint = CheckpointConfig{Storage: &id, Interval: 30 * time.Second}
	})
	h.now = at
	require.NoError(t, h.c.Start(context.Background(), storageHost{ext: map[component.ID]component.Component{storageID: st}}))
	t.Cleanup(func() { // stop its flush loop if the test did not shut it down (a kill)
		select {
		case <-h.c.stop:
		default:
			close(h.c.stop)
		}
		h.c.wg.Wait()
	})
	return h
}

// runSpans: run i of agent "ck" with one LLM call; its root span (which
// ends last, so it is exported last) comes apart when split.
func runSpans(i int, split bool) (children, root func(*harness)) {
	children = func(h *harness) {
		td, ss := batchOf()
		mkSpan(ss, i, 2, 1, "chat", 0, 1e9, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100})
		if !split {
			mkSpan(ss, i, 1, 0, "invoke_agent ck", 0, 2e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "ck"})
		}
		h.consume(td)
	}
	root = func(h *harness) {
		td, ss := batchOf()
		mkSpan(ss, i, 1, 0, "invoke_agent ck", 0, 2e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "ck"})
		h.consume(td)
	}
	return children, root
}

func startOf(t *testing.T, v metricsView, name string) int64 {
	t.Helper()
	for _, rm := range v.md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name && m.Type() == pmetric.MetricTypeSum {
					return int64(m.Sum().DataPoints().At(0).StartTimestamp())
				}
			}
		}
	}
	t.Fatalf("%s not emitted", name)
	return 0
}

// A graceful restart loses nothing: the counters go on from where they were
// with the same start time (no reset), and a run in flight (its root not yet
// exported) is held again and counted once, with its call from before the
// restart.
func TestCheckpointCarriesCountersAndOpenRunsAcrossAGracefulRestart(t *testing.T) {
	st := &memStorage{data: map[string][]byte{}}
	h1 := checkpointed(t, st, time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	for i := 1; i <= 3; i++ {
		all, _ := runSpans(i, false)
		all(h1)
	}
	inFlight, rootLater := runSpans(4, true)
	inFlight(h1)
	h1.advance(time.Minute)
	v := h1.flush()
	require.Equal(t, 3.0, v.total("agent_requests_total", "agent_id=ck"))
	start := startOf(t, v, "agent_requests_total")
	require.NoError(t, h1.c.Shutdown(context.Background()))
	assert.Equal(t, 3.0, h1.flush().total("agent_requests_total"), "the run in flight is not decided at shutdown with checkpoints on")

	h2 := checkpointed(t, st, h1.now.Add(20*time.Second))
	restored := map[string]int64{}
	m, err := h2.tel.GetMetric("otelcol_connector_agentmetrics_checkpoint_restored")
	require.NoError(t, err)
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("state")
		restored[v.AsString()] = dp.Value
	}
	assert.Equal(t, int64(1), restored["runs"], "the run in flight")
	assert.Positive(t, restored["series"])
	rootLater(h2)
	h2.advance(time.Minute)
	v = h2.flush()
	assert.Equal(t, 4.0, v.total("agent_requests_total", "agent_id=ck"), "three before the restart, the one in flight after")
	assert.Equal(t, 4.0, v.total("agent_llm_calls_total", "agent_id=ck"), "the in-flight run's call from before the restart counted once")
	assert.Equal(t, 400.0, v.total("agent_tokens_consumed_total", "agent_id=ck"))
	assert.Equal(t, start, startOf(t, v, "agent_requests_total"), "same start time: no counter reset")
	_, lost := h2.tel.GetMetric("otelcol_connector_agentmetrics_checkpoint_lost_seconds")
	assert.Error(t, lost, "a graceful restart reports no loss")
}

// After a SIGKILL (no shutdown, no final checkpoint) the restart restores
// the last periodic checkpoint: what came after it is lost, and its age is
// reported as lost seconds.
func TestCheckpointAfterAKillLosesAtMostTheIntervalAndSaysSo(t *testing.T) {
	st := &memStorage{data: map[string][]byte{}}
	h1 := checkpointed(t, st, time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	for i := 1; i <= 2; i++ {
		all, _ := runSpans(i, false)
		all(h1)
	}
	h1.advance(time.Minute)
	h1.flush()
	require.NoError(t, h1.c.checkpoint(context.Background(), false)) // the periodic one
	all, _ := runSpans(3, false)
	all(h1)
	h1.advance(10 * time.Second)
	h1.flush() // run 3 counted, but no checkpoint since: killed now

	h2 := checkpointed(t, st, h1.now.Add(5*time.Second))
	v := h2.flush()
	assert.Equal(t, 2.0, v.total("agent_requests_total", "agent_id=ck"), "the third run came after the last checkpoint")
	metadatatest.AssertEqualConnectorAgentmetricsCheckpointLostSeconds(t, h2.tel, []metricdata.DataPoint[float64]{{Value: 15}}, ignoreTime...)
}
