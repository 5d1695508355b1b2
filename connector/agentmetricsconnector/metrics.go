package agentmetricsconnector

import "github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"

// Metric names are written so that the collector's prometheus exporter,
// with default settings, shows exactly the contract names in README.md
// (it appends _total to monotonic sums and _seconds to histograms in "s",
// and keeps names that already end with them).
var (
	requestDurationBuckets = []float64{0.5, 1, 2, 5, 10, 20, 60, 120, 180, 300, 600, 1800, 3600, 7200, 14400}
	modelLatencyBuckets    = []float64{0.1, 0.3, 0.5, 1, 2, 5, 10, 30, 60}
	// ttftBuckets are the GenAI semconv's for
	// gen_ai.client.operation.time_to_first_chunk.
	// genaiSeconds: the semconv's bounds for operation and tool durations.
	genaiSeconds = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	genaiCalls   = []float64{1, 2, 4, 8, 16, 32, 64, 128}
	// mcpBuckets: the MCP semconv\'s for its operation durations.
	mcpBuckets             = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}
	ttftBuckets            = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	reasoningStepBuckets   = []float64{1, 2, 3, 5, 8, 12, 20}
	toolCallsPerRunBuckets = []float64{0, 1, 2, 3, 5, 8, 12, 20}
	runCostBuckets         = []float64{0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}
	feedbackBuckets        = []float64{-1, -0.5, 0, 0.25, 0.5, 0.75, 1, 2, 3, 4, 5}
	// DefaultToolDurationBuckets are the default bounds of agent_tool_duration_seconds.
	DefaultToolDurationBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// Label names (the contract).
const (
	lAgent    = "agent_id"
	lStatus   = "status"
	lModel    = "model"
	lDir      = "direction"
	lTool     = "tool_name"
	lHType    = "hallucination_type"
	lStrategy = "recovery_strategy"
	lOutcome  = "outcome"
	lResult   = "result"
	lTaskType = "task_type"
	lCaller   = "caller_agent_id"
	lGuard    = "guardrail_name"
)

// agentMetrics holds a handle per metric.
type agentMetrics struct {
	set *series.Set

	requests, requestDuration, invocations         *series.Metric
	llmCalls, tokens, modelLatency, cost           *series.Metric
	ttft                                           *series.Metric
	toolCalls, toolDuration, reasoningSteps        *series.Metric
	toolCallsPerRun, hallucinations, recoveries    *series.Metric
	stepOutcomes, approvals, selectionRatio, drift *series.Metric
	tasks, runCost, feedback                       *series.Metric
	loops, loopCost, guardrails                    *series.Metric
	mcpClientDuration, mcpServerDuration           *series.Metric
	sessionTurns, sessionGrowth                    *series.Metric
	tenantCost, tenantTokens                       *series.Metric
	genaiTokenUsage, genaiOpDuration               *series.Metric
	genaiAgentDuration, genaiToolDuration          *series.Metric
	genaiInferenceCalls, genaiToolCalls            *series.Metric
}

func newAgentMetrics(set *series.Set, toolBuckets []float64, genai bool, tenantLabel string) *agentMetrics {
	sum := func(name, unit, desc string, intv bool, labels ...string) *series.Metric {
		return set.Register(series.Def{Name: name, Unit: unit, Description: desc, Type: series.Sum, Labels: labels, IntValues: intv})
	}
	hist := func(name, unit, desc string, bounds []float64, labels ...string) *series.Metric {
		return set.Register(series.Def{Name: name, Unit: unit, Description: desc, Type: series.Histogram, Labels: labels, Bounds: bounds})
	}
	gauge := func(name, desc string, labels ...string) *series.Metric {
		return set.Register(series.Def{Name: name, Description: desc, Type: series.Gauge, Labels: labels})
	}
	m := &agentMetrics{set: set}
	// L1
	m.requests = sum("agent_requests_total", "", "Agent runs (entry invocations: no agent invocation above them), by outcome status.", true, lAgent, lStatus)
	m.requestDuration = hist("agent_request_duration_seconds", "s", "End-to-end duration of an agent run.", requestDurationBuckets, lAgent)
	m.invocations = sum("agent_invocations_total", "", "Agent invocations, nested included, by calling agent (absent for entry invocations) and status.", true, lAgent, lCaller, lStatus)
	// L2
	m.llmCalls = sum("agent_llm_calls_total", "", "LLM inferences.", true, lAgent, lModel, lStatus)
	m.tokens = sum("agent_tokens_consumed_total", "", "Tokens by direction: input (uncached), output, cache_read, cache_write; they add up to the total without double counting.", true, lAgent, lModel, lDir)
	m.modelLatency = hist("agent_model_latency_seconds", "s", "Duration of one LLM inference.", modelLatencyBuckets, lAgent, lModel)
	m.ttft = hist("agent_time_to_first_token_seconds", "s", "Time from the start of a streamed LLM call to its first token (chunk).", ttftBuckets, lAgent, lModel)
	m.cost = sum("agent_cost_usd_total", "", "Cost of LLM calls in USD (models without a price are not counted).", false, lAgent, lModel)
	// L3
	m.toolCalls = sum("agent_tool_calls_total", "", "Tool executions, by status success, failure or timeout.", true, lAgent, lTool, lStatus)
	m.toolDuration = hist("agent_tool_duration_seconds", "s", "Duration of one tool execution.", toolBuckets, lAgent, lTool)
	m.reasoningSteps = hist("agent_reasoning_steps", "", "LLM calls per agent invocation, nested included, of its own (or its agent.run.total_steps).", reasoningStepBuckets, lAgent)
	m.toolCallsPerRun = hist("agent_tool_calls_per_run", "", "Tool calls per agent invocation, nested included, of its own.", toolCallsPerRunBuckets, lAgent)
	m.hallucinations = sum("agent_hallucination_total", "", "Detected hallucinations, by type.", true, lAgent, lHType)
	m.recoveries = sum("agent_recovery_attempts_total", "", "Recovery attempts, by strategy.", true, lAgent, lStrategy)
	m.stepOutcomes = sum("agent_step_outcomes_total", "", "Reasoning step outcomes.", true, lAgent, lOutcome)
	m.approvals = sum("agent_approval_requests_total", "", "Human approval requests, by result.", true, lAgent, lResult)
	m.selectionRatio = gauge("agent_tool_selection_ratio", "Each tool's share of the agent's tool calls over the sliding window.", lAgent, lTool)
	m.loops = sum("agent_loops_total", "", "Tool loops: within one agent invocation, a tool called with the same arguments, or in a row with no other tool between, loops.min_repeats times or more; one per invocation and tool.", true, lAgent, lTool)
	m.loopCost = sum("agent_loop_cost_usd_total", "", "USD spent by an invocation's own LLM calls that started inside one of its tool loops.", false, lAgent)
	m.guardrails = sum("agent_guardrail_results_total", "", "Guardrail results by guardrail and the provider's own result value (a block is a result, not a failure).", true, lAgent, lGuard, lResult)
	// MCP operation durations, as the MCP semconv's metrics: every MCP
	// client or server span, by method only (no session or request ids).
	m.mcpClientDuration = hist("mcp.client.operation.duration", "s", "MCP semconv: duration of an MCP request or notification as the sender observed it.", mcpBuckets, "mcp.method.name")
	m.mcpServerDuration = hist("mcp.server.operation.duration", "s", "MCP semconv: duration of an MCP request or notification as the receiver handled it.", mcpBuckets, "mcp.method.name")
	m.sessionTurns = hist("agent_session_turns", "", "Turns (runs) of one conversation, observed when it has been idle for sessions.idle_timeout.", sessionTurnBuckets, lAgent)
	m.sessionGrowth = hist("agent_session_input_token_growth", "", "Input tokens of a conversation's turn minus its previous turn's (start order), from its second turn on, observed when the conversation ends.", sessionGrowthBuckets, lAgent)
	if tenantLabel != "" {
		m.tenantCost = sum("agent_tenant_cost_usd_total", "", "Cost of LLM calls in USD by tenant (the top tenants by recent spend; the rest under _other).", false, tenantLabel)
		m.tenantTokens = sum("agent_tenant_tokens_total", "", "Tokens of LLM calls by tenant and direction (the top tenants by recent spend; the rest under _other).", true, tenantLabel, lDir)
	}
	m.drift = gauge("agent_tool_selection_drift", "Jensen-Shannon divergence (0..1) of the window's tool distribution from the baseline's.", lAgent)
	// L4
	m.tasks = sum("agent_tasks_total", "", "Tasks, by type and outcome (completed, failed, abandoned).", true, lAgent, lTaskType, lOutcome)
	m.runCost = hist("agent_run_cost_usd", "", "Cost per run (entry invocation) in USD, its whole tree included.", runCostBuckets, lAgent)
	m.feedback = hist("agent_user_feedback_score", "", "User feedback scores.", feedbackBuckets, lAgent)
	if genai {
		// The GenAI semconv metrics (semantic-conventions-genai), with its
		// attribute names and recommended bucket boundaries.
		m.genaiTokenUsage = hist("gen_ai.client.token.usage", "{token}", "GenAI semconv: number of input and output tokens used.",
			[]float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864},
			"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.token.type", "gen_ai.request.model", "gen_ai.response.model")
		m.genaiOpDuration = hist("gen_ai.client.operation.duration", "s", "GenAI semconv: GenAI operation duration.", genaiSeconds,
			"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model", "error.type")
		m.genaiAgentDuration = hist("gen_ai.invoke_agent.duration", "s", "GenAI semconv: duration of an agent invocation.",
			[]float64{0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6}, "gen_ai.agent.name", "error.type")
		m.genaiInferenceCalls = hist("gen_ai.invoke_agent.inference_calls", "{inference_call}", "GenAI semconv: inference calls of one agent invocation (its own).",
			genaiCalls, "gen_ai.agent.name")
		m.genaiToolCalls = hist("gen_ai.invoke_agent.tool_calls", "{tool_call}", "GenAI semconv: tool calls of one agent invocation (its own).",
			genaiCalls, "gen_ai.agent.name")
		m.genaiToolDuration = hist("gen_ai.execute_tool.duration", "s", "GenAI semconv: duration of a tool execution.", genaiSeconds,
			"gen_ai.tool.name", "gen_ai.agent.name", "error.type")
	}
	return m
}
