package tracestore

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// Resolution is the trace-level decision for a closing trace. Its slices
// are indexed like Trace.Spans and reused by the next Resolve.
//
// The contract (docs/conventions.md, "Runs and agents"):
//   - an invocation is an explicit agent span; with none in the trace, a
//     root (no parent, or a remote one) that holds llm or tool spans;
//   - an entry invocation has no invocation among its ancestors;
//   - every span counts against its Owner: itself when it is an
//     invocation, else its innermost enclosing invocation; a span whose
//     ancestry is broken (a parent never arrived) counts against the
//     trace's only invocation when there is exactly one;
//   - an llm span with an llm span beneath it (a framework span around a
//     provider span) is Shadowed: the innermost one is the call. An MCP
//     server tools/call span under the client span of the same call is
//     Shadowed: the client's counts.
type Resolution struct {
	Owner        []int32
	Caller       []int32 // for invocations: the enclosing invocation, -1 for entries
	Entry        []int32 // the entry invocation above Owner, -1 none
	IsInvocation []bool
	Shadowed     []bool
	// Dup: a later copy of a span id already in the trace; it counts for
	// nothing.
	Dup []bool
	// Invocations lists the invocation spans, in span order.
	Invocations []int32
	// LogSpan is, per log signal, the index of the span its record names
	// (-1: not held, or the record named none).
	LogSpan []int32
}

const (
	parentMissing int32 = -1 // has a parent that is not held
	parentNone    int32 = -2 // a local root
)

const (
	unvisited uint8 = iota
	onPath
	visited
)

type resolver struct {
	index      map[pcommon.SpanID]int32
	spans      []Span // of the trace last prepared by indexOf
	indexed    *Trace
	indexedLen int

	parent []int32
	enc    []int32 // nearest strict ancestor invocation, -1 none
	top    []int32 // topmost ancestor-or-self reached, -1 unknown
	broken []bool
	state  []uint8
	path   []int32
	out    Resolution
}

// smallTrace: up to this many spans, a parent is found by a linear scan
// (cheaper than building a map; most agent runs are this small).
const smallTrace = 32

// indexOf prepares find for t (the map is rebuilt only when t changed).
func (r *resolver) indexOf(t *Trace) {
	r.spans = t.Spans
	if len(t.Spans) <= smallTrace || (r.indexed == t && r.indexedLen == len(t.Spans)) {
		return
	}
	clear(r.index)
	for i := range t.Spans {
		if _, ok := r.index[t.Spans[i].ID]; !ok { // the first copy of an id
			r.index[t.Spans[i].ID] = int32(i)
		}
	}
	r.indexed, r.indexedLen = t, len(t.Spans)
}

// find returns the index of the span id in the trace of the last indexOf.
func (r *resolver) find(id pcommon.SpanID) (int32, bool) {
	if len(r.spans) <= smallTrace {
		for i := range r.spans {
			if r.spans[i].ID == id {
				return int32(i), true
			}
		}
		return 0, false
	}
	j, ok := r.index[id]
	return j, ok
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// Resolve decides invocations and attribution for t. The result is valid
// until the next call.
func (s *Store) Resolve(t *Trace) *Resolution {
	r := &s.res
	r.indexOf(t)
	r.indexed = nil // the index is not kept across a close
	n := len(t.Spans)
	r.parent = grow(r.parent, n)
	out := &r.out
	out.IsInvocation = grow(out.IsInvocation, n)
	out.Shadowed = grow(out.Shadowed, n)
	explicit := 0
	out.Dup = grow(out.Dup, n)
	for i := range t.Spans {
		sp := &t.Spans[i]
		// A span id seen before (an exporter's retry delivered it twice)
		// is the same span: only its first copy counts.
		if j, _ := r.find(sp.ID); int(j) != i {
			out.Dup[i] = true
		}
		switch {
		case sp.Parent.IsEmpty():
			r.parent[i] = parentNone
		default:
			// A parent in another process is linked when it is held (an
			// agent called over the network by another agent); else the
			// span is a local root.
			j, ok := r.find(sp.Parent)
			switch {
			case ok && int(j) != i:
				r.parent[i] = j
			case sp.Flags&RemoteParent != 0:
				r.parent[i] = parentNone
			default:
				r.parent[i] = parentMissing
			}
		}
		if sp.Flags&Explicit != 0 && !out.Dup[i] {
			out.IsInvocation[i] = true
			explicit++
		}
	}
	out.LogSpan = grow(out.LogSpan, len(t.LogSignals))
	for i := range t.LogSignals {
		out.LogSpan[i] = -1
		if id := t.LogSignals[i].SpanID; !id.IsEmpty() {
			if j, ok := r.find(id); ok {
				out.LogSpan[i] = j
			}
		}
	}
	r.spans = nil
	r.walk(n)
	if explicit == 0 {
		// A root that holds llm or tool spans is the run (a framework's
		// generic chain span, an HTTP handler).
		implicit := false
		for i := range t.Spans {
			if k := t.Spans[i].Kind; k != agentspan.KindLLM && k != agentspan.KindTool {
				continue
			}
			root := r.top[i]
			if root < 0 || int(root) == i || r.parent[root] != parentNone {
				continue
			}
			if rs := &t.Spans[root]; rs.Kind == agentspan.KindOther && rs.Flags&KindFixed == 0 && !out.IsInvocation[root] && !out.Dup[root] {
				out.IsInvocation[root] = true
				implicit = true
			}
		}
		if implicit {
			r.walk(n)
		}
	}
	out.Invocations = out.Invocations[:0]
	for i := range n {
		if out.IsInvocation[i] {
			out.Invocations = append(out.Invocations, int32(i))
		}
	}
	out.Owner = grow(out.Owner, n)
	out.Caller = grow(out.Caller, n)
	out.Entry = grow(out.Entry, n)
	only := int32(-1)
	if len(out.Invocations) == 1 {
		only = out.Invocations[0]
	}
	for i := range n {
		out.Caller[i] = -1
		switch {
		case out.IsInvocation[i]:
			out.Owner[i] = int32(i)
			if r.enc[i] != int32(i) { // itself, through a parent cycle
				out.Caller[i] = r.enc[i]
			}
		case r.enc[i] >= 0:
			out.Owner[i] = r.enc[i]
		case r.broken[i]:
			out.Owner[i] = only
		default:
			out.Owner[i] = -1
		}
	}
	// Entries: follow callers up (callers are invocations, so this ends).
	for _, inv := range out.Invocations {
		e, steps := inv, 0
		for out.Caller[e] >= 0 && steps <= n {
			e = out.Caller[e]
			steps++
		}
		out.Entry[inv] = e
	}
	for i := range n {
		if !out.IsInvocation[i] {
			out.Entry[i] = -1
			if o := out.Owner[i]; o >= 0 {
				out.Entry[i] = out.Entry[o]
			}
		}
	}
	// An llm span above another llm span (before any invocation) is not a
	// call of its own.
	for i := range t.Spans {
		if t.Spans[i].Kind != agentspan.KindLLM || r.inCycle(i) || out.Dup[i] {
			continue
		}
		for p, steps := r.parent[i], 0; p >= 0 && !out.IsInvocation[p] && steps < n; p, steps = r.parent[p], steps+1 {
			if t.Spans[p].Kind == agentspan.KindLLM {
				if out.Shadowed[p] {
					break // marked by another walk, which went on above it
				}
				out.Shadowed[p] = true
			}
		}
	}
	// An MCP tools/call server span right under the client span of the same
	// call (context propagated through params._meta) is that call again:
	// the client's, the agent's view, counts.
	for i := range t.Spans {
		sp := &t.Spans[i]
		if sp.Kind != agentspan.KindTool || sp.Flags&MCP == 0 || out.Dup[i] {
			continue
		}
		if p := r.parent[i]; p >= 0 && t.Spans[p].Kind == agentspan.KindTool && t.Spans[p].Flags&MCP != 0 && t.Spans[p].Name == sp.Name {
			out.Shadowed[i] = true
		}
	}
	return out
}

// maxScratch: resolver scratch kept between traces, in spans. After a
// larger trace it is released (the budget does not count it).
const maxScratch = 1 << 16

// release drops scratch grown by a huge trace.
func (r *resolver) release() {
	if cap(r.parent) <= maxScratch {
		return
	}
	*r = resolver{index: map[pcommon.SpanID]int32{}}
}

// walk computes, for every span, its nearest strict ancestor invocation
// (enc), the topmost ancestor it reaches (top) and whether its ancestry is
// broken (a missing parent or a cycle), each parent chain walked once.
func (r *resolver) walk(n int) {
	out := &r.out
	r.enc = grow(r.enc, n)
	r.top = grow(r.top, n)
	r.broken = grow(r.broken, n)
	r.state = grow(r.state, n)
	for i := range n {
		if r.state[i] == visited {
			continue
		}
		r.path = append(r.path[:0], int32(i))
		r.state[i] = onPath
		cur := int32(i)
		var enc, top int32
		var broken bool
		for {
			p := r.parent[cur]
			if p < 0 {
				enc, top, broken = -1, cur, p == parentMissing
				break
			}
			if out.IsInvocation[p] {
				enc, top, broken = p, r.topOf(p), false
				break
			}
			if r.state[p] == visited {
				enc, top, broken = r.enc[p], r.top[p], r.broken[p]
				break
			}
			if r.state[p] == onPath { // a cycle in bad input
				enc, top, broken = -1, -1, true
				break
			}
			r.state[p] = onPath
			r.path = append(r.path, p)
			cur = p
		}
		for _, j := range r.path {
			r.enc[j], r.top[j], r.broken[j], r.state[j] = enc, top, broken, visited
		}
	}
}

// inCycle: the span's ancestry loops (bad input) without meeting an
// invocation; walk marks exactly those with no enclosing invocation and no
// top.
func (r *resolver) inCycle(i int) bool { return r.broken[i] && r.enc[i] < 0 && r.top[i] < 0 }

// topOf is the topmost ancestor-or-self of an invocation p (only needed
// when the trace has no explicit invocation, where no walk stops at one).
func (r *resolver) topOf(p int32) int32 {
	if r.state[p] == visited {
		return r.top[p]
	}
	return -1
}
