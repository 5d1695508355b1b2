package argshash

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func ids(i int) (pcommon.TraceID, pcommon.SpanID) {
	i++ // never the empty span id
	var tr pcommon.TraceID
	var sp pcommon.SpanID
	tr[0], tr[1], tr[2] = byte(i), byte(i>>8), byte(i>>16)
	sp[0], sp[1], sp[2], sp[7] = byte(i), byte(i>>8), byte(i>>16), byte(i)
	return tr, sp
}

func TestPutTake(t *testing.T) {
	tb := New()
	tr, sp := ids(1)
	if h := tb.Take(tr, sp); h != 0 {
		t.Fatalf("empty table gave %d", h)
	}
	tb.Put(tr, sp, 0) // no arguments: nothing held
	if tb.Len() != 0 {
		t.Fatalf("Put of hash 0 held an entry")
	}
	tb.Put(tr, sp, 42)
	if h := tb.Take(tr, sp); h != 42 {
		t.Fatalf("Take = %d, want 42", h)
	}
	if h := tb.Take(tr, sp); h != 0 {
		t.Fatalf("second Take = %d, want 0 (taken once)", h)
	}
}

// The table never holds more than its bound, whatever is put; the oldest
// entries go first and are counted.
func TestBounded(t *testing.T) {
	tb := New()
	const n = shards*PerShard + 5000
	for i := range n {
		tr, sp := ids(i)
		tb.Put(tr, sp, uint64(i+1))
	}
	if got := tb.Len(); got != shards*PerShard {
		t.Fatalf("Len = %d, want the bound %d", got, shards*PerShard)
	}
	if got := tb.Evicted(); got != 5000 {
		t.Fatalf("Evicted = %d, want 5000", got)
	}
	tr, sp := ids(n - 1)
	if h := tb.Take(tr, sp); h != uint64(n) {
		t.Fatalf("newest entry: %d, want %d", h, n)
	}
	tr, sp = ids(0)
	if h := tb.Take(tr, sp); h != 0 {
		t.Fatalf("oldest entry survived: %d", h)
	}
	// Taken entries free their slot: filling again evicts nothing that was taken.
	before := tb.Evicted()
	for i := range n {
		tr, sp := ids(i)
		tb.Take(tr, sp)
	}
	for i := range PerShard {
		tr, sp := ids(n + i)
		tb.Put(tr, sp, 1)
	}
	if tb.Evicted() != before {
		t.Fatalf("evictions after every entry was taken: %d", tb.Evicted()-before)
	}
}
