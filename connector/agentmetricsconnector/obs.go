package agentmetricsconnector

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"

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
// Each part is cut to maxGuardrailPart bytes before they are joined, so
// that a label cap on the joined name (the interner's max_label_length)
// can never cut the separator or the result.
func guardrailObs(guardrail, result string, spanID pcommon.SpanID) obs {
	return obs{kind: obsSignal, sig: sigGuardrail, name: truncate(guardrail, maxGuardrailPart) + tracestore.GuardrailSep + truncate(result, maxGuardrailPart), spanID: spanID}
}

// maxGuardrailPart: half of the smallest sensible max_label_length (128).
const maxGuardrailPart = 60

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
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
	ttft    float64 // llm: seconds to the first token
	// genai: the GenAI semconv labels of an llm call (those metrics on).
	genai genaiLabels
	// tenant of an llm call (tenants on).
	tenant string
	spanID pcommon.SpanID // the exemplar's span
}

// storeKind is the tracestore kind of a signal or feedback observation.
func (o *obs) storeKind() tracestore.SignalKind {
	if o.kind == obsFeedback {
		return tracestore.SigFeedback
	}
	return o.sig
}

// genaiLabels are an LLM call's GenAI semconv metric labels.
type genaiLabels struct {
	operation, provider, requestModel, responseModel string
}

// genaiOf reads them from the span's Info and attributes; operation is the
// span's gen_ai.operation.name, else chat (the other conventions' LLM spans).
func genaiOf(attrs pcommon.Map, operation, provider, model string) genaiLabels {
	req, resp := agentspan.ModelsOf(attrs)
	if req == "" {
		req = model
	}
	if operation == "" {
		operation = "chat"
	}
	return genaiLabels{operation: operation, provider: provider, requestModel: req, responseModel: resp}
}

// errorType is the semconv error.type of a failed call: timeout, else the
// fallback _OTHER; empty (no label) when it did not fail.
func errorType(failed bool, status string) string {
	switch {
	case status == agentspan.ToolStatusTimeout:
		return "timeout"
	case failed || status == agentspan.ToolStatusFailure:
		return "_OTHER"
	}
	return ""
}
