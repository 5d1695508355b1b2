package agentmetricsconnector

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadatatest"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

// The recorded real-client traces and the exact truth of their README.
func TestRealClientFixtures(t *testing.T) {
	models := map[string]string{
		"otel-genai.otlp.jsonl":    "gpt-4o-mini",
		"openinference.otlp.jsonl": "gpt-4o",
		"traceloop.otlp.jsonl":     "claude-sonnet-4-5",
	}
	for _, f := range agenttest.RealClientFiles {
		t.Run(f, func(t *testing.T) {
			h := newHarness(t, nil)
			h.consume(agenttest.LoadMerged(t, f))
			h.advance(time.Minute)
			v := h.flush()
			checkFixtureTruth(t, v, models[f])
		})
	}
}

func checkFixtureTruth(t *testing.T, v metricsView, model string) {
	t.Helper()
	agent := "agent_id=support_bot"
	assert.Equal(t, 10.0, v.total("agent_requests_total", agent, "status=success"))
	assert.Equal(t, 10.0, v.total("agent_requests_total"))
	assert.Equal(t, 30.0, v.total("agent_llm_calls_total", agent, "model="+model))
	assert.Equal(t, 3900.0, v.total("agent_tokens_consumed_total", agent, "model="+model, "direction=input"))
	assert.Equal(t, 600.0, v.total("agent_tokens_consumed_total", agent, "model="+model, "direction=output"))
	assert.Equal(t, 4500.0, v.total("agent_tokens_consumed_total"), "no cache tokens in the fixtures, nothing double counted")
	assert.Equal(t, 10.0, v.total("agent_tool_calls_total", agent, "tool_name=lookup_order"))
	assert.Equal(t, 10.0, v.total("agent_tool_calls_total", agent, "tool_name=process_refund"))
	assert.Equal(t, 2.0, v.total("agent_tool_calls_total", agent, "tool_name=lookup_order", "status=failure"))
	assert.Equal(t, 0.0, v.total("agent_tool_calls_total", "tool_name=process_refund", "status=failure"))
	n, sum := v.histCountSum("agent_reasoning_steps", agent)
	assert.EqualValues(t, 10, n)
	assert.Equal(t, 30.0, sum, "3 reasoning steps per run")
	n, sum = v.histCountSum("agent_tool_calls_per_run", agent)
	assert.EqualValues(t, 10, n)
	assert.Equal(t, 20.0, sum)
	n, _ = v.histCountSum("agent_request_duration_seconds", agent)
	assert.EqualValues(t, 10, n)
	n, _ = v.histCountSum("agent_model_latency_seconds", agent, "model="+model)
	assert.EqualValues(t, 30, n)
	assert.Equal(t, 10.0, v.total("agent_tasks_total", agent, "outcome=completed"))
	// 3,900 input and 600 output tokens at the built-in table's price.
	price := map[string][2]float64{"gpt-4o-mini": {0.15, 0.60}, "gpt-4o": {2.50, 10.0}, "claude-sonnet-4-5": {3.00, 15.0}}[model]
	assert.InDelta(t, (3900*price[0]+600*price[1])/1e6, v.total("agent_cost_usd_total", agent, "model="+model), 1e-12)
	// Exemplars link the latency histogram to traces.
	for _, dp := range v.hists["agent_request_duration_seconds"] {
		require.Positive(t, dp.Exemplars().Len())
		assert.False(t, dp.Exemplars().At(0).TraceID().IsEmpty())
	}
}

// allSpans flattens td into single-span Traces values (one per span).
func splitSpans(td ptrace.Traces) []ptrace.Traces {
	var out []ptrace.Traces
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				one := ptrace.NewTraces()
				nrs := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(nrs.Resource())
				nss := nrs.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(nss.Scope())
				s.CopyTo(nss.Spans().AppendEmpty())
				out = append(out, one)
			}
		}
	}
	return out
}

// The recorded traces, each trace's spans shuffled (roots first included)
// and split into batches 200 ms apart, traces interleaved, under the
// default configuration: the README truth. (Random multi-agent traces in
// SDK and adversarial orders: property_test.go.)
func TestRealClientFixturesShuffledWithinEachTraceKeepTheirTruth(t *testing.T) {
	for _, f := range agenttest.RealClientFiles {
		model := map[string]string{"otel-genai.otlp.jsonl": "gpt-4o-mini", "openinference.otlp.jsonl": "gpt-4o", "traceloop.otlp.jsonl": "claude-sonnet-4-5"}[f]
		for seed := range 6 {
			checkFixtureTruth(t, replayShuffled(t, agenttest.LoadMerged(t, f), seed), model)
		}
	}
}

// replayShuffled sends td's spans the way SDKs and batching deliver them:
// each trace's spans shuffled (seed 0: roots first), two traces in flight
// at a time, batches of 1..4 spans of one of them 200 ms apart, a flush
// every 10 s; then it closes everything and returns the metrics.
func replayShuffled(t *testing.T, td ptrace.Traces, seed int) metricsView {
	t.Helper()
	byTrace := map[pcommon.TraceID][]ptrace.Traces{}
	var ids []pcommon.TraceID
	for _, one := range splitSpans(td) {
		id := one.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
		if _, ok := byTrace[id]; !ok {
			ids = append(ids, id)
		}
		byTrace[id] = append(byTrace[id], one)
	}
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	h := newHarness(t, nil)
	var queue [][]ptrace.Traces
	for _, id := range ids {
		spans := slices.Clone(byTrace[id])
		if seed == 0 { // roots first
			slices.Reverse(spans)
		} else {
			r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
		}
		queue = append(queue, spans)
	}
	for len(queue) > 0 {
		k := r.IntN(min(2, len(queue)))
		n := min(1+r.IntN(4), len(queue[k]))
		batch := ptrace.NewTraces()
		for _, one := range queue[k][:n] {
			one.ResourceSpans().At(0).CopyTo(batch.ResourceSpans().AppendEmpty())
		}
		queue[k] = queue[k][n:]
		if len(queue[k]) == 0 {
			queue = slices.Delete(queue, k, k+1)
		}
		h.consume(batch)
		h.advance(200 * time.Millisecond)
		if h.now.Second()%10 == 0 && h.now.Nanosecond() == 0 {
			h.flush()
		}
	}
	h.advance(time.Minute)
	return h.flush()
}

func mkSpan(ss ptrace.ScopeSpans, trace int, id, parent byte, name string, start, end int64, attrs map[string]any) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{byte(trace), byte(trace >> 8), 0xab})
	s.SetSpanID(pcommon.SpanID{id})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{parent})
	}
	s.SetName(name)
	s.SetStartTimestamp(pcommon.Timestamp(start))
	s.SetEndTimestamp(pcommon.Timestamp(end))
	_ = s.Attributes().FromRaw(attrs)
	return s
}

func batchOf() (ptrace.Traces, ptrace.ScopeSpans) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc-fallback")
	return td, rs.ScopeSpans().AppendEmpty()
}

func TestRunWithoutRootExpiresAndStillCountsSpans(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 0, 2e9, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10})
	mkSpan(ss, 1, 3, 1, "execute_tool t", 0, 1e9, map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"})
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Empty(t, v.sums["agent_llm_calls_total"], "held while the run's agent is unknown")
	h.advance(30 * time.Minute)
	v = h.flush()
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "agent_id=svc-fallback"), "expired: span-level metrics under service.name")
	assert.Equal(t, 1.0, v.total("agent_tool_calls_total", "agent_id=svc-fallback"))
	assert.Equal(t, 0.0, v.total("agent_requests_total"), "no run span: no request counted")
	// A late root after expiry: span-level only, counted as late.
	td, ss = batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 3e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"})
	h.consume(td)
	h.advance(time.Minute)
	v = h.flush()
	assert.Equal(t, 0.0, v.total("agent_requests_total"))
	metadatatest.AssertEqualConnectorAgentmetricsSpansLate(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: kv("kind", "run")},
	}, ignoreTime...)
}

func TestMaxRunsEvictsOldest(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Runs.MaxRuns = 2 })
	for i := range 3 {
		td, ss := batchOf()
		mkSpan(ss, i+1, 1, 0, "invoke_agent a", 0, 1e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"})
		h.consume(td)
	}
	assert.Equal(t, 2, h.c.store.Len())
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=a"), "the evicted run is emitted, once")
	h.advance(time.Minute)
	v = h.flush()
	assert.Equal(t, 3.0, v.total("agent_requests_total", "agent_id=a"))
}

func TestOverflowUnderManyToolNames(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CardinalityLimit = 50 })
	td, ss := batchOf()
	mkSpan(ss, 1, 1, 0, "agent.request", 0, 1e9, map[string]any{"agent.agent.id": "a"})
	for i := range 200 {
		mkSpan(ss, 1, byte(i+2), 1, "agent.tool.execute", 0, 1e6, map[string]any{"agent.tool.name": "tool-" + string(rune('A'+i%26)) + string(rune('a'+i/26))})
	}
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Len(t, v.sums["agent_tool_calls_total"], 51)
	assert.Equal(t, 200.0, v.total("agent_tool_calls_total"), "overflowed calls are still counted")
	assert.Equal(t, 150.0, v.total("agent_tool_calls_total", "otel.metric.overflow=true"))
}

func TestSignalsFromAttributesAndEvents(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	root := mkSpan(ss, 1, 1, 0, "agent.request", 0, 1e9, map[string]any{"agent.agent.id": "a", "agent.task.type": "refund", "agent.task.outcome": "abandoned", "agent.run.total_steps": 7})
	root.Status().SetCode(ptrace.StatusCodeError)
	llm := mkSpan(ss, 1, 2, 1, "agent.llm.reasoning", 0, 1e9, map[string]any{"agent.model.name": "gpt-4o", "agent.step.outcome": "hallucination", "agent.hallucination.type": "fabricated_order"})
	ev := llm.Events().AppendEmpty()
	ev.SetName("gen_ai.evaluation.result")
	ev.Attributes().PutStr("gen_ai.evaluation.name", "hallucination_check")
	ev.Attributes().PutStr("gen_ai.evaluation.score.label", "hallucinated")
	ev = llm.Events().AppendEmpty()
	ev.SetName("agent.recovery")
	ev.Attributes().PutStr("agent.recovery.strategy", "retry")
	ev = llm.Events().AppendEmpty()
	ev.SetName("agent.approval")
	ev.Attributes().PutStr("agent.approval.result", "denied")
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_hallucination_total", "agent_id=a", "hallucination_type=fabricated_order"))
	assert.Equal(t, 1.0, v.total("agent_hallucination_total", "agent_id=a", "hallucination_type=hallucination_check"))
	assert.Equal(t, 1.0, v.total("agent_recovery_attempts_total", "recovery_strategy=retry"))
	assert.Equal(t, 1.0, v.total("agent_approval_requests_total", "result=denied"))
	assert.Equal(t, 1.0, v.total("agent_step_outcomes_total", "outcome=hallucination"))
	assert.Equal(t, 1.0, v.total("agent_tasks_total", "task_type=refund", "outcome=abandoned"))
	assert.Equal(t, 1.0, v.total("agent_requests_total", "status=failure"))
	_, steps := v.histCountSum("agent_reasoning_steps", "agent_id=a")
	assert.Equal(t, 7.0, steps, "agent.run.total_steps wins over the LLM call count")

	// Feedback arrives later, as its own span in the same trace.
	td, ss = batchOf()
	mkSpan(ss, 1, 9, 0, "feedback", 0, 1, map[string]any{"agent.feedback.score": 0.5})
	h.consume(td)
	h.advance(time.Minute)
	v = h.flush()
	n, sum := v.histCountSum("agent_user_feedback_score", "agent_id=a")
	assert.EqualValues(t, 1, n)
	assert.Equal(t, 0.5, sum)
}

func TestCacheTokensAreNotDoubleCounted(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 1e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"})
	mkSpan(ss, 1, 2, 1, "chat", 0, 1e9, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 600, "gen_ai.usage.output_tokens": 50})
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, 400.0, v.total("agent_tokens_consumed_total", "direction=input"))
	assert.Equal(t, 600.0, v.total("agent_tokens_consumed_total", "direction=cache_read"))
	assert.Equal(t, 1050.0, v.total("agent_tokens_consumed_total"))
	want := (400*2.5 + 600*1.25 + 50*10.0) / 1e6
	assert.InDelta(t, want, v.total("agent_cost_usd_total"), 1e-12)
}

func TestDriftDetectsCollapsedTool(t *testing.T) {
	h := newHarness(t, nil)
	// One run a second; each run calls lookup_order and one of two tools.
	runAt := func(i int, second string) {
		td, ss := batchOf()
		tid := i + 1
		mkSpan(ss, tid, 1, 0, "agent.request", 0, 1e9, map[string]any{"agent.agent.id": "support"})
		mkSpan(ss, tid, 2, 1, "agent.tool.execute", 0, 1e8, map[string]any{"agent.tool.name": "lookup_order"})
		mkSpan(ss, tid, 3, 1, "agent.tool.execute", 0, 1e8, map[string]any{"agent.tool.name": second})
		h.consume(td)
		h.advance(time.Second)
		if i%10 == 0 {
			h.flush()
		}
	}
	for i := range 3600 {
		runAt(i, "process_refund")
	}
	v := h.flush()
	require.Contains(t, v.gauge["agent_tool_selection_drift"], "agent_id=support")
	assert.Less(t, v.gauge["agent_tool_selection_drift"]["agent_id=support"], 0.05)
	assert.InDelta(t, 0.5, v.gauge["agent_tool_selection_ratio"]["agent_id=support,tool_name=process_refund"], 0.01)
	for i := range 300 { // one 5-minute window of the incident
		runAt(3600+i, "return_unable_to_process")
	}
	v = h.flush()
	d := v.gauge["agent_tool_selection_drift"]["agent_id=support"]
	assert.Greater(t, d, 0.3, "drift within one window of process_refund's share going from 50%% to 0")
	assert.Equal(t, 0.0, v.gauge["agent_tool_selection_ratio"]["agent_id=support,tool_name=process_refund"])
	assert.False(t, math.IsNaN(d))
}

func TestFeedbackInAnotherTraceByConversation(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 1e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper", "gen_ai.conversation.id": "conv-7"})
	h.consume(td)
	h.advance(time.Minute)
	h.flush()
	// The user rates the answer an hour later, from another service, in a new trace.
	h.advance(time.Hour)
	td, ss = batchOf()
	mkSpan(ss, 2, 1, 0, "POST /feedback", 0, 1, map[string]any{"gen_ai.conversation.id": "conv-7", "agent.feedback.score": 4})
	h.consume(td)
	v := h.flush()
	n, sum := v.histCountSum("agent_user_feedback_score", "agent_id=helper")
	assert.EqualValues(t, 1, n)
	assert.Equal(t, 4.0, sum)
	assert.Zero(t, h.c.store.Len(), "feedback alone opens no trace")
}

// Price data quality: every LLM call is counted by model and by how it was
// priced, and only complete costs reach agent_cost_usd_total (an
// embeddings model given output tokens it has no price for adds nothing).
func TestPriceQualityIsCountedAndOnlyFullCostsAreAdded(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 9e9, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"})
	calls := []map[string]any{
		{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100},
		{"gen_ai.request.model": "acme/gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 1000},
		{"gen_ai.request.model": "acme-1", "gen_ai.usage.input_tokens": 10},
		{"gen_ai.request.model": "gpt-4o"},
		{"gen_ai.request.model": "voyage-3", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5},
		{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 10, "agent.llm.cost_usd": 0.5},
	}
	for i, a := range calls {
		a["gen_ai.operation.name"] = "chat"
		mkSpan(ss, 1, byte(i+2), 1, "chat", 0, 1e9, a)
	}
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.InDelta(t, (1000*2.5+100*10.0)/1e6+0.5, v.total("agent_cost_usd_total", "model=gpt-4o"), 1e-12)
	assert.InDelta(t, 1000*0.15/1e6, v.total("agent_cost_usd_total", "model=acme/gpt-4o-mini-2024-07-18"), 1e-12)
	assert.Equal(t, 0.0, v.total("agent_cost_usd_total", "model=voyage-3"), "an incomplete cost is not added")
	assert.Equal(t, 0.0, v.total("agent_cost_usd_total", "model=acme-1"))
	metadatatest.AssertEqualConnectorAgentmetricsPriceLookups(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("model", "gpt-4o"), attribute.String("match", "exact"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("model", "acme/gpt-4o-mini-2024-07-18"), attribute.String("match", "family"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("model", "acme-1"), attribute.String("match", "unpriced"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("model", "gpt-4o"), attribute.String("match", "usage_missing"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("model", "voyage-3"), attribute.String("match", "incomplete"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("model", "gpt-4o"), attribute.String("match", "from_span"))},
	}, ignoreTime...)
}
