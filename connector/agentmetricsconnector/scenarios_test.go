package agentmetricsconnector

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadatatest"
	"github.com/otelcol-agent/otelcol-agent/internal/agentconv"
	"github.com/otelcol-agent/otelcol-agent/internal/pricing"
)

var ignoreTime = []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}

func kv(k, v string) attribute.Set { return attribute.NewSet(attribute.String(k, v)) }

func agentSpan(name string) map[string]any {
	return map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
}

func chat(tokens int) map[string]any {
	return map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 10}
}

func toolSpan(name string) map[string]any {
	return map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
}

// The scenario: an HTTP request runs a supervisor (which calls a
// nested researcher) and then a sibling summarizer; five such requests.
func TestSupervisorResearcherSummarizer(t *testing.T) {
	h := newHarness(t, nil)
	for tr := 1; tr <= 5; tr++ {
		// Children first, roots last, one batch per level as SDKs export.
		td, ss := batchOf()
		mkSpan(ss, tr, 4, 3, "chat", 2e9, 3e9, chat(100))
		mkSpan(ss, tr, 5, 3, "execute_tool web_search", 3e9, 4e9, toolSpan("web_search"))
		mkSpan(ss, tr, 6, 2, "chat", 1e9, 2e9, chat(50))
		mkSpan(ss, tr, 9, 8, "chat", 6e9, 7e9, chat(20))
		h.consume(td)
		h.advance(time.Second)
		td, ss = batchOf()
		mkSpan(ss, tr, 3, 2, "invoke_agent researcher", 2e9, 5e9, agentSpan("researcher"))
		mkSpan(ss, tr, 7, 2, "execute_tool delegate", 5e9, 5.5e9, toolSpan("delegate"))
		mkSpan(ss, tr, 2, 1, "invoke_agent supervisor", 1e9, 6e9, agentSpan("supervisor"))
		mkSpan(ss, tr, 8, 1, "invoke_agent summarizer", 6e9, 8e9, agentSpan("summarizer"))
		h.consume(td)
		h.advance(time.Second)
		td, ss = batchOf()
		mkSpan(ss, tr, 1, 0, "POST /answer", 0, 9e9, nil)
		h.consume(td)
	}
	h.advance(10 * time.Second)
	v := h.flush()
	assert.Equal(t, 10.0, v.total("agent_requests_total"), "two entry invocations per request")
	assert.Equal(t, 5.0, v.total("agent_requests_total", "agent_id=supervisor"))
	assert.Equal(t, 5.0, v.total("agent_requests_total", "agent_id=summarizer"))
	assert.Equal(t, 0.0, v.total("agent_requests_total", "agent_id=researcher"), "a nested invocation is no request")
	assert.Equal(t, 15.0, v.total("agent_invocations_total"))
	assert.Equal(t, 5.0, v.total("agent_invocations_total", "agent_id=researcher", "caller_agent_id=supervisor"))
	assert.Equal(t, 5.0, v.total("agent_llm_calls_total", "agent_id=supervisor"), "its own call only")
	assert.Equal(t, 5.0, v.total("agent_llm_calls_total", "agent_id=researcher"))
	assert.Equal(t, 5.0, v.total("agent_llm_calls_total", "agent_id=summarizer"))
	assert.Equal(t, 500.0, v.total("agent_tokens_consumed_total", "agent_id=researcher", "direction=input"))
	assert.Equal(t, 5.0, v.total("agent_tool_calls_total", "agent_id=researcher", "tool_name=web_search"))
	assert.Equal(t, 5.0, v.total("agent_tool_calls_total", "agent_id=supervisor", "tool_name=delegate"))
	for agent, perRun := range map[string]float64{"supervisor": 1, "researcher": 1, "summarizer": 1} {
		n, sum := v.histCountSum("agent_reasoning_steps", "agent_id="+agent)
		assert.EqualValues(t, 5, n, agent)
		assert.Equal(t, 5*perRun, sum, agent)
	}
	// L4: the supervisor's run costs its own call and the researcher's.
	n, sum := v.histCountSum("agent_run_cost_usd", "agent_id=supervisor")
	assert.EqualValues(t, 5, n)
	assert.InDelta(t, 5*((150*2.5+20*10.0)/1e6), sum, 1e-12)
	assert.InDelta(t, 5*((50*2.5+10*10.0)/1e6), v.total("agent_cost_usd_total", "agent_id=supervisor"), 1e-12)
}

// The scenario: a run whose spans keep coming for longer than the
// old 5-minute TTL (here two hours), root last.
func TestRunLongerThanAnyTTLCountsOnceUnderItsAgent(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 24 { // a call every 5 minutes for two hours
		td, ss := batchOf()
		mkSpan(ss, 1, byte(2*i+2), 1, "chat", int64(i)*300e9, int64(i)*300e9+1e9, chat(10))
		mkSpan(ss, 1, byte(2*i+3), 1, "execute_tool build", int64(i)*300e9+1e9, int64(i)*300e9+2e9, toolSpan("build"))
		h.consume(td)
		h.advance(5 * time.Minute)
		v := h.flush()
		require.Zero(t, v.total("agent_requests_total"))
		require.Zero(t, v.total("agent_llm_calls_total"), "decided once, when the run closes")
	}
	td, ss := batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent coder", 0, 7200e9, agentSpan("coder"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=coder"))
	assert.Equal(t, 24.0, v.total("agent_llm_calls_total", "agent_id=coder"))
	assert.Equal(t, 24.0, v.total("agent_tool_calls_total", "agent_id=coder"))
	n, sum := v.histCountSum("agent_request_duration_seconds", "agent_id=coder")
	assert.EqualValues(t, 1, n)
	assert.Equal(t, 7200.0, sum, "durations above 300 s are recorded")
	_, steps := v.histCountSum("agent_reasoning_steps", "agent_id=coder")
	assert.Equal(t, 24.0, steps)
}

// The scenario: a sub-agent that arrives long before its outer
// agent does not take the run over.
func TestSubAgentArrivingFirstDoesNotTakeTheRunOver(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 3, 2, "chat", 1e9, 2e9, chat(10))
	mkSpan(ss, 1, 2, 1, "invoke_agent sub", 1e9, 3e9, agentSpan("sub"))
	h.consume(td)
	h.advance(time.Minute) // far more than the grace period
	h.flush()
	td, ss = batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent outer", 0, 4e9, agentSpan("outer"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total"))
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=outer"))
	assert.Equal(t, 1.0, v.total("agent_invocations_total", "agent_id=sub", "caller_agent_id=outer"))
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "agent_id=sub"))
}

// A run that names no agent anywhere: every series under service.name.
func TestRunWithoutAgentIDUsesServiceNameOnEverySeries(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
	mkSpan(ss, 1, 3, 1, "execute_tool t", 2e9, 3e9, toolSpan("t"))
	mkSpan(ss, 1, 1, 0, "RunnableSequence", 0, 4e9, map[string]any{"openinference.span.kind": "CHAIN"})
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	for _, m := range []string{"agent_requests_total", "agent_llm_calls_total", "agent_tool_calls_total", "agent_tasks_total", "agent_invocations_total"} {
		assert.Equal(t, 1.0, v.total(m, "agent_id=svc-fallback"), m)
		assert.Equal(t, 1.0, v.total(m), m)
	}
}

// A framework LLM span around a provider LLM span: one call.
func TestLLMSpanUnderLLMSpanCountsOnce(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 3, 2, "chat gpt-4o", 1e9, 2e9, chat(100))
	mkSpan(ss, 1, 2, 1, "ChatOpenAI", 1e9, 2e9, map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 100})
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total"))
	assert.Equal(t, 100.0, v.total("agent_tokens_consumed_total", "direction=input"))
}

// Shutdown decides every open trace (reason shutdown) before the last
// flush: a complete run in its grace period and a run still open.
func TestShutdownClosesOpenRunsBeforeTheLastFlush(t *testing.T) {
	h := newHarness(t, nil)
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10))
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	mkSpan(ss, 2, 2, 1, "chat", 1e9, 2e9, chat(10)) // root not yet exported
	h.consume(td)
	require.NoError(t, h.c.Shutdown(context.Background()))
	v := newView(h.sink.AllMetrics()[len(h.sink.AllMetrics())-1])
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=a"))
	assert.Equal(t, 2.0, v.total("agent_llm_calls_total"))
	assert.Equal(t, 1.0, v.total("agent_llm_calls_total", "agent_id=svc-fallback"), "the open one under its service")
	metadatatest.AssertEqualConnectorAgentmetricsTracesClosed(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: kv("reason", "shutdown")},
	}, ignoreTime...)
}

// Every counter of the connector's own telemetry, on one scripted history.
func TestOwnTelemetry(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Runs.MaxRuns = 2; c.CardinalityLimit = 1 })
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, chat(10)) // held, root to come
	mkSpan(ss, 2, 2, 1, "execute_tool a", 1e9, 2e9, toolSpan("a"))
	mkSpan(ss, 2, 3, 1, "execute_tool b", 1e9, 2e9, toolSpan("b"))
	h.consume(td)
	h.c.mu.Lock()
	spans, bytes := int64(h.c.store.Spans()), h.c.store.Bytes()
	h.c.mu.Unlock()
	metadatatest.AssertEqualConnectorAgentmetricsTracesActive(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignoreTime...)
	metadatatest.AssertEqualConnectorAgentmetricsSpansHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 3}}, ignoreTime...)
	metadatatest.AssertEqualConnectorAgentmetricsHeldBytes(t, h.tel, []metricdata.DataPoint[int64]{{Value: bytes}}, ignoreTime...)
	assert.EqualValues(t, 3, spans)
	assert.Positive(t, bytes)
	// A third trace evicts the least recently active (trace 1).
	td, ss = batchOf()
	mkSpan(ss, 3, 1, 0, "invoke_agent x", 0, 1e9, agentSpan("x"))
	h.consume(td)
	// Trace 1's root arrives after it was decided: late, no second run.
	td, ss = batchOf()
	mkSpan(ss, 1, 1, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	mkSpan(ss, 1, 4, 1, "chat", 1e9, 2e9, chat(10))
	h.consume(td)
	h.advance(time.Minute)
	v := h.flush()
	assert.Zero(t, v.total("agent_requests_total", "agent_id=a"), "a late root opens no request")
	h.advance(31 * time.Minute)
	h.flush()
	metadatatest.AssertEqualConnectorAgentmetricsTracesClosed(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: kv("reason", "evicted")},
		{Value: 1, Attributes: kv("reason", "completed")},
		{Value: 1, Attributes: kv("reason", "expired")},
	}, ignoreTime...)
	metadatatest.AssertEqualConnectorAgentmetricsSpansLate(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: kv("kind", "run")},
		{Value: 1, Attributes: kv("kind", "llm")},
	}, ignoreTime...)
	metadatatest.AssertEqualConnectorAgentmetricsTracesActive(t, h.tel, []metricdata.DataPoint[int64]{{Value: 0}}, ignoreTime...)
	metadatatest.AssertEqualConnectorAgentmetricsSpansHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 0}}, ignoreTime...)
	metadatatest.AssertEqualConnectorAgentmetricsSeriesOverflow(t, h.tel, []metricdata.DataPoint[int64]{
		// Limit 1: the second tool, and the output direction of the llm
		// call's tokens (input came first), overflow.
		{Value: 1, Attributes: kv("metric", "agent_tool_calls_total")},
		{Value: 1, Attributes: kv("metric", "agent_tool_duration_seconds")},
		{Value: 1, Attributes: kv("metric", "agent_tool_selection_ratio")},
		{Value: 1, Attributes: kv("metric", "agent_tokens_consumed_total")},
	}, ignoreTime...)
}

// metrics_expiration: an agent unseen for longer leaves the output; when
// it comes back its counters restart.
func TestIdleSeriesExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MetricsExpiration = time.Hour })
	run := func(tr int, agent string) {
		td, ss := batchOf()
		mkSpan(ss, tr, 2, 1, "chat", 1e9, 2e9, chat(10))
		mkSpan(ss, tr, 1, 0, "invoke_agent "+agent, 0, 3e9, agentSpan(agent))
		h.consume(td)
		h.advance(10 * time.Second)
		h.flush()
	}
	run(1, "old")
	run(2, "old")
	h.advance(30 * time.Minute)
	run(3, "live")
	v := h.flush()
	assert.Equal(t, 2.0, v.total("agent_requests_total", "agent_id=old"), "idle for 30m: kept")
	h.advance(31 * time.Minute)
	run(4, "live")
	v = h.flush()
	assert.Zero(t, v.total("agent_requests_total", "agent_id=old"), "idle for over 1h: expired")
	assert.Equal(t, 2.0, v.total("agent_requests_total", "agent_id=live"))
	run(5, "old")
	v = h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=old"), "back: restarted")
}

// One truth: the connector reads spans with the conventions block it is
// given (the processor's), not with built-in defaults: custom prices, a
// table without the built-in models, rules, mappings and cache accounting.
func TestConventionsBlockIsTheProcessors(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Pricing.DisableBuiltin = true
		c.Pricing.Models = []pricing.Entry{{Models: []string{"acme-7b"}, Price: pricing.Price{Input: 1, Output: 2}}}
		c.Rules = []agentconv.RuleConfig{{Attribute: "acme.kind", Value: "job", Kind: "run"}}
		c.AttributeMappings = map[string][]string{"agent_id": {"acme.bot"}}
		c.CacheAccounting = map[string]string{"anthropic": "excluded"}
	})
	td, ss := batchOf()
	mkSpan(ss, 1, 2, 1, "chat", 1e9, 2e9, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "acme-7b",
		"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500})
	mkSpan(ss, 1, 3, 1, "chat", 1e9, 2e9, chat(1000)) // gpt-4o: not in this table
	mkSpan(ss, 1, 4, 1, "chat", 1e9, 2e9, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "acme-7b",
		"gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.cache_read.input_tokens": 50})
	mkSpan(ss, 1, 1, 0, "job", 0, 3e9, map[string]any{"acme.kind": "job", "acme.bot": "nightly"})
	h.consume(td)
	h.advance(6 * time.Second)
	v := h.flush()
	assert.Equal(t, 1.0, v.total("agent_requests_total", "agent_id=nightly"), "the rule makes the run, the mapping names it")
	assert.InDelta(t, (1000*1.0+500*2.0+100*1.0+50*1.0)/1e6, // cache reads at the input price (none given)
		v.total("agent_cost_usd_total", "agent_id=nightly", "model=acme-7b"), 1e-15)
	assert.Zero(t, v.total("agent_cost_usd_total", "model=gpt-4o"), "not priced from the built-in table")
	assert.Equal(t, 1100.0, v.total("agent_tokens_consumed_total", "model=acme-7b", "direction=input"), "anthropic input excludes its cache reads")
	assert.Equal(t, 50.0, v.total("agent_tokens_consumed_total", "direction=cache_read"))
}
