package agentsemconvprocessor

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/argshash"
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
	quality   *pricing.QualityLabels // {model, match} of the price quality counter, bounded
	redactor  *contentredact.Redactor

	// Precomputed attribute sets: no allocation per span for telemetry.
	kindAttrs   [4]metric.MeasurementOption
	reasonAttrs [6]metric.MeasurementOption

	unknownMu     sync.Mutex
	unknownModels map[string]metric.MeasurementOption
	otherModel    metric.MeasurementOption

	lastInvalidLog atomic.Int64
}

func newSemconvProcessor(set processor.Settings, cfg *Config) (*semconvProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	table, err := cfg.PriceTable()
	if err != nil {
		return nil, err
	}
	p := &semconvProcessor{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		extractor: agentspan.NewExtractor(cfg.ExtractorSettings()),
		pricer:    pricing.NewPricer(table),
		quality:   pricing.NewQualityLabels(cfg.UnknownModelsLimit),
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
	set.Logger.Info("agentsemconv processor ready",
		zap.Int("priced_models", table.Len()), zap.String("price_database", table.Source()), zap.String("redaction", p.redactor.Describe()))
	return p, nil
}

func (p *semconvProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

func (p *semconvProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var tally batchTally
	var in agentspan.Info
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				// Extraction, writes and redaction of one span back to back:
				// the span is read from memory once. Every write is a fact of
				// the span itself, so no span waits for the rest of its trace.
				p.processSpan(ctx, s, &in, &tally)
			}
		}
	}
	in = agentspan.Info{} // do not keep span strings reachable
	for k, c := range tally.kinds {
		if c > 0 {
			p.telemetry.ProcessorAgentsemconvSpans.Add(ctx, c, p.kindAttrs[k])
		}
	}
	for r, c := range tally.invalid {
		if c > 0 {
			p.telemetry.ProcessorAgentsemconvInvalidAttributes.Add(ctx, c, p.reasonAttrs[r])
		}
	}
	if tally.redacted > 0 {
		p.telemetry.ProcessorAgentsemconvRedactedAttributes.Add(ctx, tally.redacted)
	}
	if tally.priced > 0 {
		p.telemetry.ProcessorAgentsemconvPricedSpans.Add(ctx, tally.priced)
	}
	p.reportPrices(ctx, &tally)
	return td, nil
}

// batchTally counts what a batch did, for the processor's telemetry.
type batchTally struct {
	kinds    [4]int64
	invalid  [6]int64
	redacted int64
	priced   int64
	// prices counts LLM spans by model and price outcome (a batch names a
	// few models: a short list, searched linearly).
	prices []priceCount
}

type priceCount struct {
	model   string // aliases span memory: reported before the batch returns
	outcome pricing.Outcome
	n       int64
}

// maxTallyModels: past this many (model, outcome) pairs in one batch the
// tally is reported early, so an attack of distinct names costs no more
// than a linear search of this length per span.
const maxTallyModels = 32

func (p *semconvProcessor) countPrice(ctx context.Context, t *batchTally, model string, o pricing.Outcome) {
	for i := range t.prices {
		if pc := &t.prices[i]; pc.outcome == o && pc.model == model {
			pc.n++
			return
		}
	}
	if len(t.prices) >= maxTallyModels {
		p.reportPrices(ctx, t)
	}
	t.prices = append(t.prices, priceCount{model: model, outcome: o, n: 1})
}

// reportPrices adds the tallied price outcomes to price_lookups (and the
// unpriced ones to unknown_models) and empties the tally.
func (p *semconvProcessor) reportPrices(ctx context.Context, t *batchTally) {
	for _, pc := range t.prices {
		p.telemetry.ProcessorAgentsemconvPriceLookups.Add(ctx, pc.n, p.quality.Of(pc.model, pc.outcome))
		if pc.outcome == pricing.Unpriced {
			p.telemetry.ProcessorAgentsemconvUnknownModels.Add(ctx, pc.n, p.unknownModelAttr(pc.model))
		}
	}
	clear(t.prices)
	t.prices = t.prices[:0]
}

// processSpan extracts, rewrites and redacts one span.
func (p *semconvProcessor) processSpan(ctx context.Context, s ptrace.Span, in *agentspan.Info, t *batchTally) {
	// With the default drop mode, content attributes are removed in the
	// same pass over the span's attributes that extracts the roles.
	drops := p.redactor.Drops()
	if drops {
		t.redacted += int64(p.extractor.ExtractDropping(s, in, p.redactor.IsContent))
	} else {
		p.extractor.Extract(s, in)
	}
	t.kinds[in.Kind]++
	// The connector compares tool calls by their arguments (loops); unless
	// they are exported as received, it gets their hash from here, taken
	// before redaction, and never from the span.
	if in.ToolArgsHash != 0 && !p.redactor.Keeps() {
		argshash.Shared.Put(s.TraceID(), s.SpanID(), in.ToolArgsHash)
	}
	for _, inv := range in.Invalid[:in.NumInvalid] {
		t.invalid[inv.Reason]++
	}
	if in.NumInvalid > 0 {
		p.logInvalid(s, in)
	}
	if p.writeCanonical(ctx, s, in, t) {
		t.priced++
	}
	if drops {
		t.redacted += int64(p.redactor.Events(s))
	} else {
		t.redacted += int64(p.redactor.Span(s))
	}
}

// canonicalWrite is one attribute writeCanonical adds to a span.
type canonicalWrite struct {
	key   string
	str   string
	num   int64
	cost  float64
	which uint8 // writeStr, writeInt or writeDouble
}

const (
	writeStr uint8 = iota
	writeInt
	writeDouble
)

// maxCanonicalWrites bounds the writes of one span: kind, agent id, model,
// five token directions, cost (llm spans; tool spans write fewer).
const maxCanonicalWrites = 9

// writeCanonical writes the agent.* attributes the span lacks and reports
// whether a cost was computed. Values the application set are never changed.
// The writes are planned first so that the attribute slice grows once, by
// what is written: the decoder leaves spare capacity, and the content the
// extraction removed freed more, so often it does not grow at all.
func (p *semconvProcessor) writeCanonical(ctx context.Context, s ptrace.Span, in *agentspan.Info, tally *batchTally) bool {
	var plan [maxCanonicalWrites]canonicalWrite
	n := 0
	str := func(key, v string) { plan[n] = canonicalWrite{key: key, str: v, which: writeStr}; n++ }
	tokens := func(bit uint8, key string, v int64) {
		if in.Tokens.Has&bit != 0 && !in.HasTokenAttr(bit) {
			plan[n] = canonicalWrite{key: key, num: v, which: writeInt}
			n++
		}
	}
	priced := false
	// Only facts of the span itself are written: which span is the run and
	// which agent made a call depend on the whole trace, which a batch may
	// not hold; the connector decides them when the trace closes.
	if in.Kind != agentspan.KindOther {
		if !in.HasKindAttr() {
			str(agentspan.AttrSpanKind, in.Kind.String())
		}
		if in.AgentID != "" && !in.HasAgentID() {
			str(agentspan.AttrAgentID, in.AgentID)
		}
	}
	switch in.Kind {
	case agentspan.KindLLM:
		if in.Model != "" && !in.HasModel() {
			str(agentspan.AttrModelName, in.Model)
		}
		t := in.Tokens
		tokens(agentspan.HasInput, agentspan.AttrTokensInput, t.Input)
		tokens(agentspan.HasOutput, agentspan.AttrTokensOutput, t.Output)
		tokens(agentspan.HasCacheRead, agentspan.AttrTokensCacheRead, t.CacheRead)
		tokens(agentspan.HasCacheWrite, agentspan.AttrTokensCacheWrite, t.CacheWrite)
		tokens(agentspan.HasReasoning, agentspan.AttrTokensReasoning, t.Reasoning)
		if in.HasCostAttr() {
			p.countPrice(ctx, tally, in.Model, pricing.FromSpan)
			break
		}
		// A cost is written only when every token part could be priced; an
		// unknown model, missing usage or a part without a price is counted.
		cost, outcome := p.pricer.Price(in.Model,
			pricing.Usage{Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite},
			t.Has&(agentspan.HasInput|agentspan.HasOutput) != 0, s.StartTimestamp().AsTime())
		p.countPrice(ctx, tally, in.Model, outcome)
		if outcome.Priced() {
			plan[n] = canonicalWrite{key: agentspan.AttrCostUSD, cost: cost, which: writeDouble}
			n++
			priced = true
		}
	case agentspan.KindTool:
		if in.ToolName != "" && !in.HasToolName() {
			str(agentspan.AttrToolName, in.ToolName)
		}
		if in.ToolStatus != "" && !in.HasToolStatus() {
			str(agentspan.AttrToolStatus, in.ToolStatus)
		}
	}
	attrs := s.Attributes()
	if n > 0 {
		attrs.EnsureCapacity(attrs.Len() + n)
	}
	for _, w := range plan[:n] {
		switch w.which {
		case writeStr:
			attrs.PutStr(w.key, w.str)
		case writeInt:
			attrs.PutInt(w.key, w.num)
		default:
			attrs.PutDouble(w.key, w.cost)
		}
	}
	if !p.cfg.KeepOriginalAttributes && in.Kind != agentspan.KindOther {
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
	model = strings.Clone(model) // kept: must not pin span memory
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

// processLogs redacts every record: content attributes as on spans, and the
// content of GenAI event bodies (contentredact.LogRecord says which).
func (p *semconvProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var records, redacted int64
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				records++
				redacted += int64(p.redactor.LogRecord(lr))
			}
		}
	}
	if records > 0 {
		p.telemetry.ProcessorAgentsemconvLogRecords.Add(ctx, records)
	}
	if redacted > 0 {
		p.telemetry.ProcessorAgentsemconvRedactedAttributes.Add(ctx, redacted)
	}
	return ld, nil
}
