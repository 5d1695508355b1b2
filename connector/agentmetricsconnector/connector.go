package agentmetricsconnector

import (
	"context"
	"errors"
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
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/pricing"
)

const scopeName = "github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector"

type agentConnector struct {
	cfg          *Config
	logger       *zap.Logger
	next         consumer.Metrics
	telemetry    *metadata.TelemetryBuilder
	extractor    *agentspan.Extractor
	table        *pricing.Table         // the conventions' prices; resolutions memoised in prices
	priceQuality *pricing.QualityLabels // {model, match} of price_lookups, bounded
	now          func() time.Time
	instance     string

	mu      sync.Mutex // guards everything below
	metrics *agentMetrics
	store   *tracestore.Store
	drift   map[string]*drift.Tracker
	handles *handleCache
	// prices memoises each model name's price and tallies its
	// price_lookups until the flush (priceDirty: the memos with counts).
	prices        map[string]*modelPrice
	priceDirty    []*modelPrice
	priceOverflow modelPrice
	// conversations maps a closed run's conversation id to its agent id,
	// for feedback sent in another trace (bounded by runs.max_traces).
	conversations     map[string]string
	conversationOrder []string
	batch             batchState
	loops             loopScratch
	closing           closeState
	sessions          *sessionTracker
	tenants           *tenantTracker // nil: off
	skipped           skippedRoots
	lateParents       map[pcommon.SpanID]bool // scratch of late()
	lateMCP           map[pcommon.SpanID]string
	// held is what the telemetry last reported of the store; closed counts
	// the traces closed since, by reason.
	held   struct{ traces, spans, bytes int64 }
	closed [4]int64

	reasonAttrs   map[tracestore.Reason]metric.MeasurementOption
	lateKindAttrs [4]metric.MeasurementOption
	overflowMu    sync.Mutex
	overflow      map[string]int64

	stop chan struct{}
	wg   sync.WaitGroup

	// One connector serves the traces and the logs pipelines (factory.go):
	// refs counts its pipeline pairs (under the factory's lock); release
	// drops one and sets last when none is left; started guards Start.
	refs    int
	release func()
	last    bool
	started sync.Once
	id      component.ID  // the connector's, for its storage client
	ckpt    *checkpointer // nil: checkpoints off
}

// batchState is scratch space reused across ConsumeTraces calls (under mu).
type batchState struct {
	spans    []ptrace.Span
	services []tracestore.Str // per span: its resource's service.name, interned
	// resAttrs: per span, its resource's attributes (tenants on).
	resAttrs []pcommon.Map
	infos    []agentspan.Info
	grouper  agentspan.TraceGrouper
	// resources holds the batch's own reference to each service it interned.
	resources []tracestore.Str
	// names caches the last model and tool name interned.
	names [2]tracestore.StrCache
}

// noAttributes stands for a resource when tenants are off (never written).
var noAttributes = pcommon.NewMap()

// resourceOf is span i's resource attributes (tenants on), else an empty map.
func (st *batchState) resourceOf(i int32) pcommon.Map {
	if int(i) < len(st.resAttrs) {
		return st.resAttrs[i]
	}
	return noAttributes
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics) (*agentConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	table, err := cfg.PriceTable()
	if err != nil {
		return nil, err
	}
	instance := cfg.InstanceID
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	c := &agentConnector{
		cfg:           cfg,
		id:            set.ID,
		sessions:      newSessionTracker(),
		logger:        set.Logger,
		next:          next,
		telemetry:     tb,
		extractor:     agentspan.NewExtractor(cfg.ExtractorSettings()),
		table:         table,
		prices:        map[string]*modelPrice{},
		priceOverflow: modelPrice{model: pricing.OverflowModel},
		priceQuality:  pricing.NewQualityLabels(maxPriceQualityModels),
		now:           time.Now,
		instance:      instance,
		store: tracestore.New(tracestore.Settings{
			Grace:             cfg.Runs.GracePeriod,
			RemoteGrace:       cfg.Runs.RemoteGracePeriod,
			IdleTimeout:       cfg.Runs.TTL,
			MaxTraces:         cfg.Runs.MaxRuns,
			MaxSpans:          cfg.Runs.MaxSpans,
			MaxBytes:          cfg.Runs.MaxBytes,
			MaxStringLength:   cfg.MaxLabelLength,
			DecisionRetention: cfg.Runs.TTL,
		}),
		drift:         map[string]*drift.Tracker{},
		handles:       newHandleCache(4 * cfg.CardinalityLimit),
		conversations: map[string]string{},
		overflow:      map[string]int64{},
		skipped:       skippedRoots{m: map[pcommon.TraceID]skippedRoot{}, keep: cfg.Runs.RemoteGracePeriod},
		lateParents:   map[pcommon.SpanID]bool{},
		lateMCP:       map[pcommon.SpanID]string{},
		stop:          make(chan struct{}),
	}
	c.reasonAttrs = map[tracestore.Reason]metric.MeasurementOption{}
	for _, r := range tracestore.Reasons {
		c.reasonAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))
	}
	for k := agentspan.KindOther; k <= agentspan.KindTool; k++ {
		c.lateKindAttrs[k] = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", k.String())))
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
		Expiration:       cfg.MetricsExpiration,
		OnOverflow:       c.countOverflow,
	})
	tenantLabel := ""
	if len(cfg.Tenants.Attributes) > 0 {
		tenantLabel = cfg.Tenants.Label
		c.tenants = newTenantTracker(cfg.Tenants.TopK)
	}
	c.metrics = newAgentMetrics(set2, cfg.ToolDurationBuckets, cfg.GenAIMetrics, tenantLabel)
	return c, nil
}

// countOverflow is called under mu; telemetry is recorded at flush.
func (c *agentConnector) countOverflow(metric string) { c.overflow[metric]++ }

func (c *agentConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *agentConnector) Start(ctx context.Context, host component.Host) error {
	var err error
	c.started.Do(func() {
		if err = c.openCheckpoint(ctx, host); err == nil {
			c.startFlushing()
		}
	})
	return err
}

func (c *agentConnector) startFlushing() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.cfg.FlushInterval)
		defer t.Stop()
		var ckpt <-chan time.Time // nil (never ready) without checkpoints
		if c.ckpt != nil {
			ct := time.NewTicker(c.cfg.Checkpoint.Interval)
			defer ct.Stop()
			ckpt = ct.C
		}
		for {
			select {
			case <-t.C:
				if err := c.flush(context.Background()); err != nil {
					c.logger.Warn("exporting agent metrics failed", zap.Error(err))
				}
			case <-ckpt:
				if err := c.checkpoint(context.Background(), false); err != nil {
					c.logger.Warn("agent metrics checkpoint failed", zap.Error(err))
				}
			case <-c.stop:
				return
			}
		}
	}()
}

// Shutdown stops the connector when its last pipeline pair shuts down.
func (c *agentConnector) Shutdown(ctx context.Context) error {
	if c.release != nil {
		c.release()
		if !c.last {
			return nil
		}
	}
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	// A restart must not drop runs in flight. With checkpoints the open
	// traces go to the checkpoint with the series, and the next start
	// holds them again (counted once, when they complete); without, every
	// open trace is decided now, with what it has (reason shutdown).
	if c.ckpt == nil {
		c.mu.Lock()
		c.store.CloseAll(c.now().UnixNano(), c.onClose)
		c.mu.Unlock()
	}
	err := errors.Join(c.flush(ctx), c.closeCheckpoint(ctx))
	c.telemetry.Shutdown()
	return err
}

func (c *agentConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.batch
	st.spans, st.services, st.resources, st.resAttrs = st.spans[:0], st.services[:0], st.resources[:0], st.resAttrs[:0]
	strs := c.store.Strings()
	for _, rs := range td.ResourceSpans().All() {
		var svc tracestore.Str
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			svc = strs.Intern(v.AsString())
			st.resources = append(st.resources, svc)
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				st.spans = append(st.spans, s)
				st.services = append(st.services, svc)
				if c.tenants != nil {
					st.resAttrs = append(st.resAttrs, rs.Resource().Attributes())
				}
			}
		}
	}
	n := len(st.spans)
	if cap(st.infos) < n {
		st.infos = make([]agentspan.Info, n)
	}
	st.infos = st.infos[:n]
	now := c.now()
	ts := pcommon.NewTimestampFromTime(now)
	for i, s := range st.spans {
		in := &st.infos[i]
		c.extractor.Extract(s, in)
		if in.MCPMethod != "" {
			c.observeMCP(s, in.MCPMethod, ts)
		}
	}
	onClose := c.onClose
	order := st.grouper.Group(st.spans)
	for start := 0; start < n; {
		end := agentspan.NextTrace(st.spans, order, start)
		c.consumeTrace(ctx, order[start:end], now, onClose)
		start = end
	}
	for _, svc := range st.resources {
		strs.Release(svc)
	}
	c.reportHeld(ctx)
	clear(st.spans)
	clear(st.infos)
	if cap(st.infos) > maxScratchSpans {
		// One huge batch must not pin its scratch (hundreds of bytes a
		// span) for the life of the collector.
		st.spans, st.services, st.infos = nil, nil, nil
	}
	return nil
}

// maxScratchSpans: batch scratch kept between calls, in spans (the batch
// processor sends at most 8,192 by default).
const maxScratchSpans = 1 << 16

// costOf is the cost of an LLM call: the one the span carries, else its
// usage priced by the table at the span's start (dated prices). A call
// with no usage, an unknown model or a token part without a price has no
// cost; each outcome is counted by model in price_lookups (price data
// quality), so an unpriced call is visible, never a silent zero. Under mu:
// the resolution is memoised per model name and the counts are tallied in
// the memo, reported at flush.
func (c *agentConnector) costOf(s ptrace.Span, in *agentspan.Info) (float64, bool) {
	mp := c.modelPrice(in.Model)
	if in.HasCost {
		mp.count(pricing.FromSpan, &c.priceDirty)
		return in.CostUSD, true
	}
	t := in.Tokens
	if t.Has&(agentspan.HasInput|agentspan.HasOutput) == 0 {
		mp.count(pricing.UsageMissing, &c.priceDirty)
		return 0, false
	}
	cost, outcome := pricing.PriceWith(mp.entry, mp.match,
		pricing.Usage{Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite}, s.StartTimestamp().AsTime())
	mp.count(outcome, &c.priceDirty)
	return cost, outcome.Priced()
}

// modelPrice is one model name's memoised price and its price_lookups
// counts since the last flush.
type modelPrice struct {
	model  string
	entry  *pricing.Entry
	match  pricing.Match
	counts [pricing.NumOutcomes]int64
	dirty  bool
}

func (mp *modelPrice) count(o pricing.Outcome, dirty *[]*modelPrice) {
	mp.counts[o]++
	if !mp.dirty {
		mp.dirty = true
		*dirty = append(*dirty, mp)
	}
}

// modelPrice returns the memo of model (under mu). Past maxPrices names a
// name is resolved each time and counted under the overflow memo.
func (c *agentConnector) modelPrice(model string) *modelPrice {
	if mp, ok := c.prices[model]; ok {
		return mp
	}
	e, m := c.table.Resolve(model)
	if len(c.prices) >= maxPrices {
		c.priceOverflow.entry, c.priceOverflow.match = e, m
		return &c.priceOverflow
	}
	mp := &modelPrice{model: strings.Clone(model), entry: e, match: m}
	c.prices[mp.model] = mp
	return mp
}

// reportPriceLookups adds the tallied price_lookups to the telemetry (out
// of mu: the tally was taken under it).
func (c *agentConnector) reportPriceLookups(ctx context.Context, tally []priceTally) {
	for _, pt := range tally {
		c.telemetry.ConnectorAgentmetricsPriceLookups.Add(ctx, pt.n, c.priceQuality.Of(pt.model, pt.outcome))
	}
}

type priceTally struct {
	model   string
	outcome pricing.Outcome
	n       int64
}

// takePriceTally empties the dirty memos' counts into a tally (under mu).
func (c *agentConnector) takePriceTally() []priceTally {
	var out []priceTally
	for _, mp := range c.priceDirty {
		for o, n := range mp.counts {
			if n > 0 {
				out = append(out, priceTally{model: mp.model, outcome: pricing.Outcome(o), n: n})
			}
		}
		mp.counts, mp.dirty = [pricing.NumOutcomes]int64{}, false
	}
	clear(c.priceDirty)
	c.priceDirty = c.priceDirty[:0]
	return out
}

// maxPriceQualityModels bounds the model label of price_lookups.
const maxPriceQualityModels = 200

// maxPrices bounds the price memo (model names come from input).
const maxPrices = 65536

func (c *agentConnector) callObservation(s ptrace.Span, in *agentspan.Info, res pcommon.Map, fn func(obs)) {
	switch in.Kind {
	case agentspan.KindLLM:
		t := in.Tokens
		o := obs{kind: obsLLM, name: orUnknown(in.Model), failed: in.IsError, spanID: s.SpanID(),
			tokens: [4]int64{t.Uncached(), t.Output, t.CacheRead, t.CacheWrite}, value: spanSeconds(s)}
		o.cost, o.hasCost = c.costOf(s, in)
		o.ttft, o.hasTTFT = in.TTFT, in.HasTTFT
		if c.cfg.GenAIMetrics {
			o.genai = genaiOf(s.Attributes(), in.Operation, in.Provider, in.Model)
		}
		if c.tenants != nil {
			o.tenant = tenantOf(c.cfg.Tenants.Attributes, s, res)
		}
		fn(o)
	case agentspan.KindTool:
		fn(obs{kind: obsTool, name: orUnknown(in.ToolName), status: in.ToolStatus, spanID: s.SpanID(), value: spanSeconds(s)})
	}
}

// spanSignals calls fn for every L3/L4 signal the span carries in its
// attributes and events. The obs passed to fn aliases span memory.
func (c *agentConnector) spanSignals(s ptrace.Span, in *agentspan.Info, fn func(obs)) {
	for _, sg := range [...]struct {
		sig signal
		v   string
	}{{sigHallucination, in.HallucinationType}, {sigRecovery, in.RecoveryStrategy}, {sigStep, in.StepOutcome}, {sigApproval, in.ApprovalResult}} {
		if sg.v != "" {
			fn(obs{kind: obsSignal, sig: sg.sig, name: sg.v, spanID: s.SpanID()})
		}
	}
	if in.HasFeedback {
		fn(obs{kind: obsFeedback, value: in.FeedbackScore, spanID: s.SpanID()})
	}
	if in.HasGuardrail {
		fn(guardrailObs(in.GuardrailName, in.GuardrailResult, s.SpanID()))
	}
	for _, ev := range s.Events().All() {
		if isAgentEvent(ev.Name()) {
			eventObservations(ev, s.SpanID(), in.GuardrailName, fn)
		}
	}
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
			g := &o.genai
			if in := o.tokens[0] + o.tokens[2] + o.tokens[3]; in > 0 {
				m.genaiTokenUsage.Observe(series.Key{g.operation, g.provider, "input", g.requestModel, g.responseModel}, float64(in), traceID, o.spanID, ts)
			}
			if o.tokens[1] > 0 {
				m.genaiTokenUsage.Observe(series.Key{g.operation, g.provider, "output", g.requestModel, g.responseModel}, float64(o.tokens[1]), traceID, o.spanID, ts)
			}
			m.genaiOpDuration.Observe(series.Key{g.operation, g.provider, g.requestModel, g.responseModel, errorType(o.failed, "")}, o.value, traceID, o.spanID, ts)
		}
	case obsTool:
		c.emitTool(agent, traceID, o, ts)
		if m.genaiToolDuration != nil {
			m.genaiToolDuration.Observe(series.Key{o.name, agent, errorType(false, o.status)}, o.value, traceID, o.spanID, ts)
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
		case sigGuardrail:
			guardrail, result, _ := strings.Cut(o.name, tracestore.GuardrailSep)
			m.guardrails.Add(series.Key{agent, guardrail, result}, 1, ts)
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
			MaxTools: c.cfg.CardinalityLimit, MaxNameLength: c.cfg.MaxLabelLength,
		})
		c.drift[strings.Clone(agent)] = tr
	}
	if len(tool) > c.cfg.MaxLabelLength {
		tool = tool[:c.cfg.MaxLabelLength]
	}
	tr.Add(tool, 1, now)
}

// flush closes the traces that are due, refreshes the tool-selection
// gauges and sends the metrics on.
func (c *agentConnector) flush(ctx context.Context) error {
	c.mu.Lock()
	now := c.now()
	c.store.CloseDue(now.UnixNano(), c.onClose)
	c.expireSessions(now)
	if c.tenants != nil {
		c.tenants.rebalance(now)
	}
	c.reportHeld(ctx)

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
	prices := c.takePriceTally()
	c.mu.Unlock()

	c.reportPriceLookups(ctx, prices)
	for name, n := range overflow {
		c.telemetry.ConnectorAgentmetricsSeriesOverflow.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(attribute.String("metric", name))))
	}
	if sm.Metrics().Len() == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, md)
}

// observeMCP records an MCP span's duration by method, on its side (a
// server or consumer span is the receiver's; anything else the sender's).
// Per span, at arrival: it needs nothing of the rest of the trace.
func (c *agentConnector) observeMCP(s ptrace.Span, method string, ts pcommon.Timestamp) {
	m := c.metrics.mcpClientDuration
	if k := s.Kind(); k == ptrace.SpanKindServer || k == ptrace.SpanKindConsumer {
		m = c.metrics.mcpServerDuration
	}
	m.Observe(series.Key{method}, spanSeconds(s), s.TraceID(), s.SpanID(), ts)
}
