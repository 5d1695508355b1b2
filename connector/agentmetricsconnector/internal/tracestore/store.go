// Package tracestore holds the agent-relevant skeleton of open traces until
// they close, and decides runs, agent invocations and attribution once per
// trace, on the whole tree, when it closes.
//
// A trace closes when it looks complete (a local root is held and every
// held span's parent is held) and no span came for the grace period, or
// when no span came for the idle timeout. Every span renews the deadline.
// Memory is bounded by a budget (traces, spans, bytes): past it the least
// recently active trace is closed early (evicted) with what it has. Closed
// traces are remembered for a while (the decision cache) so late spans
// never open a second run.
package tracestore

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
)

// Flags are per-span facts.
type Flags uint16

const (
	// Explicit: the span declares an agent invocation.
	Explicit Flags = 1 << iota
	// KindFixed: the kind came from agent.span.kind or a user rule.
	KindFixed
	// Error: the span status is Error.
	Error
	// RemoteParent: the parent lives in another process (W3C flags), so
	// the span is a local root of this process's part of the trace.
	RemoteParent
	// HasCost: the LLM facts carry a cost.
	HasCost
	// HasTotalSteps: the invocation facts carry agent.run.total_steps.
	HasTotalSteps
	// HasTTFT: the LLM facts carry a time to first token.
	HasTTFT
	// MCP: an MCP client or server span (mcp.method.name).
	MCP
	// Workflow: an invocation that is a workflow wrapper, not an agent
	// (agentspan.Info.Workflow): named by the first agent it calls.
	Workflow
	// RemoteUsage: the call of a remote agent that reports the agent's
	// usage (InvFacts.Tokens): one LLM call of it unless the trace holds
	// that agent's own LLM spans.
	RemoteUsage
	// RemoteCost: InvFacts.Cost is set.
	RemoteCost
)

// Span is the skeleton of one held span: what trace-level decisions and
// the span's own observations need, never the span itself.
type Span struct {
	ID, Parent pcommon.SpanID
	// Seconds is the span's duration (float32: 0.5 ms resolution at 2 h).
	Seconds float32
	Agent   Str // the span's own agent id attribute
	Name    Str // model (llm) or tool name (tool)
	Status  Str // tool status
	Service Str // resource service.name
	// Extra indexes LLM (llm spans), Tools (tool spans) or Inv (other
	// spans), 1-based; 0: none.
	Extra uint32
	Kind  agentspan.Kind
	Flags Flags
}

// LLMFacts are an LLM span's usage.
type LLMFacts struct {
	// Tokens: uncached input, output, cache read, cache write.
	Tokens [4]uint32
	Cost   float64
	// Start (unix ns) places the call among the invocation's tool calls
	// (the cost spent inside a loop).
	Start int64
	// TTFT: seconds to the first token of a streamed call (HasTTFT).
	TTFT float32
	// Tenant the call counts under (tenants on; 0: none).
	Tenant Str
}

// GenAIFacts are the labels the GenAI semconv metrics need of an LLM call,
// held only when those metrics are on (parallel to Trace.LLM).
type GenAIFacts struct {
	Operation, Provider, RequestModel, ResponseModel Str
}

// ToolFacts are what loop detection needs of a tool call: when it started
// (the order of the invocation's calls) and the hash of its arguments (0:
// none known). The arguments themselves are never held.
type ToolFacts struct {
	Start int64
	Args  uint64
}

// InvFacts are the run-level attributes of a span that is or may become an
// invocation (explicit agent spans and roots).
type InvFacts struct {
	TaskType, TaskOutcome Str
	// Conversation is the span's own conversation id (the turn's, when the
	// span is the run: whatever other spans of the trace say).
	Conversation Str
	TotalSteps   int32
	// A remote agent's call (RemoteUsage): its model, its usage (uncached
	// input, output, cache read, cache write) and cost.
	Model  Str
	Tokens [4]uint32
	Cost   float64
}

// SignalKind says what a Signal is.
type SignalKind uint8

const (
	SigHallucination SignalKind = iota
	SigRecovery
	SigStep
	SigApproval
	SigFeedback
	// SigGuardrail: a guardrail result; its Name holds the guardrail's
	// name and the result, joined by GuardrailSep.
	SigGuardrail
)

// GuardrailSep joins a guardrail's name and result in one signal name, so
// that the result travels every path a signal label does (interning, the
// decision cache's prints, log records).
const GuardrailSep = "\x1f"

// Signal is one L3/L4 signal carried by a span (attribute or event).
type Signal struct {
	Value float64 // feedback score
	Span  uint32  // index in Spans
	Name  Str     // label value (type, strategy, outcome, result)
	Kind  SignalKind
}

// LogSignal is one L3/L4 signal carried by a log record with the trace's
// context. The record names its span by id: logs are exported apart from
// spans, usually before the span they were written in has ended, so the
// span is found when the trace closes.
type LogSignal struct {
	Signal // Span is unused
	SpanID pcommon.SpanID
	// Agent is the agent id the record names and Service its resource's
	// service.name: the attribution when its span is not in the trace.
	Agent, Service Str
}

// Trace is one open trace.
type Trace struct {
	ID      pcommon.TraceID
	Spans   []Span
	LLM     []LLMFacts
	GenAI   []GenAIFacts
	Tools   []ToolFacts
	Inv     []InvFacts
	Signals []Signal
	// LogSignals come from log records (see LogSignal).
	LogSignals []LogSignal
	// Conversation is the first conversation id seen (links feedback sent
	// in another trace).
	Conversation Str

	lastSeen    int64
	bytes       int64
	prev, next  *Trace
	roots       int32 // true roots (no parent) held
	remoteRoots int32 // spans whose parent is in another process
	checkedLen  int32 // len(Spans) when last found incomplete; -1 never
	held        int32 // spans accounted in the store's budget
}

// Size of the held state, for the budget and the benchmarks.
const (
	SpanBytes   = int64(unsafe.Sizeof(Span{}))
	LLMBytes    = int64(unsafe.Sizeof(LLMFacts{}))
	ToolBytes   = int64(unsafe.Sizeof(ToolFacts{}))
	GenAIBytes  = int64(unsafe.Sizeof(GenAIFacts{}))
	InvBytes    = int64(unsafe.Sizeof(InvFacts{}))
	SignalBytes = int64(unsafe.Sizeof(Signal{}))
	// LogSignalBytes: one signal of a log record.
	LogSignalBytes = int64(unsafe.Sizeof(LogSignal{}))
	// TraceBytes: the Trace struct, its map entry and pointer.
	TraceBytes = int64(unsafe.Sizeof(Trace{})) + 64
)

func (t *Trace) footprint() int64 {
	return TraceBytes + int64(cap(t.Spans))*SpanBytes + int64(cap(t.LLM))*LLMBytes + int64(cap(t.Tools))*ToolBytes + int64(cap(t.GenAI))*GenAIBytes +
		int64(cap(t.Inv))*InvBytes + int64(cap(t.Signals))*SignalBytes + int64(cap(t.LogSignals))*LogSignalBytes
}

// AddSpan appends a span skeleton and returns its index.
func (t *Trace) AddSpan(s Span) uint32 {
	switch {
	case s.Parent.IsEmpty():
		t.roots++
	case s.Flags&RemoteParent != 0:
		t.remoteRoots++
	}
	t.Spans = append(t.Spans, s)
	return uint32(len(t.Spans) - 1)
}

// Reason is why a trace closed.
type Reason uint8

const (
	// Completed: the trace looked complete and the grace period passed.
	Completed Reason = iota
	// Expired: no span came for the idle timeout, the trace incomplete.
	Expired
	// Evicted: closed early to stay within the memory budget.
	Evicted
	// Shutdown: closed because the collector is stopping.
	Shutdown
)

var reasonNames = [...]string{"completed", "expired", "evicted", "shutdown"}

func (r Reason) String() string { return reasonNames[r] }

// Reasons lists every Reason (for telemetry attribute sets).
var Reasons = []Reason{Completed, Expired, Evicted, Shutdown}

// Settings bound the store.
type Settings struct {
	// Grace after the last span of a complete-looking trace.
	Grace time.Duration
	// RemoteGrace replaces Grace for a trace whose only roots have their
	// parent in another process: the caller's spans, if it exports here
	// too, may still come (default: Grace).
	RemoteGrace time.Duration
	// IdleTimeout closes a trace that is not complete after this long
	// without a span.
	IdleTimeout time.Duration
	// MaxTraces, MaxSpans and MaxBytes are the budget.
	MaxTraces int
	MaxSpans  int
	MaxBytes  int64
	// MaxStringLength caps held strings (bytes).
	MaxStringLength int
	// DecisionRetention: how long a closed trace is remembered for late
	// spans (at most MaxTraces of them).
	DecisionRetention time.Duration
}

// Decision is what the decision cache remembers of a closed trace.
type Decision struct {
	// Agent is the agent id of the trace's first entry invocation (or the
	// fallback), for late spans that name none.
	Agent string
	// prints are the signals the trace counted, so the same verdict sent
	// again the other way (span event vs log record) after the close
	// counts once. Nil for traces without signals.
	prints []Print
	// owners are the spans counted against another agent than Agent (the
	// sub-agents' spans), for late log records naming them.
	owners []SpanOwner
	at     int64
}

// SpanOwner is the agent a span's observations counted against.
type SpanOwner struct {
	Span  pcommon.SpanID
	Agent string
}

// OwnerOf is the agent span's observations of the closed trace id counted
// against, when it was not the trace's Agent.
func (s *Store) OwnerOf(id pcommon.TraceID, span pcommon.SpanID) (string, bool) {
	for _, o := range s.decided.m[id].owners {
		if o.Span == span {
			return o.Agent, true
		}
	}
	return "", false
}

// Print identifies one counted signal: its span, kind, label and value
// hashed, and whether it came from a log record.
type Print struct {
	Hash    uint64
	FromLog bool
}

// SignalHash is the Print hash of a signal on span id.
func SignalHash(id pcommon.SpanID, kind SignalKind, name string, value float64) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(id[:])
	_, _ = h.Write([]byte{byte(kind)})
	_, _ = h.Write([]byte(name))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(value))
	_, _ = h.Write(b[:])
	return h.Sum64()
}

// Counted reports whether a signal arriving late the other way (fromLog:
// it comes from a log record) was already counted by the closed trace id,
// and if so consumes that print: a verdict sent both ways counts once.
func (s *Store) Counted(id pcommon.TraceID, hash uint64, fromLog bool) bool {
	d, ok := s.decided.m[id]
	if !ok {
		return false
	}
	for i, p := range d.prints {
		if p.Hash == hash && p.FromLog != fromLog {
			d.prints = append(d.prints[:i:i], d.prints[i+1:]...)
			s.decided.m[id] = d
			return true
		}
	}
	return false
}

// OnClose receives a closing trace; the trace and its strings are released
// when it returns.
type OnClose func(t *Trace, r Reason)

// Store holds open traces. Not safe for concurrent use.
type Store struct {
	set     Settings
	traces  map[pcommon.TraceID]*Trace
	head    *Trace // least recently active
	tail    *Trace
	strs    *Interner
	spans   int
	bytes   int64 // traces' footprints (strings are in strs)
	decided decisionCache
	res     resolver
	free    []*Trace // closed traces for reuse
	// freeBytes is the footprint of the traces in free.
	freeBytes int64
}

// New returns an empty store.
func New(s Settings) *Store {
	return &Store{
		set:     s,
		traces:  map[pcommon.TraceID]*Trace{},
		strs:    newInterner(s.MaxStringLength),
		decided: decisionCache{m: map[pcommon.TraceID]Decision{}},
		res:     resolver{index: map[pcommon.SpanID]int32{}},
	}
}

// Strings is the store's interner: the Str of every held span.
func (s *Store) Strings() *Interner { return s.strs }

// Get returns the open trace id, or nil.
func (s *Store) Get(id pcommon.TraceID) *Trace { return s.traces[id] }

// Decided returns the decision of a closed trace still remembered.
func (s *Store) Decided(id pcommon.TraceID) (Decision, bool) {
	d, ok := s.decided.m[id]
	return d, ok
}

// Open creates an open trace (the caller checked Get and Decided).
func (s *Store) Open(id pcommon.TraceID, now int64) *Trace {
	var t *Trace
	if n := len(s.free); n > 0 {
		// A closed trace's struct and slices, reused: a live stream opens
		// and closes traces at the same rate.
		t = s.free[n-1]
		s.free = s.free[:n-1]
		s.freeBytes -= t.footprint()
		*t = Trace{Spans: t.Spans[:0], LLM: t.LLM[:0], GenAI: t.GenAI[:0], Tools: t.Tools[:0], Inv: t.Inv[:0], Signals: t.Signals[:0], LogSignals: t.LogSignals[:0]}
	} else {
		t = &Trace{}
	}
	t.ID, t.lastSeen, t.checkedLen = id, now, -1
	s.traces[id] = t
	s.pushBack(t)
	return t
}

// Touched records that spans were added to t at now: renews its deadline,
// updates the budget and evicts the least recently active traces past it.
func (s *Store) Touched(t *Trace, now int64, onClose OnClose) {
	t.lastSeen = now
	s.unlink(t)
	s.pushBack(t)
	fp := t.footprint()
	s.bytes += fp - t.bytes
	t.bytes = fp
	s.spans += len(t.Spans) - int(t.held)
	t.held = int32(len(t.Spans))
	for s.head != nil && s.overBudget() {
		s.close(s.head, Evicted, now, onClose)
	}
}

func (s *Store) overBudget() bool {
	return (s.set.MaxTraces > 0 && len(s.traces) > s.set.MaxTraces) ||
		(s.set.MaxSpans > 0 && s.spans > s.set.MaxSpans) ||
		(s.set.MaxBytes > 0 && s.Bytes() > s.set.MaxBytes)
}

// Len, Spans and Bytes report what is held: open traces and their strings
// (what MaxBytes bounds). The decision cache is bounded by count and age
// instead: evicting open traces could not shrink it.
func (s *Store) Len() int       { return len(s.traces) }
func (s *Store) Spans() int     { return s.spans }
func (s *Store) Bytes() int64   { return s.bytes + s.strs.Bytes() }
func (s *Store) Decisions() int { return len(s.decided.m) }

// CloseDue closes the traces whose deadline passed at now.
func (s *Store) CloseDue(now int64, onClose OnClose) {
	grace, idle := int64(s.set.Grace), int64(s.set.IdleTimeout)
	remote := max(grace, int64(s.set.RemoteGrace))
	for t := s.head; t != nil; {
		next := t.next
		quiet := now - t.lastSeen
		if quiet < grace {
			break // the list is ordered by last activity: the rest are newer
		}
		complete, remoteOnly := s.complete(t)
		switch {
		case complete && (!remoteOnly || quiet >= remote):
			s.close(t, Completed, now, onClose)
		case quiet >= idle:
			s.close(t, Expired, now, onClose)
		}
		t = next
	}
	s.decided.prune(now, int64(s.set.DecisionRetention))
}

// CloseAll closes every open trace (shutdown).
func (s *Store) CloseAll(now int64, onClose OnClose) {
	for s.head != nil {
		s.close(s.head, Shutdown, now, onClose)
	}
}

// complete: a root is held and every span's parent is held (or lives in
// another process). remoteOnly: the only roots are spans whose parent is
// in another process, so the caller's part may still come.
func (s *Store) complete(t *Trace) (complete, remoteOnly bool) {
	if t.roots == 0 && t.remoteRoots == 0 {
		return false, false
	}
	if int(t.checkedLen) == len(t.Spans) {
		return false, false // nothing new since it was found incomplete
	}
	s.res.indexOf(t)
	defer func() { s.res.spans = nil }()
	for i := range t.Spans {
		sp := &t.Spans[i]
		if sp.Parent.IsEmpty() {
			continue
		}
		if _, ok := s.res.find(sp.Parent); !ok && sp.Flags&RemoteParent == 0 {
			t.checkedLen = int32(len(t.Spans))
			return false, false
		}
	}
	return true, t.roots == 0
}

func (s *Store) close(t *Trace, r Reason, now int64, onClose OnClose) {
	s.res.indexed = nil // t may be recycled: never match its cached index
	s.unlink(t)
	delete(s.traces, t.ID)
	s.spans -= int(t.held)
	s.bytes -= t.bytes
	onClose(t, r)
	t.eachStr(func(id *Str) { s.strs.Release(*id) })
	s.res.release()
	if fp := t.footprint(); s.freeBytes+fp <= maxFreeBytes {
		clear(t.Spans)
		s.free = append(s.free, t)
		s.freeBytes += fp
	}
}

// eachStr calls fn with every interned string a trace holds, one call per
// reference: what close releases and a restore interns again.
func (t *Trace) eachStr(fn func(*Str)) {
	for i := range t.Spans {
		sp := &t.Spans[i]
		fn(&sp.Agent)
		fn(&sp.Name)
		fn(&sp.Status)
		fn(&sp.Service)
	}
	for i := range t.LLM {
		fn(&t.LLM[i].Tenant)
	}
	for i := range t.GenAI {
		g := &t.GenAI[i]
		fn(&g.Operation)
		fn(&g.Provider)
		fn(&g.RequestModel)
		fn(&g.ResponseModel)
	}
	for i := range t.Inv {
		fn(&t.Inv[i].TaskType)
		fn(&t.Inv[i].TaskOutcome)
		fn(&t.Inv[i].Conversation)
		fn(&t.Inv[i].Model)
	}
	for i := range t.Signals {
		fn(&t.Signals[i].Name)
	}
	for i := range t.LogSignals {
		fn(&t.LogSignals[i].Name)
		fn(&t.LogSignals[i].Agent)
		fn(&t.LogSignals[i].Service)
	}
	fn(&t.Conversation)
}

// maxFreeBytes bounds the footprint of the closed traces kept for reuse,
// so the pool stays small beside the budget.
const maxFreeBytes = 4 << 20

// Decide remembers a closed trace's decision for late spans, and the
// signals it counted (prints, copied) for late verdicts sent the other way.
func (s *Store) Decide(id pcommon.TraceID, agent string, now int64, prints []Print, owners []SpanOwner) {
	d := Decision{Agent: agent, at: now}
	if len(prints) > 0 {
		d.prints = slices.Clone(prints[:min(len(prints), MaxRemembered)])
	}
	if len(owners) > 0 {
		d.owners = slices.Clone(owners[:min(len(owners), MaxRemembered)])
	}
	s.decided.add(id, d, s.set.MaxTraces)
}

// MaxRemembered bounds the signals and the span owners remembered per
// closed trace.
const MaxRemembered = 64

func (s *Store) pushBack(t *Trace) {
	t.prev, t.next = s.tail, nil
	if s.tail != nil {
		s.tail.next = t
	} else {
		s.head = t
	}
	s.tail = t
}

func (s *Store) unlink(t *Trace) {
	if t.prev != nil {
		t.prev.next = t.next
	} else if s.head == t {
		s.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else if s.tail == t {
		s.tail = t.prev
	}
	t.prev, t.next = nil, nil
}

// decisionCache remembers closed traces in closing order, bounded in count
// and age.
type decisionCache struct {
	m     map[pcommon.TraceID]Decision
	order []pcommon.TraceID
	head  int
}

func (d *decisionCache) add(id pcommon.TraceID, dec Decision, max int) {
	if _, ok := d.m[id]; !ok {
		d.order = append(d.order, id)
	}
	d.m[id] = dec
	for max > 0 && len(d.m) > max && d.head < len(d.order) {
		d.drop()
	}
	d.compact()
}

func (d *decisionCache) drop() {
	id := d.order[d.head]
	d.head++
	delete(d.m, id)
}

func (d *decisionCache) prune(now, retention int64) {
	for d.head < len(d.order) {
		if dec, ok := d.m[d.order[d.head]]; ok && now-dec.at < retention {
			break
		}
		d.drop()
	}
	d.compact()
}

func (d *decisionCache) compact() {
	if d.head > 1024 && d.head > len(d.order)/2 {
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
	}
}
