package agentspan

import (
	"bytes"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceGrouper orders a batch's spans so that each trace's spans are
// together. Its buffers are reused between calls; not safe for concurrent use.
type TraceGrouper struct {
	order []int32
	heads []pcommon.TraceID
}

// Group returns span indexes ordered by trace. SDKs send a trace's spans
// together, so the batch order is kept (and no sort is paid) when every
// trace's spans are already contiguous.
func (g *TraceGrouper) Group(spans []ptrace.Span) []int32 {
	g.order = g.order[:0]
	for i := range spans {
		g.order = append(g.order, int32(i))
	}
	if !g.contiguous(spans) {
		slices.SortStableFunc(g.order, func(a, b int32) int {
			ta, tb := spans[a].TraceID(), spans[b].TraceID()
			return bytes.Compare(ta[:], tb[:])
		})
	}
	return g.order
}

func (g *TraceGrouper) contiguous(spans []ptrace.Span) bool {
	g.heads = g.heads[:0]
	for i, s := range spans {
		if i == 0 || s.TraceID() != spans[i-1].TraceID() {
			g.heads = append(g.heads, s.TraceID())
		}
	}
	if len(g.heads) <= 1 {
		return true
	}
	slices.SortFunc(g.heads, func(a, b pcommon.TraceID) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < len(g.heads); i++ {
		if g.heads[i] == g.heads[i-1] {
			return false
		}
	}
	return true
}

// NextTrace returns the end (exclusive) of the trace group starting at
// order[start].
func NextTrace(spans []ptrace.Span, order []int32, start int) int {
	tid := spans[order[start]].TraceID()
	end := start + 1
	for end < len(order) && spans[order[end]].TraceID() == tid {
		end++
	}
	return end
}
