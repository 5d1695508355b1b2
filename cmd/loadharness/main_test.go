package main

import (
	"bytes"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

func TestCountSpansWithoutDecoding(t *testing.T) {
	data, td, err := agenttest.RealisticBatchOTLP(100, 7)
	if err != nil {
		t.Fatal(err)
	}
	n, err := countSpans(data)
	if err != nil {
		t.Fatal(err)
	}
	if n != td.SpanCount() {
		t.Fatalf("countSpans = %d, want %d", n, td.SpanCount())
	}
}

func traceIDs(t *testing.T, data []byte) (map[pcommon.TraceID]int, ptrace.Traces) {
	t.Helper()
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[pcommon.TraceID]int{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				ids[s.TraceID()]++
			}
		}
	}
	return ids, td
}

// Every replayed request holds copies distinct traces (10 per file copy),
// and every send has new trace ids with the recorded spans unchanged.
func TestReplayBatchesNewTracesPerSend(t *testing.T) {
	const copies = 3
	bs, err := replayBatches("../../internal/agenttest/testdata/real-clients", copies, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || len(bs[0]) != len(agenttest.RealClientFiles) {
		t.Fatalf("got %d senders x %d batches", len(bs), len(bs[0]))
	}
	for _, b := range bs[0] {
		if b.spans != 60*copies {
			t.Errorf("%s: %d spans, want %d", b.name, b.spans, 60*copies)
		}
		first, td1 := traceIDs(t, bytes.Clone(b.next(1)))
		if len(first) != 10*copies {
			t.Errorf("%s: %d traces, want %d", b.name, len(first), 10*copies)
		}
		second, td2 := traceIDs(t, bytes.Clone(b.next(2)))
		for id := range second {
			if first[id] > 0 {
				t.Fatalf("%s: trace id %v sent twice", b.name, id)
			}
		}
		// Only the trace ids change between sends.
		for i, rs := range td1.ResourceSpans().All() {
			rs2 := td2.ResourceSpans().At(i)
			for j, ss := range rs.ScopeSpans().All() {
				for k, s := range ss.Spans().All() {
					s2 := rs2.ScopeSpans().At(j).Spans().At(k)
					if s.Name() != s2.Name() || s.SpanID() != s2.SpanID() || s.Attributes().Len() != s2.Attributes().Len() {
						t.Fatalf("%s: span %d changed between sends", b.name, k)
					}
				}
			}
		}
	}
	// Each file records 3,900 input and 600 output tokens.
	for _, b := range bs[0] {
		if want := int64(4500 * copies); b.tokens != want {
			t.Errorf("%s: %d tokens, want %d", b.name, b.tokens, want)
		}
	}
}
