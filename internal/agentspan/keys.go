package agentspan

// role is the meaning an attribute key carries, whatever its convention.
type role uint8

const (
	// string roles
	roleCanonicalKind role = iota
	roleAgentID
	roleModel
	roleProvider
	roleToolName
	roleToolStatus
	roleConversationID
	roleRequestID
	roleOperation // gen_ai.operation.name
	roleOpenInferenceKind
	roleTraceloopKind
	roleTraceloopEntity
	roleLLMRequestType // OpenLLMetry before gen_ai.operation.name
	roleVercelOperation
	roleTaskType
	roleTaskOutcome
	roleHallucinationType
	roleRecoveryStrategy
	roleStepOutcome
	roleApprovalResult
	roleErrorType
	// roleToolArgs: a tool call's arguments. Content: only its hash is kept
	// (Info.ToolArgsHash), read even when redaction drops the attribute.
	roleToolArgs
	// roleCompletionStart: when the first chunk arrived, as a timestamp
	// (Langfuse); time to first token is it minus the span's start.
	roleCompletionStart
	// Guardrails: the guardrail's name and the provider's own result value.
	roleGuardrailName
	roleGuardrailResult
	// roleMCPMethod: an MCP request or notification (mcp.method.name).
	roleMCPMethod
	// Langfuse's OpenTelemetry SDKs (Python v3+, JS v4+): the observation
	// type classifies; usage and cost come as JSON strings; the level
	// marks an error the span status may not.
	roleLangfuseType
	roleLangfuseLevel
	roleLangfuseUsage
	roleLangfuseCost
	// Google Genkit: the action type and subtype classify, the name names
	// the flow, model or tool, the state marks errors, and a model's usage
	// is inside its output (JSON content: read even when redaction drops it).
	roleGenkitType
	roleGenkitSubtype
	roleGenkitName
	roleGenkitState
	roleGenkitOutput
	// roleResponseStatus: gen_ai.response.status (semantic-conventions-genai).
	roleResponseStatus

	// numeric roles
	roleTokensInput
	roleTokensOutput
	roleTokensCacheRead
	roleTokensCacheWrite
	roleTokensReasoning
	roleCostUSD
	roleRunTotalSteps
	roleFeedbackScore
	// Time to first token/chunk of a streamed LLM call, in seconds and in
	// milliseconds (the Vercel AI SDK's unit).
	roleTTFTSeconds
	roleTTFTMillis
	numRoles
)

// numStringRoles: roles below it hold strings, the rest numbers.
const numStringRoles = roleTokensInput

// isTokenRole reports whether r is a token count (validated as one).
func isTokenRole(r role) bool { return r >= roleTokensInput && r <= roleTokensReasoning }

// keyRole says which role an attribute key fills and with which precedence:
// the lowest prio wins; prio 0 is always the canonical agent.* name.
type keyRole struct {
	role role
	prio uint8
}

// builtinKeys lists every attribute key of every supported convention, in
// precedence order per role. docs/conventions.md documents the same table.
var builtinKeys = map[role][]string{
	roleCanonicalKind: {AttrSpanKind},
	// Agent identity: the seed's id, then GenAI semconv name before id (an
	// agent id such as an OpenAI assistant id is opaque and unbounded; the
	// name is what a person recognises), OpenInference, Vercel function id.
	// traceloop.entity.name on an agent span is applied after the pass.
	roleAgentID: {AttrAgentID, "gen_ai.agent.name", "gen_ai.agent.id", "agent.name", "ai.telemetry.functionId", "traceloop.workflow.name"},
	// Model: the response model (what actually served) before the request model.
	roleModel: {AttrModelName, "gen_ai.response.model", "llm.response.model", "ai.response.model", "langfuse.observation.model.name",
		"gen_ai.request.model", "llm.model_name", "llm.request.model", "ai.model.id"},
	roleProvider:          {AttrModelProvider, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider"},
	roleToolName:          {AttrToolName, "gen_ai.tool.name", "tool.name", "ai.toolCall.name"},
	roleToolStatus:        {AttrToolStatus},
	roleConversationID:    {AttrConversationID, "gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id", "langfuse.session.id", "genkit:sessionId"},
	roleRequestID:         {AttrRequestID},
	roleOperation:         {"gen_ai.operation.name"},
	roleOpenInferenceKind: {"openinference.span.kind"},
	roleTraceloopKind:     {"traceloop.span.kind"},
	roleTraceloopEntity:   {"traceloop.entity.name"},
	roleLLMRequestType:    {"llm.request.type"},
	roleVercelOperation:   {"ai.operationId"},
	roleTaskType:          {AttrTaskType},
	roleTaskOutcome:       {AttrTaskOutcome},
	roleHallucinationType: {AttrHallucinationType},
	roleRecoveryStrategy:  {AttrRecoveryStrategy},
	roleStepOutcome:       {AttrStepOutcome},
	roleApprovalResult:    {AttrApprovalResult},
	roleErrorType:         {"error.type"},
	// Tool call arguments (OTel GenAI, OpenInference TOOL input, OpenLLMetry
	// entity input, Vercel AI SDK): hashed for loop detection, never kept.
	roleToolArgs: {AttrToolArguments, "agent.tool.input", "gen_ai.tool.call.arguments", "input.value", "traceloop.entity.input", "ai.toolCall.args"},

	roleTokensInput: {AttrTokensInput, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
		"llm.token_count.prompt", "llm.usage.prompt_tokens", "ai.usage.inputTokens", "ai.usage.promptTokens"},
	roleTokensOutput: {AttrTokensOutput, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
		"llm.token_count.completion", "llm.usage.completion_tokens", "ai.usage.outputTokens", "ai.usage.completionTokens"},
	// Cache and reasoning parts: the GenAI semconv names (cache_write since
	// semantic-conventions-genai #440, cache_creation in v1.40-1.41), then
	// the spellings in the wild: OpenLLMetry and Strands (underscores),
	// Sentry (input_tokens.cached / .cache_write, output_tokens.reasoning),
	// Pydantic AI's usage details, OpenInference, the Vercel AI SDK (5, 6).
	roleTokensCacheRead: {AttrTokensCacheRead, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
		"gen_ai.usage.input_tokens.cached", "gen_ai.usage.cached_input_tokens", "gen_ai.usage.cache_read_tokens",
		"gen_ai.usage.details.cache_read_tokens", "gen_ai.usage.details.cache_read_input_tokens",
		"llm.token_count.prompt_details.cache_read", "ai.usage.cachedInputTokens", "ai.usage.inputTokenDetails.cacheReadTokens"},
	roleTokensCacheWrite: {AttrTokensCacheWrite, "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
		"gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_write_input_tokens", "gen_ai.usage.input_tokens.cache_write",
		"gen_ai.usage.cache_write_tokens", "gen_ai.usage.details.cache_write_tokens", "gen_ai.usage.details.cache_creation_input_tokens",
		"llm.token_count.prompt_details.cache_write", "ai.usage.inputTokenDetails.cacheWriteTokens"},
	roleTokensReasoning: {AttrTokensReasoning, "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
		"gen_ai.usage.output_tokens.reasoning", "gen_ai.usage.details.reasoning_tokens",
		"llm.token_count.completion_details.reasoning", "ai.usage.reasoningTokens", "ai.usage.outputTokenDetails.reasoningTokens"},
	roleCostUSD:       {AttrCostUSD},
	roleRunTotalSteps: {AttrRunTotalSteps},
	roleFeedbackScore: {AttrFeedbackScore},
	// Time to first token: GenAI semconv (v1.41+), OpenLIT; the Vercel AI
	// SDK (streamText, and streamObject's older name), OpenInference's
	// openai-agents realtime spans; Langfuse's completion start time.
	roleTTFTSeconds:     {AttrTTFT, "gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token"},
	roleTTFTMillis:      {"ai.response.msToFirstChunk", "ai.stream.msToFirstChunk", "time_to_first_token_ms"},
	roleCompletionStart: {"langfuse.observation.completion_start_time"},
	// Guardrails: the GenAI semconv draft (apply_guardrail), OpenLLMetry's
	// traceloop-sdk guardrail spans (guardrail.run).
	roleGuardrailName:   {"gen_ai.guardrail.component.name", "gen_ai.guardrail.name"},
	roleGuardrailResult: {"gen_ai.guardrail.result.value", "gen_ai.guardrail.status"},
	roleMCPMethod:       {"mcp.method.name"},
	roleLangfuseType:    {"langfuse.observation.type"},
	roleLangfuseLevel:   {"langfuse.observation.level"},
	roleLangfuseUsage:   {"langfuse.observation.usage_details"},
	roleLangfuseCost:    {"langfuse.observation.cost_details"},
	roleGenkitType:      {"genkit:type"},
	roleGenkitSubtype:   {"genkit:metadata:subtype"},
	roleGenkitName:      {"genkit:name"},
	roleGenkitState:     {"genkit:state"},
	roleGenkitOutput:    {"genkit:output"},
	roleResponseStatus:  {"gen_ai.response.status"},
}

// RoleName is the name a user rule uses to map an attribute to a role.
var roleNames = map[string]role{
	"agent_id":           roleAgentID,
	"model":              roleModel,
	"provider":           roleProvider,
	"tool_name":          roleToolName,
	"tool_status":        roleToolStatus,
	"conversation_id":    roleConversationID,
	"request_id":         roleRequestID,
	"task_type":          roleTaskType,
	"task_outcome":       roleTaskOutcome,
	"input_tokens":       roleTokensInput,
	"output_tokens":      roleTokensOutput,
	"cache_read_tokens":  roleTokensCacheRead,
	"cache_write_tokens": roleTokensCacheWrite,
	"reasoning_tokens":   roleTokensReasoning,
	"cost_usd":           roleCostUSD,
	"run_total_steps":    roleRunTotalSteps,
}

// RoleNames lists the role names user attribute mappings may use.
func RoleNames() []string {
	out := make([]string, 0, len(roleNames))
	for n := range roleNames {
		out = append(out, n)
	}
	return out
}

// userPrio is the precedence of user-mapped keys: after the canonical name
// (which the application set deliberately), before every convention.
const userPrio = 1

// buildKeyTable is builtinKeys as a map with precedences (the source of
// keys_switch.go, regenerated by TestKeySwitchMatchesTable -update-switch).
func buildKeyTable(user map[string][]string) map[string]keyRole {
	t := make(map[string]keyRole, 128)
	for r, keys := range builtinKeys {
		for i, k := range keys {
			p := uint8(i)
			if i > 0 {
				p = uint8(i) + userPrio // leave room for user keys
			}
			t[k] = keyRole{role: r, prio: p}
		}
	}
	for k, kr := range userKeyTable(user) {
		t[k] = kr
	}
	return t
}

// userKeyTable maps user-mapped attribute keys to their roles.
func userKeyTable(user map[string][]string) map[string]keyRole {
	t := map[string]keyRole{}
	for name, keys := range user {
		r, ok := roleNames[name]
		if !ok {
			continue
		}
		for _, k := range keys {
			t[k] = keyRole{role: r, prio: userPrio}
		}
	}
	return t
}

// canonicalOf is the canonical attribute each role is written to (roles
// missing here, such as classification markers, are never removed).
var canonicalOf = map[role]string{
	roleAgentID:          AttrAgentID,
	roleModel:            AttrModelName,
	roleToolName:         AttrToolName,
	roleTokensInput:      AttrTokensInput,
	roleTokensOutput:     AttrTokensOutput,
	roleTokensCacheRead:  AttrTokensCacheRead,
	roleTokensCacheWrite: AttrTokensCacheWrite,
	roleTokensReasoning:  AttrTokensReasoning,
}

// SourceOf reports the canonical attribute a convention attribute key is
// folded into; ok is false for canonical keys and for keys that only
// classify (gen_ai.operation.name and the like).
func (e *Extractor) SourceOf(key string) (canonical string, ok bool) {
	kr, found := e.lookup(key)
	if !found || kr.prio == 0 {
		return "", false
	}
	canonical, ok = canonicalOf[kr.role]
	return canonical, ok
}
