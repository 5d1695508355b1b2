package agentmetricsconnector

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
)

// Checkpoints: with checkpoint.storage set, the connector's cumulative
// series and its open runs are written to a storage extension (file_storage)
// every checkpoint.interval and at shutdown, and read back at start. A
// graceful restart then loses nothing: counters go on from where they were
// with the same start times (no reset for Prometheus) and runs in flight are
// held again and counted once when they complete, instead of being decided
// early at shutdown. After a SIGKILL what happened since the last
// checkpoint is lost; its age is reported (checkpoint_lost_seconds).
// Not kept: exemplars, the tool-selection baselines, open sessions, the
// tenants' ranking and the decision cache of closed traces.

// checkpointKey is the storage key of the connector's state.
const checkpointKey = "agentmetrics.state"

// checkpointVersion changes when the state's shape does; a checkpoint of
// another version is ignored (and said so), never misread.
const checkpointVersion = 1

type checkpointState struct {
	Version  int
	SavedAt  int64 // unix ns
	Clean    bool  // written at shutdown: nothing after it was lost
	Instance string
	Series   series.Snapshot
	Runs     tracestore.Snapshot
}

// CheckpointConfig enables checkpoints.
type CheckpointConfig struct {
	// Storage is the storage extension to write to (none: no checkpoints).
	Storage *component.ID `mapstructure:"storage"`
	// Interval between checkpoints: the most a SIGKILL loses.
	Interval time.Duration `mapstructure:"interval"`
}

type checkpointer struct {
	client storage.Client
	last   time.Time
	// attributes of the checkpoint telemetry
	written, failed, series, runs metric.MeasurementOption
}

// openCheckpoint gets the storage client and restores the saved state (under
// no lock: called once, before any data, from Start).
func (c *agentConnector) openCheckpoint(ctx context.Context, host component.Host) error {
	id := c.cfg.Checkpoint.Storage
	if id == nil {
		return nil
	}
	ext, ok := host.GetExtensions()[*id]
	if !ok {
		return fmt.Errorf("checkpoint.storage: extension %q is not configured (add it under extensions and service.extensions)", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("checkpoint.storage: extension %q is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, component.KindConnector, c.id, "")
	if err != nil {
		return fmt.Errorf("checkpoint.storage: %w", err)
	}
	attr := func(k, v string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
	}
	c.ckpt = &checkpointer{client: client, last: c.now(),
		written: attr("result", "written"), failed: attr("result", "failed"),
		series: attr("state", "series"), runs: attr("state", "runs")}
	data, err := client.Get(ctx, checkpointKey)
	if err != nil {
		return fmt.Errorf("checkpoint.storage: reading the checkpoint: %w", err)
	}
	c.restoreCheckpoint(ctx, data)
	// Mark this process as running: if it dies before its next checkpoint,
	// the next start finds an unclean one and reports the loss.
	if err := c.writeCheckpoint(ctx, false); err != nil {
		return fmt.Errorf("checkpoint.storage: %w", err)
	}
	return nil
}

// restoreCheckpoint puts a saved state back (nil: none). An unreadable one
// is ignored, with a warning.
func (c *agentConnector) restoreCheckpoint(ctx context.Context, data []byte) {
	if data == nil {
		c.logger.Info("no agent metrics checkpoint to restore: starting empty")
		return
	}
	var st checkpointState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil || st.Version != checkpointVersion {
		// Never fail the collector over an unreadable checkpoint: start
		// empty and say so (the series restart, as after a first start).
		c.logger.Warn("ignoring an unreadable agent metrics checkpoint: starting empty",
			zap.Int("version", st.Version), zap.Error(err))
		return
	}
	now := c.now()
	c.mu.Lock()
	nSeries, skipped := c.metrics.set.Restore(st.Series)
	nRuns := c.store.Restore(st.Runs, now.UnixNano(), c.onClose)
	c.mu.Unlock()
	age := now.Sub(time.Unix(0, st.SavedAt))
	c.telemetry.ConnectorAgentmetricsCheckpointRestored.Add(ctx, int64(nSeries), c.ckpt.series)
	c.telemetry.ConnectorAgentmetricsCheckpointRestored.Add(ctx, int64(nRuns), c.ckpt.runs)
	fields := []zap.Field{zap.Int("series", nSeries), zap.Int("open_runs", nRuns), zap.Duration("age", age), zap.Strings("metrics_skipped", skipped)}
	if !st.Clean {
		// The process stopped without its final checkpoint (killed,
		// crashed): what it saw after SavedAt is gone. The age bounds it
		// from above (it includes the time the collector was down).
		c.telemetry.ConnectorAgentmetricsCheckpointLostSeconds.Add(ctx, age.Seconds())
		c.logger.Warn("restored an agent metrics checkpoint taken before an unclean stop: observations after it are lost", fields...)
		return
	}
	c.logger.Info("restored the agent metrics checkpoint", fields...)
}

// checkpoint writes the state if the interval has passed (or always when
// final, which marks it clean). The snapshot is taken under mu, encoded and
// written outside it.
func (c *agentConnector) checkpoint(ctx context.Context, final bool) error {
	if c.ckpt == nil {
		return nil
	}
	if !final && c.now().Sub(c.ckpt.last) < c.cfg.Checkpoint.Interval {
		return nil
	}
	return c.writeCheckpoint(ctx, final)
}

func (c *agentConnector) writeCheckpoint(ctx context.Context, final bool) error {
	now := c.now()
	c.ckpt.last = now
	c.mu.Lock()
	st := checkpointState{Version: checkpointVersion, SavedAt: now.UnixNano(), Clean: final, Instance: c.instance,
		Series: c.metrics.set.Snapshot(), Runs: c.store.Snapshot(now.UnixNano())}
	c.mu.Unlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(&st)
	if err == nil {
		err = c.ckpt.client.Set(ctx, checkpointKey, buf.Bytes())
	}
	if err != nil {
		c.telemetry.ConnectorAgentmetricsCheckpoints.Add(ctx, 1, c.ckpt.failed)
		return fmt.Errorf("writing the agent metrics checkpoint: %w", err)
	}
	c.telemetry.ConnectorAgentmetricsCheckpoints.Add(ctx, 1, c.ckpt.written)
	return nil
}

// closeCheckpoint writes the final checkpoint and closes the client.
func (c *agentConnector) closeCheckpoint(ctx context.Context) error {
	if c.ckpt == nil {
		return nil
	}
	err := c.checkpoint(ctx, true)
	return errors.Join(err, c.ckpt.client.Close(ctx))
}
