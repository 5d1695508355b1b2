// Package agentsim emulates a fleet of AI agents sending OTLP traces through
// the OpenTelemetry Go SDK: runs of LLM calls and tool calls in the seed's
// agent.* convention, the OpenTelemetry GenAI semconv or OpenInference, with
// scenarios (error, latency, cost, tool failure, hallucination spikes, the
// tool-selection drift incident and runs stuck in a tool loop) that start at
// chosen times. Half the LLM calls are streamed and say their time to first
// token; every run is a turn of a conversation of a few turns and passes a
// guardrail check; optionally a share of the runs call their tools through
// an MCP server. It is deterministic for a seed and counts exactly what it
// sent.
package agentsim

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Scenario names.
const (
	Steady             = "steady"
	ErrorSpike         = "error_spike"
	LatencySpike       = "latency_spike"
	TokenCostSpike     = "token_cost_spike"
	ToolFailureSpike   = "tool_failure_spike"
	HallucinationSpike = "hallucination_spike"
	ToolSelectionDrift = "tool_selection_drift"
	ToolLoop           = "tool_loop"
)

// Where a streamed LLM call says its time to first token: the seed's and
// GenAI's attributes (seconds) and OpenInference's event (at the first
// token).
const (
	AttrTTFTSeed    = "agent.llm.time_to_first_token"
	AttrTTFTGenAI   = "gen_ai.response.time_to_first_chunk"
	EventFirstToken = "First Token Stream Event"
)

// Guardrails: each run passes one input guardrail, chosen at random among
// Guardrails; in GuardrailBlockShare of the runs it intervenes. A GenAI run
// writes an apply_guardrail span with one gen_ai.guardrail.result event
// (GuardrailPass or GuardrailIntervened), an OpenInference run a GUARDRAIL
// span named after the guardrail (OpenInference writes no result, counted
// as GuardrailUnspecified). The seed's convention has no guardrail span: an
// intervention is its answer step's agent.step.outcome safety_blocked,
// counted as guardrail GuardrailSafety, result StepSafetyBlocked; a check
// that passed is not seen. A block never fails the run, the call or a tool.
const (
	GuardrailPass        = "NONE"
	GuardrailIntervened  = "GUARDRAIL_INTERVENED"
	GuardrailUnspecified = "unspecified"
	GuardrailSafety      = "safety"
	StepSafetyBlocked    = "safety_blocked"
	GuardrailBlockShare  = 0.10
)

// Guardrails are the input guardrails a run may pass.
var Guardrails = []string{"pii_check", "jailbreak"}

// MCP: the methods the simulator sends and the span sides, as the keys of
// Totals.MCPSpans.
const (
	MCPToolsCall = "tools/call"
	MCPToolsList = "tools/list"
	MCPClient    = "client"
	MCPServer    = "server"
)

// MaxTurns bounds a conversation: each has 1 to MaxTurns turns (runs) of
// one agent in one convention, its id on every run span in that
// convention's attribute (AttrConversation).
const MaxTurns = 5

// Scenarios lists every scenario name.
var Scenarios = []string{Steady, ErrorSpike, LatencySpike, TokenCostSpike, ToolFailureSpike, HallucinationSpike, ToolSelectionDrift, ToolLoop}

// Under tool_loop, LoopShare of the runs (of every agent) get stuck after the
// refund step: the agent polls LoopTool with the same arguments LoopCalls
// times, an LLM call before each poll, as an agent does when the tool keeps
// answering "pending" and nothing makes it stop. Normal runs never call a
// tool three times, so every loop the connector finds is one of these.
const (
	LoopTool  = "check_refund_status"
	LoopCalls = 10
	LoopShare = 0.20
)

// Conventions the simulator can write.
const (
	ConvSeed          = "seed"
	ConvGenAI         = "genai"
	ConvOpenInference = "openinference"
)

// ScenarioAt starts a scenario after a delay from the start of the run.
type ScenarioAt struct {
	Name  string
	Start time.Duration
}

// ParseScenario reads "name" or "name@90s".
func ParseScenario(s string) (ScenarioAt, error) {
	name, at, found := strings.Cut(s, "@")
	sc := ScenarioAt{Name: name}
	if found {
		d, err := time.ParseDuration(at)
		if err != nil {
			return sc, fmt.Errorf("scenario %q: start: %w", s, err)
		}
		sc.Start = d
	}
	for _, n := range Scenarios {
		if n == name {
			return sc, nil
		}
	}
	return sc, fmt.Errorf("scenario %q: unknown (one of %s)", name, strings.Join(Scenarios, ", "))
}

// Config of a simulation.
type Config struct {
	Agents []string
	// Tools are extra tools: each run also calls one of them, chosen at
	// random (the refund flow lookup_order -> process_refund always runs).
	Tools       []string
	Models      []string
	Conventions []string
	Seed        uint64
	Scenarios   []ScenarioAt
	// MCPShare of the runs (0: none) call their tools through an MCP
	// server: one tools/list, then each tool call as an MCP tools/call
	// client span (the agent's view, the one call that counts) with the
	// server's tools/call span beneath it. Drawn for every run whatever
	// the share, so the rest of a seed's runs do not depend on it.
	MCPShare float64
}

// Totals is exactly what was sent, for tests to compare with.
type Totals struct {
	Runs        int                       `json:"runs"`
	Requests    map[string]map[string]int `json:"requests"`     // agent -> status -> n
	LLMCalls    map[string]int            `json:"llm_calls"`    // agent -> n
	InputTokens map[string]int64          `json:"input_tokens"` // agent -> n, all input (cache reads included)
	// CacheReadTokens: the part of InputTokens read from the prompt cache.
	CacheReadTokens map[string]int64          `json:"cache_read_tokens"`
	OutputTokens    map[string]int64          `json:"output_tokens"`   // agent -> n
	ToolCalls       map[string]map[string]int `json:"tool_calls"`      // agent -> "tool/status" -> n
	ReasoningSteps  map[string]int            `json:"reasoning_steps"` // agent -> sum over runs
	Hallucinations  map[string]int            `json:"hallucinations"`  // agent -> n
	Feedback        map[string]int            `json:"feedback"`        // agent -> number of scores
	Loops           map[string]map[string]int `json:"loops"`           // agent -> tool -> runs stuck in a loop of it
	// LoopLLMCalls are the LLM calls that start inside a loop, between the
	// start of its first call and the end of its last (the LoopCalls-1
	// between the polls): what agent_loop_cost_usd_total prices.
	LoopLLMCalls map[string]int `json:"loop_llm_calls"` // agent -> n
	// StreamedCalls are the LLM calls that were streamed and carry their
	// time to first token (one agent_time_to_first_token_seconds
	// observation each); TTFTSeconds is the sum of those times, summed from
	// the values written, in the order they were sent.
	StreamedCalls map[string]int     `json:"streamed_calls"` // agent -> n
	TTFTSeconds   map[string]float64 `json:"ttft_seconds"`   // agent -> sum
	// Guardrails are the guardrail results the connector counts, by the
	// name and result it labels them with (see the Guardrail constants).
	Guardrails map[string]map[string]int `json:"guardrails"` // agent -> "guardrail/result" -> n
	// MCPSpans are the MCP spans sent, by side (MCPClient, MCPServer) and
	// method: one observation each of mcp.{client,server}.operation.duration.
	MCPSpans map[string]map[string]int `json:"mcp_spans"` // side -> method -> n
	// Conversations count the conversations by their number of turns (one
	// agent_session_turns observation each, once idle). GrowthTurns are
	// the turns after a conversation's first, InputTokenGrowth the sum of
	// their input tokens minus the previous turn's, turns in start order
	// (the start of their first LLM call): the count and sum of
	// agent_session_input_token_growth. Conversations still going on count
	// with the turns sent so far.
	Conversations    map[string]map[int]int `json:"conversations"`      // agent -> turns -> conversations
	GrowthTurns      map[string]int         `json:"growth_turns"`       // agent -> n
	InputTokenGrowth map[string]int64       `json:"input_token_growth"` // agent -> sum
}

func newTotals() *Totals {
	return &Totals{
		Requests: map[string]map[string]int{}, LLMCalls: map[string]int{}, InputTokens: map[string]int64{}, CacheReadTokens: map[string]int64{},
		OutputTokens: map[string]int64{}, ToolCalls: map[string]map[string]int{}, ReasoningSteps: map[string]int{},
		Hallucinations: map[string]int{}, Feedback: map[string]int{}, Loops: map[string]map[string]int{}, LoopLLMCalls: map[string]int{},
		StreamedCalls: map[string]int{}, TTFTSeconds: map[string]float64{},
		Guardrails: map[string]map[string]int{}, MCPSpans: map[string]map[string]int{},
		Conversations: map[string]map[int]int{}, GrowthTurns: map[string]int{}, InputTokenGrowth: map[string]int64{},
	}
}

// conversation is one conversation's turns as they were counted.
type conversation struct {
	agent string
	want  int // turns planned
	turns []turn
}

// turn is a run of a conversation: the start of its first LLM call and its
// input tokens.
type turn struct {
	start int64 // Unix ns, as OTLP carries it
	input int64
}

// add counts a conversation's turns and growth into t.
func (c *conversation) add(t *Totals) {
	turns := slices.Clone(c.turns)
	slices.SortStableFunc(turns, func(a, b turn) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.input, b.input)) })
	if t.Conversations[c.agent] == nil {
		t.Conversations[c.agent] = map[int]int{}
	}
	t.Conversations[c.agent][len(turns)]++
	for i := 1; i < len(turns); i++ {
		t.GrowthTurns[c.agent]++
		t.InputTokenGrowth[c.agent] += turns[i].input - turns[i-1].input
	}
}

// openConv is a conversation being planned: its id and turns still to come.
type openConv struct {
	id          string
	turns, left int
}

// Sim generates runs. Safe for concurrent use.
type Sim struct {
	cfg    Config
	tracer trace.Tracer
	mu     sync.Mutex
	rnd    *rand.Rand
	// stream decides which LLM calls are streamed and their time to first
	// token: a source of its own, so rnd draws what it drew before calls
	// were streamed and a seed's runs are otherwise the same.
	stream *rand.Rand
	// side decides what came after: conversations, guardrails, MCP. A
	// source of its own again, drawn the same for every run whatever the
	// configuration, so rnd and stream draw what they drew before.
	side   *rand.Rand
	totals *Totals
	n      int
	// planning: each agent's and convention's current conversation;
	// counting: the conversations with turns still to come (done ones are
	// in totals).
	planning map[string]*openConv
	counting map[string]*conversation
}

// New creates a simulator emitting through tracer.
func New(cfg Config, tracer trace.Tracer) *Sim {
	if len(cfg.Agents) == 0 {
		cfg.Agents = []string{"support-agent"}
	}
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"gpt-4o-mini"}
	}
	if len(cfg.Conventions) == 0 {
		cfg.Conventions = []string{ConvSeed}
	}
	return &Sim{cfg: cfg, tracer: tracer, rnd: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), stream: rand.New(rand.NewPCG(cfg.Seed, 0x57ea)),
		side: rand.New(rand.NewPCG(cfg.Seed, 0x51de)), totals: newTotals(), planning: map[string]*openConv{}, counting: map[string]*conversation{}}
}

// active reports which scenarios are on at elapsed.
func (s *Sim) active(elapsed time.Duration) map[string]bool {
	on := map[string]bool{}
	for _, sc := range s.cfg.Scenarios {
		if elapsed >= sc.Start {
			on[sc.Name] = true
		}
	}
	return on
}

// plan is one run, decided under the lock so the sequence is deterministic.
type plan struct {
	agent, conv string
	failed      bool
	loop        bool // stuck in a loop of LoopTool (tool_loop)
	feedback    int  // 0: none, else a 1-5 score
	llm         []llmCall
	tools       []toolCall
	latency     float64
	// conversation is the run's conversation id, of turns turns.
	conversation string
	turns        int
	// guardrail is the input guardrail the run passed; intervened: it
	// intervened (for the seed: its answer step is safety_blocked, unless
	// that step is a hallucination).
	guardrail  string
	intervened bool
	mcp        bool   // the tools are called through an MCP server
	mcpSession string // its mcp.session.id
}

type llmCall struct {
	model         string
	in, out       int64
	hallucination bool
	dur           time.Duration
	// ttft is the time to first token of a streamed call (0: not
	// streamed), in whole milliseconds so every convention writes it
	// exactly: seconds attributes and an event at start+ttft alike.
	ttft time.Duration
	// blocked: the seed's safety guardrail blocked this step's answer.
	blocked bool
	// cacheRead: input tokens read from the prompt cache (part of in).
	cacheRead int64
}

type toolCall struct {
	name   string
	args   string // JSON, as the model wrote the call
	status string
	dur    time.Duration
}

func (s *Sim) plan(elapsed time.Duration) plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	on := s.active(elapsed)
	r := s.rnd
	p := plan{agent: s.cfg.Agents[s.n%len(s.cfg.Agents)], conv: s.cfg.Conventions[(s.n/len(s.cfg.Agents))%len(s.cfg.Conventions)], latency: 1}
	// Each run is about its own order: the tool arguments differ from run
	// to run. Taken from the run number, not the random source, so the
	// runs of a seed are the same as before tools had arguments.
	order := fmt.Sprintf("ORD-%06d", 100000+s.n)
	s.n++
	if on[LatencySpike] {
		p.latency = 5
	}
	p.failed = r.Float64() < map[bool]float64{false: 0.01, true: 0.30}[on[ErrorSpike]]
	if r.Float64() < 0.25 { // a quarter of the users rate the answer
		p.feedback = 1 + r.IntN(5)
	}
	llm := func() llmCall {
		c := llmCall{model: s.cfg.Models[r.IntN(len(s.cfg.Models))], in: int64(200 + r.IntN(1800)), out: int64(20 + r.IntN(400)),
			dur: time.Duration(float64(300+r.IntN(1500))*p.latency) * time.Millisecond}
		if on[TokenCostSpike] {
			c.in, c.out = c.in*10, c.out*10
		}
		c.hallucination = r.Float64() < map[bool]float64{false: 0.0, true: 0.30}[on[HallucinationSpike]]
		// Half the calls are streamed. Their first token comes after 10-40%
		// of the call; under latency_spike, when the provider queues, after
		// 40-70% of the (five times longer) call.
		if sr := s.stream; sr.IntN(2) == 0 {
			pct := 10 + sr.IntN(31)
			if on[LatencySpike] {
				pct += 30
			}
			c.ttft = c.dur / time.Millisecond * time.Duration(pct) / 100 * time.Millisecond // at least 30ms
		}
		return c
	}
	steps := 2 + r.IntN(3)
	for range steps {
		p.llm = append(p.llm, llm())
	}
	// The refund agent's flow: look the order up, then refund it. In the
	// 3:14 AM incident the agent stops choosing process_refund and picks
	// return_unable_to_process instead; every call succeeds.
	second := "process_refund"
	if on[ToolSelectionDrift] {
		second = "return_unable_to_process"
	}
	failP := map[bool]float64{false: 0.02, true: 0.40}[on[ToolFailureSpike]]
	names := []string{"lookup_order", second}
	if len(s.cfg.Tools) > 0 {
		names = append(names, s.cfg.Tools[r.IntN(len(s.cfg.Tools))])
	}
	for _, name := range names {
		tc := toolCall{name: name, args: toolArgs(name, order), status: "success", dur: time.Duration(float64(50+r.IntN(400))*p.latency) * time.Millisecond}
		if !on[ToolSelectionDrift] && r.Float64() < failP {
			tc.status = "failure"
		}
		p.tools = append(p.tools, tc)
	}
	// Drawn last and only under the scenario: the run's other calls are
	// what they would be without it, and without the scenario a seed gives
	// the runs it gave before.
	if on[ToolLoop] && r.Float64() < LoopShare {
		p.loop = true
		// The polls succeed ("pending"): no failure rule sees the loop.
		poll := toolCall{name: LoopTool, args: toolArgs(LoopTool, order), status: "success"}
		polls := make([]toolCall, LoopCalls)
		for i := range polls {
			polls[i] = poll
			polls[i].dur = time.Duration(float64(50+r.IntN(400))*p.latency) * time.Millisecond
		}
		p.tools = append(p.tools[:2:2], append(polls, p.tools[2:]...)...)
		// An LLM call decides each tool call, and one more gives the answer.
		for len(p.llm) < len(p.tools)+1 {
			p.llm = append(p.llm, llm())
		}
	}
	s.sidePlan(&p)
	// Every call after the first reads the run's prompt prefix from the
	// provider's cache: 30% of its input (derived, not drawn, so what a seed
	// sent before it still sends).
	for i := 1; i < len(p.llm); i++ {
		p.llm[i].cacheRead = p.llm[i].in * 3 / 10
	}
	return p
}

// sidePlan decides the run's conversation, guardrail and MCP from side: the
// same draws for every run, whatever the convention, scenarios or MCPShare.
func (s *Sim) sidePlan(p *plan) {
	g := s.side
	key := p.agent + "\x00" + p.conv
	c := s.planning[key]
	if c == nil || c.left == 0 {
		c = &openConv{id: fmt.Sprintf("conv-%016x", g.Uint64()), turns: 1 + g.IntN(MaxTurns)}
		c.left = c.turns
		s.planning[key] = c
	}
	c.left--
	p.conversation, p.turns = c.id, c.turns
	p.guardrail = Guardrails[g.IntN(len(Guardrails))]
	p.intervened = g.Float64() < GuardrailBlockShare
	p.mcp = g.Float64() < s.cfg.MCPShare
	if p.mcp {
		p.mcpSession = fmt.Sprintf("mcp-%s-%06d", p.agent, s.n)
	}
	if last := &p.llm[len(p.llm)-1]; p.conv == ConvSeed && p.intervened && !last.hallucination {
		last.blocked = true
	}
}

// guardrailResult is the guardrail result the connector counts for the run,
// "" when the run writes none.
func (p plan) guardrailResult() (name, result string) {
	switch p.conv {
	case ConvGenAI:
		if p.intervened {
			return p.guardrail, GuardrailIntervened
		}
		return p.guardrail, GuardrailPass
	case ConvOpenInference:
		return p.guardrail, GuardrailUnspecified
	}
	if p.llm[len(p.llm)-1].blocked {
		return GuardrailSafety, StepSafetyBlocked
	}
	return "", ""
}

// toolArgs are a tool call's arguments, about the run's order.
func toolArgs(tool, order string) string {
	switch tool {
	case "process_refund":
		return `{"order_id":"` + order + `","reason":"damaged"}`
	case "return_unable_to_process":
		return `{"order_id":"` + order + `","reason":"policy"}`
	}
	return `{"order_id":"` + order + `"}`
}

// loopGap is the agent's own time between a tool result and its next LLM
// call in a stuck run: no LLM call starts exactly where a poll ends, so
// which LLM calls start inside the loop does not hang on a boundary.
const loopGap = time.Millisecond

// Run emits one agent run ending now, elapsed after the simulation start.
func (s *Sim) Run(ctx context.Context, elapsed time.Duration) {
	p := s.plan(elapsed)
	total := time.Duration(0)
	for _, c := range p.llm {
		total += c.dur
	}
	for _, t := range p.tools {
		total += t.dur
		if p.loop {
			total += loopGap
		}
	}
	end := time.Now()
	start := end.Add(-total - 10*time.Millisecond)
	runCtx, run := s.tracer.Start(ctx, runName(p), trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(runAttrs(p)...))
	// Before the first LLM call (in the 5ms the run has before it, so the
	// calls keep their times): the input guardrail and the MCP tool list.
	s.guardrail(runCtx, p, start.Add(time.Millisecond), start.Add(4*time.Millisecond))
	if p.mcp {
		_, ls := s.tracer.Start(runCtx, MCPToolsList, trace.WithTimestamp(start.Add(time.Millisecond)), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("mcp.method.name", MCPToolsList), attribute.String("mcp.session.id", p.mcpSession),
				attribute.String("jsonrpc.request.id", "1")))
		ls.End(trace.WithTimestamp(start.Add(3 * time.Millisecond)))
	}
	t := start.Add(5 * time.Millisecond)
	first := t
	ti := 0
	for i, c := range p.llm {
		_, sp := s.tracer.Start(runCtx, llmName(p.conv, c.model), trace.WithTimestamp(t), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(llmAttrs(p.conv, c, i)...))
		if c.ttft > 0 && p.conv == ConvOpenInference {
			// OpenInference says it with an event at the first token.
			sp.AddEvent(EventFirstToken, trace.WithTimestamp(t.Add(c.ttft)))
		}
		t = t.Add(c.dur)
		sp.End(trace.WithTimestamp(t))
		if ti < len(p.tools) && i < len(p.llm)-1 { // tools between LLM calls, as siblings
			tc := p.tools[ti]
			ti++
			t = s.tool(runCtx, p, ti, tc, t)
			if p.loop {
				t = t.Add(loopGap)
			}
		}
	}
	for ti < len(p.tools) {
		tc := p.tools[ti]
		ti++
		t = s.tool(runCtx, p, ti, tc, t)
	}
	if p.failed {
		run.SetStatus(codes.Error, "agent run failed")
	}
	if p.feedback > 0 {
		run.SetAttributes(attribute.Int("agent.feedback.score", p.feedback))
	}
	run.End(trace.WithTimestamp(t.Add(5 * time.Millisecond)))
	s.count(p, first)
}

// guardrail emits the run's input guardrail check in its convention (the
// seed's is its answer step's outcome, see llmAttrs).
func (s *Sim) guardrail(ctx context.Context, p plan, start, end time.Time) {
	switch p.conv {
	case ConvGenAI:
		_, g := s.tracer.Start(ctx, "apply_guardrail "+p.guardrail, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attribute.String("gen_ai.operation.name", "apply_guardrail"),
				attribute.String("gen_ai.guardrail.component.name", p.guardrail)))
		_, result := p.guardrailResult()
		g.AddEvent("gen_ai.guardrail.result", trace.WithTimestamp(end), trace.WithAttributes(attribute.String("gen_ai.guardrail.result.value", result)))
		g.End(trace.WithTimestamp(end))
	case ConvOpenInference:
		_, g := s.tracer.Start(ctx, p.guardrail, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attribute.String("openinference.span.kind", "GUARDRAIL"), attribute.String("input.value", "please refund order 1234")))
		g.End(trace.WithTimestamp(end))
	}
}

// tool emits the run's i-th tool call (from 1) starting at t and returns
// its end. A failed call carries an agent.recovery event (the agent
// retries); a refund carries an agent.approval event (refunds need a
// human's approval). Through MCP the call is a tools/call client span with
// the server's tools/call span beneath it (1ms inside), both in the MCP
// semconv's shape whatever the run's convention; a failure is a
// CallToolResult with isError (error.type tool_error, no Error status).
func (s *Sim) tool(ctx context.Context, p plan, i int, tc toolCall, t time.Time) time.Time {
	end := t.Add(tc.dur)
	name, attrs, kind := toolName(p.conv, tc.name), toolAttrs(p.conv, tc), trace.SpanKindInternal
	if p.mcp {
		name, attrs, kind = MCPToolsCall+" "+tc.name, mcpToolAttrs(p, i, tc), trace.SpanKindClient
	}
	cctx, ts := s.tracer.Start(ctx, name, trace.WithTimestamp(t), trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	if tc.status != "success" {
		if !p.mcp {
			ts.SetStatus(codes.Error, "tool failed")
		}
		ts.AddEvent("agent.recovery", trace.WithTimestamp(end), trace.WithAttributes(attribute.String("agent.recovery.strategy", "retry")))
	}
	if tc.name == "process_refund" {
		ts.AddEvent("agent.approval", trace.WithTimestamp(t), trace.WithAttributes(attribute.String("agent.approval.result", "approved")))
	}
	if p.mcp {
		_, srv := s.tracer.Start(cctx, name, trace.WithTimestamp(t.Add(time.Millisecond)), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attrs...))
		srv.End(trace.WithTimestamp(end.Add(-time.Millisecond)))
	}
	ts.End(trace.WithTimestamp(end))
	return end
}

// mcpToolAttrs are an MCP tools/call span's, client and server alike.
func mcpToolAttrs(p plan, i int, tc toolCall) []attribute.KeyValue {
	a := []attribute.KeyValue{attribute.String("mcp.method.name", MCPToolsCall), attribute.String("mcp.session.id", p.mcpSession),
		attribute.String("jsonrpc.request.id", fmt.Sprint(i+1)), attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", tc.name), attribute.String("gen_ai.tool.call.arguments", tc.args)}
	if tc.status != "success" {
		a = append(a, attribute.String("error.type", "tool_error"))
	}
	return a
}

func (s *Sim) count(p plan, first time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tt := s.totals
	tt.Runs++
	status := "success"
	if p.failed {
		status = "failure"
	}
	if tt.Requests[p.agent] == nil {
		tt.Requests[p.agent] = map[string]int{}
		tt.ToolCalls[p.agent] = map[string]int{}
	}
	tt.Requests[p.agent][status]++
	tt.ReasoningSteps[p.agent] += p.steps()
	if p.feedback > 0 {
		tt.Feedback[p.agent]++
	}
	for _, c := range p.llm {
		tt.LLMCalls[p.agent]++
		tt.InputTokens[p.agent] += c.in
		tt.CacheReadTokens[p.agent] += c.cacheRead
		tt.OutputTokens[p.agent] += c.out
		if c.hallucination {
			tt.Hallucinations[p.agent]++
		}
		if c.ttft > 0 {
			tt.StreamedCalls[p.agent]++
			tt.TTFTSeconds[p.agent] += c.ttft.Seconds()
		}
	}
	for _, tc := range p.tools {
		tt.ToolCalls[p.agent][tc.name+"/"+tc.status]++
	}
	if p.loop {
		if tt.Loops[p.agent] == nil {
			tt.Loops[p.agent] = map[string]int{}
		}
		tt.Loops[p.agent][LoopTool]++ // once a run, however many polls
		tt.LoopLLMCalls[p.agent] += LoopCalls - 1
	}
	if name, result := p.guardrailResult(); name != "" {
		if tt.Guardrails[p.agent] == nil {
			tt.Guardrails[p.agent] = map[string]int{}
		}
		tt.Guardrails[p.agent][name+"/"+result]++
	}
	if p.mcp {
		for _, side := range []string{MCPClient, MCPServer} {
			if tt.MCPSpans[side] == nil {
				tt.MCPSpans[side] = map[string]int{}
			}
			tt.MCPSpans[side][MCPToolsCall] += len(p.tools)
		}
		tt.MCPSpans[MCPClient][MCPToolsList]++
	}
	c := s.counting[p.conversation]
	if c == nil {
		c = &conversation{agent: p.agent, want: p.turns}
		s.counting[p.conversation] = c
	}
	in := int64(0)
	for _, l := range p.llm {
		in += l.in
	}
	c.turns = append(c.turns, turn{start: first.UnixNano(), input: in})
	if len(c.turns) == c.want { // done: only the open ones are kept
		c.add(tt)
		delete(s.counting, p.conversation)
	}
}

// Totals returns a copy of what was sent so far.
func (s *Sim) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.totals
	out := Totals{
		Runs: t.Runs, Requests: map[string]map[string]int{}, ToolCalls: map[string]map[string]int{},
		LLMCalls: maps.Clone(t.LLMCalls), InputTokens: maps.Clone(t.InputTokens), CacheReadTokens: maps.Clone(t.CacheReadTokens), OutputTokens: maps.Clone(t.OutputTokens),
		ReasoningSteps: maps.Clone(t.ReasoningSteps), Hallucinations: maps.Clone(t.Hallucinations), Feedback: maps.Clone(t.Feedback),
		Loops: map[string]map[string]int{}, LoopLLMCalls: maps.Clone(t.LoopLLMCalls),
		StreamedCalls: maps.Clone(t.StreamedCalls), TTFTSeconds: maps.Clone(t.TTFTSeconds),
		Guardrails: map[string]map[string]int{}, MCPSpans: map[string]map[string]int{},
		Conversations: map[string]map[int]int{}, GrowthTurns: maps.Clone(t.GrowthTurns), InputTokenGrowth: maps.Clone(t.InputTokenGrowth),
	}
	for a, m := range t.Guardrails {
		out.Guardrails[a] = maps.Clone(m)
	}
	for side, m := range t.MCPSpans {
		out.MCPSpans[side] = maps.Clone(m)
	}
	for a, m := range t.Conversations {
		out.Conversations[a] = maps.Clone(m)
	}
	// Conversations still going on, with the turns sent so far.
	for _, c := range s.counting {
		c.add(&out)
	}
	for a, m := range t.Requests {
		out.Requests[a] = maps.Clone(m)
	}
	for a, m := range t.ToolCalls {
		out.ToolCalls[a] = maps.Clone(m)
	}
	for a, m := range t.Loops {
		out.Loops[a] = maps.Clone(m)
	}
	return out
}

// Summary is a one-line description of the totals for the progress line.
func (t Totals) Summary() string {
	agents := make([]string, 0, len(t.Requests))
	for a := range t.Requests {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	req, llm := 0, 0
	for _, a := range agents {
		for _, n := range t.Requests[a] {
			req += n
		}
		llm += t.LLMCalls[a]
	}
	return fmt.Sprintf("runs=%d llm_calls=%d agents=%d", req, llm, len(agents))
}

func runName(p plan) string {
	switch p.conv {
	case ConvGenAI:
		return "invoke_agent " + p.agent
	case ConvOpenInference:
		return p.agent
	}
	return "agent.request"
}

// AttrConversation is where each convention's run span names its
// conversation.
var AttrConversation = map[string]string{ConvSeed: "agent.conversation.id", ConvGenAI: "gen_ai.conversation.id", ConvOpenInference: "session.id"}

func runAttrs(p plan) []attribute.KeyValue {
	conv := attribute.String(AttrConversation[p.conv], p.conversation)
	switch p.conv {
	case ConvGenAI:
		return []attribute.KeyValue{attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", p.agent), conv}
	case ConvOpenInference:
		return []attribute.KeyValue{attribute.String("openinference.span.kind", "AGENT"), attribute.String("agent.name", p.agent), conv}
	}
	// The seed's agents report their own step count (a step per model call
	// and per tool call), which the connector takes over counting LLM calls.
	return []attribute.KeyValue{attribute.String("agent.agent.id", p.agent), attribute.Int("agent.run.total_steps", p.steps()), conv}
}

// steps is what agent_reasoning_steps records for the run: the seed's
// agent.run.total_steps, else its LLM calls.
func (p plan) steps() int {
	if p.conv == ConvSeed {
		return len(p.llm) + len(p.tools)
	}
	return len(p.llm)
}

func llmName(conv, model string) string {
	switch conv {
	case ConvGenAI:
		return "chat " + model
	case ConvOpenInference:
		return "ChatCompletion"
	}
	return "agent.llm.reasoning"
}

func llmAttrs(conv string, c llmCall, step int) []attribute.KeyValue {
	var a []attribute.KeyValue
	switch conv {
	case ConvGenAI:
		a = []attribute.KeyValue{attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", c.model), attribute.Int64("gen_ai.usage.input_tokens", c.in),
			attribute.Int64("gen_ai.usage.output_tokens", c.out),
			attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"please refund order 1234"}]}]`)}
	case ConvOpenInference:
		a = []attribute.KeyValue{attribute.String("openinference.span.kind", "LLM"), attribute.String("llm.model_name", c.model),
			attribute.String("llm.provider", "openai"), attribute.Int64("llm.token_count.prompt", c.in), attribute.Int64("llm.token_count.completion", c.out),
			attribute.String("input.value", "please refund order 1234")}
	default:
		a = []attribute.KeyValue{attribute.String("agent.model.name", c.model), attribute.Int64("agent.llm.tokens.input", c.in),
			attribute.Int64("agent.llm.tokens.output", c.out), attribute.Int("agent.reasoning.step", step+1)}
	}
	if c.cacheRead > 0 {
		key := "agent.llm.tokens.cache_read"
		switch conv {
		case ConvGenAI:
			key = "gen_ai.usage.cache_read.input_tokens"
		case ConvOpenInference:
			key = "llm.token_count.prompt_details.cache_read"
		}
		a = append(a, attribute.Int64(key, c.cacheRead))
	}
	if c.ttft > 0 { // OpenInference: an event, see Run
		switch conv {
		case ConvGenAI:
			a = append(a, attribute.Float64(AttrTTFTGenAI, c.ttft.Seconds()))
		case ConvSeed:
			a = append(a, attribute.Float64(AttrTTFTSeed, c.ttft.Seconds()))
		}
	}
	outcome := "completed"
	if c.hallucination {
		a = append(a, attribute.String("agent.hallucination.type", "fabricated_fact"))
		outcome = "hallucination"
	} else if c.blocked {
		outcome = StepSafetyBlocked
	}
	return append(a, attribute.String("agent.step.outcome", outcome))
}

func toolName(conv, tool string) string {
	switch conv {
	case ConvGenAI:
		return "execute_tool " + tool
	case ConvOpenInference:
		return tool
	}
	return "agent.tool.execute"
}

// toolAttrs carry the call's arguments where each convention puts them: loop
// detection compares calls by them (tool.parameters is OpenInference's tool
// schema, the same on every call; input.value is the call's input).
func toolAttrs(conv string, tc toolCall) []attribute.KeyValue {
	switch conv {
	case ConvGenAI:
		return []attribute.KeyValue{attribute.String("gen_ai.operation.name", "execute_tool"), attribute.String("gen_ai.tool.name", tc.name),
			attribute.String("gen_ai.tool.call.arguments", tc.args)}
	case ConvOpenInference:
		return []attribute.KeyValue{attribute.String("openinference.span.kind", "TOOL"), attribute.String("tool.name", tc.name),
			attribute.String("tool.parameters", `{"order_id":"1234"}`), attribute.String("input.value", tc.args)}
	}
	return []attribute.KeyValue{attribute.String("agent.tool.name", tc.name), attribute.String("agent.tool.status", tc.status),
		attribute.String("agent.tool.arguments", tc.args)}
}
