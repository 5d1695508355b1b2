package agentmetricsconnector

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// obsKind is what a held observation is.
type obsKind uint8

const (
	obsLLM obsKind = iota
	obsTool
	obsSignal
	obsFeedback
)

// signal is one of the L3 counters fed by attributes and events.
type signal uint8

const (
	sigHallucination signal = iota
	sigRecovery
	sigStep
	sigApproval
)

// obs is one span-level observation, held while its run's agent id is
// unknown. Strings are clones (never span memory).
type obs struct {
	kind    obsKind
	sig     signal
	failed  bool
	name    string // model, tool, or signal label value
	status  string // tool status
	tokens  [4]int64
	hasCost bool
	cost    float64
	value   float64        // seconds, or the feedback score
	spanID  pcommon.SpanID // the exemplar's span
}

// run is the state of one agent run (keyed by trace id). Its size is what
// "bytes per in-flight run" measures: keep it small.
type run struct {
	agentID     string // from the run span, else any span of the trace
	serviceName string // fallback agent id
	taskType    string
	taskOutcome string
	// conversationID links feedback that arrives in another trace.
	conversationID string

	runSpanID     pcommon.SpanID
	runStart      pcommon.Timestamp
	runEnd        pcommon.Timestamp
	hasRunSpan    bool
	runFailed     bool
	hasTotalSteps bool
	hasCost       bool
	totalSteps    int32
	llmCalls      int32
	toolCalls     int32
	costUSD       float64
	deadline      int64 // unix ns: grace end (run span seen) or TTL end
	pending       []obs
	queuePos      uint64 // position in the FIFO, to detect stale queue entries
}

// completed remembers a closed run so late spans get its agent id.
type completed struct {
	agentID string
	at      int64
}

// runStore holds runs by trace id, bounded by maxRuns with FIFO eviction.
// Not safe for concurrent use: the connector serialises access.
type runStore struct {
	runs    map[pcommon.TraceID]*run
	queue   []queued // creation order; entries of closed runs are skipped lazily
	head    int
	seq     uint64
	maxRuns int

	done      map[pcommon.TraceID]completed
	doneOrder []pcommon.TraceID
	doneHead  int

	// conversations maps a closed run's conversation id to its agent id
	// (bounded by maxRuns, oldest forgotten first).
	conversations     map[string]string
	conversationOrder []string
}

func (s *runStore) rememberConversation(conv, agent string) {
	if _, ok := s.conversations[conv]; !ok {
		s.conversationOrder = append(s.conversationOrder, conv)
	}
	s.conversations[conv] = agent
	for len(s.conversations) > s.maxRuns && len(s.conversationOrder) > 0 {
		delete(s.conversations, s.conversationOrder[0])
		s.conversationOrder = s.conversationOrder[1:]
	}
}

type queued struct {
	id  pcommon.TraceID
	pos uint64
}

func newRunStore(maxRuns int) *runStore {
	return &runStore{runs: map[pcommon.TraceID]*run{}, maxRuns: maxRuns, done: map[pcommon.TraceID]completed{}, conversations: map[string]string{}}
}

// get returns the run of a trace, or nil.
func (s *runStore) get(id pcommon.TraceID) *run { return s.runs[id] }

// create adds a run; when the store is full it first returns the oldest
// run, removed, for the caller to close as evicted.
func (s *runStore) create(id pcommon.TraceID, deadline int64) (r *run, evictedID pcommon.TraceID, evicted *run) {
	if len(s.runs) >= s.maxRuns {
		evictedID, evicted = s.popOldest()
	}
	s.seq++
	r = &run{deadline: deadline, queuePos: s.seq}
	s.runs[id] = r
	s.queue = append(s.queue, queued{id: id, pos: s.seq})
	return r, evictedID, evicted
}

func (s *runStore) popOldest() (pcommon.TraceID, *run) {
	for s.head < len(s.queue) {
		q := s.queue[s.head]
		s.head++
		if r, ok := s.runs[q.id]; ok && r.queuePos == q.pos {
			delete(s.runs, q.id)
			s.compact()
			return q.id, r
		}
	}
	return pcommon.TraceID{}, nil
}

// remove deletes a run (its queue entry goes stale).
func (s *runStore) remove(id pcommon.TraceID) {
	delete(s.runs, id)
	s.compact()
}

// compact drops consumed and stale queue entries once they dominate.
func (s *runStore) compact() {
	if s.head > 1024 && s.head > len(s.queue)/2 {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
	if len(s.queue)-s.head > 2*s.maxRuns+1024 {
		live := s.queue[:0]
		for _, q := range s.queue[s.head:] {
			if r, ok := s.runs[q.id]; ok && r.queuePos == q.pos {
				live = append(live, q)
			}
		}
		s.queue, s.head = live, 0
	}
}

// markDone remembers a closed run's agent id for late spans, bounded by
// maxRuns entries.
func (s *runStore) markDone(id pcommon.TraceID, agentID string, now int64) {
	if _, ok := s.done[id]; !ok {
		s.doneOrder = append(s.doneOrder, id)
	}
	s.done[id] = completed{agentID: agentID, at: now}
	for len(s.done) > s.maxRuns && s.doneHead < len(s.doneOrder) {
		delete(s.done, s.doneOrder[s.doneHead])
		s.doneHead++
	}
	s.compactDone()
}

// pruneDone forgets closed runs older than retention.
func (s *runStore) pruneDone(now, retention int64) {
	for s.doneHead < len(s.doneOrder) {
		id := s.doneOrder[s.doneHead]
		if c, ok := s.done[id]; ok && now-c.at < retention {
			break
		}
		delete(s.done, id)
		s.doneHead++
	}
	s.compactDone()
}

func (s *runStore) compactDone() {
	if s.doneHead > 1024 && s.doneHead > len(s.doneOrder)/2 {
		s.doneOrder = append(s.doneOrder[:0], s.doneOrder[s.doneHead:]...)
		s.doneHead = 0
	}
}
