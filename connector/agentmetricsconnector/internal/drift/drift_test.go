package drift

import (
	"math"
	"testing"
	"time"
)

func TestJensenShannonBounds(t *testing.T) {
	same := map[string]int64{"a": 5, "b": 5}
	if js := JensenShannon(same, 10, same, 10); js != 0 {
		t.Fatalf("identical: %v", js)
	}
	if js := JensenShannon(map[string]int64{"a": 3}, 3, map[string]int64{"b": 7}, 7); math.Abs(js-1) > 1e-12 {
		t.Fatalf("disjoint: %v", js)
	}
	// 50/50 baseline, window only "b": 0.311 (worked by hand in the README).
	js := JensenShannon(map[string]int64{"b": 100}, 100, map[string]int64{"a": 50, "b": 50}, 100)
	if math.Abs(js-0.3113) > 1e-3 {
		t.Fatalf("collapse: %v", js)
	}
}

// The seed's incident: process_refund's 50% share goes to 0 while every
// call succeeds. Drift must pass 0.3 within one window.
func TestDriftRisesWithinOneWindow(t *testing.T) {
	tr := NewTracker(Settings{Window: 5 * time.Minute, Baseline: 24 * time.Hour, MinBaselineCalls: 100, MinWindowCalls: 10})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	// Two hours of 50/50 at 100 calls a minute.
	for ; now.Before(t0.Add(2 * time.Hour)); now = now.Add(time.Second) {
		if now.Second()%6 == 0 { // 10 calls a minute each
			tr.Add("process_refund", 5, now)
			tr.Add("lookup_order", 5, now)
		}
	}
	s := tr.Snapshot(now)
	if !s.HasDrift || s.Drift > 0.01 {
		t.Fatalf("steady state drift %v (has %v)", s.Drift, s.HasDrift)
	}
	if math.Abs(s.Ratio["process_refund"]-0.5) > 0.01 {
		t.Fatalf("ratio %v", s.Ratio)
	}
	incident := now
	for ; now.Before(incident.Add(5 * time.Minute)); now = now.Add(time.Second) {
		if now.Second()%6 == 0 {
			tr.Add("return_unable_to_process", 5, now)
			tr.Add("lookup_order", 5, now)
		}
	}
	s = tr.Snapshot(now)
	if !s.HasDrift || s.Drift <= 0.3 {
		t.Fatalf("drift %v after one window of incident, want > 0.3", s.Drift)
	}
	if s.Ratio["process_refund"] != 0 {
		t.Fatalf("collapsed tool ratio %v, want a 0 series", s.Ratio["process_refund"])
	}
}

func TestColdStartHasNoDrift(t *testing.T) {
	tr := NewTracker(Settings{MinBaselineCalls: 100, MinWindowCalls: 10})
	now := time.Unix(1_700_000_000, 0)
	tr.Add("a", 50, now)
	if s := tr.Snapshot(now); s.HasDrift {
		t.Fatal("drift reported with no baseline")
	}
	if s := tr.Snapshot(now); s.Ratio["a"] != 1 {
		t.Fatalf("ratio %v", s.Ratio)
	}
}

func TestOldDataExpires(t *testing.T) {
	tr := NewTracker(Settings{Window: time.Minute, Baseline: 10 * time.Minute})
	now := time.Unix(1_700_000_000, 0)
	tr.Add("a", 1, now)
	if tr.Empty(now.Add(5 * time.Minute)) {
		t.Fatal("expired too early")
	}
	if !tr.Empty(now.Add(13 * time.Minute)) {
		t.Fatal("not expired after window + baseline")
	}
}

func TestToolNamesAreBounded(t *testing.T) {
	tr := NewTracker(Settings{MaxTools: 3})
	now := time.Unix(1_700_000_000, 0)
	for _, tool := range []string{"a", "b", "c", "d", "e", "a"} {
		tr.Add(tool, 1, now)
	}
	s := tr.Snapshot(now)
	if len(s.Ratio) != 4 || s.Ratio[OverflowTool] != 2.0/6 || s.Ratio["a"] != 2.0/6 {
		t.Fatalf("ratios %v: want a, b, c and the overflow", s.Ratio)
	}
}
