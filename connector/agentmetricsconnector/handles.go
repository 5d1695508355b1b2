package agentmetricsconnector

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
)

// Every LLM span feeds up to seven series of one (agent, model) and every
// tool span two of one (agent, tool). Caching their handles turns seven
// label-set hashes per span into one. Handles are created lazily, so a
// direction never seen never gets a zero series.

type pairKey struct{ agent, name string }

type llmHandles struct {
	calls   [2]*series.Point // success, failure
	tokens  [4]*series.Point // input, output, cache_read, cache_write
	latency *series.Point
	ttft    *series.Point
	cost    *series.Point
}

type toolHandles struct {
	calls    map[string]*series.Point // by status
	duration *series.Point
}

var tokenDirections = [4]string{"input", "output", "cache_read", "cache_write"}

// handleCache bounds its entries (a cardinality attack must not grow it
// without limit): past maxEntries it starts again empty.
type handleCache struct {
	llm        map[pairKey]*llmHandles
	tool       map[pairKey]*toolHandles
	maxEntries int
}

func newHandleCache(maxEntries int) *handleCache {
	return &handleCache{llm: map[pairKey]*llmHandles{}, tool: map[pairKey]*toolHandles{}, maxEntries: maxEntries}
}

func (h *handleCache) llmFor(agent, model string) *llmHandles {
	if e, ok := h.llm[pairKey{agent, model}]; ok {
		return e
	}
	if len(h.llm) >= h.maxEntries {
		clear(h.llm)
	}
	e := &llmHandles{}
	h.llm[pairKey{strings.Clone(agent), strings.Clone(model)}] = e
	return e
}

func (h *handleCache) toolFor(agent, tool string) *toolHandles {
	if e, ok := h.tool[pairKey{agent, tool}]; ok {
		return e
	}
	if len(h.tool) >= h.maxEntries {
		clear(h.tool)
	}
	e := &toolHandles{calls: make(map[string]*series.Point, 3)}
	h.tool[pairKey{strings.Clone(agent), strings.Clone(tool)}] = e
	return e
}

func (c *agentConnector) emitLLM(agent string, traceID pcommon.TraceID, o *obs, ts pcommon.Timestamp) {
	m := c.metrics
	h := c.handles.llmFor(agent, o.name)
	st := 0
	status := "success"
	if o.failed {
		st, status = 1, "failure"
	}
	if h.calls[st] == nil {
		h.calls[st] = m.llmCalls.Handle(series.Key{agent, o.name, status}, ts)
	}
	h.calls[st].Add(1)
	for d, n := range o.tokens {
		if n <= 0 {
			continue
		}
		if h.tokens[d] == nil {
			h.tokens[d] = m.tokens.Handle(series.Key{agent, o.name, tokenDirections[d]}, ts)
		}
		h.tokens[d].Add(float64(n))
	}
	if h.latency == nil {
		h.latency = m.modelLatency.Handle(series.Key{agent, o.name}, ts)
	}
	h.latency.Observe(o.value, traceID, o.spanID, ts)
	c.emitTenant(o, ts)
	if o.hasTTFT {
		if h.ttft == nil {
			h.ttft = m.ttft.Handle(series.Key{agent, o.name}, ts)
		}
		h.ttft.Observe(o.ttft, traceID, o.spanID, ts)
	}
	if o.hasCost {
		if h.cost == nil {
			h.cost = m.cost.Handle(series.Key{agent, o.name}, ts)
		}
		h.cost.Add(o.cost)
	}
}

func (c *agentConnector) emitTool(agent string, traceID pcommon.TraceID, o *obs, ts pcommon.Timestamp) {
	m := c.metrics
	h := c.handles.toolFor(agent, o.name)
	p, ok := h.calls[o.status]
	if !ok {
		p = m.toolCalls.Handle(series.Key{agent, o.name, o.status}, ts)
		h.calls[strings.Clone(o.status)] = p
	}
	p.Add(1)
	if h.duration == nil {
		h.duration = m.toolDuration.Handle(series.Key{agent, o.name}, ts)
	}
	h.duration.Observe(o.value, traceID, o.spanID, ts)
}
