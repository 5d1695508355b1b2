package agentmetricsconnector

import (
	"bytes"
	"cmp"
	"container/list"
	"hash/maphash"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/tracestore"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// Sessions: a conversation (gen_ai.conversation.id, session.id,
// agent.conversation.id) is a sequence of runs, one per turn. Each closed
// trace with an entry invocation and a conversation id is a turn. When a
// conversation has been idle for sessions.idle_timeout (wall clock, as the
// drift window), it observes its number of turns and, for each turn after
// the first in start order, its input-token growth: this turn's input
// tokens, cache included, minus the previous turn's (a conversation whose
// context keeps growing shows it). Start order, not close order, so the
// numbers do not depend on how the turns' spans were batched. Conversation
// ids are never labels and never held: the tracker keys on a hash of them
// (seeded per process), bounded by sessions.max_sessions (the least
// recently active one is ended first, and counted) and by maxTurnsKept per
// conversation for the growth (the turn count goes on).

// maxTurnsKept bounds the turns a conversation keeps for its growth.
const maxTurnsKept = 32

var (
	sessionTurnBuckets   = []float64{1, 2, 3, 5, 8, 13, 21, 34, 55, 100}
	sessionGrowthBuckets = []float64{-10000, -1000, 0, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}
)

// session is one conversation's state.
type session struct {
	key      uint64
	turns    int32
	lastSeen int64
	kept     []turn // the first maxTurnsKept turns that have a start
	// agent is the agent of the turn that started first (first: the
	// turn's start, then its agent, so arrival order never decides).
	agent      string
	agentStart int64
}

// turn is one run of a conversation: when it started (its first LLM or
// tool call) and its input tokens.
type turn struct{ start, input int64 }

// sessionTracker holds the open conversations, least recently active first.
type sessionTracker struct {
	seed  maphash.Seed
	m     map[uint64]*list.Element
	order *list.List
	// ended counts conversations ended early because the tracker was full.
	ended int64
}

func newSessionTracker() *sessionTracker {
	return &sessionTracker{seed: maphash.MakeSeed(), m: map[uint64]*list.Element{}, order: list.New()}
}

// turnOf is a closing trace's turn: its input tokens (uncached + cache read
// + cache write) over its calls, each once, and its first LLM call's start,
// else its first tool call's (0: it made no call whose start is held; such
// a turn counts in the turns but not in the growth).
func turnOf(t *tracestore.Trace, res *tracestore.Resolution) turn {
	var tn turn
	first := func(st int64) {
		if st != 0 && (tn.start == 0 || st < tn.start) {
			tn.start = st
		}
	}
	for i := range t.Spans {
		sp := &t.Spans[i]
		if res.Dup[i] || sp.Extra == 0 {
			continue
		}
		switch sp.Kind {
		case agentspan.KindLLM:
			if res.Shadowed[i] {
				continue
			}
			f := &t.LLM[sp.Extra-1]
			tn.input += int64(f.Tokens[0]) + int64(f.Tokens[2]) + int64(f.Tokens[3])
			first(f.Start)
		}
	}
	if tn.start == 0 {
		for i := range t.Spans {
			if sp := &t.Spans[i]; sp.Kind == agentspan.KindTool && sp.Extra > 0 && !res.Dup[i] {
				first(t.Tools[sp.Extra-1].Start)
			}
		}
	}
	return tn
}

// decideTurn records the closing trace as a turn of its conversation. The
// turn is its longest entry invocation's (ties: the lower span id): its
// agent and, when the span names one, its conversation, whatever order the
// spans came in.
func (c *agentConnector) decideTurn(t *tracestore.Trace, res *tracestore.Resolution, now time.Time) {
	if !c.cfg.Sessions.Enabled || t.Conversation == 0 {
		return
	}
	main := int32(-1)
	for _, inv := range res.Invocations {
		if res.Caller[inv] >= 0 {
			continue
		}
		if main < 0 || t.Spans[inv].Seconds > t.Spans[main].Seconds ||
			(t.Spans[inv].Seconds == t.Spans[main].Seconds && bytes.Compare(t.Spans[inv].ID[:], t.Spans[main].ID[:]) < 0) {
			main = inv
		}
	}
	if main < 0 {
		return
	}
	// The run's own conversation id, else the first one of the trace.
	conv := t.Conversation
	if sp := &t.Spans[main]; sp.Extra > 0 && sp.Kind != agentspan.KindLLM && sp.Kind != agentspan.KindTool {
		if own := t.Inv[sp.Extra-1].Conversation; own != 0 {
			conv = own
		}
	}
	st := c.sessions
	key := maphash.String(st.seed, c.store.Strings().String(conv))
	tn := turnOf(t, res)
	agent := c.closing.agent[main]
	el, ok := st.m[key]
	if !ok {
		for st.order.Len() >= c.cfg.Sessions.MaxSessions {
			c.endSession(st.order.Front(), pcommon.NewTimestampFromTime(now))
			st.ended++
		}
		el = st.order.PushBack(&session{key: key, agent: agent, agentStart: tn.start})
		st.m[key] = el
	}
	s := el.Value.(*session)
	s.turns++
	if tn.start != 0 && len(s.kept) < maxTurnsKept {
		s.kept = append(s.kept, tn)
	}
	if ok && tn.start != 0 && (s.agentStart == 0 || tn.start < s.agentStart || (tn.start == s.agentStart && agent < s.agent)) {
		s.agent, s.agentStart = agent, tn.start
	}
	s.lastSeen = now.UnixNano()
	st.order.MoveToBack(el)
}

// endSession observes a conversation's turns and growth, and forgets it.
func (c *agentConnector) endSession(el *list.Element, ts pcommon.Timestamp) {
	s := el.Value.(*session)
	m := c.metrics
	slices.SortFunc(s.kept, func(a, b turn) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.input, b.input))
	})
	agent := s.agent
	m.sessionTurns.Observe(series.Key{agent}, float64(s.turns), pcommon.TraceID{}, pcommon.SpanID{}, ts)
	for i := 1; i < len(s.kept); i++ {
		m.sessionGrowth.Observe(series.Key{agent}, float64(s.kept[i].input-s.kept[i-1].input), pcommon.TraceID{}, pcommon.SpanID{}, ts)
	}
	delete(c.sessions.m, s.key)
	c.sessions.order.Remove(el)
}

// expireSessions ends the conversations idle for the timeout (at flush).
func (c *agentConnector) expireSessions(now time.Time) {
	if !c.cfg.Sessions.Enabled {
		return
	}
	ts := pcommon.NewTimestampFromTime(now)
	limit := now.Add(-c.cfg.Sessions.IdleTimeout).UnixNano()
	for el := c.sessions.order.Front(); el != nil && el.Value.(*session).lastSeen <= limit; el = c.sessions.order.Front() {
		c.endSession(el, ts)
	}
}
