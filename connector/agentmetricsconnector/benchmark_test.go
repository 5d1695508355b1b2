package agentmetricsconnector

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/metadata"
	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

// benchLogRuns: 300 runs of agenttest.RealisticLogs, 1,000 records a batch.
const benchLogRuns = 300

// BenchmarkConsumeTraces: agentmetrics on realistic agent batches (ns/span,
// allocs/op). Contrib span_metrics and signal_to_metrics run the same loop on
// the same batches in test/stockbench (kept out of this module so that its
// go.mod requires no contrib connector); the OTLP decode of that batch, the
// reference for the processor + connector target, is BenchmarkDecodeOTLP in
// the processor's module.
func BenchmarkConsumeTraces(b *testing.B) {
	b.Run("agentmetrics", func(b *testing.B) {
		cfg := createDefaultConfig().(*Config)
		cfg.FlushInterval = time.Hour // flushes are not part of the per-span cost
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.now = func() time.Time { return now }
		agenttest.BenchTracesConnector(b, c, func(int) {
			// Close (decide and emit) the runs of the last batches, as the
			// periodic flush does in a live collector.
			now = now.Add(time.Hour)
			_ = c.flush(context.Background())
		})
	})
}

// decorate2026 adds what the issue 13 families read to a realistic batch:
// a time to first token and a tenant on every LLM span, arguments on every
// tool span (one in five an MCP tools/call), a guardrail span per run.
func decorate2026(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			n := ss.Spans().Len()
			for i := range n {
				s := ss.Spans().At(i)
				in := agentspan.Info{}
				agentspan.DefaultExtractor.Extract(s, &in)
				switch in.Kind {
				case agentspan.KindLLM:
					s.Attributes().PutDouble("gen_ai.response.time_to_first_chunk", 0.2)
					s.Attributes().PutStr("tenant.id", fmt.Sprintf("tenant-%d", i%7))
				case agentspan.KindTool:
					s.Attributes().PutStr("gen_ai.tool.call.arguments", fmt.Sprintf(`{"order_id":"o-%d"}`, i))
					if i%5 == 0 {
						s.Attributes().PutStr("mcp.method.name", "tools/call")
					}
				}
				if s.ParentSpanID().IsEmpty() {
					g := ss.Spans().AppendEmpty()
					g.SetTraceID(s.TraceID())
					g.SetSpanID(pcommon.SpanID{0xee, byte(i), byte(i >> 8), 0, 0, 0, 0, 1})
					g.SetParentSpanID(s.SpanID())
					g.SetName("pii_check.guardrail")
					g.SetStartTimestamp(s.StartTimestamp())
					g.SetEndTimestamp(s.StartTimestamp() + 1e6)
					g.Attributes().PutStr("gen_ai.operation.name", "guardrail.run")
					g.Attributes().PutStr("gen_ai.guardrail.name", "pii_check")
					g.Attributes().PutStr("gen_ai.guardrail.status", "PASSED")
				}
			}
		}
	}
}

// BenchmarkConsumeTraces2026: the same loop on the realistic batch with the
// issue 13 inputs added (decorate2026): "base" with the optional families
// off (time to first token, MCP and guardrails have no switch: they are in
// every variant), then each optional family on its own, then all of them:
// the cost of each family per span, on the same batch and method.
func BenchmarkConsumeTraces2026(b *testing.B) {
	variants := []struct {
		name string
		on   func(*Config)
	}{
		{"base", func(*Config) {}},
		{"loops", func(c *Config) { c.Loops.Enabled = true }},
		{"sessions", func(c *Config) { c.Sessions.Enabled = true }},
		{"tenants", func(c *Config) { c.Tenants.Attributes = []string{"tenant.id"} }},
		{"genai_semconv", func(c *Config) { c.GenAIMetrics = true }},
		{"all_families", func(c *Config) {
			c.Loops.Enabled, c.Sessions.Enabled, c.GenAIMetrics = true, true, true
			c.Tenants.Attributes = []string{"tenant.id"}
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.FlushInterval = time.Hour
			cfg.Loops.Enabled, cfg.Sessions.Enabled = false, false
			v.on(cfg)
			c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			c.now = func() time.Time { return now }
			agenttest.BenchTracesConnectorOn(b, c, decorate2026, func(int) {
				now = now.Add(time.Hour)
				_ = c.flush(context.Background())
			})
		})
	}
}

// setLogGeneration stamps iter into every trace id of ld (in place), as
// setGeneration does into the spans': the records of a batch and the spans
// they were made from stamped with the same iter share their trace ids.
func setLogGeneration(ld plog.Logs, iter int) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				id := lr.TraceID()
				id[12], id[13], id[14], id[15] = byte(iter), byte(iter>>8), byte(iter>>16), byte(iter>>24)
				lr.SetTraceID(id)
			}
		}
	}
}

// BenchmarkConsumeLogs measures the connector's ConsumeLogs on
// agenttest.RealisticLogs of 300 runs (1,000 records a batch, of which 100 are
// gen_ai.evaluation.result verdicts that join their trace in the store),
// with the method of BenchmarkConsumeTraces: batches built ahead, new trace
// ids every round of `distinct` batches (restamped with the timer
// stopped), no forced collection. ns/record is over every record of the
// batch (what the logs pipeline hands the connector); ns/agent-record over
// the verdicts alone.
//
//   - no_trace: the records come first (the logs SDK exports every second,
//     the spans' every five) and no span of their traces ever comes: each
//     verdict opens its trace in the store, and the close of those traces
//     (the flush after the grace period, which counts the verdicts against
//     the service) is timed as well: all of the work is the records'.
//   - trace_open: the spans of the runs came first and their traces are
//     open (waiting for their grace period): each verdict joins its trace.
//     Timed: ConsumeLogs only. Consuming the spans and closing the traces
//     are the spans' work (BenchmarkConsumeTraces times both) and run with
//     the timer stopped; what the verdicts add to the close (attribution to
//     the agent owning their span, a few per trace) is not in either figure.
//     The set-up consumes every run's spans, the 2/3 without a verdict
//     too, so the store holds what a live one holds (it takes about 40 s of
//     wall time per second timed). Opening only the judged runs' traces
//     measured about 30% less per record (the traces that records look up
//     packed closer in memory): a live store holds more traces without a
//     verdict, not fewer.
func BenchmarkConsumeLogs(b *testing.B) {
	tmpl := agenttest.RealisticBatch(benchLogRuns, 1)
	logTmpl := agenttest.RealisticLogs(tmpl)
	records := logTmpl.LogRecordCount()
	verdicts := 0
	for _, lr := range logTmpl.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
		if lr.EventName() == evEvaluation {
			verdicts++
		}
	}
	run := func(b *testing.B, withTraces bool, distinct int) {
		cfg := createDefaultConfig().(*Config)
		cfg.FlushInterval = time.Hour // flushes are called by the benchmark
		// The metrics of the check below are kept; in the timed loop the
		// consumer drops them, as consumertest.NewNop does in
		// BenchmarkConsumeTraces.
		var last pmetric.Metrics
		keep := true
		next, err := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
			if keep {
				last = md
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, next)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.now = func() time.Time { return now }
		ctx := context.Background()
		if err := c.Start(ctx, componenttest.NewNopHost()); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = c.Shutdown(ctx) }()
		logs := make([]plog.Logs, distinct)
		var traces []ptrace.Traces
		for i := range logs {
			logs[i] = plog.NewLogs()
			logTmpl.CopyTo(logs[i])
			if withTraces {
				traces = append(traces, agenttest.WithFreshTraceIDs(tmpl, 0))
			}
		}
		// newRound gives every batch the trace ids of a new round and, for
		// trace_open, opens their traces with the spans.
		newRound := func(round int) {
			for j := range logs {
				setLogGeneration(logs[j], round*distinct+j)
				if withTraces {
					agenttest.SetGeneration(traces[j], round*distinct+j)
					if err := c.ConsumeTraces(ctx, traces[j]); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		closeRound := func() {
			now = now.Add(time.Hour)
			if err := c.flush(ctx); err != nil {
				b.Fatal(err)
			}
		}

		// Check the set-up on round 0: the verdicts joined (trace_open) or
		// opened (no_trace) their traces, and each counts once at the close.
		newRound(0)
		open := distinct * verdicts // no_trace: the verdicts' traces
		if withTraces {
			open = distinct * benchLogRuns // trace_open: every run's
		}
		if withTraces && c.store.Len() != open {
			b.Fatalf("%d traces open after the spans, want %d", c.store.Len(), open)
		}
		for _, ld := range logs {
			if err := c.ConsumeLogs(ctx, ld); err != nil {
				b.Fatal(err)
			}
		}
		if c.store.Len() != open {
			b.Fatalf("%d traces open after the records, want %d", c.store.Len(), open)
		}
		closeRound()
		if got := newView(last).total("agent_hallucination_total"); got != float64(distinct*verdicts) {
			b.Fatalf("%v hallucinations counted, want %d", got, distinct*verdicts)
		}
		keep, last = false, pmetric.Metrics{}

		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if i%distinct == 0 {
				b.StopTimer()
				newRound(1 + i/distinct)
				b.StartTimer()
			}
			if err := c.ConsumeLogs(ctx, logs[i%distinct]); err != nil {
				b.Fatal(err)
			}
			if i%distinct == distinct-1 || i == b.N-1 {
				if withTraces {
					b.StopTimer()
				}
				closeRound()
				if withTraces {
					b.StartTimer()
				}
			}
		}
		b.StopTimer()
		agenttest.ReportPer(b, records, "record")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*verdicts), "ns/agent-record")
	}
	b.Run("no_trace", func(b *testing.B) { run(b, false, 64) })
	b.Run("trace_open", func(b *testing.B) { run(b, true, 16) })
}

// BenchmarkMemoryPerHeldRun measures the heap held per open run and per
// held span. Runs are GenAI-semconv agents whose LLM spans (half of the
// spans, with long prompt content) and tool spans have arrived and whose
// root has not (an SDK exports it last), so every run stays open. The heap
// of 20k runs of 4 and of 40 spans is measured; the difference per added
// span is the per-span cost, the rest is the per-run cost. The realistic
// batch (agenttest.RealisticBatch, 3-8 LLM and 2-6 tool spans, four
// conventions) is reported too, with the store's own account.
func BenchmarkMemoryPerHeldRun(b *testing.B) {
	const runs = 20_000
	heapOf := func(b *testing.B, td ptrace.Traces) (float64, *agentConnector) {
		cfg := createDefaultConfig().(*Config)
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		// Warm the batch scratch space (per batch, not per run) with a
		// plain batch of the same size that opens nothing.
		warm := ptrace.NewTraces()
		wss := warm.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for i := range td.SpanCount() {
			s := wss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 2})
			s.SetName("GET /health")
		}
		if err := c.ConsumeTraces(context.Background(), warm); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(td)
		return float64(after.HeapAlloc) - float64(before.HeapAlloc), c
	}
	withoutRoots := func(n, spans int) ptrace.Traces {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "support-agent")
		ss := rs.ScopeSpans().AppendEmpty()
		prompt := strings.Repeat("Summarise the customer's order history. ", 20)
		for r := range n {
			tid := pcommon.TraceID{byte(r), byte(r >> 8), byte(r >> 16), 7}
			for i := range spans {
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(tid)
				s.SetSpanID(pcommon.SpanID{byte(i + 2), byte(r), byte(r >> 8), byte(r >> 16)})
				s.SetParentSpanID(pcommon.SpanID{1, byte(r), byte(r >> 8), byte(r >> 16)})
				s.SetStartTimestamp(pcommon.Timestamp(1e18 + int64(i)*1e9))
				s.SetEndTimestamp(pcommon.Timestamp(1e18 + int64(i)*1e9 + 5e8))
				a := s.Attributes()
				if i%2 == 0 {
					s.SetName("chat gpt-4o")
					a.PutStr("gen_ai.operation.name", "chat")
					a.PutStr("gen_ai.request.model", "gpt-4o")
					a.PutInt("gen_ai.usage.input_tokens", int64(100+i))
					a.PutInt("gen_ai.usage.output_tokens", 20)
					a.PutStr("gen_ai.input.messages", prompt)
				} else {
					s.SetName("execute_tool lookup_order")
					a.PutStr("gen_ai.operation.name", "execute_tool")
					a.PutStr("gen_ai.tool.name", "lookup_order")
				}
			}
		}
		return td
	}
	for range b.N {
		small, _ := heapOf(b, withoutRoots(runs, 4))
		large, c := heapOf(b, withoutRoots(runs, 40))
		if c.store.Len() != runs || c.store.Spans() != 40*runs {
			b.Fatalf("%d traces, %d spans held", c.store.Len(), c.store.Spans())
		}
		perSpan := (large - small) / float64(36*runs)
		b.ReportMetric(perSpan, "bytes/held-span")
		b.ReportMetric(small/runs-4*perSpan, "bytes/open-run")
		b.ReportMetric(large/runs, "bytes/run-of-40")

		td := agenttest.RealisticBatch(runs, 7)
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				ss.Spans().RemoveIf(func(s ptrace.Span) bool { return s.ParentSpanID().IsEmpty() })
			}
		}
		heap, rc := heapOf(b, td)
		b.ReportMetric(heap/runs, "bytes/realistic-run")
		b.ReportMetric(float64(rc.store.Bytes())/runs, "accounted-bytes/realistic-run")
	}
}

// BenchmarkManyToolNames streams 100k distinct tool names (a cardinality
// attack, or a bug that puts ids in tool names) and reports the tool-call
// series held and the heap after: both must stay bounded by the limit.
func BenchmarkManyToolNames(b *testing.B) {
	for range b.N {
		cfg := createDefaultConfig().(*Config)
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.now = func() time.Time { return now }
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const names, perBatch = 100_000, 1000
		for start := 0; start < names; start += perBatch {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "svc")
			ss := rs.ScopeSpans().AppendEmpty()
			for i := start; i < start+perBatch; i++ {
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), 3})
				s.SetSpanID(pcommon.SpanID{1})
				s.SetParentSpanID(pcommon.SpanID{9})
				s.SetName("agent.tool.execute")
				s.Attributes().PutStr("agent.agent.id", "support")
				s.Attributes().PutStr("agent.tool.name", fmt.Sprintf("tool-%06d", i))
			}
			if err := c.ConsumeTraces(context.Background(), td); err != nil {
				b.Fatal(err)
			}
			now = now.Add(time.Second)
			if start%(10*perBatch) == 0 {
				_ = c.flush(context.Background())
			}
		}
		now = now.Add(time.Hour)
		_ = c.flush(context.Background())
		runtime.GC()
		runtime.ReadMemStats(&after)
		series := c.metrics.toolCalls.Len()
		if series > cfg.CardinalityLimit+1 {
			b.Fatalf("%d tool-call series, limit %d", series, cfg.CardinalityLimit)
		}
		b.ReportMetric(float64(series), "series")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB")
		runtime.KeepAlive(c)
	}
}

// BenchmarkSteadyState100kRuns keeps 100,000 runs of 20 spans open at all
// times: each round brings the children of 100k new runs (roots withheld)
// and the roots of the previous round's runs, then a flush past the grace
// closes those. The heap after each round must stay flat (reported: the
// first and the last round, and the store's account), well within the
// default budget, and no trace is evicted.
func BenchmarkSteadyState100kRuns(b *testing.B) {
	const runs, spans, rounds = 100_000, 20, 10
	children := func(round int) ptrace.Traces {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "support-agent")
		ss := rs.ScopeSpans().AppendEmpty()
		for r := range runs {
			tid := pcommon.TraceID{byte(r), byte(r >> 8), byte(r >> 16), byte(round), 9}
			for i := range spans - 1 {
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(tid)
				s.SetSpanID(pcommon.SpanID{byte(i + 2), 1})
				s.SetParentSpanID(pcommon.SpanID{1, 1})
				s.SetEndTimestamp(1e9)
				a := s.Attributes()
				if i%2 == 0 {
					a.PutStr("gen_ai.operation.name", "chat")
					a.PutStr("gen_ai.request.model", "gpt-4o")
					a.PutInt("gen_ai.usage.input_tokens", 100)
				} else {
					a.PutStr("gen_ai.operation.name", "execute_tool")
					a.PutStr("gen_ai.tool.name", "lookup_order")
				}
			}
		}
		return td
	}
	roots := func(round int) ptrace.Traces {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "support-agent")
		ss := rs.ScopeSpans().AppendEmpty()
		for r := range runs {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{byte(r), byte(r >> 8), byte(r >> 16), byte(round), 9})
			s.SetSpanID(pcommon.SpanID{1, 1})
			s.SetEndTimestamp(2e9)
			s.Attributes().PutStr("gen_ai.operation.name", "invoke_agent")
			s.Attributes().PutStr("gen_ai.agent.name", fmt.Sprint("agent-", r%5))
		}
		return td
	}
	for range b.N {
		cfg := createDefaultConfig().(*Config)
		c, err := newConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		c.now = func() time.Time { return now }
		ctx := context.Background()
		var heaps []float64
		for round := range rounds {
			b.StopTimer()
			ch := children(round)
			var rt ptrace.Traces
			if round > 0 {
				rt = roots(round - 1)
			}
			b.StartTimer()
			// In batches of 8,192 spans, as the batch processor sends them.
			for _, td := range []ptrace.Traces{ch, rt} {
				if td == (ptrace.Traces{}) {
					continue
				}
				spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
				for start := 0; start < spans.Len(); start += 8192 {
					part := ptrace.NewTraces()
					rs := part.ResourceSpans().AppendEmpty()
					rs.Resource().Attributes().PutStr("service.name", "support-agent")
					dst := rs.ScopeSpans().AppendEmpty().Spans()
					for i := start; i < min(start+8192, spans.Len()); i++ {
						spans.At(i).MoveTo(dst.AppendEmpty())
					}
					if err := c.ConsumeTraces(ctx, part); err != nil {
						b.Fatal(err)
					}
				}
			}
			now = now.Add(time.Minute)
			_ = c.flush(ctx)
			b.StopTimer()
			ch, rt = ptrace.Traces{}, ptrace.Traces{} // measure what the connector holds
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, float64(ms.HeapAlloc)/(1<<20))
			if c.store.Len() != runs || c.store.Spans() != runs*(spans-1) {
				b.Fatalf("round %d: %d traces, %d spans open", round, c.store.Len(), c.store.Spans())
			}
			b.StartTimer()
		}
		b.ReportMetric(heaps[1], "heap-MiB-round-2")
		b.ReportMetric(heaps[rounds/2], "heap-MiB-round-6")
		b.ReportMetric(heaps[len(heaps)-1], "heap-MiB-last-round")
		b.ReportMetric(float64(c.store.Bytes())/(1<<20), "accounted-MiB")
		runtime.KeepAlive(c)
	}
}
