package agentspan

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// DefaultMaxTokensPerCall is the largest token count accepted for one call;
// anything above it is treated as corrupt input, not as usage.
const DefaultMaxTokensPerCall = 10_000_000

// InvalidReason says why a numeric attribute was not accepted.
type InvalidReason uint8

const (
	InvalidNonNumeric InvalidReason = iota + 1
	InvalidNegative
	InvalidNotFinite
	InvalidNonInteger
	InvalidTooLarge
)

var invalidReasonNames = [...]string{"", "non_numeric", "negative", "not_finite", "non_integer", "too_large"}

func (r InvalidReason) String() string {
	if int(r) < len(invalidReasonNames) {
		return invalidReasonNames[r]
	}
	return "unknown"
}

// Invalid is one attribute value that was refused.
type Invalid struct {
	Key    string
	Reason InvalidReason
}

// maxInvalid bounds what one span reports; more are counted in InvalidOverflow.
const maxInvalid = 4

// Token direction bits in Tokens.Has.
const (
	HasInput uint8 = 1 << iota
	HasOutput
	HasCacheRead
	HasCacheWrite
	HasReasoning
)

// Tokens is the usage of one inference. Input includes cache reads and
// cache writes (the OpenTelemetry GenAI convention); use Uncached for the
// part billed at the input price.
type Tokens struct {
	Input, Output, CacheRead, CacheWrite, Reasoning int64
	Has                                             uint8
	// inputCanonical: Input came from agent.llm.tokens.input, already in
	// the includes-cache form (no per-provider adjustment).
	inputCanonical bool
}

// Uncached is the input not read from or written to a cache (never negative).
func (t Tokens) Uncached() int64 {
	u := t.Input - t.CacheRead - t.CacheWrite
	if u < 0 {
		return 0
	}
	return u
}

// Info is what one span says, in canonical terms. Strings alias the span's
// attribute values (no copies): use them before the span is changed.
type Info struct {
	Kind Kind
	// ExplicitRun: the span declares itself an agent/workflow invocation.
	// Whether it is the run (outermost) is decided per trace by ResolveRuns.
	ExplicitRun bool
	// RemoteAgent: a CLIENT invoke_agent span, the call of a remote agent;
	// its Tokens are the remote agent's usage, counted as one LLM call of
	// that agent when no LLM span of the trace belongs to it (the
	// connector decides, on the whole trace).
	RemoteAgent bool
	// Workflow: the invocation is a workflow wrapper, not an agent
	// (invoke_workflow, a Traceloop workflow, an OpenInference AGENT span
	// naming no agent): when it calls agents, the first one it calls names
	// it (the connector decides, on the whole trace).
	Workflow bool
	// KindFixed: the kind came from agent.span.kind or a user rule and is
	// not changed by trace-level resolution.
	KindFixed bool
	// Recognized: the span carries at least one attribute of a known
	// convention (a generic chain span does; a plain HTTP span does not).
	Recognized bool

	AgentID, Model, Provider, ToolName, ToolStatus string
	ConversationID, RequestID, Operation           string
	TaskType, TaskOutcome                          string
	HallucinationType, RecoveryStrategy            string
	StepOutcome, ApprovalResult                    string

	Tokens        Tokens
	CostUSD       float64
	HasCost       bool
	RunTotalSteps int64
	HasTotalSteps bool
	FeedbackScore float64
	HasFeedback   bool

	// IsError: span status is Error. ToolStatus is derived from it for tool
	// spans when the application did not set one.
	IsError bool

	// ToolArgsHash is a 64-bit FNV-1a hash of a tool span's arguments as
	// the span carried them (0: no arguments). Loop detection compares
	// calls by it; the arguments themselves are never kept. It is taken in
	// the same pass that redaction drops them in, so it is the hash of the
	// original arguments.
	ToolArgsHash uint64

	// GuardrailName names the guardrail a guardrail span ran (also when its
	// results come as events); HasGuardrail: the span itself is one
	// guardrail result, GuardrailResult (the provider's own value, or
	// "unspecified"). A block is a result, not an error.
	GuardrailName, GuardrailResult string
	HasGuardrail                   bool

	// MCPMethod is the span's mcp.method.name (an MCP client or server
	// span); a tools/call span is a tool call named by the MCP tool.
	MCPMethod string

	// TTFT is the time to first token (chunk) of a streamed LLM call, in
	// seconds, when the span says (HasTTFT).
	TTFT    float64
	HasTTFT bool

	// HasCanonical: which canonical agent.* attributes are on the span
	// already (set by the application or an earlier processor), valid or not.
	HasCanonical [numRoles]bool

	Invalid         [maxInvalid]Invalid
	NumInvalid      uint8
	InvalidOverflow uint16
}

func (in *Info) addInvalid(key string, reason InvalidReason) {
	if int(in.NumInvalid) < maxInvalid {
		in.Invalid[in.NumInvalid] = Invalid{Key: key, Reason: reason}
		in.NumInvalid++
		return
	}
	in.InvalidOverflow++
}

// Rule is a user classification rule for in-house conventions: a span that
// matches gets Kind. Empty matchers match everything; all set matchers must hold.
type Rule struct {
	SpanName       *regexp.Regexp
	AttributeKey   string
	AttributeValue string // empty: the key only has to be present
	Kind           Kind
}

func (r *Rule) matches(name string, attrs pcommon.Map) bool {
	if r.SpanName != nil && !r.SpanName.MatchString(name) {
		return false
	}
	if r.AttributeKey != "" {
		v, ok := attrs.Get(r.AttributeKey)
		if !ok {
			return false
		}
		if r.AttributeValue != "" && v.AsString() != r.AttributeValue {
			return false
		}
	}
	return true
}

// Settings configure an Extractor.
type Settings struct {
	// Rules are tried in order before every built-in convention.
	Rules []Rule
	// AttributeMappings maps a role name (see RoleNames) to in-house
	// attribute keys, which take precedence over every convention but the
	// canonical agent.* name.
	AttributeMappings map[string][]string
	// MaxTokensPerCall: larger token counts are refused as too_large.
	MaxTokensPerCall int64
	// CacheAccounting says, per provider name, whether that provider's
	// reported input tokens include cached tokens. Providers not listed use
	// the automatic rule (see Tokens normalisation in docs).
	CacheAccounting map[string]CacheAccounting
}

// CacheAccounting is how a provider reports input tokens.
type CacheAccounting uint8

const (
	// CacheAuto: input includes cache tokens, unless cache reads plus
	// writes exceed input, which proves the provider reported them apart.
	CacheAuto CacheAccounting = iota
	// CacheIncluded: input already includes cache reads and writes (OpenAI,
	// OpenTelemetry GenAI semconv, OpenInference).
	CacheIncluded
	// CacheExcluded: input excludes them (Anthropic's native usage fields).
	CacheExcluded
)

// Extractor turns spans into Info. It is safe for concurrent use.
type Extractor struct {
	// user holds the keys of user attribute mappings; built-in keys are
	// answered by builtinKeyRole (keys_switch.go).
	user      map[string]keyRole
	rules     []Rule
	maxTokens int64
	cache     map[string]CacheAccounting
}

// NewExtractor builds an Extractor; unknown role names in mappings are ignored
// (configuration validation reports them).
func NewExtractor(s Settings) *Extractor {
	mt := s.MaxTokensPerCall
	if mt <= 0 {
		mt = DefaultMaxTokensPerCall
	}
	cache := make(map[string]CacheAccounting, len(builtinCacheAccounting)+len(s.CacheAccounting))
	for k, v := range builtinCacheAccounting {
		cache[k] = v
	}
	for k, v := range s.CacheAccounting {
		cache[k] = v
	}
	return &Extractor{user: userKeyTable(s.AttributeMappings), rules: s.Rules, maxTokens: mt, cache: cache}
}

// builtinCacheAccounting: providers (as spans name them) known to report
// input without the cache. Strands Agents (gen_ai.system "strands-agents")
// passes Bedrock's usage through: inputTokens excludes cache reads and
// writes (strands-agents 1.40 telemetry/tracer.py). The user's
// cache_accounting overrides these.
var builtinCacheAccounting = map[string]CacheAccounting{"strands-agents": CacheExcluded}

// lookup finds the role of an attribute key: user mappings first (they
// override a built-in key they name), then the built-in table.
func (e *Extractor) lookup(k string) (keyRole, bool) {
	if len(e.user) > 0 {
		if kr, ok := e.user[k]; ok {
			return kr, true
		}
	}
	return builtinKeyRole(k)
}

// DefaultExtractor has no user rules.
var DefaultExtractor = NewExtractor(Settings{})

// Extract fills info from span. info is reset first.
func (e *Extractor) Extract(span ptrace.Span, info *Info) { e.extract(span, info, nil) }

// ExtractDropping is Extract that also removes, in the same pass over the
// attributes, every attribute for which drop returns true (content
// redaction), and returns how many it removed. A dropped attribute is never
// read as a role.
func (e *Extractor) ExtractDropping(span ptrace.Span, info *Info, drop func(key string) bool) int {
	return e.extract(span, info, drop)
}

// scratch is the per-span state of one extraction (on the stack).
type scratch struct {
	strs [numStringRoles]string
	prio [numRoles]uint8
	nums [numRoles]float64
}

// visit records one attribute that fills a role.
func (e *Extractor) visit(k string, v pcommon.Value, sc *scratch, info *Info) {
	kr, ok := e.lookup(k)
	if !ok {
		return
	}
	info.Recognized = true
	if kr.prio == 0 {
		// Present at all, valid or not: the application set it, so it is
		// never overwritten.
		info.HasCanonical[kr.role] = true
	}
	if kr.prio >= sc.prio[kr.role] {
		return
	}
	if kr.role < numStringRoles {
		s, ok := stringValue(v)
		if !ok || s == "" {
			return
		}
		sc.strs[kr.role] = s
	} else {
		f, reason := e.numberValue(kr.role, v)
		if reason != 0 {
			info.addInvalid(k, reason)
			return
		}
		sc.nums[kr.role] = f
	}
	sc.prio[kr.role] = kr.prio
}

func (e *Extractor) extract(span ptrace.Span, info *Info, drop func(string) bool) int {
	*info = Info{}
	attrs := span.Attributes()
	var sc scratch
	for i := range sc.prio {
		sc.prio[i] = math.MaxUint8
	}
	removed := 0
	if drop == nil {
		for k, v := range attrs.All() {
			e.visit(k, v, &sc, info)
		}
	} else {
		attrs.RemoveIf(func(k string, v pcommon.Value) bool {
			if drop(k) {
				removed++
				// Arguments are content, but their hash is a fact of the
				// span (loops): read before the attribute goes.
				if kr, ok := e.lookup(k); ok && (kr.role == roleToolArgs || kr.role == roleGenkitOutput) {
					e.visit(k, v, &sc, info)
				}
				return true
			}
			e.visit(k, v, &sc, info)
			return false
		})
	}
	strs, prio, nums := &sc.strs, &sc.prio, &sc.nums

	info.AgentID = strs[roleAgentID]
	info.Model = strs[roleModel]
	info.Provider = strs[roleProvider]
	info.ToolName = strs[roleToolName]
	info.ToolStatus = strs[roleToolStatus]
	info.ConversationID = strs[roleConversationID]
	info.RequestID = strs[roleRequestID]
	info.Operation = strs[roleOperation]
	info.TaskType = strs[roleTaskType]
	info.TaskOutcome = strs[roleTaskOutcome]
	info.HallucinationType = strs[roleHallucinationType]
	info.RecoveryStrategy = strs[roleRecoveryStrategy]
	info.StepOutcome = strs[roleStepOutcome]
	info.ApprovalResult = strs[roleApprovalResult]
	info.IsError = span.Status().Code() == ptrace.StatusCodeError

	e.classify(span, attrs, strs, prio, info)
	// What kind of invocation a run is comes from its convention, also when
	// agent.span.kind (the processor's) classified it.
	if info.ExplicitRun {
		info.Workflow = isWorkflow(strs, prio)
		// A CLIENT invoke_agent calls a remote agent (Bedrock Agents,
		// OpenAI Assistants, an agent behind A2A): its usage may be the
		// only record of that agent's inference (semconv v1.38+).
		info.RemoteAgent = strs[roleOperation] == "invoke_agent" && span.Kind() == ptrace.SpanKindClient
	}
	// Langfuse marks an error in its level (JS observe() leaves the span
	// status unset), Genkit in its state; a background or streamed response
	// that failed says so in gen_ai.response.status.
	if strs[roleLangfuseLevel] == "ERROR" || strs[roleGenkitState] == "error" ||
		(info.Kind == KindLLM && strs[roleResponseStatus] == "failed") {
		info.IsError = true
	}
	e.nameFromConvention(span, strs, prio, info)
	info.MCPMethod = strs[roleMCPMethod]
	if info.MCPMethod == MCPToolsCall && info.Kind == KindOther && !info.KindFixed {
		// An MCP tools/call span without gen_ai.operation.name (which the
		// MCP semconv only recommends) is still the tool call.
		info.Kind = KindTool
	}

	// Traceloop names the entity in one attribute for every kind.
	if entity := strs[roleTraceloopEntity]; entity != "" {
		switch strs[roleTraceloopKind] {
		case "agent", "workflow":
			if prio[roleAgentID] > 3 { // weaker than a GenAI/OpenInference agent name
				info.AgentID = entity
			}
		case "tool":
			if info.ToolName == "" {
				info.ToolName = entity
			}
		}
	}
	if info.Kind == KindTool && info.ToolName == "" {
		info.ToolName = toolNameFromSpanName(span.Name())
	}
	if info.Kind == KindTool && info.ToolStatus == "" {
		info.ToolStatus = toolStatus(span, strs[roleErrorType], info.IsError)
	}
	if info.Kind == KindTool && strs[roleToolArgs] != "" {
		info.ToolArgsHash = HashArgs(strs[roleToolArgs])
	}

	if info.Kind == KindOther {
		fillGuardrail(span, info, strs)
	}
	if !info.HasGuardrail && info.StepOutcome == StepSafetyBlocked {
		info.GuardrailName, info.GuardrailResult, info.HasGuardrail = GuardrailSafety, StepSafetyBlocked, true
	}
	if info.RemoteAgent {
		e.fillTokens(info, nums, prio)
	}
	if info.Kind == KindLLM {
		e.fillTokens(info, nums, prio)
		if info.Tokens.Has == 0 {
			// Usage only as JSON: Langfuse's usage details, a Genkit
			// model's output. Counted invalid when present but unreadable.
			switch {
			case strs[roleLangfuseUsage] != "":
				if !langfuseUsage(strs[roleLangfuseUsage], &info.Tokens, e.maxTokens) {
					info.Tokens = Tokens{}
					info.addInvalid("langfuse.observation.usage_details", InvalidNonNumeric)
				}
			case strs[roleGenkitOutput] != "" && strings.Contains(strs[roleGenkitOutput], `"usage"`):
				if !genkitUsage(strs[roleGenkitOutput], &info.Tokens, e.maxTokens) {
					info.Tokens = Tokens{}
					info.addInvalid("genkit:output", InvalidNonNumeric)
				}
			}
		}
		e.fillTTFT(span, info, strs[roleCompletionStart], nums, prio)
	}
	if prio[roleCostUSD] != math.MaxUint8 {
		info.CostUSD, info.HasCost = nums[roleCostUSD], true
	} else if c := strs[roleLangfuseCost]; c != "" && info.Kind == KindLLM {
		info.CostUSD, info.HasCost = langfuseCost(c)
	}
	if prio[roleRunTotalSteps] != math.MaxUint8 {
		info.RunTotalSteps, info.HasTotalSteps = int64(nums[roleRunTotalSteps]), true
	}
	if prio[roleFeedbackScore] != math.MaxUint8 {
		info.FeedbackScore, info.HasFeedback = nums[roleFeedbackScore], true
	}
	return removed
}

func (e *Extractor) fillTokens(info *Info, nums *[numRoles]float64, prio *[numRoles]uint8) {
	t := &info.Tokens
	set := func(r role, bit uint8, dst *int64) {
		if prio[r] != math.MaxUint8 {
			*dst = int64(nums[r])
			t.Has |= bit
		}
	}
	set(roleTokensInput, HasInput, &t.Input)
	set(roleTokensOutput, HasOutput, &t.Output)
	set(roleTokensCacheRead, HasCacheRead, &t.CacheRead)
	set(roleTokensCacheWrite, HasCacheWrite, &t.CacheWrite)
	set(roleTokensReasoning, HasReasoning, &t.Reasoning)
	t.inputCanonical = prio[roleTokensInput] == 0

	// Normalise Input to include cache reads and writes.
	cached := t.CacheRead + t.CacheWrite
	if cached == 0 || t.Has&HasInput == 0 {
		return
	}
	mode := CacheAuto
	if !t.inputCanonical {
		mode = e.cache[info.Provider]
	}
	switch {
	case mode == CacheExcluded:
		t.Input += cached
	case mode == CacheAuto && cached > t.Input:
		t.Input += cached
	}
}

// classify sets info.Kind and info.ExplicitRun from the conventions, in
// this order: user rules, agent.span.kind, the seed's span names,
// gen_ai.operation.name, openinference.span.kind, traceloop.span.kind,
// llm.request.type, Vercel ai.operationId, then one heuristic.
func (e *Extractor) classify(span ptrace.Span, attrs pcommon.Map, strs *[numStringRoles]string, prio *[numRoles]uint8, info *Info) {
	for i := range e.rules {
		if e.rules[i].matches(span.Name(), attrs) {
			info.Kind, info.KindFixed = e.rules[i].Kind, true
			info.ExplicitRun = info.Kind == KindRun
			return
		}
	}
	if k, ok := ParseKind(strs[roleCanonicalKind]); ok {
		info.Kind, info.KindFixed = k, true
		info.ExplicitRun = k == KindRun
		return
	}
	switch span.Name() {
	case SpanNameRequest:
		info.Kind, info.ExplicitRun = KindRun, true
		return
	case SpanNameReasoning:
		info.Kind = KindLLM
		return
	case SpanNameTool:
		info.Kind = KindTool
		return
	}
	if op := strs[roleOperation]; op != "" {
		switch op {
		case "invoke_agent", "invoke_workflow", "handle_conversation_turn":
			info.Kind, info.ExplicitRun = KindRun, true
			return
		case "create_agent", "fetch_response", "retrieval", "plan", "apply_guardrail":
			// Not an inference (fetch_response re-reads a response whose
			// tokens belong to the call that generated it), not a run.
			return
		case "execute_tool":
			info.Kind = KindTool
			return
		case "chat", "text_completion", "generate_content", "embeddings", "completion":
			info.Kind = KindLLM
			return
		}
	}
	switch strs[roleOpenInferenceKind] {
	case "AGENT":
		info.Kind, info.ExplicitRun = KindRun, true
		return
	case "LLM", "EMBEDDING":
		info.Kind = KindLLM
		return
	case "TOOL":
		info.Kind = KindTool
		return
	case "":
	default: // CHAIN, RETRIEVER, RERANKER, GUARDRAIL, EVALUATOR, PROMPT
		return
	}
	switch strs[roleTraceloopKind] {
	case "agent", "workflow":
		info.Kind, info.ExplicitRun = KindRun, true
		return
	case "tool":
		info.Kind = KindTool
		return
	case "":
	default: // task
		return
	}
	// Langfuse's SDKs (Python v3+/v4, JS v4+): every span is INTERNAL and
	// says what it is in langfuse.observation.type.
	switch strs[roleLangfuseType] {
	case "agent":
		info.Kind, info.ExplicitRun = KindRun, true
		return
	case "generation", "embedding":
		info.Kind = KindLLM
		return
	case "tool":
		info.Kind = KindTool
		return
	case "":
	default: // span, chain, retriever, evaluator, guardrail, event
		return
	}
	// Google Genkit: actions by subtype (a flow is the run, a model action
	// one inference, a tool action one tool call); util spans (the generate
	// loop, which repeats its last model call's usage) and flow steps are
	// other.
	if gt := strs[roleGenkitType]; gt != "" {
		switch sub := strs[roleGenkitSubtype]; {
		case gt == "flow" || (gt == "action" && sub == "flow"):
			info.Kind, info.ExplicitRun = KindRun, true
		case gt == "action" && (sub == "model" || sub == "background-model"):
			info.Kind = KindLLM
		case gt == "action" && (sub == "tool" || sub == "tool.v2"):
			info.Kind = KindTool
		}
		return
	}
	switch strs[roleLLMRequestType] {
	case "chat", "completion", "embedding":
		info.Kind = KindLLM
		return
	}
	if op := strs[roleVercelOperation]; op != "" {
		switch {
		case strings.HasSuffix(op, ".doGenerate"), strings.HasSuffix(op, ".doStream"), strings.HasSuffix(op, ".doEmbed"):
			info.Kind = KindLLM
		case op == "ai.toolCall":
			info.Kind = KindTool
		}
		// ai.generateText and friends carry the sum of their steps' usage:
		// they are not one inference.
		return
	}
	// Heuristic for instrumentations without an operation marker: an
	// outbound (CLIENT) span naming a model and a provider and reporting
	// usage is one inference. INTERNAL parents that sum usage stay other.
	if span.Kind() == ptrace.SpanKindClient && strs[roleModel] != "" && strs[roleProvider] != "" &&
		(prio[roleTokensInput] != math.MaxUint8 || prio[roleTokensOutput] != math.MaxUint8) {
		info.Kind = KindLLM
	}
}

// isWorkflow: the span is a workflow wrapper by its convention (see
// Info.Workflow): invoke_workflow or handle_conversation_turn, a Traceloop
// workflow, an OpenInference AGENT span naming no agent (the OpenAI Agents
// SDK's trace root in openinference-instrumentation-openai-agents 2.0).
func isWorkflow(strs *[numStringRoles]string, prio *[numRoles]uint8) bool {
	switch strs[roleOperation] {
	case "invoke_workflow", "handle_conversation_turn":
		return true
	case "":
	default:
		return false
	}
	return (strs[roleOpenInferenceKind] == "AGENT" && prio[roleAgentID] == math.MaxUint8) || strs[roleTraceloopKind] == "workflow"
}

// ParentIsRemote reports whether the span's parent lives in another
// process (the W3C is-remote bit of OTLP span flags, when the SDK sets it):
// such a span is a local root of this process's part of the trace.
func ParentIsRemote(s ptrace.Span) bool {
	const hasIsRemote, isRemote = 0x100, 0x200
	f := s.Flags()
	return f&hasIsRemote != 0 && f&isRemote != 0
}

// toolNameFromSpanName takes the tool name from "execute_tool NAME" (GenAI
// semconv span name) or "NAME.tool" (Traceloop).
func toolNameFromSpanName(name string) string {
	if rest, ok := strings.CutPrefix(name, "execute_tool "); ok {
		return rest
	}
	if rest, ok := strings.CutPrefix(name, MCPToolsCall+" "); ok {
		return rest
	}
	if rest, ok := strings.CutSuffix(name, ".tool"); ok {
		return rest
	}
	return ""
}

// toolStatus derives success|failure|timeout from the span: a timeout is an
// Error status whose error.type or message says so.
func toolStatus(span ptrace.Span, errorType string, isError bool) string {
	st := span.Status()
	if !isError {
		// MCP: a CallToolResult with isError is error.type tool_error,
		// whatever the span status says.
		if errorType == MCPToolError {
			return ToolStatusFailure
		}
		return ToolStatusSuccess
	}
	if isTimeout(errorType) || isTimeout(st.Message()) {
		return ToolStatusTimeout
	}
	return ToolStatusFailure
}

func isTimeout(s string) bool {
	if s == "" {
		return false
	}
	return containsFold(s, "timeout") || containsFold(s, "timed out") || containsFold(s, "deadline exceeded") || containsFold(s, "deadline_exceeded")
}

// containsFold is an allocation-free case-insensitive strings.Contains for ASCII needles.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

func stringValue(v pcommon.Value) (string, bool) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str(), true
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return v.AsString(), true
	default:
		return "", false
	}
}

// numberValue parses a numeric attribute: ints, doubles and numeric strings.
// Token counts must be whole, non-negative and at most maxTokens.
func (e *Extractor) numberValue(r role, v pcommon.Value) (float64, InvalidReason) {
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			f = float64(i)
		} else if g, err := strconv.ParseFloat(s, 64); err == nil {
			f = g
		} else {
			return 0, InvalidNonNumeric
		}
	default:
		return 0, InvalidNonNumeric
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, InvalidNotFinite
	}
	if f < 0 && r != roleFeedbackScore {
		return 0, InvalidNegative
	}
	if isTokenRole(r) || r == roleRunTotalSteps {
		if f != math.Trunc(f) {
			return 0, InvalidNonInteger
		}
		if f > float64(e.maxTokens) {
			return 0, InvalidTooLarge
		}
	}
	return f, 0
}

// Canonical-presence accessors for writers of canonical attributes.
func (in *Info) HasAgentID() bool    { return in.HasCanonical[roleAgentID] }
func (in *Info) HasModel() bool      { return in.HasCanonical[roleModel] }
func (in *Info) HasToolName() bool   { return in.HasCanonical[roleToolName] }
func (in *Info) HasToolStatus() bool { return in.HasCanonical[roleToolStatus] }
func (in *Info) HasKindAttr() bool   { return in.HasCanonical[roleCanonicalKind] }
func (in *Info) HasCostAttr() bool   { return in.HasCanonical[roleCostUSD] }
func (in *Info) HasTokenAttr(bit uint8) bool {
	switch bit {
	case HasInput:
		return in.HasCanonical[roleTokensInput]
	case HasOutput:
		return in.HasCanonical[roleTokensOutput]
	case HasCacheRead:
		return in.HasCanonical[roleTokensCacheRead]
	case HasCacheWrite:
		return in.HasCanonical[roleTokensCacheWrite]
	case HasReasoning:
		return in.HasCanonical[roleTokensReasoning]
	}
	return false
}

// RecordFacts are what a log record says about itself: the agent and
// conversation it names, read with the same keys (and user mappings) as a
// span's.
type RecordFacts struct {
	AgentID, ConversationID string
}

// ExtractRecord reads the agent id and conversation id of a log record's
// (or any other) attributes.
func (e *Extractor) ExtractRecord(attrs pcommon.Map) RecordFacts {
	var out RecordFacts
	agentPrio, convPrio := uint8(math.MaxUint8), uint8(math.MaxUint8)
	for k, v := range attrs.All() {
		kr, ok := e.lookup(k)
		if !ok {
			continue
		}
		var dst *string
		var prio *uint8
		switch kr.role {
		case roleAgentID:
			dst, prio = &out.AgentID, &agentPrio
		case roleConversationID:
			dst, prio = &out.ConversationID, &convPrio
		default:
			continue
		}
		if kr.prio >= *prio {
			continue
		}
		if s, ok := stringValue(v); ok && s != "" {
			*dst, *prio = s, kr.prio
		}
	}
	return out
}

// HashArgs is the hash loop detection compares tool arguments by: 64-bit
// FNV-1a of the arguments with surrounding white space trimmed, never 0.
// Deterministic across processes, so a hash taken on one collector compares
// with one taken on another.
func HashArgs(args string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	i, j := 0, len(args)
	for i < j && isSpace(args[i]) {
		i++
	}
	for j > i && isSpace(args[j-1]) {
		j--
	}
	h := uint64(offset)
	for k := i; k < j; k++ {
		h ^= uint64(args[k])
		h *= prime
	}
	if h == 0 {
		h = 1
	}
	return h
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// First-chunk span events: OpenInference's (openai, llama-index: a
// timestamp only) and the Vercel AI SDK's.
const (
	eventFirstTokenOpenInference = "First Token Stream Event"
	eventFirstChunkVercel        = "ai.stream.firstChunk"
)

// fillTTFT sets the time to first token from, in order: a seconds
// attribute, a milliseconds attribute, Langfuse's completion start time, a
// first-chunk event (its time minus the span's start). A negative or
// unparsable value is counted invalid and the next source is used.
func (e *Extractor) fillTTFT(span ptrace.Span, info *Info, completionStart string, nums *[numRoles]float64, prio *[numRoles]uint8) {
	switch {
	case prio[roleTTFTSeconds] != math.MaxUint8:
		info.TTFT, info.HasTTFT = nums[roleTTFTSeconds], true
		return
	case prio[roleTTFTMillis] != math.MaxUint8:
		info.TTFT, info.HasTTFT = nums[roleTTFTMillis]/1000, true
		return
	}
	start := span.StartTimestamp()
	if completionStart != "" {
		// A JSON-serialised ISO-8601 time: quoted.
		ts, err := time.Parse(time.RFC3339Nano, strings.Trim(completionStart, `"`))
		if d := ts.UnixNano() - int64(start); err == nil && d >= 0 && start != 0 {
			info.TTFT, info.HasTTFT = float64(d)/1e9, true
			return
		}
		info.addInvalid("langfuse.observation.completion_start_time", InvalidNonNumeric)
	}
	for _, ev := range span.Events().All() {
		if n := ev.Name(); n == eventFirstTokenOpenInference || n == eventFirstChunkVercel {
			if ts := ev.Timestamp(); ts >= start && start != 0 {
				info.TTFT, info.HasTTFT = float64(ts-start)/1e9, true
			}
			return
		}
	}
}

// The seed's safety block: a step outcome that is also a guardrail result,
// counted under the guardrail name "safety".
const (
	StepSafetyBlocked = "safety_blocked"
	GuardrailSafety   = "safety"
	// GuardrailUnspecified is the result (or name) of a guardrail span that
	// says none: no allow/deny verdict is made up.
	GuardrailUnspecified = "unspecified"
)

// fillGuardrail recognises guardrail spans: GenAI semconv (draft)
// apply_guardrail, whose results usually come as gen_ai.guardrail.result
// events (the span counts itself only when it carries a result);
// OpenLLMetry's guardrail.run spans ({name}.guardrail, status PASSED or
// FAILED; their per-guard children are not counted again); OpenInference
// GUARDRAIL spans (named after the guardrail; no result attribute).
func fillGuardrail(span ptrace.Span, info *Info, strs *[numStringRoles]string) {
	name, result := strs[roleGuardrailName], strs[roleGuardrailResult]
	switch {
	case strs[roleOperation] == "apply_guardrail":
		if name == "" {
			name = strings.TrimPrefix(span.Name(), "apply_guardrail ")
		}
		info.GuardrailName = name
		info.HasGuardrail = result != ""
	case strs[roleOperation] == "guardrail.run":
		if name == "" {
			name = strings.TrimSuffix(span.Name(), ".guardrail")
		}
		info.GuardrailName, info.HasGuardrail = name, true
	case strs[roleOpenInferenceKind] == "GUARDRAIL":
		if name == "" {
			name = span.Name()
		}
		info.GuardrailName, info.HasGuardrail = name, true
	default:
		return
	}
	if info.GuardrailName == "" {
		info.GuardrailName = GuardrailUnspecified
	}
	if result == "" {
		result = GuardrailUnspecified
	}
	info.GuardrailResult = result
}

// ModelsOf returns the request and response model an LLM span names, apart
// (the GenAI semconv metrics label both; Info.Model is one resolved value):
// GenAI semconv, OpenLLMetry, the Vercel AI SDK, OpenInference (whose one
// model name counts as the request's).
func ModelsOf(attrs pcommon.Map) (request, response string) {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
				return v.Str()
			}
		}
		return ""
	}
	return first("gen_ai.request.model", "llm.request.model", "ai.model.id", "llm.model_name"),
		first("gen_ai.response.model", "llm.response.model", "ai.response.model")
}

// MCP (semantic-conventions-genai docs/gen-ai/mcp.md).
const (
	MCPToolsCall = "tools/call"
	MCPToolError = "tool_error"
)

// nameFromConvention fills what a convention says only through the span or
// action name: Langfuse names an agent or tool observation by its span
// name; Genkit names a flow, model or tool by genkit:name, the model with
// its plugin as a prefix ("googleai/gemini-2.5-flash").
func (e *Extractor) nameFromConvention(span ptrace.Span, strs *[numStringRoles]string, prio *[numRoles]uint8, info *Info) {
	name := ""
	switch {
	case strs[roleLangfuseType] != "":
		name = span.Name()
	case strs[roleGenkitType] != "":
		name = strs[roleGenkitName]
	default:
		return
	}
	switch info.Kind {
	case KindRun:
		if info.AgentID == "" {
			info.AgentID = name
		}
	case KindTool:
		if info.ToolName == "" {
			info.ToolName = name
		}
	case KindLLM:
		if info.Model == "" && strs[roleGenkitType] != "" {
			info.Model = name
		}
		if info.Provider == "" && strs[roleGenkitType] != "" {
			if i := strings.IndexByte(info.Model, '/'); i > 0 {
				info.Provider = info.Model[:i]
			}
		}
	}
}
