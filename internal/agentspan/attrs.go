// Package agentspan answers "what is this span and what does it say" for
// agent traces. It is the one place that knows the conventions agents emit
// (the seed's agent.*, OpenTelemetry GenAI in several versions, OpenInference,
// OpenLLMetry/Traceloop, the Vercel AI SDK, and user rules), so that the
// agentsemconv processor and the agentmetrics connector never disagree.
package agentspan

// Canonical attribute names: the seed's agent.* convention. The processor
// writes them; everything downstream reads them first.
const (
	AttrSpanKind         = "agent.span.kind"
	AttrRequestID        = "agent.request.id"
	AttrAgentID          = "agent.agent.id"
	AttrModelName        = "agent.model.name"
	AttrModelProvider    = "agent.model.provider"
	AttrTokensInput      = "agent.llm.tokens.input"
	AttrTokensOutput     = "agent.llm.tokens.output"
	AttrTokensCacheRead  = "agent.llm.tokens.cache_read"
	AttrTokensCacheWrite = "agent.llm.tokens.cache_write"
	AttrTokensReasoning  = "agent.llm.tokens.reasoning"
	AttrCostUSD          = "agent.llm.cost_usd"
	AttrToolName         = "agent.tool.name"
	AttrToolStatus       = "agent.tool.status"
	// AttrToolArguments is content: redacted like the other content keys;
	// agentspan only ever keeps its hash.
	AttrToolArguments = "agent.tool.arguments"
	// AttrTTFT: seconds from the start of an LLM call to its first token.
	AttrTTFT              = "agent.llm.time_to_first_token"
	AttrRunTotalSteps     = "agent.run.total_steps"
	AttrConversationID    = "agent.conversation.id"
	AttrTaskType          = "agent.task.type"
	AttrTaskOutcome       = "agent.task.outcome"
	AttrHallucinationType = "agent.hallucination.type"
	AttrRecoveryStrategy  = "agent.recovery.strategy"
	AttrStepOutcome       = "agent.step.outcome"
	AttrApprovalResult    = "agent.approval.result"
	AttrFeedbackScore     = "agent.feedback.score"
)

// Seed span names (the seed's own instrumentation).
const (
	SpanNameRequest   = "agent.request"
	SpanNameReasoning = "agent.llm.reasoning"
	SpanNameTool      = "agent.tool.execute"
)

// Tool status values written to agent.tool.status.
const (
	ToolStatusSuccess = "success"
	ToolStatusFailure = "failure"
	ToolStatusTimeout = "timeout"
)

// Kind is what a span is in an agent run.
type Kind uint8

const (
	// KindOther is any span that is not one of the three below.
	KindOther Kind = iota
	// KindRun is one agent invocation (the user request).
	KindRun
	// KindLLM is one model inference.
	KindLLM
	// KindTool is one tool execution.
	KindTool
)

var kindNames = [...]string{KindOther: "other", KindRun: "run", KindLLM: "llm", KindTool: "tool"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "other"
}

// ParseKind maps "run", "llm", "tool", "other" to a Kind.
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return KindOther, false
}
