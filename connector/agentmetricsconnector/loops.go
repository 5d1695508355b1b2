package agentmetricsconnector

import (
	"bytes"
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// Loop detection, decided once per trace when it closes. Within one agent
// invocation (the calls it owns, not its sub-agents'), ordered by start:
//   - a tool called with the same arguments (by hash) MinRepeats times, in
//     any order, loops;
//   - a tool called MinRepeats times in a row with no other tool between
//     loops, whatever its arguments.
// Each (invocation, tool) that loops counts once in agent_loops_total,
// however many calls it made. The loop's interval runs from the start of
// its first repeated call to the end of its last; the cost of the
// invocation's own LLM calls that start inside an interval (each call once)
// is agent_loop_cost_usd_total. Calls of a trace with no invocation form one
// group, attributed as their tool calls are.

// loopKey groups an invocation's calls of one tool with one set of arguments.
type loopKey struct {
	name tracestore.Str
	args uint64
}

// loopGroup is the extent and size of one loopKey's calls.
type loopGroup struct {
	first, last int64 // start of the first call, end of the last (unix ns)
	n           int32
}

// loopSpan is one repeated group: its tool and interval.
type loopSpan struct {
	name        tracestore.Str
	first, last int64
}

// loopScratch is reused from close to close (under mu).
type loopScratch struct {
	calls, llms []int32
	same        map[loopKey]loopGroup
	found       []loopSpan
}

// spanEnd is a held span's end (unix ns) from its start and duration.
func spanEnd(start int64, seconds float32) int64 { return start + int64(float64(seconds)*1e9) }

// decideLoops counts the loops of a closing trace.
func (c *agentConnector) decideLoops(t *tracestore.Trace, res *tracestore.Resolution, ts pcommon.Timestamp) {
	minRepeats := c.cfg.Loops.MinRepeats
	if !c.cfg.Loops.Enabled || len(t.Tools) < minRepeats {
		return
	}
	ls := &c.loops
	ls.calls, ls.llms = ls.calls[:0], ls.llms[:0]
	for i := range t.Spans {
		sp := &t.Spans[i]
		if res.Dup[i] || sp.Extra == 0 {
			continue
		}
		switch sp.Kind {
		case agentspan.KindTool:
			if !res.Shadowed[i] {
				ls.calls = append(ls.calls, int32(i))
			}
		case agentspan.KindLLM:
			if !res.Shadowed[i] && sp.Flags&tracestore.HasCost != 0 {
				ls.llms = append(ls.llms, int32(i))
			}
		}
	}
	if len(ls.calls) < minRepeats || !someToolRepeats(t, ls.calls, minRepeats) {
		return
	}
	start := func(i int32) int64 {
		sp := &t.Spans[i]
		if sp.Kind == agentspan.KindTool {
			return t.Tools[sp.Extra-1].Start
		}
		return t.LLM[sp.Extra-1].Start
	}
	byOwnerStart := func(a, b int32) int {
		// Ties (millisecond clocks, parallel calls) by span id, never by
		// arrival.
		return cmp.Or(cmp.Compare(res.Owner[a], res.Owner[b]), cmp.Compare(start(a), start(b)), bytes.Compare(t.Spans[a].ID[:], t.Spans[b].ID[:]))
	}
	slices.SortFunc(ls.calls, byOwnerStart)
	slices.SortFunc(ls.llms, byOwnerStart)
	if ls.same == nil {
		ls.same = make(map[loopKey]loopGroup)
	}
	strs := c.store.Strings()
	m := c.metrics
	llm := 0
	for a := 0; a < len(ls.calls); {
		owner := res.Owner[ls.calls[a]]
		b := a
		for b < len(ls.calls) && res.Owner[ls.calls[b]] == owner {
			b++
		}
		seg := ls.calls[a:b]
		// The LLM calls of the same owner (both lists are sorted by owner).
		for llm < len(ls.llms) && res.Owner[ls.llms[llm]] < owner {
			llm++
		}
		l0 := llm
		for llm < len(ls.llms) && res.Owner[ls.llms[llm]] == owner {
			llm++
		}
		a = b
		if len(seg) < minRepeats {
			continue
		}
		ls.found = ls.found[:0]
		// In a row.
		for r := 0; r < len(seg); {
			name := t.Spans[seg[r]].Name
			q := r
			for q < len(seg) && t.Spans[seg[q]].Name == name {
				q++
			}
			if q-r >= minRepeats {
				lastSp := &t.Spans[seg[q-1]]
				ls.found = append(ls.found, loopSpan{name: name, first: start(seg[r]), last: spanEnd(start(seg[q-1]), lastSp.Seconds)})
			}
			r = q
		}
		// Same arguments, in any order.
		clear(ls.same)
		for _, i := range seg {
			sp := &t.Spans[i]
			args := t.Tools[sp.Extra-1].Args
			if args == 0 {
				continue
			}
			k := loopKey{sp.Name, args}
			g, ok := ls.same[k]
			st, en := start(i), spanEnd(start(i), sp.Seconds)
			if !ok {
				g.first = st
			}
			g.last = max(g.last, en)
			g.n++
			ls.same[k] = g
		}
		for k, g := range ls.same {
			if int(g.n) >= minRepeats {
				ls.found = append(ls.found, loopSpan{name: k.name, first: g.first, last: g.last})
			}
		}
		if len(ls.found) == 0 {
			continue
		}
		agent := c.closing.agent[seg[0]]
		if owner >= 0 {
			agent = c.closing.agent[owner]
		}
		// One loop per tool of this invocation.
		slices.SortFunc(ls.found, func(x, y loopSpan) int { return cmp.Compare(x.name, y.name) })
		for j := range ls.found {
			if j == 0 || ls.found[j].name != ls.found[j-1].name {
				m.loops.Add(series.Key{agent, strs.String(ls.found[j].name)}, 1, ts)
			}
		}
		cost, priced := 0.0, false
		for _, i := range ls.llms[l0:llm] {
			st := start(i)
			for _, f := range ls.found {
				if st >= f.first && st <= f.last {
					cost += t.LLM[t.Spans[i].Extra-1].Cost
					priced = true
					break
				}
			}
		}
		if priced {
			m.loopCost.Add(series.Key{agent}, cost, ts)
		}
	}
	clear(ls.same)
}

// someToolRepeats reports whether any tool is called minRepeats times in the
// trace (a loop needs that): most traces have no such tool, and this answers
// without sorting or a map. Past 32 calls it does not look and says yes.
func someToolRepeats(t *tracestore.Trace, calls []int32, minRepeats int) bool {
	if len(calls) > 32 {
		return true
	}
	for a := range calls {
		name, n := t.Spans[calls[a]].Name, 0
		for _, b := range calls[a:] {
			if t.Spans[b].Name == name {
				n++
			}
		}
		if n >= minRepeats {
			return true
		}
	}
	return false
}
