package agentmetricsconnector

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// Span events that carry agent signals (documented in README.md):
//   - agent.hallucination {agent.hallucination.type}, agent.recovery
//     {agent.recovery.strategy}, agent.step {agent.step.outcome},
//     agent.approval {agent.approval.result}, agent.feedback {agent.feedback.score};
//   - gen_ai.evaluation.result (GenAI semconv): gen_ai.evaluation.name
//     containing "hallucination" with a score label that reports one
//     counts as that hallucination type; a name of "user_feedback" or
//     "feedback" with gen_ai.evaluation.score.value is a feedback score.
const (
	evHallucination = "agent.hallucination"
	evRecovery      = "agent.recovery"
	evStep          = "agent.step"
	evApproval      = "agent.approval"
	evFeedback      = "agent.feedback"
	evEvaluation    = "gen_ai.evaluation.result"
	// Guardrail results: the GenAI semconv draft's event (on an
	// apply_guardrail span) and OpenLIT's guard.evaluation.
	evGuardrailResult = "gen_ai.guardrail.result"
	evGuardEvaluation = "guard.evaluation"
)

// hallucinationLabels are score labels that mean "a hallucination was found".
var hallucinationLabels = map[string]bool{
	"hallucinated": true, "hallucination": true, "fail": true, "failed": true, "true": true, "yes": true, "detected": true,
}

func strAttr(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func numAttr(m pcommon.Map, k string) (float64, bool) {
	v, ok := m.Get(k)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		return f, f == f && f < 1e300 && f > -1e300
	}
	return 0, false
}

// isAgentEvent reports whether the connector reads the event.
func isAgentEvent(name string) bool {
	switch name {
	case evHallucination, evRecovery, evStep, evApproval, evFeedback, evEvaluation, evGuardrailResult, evGuardEvaluation:
		return true
	}
	return false
}

// hasAgentEvents reports whether any event of s is one the connector reads.
func hasAgentEvents(s ptrace.Span) bool {
	for _, ev := range s.Events().All() {
		if isAgentEvent(ev.Name()) {
			return true
		}
	}
	return false
}

// eventObservations reads one span event; guardrail names the guardrail of
// the span it is on, for a result event that does not name its own.
func eventObservations(ev ptrace.SpanEvent, spanID pcommon.SpanID, guardrail string, fn func(obs)) {
	attrObservations(ev.Name(), ev.Attributes(), spanID, guardrail, fn)
}

// attrObservations reads the signals of one agent event, from a span event
// or a log record: the same names and attributes mean the same thing.
func attrObservations(name string, a pcommon.Map, spanID pcommon.SpanID, guardrail string, fn func(obs)) {
	orUnspecified := func(v string) string {
		if v == "" {
			return agentspan.GuardrailUnspecified
		}
		return v
	}
	sig := func(s signal, key string) {
		if v := strAttr(a, key); v != "" {
			fn(obs{kind: obsSignal, sig: s, name: v, spanID: spanID})
		}
	}
	switch name {
	case evHallucination:
		v := strAttr(a, agentspan.AttrHallucinationType)
		if v == "" {
			v = "unspecified"
		}
		fn(obs{kind: obsSignal, sig: sigHallucination, name: v, spanID: spanID})
	case evRecovery:
		sig(sigRecovery, agentspan.AttrRecoveryStrategy)
	case evStep:
		sig(sigStep, agentspan.AttrStepOutcome)
		if strAttr(a, agentspan.AttrStepOutcome) == agentspan.StepSafetyBlocked {
			fn(guardrailObs(agentspan.GuardrailSafety, agentspan.StepSafetyBlocked, spanID))
		}
	case evGuardrailResult:
		g := strAttr(a, "gen_ai.guardrail.component.name")
		if g == "" {
			g = guardrail
		}
		fn(guardrailObs(orUnspecified(g), orUnspecified(strAttr(a, "gen_ai.guardrail.result.value")), spanID))
	case evGuardEvaluation:
		fn(guardrailObs(orUnspecified(strAttr(a, "guard.name")), orUnspecified(strAttr(a, "guard.action")), spanID))
	case evApproval:
		sig(sigApproval, agentspan.AttrApprovalResult)
	case evFeedback:
		if f, ok := numAttr(a, agentspan.AttrFeedbackScore); ok {
			fn(obs{kind: obsFeedback, value: f, spanID: spanID})
		}
	case evEvaluation:
		evName := strAttr(a, "gen_ai.evaluation.name")
		lname := strings.ToLower(evName)
		switch {
		case strings.Contains(lname, "hallucination"):
			if hallucinationLabels[strings.ToLower(strAttr(a, "gen_ai.evaluation.score.label"))] {
				fn(obs{kind: obsSignal, sig: sigHallucination, name: evName, spanID: spanID})
			}
		case lname == "user_feedback" || lname == "feedback":
			if f, ok := numAttr(a, "gen_ai.evaluation.score.value"); ok {
				fn(obs{kind: obsFeedback, value: f, spanID: spanID})
			}
		}
	}
}
