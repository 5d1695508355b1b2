package agentmetricsconnector

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// closeState is scratch space for closing one trace (under mu).
type closeState struct {
	agent    []string // per span: the agent id its observations count under
	llm      []int32  // per invocation span: its own llm calls
	tools    []int32  // per invocation span: its own tool calls
	treeCost []float64
	hasCost  []bool
	// firstCallee: per workflow invocation, the first agent it calls (-1 none).
	firstCallee []int32
	prints      []tracestore.Print     // signals counted, for the decision cache
	owners      []tracestore.SpanOwner // spans of sub-agents, for the decision cache
}

// onClose is the store's OnClose: the trace's metrics, decided once on the
// whole tree. Closes are tallied and reported by reportHeld.
func (c *agentConnector) onClose(t *tracestore.Trace, reason tracestore.Reason) {
	c.decide(t, c.now())
	c.closed[reason]++
}

// decide emits every metric of a closing trace.
func (c *agentConnector) decide(t *tracestore.Trace, now time.Time) {
	res := c.store.Resolve(t)
	strs := c.store.Strings()
	n := len(t.Spans)
	cs := &c.closing
	cs.agent = grow(cs.agent, n)
	cs.llm = grow(cs.llm, n)
	cs.tools = grow(cs.tools, n)
	cs.treeCost = grow(cs.treeCost, n)
	cs.hasCost = grow(cs.hasCost, n)

	// The agent id of each invocation: its own, else one named by a span
	// it owns, else its service.name; the same fallback for every series
	// of the invocation.
	for _, inv := range res.Invocations {
		cs.agent[inv] = strs.String(t.Spans[inv].Agent)
	}
	for i := range t.Spans {
		if o := res.Owner[i]; o >= 0 && cs.agent[o] == "" && t.Spans[i].Agent != 0 {
			cs.agent[o] = strs.String(t.Spans[i].Agent)
		}
	}
	conv := ""
	if len(res.Invocations) == 0 && t.Conversation != 0 {
		conv = c.conversations[strs.String(t.Conversation)]
	}
	for i := range t.Spans {
		sp := &t.Spans[i]
		switch o := res.Owner[i]; {
		case res.IsInvocation[i]:
			if cs.agent[i] == "" {
				cs.agent[i] = fallbackAgent(strs.String(sp.Service))
			}
		case o >= 0:
			// Set below, once the owner's fallback is known.
		case sp.Agent != 0:
			cs.agent[i] = strs.String(sp.Agent)
		case conv != "":
			cs.agent[i] = conv
		default:
			cs.agent[i] = fallbackAgent(strs.String(sp.Service))
		}
	}
	// A workflow wrapper that calls agents (the OpenAI Agents SDK's trace
	// root as OpenInference and OpenLLMetry emit it, an invoke_workflow
	// span) is named by the first agent it calls, in span order: that is
	// the agent the user asked. One pass over the invocations.
	cs.firstCallee = grow(cs.firstCallee, n)
	for _, inv := range res.Invocations {
		cs.firstCallee[inv] = -1
	}
	for _, inv := range res.Invocations {
		if c := res.Caller[inv]; c >= 0 && t.Spans[c].Flags&tracestore.Workflow != 0 &&
			t.Spans[inv].Flags&tracestore.Workflow == 0 && cs.firstCallee[c] < 0 {
			cs.firstCallee[c] = inv
		}
	}
	for _, inv := range res.Invocations {
		if f := cs.firstCallee[inv]; f >= 0 {
			cs.agent[inv] = cs.agent[f]
		}
	}
	for i := range t.Spans {
		if o := res.Owner[i]; o >= 0 && !res.IsInvocation[i] {
			cs.agent[i] = cs.agent[o]
		}
	}

	// Calls, counted once against their owner.
	relevant := len(res.Invocations) > 0 || len(t.Signals) > 0 || len(t.LogSignals) > 0
	for i := range t.Spans {
		sp := &t.Spans[i]
		if res.Dup[i] {
			continue
		}
		var o obs
		switch sp.Kind {
		case agentspan.KindLLM:
			if res.Shadowed[i] {
				continue
			}
			f := &t.LLM[sp.Extra-1]
			o = obs{kind: obsLLM, name: strs.String(sp.Name), failed: sp.Flags&tracestore.Error != 0, spanID: sp.ID,
				tokens: [4]int64{int64(f.Tokens[0]), int64(f.Tokens[1]), int64(f.Tokens[2]), int64(f.Tokens[3])},
				value:  float64(sp.Seconds), cost: f.Cost, hasCost: sp.Flags&tracestore.HasCost != 0,
				ttft: float64(f.TTFT), hasTTFT: sp.Flags&tracestore.HasTTFT != 0, tenant: strs.String(f.Tenant)}
			if len(t.GenAI) > 0 {
				g := &t.GenAI[sp.Extra-1]
				o.genai = genaiLabels{operation: strs.String(g.Operation), provider: strs.String(g.Provider),
					requestModel: strs.String(g.RequestModel), responseModel: strs.String(g.ResponseModel)}
			}
			if own := res.Owner[i]; own >= 0 {
				cs.llm[own]++
			}
			if e := res.Entry[i]; e >= 0 && o.hasCost {
				cs.treeCost[e] += o.cost
				cs.hasCost[e] = true
			}
		case agentspan.KindTool:
			if res.Shadowed[i] {
				continue
			}
			o = obs{kind: obsTool, name: strs.String(sp.Name), status: strs.String(sp.Status), spanID: sp.ID, value: float64(sp.Seconds)}
			if own := res.Owner[i]; own >= 0 {
				cs.tools[own]++
			}
		default:
			continue
		}
		relevant = true
		c.emit(cs.agent[i], t.ID, &o, now)
	}
	// A remote agent's call that reports the agent's usage is that agent's
	// one LLM call, unless its own LLM spans are in the trace (the remote
	// agent exports here too): then they are the calls, counted above.
	for _, inv := range res.Invocations {
		sp := &t.Spans[inv]
		if sp.Flags&tracestore.RemoteUsage == 0 || cs.llm[inv] > 0 || sp.Extra == 0 {
			continue
		}
		f := &t.Inv[sp.Extra-1]
		o := obs{kind: obsLLM, name: strs.String(f.Model), failed: sp.Flags&tracestore.Error != 0, spanID: sp.ID,
			tokens: [4]int64{int64(f.Tokens[0]), int64(f.Tokens[1]), int64(f.Tokens[2]), int64(f.Tokens[3])},
			value:  float64(sp.Seconds), cost: f.Cost, hasCost: sp.Flags&tracestore.RemoteCost != 0}
		cs.llm[inv]++
		if e := res.Entry[inv]; e >= 0 && o.hasCost {
			cs.treeCost[e] += o.cost
			cs.hasCost[e] = true
		}
		relevant = true
		c.emit(cs.agent[inv], t.ID, &o, now)
	}
	cs.prints = cs.prints[:0]
	for i := range t.Signals {
		sg := &t.Signals[i]
		if res.Dup[sg.Span] {
			continue
		}
		o := obs{kind: obsSignal, sig: sg.Kind, name: strs.String(sg.Name), value: sg.Value, spanID: t.Spans[sg.Span].ID}
		if sg.Kind == tracestore.SigFeedback {
			o.kind = obsFeedback
		}
		c.emit(cs.agent[sg.Span], t.ID, &o, now)
		cs.prints = append(cs.prints, tracestore.Print{Hash: tracestore.SignalHash(o.spanID, sg.Kind, o.name, o.value)})
	}
	c.decideLogSignals(t, res, now)

	// Invocations: every one counts in agent_invocations_total and its own
	// reasoning steps and tool calls; entries are the requests and tasks.
	ts := pcommon.NewTimestampFromTime(now)
	m := c.metrics
	primary := ""
	for _, inv := range res.Invocations {
		sp := &t.Spans[inv]
		agent := cs.agent[inv]
		failed := sp.Flags&tracestore.Error != 0
		status := "success"
		if failed {
			status = "failure"
		}
		caller := ""
		if cl := res.Caller[inv]; cl >= 0 {
			caller = cs.agent[cl]
		}
		m.invocations.Add(series.Key{agent, caller, status}, 1, ts)
		var facts tracestore.InvFacts
		if sp.Extra > 0 && sp.Kind != agentspan.KindLLM && sp.Kind != agentspan.KindTool {
			facts = t.Inv[sp.Extra-1]
		}
		steps := int64(cs.llm[inv])
		if sp.Flags&tracestore.HasTotalSteps != 0 {
			steps = int64(facts.TotalSteps)
		}
		m.reasoningSteps.Observe(series.Key{agent}, float64(steps), t.ID, sp.ID, ts)
		m.toolCallsPerRun.Observe(series.Key{agent}, float64(cs.tools[inv]), t.ID, sp.ID, ts)
		if m.genaiAgentDuration != nil {
			// Every invocation, nested ones too, each call once against
			// the agent that made it.
			m.genaiAgentDuration.Observe(series.Key{agent, errorType(failed, "")}, float64(sp.Seconds), t.ID, sp.ID, ts)
			m.genaiInferenceCalls.Observe(series.Key{agent}, float64(cs.llm[inv]), t.ID, sp.ID, ts)
			m.genaiToolCalls.Observe(series.Key{agent}, float64(cs.tools[inv]), t.ID, sp.ID, ts)
		}
		if res.Caller[inv] >= 0 {
			continue
		}
		if primary == "" {
			primary = agent
		}
		dur := float64(sp.Seconds)
		m.requests.Add(series.Key{agent, status}, 1, ts)
		m.requestDuration.Observe(series.Key{agent}, dur, t.ID, sp.ID, ts)
		if cs.hasCost[inv] {
			m.runCost.Observe(series.Key{agent}, cs.treeCost[inv], t.ID, sp.ID, ts)
		}
		outcome := strs.String(facts.TaskOutcome)
		if outcome == "" {
			outcome = "completed"
			if failed {
				outcome = "failed"
			}
		}
		taskType := strs.String(facts.TaskType)
		if taskType == "" {
			taskType = "default"
		}
		m.tasks.Add(series.Key{agent, taskType, outcome}, 1, ts)
	}
	c.decideLoops(t, res, ts)
	if primary == "" && n > 0 {
		primary = cs.agent[0]
	}
	if primary == "" && len(t.LogSignals) > 0 {
		primary = c.logSignalAgent(&t.LogSignals[0], "")
	}
	// Traces with nothing agent-related in them (parts of plain traces
	// held until they closed) take no room in the decision cache.
	if relevant {
		cs.owners = cs.owners[:0]
		for i := range t.Spans {
			if cs.agent[i] != primary && !res.Dup[i] && len(cs.owners) < tracestore.MaxRemembered {
				cs.owners = append(cs.owners, tracestore.SpanOwner{Span: t.Spans[i].ID, Agent: cs.agent[i]})
			}
		}
		c.store.Decide(t.ID, primary, now.UnixNano(), cs.prints, cs.owners)
		clear(cs.owners)
	}
	if t.Conversation != 0 && primary != "" {
		c.rememberConversation(strs.String(t.Conversation), primary)
	}
	c.decideTurn(t, res, now)
	clear(cs.agent) // do not keep strings of the closed trace reachable
	if cap(cs.agent) > maxScratchSpans {
		*cs = closeState{} // one huge trace must not pin its scratch
	}
}

// decideLogSignals counts the signals of the trace's log records: against
// the agent that owns the span the record names, as a span event there
// would be; once when the same verdict is also a span event of that span.
// A record whose span is not in the trace counts against the agent it
// names, else the trace's first entry agent, else its service.
func (c *agentConnector) decideLogSignals(t *tracestore.Trace, res *tracestore.Resolution, now time.Time) {
	if len(t.LogSignals) == 0 {
		return
	}
	cs := &c.closing
	strs := c.store.Strings()
	entry := ""
	for _, inv := range res.Invocations {
		if res.Caller[inv] < 0 {
			entry = cs.agent[inv]
			break
		}
	}
	spanPrints := len(cs.prints)
	for i := range t.LogSignals {
		ls := &t.LogSignals[i]
		o := obs{kind: obsSignal, sig: ls.Kind, name: strs.String(ls.Name), value: ls.Value, spanID: ls.SpanID}
		if ls.Kind == tracestore.SigFeedback {
			o.kind = obsFeedback
		}
		h := tracestore.SignalHash(ls.SpanID, ls.Kind, o.name, o.value)
		agent := ""
		if j := res.LogSpan[i]; j >= 0 {
			if k := findPrint(cs.prints[:spanPrints], h); k >= 0 {
				// The span carried the same verdict: counted there. Its
				// print is used up.
				cs.prints[k].Hash = 0
				continue
			}
			agent = cs.agent[j]
		} else {
			agent = c.logSignalAgent(ls, entry)
		}
		c.emit(agent, t.ID, &o, now)
		cs.prints = append(cs.prints, tracestore.Print{Hash: h, FromLog: true})
	}
}

func findPrint(ps []tracestore.Print, h uint64) int {
	for k := range ps {
		if ps[k].Hash == h {
			return k
		}
	}
	return -1
}

// logSignalAgent: the agent a record names, else entry, else its service.
func (c *agentConnector) logSignalAgent(ls *tracestore.LogSignal, entry string) string {
	strs := c.store.Strings()
	if a := strs.String(ls.Agent); a != "" {
		return a
	}
	if entry != "" {
		return entry
	}
	return fallbackAgent(strs.String(ls.Service))
}

// fallbackAgent is the agent id of a run that names none: its service.
func fallbackAgent(service string) string {
	if service == "" {
		return "unknown"
	}
	return service
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}
