package agentsemconvprocessor

import (
	"context"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/contentredact"
	"github.com/otelcol-agent/otelcol-agent/internal/pricing"
	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadata"
)

// invalidLogEvery rate-limits the debug log of refused values.
const invalidLogEvery = 10 * time.Second

type semconvProcessor struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	extractor *agentspan.Extractor
	pricer    *pricing.Pricer
	redactor  *contentredact.Redactor

	// Precomputed attribute sets: no allocation per span for telemetry.
	kindAttrs   [4]metric.MeasurementOption
	reasonAttrs [6]metric.MeasurementOption

	unknownMu     sync.Mutex
	unknownModels map[string]metric.MeasurementOption
	otherModel    metric.MeasurementOption

	lastInvalidLog atomic.Int64
	pool           sync.Pool // *batchState
}

// batchState is the scratch space of one ConsumeTraces call, pooled.
type batchState struct {
	spans   []ptrace.Span
	infos   []agentspan.Info
	grouper agentspan.TraceGrouper
	nodes   []agentspan.Node
	index   map[pcommon.SpanID]int
}

func newSemconvProcessor(set processor.Settings, cfg *Config) (*semconvProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	table, err := cfg.priceTable()
	if err != nil {
		return nil, err
	}
	p := &semconvProcessor{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		extractor: agentspan.NewExtractor(cfg.extractorSettings()),
		pricer:    pricing.NewPricer(table),
		redactor: contentredact.New(contentredact.Settings{
			Mode:          contentredact.Mode(cfg.Redaction.Mode),
			TruncateBytes: cfg.Redaction.TruncateBytes,
			ExtraKeys:     cfg.Redaction.ExtraAttributes,
		}),
		unknownModels: map[string]metric.MeasurementOption{},
		otherModel:    metric.WithAttributeSet(attribute.NewSet(attribute.String("model", "other"))),
	}
	for k := agentspan.KindOther; k <= agentspan.KindTool; k++ {
		p.kindAttrs[k] = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", k.String())))
	}
	for r := agentspan.InvalidNonNumeric; r <= agentspan.InvalidTooLarge; r++ {
		p.reasonAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))
	}
	p.pool.New = func() any { return &batchState{index: map[pcommon.SpanID]int{}} }
	set.Logger.Info("agentsemconv processor ready",
		zap.Int("priced_models", table.Len()), zap.String("redaction", p.redactor.Describe()))
	return p, nil
}

func (p *semconvProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

func (p *semconvProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	st := p.pool.Get().(*batchState)
	defer p.pool.Put(st)
	st.spans = st.spans[:0]
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				st.spans = append(st.spans, s)
			}
		}
	}
	n := len(st.spans)
	st.infos = slices.Grow(st.infos[:0], n)[:n]
	// With the default drop mode, content attributes are removed in the same
	// pass over each span's attributes that extracts the roles.
	var redacted int64
	drops := p.redactor.Drops()
	for i, s := range st.spans {
		if drops {
			redacted += int64(p.extractor.ExtractDropping(s, &st.infos[i], p.redactor.IsContent))
		} else {
			p.extractor.Extract(s, &st.infos[i])
		}
	}
	p.resolveTraces(st)

	var counts [4]int64
	var invalid [6]int64
	var priced int64
	for i, s := range st.spans {
		in := &st.infos[i]
		counts[in.Kind]++
		for _, inv := range in.Invalid[:in.NumInvalid] {
			invalid[inv.Reason]++
		}
		if in.NumInvalid > 0 {
			p.logInvalid(s, in)
		}
		if p.writeCanonical(ctx, s, in) {
			priced++
		}
		if drops {
			redacted += int64(p.redactor.Events(s))
		} else {
			redacted += int64(p.redactor.Span(s))
		}
	}
	for k, c := range counts {
		if c > 0 {
			p.telemetry.ProcessorAgentsemconvSpans.Add(ctx, c, p.kindAttrs[k])
		}
	}
	for r, c := range invalid {
		if c > 0 {
			p.telemetry.ProcessorAgentsemconvInvalidAttributes.Add(ctx, c, p.reasonAttrs[r])
		}
	}
	if redacted > 0 {
		p.telemetry.ProcessorAgentsemconvRedactedAttributes.Add(ctx, redacted)
	}
	if priced > 0 {
		p.telemetry.ProcessorAgentsemconvPricedSpans.Add(ctx, priced)
	}
	clear(st.spans) // do not keep the batch reachable from the pool
	return td, nil
}

// resolveTraces groups the batch's spans by trace and applies the
// trace-level run rules and agent id propagation to each group.
func (p *semconvProcessor) resolveTraces(st *batchState) {
	order := st.grouper.Group(st.spans)
	for start := 0; start < len(order); {
		end := agentspan.NextTrace(st.spans, order, start)
		st.nodes = st.nodes[:0]
		for _, i := range order[start:end] {
			s := st.spans[i]
			st.nodes = append(st.nodes, agentspan.Node{SpanID: s.SpanID(), ParentID: s.ParentSpanID(), Info: &st.infos[i]})
		}
		run := agentspan.ResolveRuns(st.nodes, st.index)
		if p.cfg.PropagateAgentID {
			if id := agentspan.RunAgentID(st.nodes, run); id != "" {
				for _, nd := range st.nodes {
					if nd.Info.AgentID == "" && nd.Info.Kind != agentspan.KindOther {
						nd.Info.AgentID = id
					}
				}
			}
		}
		start = end
	}
	clear(st.nodes[:cap(st.nodes)])
}

// writeCanonical writes the agent.* attributes the span lacks and reports
// whether a cost was computed. Values the application set are never changed.
func (p *semconvProcessor) writeCanonical(ctx context.Context, s ptrace.Span, in *agentspan.Info) bool {
	attrs := s.Attributes()
	if in.Kind == agentspan.KindOther {
		// A sub-agent demoted by the outermost-run rule says so, so that the
		// connector downstream agrees without seeing the whole trace.
		if in.ExplicitRun && !in.HasKindAttr() {
			attrs.PutStr(agentspan.AttrSpanKind, agentspan.KindOther.String())
		}
		return false
	}
	// One growth of the attribute slice instead of one per Put.
	attrs.EnsureCapacity(attrs.Len() + maxWrites(in))
	if !in.HasKindAttr() {
		attrs.PutStr(agentspan.AttrSpanKind, in.Kind.String())
	}
	if in.AgentID != "" && !in.HasAgentID() {
		attrs.PutStr(agentspan.AttrAgentID, in.AgentID)
	}
	priced := false
	switch in.Kind {
	case agentspan.KindLLM:
		if in.Model != "" && !in.HasModel() {
			attrs.PutStr(agentspan.AttrModelName, in.Model)
		}
		t := in.Tokens
		putTokens(attrs, in, agentspan.HasInput, agentspan.AttrTokensInput, t.Input)
		putTokens(attrs, in, agentspan.HasOutput, agentspan.AttrTokensOutput, t.Output)
		putTokens(attrs, in, agentspan.HasCacheRead, agentspan.AttrTokensCacheRead, t.CacheRead)
		putTokens(attrs, in, agentspan.HasCacheWrite, agentspan.AttrTokensCacheWrite, t.CacheWrite)
		putTokens(attrs, in, agentspan.HasReasoning, agentspan.AttrTokensReasoning, t.Reasoning)
		if !in.HasCostAttr() && t.Has&(agentspan.HasInput|agentspan.HasOutput) != 0 {
			if e, ok := p.pricer.Lookup(in.Model); ok {
				attrs.PutDouble(agentspan.AttrCostUSD, e.Cost(pricing.Usage{Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite}))
				priced = true
			} else {
				p.telemetry.ProcessorAgentsemconvUnknownModels.Add(ctx, 1, p.unknownModelAttr(in.Model))
			}
		}
	case agentspan.KindTool:
		if in.ToolName != "" && !in.HasToolName() {
			attrs.PutStr(agentspan.AttrToolName, in.ToolName)
		}
		if in.ToolStatus != "" && !in.HasToolStatus() {
			attrs.PutStr(agentspan.AttrToolStatus, in.ToolStatus)
		}
	}
	if !p.cfg.KeepOriginalAttributes {
		attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
			canonical, ok := p.extractor.SourceOf(k)
			if !ok {
				return false
			}
			_, written := attrs.Get(canonical)
			return written
		})
	}
	return priced
}

// maxWrites is how many attributes writeCanonical may add to the span.
func maxWrites(in *agentspan.Info) int {
	switch in.Kind {
	case agentspan.KindLLM:
		return 4 + bits.OnesCount8(in.Tokens.Has) // kind, agent, model, cost + tokens
	case agentspan.KindTool:
		return 4 // kind, agent, tool name, tool status
	}
	return 2
}

func putTokens(attrs pcommon.Map, in *agentspan.Info, bit uint8, key string, v int64) {
	if in.Tokens.Has&bit != 0 && !in.HasTokenAttr(bit) {
		attrs.PutInt(key, v)
	}
}

// unknownModelAttr returns the telemetry attribute for an unpriced model,
// keeping at most UnknownModelsLimit distinct names.
func (p *semconvProcessor) unknownModelAttr(model string) metric.MeasurementOption {
	if model == "" {
		model = "(none)"
	}
	p.unknownMu.Lock()
	defer p.unknownMu.Unlock()
	if a, ok := p.unknownModels[model]; ok {
		return a
	}
	if len(p.unknownModels) >= p.cfg.UnknownModelsLimit {
		return p.otherModel
	}
	a := metric.WithAttributeSet(attribute.NewSet(attribute.String("model", model)))
	p.unknownModels[model] = a
	return a
}

func (p *semconvProcessor) logInvalid(s ptrace.Span, in *agentspan.Info) {
	if !p.logger.Core().Enabled(zap.DebugLevel) {
		return
	}
	now := time.Now().UnixNano()
	last := p.lastInvalidLog.Load()
	if now-last < int64(invalidLogEvery) || !p.lastInvalidLog.CompareAndSwap(last, now) {
		return
	}
	inv := in.Invalid[0]
	p.logger.Debug("refused attribute value; span passed on without the canonical attribute (further ones are counted, logged at most every 10s)",
		zap.String("span", s.Name()), zap.String("trace_id", s.TraceID().String()),
		zap.String("attribute", inv.Key), zap.String("reason", inv.Reason.String()))
}

var _ component.Config = (*Config)(nil)
