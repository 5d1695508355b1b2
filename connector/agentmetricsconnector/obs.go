package agentmetricsconnector

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
)

// obsKind is what an observation is.
type obsKind uint8

const (
	obsLLM obsKind = iota
	obsTool
	obsSignal
	obsFeedback
)

// signal is one of the L3 counters fed by attributes and events.
type signal = tracestore.SignalKind

const (
	sigHallucination = tracestore.SigHallucination
	sigRecovery      = tracestore.SigRecovery
	sigStep          = tracestore.SigStep
	sigApproval      = tracestore.SigApproval
	sigGuardrail     = tracestore.SigGuardrail
)

// guardrailObs is one guardrail result (see tracestore.GuardrailSep).
func guardrailObs(guardrail, result string, spanID pcommon.SpanID) obs {
	return obs{kind: obsSignal, sig: sigGuardrail, name: guardrail + tracestore.GuardrailSep + result, spanID: spanID}
}

// obs is one span-level observation on its way to the series. Its strings
// may alias span memory or the store's interned strings: emit uses them
// before either changes.
type obs struct {
	kind    obsKind
	sig     signal
	failed  bool
	name    string // model, tool, or signal label value
	status  string // tool status
	tokens  [4]int64
	hasCost bool
	cost    float64
	value   float64 // seconds, or the feedback score
	hasTTFT bool
	ttft    float64        // llm: seconds to the first token
	spanID  pcommon.SpanID // the exemplar's span
}

// storeKind is the tracestore kind of a signal or feedback observation.
func (o *obs) storeKind() tracestore.SignalKind {
	if o.kind == obsFeedback {
		return tracestore.SigFeedback
	}
	return o.sig
}
