// Package drift tracks each agent's tool-selection distribution over a
// short sliding window and a long baseline, and measures how far the window
// has moved from the baseline (Jensen–Shannon divergence, base 2, in [0,1]).
//
// The window is the last Window of calls; the baseline is the Baseline of
// calls before the window. Keeping the window out of the baseline makes a
// shift visible at full strength as soon as the window has filled with it.
package drift

import (
	"math"
	"strings"
	"time"
)

const (
	windowBuckets   = 10 // the window in fine buckets
	baselineBuckets = 48 // the baseline in coarse buckets (30 min each for 24h)
)

// Settings of a Tracker.
type Settings struct {
	Window   time.Duration // default 5m
	Baseline time.Duration // default 24h
	// MinBaselineCalls: no drift value until the baseline holds at least
	// this many tool calls (cold start).
	MinBaselineCalls int64
	// MinWindowCalls: no drift value while the window holds fewer calls.
	MinWindowCalls int64
	// MaxTools bounds the distinct tool names tracked; calls of further
	// names count as OverflowTool (0: no bound).
	MaxTools int
	// MaxNameLength caps the tool names held, in bytes: a longer name is
	// truncated (cut at the byte, as series label values are, so the
	// names match the tool labels of the other metrics) before it is
	// counted, and names equal once truncated count as one tool
	// (0: no cap).
	MaxNameLength int
}

// OverflowTool stands for every tool name past Settings.MaxTools.
const OverflowTool = "otel_overflow"

type bucket struct {
	start  int64 // bucket index (time / width)
	counts map[string]int64
}

// Tracker holds one agent's distribution: fine buckets for the window,
// coarse ones for the baseline (a fine bucket leaving the window is folded
// into the coarse bucket of its time). Memory is bounded by about
// (windowBuckets + baselineBuckets) buckets × (MaxTools + 1) names of at
// most MaxNameLength bytes: the coarse buckets are capped (maxCoarse), so
// late data of many distinct old times cannot add buckets without limit.
// Not safe for concurrent use.
type Tracker struct {
	s           Settings
	fineWidth   int64
	coarseWidth int64
	fine        []bucket // newest last
	coarse      []bucket // newest last
	known       map[string]struct{}
	maxCoarse   int // the most coarse buckets the baseline and window can span
}

// NewTracker builds a Tracker.
func NewTracker(s Settings) *Tracker {
	if s.Window <= 0 {
		s.Window = 5 * time.Minute
	}
	if s.Baseline < s.Window {
		s.Baseline = 24 * time.Hour
	}
	tr := &Tracker{s: s, fineWidth: max(int64(s.Window)/windowBuckets, 1), coarseWidth: max(int64(s.Baseline)/baselineBuckets, 1),
		known: map[string]struct{}{}}
	tr.maxCoarse = int((int64(s.Baseline)+int64(s.Window))/tr.coarseWidth) + 2
	return tr
}

// Add records n calls of tool at time t (a name longer than
// MaxNameLength is truncated).
func (tr *Tracker) Add(tool string, n int64, t time.Time) {
	if l := tr.s.MaxNameLength; l > 0 && len(tool) > l {
		tool = tool[:l]
	}
	if _, ok := tr.known[tool]; !ok {
		if tr.s.MaxTools > 0 && len(tr.known) >= tr.s.MaxTools {
			tool = OverflowTool
		} else {
			tr.known[strings.Clone(tool)] = struct{}{}
		}
	}
	ns := t.UnixNano()
	idx := ns / tr.fineWidth
	tr.advance(ns)
	if len(tr.fine) == 0 || tr.fine[len(tr.fine)-1].start < idx {
		tr.fine = append(tr.fine, bucket{start: idx, counts: map[string]int64{}})
	}
	for i := len(tr.fine) - 1; i >= 0; i-- {
		if tr.fine[i].start <= idx {
			addCount(tr.fine[i].counts, tool, n)
			return
		}
	}
	// Older than the window: straight into the baseline.
	tr.addCoarse(ns, tool, n)
}

func (tr *Tracker) addCoarse(ns int64, tool string, n int64) {
	idx := ns / tr.coarseWidth
	for i := len(tr.coarse) - 1; i >= 0; i-- {
		if tr.coarse[i].start == idx {
			addCount(tr.coarse[i].counts, tool, n)
			return
		}
		if tr.coarse[i].start < idx {
			break
		}
	}
	b := bucket{start: idx, counts: map[string]int64{strings.Clone(tool): n}}
	// Keep coarse sorted (late data may be older than the newest bucket).
	i := len(tr.coarse)
	for i > 0 && tr.coarse[i-1].start > idx {
		i--
	}
	tr.coarse = append(tr.coarse, bucket{})
	copy(tr.coarse[i+1:], tr.coarse[i:])
	tr.coarse[i] = b
	// Late data spread over many old times: keep the newest buckets, the
	// oldest would be the first to expire.
	if len(tr.coarse) > tr.maxCoarse {
		drop := len(tr.coarse) - tr.maxCoarse
		tr.coarse = append(tr.coarse[:0], tr.coarse[drop:]...)
	}
}

// addCount adds n to counts[tool], copying tool only when it is a new key
// (callers pass strings that alias span memory).
func addCount(counts map[string]int64, tool string, n int64) {
	if _, ok := counts[tool]; ok {
		counts[tool] += n
		return
	}
	counts[strings.Clone(tool)] = n
}

// advance folds fine buckets that left the window into the baseline and
// drops baseline buckets older than the baseline.
func (tr *Tracker) advance(ns int64) {
	windowStart := ns/tr.fineWidth - windowBuckets + 1
	drop := 0
	for drop < len(tr.fine) && tr.fine[drop].start < windowStart {
		b := tr.fine[drop]
		for tool, c := range b.counts {
			tr.addCoarse(b.start*tr.fineWidth, tool, c)
		}
		drop++
	}
	if drop > 0 {
		tr.fine = append(tr.fine[:0], tr.fine[drop:]...)
	}
	oldest := (ns-int64(tr.s.Baseline)-int64(tr.s.Window))/tr.coarseWidth + 1
	drop = 0
	for drop < len(tr.coarse) && tr.coarse[drop].start < oldest {
		drop++
	}
	if drop > 0 {
		tr.coarse = append(tr.coarse[:0], tr.coarse[drop:]...)
	}
}

// Snapshot is the state at one moment.
type Snapshot struct {
	// Ratio is each tool's share of the window's calls.
	Ratio map[string]float64
	// Drift is the JS divergence of window vs baseline; HasDrift is false
	// during cold start (too little baseline or window data).
	Drift    float64
	HasDrift bool
	// Calls in the window and in the baseline.
	WindowCalls, BaselineCalls int64
}

// Snapshot computes ratios and drift at time now.
func (tr *Tracker) Snapshot(now time.Time) Snapshot {
	tr.advance(now.UnixNano())
	win, base := map[string]int64{}, map[string]int64{}
	var nw, nb int64
	for _, b := range tr.fine {
		for tool, c := range b.counts {
			win[tool] += c
			nw += c
		}
	}
	for _, b := range tr.coarse {
		for tool, c := range b.counts {
			base[tool] += c
			nb += c
		}
	}
	s := Snapshot{Ratio: make(map[string]float64, len(win)), WindowCalls: nw, BaselineCalls: nb}
	for tool, c := range win {
		s.Ratio[tool] = float64(c) / float64(nw)
	}
	// A tool that disappeared from the window has ratio 0, not no series:
	// that collapse is the signal.
	for tool := range base {
		if _, ok := s.Ratio[tool]; !ok && nw > 0 {
			s.Ratio[tool] = 0
		}
	}
	if nb >= max(tr.s.MinBaselineCalls, 1) && nw >= max(tr.s.MinWindowCalls, 1) {
		s.Drift, s.HasDrift = JensenShannon(win, nw, base, nb), true
	}
	return s
}

// Empty reports whether the tracker holds no data (can be dropped).
func (tr *Tracker) Empty(now time.Time) bool {
	tr.advance(now.UnixNano())
	return len(tr.fine) == 0 && len(tr.coarse) == 0
}

// Forget drops tool names no longer in any bucket from the known set, so
// the MaxTools bound applies to what is held, not to history.
func (tr *Tracker) Forget() {
	if len(tr.known) == 0 {
		return
	}
	held := make(map[string]struct{}, len(tr.known))
	for _, bs := range [2][]bucket{tr.fine, tr.coarse} {
		for _, b := range bs {
			for tool := range b.counts {
				held[tool] = struct{}{}
			}
		}
	}
	for tool := range tr.known {
		if _, ok := held[tool]; !ok {
			delete(tr.known, tool)
		}
	}
}

// JensenShannon is the JS divergence (base 2) of two count distributions.
func JensenShannon(p map[string]int64, np int64, q map[string]int64, nq int64) float64 {
	if np == 0 || nq == 0 {
		return 0
	}
	var js float64
	term := func(a, m float64) float64 {
		if a == 0 {
			return 0
		}
		return a * math.Log2(a/m)
	}
	for k, c := range p {
		a := float64(c) / float64(np)
		b := float64(q[k]) / float64(nq)
		m := (a + b) / 2
		js += term(a, m) + term(b, m)
	}
	for k, c := range q {
		if _, ok := p[k]; ok {
			continue
		}
		b := float64(c) / float64(nq)
		js += term(b, b/2)
	}
	js /= 2
	return math.Min(math.Max(js, 0), 1)
}
