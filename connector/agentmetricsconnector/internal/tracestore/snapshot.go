package tracestore

import "time"

// Snapshot is the open traces as values (for a checkpoint): each with its
// strings spelled out, so a new store interns them again.
type Snapshot struct {
	Traces []TraceSnapshot
}

// TraceSnapshot is one open trace; Strings holds the text of every Str its
// facts name (index = the Str in the facts).
type TraceSnapshot struct {
	Trace   Trace
	Strings []string
	// Idle is how long the trace had gone without a span when saved.
	Idle time.Duration
}

// Snapshot copies every open trace, least recently active first.
func (s *Store) Snapshot(now int64) Snapshot {
	out := Snapshot{Traces: make([]TraceSnapshot, 0, len(s.traces))}
	for t := s.head; t != nil; t = t.next {
		ts := TraceSnapshot{Trace: Trace{ID: t.ID, Conversation: t.Conversation,
			Spans: append([]Span(nil), t.Spans...), LLM: append([]LLMFacts(nil), t.LLM...), GenAI: append([]GenAIFacts(nil), t.GenAI...),
			Tools: append([]ToolFacts(nil), t.Tools...), Inv: append([]InvFacts(nil), t.Inv...),
			Signals: append([]Signal(nil), t.Signals...), LogSignals: append([]LogSignal(nil), t.LogSignals...)},
			Idle: time.Duration(max(0, now-t.lastSeen))}
		local := map[Str]Str{0: 0}
		ts.Strings = []string{""}
		ts.Trace.eachStr(func(id *Str) {
			l, ok := local[*id]
			if !ok {
				l = Str(len(ts.Strings))
				local[*id] = l
				ts.Strings = append(ts.Strings, s.strs.String(*id))
			}
			*id = l
		})
		out.Traces = append(out.Traces, ts)
	}
	return out
}

// Restore opens the snapshot's traces in s, each as idle as it was when
// saved (so a restart does not extend a run's deadline by the downtime;
// what is overdue closes at the next CloseDue). A trace already open or
// decided in s is skipped. It returns the traces restored.
func (s *Store) Restore(snap Snapshot, now int64, onClose OnClose) int {
	n := 0
	for i := range snap.Traces {
		ts := &snap.Traces[i]
		if s.traces[ts.Trace.ID] != nil {
			continue
		}
		if _, ok := s.decided.m[ts.Trace.ID]; ok {
			continue
		}
		src := ts.Trace
		bad := false
		src.eachStr(func(id *Str) {
			if int(*id) >= len(ts.Strings) {
				bad = true
			}
		})
		if bad {
			continue // a corrupt entry: skip it, keep the others
		}
		t := s.Open(src.ID, now-int64(ts.Idle))
		for _, sp := range src.Spans {
			t.AddSpan(sp)
		}
		t.LLM = append(t.LLM, src.LLM...)
		t.GenAI = append(t.GenAI, src.GenAI...)
		t.Tools = append(t.Tools, src.Tools...)
		t.Inv = append(t.Inv, src.Inv...)
		t.Signals = append(t.Signals, src.Signals...)
		t.LogSignals = append(t.LogSignals, src.LogSignals...)
		t.Conversation = src.Conversation
		t.eachStr(func(id *Str) { *id = s.strs.Intern(ts.Strings[*id]) })
		s.Touched(t, now-int64(ts.Idle), onClose)
		n++
	}
	return n
}
