package tracestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

const sec = int64(time.Second)

func settings() Settings {
	return Settings{Grace: 5 * time.Second, IdleTimeout: 30 * time.Minute, MaxTraces: 100, MaxSpans: 1000, MaxBytes: 1 << 30, MaxStringLength: 16, DecisionRetention: 30 * time.Minute}
}

type closed struct {
	id     pcommon.TraceID
	reason Reason
	spans  int
}

func collect(out *[]closed) OnClose {
	return func(t *Trace, r Reason) { *out = append(*out, closed{t.ID, r, len(t.Spans)}) }
}

func tid(i int) pcommon.TraceID { return pcommon.TraceID{byte(i), byte(i >> 8), 1} }

func add(s *Store, id pcommon.TraceID, now int64, on OnClose, spans ...Span) *Trace {
	t := s.Get(id)
	if t == nil {
		t = s.Open(id, now)
	}
	for _, sp := range spans {
		sp.Agent = s.Strings().Intern("agent")
		t.AddSpan(sp)
	}
	s.Touched(t, now, on)
	return t
}

func TestCompleteTraceClosesAfterGraceRenewedBySpans(t *testing.T) {
	s := New(settings())
	var got []closed
	on := collect(&got)
	add(s, tid(1), 0, on, node(2, 1, llm, 0))
	s.CloseDue(10*sec, on)
	assert.Empty(t, got, "no root yet: waits (idle timeout is 30m)")
	add(s, tid(1), 10*sec, on, node(1, 0, run, Explicit))
	s.CloseDue(14*sec, on)
	assert.Empty(t, got, "complete, but the grace has not passed")
	add(s, tid(1), 14*sec, on, node(3, 1, tool, 0)) // a late child renews it
	s.CloseDue(18*sec, on)
	assert.Empty(t, got)
	s.CloseDue(19*sec, on)
	require.Len(t, got, 1)
	assert.Equal(t, closed{tid(1), Completed, 3}, got[0])
	assert.Zero(t, s.Len())
	assert.Zero(t, s.Spans())
	assert.Zero(t, s.Strings().Len(), "strings freed with their last trace")
}

func TestIncompleteTraceWaitsForTheIdleTimeoutRenewedBySpans(t *testing.T) {
	s := New(settings())
	var got []closed
	on := collect(&got)
	// A two-hour run: a span every 10 minutes, root never comes.
	for m := range 12 {
		add(s, tid(1), int64(m)*600*sec, on, node(byte(m+2), 1, llm, 0))
		s.CloseDue(int64(m)*600*sec+599*sec, on)
	}
	assert.Empty(t, got, "held as long as spans keep coming")
	s.CloseDue(11*600*sec+30*60*sec, on)
	require.Len(t, got, 1)
	assert.Equal(t, Expired, got[0].reason)
	// A root present with a missing parent in between is not complete.
	add(s, tid(2), 0, on, node(1, 0, run, Explicit), node(3, 2, llm, 0))
	s.CloseDue(60*sec, on)
	assert.Len(t, got, 1)
	// A remote-parent root is a local root.
	add(s, tid(3), 0, on, node(1, 9, run, Explicit|RemoteParent), node(3, 1, llm, 0))
	s.CloseDue(60*sec, on)
	require.Len(t, got, 2)
	assert.Equal(t, closed{tid(3), Completed, 2}, got[1])
}

func TestBudgetEvictsLeastRecentlyActive(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Settings)
	}{
		{"traces", func(s *Settings) { s.MaxTraces = 3 }},
		{"spans", func(s *Settings) { s.MaxSpans = 6 }},
		{"bytes", func(s *Settings) { s.MaxBytes = 3*(TraceBytes+2*SpanBytes) + 64 + stringOverhead + 8 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := settings()
			tc.set(&set)
			s := New(set)
			var got []closed
			on := collect(&got)
			for i := range 3 {
				add(s, tid(i), int64(i)*sec, on, node(1, 9, llm, 0), node(2, 9, llm, 0))
			}
			assert.Empty(t, got)
			add(s, tid(0), 3*sec, on) // trace 0 is active again
			add(s, tid(3), 4*sec, on, node(1, 9, llm, 0), node(2, 9, llm, 0))
			require.Len(t, got, 1)
			assert.Equal(t, closed{tid(1), Evicted, 2}, got[0], "the least recently active, not the oldest")
			assert.Equal(t, 3, s.Len())
			assert.Equal(t, 6, s.Spans())
		})
	}
}

func TestCloseAllOnShutdown(t *testing.T) {
	s := New(settings())
	var got []closed
	on := collect(&got)
	add(s, tid(1), 0, on, node(1, 0, run, Explicit))
	add(s, tid(2), 0, on, node(2, 1, llm, 0))
	s.CloseAll(sec, on)
	require.Len(t, got, 2)
	assert.Equal(t, Shutdown, got[0].reason)
	assert.Equal(t, Shutdown, got[1].reason)
	assert.Zero(t, s.Len())
}

func TestDecisionCacheBoundedInCountAndAge(t *testing.T) {
	set := settings()
	set.MaxTraces = 10
	s := New(set)
	for i := range 25 {
		s.Decide(tid(i), fmt.Sprint("a", i), int64(i)*sec, nil, nil)
	}
	assert.Equal(t, 10, s.Decisions())
	_, ok := s.Decided(tid(14))
	assert.False(t, ok, "oldest forgotten first")
	d, ok := s.Decided(tid(24))
	require.True(t, ok)
	assert.Equal(t, "a24", d.Agent)
	s.CloseDue(24*sec+30*60*sec, collect(new([]closed)))
	assert.Zero(t, s.Decisions(), "forgotten after the retention")
}

func TestInternerSharesCapsAndFrees(t *testing.T) {
	in := newInterner(4)
	a := in.Intern("support-bot")
	b := in.Intern("supp-other")
	assert.Equal(t, a, b, "capped to the same 4 bytes")
	assert.Equal(t, "supp", in.String(a))
	c := in.Intern("x")
	assert.Equal(t, 2, in.Len())
	in.Release(a)
	assert.Equal(t, 2, in.Len(), "one reference left")
	in.Release(b)
	assert.Equal(t, 1, in.Len())
	d := in.Intern("y")
	assert.Equal(t, a, d, "a freed handle is reused")
	in.Release(c)
	in.Release(d)
	assert.Zero(t, in.Len())
	assert.Zero(t, in.Bytes())
	assert.Equal(t, Str(0), in.Intern(""))
}

func TestHeldStateIsCompact(t *testing.T) {
	// The bound: at most 64 bytes of state per held span.
	assert.LessOrEqual(t, SpanBytes, int64(64))
	t.Logf("span %d B, llm facts %d B, invocation facts %d B, signal %d B, trace %d B", SpanBytes, LLMBytes, InvBytes, SignalBytes, TraceBytes)
}

// A closed trace's struct is recycled: the resolver's cached index of the
// old trace (same pointer, same length) must never answer for the new one.
func TestRecycledTraceNeverUsesAStaleIndex(t *testing.T) {
	s := New(settings())
	on := func(*Trace, Reason) {}
	fill := func(tr *Trace, base byte) { // 40 spans: an agent root and its calls
		tr.AddSpan(node(base, 0, run, Explicit))
		for i := byte(1); i < 40; i++ {
			tr.AddSpan(node(base+i, base, llm, 0))
		}
	}
	a := s.Open(tid(1), 0)
	fill(a, 100)
	s.Touched(a, 0, on)
	ok, _ := s.complete(a) // builds the index of a (more than 32 spans)
	require.True(t, ok)
	s.CloseAll(0, on) // a closes without Resolve (any OnClose may)
	b := s.Open(tid(2), 0)
	require.Same(t, a, b, "the struct is recycled")
	fill(b, 10)
	s.Touched(b, 0, on)
	ok, _ = s.complete(b)
	assert.True(t, ok, "b is complete: its own index, not a's")
}
