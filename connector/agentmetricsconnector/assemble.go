package agentmetricsconnector

import (
	"context"
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/argshash"
)

// consumeTrace adds the spans of one trace found in this batch (idx
// indexes the batch) to the trace store. Nothing is decided here: runs,
// agents and attribution are decided when the trace closes.
func (c *agentConnector) consumeTrace(ctx context.Context, idx []int32, now time.Time, onClose tracestore.OnClose) {
	st := &c.batch
	traceID := st.spans[idx[0]].TraceID()
	tr := c.store.Get(traceID)
	if tr == nil {
		if dec, ok := c.store.Decided(traceID); ok {
			c.late(ctx, idx, dec, now)
			return
		}
		relevant, hasRoot := false, false
		for _, i := range idx {
			s, in := st.spans[i], &st.infos[i]
			if in.Kind != agentspan.KindOther || in.Recognized || in.HasFeedback || hasAgentEvents(s) {
				relevant = true
			}
			if s.ParentSpanID().IsEmpty() {
				hasRoot = true
			}
		}
		// A whole trace with nothing agent-related in it (roots end, and
		// are exported, last): not held, its root only remembered for a
		// moment in case agent spans of the trace come after all. Parts
		// without their root are held: they may be the ancestors of agent
		// spans still to come.
		if !relevant && hasRoot {
			c.skipped.remember(traceID, idx, st, c.store.Strings(), now)
			return
		}
		if c.feedbackByConversation(idx, traceID, now) {
			return
		}
		tr = c.store.Open(traceID, now.UnixNano())
		if root, ok := c.skipped.take(traceID, now); ok {
			c.addSkippedRoot(tr, root)
		}
	}
	// Grow by exactly what this batch adds: held state is the memory that
	// scales with open runs, and append's doubling would leave up to half
	// of it unused.
	llm, tools := 0, 0
	for _, i := range idx {
		switch st.infos[i].Kind {
		case agentspan.KindLLM:
			llm++
		case agentspan.KindTool:
			if c.cfg.Loops.Enabled {
				tools++
			}
		}
	}
	tr.Spans = slices.Grow(tr.Spans, len(idx))
	tr.LLM = slices.Grow(tr.LLM, llm)
	tr.Tools = slices.Grow(tr.Tools, tools)
	for _, i := range idx {
		c.addSpan(tr, st.spans[i], &st.infos[i], st.services[i], st.resourceOf(i))
	}
	c.store.Touched(tr, now.UnixNano(), onClose)
}

// addSpan appends the skeleton of one span and its observations to tr.
func (c *agentConnector) addSpan(tr *tracestore.Trace, s ptrace.Span, in *agentspan.Info, service tracestore.Str, res pcommon.Map) {
	strs := c.store.Strings()
	strs.Retain(service)
	sp := tracestore.Span{
		ID: s.SpanID(), Parent: s.ParentSpanID(), Seconds: float32(spanSeconds(s)),
		Kind: in.Kind, Agent: strs.Intern(in.AgentID), Service: service,
	}
	if in.ExplicitRun {
		sp.Flags |= tracestore.Explicit
		if in.Workflow {
			sp.Flags |= tracestore.Workflow
		}
	}
	if in.KindFixed {
		sp.Flags |= tracestore.KindFixed
	}
	if in.IsError {
		sp.Flags |= tracestore.Error
	}
	if agentspan.ParentIsRemote(s) {
		sp.Flags |= tracestore.RemoteParent
	}
	if in.MCPMethod != "" {
		sp.Flags |= tracestore.MCP
	}
	switch in.Kind {
	case agentspan.KindLLM:
		sp.Name = strs.Cached(&c.batch.names[0], orUnknown(in.Model))
		t := in.Tokens
		f := tracestore.LLMFacts{Tokens: [4]uint32{clampU32(t.Uncached()), clampU32(t.Output), clampU32(t.CacheRead), clampU32(t.CacheWrite)},
			Start: int64(s.StartTimestamp())}
		if cost, ok := c.costOf(s, in); ok {
			f.Cost = cost
			sp.Flags |= tracestore.HasCost
		}
		if in.HasTTFT {
			f.TTFT = float32(in.TTFT)
			sp.Flags |= tracestore.HasTTFT
		}
		if c.tenants != nil {
			f.Tenant = strs.Intern(tenantOf(c.cfg.Tenants.Attributes, s, res))
		}
		tr.LLM = append(tr.LLM, f)
		sp.Extra = uint32(len(tr.LLM))
		if c.cfg.GenAIMetrics {
			g := genaiOf(s.Attributes(), in.Operation, in.Provider, in.Model)
			tr.GenAI = append(tr.GenAI, tracestore.GenAIFacts{Operation: strs.Intern(g.operation), Provider: strs.Intern(g.provider),
				RequestModel: strs.Intern(g.requestModel), ResponseModel: strs.Intern(g.responseModel)})
		}
	case agentspan.KindTool:
		sp.Name = strs.Cached(&c.batch.names[1], orUnknown(in.ToolName))
		sp.Status = strs.Intern(in.ToolStatus)
		if c.cfg.Loops.Enabled {
			// The hash the processor took before redaction, else the one
			// of the arguments the span still carries (no redaction
			// upstream, or a collector in another process redacted them).
			args := argshash.Shared.Take(s.TraceID(), s.SpanID())
			if args == 0 {
				args = in.ToolArgsHash
			}
			tr.Tools = append(tr.Tools, tracestore.ToolFacts{Start: int64(s.StartTimestamp()), Args: args})
			sp.Extra = uint32(len(tr.Tools))
		}
	default:
		// Invocations and roots (which may be the run) keep their run-level
		// attributes.
		remote := in.RemoteAgent && in.Tokens.Has&(agentspan.HasInput|agentspan.HasOutput) != 0
		if in.TaskType != "" || in.TaskOutcome != "" || in.HasTotalSteps || in.ConversationID != "" || remote {
			f := tracestore.InvFacts{TaskType: strs.Intern(in.TaskType), TaskOutcome: strs.Intern(in.TaskOutcome), Conversation: strs.Intern(in.ConversationID)}
			if in.HasTotalSteps {
				f.TotalSteps = int32(min(in.RunTotalSteps, math.MaxInt32))
				sp.Flags |= tracestore.HasTotalSteps
			}
			if remote {
				t := in.Tokens
				f.Model = strs.Intern(orUnknown(in.Model))
				f.Tokens = [4]uint32{clampU32(t.Uncached()), clampU32(t.Output), clampU32(t.CacheRead), clampU32(t.CacheWrite)}
				sp.Flags |= tracestore.RemoteUsage
				if cost, ok := c.costOf(s, in); ok {
					f.Cost = cost
					sp.Flags |= tracestore.RemoteCost
				}
			}
			tr.Inv = append(tr.Inv, f)
			sp.Extra = uint32(len(tr.Inv))
		}
	}
	if tr.Conversation == 0 && in.ConversationID != "" {
		tr.Conversation = strs.Intern(in.ConversationID)
	}
	node := tr.AddSpan(sp)
	c.spanSignals(s, in, func(o obs) {
		kind := o.sig
		if o.kind == obsFeedback {
			kind = tracestore.SigFeedback
		}
		tr.Signals = append(tr.Signals, tracestore.Signal{Span: node, Kind: kind, Name: strs.Intern(o.name), Value: o.value})
	})
}

// late handles spans of a trace already closed: they count at span level
// (against the agent they name, else the trace's), never as a second run.
func (c *agentConnector) late(ctx context.Context, idx []int32, dec tracestore.Decision, now time.Time) {
	st := &c.batch
	var kinds [4]int64
	// An llm span with an llm span beneath it in this batch is not a call
	// of its own (the rule of a closed trace, for what arrives together).
	clear(c.lateParents)
	clear(c.lateMCP)
	for _, i := range idx {
		switch in := &st.infos[i]; {
		case in.Kind == agentspan.KindLLM:
			c.lateParents[st.spans[i].ParentSpanID()] = true
		case in.Kind == agentspan.KindTool && in.MCPMethod != "":
			c.lateMCP[st.spans[i].SpanID()] = in.ToolName
		}
	}
	for _, i := range idx {
		s, in := st.spans[i], &st.infos[i]
		kinds[in.Kind]++
		if in.Kind == agentspan.KindLLM && c.lateParents[s.SpanID()] {
			continue
		}
		// An MCP server span under its client span, both late together:
		// one call, as in a held trace.
		if in.Kind == agentspan.KindTool && in.MCPMethod != "" {
			if name, ok := c.lateMCP[s.ParentSpanID()]; ok && name == in.ToolName {
				continue
			}
		}
		agent := in.AgentID
		if agent == "" {
			agent = dec.Agent
		}
		emit := func(o obs) { c.emit(agent, s.TraceID(), &o, now) }
		c.callObservation(s, in, st.resourceOf(i), emit)
		c.spanSignals(s, in, func(o obs) {
			// The same verdict already counted from a log record of the
			// closed trace counts once.
			if c.store.Counted(s.TraceID(), tracestore.SignalHash(o.spanID, o.storeKind(), o.name, o.value), false) {
				return
			}
			emit(o)
		})
	}
	for k, n := range kinds {
		if n > 0 {
			c.telemetry.ConnectorAgentmetricsSpansLate.Add(ctx, n, c.lateKindAttrs[k])
		}
	}
}

// feedbackByConversation handles a trace that is only feedback or signals
// (no run, llm or tool span) of a conversation whose run already closed:
// it is counted under that run's agent without opening a trace. Reports
// whether it did.
func (c *agentConnector) feedbackByConversation(idx []int32, traceID pcommon.TraceID, now time.Time) bool {
	st := &c.batch
	agent, signals := "", false
	for _, i := range idx {
		in := &st.infos[i]
		if in.Kind != agentspan.KindOther || in.ExplicitRun {
			return false
		}
		if agent == "" && in.ConversationID != "" {
			agent = c.conversations[in.ConversationID]
		}
		signals = signals || in.HasFeedback || hasSignals(in) || hasAgentEvents(st.spans[i])
	}
	// Only spans that carry a signal: a chain root naming the conversation
	// may be the start of the conversation's next run.
	if agent == "" || !signals {
		return false
	}
	for _, i := range idx {
		in := &st.infos[i]
		a := agent
		if in.AgentID != "" {
			a = in.AgentID
		}
		c.spanSignals(st.spans[i], in, func(o obs) { c.emit(a, traceID, &o, now) })
	}
	return true
}

// rememberConversation maps a closed run's conversation to its agent,
// bounded by runs.max_traces (oldest forgotten first).
func (c *agentConnector) rememberConversation(conv, agent string) {
	if _, ok := c.conversations[conv]; !ok {
		c.conversationOrder = append(c.conversationOrder, conv)
	}
	c.conversations[conv] = agent
	for len(c.conversations) > c.cfg.Runs.MaxRuns && len(c.conversationOrder) > 0 {
		delete(c.conversations, c.conversationOrder[0])
		c.conversationOrder = c.conversationOrder[1:]
	}
}

// reportHeld brings the store gauges and the close counts of the
// telemetry up to date.
func (c *agentConnector) reportHeld(ctx context.Context) {
	for r, n := range c.closed {
		if n > 0 {
			c.telemetry.ConnectorAgentmetricsTracesClosed.Add(ctx, n, c.reasonAttrs[tracestore.Reason(r)])
			c.closed[r] = 0
		}
	}
	traces, spans, bytes := int64(c.store.Len()), int64(c.store.Spans()), c.store.Bytes()
	if d := traces - c.held.traces; d != 0 {
		c.telemetry.ConnectorAgentmetricsTracesActive.Add(ctx, d)
	}
	if d := spans - c.held.spans; d != 0 {
		c.telemetry.ConnectorAgentmetricsSpansHeld.Add(ctx, d)
	}
	if d := bytes - c.held.bytes; d != 0 {
		c.telemetry.ConnectorAgentmetricsHeldBytes.Add(ctx, d)
	}
	c.held.traces, c.held.spans, c.held.bytes = traces, spans, bytes
}

func hasSignals(in *agentspan.Info) bool {
	return in.HallucinationType != "" || in.RecoveryStrategy != "" || in.StepOutcome != "" || in.ApprovalResult != "" || in.HasGuardrail
}

// skippedRoots remembers, for a moment, the roots of whole traces that held
// nothing agent-related (bounded; oldest first out), so that agent spans
// of such a trace arriving after its root still find it.
type skippedRoots struct {
	m     map[pcommon.TraceID]skippedRoot
	order []pcommon.TraceID
	head  int
	keep  time.Duration
}

type skippedRoot struct {
	id      pcommon.SpanID
	seconds float32
	service string
	failed  bool
	at      time.Time
}

const maxSkippedRoots = 16384

// remember keeps the root's service text (the batch's interned copy, which
// outlives the batch as a Go string).
func (k *skippedRoots) remember(traceID pcommon.TraceID, idx []int32, st *batchState, strs *tracestore.Interner, now time.Time) {
	for _, i := range idx {
		s := st.spans[i]
		if !s.ParentSpanID().IsEmpty() {
			continue
		}
		if _, ok := k.m[traceID]; !ok {
			k.order = append(k.order, traceID)
		}
		k.m[traceID] = skippedRoot{id: s.SpanID(), seconds: float32(spanSeconds(s)),
			service: strs.String(st.services[i]), failed: st.infos[i].IsError, at: now}
		break
	}
	for len(k.m) > maxSkippedRoots || (k.head < len(k.order) && k.expired(k.order[k.head], now)) {
		delete(k.m, k.order[k.head])
		k.head++
	}
	if k.head > 1024 && k.head > len(k.order)/2 {
		k.order = append(k.order[:0], k.order[k.head:]...)
		k.head = 0
	}
}

func (k *skippedRoots) expired(id pcommon.TraceID, now time.Time) bool {
	r, ok := k.m[id]
	return !ok || now.Sub(r.at) > k.keep
}

func (k *skippedRoots) take(id pcommon.TraceID, now time.Time) (skippedRoot, bool) {
	r, ok := k.m[id]
	if !ok || now.Sub(r.at) > k.keep {
		return skippedRoot{}, false
	}
	delete(k.m, id) // its order entry goes stale and is skipped
	return r, true
}

// addSkippedRoot puts a remembered root back into its trace.
func (c *agentConnector) addSkippedRoot(tr *tracestore.Trace, r skippedRoot) {
	sp := tracestore.Span{ID: r.id, Seconds: r.seconds, Kind: agentspan.KindOther, Service: c.store.Strings().Intern(r.service)}
	if r.failed {
		sp.Flags |= tracestore.Error
	}
	tr.AddSpan(sp)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func clampU32(v int64) uint32 {
	if v <= 0 {
		return 0
	}
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}
