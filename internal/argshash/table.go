// Package argshash carries the hash of a tool call's arguments from the
// agentsemconv processor, which sees the arguments before redaction drops
// them, to the agentmetrics connector, which sees the span after, inside one
// collector process and without the hash ever being written on the span
// (where every exporter of the pipeline would send it).
//
// The table is bounded: a fixed number of entries per shard, the oldest
// overwritten first. An entry is taken (and removed) by the connector when
// the span reaches it; entries no connector takes (a processor without a
// connector, spans dropped between the two) age out. A connector that finds
// no entry falls back to the arguments the span still carries (keep,
// truncate and hash modes, or no processor upstream).
package argshash

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

const (
	shards = 16
	// PerShard entries: 65,536 in all, about 3 MiB. At 100k spans/s with
	// one tool span in four, that is 2.6 s of spans between the processor
	// and the connector: more than a batch timeout.
	PerShard = 4096
)

type key struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

type shard struct {
	mu   sync.Mutex
	m    map[key]uint64
	ring [PerShard]key
	next int
}

// Table is a bounded map from (trace id, span id) to an arguments hash.
type Table struct {
	shards  [shards]shard
	evicted atomic.Int64
	// held counts entries, so that Take costs one atomic load when
	// nothing was put (no processor in front of the connector).
	held atomic.Int64
}

// Shared is the table of this process: the processor puts, the connector
// takes.
var Shared = New()

// New returns an empty table.
func New() *Table {
	t := &Table{}
	for i := range t.shards {
		t.shards[i].m = make(map[key]uint64, PerShard)
	}
	return t
}

func (t *Table) shard(span pcommon.SpanID) *shard { return &t.shards[span[7]%shards] }

// Put records the arguments hash of a tool span (h != 0), overwriting the
// shard's oldest entry when it is full. A span without an id (invalid OTLP)
// is not recorded: the empty key marks a free slot.
func (t *Table) Put(trace pcommon.TraceID, span pcommon.SpanID, h uint64) {
	if h == 0 || span.IsEmpty() {
		return
	}
	k := key{trace, span}
	s := t.shard(span)
	s.mu.Lock()
	if _, ok := s.m[k]; !ok {
		if old := s.ring[s.next]; old != (key{}) {
			if _, live := s.m[old]; live {
				delete(s.m, old)
				t.evicted.Add(1)
				t.held.Add(-1)
			}
		}
		t.held.Add(1)
		s.ring[s.next] = k
		s.next = (s.next + 1) % PerShard
	}
	s.m[k] = h
	s.mu.Unlock()
}

// Take returns and removes the hash recorded for the span, 0 if none.
func (t *Table) Take(trace pcommon.TraceID, span pcommon.SpanID) uint64 {
	if t.held.Load() == 0 {
		return 0
	}
	k := key{trace, span}
	s := t.shard(span)
	s.mu.Lock()
	h, ok := s.m[k]
	if ok {
		delete(s.m, k)
		t.held.Add(-1)
	}
	s.mu.Unlock()
	return h
}

// Len is the number of entries held.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Evicted counts entries overwritten before any connector took them.
func (t *Table) Evicted() int64 { return t.evicted.Load() }
