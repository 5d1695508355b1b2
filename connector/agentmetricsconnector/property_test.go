package agentmetricsconnector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// genSpan is one span of a generated trace, with the truth it carries.
type genSpan struct {
	id, parent uint16
	name       string
	start, end int64 // ns from the trace start
	attrs      map[string]any
	failed     bool
	service    string // "" is the trace's main service
	remote     bool   // the parent is in another process
}

// genTrace is a generated trace and the contract's numbers for it.
type genTrace struct {
	id    pcommon.TraceID
	base  int64 // the trace's start, ns on the fake clock
	spans []genSpan
}

// truth accumulates what the contract says the metrics must be.
type truth struct {
	requests    map[string]int // agent
	invocations map[string]int // agent/caller
	llmCalls    map[string]int // agent
	input       map[string]int // agent: uncached input tokens
	toolCalls   map[string]int // agent
}

func newTruth() *truth {
	return &truth{map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}}
}

// traceGen builds random agent traces: one explicit agent, a generic
// CHAIN root with no agent at all, or an HTTP request running a
// supervisor (with a nested researcher) and a sibling summarizer; LLM
// spans sometimes wrapped in a framework LLM span repeating their usage;
// tools siblings of the LLM calls, some failing. Runs last up to two
// hours. It records the contract's numbers in truth.
type traceGen struct {
	r     *rand.Rand
	tr    *truth
	next  uint16
	spans []genSpan
}

func (g *traceGen) add(parent uint16, name string, start, end int64, attrs map[string]any) uint16 {
	g.next++
	g.spans = append(g.spans, genSpan{id: g.next, parent: parent, name: name, start: start, end: end, attrs: attrs})
	return g.next
}

// work adds llm and tool calls under parent in [start, end), counted for agent.
func (g *traceGen) work(parent uint16, agent string, start, end int64) {
	n := 1 + g.r.IntN(5)
	step := (end - start) / int64(2*n+1)
	t := start
	for range n {
		tokens := 10 + g.r.IntN(1000)
		llm := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 5}
		if g.r.IntN(3) == 0 {
			// A framework span around the provider span, repeating its usage.
			outer := g.add(parent, "chat framework", t, t+step, map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": tokens})
			g.add(outer, "chat gpt-4o", t+step/4, t+step*3/4, llm)
		} else {
			g.add(parent, "chat gpt-4o", t, t+step, llm)
		}
		g.tr.llmCalls[agent]++
		g.tr.input[agent] += tokens
		t += step
		if g.r.IntN(2) == 0 {
			id := g.add(parent, "execute_tool search", t, t+step, map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
			if g.r.IntN(4) == 0 {
				g.spans[id-1].failed = true
			}
			g.tr.toolCalls[agent]++
		}
		t += step
	}
}

// fill adds work in [start, end): long runs get calls at least every few
// minutes (an agent that is silent longer than runs.ttl is closed as
// expired, by design).
func (g *traceGen) fill(parent uint16, agent string, start, end int64) {
	const slot = int64(4 * time.Minute)
	for t := start; t < end; t += slot {
		g.work(parent, agent, t, min(t+slot, end))
	}
}

func (g *traceGen) agent(parent uint16, name, caller string, start, end int64) uint16 {
	id := g.add(parent, "invoke_agent "+name, start, end, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name,
		"gen_ai.conversation.id": fmt.Sprint("conv-", g.r.IntN(1000))})
	g.tr.invocations[name+"/"+caller]++
	if caller == "" {
		g.tr.requests[name]++
	}
	return id
}

func (g *traceGen) trace(i int, base int64) genTrace {
	g.next, g.spans = 0, nil
	dur := int64(1+g.r.IntN(30)) * int64(time.Second)
	if g.r.IntN(8) == 0 {
		dur = int64(10+g.r.IntN(110)) * int64(time.Minute) // long runs, up to 2 h
	}
	svc := "svc" // the service.name fallback of runs that name no agent
	switch g.r.IntN(5) {
	case 0:
		name := fmt.Sprint("agent-", g.r.IntN(3))
		root := g.agent(0, name, "", 0, dur)
		g.fill(root, name, 1, dur-1)
	case 1:
		root := g.add(0, "RunnableSequence", 0, dur, map[string]any{"openinference.span.kind": "CHAIN"})
		g.tr.invocations[svc+"/"]++
		g.tr.requests[svc]++
		g.fill(root, svc, 1, dur-1)
	case 2:
		root := g.add(0, "POST /run", 0, dur, nil)
		sup := g.agent(root, "supervisor", "", 1, dur/2)
		g.fill(sup, "supervisor", 2, dur/4)
		res := g.agent(sup, "researcher", "supervisor", dur/4, dur/2-1)
		g.fill(res, "researcher", dur/4+1, dur/2-2)
		sum := g.agent(root, "summarizer", "", dur/2, dur-1)
		g.fill(sum, "summarizer", dur/2+1, dur-2)
	case 3:
		// An agent calling another agent over the network: the callee runs
		// in another service, its span's parent (the caller's tool span)
		// is remote.
		root := g.agent(0, "planner", "", 0, dur)
		g.work(root, "planner", 1, dur/4)
		call := g.add(root, "execute_tool ask_expert", dur/4, dur*3/4, map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "ask_expert"})
		g.tr.toolCalls["planner"]++
		first := len(g.spans)
		exp := g.agent(call, "expert", "planner", dur/4+1, dur*3/4-1)
		g.spans[exp-1].remote = true
		g.fill(exp, "expert", dur/4+2, dur*3/4-2)
		for i := first; i < len(g.spans); i++ {
			g.spans[i].service = "svc-expert"
		}
		g.work(root, "planner", dur*3/4, dur-1)
	case 4:
		// An HTTP handler that calls the model itself: no agent span, the
		// root is the run, named after its service.
		root := g.add(0, "POST /complete", 0, dur, nil)
		g.tr.invocations[svc+"/"]++
		g.tr.requests[svc]++
		g.fill(root, svc, 1, dur-1)
	}
	return genTrace{id: pcommon.TraceID{byte(i), byte(i >> 8), 0x77, 1}, base: base, spans: g.spans}
}

// delivery is one batch of spans at a time on the fake clock.
type delivery struct {
	at    int64
	spans []spanRef
}

type spanRef struct {
	trace *genTrace
	span  int
}

// sdkOrder: every span is exported when it ends plus a jitter (export
// delays), in batches of random size that wait at most window for their
// last span (a batch exporter's delay): children first, roots last,
// traces interleaved; jitter + window stay below the grace period.
func sdkOrder(r *rand.Rand, traces []genTrace, jitter, window int64) []delivery {
	type arrival struct {
		at  int64
		ref spanRef
	}
	var all []arrival
	for i := range traces {
		for j, s := range traces[i].spans {
			all = append(all, arrival{traces[i].base + s.end + r.Int64N(jitter), spanRef{&traces[i], j}})
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].at < all[b].at })
	var out []delivery
	for i := 0; i < len(all); {
		n := 1 + r.IntN(12)
		d := delivery{}
		j := i
		for ; j < i+n && j < len(all) && all[j].at-all[i].at <= window; j++ {
			d.spans = append(d.spans, all[j].ref)
			d.at = all[j].at
		}
		out = append(out, d)
		i = j
	}
	return out
}

// shuffledOrder: each trace's spans in a random order (roots first
// included), random batches, all of one trace within the grace period.
func shuffledOrder(r *rand.Rand, traces []genTrace) []delivery {
	var out []delivery
	for i := range traces {
		refs := make([]spanRef, len(traces[i].spans))
		for j := range refs {
			refs[j] = spanRef{&traces[i], j}
		}
		r.Shuffle(len(refs), func(a, b int) { refs[a], refs[b] = refs[b], refs[a] })
		at := traces[i].base + traces[i].spans[0].end
		for j := 0; j < len(refs); {
			n := 1 + r.IntN(6)
			out = append(out, delivery{at: at, spans: refs[j:min(j+n, len(refs))]})
			at += int64(time.Duration(r.IntN(1000)) * time.Millisecond)
			j += n
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].at < out[b].at })
	return out
}

// rootLastOrder: the non-root spans in a random order with gaps of up to
// ten minutes (a slow exporter, a long tool), the root last.
func rootLastOrder(r *rand.Rand, traces []genTrace) []delivery {
	var out []delivery
	for i := range traces {
		var refs []spanRef
		for j, s := range traces[i].spans {
			if s.parent != 0 {
				refs = append(refs, spanRef{&traces[i], j})
			}
		}
		r.Shuffle(len(refs), func(a, b int) { refs[a], refs[b] = refs[b], refs[a] })
		// The caller's spans come with or before a remote callee's part
		// (runs.remote_grace_period is what a remote part waits for them).
		for j, ref := range refs {
			if ref.trace.spans[ref.span].service == "" {
				refs[0], refs[j] = refs[j], refs[0]
				break
			}
		}
		at := traces[i].base
		for j := 0; j < len(refs); {
			n := 1 + r.IntN(20)
			out = append(out, delivery{at: at, spans: refs[j:min(j+n, len(refs))]})
			at += r.Int64N(int64(10 * time.Minute))
			j += n
		}
		for j, s := range traces[i].spans {
			if s.parent == 0 {
				out = append(out, delivery{at: at, spans: []spanRef{{&traces[i], j}}})
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].at < out[b].at })
	return out
}

// withRetries delivers one batch in ten a second time, at once (an
// exporter's retry after a lost response).
func withRetries(r *rand.Rand, ds []delivery) []delivery {
	var out []delivery
	for _, d := range ds {
		out = append(out, d)
		if r.IntN(10) == 0 {
			out = append(out, d)
		}
	}
	return out
}

func buildBatch(refs []spanRef, base time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	scopes := map[string]ptrace.ScopeSpans{}
	for _, ref := range refs {
		g := ref.trace.spans[ref.span]
		svc := g.service
		if svc == "" {
			svc = "svc"
		}
		ss, ok := scopes[svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			ss = rs.ScopeSpans().AppendEmpty()
			scopes[svc] = ss
		}
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(ref.trace.id)
		s.SetSpanID(pcommon.SpanID{byte(g.id), byte(g.id >> 8), 1})
		if g.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{byte(g.parent), byte(g.parent >> 8), 1})
		}
		s.SetName(g.name)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(ref.trace.base + g.start))))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(ref.trace.base + g.end))))
		if g.failed {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		if g.remote {
			s.SetFlags(0x300) // W3C flags: the parent is remote
		}
		_ = s.Attributes().FromRaw(g.attrs)
	}
	return td
}

// replay delivers the batches on the fake clock, flushing every flush
// interval as the connector's ticker does, then waits out every deadline.
func replay(t *testing.T, ds []delivery) metricsView {
	h := newHarness(t, nil)
	start := h.now
	nextFlush := start.Add(h.c.cfg.FlushInterval)
	for _, d := range ds {
		at := start.Add(time.Duration(d.at))
		for !nextFlush.After(at) {
			h.now = nextFlush
			h.flush()
			nextFlush = nextFlush.Add(h.c.cfg.FlushInterval)
		}
		h.now = at
		h.consume(buildBatch(d.spans, start))
	}
	h.advance(h.c.cfg.Runs.TTL + time.Minute)
	h.flush()
	require.Zero(t, h.c.store.Len(), "every trace closed")
	// And every conversation ended (idle), so that its turns and growth
	// are in the comparison too.
	h.advance(h.c.cfg.Sessions.IdleTimeout + time.Minute)
	v := h.flush()
	require.Zero(t, h.c.sessions.order.Len(), "every conversation ended")
	return v
}

// comparable returns the sums and histograms (not the windowed gauges, nor
// exemplars) as name{labels} -> values.
func comparable(v metricsView) map[string][]float64 {
	out := map[string][]float64{}
	for name, pts := range v.sums {
		for k, val := range pts {
			out[name+"{"+k+"}"] = []float64{val}
		}
	}
	for name, pts := range v.hists {
		for k, dp := range pts {
			vals := []float64{float64(dp.Count()), dp.Sum()}
			for _, b := range dp.BucketCounts().All() {
				vals = append(vals, float64(b))
			}
			out[name+"{"+k+"}"] = vals
		}
	}
	return out
}

func assertSameMetrics(t *testing.T, want, got map[string][]float64) {
	t.Helper()
	keys := func(m map[string][]float64) []string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	require.Equal(t, keys(want), keys(got), "the same series")
	for k, w := range want {
		g := got[k]
		for i := range w {
			if math.Abs(w[i]-g[i]) > 1e-9*math.Max(1, math.Abs(w[i])) {
				t.Errorf("%s: got %v, want %v", k, g, w)
				break
			}
		}
	}
}

// Random single- and multi-agent traces, split into random batches in the
// orders SDKs produce and in adversarial ones, under the default
// configuration and a fake clock, give the metrics of the whole traces
// delivered in one batch, and those equal the contract's numbers.
func TestPropertyAnyBatchingAndOrderGivesTheWholeTraceMetrics(t *testing.T) {
	for seed := range 12 {
		r := rand.New(rand.NewPCG(uint64(seed), 11))
		tr := newTruth()
		g := &traceGen{r: r, tr: tr}
		traces := make([]genTrace, 20)
		for i := range traces {
			traces[i] = g.trace(i+1, r.Int64N(int64(30*time.Minute)))
		}
		var whole []spanRef
		for i := range traces {
			for j := range traces[i].spans {
				whole = append(whole, spanRef{&traces[i], j})
			}
		}
		last := int64(0)
		for _, tc := range traces {
			last = max(last, tc.base+tc.spans[0].end)
		}
		want := replay(t, []delivery{{at: last, spans: whole}})
		checkTruth(t, want, tr)
		wantM := comparable(want)
		for name, ds := range map[string][]delivery{
			"sdk":       withRetries(r, sdkOrder(r, traces, int64(3*time.Second), int64(time.Second))),
			"shuffled":  withRetries(r, shuffledOrder(r, traces)),
			"root-last": withRetries(r, rootLastOrder(r, traces)),
		} {
			t.Run(fmt.Sprint(seed, "/", name), func(t *testing.T) {
				assertSameMetrics(t, wantM, comparable(replay(t, ds)))
			})
		}
	}
}

func checkTruth(t *testing.T, v metricsView, tr *truth) {
	t.Helper()
	total := func(m map[string]int) (n int) {
		for _, c := range m {
			n += c
		}
		return n
	}
	assert.EqualValues(t, total(tr.requests), v.total("agent_requests_total"))
	for agent, n := range tr.requests {
		assert.EqualValues(t, n, v.total("agent_requests_total", "agent_id="+agent), agent)
		c, _ := v.histCountSum("agent_request_duration_seconds", "agent_id="+agent)
		assert.EqualValues(t, n, c, agent)
	}
	assert.EqualValues(t, total(tr.invocations), v.total("agent_invocations_total"))
	perAgent := map[string]int{}
	for key, n := range tr.invocations {
		agent, caller, _ := cut(key)
		perAgent[agent] += n
		got := 0.0
		for labels, val := range v.sums["agent_invocations_total"] {
			if !matches(labels, []string{"agent_id=" + agent}) {
				continue
			}
			if caller == "" && !strings.Contains(labels, "caller_agent_id=") ||
				caller != "" && matches(labels, []string{"caller_agent_id=" + caller}) {
				got += val
			}
		}
		assert.EqualValues(t, n, got, "invocations %s", key)
	}
	for agent, n := range perAgent {
		c, _ := v.histCountSum("agent_reasoning_steps", "agent_id="+agent)
		assert.EqualValues(t, n, c, "one reasoning-steps observation per invocation of %s", agent)
	}
	for agent, n := range tr.llmCalls {
		assert.EqualValues(t, n, v.total("agent_llm_calls_total", "agent_id="+agent), "llm calls of %s", agent)
		assert.EqualValues(t, tr.input[agent], v.total("agent_tokens_consumed_total", "agent_id="+agent, "direction=input"), "input tokens of %s", agent)
		_, steps := v.histCountSum("agent_reasoning_steps", "agent_id="+agent)
		assert.EqualValues(t, n, steps, "reasoning steps of %s are its own llm calls", agent)
	}
	for agent, n := range tr.toolCalls {
		assert.EqualValues(t, n, v.total("agent_tool_calls_total", "agent_id="+agent), "tool calls of %s", agent)
	}
	assert.EqualValues(t, total(tr.llmCalls), v.total("agent_llm_calls_total"), "no call counted twice or elsewhere")
	assert.EqualValues(t, total(tr.toolCalls), v.total("agent_tool_calls_total"))
}

func cut(key string) (agent, caller string, ok bool) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

var _ = pmetric.NewMetrics
