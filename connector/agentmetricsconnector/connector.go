package agentmetricsconnector

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/drift"
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadata"
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/pricing"
)

const scopeName = "github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector"

type agentConnector struct {
	cfg       *Config
	logger    *zap.Logger
	next      consumer.Metrics
	telemetry *metadata.TelemetryBuilder
	extractor *agentspan.Extractor
	table     *pricing.Table // built-in prices; lookups memoised in prices
	now       func() time.Time
	instance  string

	mu       sync.Mutex // guards everything below
	metrics  *agentMetrics
	runs     *runStore
	drift    map[string]*drift.Tracker
	handles  *handleCache
	prices   map[string]*pricing.Entry // model -> price (nil: unknown), under mu
	interned map[string]string
	batch    batchState

	reasonAttrs map[string]metric.MeasurementOption
	overflowMu  sync.Mutex
	overflow    map[string]int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// batchState is scratch space reused across ConsumeTraces calls (under mu).
type batchState struct {
	spans    []ptrace.Span
	services []string
	infos    []agentspan.Info
	nodes    []agentspan.Node
	index    map[pcommon.SpanID]int
	grouper  agentspan.TraceGrouper
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics) (*agentConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	table, err := pricing.Builtin()
	if err != nil {
		return nil, err
	}
	instance := cfg.InstanceID
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	c := &agentConnector{
		cfg:       cfg,
		logger:    set.Logger,
		next:      next,
		telemetry: tb,
		extractor: agentspan.DefaultExtractor,
		table:     table,
		now:       time.Now,
		instance:  instance,
		runs:      newRunStore(cfg.Runs.MaxRuns),
		drift:     map[string]*drift.Tracker{},
		handles:   newHandleCache(4 * cfg.CardinalityLimit),
		interned:  map[string]string{},
		prices:    map[string]*pricing.Entry{},
		overflow:  map[string]int64{},
		batch:     batchState{index: map[pcommon.SpanID]int{}},
		stop:      make(chan struct{}),
	}
	c.reasonAttrs = map[string]metric.MeasurementOption{}
	for _, r := range []string{"completed", "evicted", "expired", "pending_limit"} {
		c.reasonAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	maxEx := 0
	if cfg.Exemplars.Enabled {
		maxEx = cfg.Exemplars.MaxPerDataPoint
	}
	set2 := series.NewSet(series.Settings{
		CardinalityLimit: cfg.CardinalityLimit,
		MaxLabelLength:   cfg.MaxLabelLength,
		MaxExemplars:     maxEx,
		Delta:            cfg.AggregationTemporality == "delta",
		OnOverflow:       c.countOverflow,
	})
	c.metrics = newAgentMetrics(set2, cfg.ToolDurationBuckets, cfg.GenAIMetrics)
	return c, nil
}

// maxInterned bounds the intern table; past it, strings are copied per run.
const maxInterned = 65536

// intern returns a copy of s shared by every run that names it (agent ids,
// service names and task labels repeat across runs; a per-run copy would
// cost an allocation and its bytes for every in-flight run).
func (c *agentConnector) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := c.interned[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(c.interned) < maxInterned {
		c.interned[v] = v
	}
	return v
}

// countOverflow is called under mu; telemetry is recorded at flush.
func (c *agentConnector) countOverflow(metric string) { c.overflow[metric]++ }

func (c *agentConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *agentConnector) Start(context.Context, component.Host) error {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.cfg.FlushInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := c.flush(context.Background()); err != nil {
					c.logger.Warn("exporting agent metrics failed", zap.Error(err))
				}
			case <-c.stop:
				return
			}
		}
	}()
	return nil
}

func (c *agentConnector) Shutdown(ctx context.Context) error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	// Emit what was aggregated so far; open runs stay open (their run span
	// never came before shutdown) and are not counted as requests.
	err := c.flush(ctx)
	c.telemetry.Shutdown()
	return err
}

func (c *agentConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.batch
	st.spans, st.services = st.spans[:0], st.services[:0]
	for _, rs := range td.ResourceSpans().All() {
		svc := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			svc = v.AsString()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				st.spans = append(st.spans, s)
				st.services = append(st.services, svc)
			}
		}
	}
	n := len(st.spans)
	if cap(st.infos) < n {
		st.infos = make([]agentspan.Info, n)
	}
	st.infos = st.infos[:n]
	for i, s := range st.spans {
		c.extractor.Extract(s, &st.infos[i])
	}
	now := c.now()
	ts := pcommon.NewTimestampFromTime(now)
	order := st.grouper.Group(st.spans)
	for start := 0; start < n; {
		end := agentspan.NextTrace(st.spans, order, start)
		c.consumeTrace(ctx, order[start:end], now, ts)
		start = end
	}
	clear(st.spans)
	return nil
}

// consumeTrace handles the spans of one trace found in this batch.
func (c *agentConnector) consumeTrace(ctx context.Context, idx []int32, now time.Time, ts pcommon.Timestamp) {
	st := &c.batch
	st.nodes = st.nodes[:0]
	relevant := false
	for _, i := range idx {
		s := st.spans[i]
		in := &st.infos[i]
		st.nodes = append(st.nodes, agentspan.Node{SpanID: s.SpanID(), ParentID: s.ParentSpanID(), Info: in})
		if in.Kind != agentspan.KindOther || in.HasFeedback || hasSignals(in) || hasAgentEvents(s) {
			relevant = true
		}
	}
	if !relevant {
		return
	}
	traceID := st.spans[idx[0]].TraceID()
	runIdx := agentspan.ResolveRuns(st.nodes, st.index)

	// A run already closed: late spans count at span level only.
	if done, ok := c.runs.done[traceID]; ok && c.runs.get(traceID) == nil {
		late := int64(0)
		for _, i := range idx {
			in := &st.infos[i]
			if in.Kind == agentspan.KindLLM || in.Kind == agentspan.KindTool {
				late++
			}
			agent := in.AgentID
			if agent == "" {
				agent = done.agentID
			}
			c.spanObservations(st.spans[i], in, func(o obs) { c.emit(agent, traceID, &o, now) })
		}
		if late > 0 {
			c.telemetry.ConnectorAgentmetricsSpansLate.Add(ctx, late)
		}
		return
	}

	r := c.runs.get(traceID)
	if r == nil && c.feedbackByConversation(idx, traceID, now) {
		return
	}
	if r == nil {
		var evictedID pcommon.TraceID
		var evicted *run
		r, evictedID, evicted = c.runs.create(traceID, now.Add(c.cfg.Runs.TTL).UnixNano())
		c.telemetry.ConnectorAgentmetricsRunsActive.Add(ctx, 1)
		if evicted != nil {
			c.closeRun(ctx, evictedID, evicted, "evicted", now)
		}
		r.serviceName = c.intern(st.services[idx[0]])
	}
	if runIdx >= 0 && st.nodes[runIdx].Info.Kind == agentspan.KindRun {
		c.updateRunSpan(r, st.spans[idx[runIdx]], st.nodes[runIdx].Info)
	}
	if r.agentID == "" {
		if id := agentspan.RunAgentID(st.nodes, runIdx); id != "" {
			r.agentID = c.intern(id)
		}
	}
	for _, i := range idx {
		s, in := st.spans[i], &st.infos[i]
		if r.conversationID == "" && in.ConversationID != "" {
			r.conversationID = strings.Clone(in.ConversationID)
		}
		switch in.Kind {
		case agentspan.KindLLM:
			r.llmCalls++
		case agentspan.KindTool:
			r.toolCalls++
		}
		// Spans name their agent when the processor (or the application)
		// wrote it; otherwise the run's agent once the run span is known.
		agent := in.AgentID
		if agent == "" && r.hasRunSpan {
			agent = r.agentID
		}
		c.spanObservations(s, in, func(o obs) {
			if o.hasCost {
				r.costUSD += o.cost
				r.hasCost = true
			}
			if agent != "" {
				c.emit(agent, traceID, &o, now)
				return
			}
			c.hold(ctx, r, &o)
		})
	}
	if r.hasRunSpan && len(r.pending) > 0 {
		for i := range r.pending {
			c.emit(r.agentID, traceID, &r.pending[i], now)
		}
		r.pending = nil
	}
	if r.hasRunSpan {
		// Grace for late children, renewed by every span of the run.
		r.deadline = now.Add(c.cfg.Runs.GracePeriod).UnixNano()
	}
}

// feedbackByConversation handles a trace that is only feedback or signals
// (no run, llm or tool span) of a conversation whose run already closed:
// it is counted under that run's agent without opening a run. Reports
// whether it did.
func (c *agentConnector) feedbackByConversation(idx []int32, traceID pcommon.TraceID, now time.Time) bool {
	st := &c.batch
	agent := ""
	for _, i := range idx {
		in := &st.infos[i]
		if in.Kind != agentspan.KindOther {
			return false
		}
		if agent == "" && in.ConversationID != "" {
			agent = c.runs.conversations[in.ConversationID]
		}
	}
	if agent == "" {
		return false
	}
	for _, i := range idx {
		in := &st.infos[i]
		a := agent
		if in.AgentID != "" {
			a = in.AgentID
		}
		c.spanObservations(st.spans[i], in, func(o obs) { c.emit(a, traceID, &o, now) })
	}
	return true
}

// updateRunSpan records the run span; an explicit run that encloses the
// one already held (it started no later and ended no earlier) is outer and
// replaces it: the outermost agent span wins across batches too.
func (c *agentConnector) updateRunSpan(r *run, s ptrace.Span, in *agentspan.Info) {
	if r.hasRunSpan && !(s.StartTimestamp() <= r.runStart && s.EndTimestamp() >= r.runEnd && s.SpanID() != r.runSpanID) {
		return
	}
	r.hasRunSpan = true
	r.runSpanID = s.SpanID()
	r.runStart, r.runEnd = s.StartTimestamp(), s.EndTimestamp()
	r.runFailed = in.IsError
	r.hasTotalSteps, r.totalSteps = in.HasTotalSteps, int32(in.RunTotalSteps)
	r.taskType, r.taskOutcome = c.intern(in.TaskType), c.intern(in.TaskOutcome)
	if in.AgentID != "" {
		r.agentID = c.intern(in.AgentID)
	}
}

func (c *agentConnector) costOf(in *agentspan.Info) (float64, bool) {
	if in.HasCost {
		return in.CostUSD, true
	}
	t := in.Tokens
	if t.Has&(agentspan.HasInput|agentspan.HasOutput) == 0 {
		return 0, false
	}
	e, ok := c.prices[in.Model]
	if !ok {
		// Memoised under mu in a plain map (the table lookup normalises the name).
		e, _ = c.table.Lookup(in.Model)
		if len(c.prices) < maxInterned {
			c.prices[strings.Clone(in.Model)] = e
		}
	}
	if e == nil {
		return 0, false
	}
	return e.Cost(pricing.Usage{Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite}), true
}

func hasSignals(in *agentspan.Info) bool {
	return in.HallucinationType != "" || in.RecoveryStrategy != "" || in.StepOutcome != "" || in.ApprovalResult != ""
}

// spanObservations calls fn for every observation the span carries.
// The obs passed to fn aliases span memory; hold() clones what it keeps.
func (c *agentConnector) spanObservations(s ptrace.Span, in *agentspan.Info, fn func(obs)) {
	var o obs
	switch in.Kind {
	case agentspan.KindLLM:
		t := in.Tokens
		o = obs{kind: obsLLM, name: in.Model, failed: in.IsError, spanID: s.SpanID(),
			tokens: [4]int64{t.Uncached(), t.Output, t.CacheRead, t.CacheWrite}, value: spanSeconds(s)}
		if o.name == "" {
			o.name = "unknown"
		}
		o.cost, o.hasCost = c.costOf(in)
		fn(o)
	case agentspan.KindTool:
		o = obs{kind: obsTool, name: in.ToolName, status: in.ToolStatus, spanID: s.SpanID(), value: spanSeconds(s)}
		if o.name == "" {
			o.name = "unknown"
		}
		fn(o)
	}
	for _, sg := range [...]struct {
		sig signal
		v   string
	}{{sigHallucination, in.HallucinationType}, {sigRecovery, in.RecoveryStrategy}, {sigStep, in.StepOutcome}, {sigApproval, in.ApprovalResult}} {
		if sg.v != "" {
			o = obs{kind: obsSignal, sig: sg.sig, name: sg.v, spanID: s.SpanID()}
			fn(o)
		}
	}
	if in.HasFeedback {
		o = obs{kind: obsFeedback, value: in.FeedbackScore, spanID: s.SpanID()}
		fn(o)
	}
	for _, ev := range s.Events().All() {
		if isAgentEvent(ev.Name()) {
			eventObservations(ev, s.SpanID(), fn)
		}
	}
}

// hold keeps an observation until the run's agent id is known.
func (c *agentConnector) hold(ctx context.Context, r *run, o *obs) {
	if c.cfg.Runs.MaxPendingPerRun > 0 && len(r.pending) >= c.cfg.Runs.MaxPendingPerRun {
		c.telemetry.ConnectorAgentmetricsObservationsDropped.Add(ctx, 1, c.reasonAttrs["pending_limit"])
		return
	}
	kept := *o
	kept.name = strings.Clone(o.name)
	kept.status = strings.Clone(o.status)
	r.pending = append(r.pending, kept)
}

func spanSeconds(s ptrace.Span) float64 {
	if s.EndTimestamp() < s.StartTimestamp() {
		return 0
	}
	return float64(s.EndTimestamp()-s.StartTimestamp()) / 1e9
}

// emit records one span-level observation under agent.
func (c *agentConnector) emit(agent string, traceID pcommon.TraceID, o *obs, now time.Time) {
	m := c.metrics
	ts := pcommon.NewTimestampFromTime(now)
	switch o.kind {
	case obsLLM:
		c.emitLLM(agent, traceID, o, ts)
		if m.genaiTokenUsage != nil {
			if o.tokens[0]+o.tokens[2]+o.tokens[3] > 0 {
				m.genaiTokenUsage.Observe(series.Key{o.name, "input", "chat"}, float64(o.tokens[0]+o.tokens[2]+o.tokens[3]), traceID, o.spanID, ts)
			}
			if o.tokens[1] > 0 {
				m.genaiTokenUsage.Observe(series.Key{o.name, "output", "chat"}, float64(o.tokens[1]), traceID, o.spanID, ts)
			}
			m.genaiOpDuration.Observe(series.Key{o.name, "chat"}, o.value, traceID, o.spanID, ts)
		}
	case obsTool:
		c.emitTool(agent, traceID, o, ts)
		if m.genaiToolDuration != nil {
			m.genaiToolDuration.Observe(series.Key{agent, o.name}, o.value, traceID, o.spanID, ts)
		}
		c.trackTool(agent, o.name, now)
	case obsSignal:
		switch o.sig {
		case sigHallucination:
			m.hallucinations.Add(series.Key{agent, o.name}, 1, ts)
		case sigRecovery:
			m.recoveries.Add(series.Key{agent, o.name}, 1, ts)
		case sigStep:
			m.stepOutcomes.Add(series.Key{agent, o.name}, 1, ts)
		case sigApproval:
			m.approvals.Add(series.Key{agent, o.name}, 1, ts)
		}
	case obsFeedback:
		m.feedback.Observe(series.Key{agent}, o.value, traceID, o.spanID, ts)
	}
}

// trackTool feeds the tool-selection distribution of agent. Agents beyond
// the cardinality limit share no tracker (their calls are still counted).
func (c *agentConnector) trackTool(agent, tool string, now time.Time) {
	tr, ok := c.drift[agent]
	if !ok {
		if len(c.drift) >= c.cfg.CardinalityLimit {
			return
		}
		tr = drift.NewTracker(drift.Settings{
			Window: c.cfg.ToolSelection.Window, Baseline: c.cfg.ToolSelection.Baseline,
			MinBaselineCalls: c.cfg.ToolSelection.MinBaselineCalls, MinWindowCalls: c.cfg.ToolSelection.MinWindowCalls,
			MaxTools: c.cfg.CardinalityLimit,
		})
		c.drift[strings.Clone(agent)] = tr
	}
	if len(tool) > c.cfg.MaxLabelLength {
		tool = tool[:c.cfg.MaxLabelLength]
	}
	tr.Add(tool, 1, now)
}

// closeRun emits a run's run-level metrics (when its run span was seen)
// and its held observations.
func (c *agentConnector) closeRun(ctx context.Context, traceID pcommon.TraceID, r *run, reason string, now time.Time) {
	agent := r.agentID
	if agent == "" {
		agent = r.serviceName
	}
	if agent == "" {
		agent = "unknown"
	}
	for i := range r.pending {
		c.emit(agent, traceID, &r.pending[i], now)
	}
	r.pending = nil
	if r.hasRunSpan {
		c.emitRun(agent, traceID, r, now)
	}
	c.runs.markDone(traceID, agent, now.UnixNano())
	if r.conversationID != "" {
		c.runs.rememberConversation(r.conversationID, agent)
	}
	c.telemetry.ConnectorAgentmetricsRunsActive.Add(ctx, -1)
	c.telemetry.ConnectorAgentmetricsRunsClosed.Add(ctx, 1, c.reasonAttrs[reason])
}

// emitRun records the run-level (L1, L3 per-run, L4) metrics: exactly once per run.
func (c *agentConnector) emitRun(agent string, traceID pcommon.TraceID, r *run, now time.Time) {
	m := c.metrics
	ts := pcommon.NewTimestampFromTime(now)
	status := "success"
	if r.runFailed {
		status = "failure"
	}
	m.requests.Add(series.Key{agent, status}, 1, ts)
	dur := 0.0
	if r.runEnd > r.runStart {
		dur = float64(r.runEnd-r.runStart) / 1e9
	}
	m.requestDuration.Observe(series.Key{agent}, dur, traceID, r.runSpanID, ts)
	steps := int64(r.llmCalls)
	if r.hasTotalSteps {
		steps = int64(r.totalSteps)
	}
	m.reasoningSteps.Observe(series.Key{agent}, float64(steps), traceID, r.runSpanID, ts)
	m.toolCallsPerRun.Observe(series.Key{agent}, float64(r.toolCalls), traceID, r.runSpanID, ts)
	if r.hasCost {
		m.runCost.Observe(series.Key{agent}, r.costUSD, traceID, r.runSpanID, ts)
	}
	outcome := r.taskOutcome
	if outcome == "" {
		outcome = "completed"
		if r.runFailed {
			outcome = "failed"
		}
	}
	taskType := r.taskType
	if taskType == "" {
		taskType = "default"
	}
	m.tasks.Add(series.Key{agent, taskType, outcome}, 1, ts)
	if m.genaiAgentDuration != nil {
		m.genaiAgentDuration.Observe(series.Key{agent}, dur, traceID, r.runSpanID, ts)
	}
}

// flush closes runs past their deadline, refreshes the tool-selection
// gauges and sends the metrics on.
func (c *agentConnector) flush(ctx context.Context) error {
	c.mu.Lock()
	now := c.now()
	nowNs := now.UnixNano()
	var closing []pcommon.TraceID
	for id, r := range c.runs.runs {
		if r.deadline <= nowNs {
			closing = append(closing, id)
		}
	}
	for _, id := range closing {
		r := c.runs.get(id)
		c.runs.remove(id)
		reason := "completed"
		if !r.hasRunSpan {
			reason = "expired"
		}
		c.closeRun(ctx, id, r, reason, now)
	}
	c.runs.pruneDone(nowNs, int64(c.cfg.Runs.TTL))

	ts := pcommon.NewTimestampFromTime(now)
	m := c.metrics
	m.selectionRatio.Reset()
	m.drift.Reset()
	for agent, tr := range c.drift {
		if tr.Empty(now) {
			delete(c.drift, agent)
			continue
		}
		tr.Forget()
		snap := tr.Snapshot(now)
		for tool, ratio := range snap.Ratio {
			m.selectionRatio.Set(series.Key{agent, tool}, ratio, ts)
		}
		if snap.HasDrift {
			m.drift.Set(series.Key{agent}, snap.Drift, ts)
		}
	}

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "otelcol-agent")
	rm.Resource().Attributes().PutStr("service.instance.id", c.instance)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	m.set.AppendTo(sm, ts)
	overflow := c.overflow
	c.overflow = map[string]int64{}
	c.mu.Unlock()

	for name, n := range overflow {
		c.telemetry.ConnectorAgentmetricsSeriesOverflow.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(attribute.String("metric", name))))
	}
	if sm.Metrics().Len() == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, md)
}
