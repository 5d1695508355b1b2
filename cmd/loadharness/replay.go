package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
)

// batch is one pre-marshalled request whose trace ids are rewritten in
// place before each send (bytes 12-15 carry a generation), so every send
// opens new traces.
type batch struct {
	name   string
	data   []byte
	idOffs []int // offsets of trace id bytes 12-15 to rewrite
	spans  int
	tokens int64 // LLM input + output tokens the spans record, in any convention
}

// newBatch finds every trace id of td in its encoding data. The ids must
// differ in their first 12 bytes, which the rewrite keeps.
func newBatch(name string, data []byte, td ptrace.Traces) (*batch, error) {
	ids := map[pcommon.TraceID]bool{}
	prefixes := map[[12]byte]bool{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				id := s.TraceID()
				if !ids[id] {
					ids[id] = true
					p := [12]byte(id[:12])
					if prefixes[p] {
						return nil, fmt.Errorf("%s: two trace ids share their first 12 bytes", name)
					}
					prefixes[p] = true
				}
			}
		}
	}
	b := &batch{name: name, data: data, spans: td.SpanCount(), tokens: countTokens(td)}
	for id := range ids {
		off := 0
		for {
			i := bytes.Index(data[off:], id[:])
			if i < 0 {
				break
			}
			b.idOffs = append(b.idOffs, off+i+12)
			off += i + 16
		}
	}
	sort.Ints(b.idOffs)
	return b, nil
}

// next stamps a new generation into the batch's trace ids.
func (b *batch) next(gen uint32) []byte {
	for _, o := range b.idOffs {
		b.data[o], b.data[o+1], b.data[o+2], b.data[o+3] = byte(gen), byte(gen>>8), byte(gen>>16), byte(gen>>24)
	}
	return b.data
}

// clone is a copy with its own bytes (each sender rewrites its own).
func (b *batch) clone() *batch {
	c := *b
	c.data = bytes.Clone(b.data)
	return &c
}

// syntheticBatches is the generated load: per sender, 16 requests of
// agenttest.RealisticBatch (100 runs, about 1,075 spans, four conventions).
func syntheticBatches(workers int) ([][]*batch, error) {
	out := make([][]*batch, workers)
	for w := range workers {
		for i := range 16 {
			data, td, err := agenttest.RealisticBatchOTLP(100, uint64(w*1000+i+1))
			if err != nil {
				return nil, err
			}
			b, err := newBatch("synthetic", data, td)
			if err != nil {
				return nil, err
			}
			out[w] = append(out[w], b)
		}
	}
	return out, nil
}

// replayBatches is the recorded real-client load: every *.otlp.jsonl file
// of dir (OTLP/JSON, one ExportTraceServiceRequest per line) becomes one
// protobuf request holding the file's traces copies times (the copies'
// trace ids differ in bytes 8-11), as an SDK's batch of several hundred
// spans would. Attributes, content and sizes are as recorded; span ids
// repeat across copies and sends, which is fine: every trace id is new.
// Each sender gets its own copy of every file's request, in a rotated order
// so the senders do not send the same file at the same time.
func replayBatches(dir string, copies, workers int) ([][]*batch, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.otlp.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.otlp.jsonl in %s", dir)
	}
	sort.Strings(files)
	var tmpl []*batch
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		lines, err := agenttest.ParseJSONLines(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		td := ptrace.NewTraces()
		for c := range max(1, copies) {
			for _, line := range lines {
				cp := ptrace.NewTraces()
				line.CopyTo(cp)
				stampCopy(cp, uint32(c))
				cp.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			}
		}
		if td.SpanCount() == 0 {
			return nil, fmt.Errorf("%s: no spans", f)
		}
		data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			return nil, err
		}
		b, err := newBatch(filepath.Base(f), data, td)
		if err != nil {
			return nil, err
		}
		tmpl = append(tmpl, b)
	}
	out := make([][]*batch, workers)
	for w := range workers {
		for i := range tmpl {
			out[w] = append(out[w], tmpl[(w+i)%len(tmpl)].clone())
		}
	}
	return out, nil
}

// stampCopy writes c into bytes 8-11 of every trace id (and of the trace
// ids of span links) of td.
func stampCopy(td ptrace.Traces, c uint32) {
	stamp := func(id pcommon.TraceID) pcommon.TraceID {
		id[8], id[9], id[10], id[11] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
		return id
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.SetTraceID(stamp(s.TraceID()))
				for _, l := range s.Links().All() {
					l.SetTraceID(stamp(l.TraceID()))
				}
			}
		}
	}
}

// tokenKeys are the attributes that record an LLM call's input and output
// tokens in the conventions the load carries.
var tokenKeys = []string{
	"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", // GenAI semconv, OpenLLMetry
	"llm.token_count.prompt", "llm.token_count.completion", // OpenInference
	"agent.llm.tokens.input", "agent.llm.tokens.output", // this project's agent.*
}

// countTokens is what a pipeline that counts every LLM call's tokens
// should count for td: the offered tokens, to compare with the metrics.
func countTokens(td ptrace.Traces) int64 {
	var n int64
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				for _, k := range tokenKeys {
					v, ok := s.Attributes().Get(k)
					if !ok {
						continue
					}
					switch v.Type() {
					case pcommon.ValueTypeInt:
						n += v.Int()
					case pcommon.ValueTypeDouble:
						n += int64(v.Double())
					case pcommon.ValueTypeStr:
						if i, err := strconv.ParseInt(v.Str(), 10, 64); err == nil {
							n += i
						}
					}
				}
			}
		}
	}
	return n
}
