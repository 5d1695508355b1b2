package agentmetricsconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
	"github.com/otelcol-agent/otelcol-agent/internal/contentredact"
)

// ConsumeLogs counts the agent signals that arrive as log records (GenAI
// gen_ai.evaluation.result events, the agent.* events) exactly as the same
// events on a span:
//   - a record with trace context joins its trace in the store and counts,
//     when the trace closes, against the agent that owns the span it names
//     (the record usually arrives first: logs are exported apart from
//     spans, and the span it was written in ends later);
//   - a record of a trace already closed counts against the agent it names,
//     else the one that owned its span (sub-agents are remembered), else
//     the trace's, unless the trace counted the same
//     verdict as a span event;
//   - a record without trace context counts at once, against the agent it
//     names, else its conversation's last run, else its service.
//
// Every other record is ignored (it is forwarded by the logs pipeline, not
// here).
func (c *agentConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var read, late int64
	for _, rl := range ld.ResourceLogs().All() {
		service := ""
		if v, ok := rl.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				name := contentredact.EventName(lr)
				if !isAgentEvent(name) {
					continue
				}
				read++
				if c.consumeRecord(lr, name, service, now) {
					late++
				}
			}
		}
	}
	if read > 0 {
		c.telemetry.ConnectorAgentmetricsLogRecords.Add(ctx, read)
	}
	if late > 0 {
		c.telemetry.ConnectorAgentmetricsLogRecordsLate.Add(ctx, late)
	}
	c.reportHeld(ctx)
	return nil
}

// consumeRecord handles one agent event record; it reports whether the
// record came after its trace closed.
func (c *agentConnector) consumeRecord(lr plog.LogRecord, name, service string, now time.Time) (late bool) {
	facts := c.extractor.ExtractRecord(lr.Attributes())
	traceID, spanID := lr.TraceID(), lr.SpanID()
	if traceID.IsEmpty() {
		agent := facts.AgentID
		if agent == "" && facts.ConversationID != "" {
			agent = c.conversations[facts.ConversationID]
		}
		if agent == "" {
			agent = fallbackAgent(service)
		}
		attrObservations(name, lr.Attributes(), spanID, "", func(o obs) { c.emit(agent, traceID, &o, now) })
		return false
	}
	tr := c.store.Get(traceID)
	if tr == nil {
		if dec, ok := c.store.Decided(traceID); ok {
			agent := facts.AgentID
			if agent == "" {
				agent = dec.Agent
				if a, ok := c.store.OwnerOf(traceID, spanID); ok {
					agent = a
				}
			}
			attrObservations(name, lr.Attributes(), spanID, "", func(o obs) {
				if !c.store.Counted(traceID, tracestore.SignalHash(spanID, o.storeKind(), o.name, o.value), true) {
					c.emit(agent, traceID, &o, now)
				}
			})
			return true
		}
		tr = c.store.Open(traceID, now.UnixNano())
		if root, ok := c.skipped.take(traceID, now); ok {
			c.addSkippedRoot(tr, root)
		}
	}
	strs := c.store.Strings()
	attrObservations(name, lr.Attributes(), spanID, "", func(o obs) {
		tr.LogSignals = append(tr.LogSignals, tracestore.LogSignal{
			Signal: tracestore.Signal{Kind: o.storeKind(), Name: strs.Intern(o.name), Value: o.value},
			SpanID: spanID, Agent: strs.Intern(facts.AgentID), Service: strs.Intern(service),
		})
	})
	c.store.Touched(tr, now.UnixNano(), c.onClose)
	return false
}
