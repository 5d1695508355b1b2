package drift

import (
	"fmt"
	"math"
	"strings"
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

func TestToolNamesAreTruncated(t *testing.T) {
	tr := NewTracker(Settings{MaxNameLength: 4})
	now := time.Unix(1_700_000_000, 0)
	tr.Add("abcdefgh", 1, now)
	tr.Add("abcdXYZ", 1, now)
	tr.Add("ab", 2, now)
	s := tr.Snapshot(now)
	if len(s.Ratio) != 2 || s.Ratio["abcd"] != 0.5 || s.Ratio["ab"] != 0.5 {
		t.Fatalf("ratios %v: want abcd and ab", s.Ratio)
	}
}

// held is what a Tracker keeps of tool names: the distinct names, the
// bytes of every name it holds (each map key is its own copy) and the
// number of buckets.
func held(tr *Tracker) (names map[string]struct{}, bytes, buckets int) {
	names = map[string]struct{}{}
	for tool := range tr.known {
		names[tool] = struct{}{}
		bytes += len(tool)
	}
	for _, bs := range [2][]bucket{tr.fine, tr.coarse} {
		for _, b := range bs {
			buckets++
			for tool := range b.counts {
				names[tool] = struct{}{}
				bytes += len(tool)
			}
		}
	}
	return names, bytes, buckets
}

// 100k distinct 1 KiB tool names over two days, forgotten at every flush
// as the connector does: the names held and their bytes stay bounded by
// MaxTools and MaxNameLength, not by the stream.
func TestHeldNamesAreBounded(t *testing.T) {
	const maxTools, maxLen = 100, 64
	tr := NewTracker(Settings{Window: 5 * time.Minute, Baseline: 24 * time.Hour, MaxTools: maxTools, MaxNameLength: maxLen})
	t0 := time.Unix(1_700_000_000, 0)
	pad := strings.Repeat("x", 1024)
	maxBuckets := windowBuckets + tr.maxCoarse
	// Every bucket and the known set hold at most maxTools names and the overflow.
	bound := (maxBuckets + 1) * (maxTools + 1) * maxLen
	peakNames, peakBytes := 0, 0
	const n = 100_000
	for i := range n {
		now := t0.Add(time.Duration(i) * (48 * time.Hour / n))
		tr.Add(fmt.Sprintf("%08d-%s", i, pad), 1, now)
		if i%500 != 499 {
			continue
		}
		tr.Forget()
		s := tr.Snapshot(now)
		names, bytes, buckets := held(tr)
		if len(names) > maxTools+1 || len(tr.known) > maxTools || len(s.Ratio) > maxTools+1 {
			t.Fatalf("at %d: %d names held, %d known, %d ratios (max %d tools)", i, len(names), len(tr.known), len(s.Ratio), maxTools)
		}
		for name := range names {
			if len(name) > maxLen {
				t.Fatalf("at %d: held name of %d bytes", i, len(name))
			}
		}
		if buckets > maxBuckets || bytes > bound {
			t.Fatalf("at %d: %d buckets, %d bytes of names held (bounds %d, %d)", i, buckets, bytes, maxBuckets, bound)
		}
		peakNames, peakBytes = max(peakNames, len(names)), max(peakBytes, bytes)
	}
	t.Logf("peak: %d names, %d bytes of names (stream: %d names, %d bytes)", peakNames, peakBytes, n, n*(9+len(pad)))
}

// Late calls at many distinct old times do not add buckets without limit.
func TestLateDataBucketsAreBounded(t *testing.T) {
	set := Settings{Window: 5 * time.Minute, Baseline: 24 * time.Hour}
	tr, ref := NewTracker(set), NewTracker(set)
	now := time.Unix(1_700_000_000, 0)
	tr.Add("a", 1, now)
	ref.Add("a", 1, now)
	for i := range 10_000 {
		at := now.Add(-time.Duration(i) * time.Hour)
		tr.Add("a", 1, at)
		if i < 30 { // the reference gets only the calls within a day or so
			ref.Add("a", 1, at)
		}
		if len(tr.coarse) > tr.maxCoarse || len(tr.fine) > windowBuckets {
			t.Fatalf("after %d late calls: %d coarse, %d fine buckets", i+1, len(tr.coarse), len(tr.fine))
		}
	}
	// The calls within the baseline are all still counted.
	s, r := tr.Snapshot(now), ref.Snapshot(now)
	if s.WindowCalls != r.WindowCalls || s.BaselineCalls != r.BaselineCalls || r.BaselineCalls < 23 {
		t.Fatalf("window %d baseline %d calls, want %d and %d", s.WindowCalls, s.BaselineCalls, r.WindowCalls, r.BaselineCalls)
	}
}

// The bucket cap never drops data of a stream in time order: the baseline
// matches an uncapped tracker's.
func TestBucketCapKeepsLiveData(t *testing.T) {
	for _, set := range []Settings{
		{Window: 5 * time.Minute, Baseline: 24 * time.Hour},
		{Window: 7 * time.Minute, Baseline: 13 * time.Hour},
		{Window: time.Hour, Baseline: time.Hour},
		{Window: 10 * time.Second, Baseline: time.Minute},
	} {
		tr, ref := NewTracker(set), NewTracker(set)
		ref.maxCoarse = math.MaxInt
		t0 := time.Unix(1_700_000_000, 7)
		step := (set.Baseline + set.Window) / 500
		for i := range 2000 {
			now := t0.Add(time.Duration(i) * step)
			tr.Add("a", 1, now)
			ref.Add("a", 1, now)
			if i%50 == 0 {
				if s, r := tr.Snapshot(now), ref.Snapshot(now); s.BaselineCalls != r.BaselineCalls || s.WindowCalls != r.WindowCalls {
					t.Fatalf("%v at %d: baseline %d window %d, uncapped %d %d", set, i, s.BaselineCalls, s.WindowCalls, r.BaselineCalls, r.WindowCalls)
				}
			}
		}
	}
}
