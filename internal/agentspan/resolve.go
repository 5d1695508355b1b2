package agentspan

import "go.opentelemetry.io/collector/pdata/pcommon"

// Node is one span of a trace as ResolveRuns sees it.
type Node struct {
	SpanID, ParentID pcommon.SpanID
	Info             *Info
}

// maxAncestorWalk bounds the parent walk (protects against cycles in bad input).
const maxAncestorWalk = 64

// ResolveRuns applies the trace-level run rules to the spans of one trace
// that are at hand (a batch may hold only part of a trace):
//
//  1. The outermost explicit agent/workflow span wins: an explicit run
//     nested under another explicit run (a sub-agent) becomes KindOther,
//     unless its kind was fixed by agent.span.kind or a user rule.
//  2. With no explicit run, the root span (no parent) becomes the run when
//     the trace contains llm or tool spans (a framework's generic chain span).
//
// It returns the index of the run node, or -1. index maps span IDs to nodes
// and is reused between calls to avoid allocation; it is cleared first.
func ResolveRuns(nodes []Node, index map[pcommon.SpanID]int) int {
	explicit, hasWork, root, first := 0, false, -1, -1
	for i := range nodes {
		in := nodes[i].Info
		if in.ExplicitRun {
			if explicit == 0 {
				first = i
			}
			explicit++
		}
		if in.Kind == KindLLM || in.Kind == KindTool {
			hasWork = true
		}
		if nodes[i].ParentID.IsEmpty() {
			root = i
		}
	}
	switch explicit {
	case 0:
		if root >= 0 && hasWork && !nodes[root].Info.KindFixed && nodes[root].Info.Kind == KindOther {
			nodes[root].Info.Kind = KindRun
			return root
		}
		return -1
	case 1: // the common case: nothing to nest, no index needed
		return first
	}
	clear(index)
	for i := range nodes {
		index[nodes[i].SpanID] = i
	}
	run := -1
	for i := range nodes {
		in := nodes[i].Info
		if !in.ExplicitRun {
			continue
		}
		if hasExplicitAncestor(nodes, index, i) {
			if !in.KindFixed {
				in.Kind = KindOther
			}
			continue
		}
		if run < 0 {
			run = i
		}
	}
	return run
}

func hasExplicitAncestor(nodes []Node, index map[pcommon.SpanID]int, i int) bool {
	p := nodes[i].ParentID
	for range maxAncestorWalk {
		if p.IsEmpty() {
			return false
		}
		j, ok := index[p]
		if !ok {
			return false
		}
		if nodes[j].Info.ExplicitRun {
			return true
		}
		p = nodes[j].ParentID
	}
	return false
}

// RunAgentID returns the agent id the spans of a run share: the run span's
// own, else the first one found on any span of the trace.
func RunAgentID(nodes []Node, run int) string {
	if run >= 0 && nodes[run].Info.AgentID != "" {
		return nodes[run].Info.AgentID
	}
	for i := range nodes {
		if id := nodes[i].Info.AgentID; id != "" {
			return id
		}
	}
	return ""
}
