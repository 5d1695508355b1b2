package pricing

import (
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Outcome is how pricing one LLM call went: what the price data quality
// counters report, by model.
type Outcome uint8

const (
	// PricedExact: priced, the model's name as sent is in the table.
	PricedExact Outcome = iota
	// PricedFamily: priced through a normalised name, a database pattern or
	// a prefix (see Table.Resolve).
	PricedFamily
	// Unpriced: the model is not in the table (or the span names none).
	Unpriced
	// UsageMissing: an LLM span with no input or output token count.
	UsageMissing
	// Incomplete: a part with tokens has no price; no cost is reported.
	Incomplete
	// FromSpan: the span carried its cost; nothing was looked up.
	FromSpan
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"exact", "family", "unpriced", "usage_missing", "incomplete", "from_span"}

func (o Outcome) String() string { return outcomeNames[o] }

// Priced reports whether the outcome yields a cost.
func (o Outcome) Priced() bool { return o == PricedExact || o == PricedFamily || o == FromSpan }

// NumOutcomes is the number of Outcome values (for arrays indexed by one).
const NumOutcomes = int(numOutcomes)

// Price prices one LLM call of model at time at. hasUsage says whether the
// span carried an input or output token count. The cost is only the call's
// when the outcome is PricedExact or PricedFamily.
func (p *Pricer) Price(model string, u Usage, hasUsage bool, at time.Time) (float64, Outcome) {
	if !hasUsage {
		return 0, UsageMissing
	}
	e, m := p.Resolve(model)
	return PriceWith(e, m, u, at)
}

// PriceWith is Price with the model already resolved (e, m from Resolve),
// for callers that memoise resolutions themselves.
func PriceWith(e *Entry, m Match, u Usage, at time.Time) (float64, Outcome) {
	if m == MatchNone {
		return 0, Unpriced
	}
	usd, complete := e.Cost(u, at)
	if !complete {
		return 0, Incomplete
	}
	if m == MatchExact {
		return usd, PricedExact
	}
	return usd, PricedFamily
}

// OverflowModel is the model label past a QualityLabels limit.
const OverflowModel = "_other"

// QualityLabels hands out the measurement attributes {model, match} of the
// price data quality counters, keeping at most limit distinct model names
// (the rest count under OverflowModel). Safe for concurrent use.
type QualityLabels struct {
	mu    sync.Mutex
	limit int
	sets  map[string]*[numOutcomes]metric.MeasurementOption
}

// NewQualityLabels bounds the model names to limit.
func NewQualityLabels(limit int) *QualityLabels {
	return &QualityLabels{limit: limit, sets: map[string]*[numOutcomes]metric.MeasurementOption{}}
}

// Of is the attribute set of (model, o).
func (q *QualityLabels) Of(model string, o Outcome) metric.MeasurementOption {
	if model == "" {
		model = "(none)"
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	row, ok := q.sets[model]
	if !ok {
		if len(q.sets) >= q.limit {
			model = OverflowModel
			row = q.sets[model]
		}
		if row == nil {
			row = &[numOutcomes]metric.MeasurementOption{}
			for i := range row {
				row[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("model", model), attribute.String("match", outcomeNames[i])))
			}
			q.sets[strings.Clone(model)] = row
		}
	}
	return row[o]
}
