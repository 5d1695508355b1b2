// Package agentsim emulates a fleet of AI agents sending OTLP traces through
// the OpenTelemetry Go SDK: runs of LLM calls and tool calls in the seed's
// agent.* convention, the OpenTelemetry GenAI semconv or OpenInference, with
// scenarios (error, latency, cost, tool failure, hallucination spikes, the
// tool-selection drift incident and runs stuck in a tool loop) that start at
// chosen times. Half the LLM calls are streamed and say their time to first
// token. It is deterministic for a seed and counts exactly what it sent.
package agentsim

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
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
}

// Totals is exactly what was sent, for tests to compare with.
type Totals struct {
	Runs           int                       `json:"runs"`
	Requests       map[string]map[string]int `json:"requests"`        // agent -> status -> n
	LLMCalls       map[string]int            `json:"llm_calls"`       // agent -> n
	InputTokens    map[string]int64          `json:"input_tokens"`    // agent -> n
	OutputTokens   map[string]int64          `json:"output_tokens"`   // agent -> n
	ToolCalls      map[string]map[string]int `json:"tool_calls"`      // agent -> "tool/status" -> n
	ReasoningSteps map[string]int            `json:"reasoning_steps"` // agent -> sum over runs
	Hallucinations map[string]int            `json:"hallucinations"`  // agent -> n
	Feedback       map[string]int            `json:"feedback"`        // agent -> number of scores
	Loops          map[string]map[string]int `json:"loops"`           // agent -> tool -> runs stuck in a loop of it
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
}

func newTotals() *Totals {
	return &Totals{
		Requests: map[string]map[string]int{}, LLMCalls: map[string]int{}, InputTokens: map[string]int64{},
		OutputTokens: map[string]int64{}, ToolCalls: map[string]map[string]int{}, ReasoningSteps: map[string]int{},
		Hallucinations: map[string]int{}, Feedback: map[string]int{}, Loops: map[string]map[string]int{}, LoopLLMCalls: map[string]int{},
		StreamedCalls: map[string]int{}, TTFTSeconds: map[string]float64{},
	}
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
	totals *Totals
	n      int
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
		totals: newTotals()}
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
	return p
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
	t := start.Add(5 * time.Millisecond)
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
			t = s.tool(runCtx, p.conv, tc, t)
			if p.loop {
				t = t.Add(loopGap)
			}
		}
	}
	for ; ti < len(p.tools); ti++ {
		t = s.tool(runCtx, p.conv, p.tools[ti], t)
	}
	if p.failed {
		run.SetStatus(codes.Error, "agent run failed")
	}
	if p.feedback > 0 {
		run.SetAttributes(attribute.Int("agent.feedback.score", p.feedback))
	}
	run.End(trace.WithTimestamp(t.Add(5 * time.Millisecond)))
	s.count(p)
}

// tool emits one tool span starting at t and returns its end. A failed call
// carries an agent.recovery event (the agent retries); a refund carries an
// agent.approval event (refunds need a human's approval).
func (s *Sim) tool(ctx context.Context, conv string, tc toolCall, t time.Time) time.Time {
	_, ts := s.tracer.Start(ctx, toolName(conv, tc.name), trace.WithTimestamp(t), trace.WithAttributes(toolAttrs(conv, tc)...))
	if tc.status != "success" {
		ts.SetStatus(codes.Error, "tool failed")
		ts.AddEvent("agent.recovery", trace.WithTimestamp(t.Add(tc.dur)), trace.WithAttributes(attribute.String("agent.recovery.strategy", "retry")))
	}
	if tc.name == "process_refund" {
		ts.AddEvent("agent.approval", trace.WithTimestamp(t), trace.WithAttributes(attribute.String("agent.approval.result", "approved")))
	}
	end := t.Add(tc.dur)
	ts.End(trace.WithTimestamp(end))
	return end
}

func (s *Sim) count(p plan) {
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
}

// Totals returns a copy of what was sent so far.
func (s *Sim) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.totals
	out := Totals{
		Runs: t.Runs, Requests: map[string]map[string]int{}, ToolCalls: map[string]map[string]int{},
		LLMCalls: maps.Clone(t.LLMCalls), InputTokens: maps.Clone(t.InputTokens), OutputTokens: maps.Clone(t.OutputTokens),
		ReasoningSteps: maps.Clone(t.ReasoningSteps), Hallucinations: maps.Clone(t.Hallucinations), Feedback: maps.Clone(t.Feedback),
		Loops: map[string]map[string]int{}, LoopLLMCalls: maps.Clone(t.LoopLLMCalls),
		StreamedCalls: maps.Clone(t.StreamedCalls), TTFTSeconds: maps.Clone(t.TTFTSeconds),
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

func runAttrs(p plan) []attribute.KeyValue {
	switch p.conv {
	case ConvGenAI:
		return []attribute.KeyValue{attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", p.agent)}
	case ConvOpenInference:
		return []attribute.KeyValue{attribute.String("openinference.span.kind", "AGENT"), attribute.String("agent.name", p.agent)}
	}
	// The seed's agents report their own step count (a step per model call
	// and per tool call), which the connector takes over counting LLM calls.
	return []attribute.KeyValue{attribute.String("agent.agent.id", p.agent), attribute.Int("agent.run.total_steps", p.steps())}
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
