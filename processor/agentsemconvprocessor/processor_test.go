package agentsemconvprocessor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/argshash"
	"github.com/otelcol-agent/otelcol-agent/internal/contentredact"
	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadata"
	"github.com/otelcol-agent/otelcol-agent/processor/agentsemconvprocessor/internal/metadatatest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// run sends td through a processor built from cfg and returns what came out
// and the component's telemetry.
func run(t *testing.T, cfg *Config, td ptrace.Traces) (ptrace.Traces, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := &consumertest.TracesSink{}
	set := metadatatest.NewSettings(tel)
	p, err := createTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.NoError(t, p.Shutdown(context.Background()))
	out := ptrace.NewTraces()
	for _, b := range sink.AllTraces() {
		b.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	return out, tel
}

func defaultCfg() *Config { return createDefaultConfig().(*Config) }

func allSpans(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				out = append(out, s)
			}
		}
	}
	return out
}

// The recorded real-client traces: the truth from their README, then the
// golden file for everything else.
func TestRealClientsGolden(t *testing.T) {
	wantCost := map[string]float64{ // 3,900 input and 600 output tokens at the table's price
		"otel-genai.otlp.jsonl":    (3900*0.15 + 600*0.60) / 1e6, // gpt-4o-mini
		"openinference.otlp.jsonl": (3900*2.50 + 600*10.0) / 1e6, // gpt-4o
		"traceloop.otlp.jsonl":     (3900*3.00 + 600*15.0) / 1e6, // claude-sonnet-4-5
	}
	for _, f := range agenttest.RealClientFiles {
		t.Run(f, func(t *testing.T) {
			out, tel := run(t, defaultCfg(), agenttest.LoadMerged(t, f))
			kinds := map[string]int{}
			var in, outTok int64
			var cost float64
			failures := 0
			redactor := contentredact.New(contentredact.Settings{Mode: contentredact.ModeDrop})
			for _, s := range allSpans(out) {
				a := s.Attributes()
				k, _ := a.Get(agentspan.AttrSpanKind)
				kinds[k.Str()]++
				if v, ok := a.Get(agentspan.AttrTokensInput); ok {
					in += v.Int()
				}
				if v, ok := a.Get(agentspan.AttrTokensOutput); ok {
					outTok += v.Int()
				}
				if v, ok := a.Get(agentspan.AttrCostUSD); ok {
					cost += v.Double()
				}
				if v, ok := a.Get(agentspan.AttrToolStatus); ok && v.Str() == "failure" {
					failures++
				}
				// Run spans name their agent; a call carries one only when it
				// names it itself (Traceloop's entity attributes do): which
				// run a call belongs to is the connector's decision.
				id, _ := a.Get(agentspan.AttrAgentID)
				if k.Str() == "run" {
					assert.Equal(t, "support_bot", id.Str(), "agent id on run span %q", s.Name())
				} else if k.Str() != "" {
					assert.Contains(t, []string{"", "support_bot"}, id.Str(), "agent id on %s span %q", k.Str(), s.Name())
				}
				for key := range a.All() {
					assert.False(t, redactor.IsContent(key), "content attribute %s left on span %q", key, s.Name())
				}
			}
			assert.Equal(t, map[string]int{"run": 10, "llm": 30, "tool": 20}, kinds)
			assert.EqualValues(t, 3900, in)
			assert.EqualValues(t, 600, outTok)
			assert.Equal(t, 2, failures)
			assert.InDelta(t, wantCost[f], cost, 1e-12)

			metadatatest.AssertEqualProcessorAgentsemconvSpans(t, tel, []metricdata.DataPoint[int64]{
				{Value: 30, Attributes: attrSet("kind", "llm")},
				{Value: 10, Attributes: attrSet("kind", "run")},
				{Value: 20, Attributes: attrSet("kind", "tool")},
			}, metricdatatestIgnore...)
			metadatatest.AssertEqualProcessorAgentsemconvPricedSpans(t, tel, []metricdata.DataPoint[int64]{{Value: 30}}, metricdatatestIgnore...)

			goldenPath := filepath.Join("testdata", "golden", strings.TrimSuffix(f, ".otlp.jsonl")+".yaml")
			if *update {
				require.NoError(t, golden.WriteTraces(t, goldenPath, out))
			}
			want, err := golden.ReadTraces(goldenPath)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(want, out, ptracetest.IgnoreResourceSpansOrder(), ptracetest.IgnoreSpansOrder()))
		})
	}
}

func span(ss ptrace.ScopeSpans, trace, id, parent byte, name string, kind ptrace.SpanKind, attrs map[string]any) ptrace.Span {
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{trace})
	s.SetSpanID(pcommon.SpanID{id})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{parent})
	}
	s.SetName(name)
	s.SetKind(kind)
	s.SetStartTimestamp(1_000_000_000)
	s.SetEndTimestamp(1_250_000_000)
	require.NoError(nil, s.Attributes().FromRaw(attrs))
	return s
}

func oneScope() (ptrace.Traces, ptrace.ScopeSpans) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	return td, rs.ScopeSpans().AppendEmpty()
}

func get(t *testing.T, s ptrace.Span, key string) pcommon.Value {
	t.Helper()
	v, ok := s.Attributes().Get(key)
	require.True(t, ok, "span %q has no %s: %v", s.Name(), key, s.Attributes().AsRaw())
	return v
}

func TestApplicationValuesAreNeverOverwritten(t *testing.T) {
	td, ss := oneScope()
	span(ss, 1, 1, 0, "chat", ptrace.SpanKindClient, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10,
		agentspan.AttrModelName: "my-model", agentspan.AttrCostUSD: 1.25, agentspan.AttrTokensInput: "lots", agentspan.AttrSpanKind: "llm",
	})
	out, _ := run(t, defaultCfg(), td)
	s := allSpans(out)[0]
	assert.Equal(t, "my-model", get(t, s, agentspan.AttrModelName).Str())
	assert.Equal(t, 1.25, get(t, s, agentspan.AttrCostUSD).Double())
	assert.Equal(t, "lots", get(t, s, agentspan.AttrTokensInput).Str(), "an invalid application value is left as it was")
	assert.EqualValues(t, 10, get(t, s, agentspan.AttrTokensOutput).Int())
}

func TestBadTokenValuesAreCountedNotWritten(t *testing.T) {
	td, ss := oneScope()
	for i, v := range []any{"12abc", -4, "NaN", 20_000_000, 2.5, "  42 "} {
		span(ss, 1, byte(i+1), 0, "chat", ptrace.SpanKindClient, map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": v, "gen_ai.usage.output_tokens": 5,
		})
	}
	before := ptrace.NewTraces()
	td.CopyTo(before)
	out, tel := run(t, defaultCfg(), td)
	spans := allSpans(out)
	require.Len(t, spans, 6, "nothing else in the batch is lost")
	for i, s := range spans[:5] {
		_, ok := s.Attributes().Get(agentspan.AttrTokensInput)
		assert.False(t, ok, "span %d: invalid input written", i)
		assert.EqualValues(t, 5, get(t, s, agentspan.AttrTokensOutput).Int())
		orig, _ := allSpans(before)[i].Attributes().Get("gen_ai.usage.input_tokens")
		got := get(t, s, "gen_ai.usage.input_tokens")
		assert.True(t, orig.Equal(got), "span %d: original attribute changed", i)
	}
	assert.EqualValues(t, 42, get(t, spans[5], agentspan.AttrTokensInput).Int(), "a numeric string is parsed")
	metadatatest.AssertEqualProcessorAgentsemconvInvalidAttributes(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attrSet("reason", "negative")},
		{Value: 1, Attributes: attrSet("reason", "non_integer")},
		{Value: 1, Attributes: attrSet("reason", "non_numeric")},
		{Value: 1, Attributes: attrSet("reason", "not_finite")},
		{Value: 1, Attributes: attrSet("reason", "too_large")},
	}, metricdatatestIgnore...)
}

func TestUnknownModelGetsNoCostAndIsCounted(t *testing.T) {
	td, ss := oneScope()
	for i := range 5 {
		span(ss, 1, byte(i+1), 0, "chat", ptrace.SpanKindClient, map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.request.model": []string{"acme-1", "acme-2", "acme-3", "acme-1", "gpt-4o"}[i],
			"gen_ai.usage.input_tokens": 10,
		})
	}
	cfg := defaultCfg()
	cfg.UnknownModelsLimit = 1
	out, tel := run(t, cfg, td)
	for _, s := range allSpans(out) {
		m := get(t, s, agentspan.AttrModelName).Str()
		_, hasCost := s.Attributes().Get(agentspan.AttrCostUSD)
		assert.Equal(t, m == "gpt-4o", hasCost, m)
	}
	metadatatest.AssertEqualProcessorAgentsemconvUnknownModels(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attrSet("model", "acme-1")},
		{Value: 2, Attributes: attrSet("model", "other")},
	}, metricdatatestIgnore...)
}

// Price data quality is counted by model and outcome, and a cost is
// written only when every token part was priced: an exact name, a family
// name (a fine-tune's dated base), an unknown model, an LLM span without
// usage, an embeddings model given output tokens it has no price for, and a
// span that carries its own cost.
func TestPriceQualityIsCountedAndOnlyFullCostsAreWritten(t *testing.T) {
	td, ss := oneScope()
	calls := []struct {
		model string
		attrs map[string]any
		cost  bool
	}{
		{"gpt-4o", map[string]any{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}, true},
		{"acme/gpt-4o-mini-2024-07-18", map[string]any{"gen_ai.usage.input_tokens": 10}, true},
		{"acme-1", map[string]any{"gen_ai.usage.input_tokens": 10}, false},
		{"gpt-4o", map[string]any{}, false},
		{"voyage-3", map[string]any{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}, false},
		{"gpt-4o", map[string]any{"gen_ai.usage.input_tokens": 10, agentspan.AttrCostUSD: 0.5}, true},
	}
	for i, c := range calls {
		attrs := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": c.model}
		for k, v := range c.attrs {
			attrs[k] = v
		}
		span(ss, 1, byte(i+1), 0, "chat", ptrace.SpanKindClient, attrs)
	}
	out, tel := run(t, defaultCfg(), td)
	for i, s := range allSpans(out) {
		_, hasCost := s.Attributes().Get(agentspan.AttrCostUSD)
		assert.Equal(t, calls[i].cost, hasCost, "%d %s", i, calls[i].model)
	}
	qa := func(model, match string) attribute.Set {
		return attribute.NewSet(attribute.String("model", model), attribute.String("match", match))
	}
	metadatatest.AssertEqualProcessorAgentsemconvPriceLookups(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: qa("gpt-4o", "exact")},
		{Value: 1, Attributes: qa("acme/gpt-4o-mini-2024-07-18", "family")},
		{Value: 1, Attributes: qa("acme-1", "unpriced")},
		{Value: 1, Attributes: qa("gpt-4o", "usage_missing")},
		{Value: 1, Attributes: qa("voyage-3", "incomplete")},
		{Value: 1, Attributes: qa("gpt-4o", "from_span")},
	}, metricdatatestIgnore...)
	metadatatest.AssertEqualProcessorAgentsemconvUnknownModels(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attrSet("model", "acme-1")},
	}, metricdatatestIgnore...)
}

// The processor writes facts of each span only: explicit agent spans are
// marked run (nested ones too), a generic root is left alone and no agent
// id is copied onto calls; and the output is the same whether the trace
// comes whole or one span per batch.
func TestWritesOnlyPerSpanFactsWhateverTheBatching(t *testing.T) {
	td, ss := oneScope()
	// LangChain-style: a CHAIN root, an AGENT below it, a sub-AGENT below
	// that, an LLM under the sub-agent.
	span(ss, 1, 1, 0, "RunnableSequence", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 999})
	span(ss, 1, 2, 1, "planner", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "AGENT", "agent.name": "planner"})
	span(ss, 1, 3, 2, "researcher", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "AGENT", "agent.name": "researcher"})
	span(ss, 1, 4, 3, "llm", ptrace.SpanKindClient, map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 999})
	span(ss, 2, 1, 0, "chain", ptrace.SpanKindServer, map[string]any{"openinference.span.kind": "CHAIN"})
	span(ss, 2, 2, 1, "search", ptrace.SpanKindInternal, map[string]any{"openinference.span.kind": "TOOL", "tool.name": "search"})
	whole := ptrace.NewTraces()
	td.CopyTo(whole)
	out, _ := run(t, defaultCfg(), whole)
	kinds := map[string]string{}
	for _, s := range allSpans(out) {
		v, _ := s.Attributes().Get(agentspan.AttrSpanKind)
		kinds[s.TraceID().String()[:2]+"/"+s.Name()] = v.Str()
		if s.Name() == "llm" || s.Name() == "search" {
			_, has := s.Attributes().Get(agentspan.AttrAgentID)
			assert.False(t, has, "%s: the agent of a call is the connector's decision, on the whole trace", s.Name())
		}
	}
	assert.Equal(t, map[string]string{
		"01/RunnableSequence": "", "01/planner": "run", "01/researcher": "run", "01/llm": "llm",
		"02/chain": "", "02/search": "tool",
	}, kinds)
	// One span per batch, in reverse order (roots last): the same spans.
	spans := allSpans(td)
	for i := len(spans) - 1; i >= 0; i-- {
		one, oss := oneScope()
		spans[i].CopyTo(oss.Spans().AppendEmpty())
		got, _ := run(t, defaultCfg(), one)
		want := allSpans(out)[i]
		assert.Equal(t, want.Attributes().AsRaw(), allSpans(got)[0].Attributes().AsRaw(), spans[i].Name())
	}
}

func TestRemoveOriginalsOption(t *testing.T) {
	td, ss := oneScope()
	span(ss, 1, 1, 0, "chat", ptrace.SpanKindClient, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
		"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10, "gen_ai.system": "openai", "server.address": "api",
	})
	cfg := defaultCfg()
	cfg.KeepOriginalAttributes = false
	out, _ := run(t, cfg, td)
	s := allSpans(out)[0]
	for _, k := range []string{"gen_ai.request.model", "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"} {
		_, ok := s.Attributes().Get(k)
		assert.False(t, ok, "%s kept", k)
	}
	// gen_ai.system has no canonical counterpart written, so it stays.
	for _, k := range []string{"gen_ai.operation.name", "gen_ai.system", "server.address", agentspan.AttrModelName, agentspan.AttrTokensInput} {
		_, ok := s.Attributes().Get(k)
		assert.True(t, ok, "%s removed", k)
	}
}

func TestRedactionModes(t *testing.T) {
	mk := func() ptrace.Traces {
		td, ss := oneScope()
		span(ss, 1, 1, 0, "chat", ptrace.SpanKindClient, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.input.messages": strings.Repeat("x", 100)})
		return td
	}
	sum := sha256.Sum256([]byte(strings.Repeat("x", 100)))
	// Each check reports against its own subtest (it is given the subtest's t).
	for mode, check := range map[string]func(t *testing.T, v pcommon.Value, ok bool){
		"drop":     func(t *testing.T, _ pcommon.Value, ok bool) { assert.False(t, ok) },
		"truncate": func(t *testing.T, v pcommon.Value, ok bool) { assert.True(t, ok); assert.Equal(t, "xxxxxxxx", v.Str()) },
		"hash": func(t *testing.T, v pcommon.Value, ok bool) {
			assert.True(t, ok)
			assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), v.Str())
		},
		"keep": func(t *testing.T, v pcommon.Value, ok bool) {
			assert.True(t, ok)
			assert.Equal(t, strings.Repeat("x", 100), v.Str())
		},
	} {
		t.Run(mode, func(t *testing.T) {
			cfg := defaultCfg()
			cfg.Redaction.Mode = string(mode)
			cfg.Redaction.TruncateBytes = 8
			out, _ := run(t, cfg, mk())
			v, ok := allSpans(out)[0].Attributes().Get("gen_ai.input.messages")
			check(t, v, ok)
		})
	}
}

func TestCostWithCacheTokens(t *testing.T) {
	td, ss := oneScope()
	// Anthropic-native reporting: input excludes cache (auto rule detects it).
	span(ss, 1, 1, 0, "chat", ptrace.SpanKindClient, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5-20250929",
		"gen_ai.usage.input_tokens": 20, "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.cache_creation.input_tokens": 200,
		"gen_ai.usage.output_tokens": 50,
	})
	out, _ := run(t, defaultCfg(), td)
	s := allSpans(out)[0]
	assert.EqualValues(t, 1220, get(t, s, agentspan.AttrTokensInput).Int())
	assert.EqualValues(t, 1000, get(t, s, agentspan.AttrTokensCacheRead).Int())
	assert.EqualValues(t, 200, get(t, s, agentspan.AttrTokensCacheWrite).Int())
	want := (20*3.00 + 1000*0.30 + 200*3.75 + 50*15.00) / 1e6
	assert.InDelta(t, want, get(t, s, agentspan.AttrCostUSD).Double(), 1e-12)
}

func TestFactoryCreatesWithEveryTestConfig(t *testing.T) {
	for _, name := range []string{"", "custom"} {
		cfg := loadConfig(t, name)
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		require.NoError(t, err, name)
		require.NoError(t, p.Shutdown(context.Background()))
	}
	cfg := defaultCfg()
	cfg.Pricing.File = "testdata/does-not-exist.yaml"
	_, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	assert.ErrorContains(t, err, "pricing.file")
}

// Tool arguments are content: redaction removes them, but the hash of the
// original arguments reaches the connector (loop detection) through the
// process's side table, never on the span. With content kept there is
// nothing to pass: the connector hashes what the span carries.
func TestToolArgumentsHashReachesTheConnectorNotTheSpan(t *testing.T) {
	const args = `{"job_id":"j-42"}`
	for _, mode := range []contentredact.Mode{contentredact.ModeDrop, contentredact.ModeHash, contentredact.ModeTruncate, contentredact.ModeKeep} {
		t.Run(string(mode), func(t *testing.T) {
			td, ss := oneScope()
			span(ss, 9, 1, 0, "execute_tool poll_job", ptrace.SpanKindInternal, map[string]any{
				"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "poll_job", "gen_ai.tool.call.arguments": args,
			})
			cfg := defaultCfg()
			cfg.Redaction.Mode = string(mode)
			out, _ := run(t, cfg, td)
			s := allSpans(out)[0]
			got := argshash.Shared.Take(s.TraceID(), s.SpanID())
			v, kept := s.Attributes().Get("gen_ai.tool.call.arguments")
			if mode == contentredact.ModeKeep {
				assert.Zero(t, got, "kept arguments are read from the span")
				assert.Equal(t, args, v.Str())
				return
			}
			assert.Equal(t, agentspan.HashArgs(args), got, "the hash of the arguments before redaction")
			if kept && mode != contentredact.ModeTruncate { // truncate keeps a prefix by design
				assert.NotContains(t, v.Str(), "j-42", "redacted on the span")
			}
			for k, v := range s.Attributes().All() {
				assert.NotEqual(t, fmt.Sprint(got), v.AsString(), "the hash is not written on the span (%s)", k)
			}
		})
	}
}
