package agenttest

import (
	"fmt"
	"math/rand/v2"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Convention names the attribute style RealisticBatch writes a run in.
type Convention int

const (
	GenAI Convention = iota
	OpenInference
	Traceloop
	Seed
	numConventions
)

// RealisticBatch builds runs agent runs as real instrumentations send them:
// each run is one trace of 1 root + 3–8 LLM + 2–6 tool spans (tools are
// siblings of the LLM calls), conventions rotating GenAI semconv,
// OpenInference, Traceloop and the seed's agent.*, with prompt content on
// the LLM spans. Deterministic for a seed.
func RealisticBatch(runs int, seed uint64) ptrace.Traces {
	r := rand.New(rand.NewPCG(seed, 42))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "support-agent")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "python")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("agent-instrumentation")
	models := []string{"gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5-20250929", "gemini-2.5-flash"}
	tools := []string{"lookup_order", "process_refund", "search_kb", "send_email", "escalate"}
	var start pcommon.Timestamp = 1_700_000_000_000_000_000
	for run := range runs {
		conv := Convention(run % int(numConventions))
		var tid pcommon.TraceID
		for i := range tid {
			tid[i] = byte(r.IntN(256))
		}
		sid := func(n int) pcommon.SpanID {
			return pcommon.SpanID{byte(run >> 8), byte(run), 0, 0, 0, 0, 0, byte(n + 1)}
		}
		root := ss.Spans().AppendEmpty()
		root.SetTraceID(tid)
		root.SetSpanID(sid(0))
		root.SetKind(ptrace.SpanKindServer)
		root.SetStartTimestamp(start)
		agent := fmt.Sprintf("agent-%d", run%3)
		ra := root.Attributes()
		switch conv {
		case GenAI:
			root.SetName("invoke_agent " + agent)
			ra.PutStr("gen_ai.operation.name", "invoke_agent")
			ra.PutStr("gen_ai.agent.name", agent)
			ra.PutStr("gen_ai.conversation.id", fmt.Sprintf("conv-%d", run))
		case OpenInference:
			root.SetName(agent)
			ra.PutStr("openinference.span.kind", "AGENT")
			ra.PutStr("agent.name", agent)
			ra.PutStr("input.value", "please refund my order #1234, it arrived broken")
		case Traceloop:
			root.SetName(agent + ".agent")
			ra.PutStr("traceloop.span.kind", "agent")
			ra.PutStr("traceloop.entity.name", agent)
			ra.PutStr("traceloop.workflow.name", agent)
		case Seed:
			root.SetName("agent.request")
			ra.PutStr("agent.agent.id", agent)
			ra.PutStr("agent.request.id", fmt.Sprintf("req-%d", run))
		}
		nLLM, nTool := 3+r.IntN(6), 2+r.IntN(5)
		t := start
		n := 1
		for i := range nLLM + nTool {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(sid(n))
			s.SetParentSpanID(sid(0))
			n++
			s.SetStartTimestamp(t)
			dur := pcommon.Timestamp(50_000_000 + r.IntN(2_000_000_000))
			t += dur
			s.SetEndTimestamp(t)
			a := s.Attributes()
			if i%2 == 0 && i/2 < nLLM || i >= 2*nTool {
				model := models[r.IntN(len(models))]
				in, out := int64(100+r.IntN(4000)), int64(10+r.IntN(800))
				s.SetKind(ptrace.SpanKindClient)
				switch conv {
				case GenAI, Traceloop:
					s.SetName("chat " + model)
					a.PutStr("gen_ai.operation.name", "chat")
					a.PutStr("gen_ai.provider.name", "openai")
					a.PutStr("gen_ai.request.model", model)
					a.PutStr("gen_ai.response.model", model)
					a.PutDouble("gen_ai.request.temperature", 0.2)
					a.PutStr("gen_ai.response.id", fmt.Sprintf("chatcmpl-%d-%d", run, i))
					a.PutInt("gen_ai.usage.input_tokens", in)
					a.PutInt("gen_ai.usage.output_tokens", out)
					a.PutStr("server.address", "api.openai.com")
					if conv == Traceloop {
						a.PutStr("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"refund my order"}]}]`)
						a.PutStr("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"text","content":"done"}]}]`)
					}
				case OpenInference:
					s.SetName("ChatCompletion")
					a.PutStr("openinference.span.kind", "LLM")
					a.PutStr("llm.model_name", model)
					a.PutStr("llm.provider", "openai")
					a.PutStr("llm.token_count.prompt", fmt.Sprint(in))
					a.PutStr("llm.token_count.completion", fmt.Sprint(out))
					a.PutStr("llm.input_messages.0.message.role", "user")
					a.PutStr("llm.input_messages.0.message.content", "refund my order #1234")
					a.PutStr("llm.output_messages.0.message.content", "calling lookup_order")
					a.PutStr("input.value", `{"messages":[{"role":"user","content":"refund my order #1234"}]}`)
				case Seed:
					s.SetName("agent.llm.reasoning")
					a.PutStr("agent.model.name", model)
					a.PutInt("agent.llm.tokens.input", in)
					a.PutInt("agent.llm.tokens.output", out)
					a.PutInt("agent.reasoning.step", int64(i))
				}
				continue
			}
			tool := tools[r.IntN(len(tools))]
			s.SetKind(ptrace.SpanKindInternal)
			if r.IntN(10) == 0 {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
			switch conv {
			case GenAI:
				s.SetName("execute_tool " + tool)
				a.PutStr("gen_ai.operation.name", "execute_tool")
				a.PutStr("gen_ai.tool.name", tool)
				a.PutStr("gen_ai.tool.call.id", fmt.Sprintf("call_%d", i))
			case OpenInference:
				s.SetName(tool)
				a.PutStr("openinference.span.kind", "TOOL")
				a.PutStr("tool.name", tool)
				a.PutStr("tool.parameters", `{"order_id":"1234"}`)
			case Traceloop:
				s.SetName(tool + ".tool")
				a.PutStr("traceloop.span.kind", "tool")
				a.PutStr("traceloop.entity.name", tool)
				a.PutStr("traceloop.workflow.name", agent)
			case Seed:
				s.SetName("agent.tool.execute")
				a.PutStr("agent.tool.name", tool)
			}
		}
		root.SetEndTimestamp(t)
		start = t
	}
	return td
}

// RealisticBatchOTLP is RealisticBatch as a collector receives it: OTLP
// protobuf (the bytes of an ExportTraceServiceRequest and of TracesData are
// the same), with the batch it encodes.
func RealisticBatchOTLP(runs int, seed uint64) ([]byte, ptrace.Traces, error) {
	td := RealisticBatch(runs, seed)
	data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return data, td, err
}
