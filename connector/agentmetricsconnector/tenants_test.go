package agentmetricsconnector

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// tenantRun is one run whose chat spans name a tenant on the span (or, when
// onResource, on the resource, as a multi-tenant service's SDK sets it).
func tenantRun(h *harness, trace int, key, tenant string, onResource bool, tokens int) {
	td, ss := batchOf()
	m := chat(tokens)
	if onResource {
		td.ResourceSpans().At(0).Resource().Attributes().PutStr(key, tenant)
	} else {
		m[key] = tenant
	}
	mkSpan(ss, trace, 3, 2, "chat gpt-4o", 1e9, 2e9, m)
	mkSpan(ss, trace, 2, 0, "invoke_agent a", 0, 3e9, agentSpan("a"))
	for _, s := range ss.Spans().All() {
		s.SetTraceID(pcommon.TraceID{byte(trace), byte(trace >> 8), byte(trace >> 16), 0xd2})
	}
	h.consume(td)
}

func tenantsOn(k int) func(*Config) {
	return func(c *Config) { c.Tenants.Attributes = []string{"tenant.id", "enduser.id"}; c.Tenants.TopK = k }
}

// runCost is what agent_cost_usd_total says one tenantRun of tokens costs.
func runCost(t *testing.T, tokens int) float64 {
	h := newHarness(t, nil)
	tenantRun(h, 1, "k", "v", false, tokens)
	h.advance(time.Minute)
	return h.flush().total("agent_cost_usd_total")
}

// Cost and tokens per tenant, from the span or its resource, the first
// configured attribute first; a call that names none counts in no tenant.
func TestTenantCostAndTokens(t *testing.T) {
	h := newHarness(t, tenantsOn(100))
	tenantRun(h, 1, "tenant.id", "acme", false, 1000)
	tenantRun(h, 2, "tenant.id", "globex", true, 3000)
	tenantRun(h, 3, "enduser.id", "user-7", false, 500)
	tenantRun(h, 4, "other.key", "nobody", false, 200) // names no tenant
	h.advance(time.Minute)
	v := h.flush()
	assert.Equal(t, map[string]float64{
		"tenant=acme": runCost(t, 1000), "tenant=globex": runCost(t, 3000), "tenant=user-7": runCost(t, 500),
	}, v.sums["agent_tenant_cost_usd_total"])
	assert.Equal(t, 1000.0, v.sums["agent_tenant_tokens_total"]["direction=input,tenant=acme"])
	assert.Equal(t, 3000.0, v.sums["agent_tenant_tokens_total"]["direction=input,tenant=globex"], "from the resource")
	assert.Equal(t, 10.0, v.sums["agent_tenant_tokens_total"]["direction=output,tenant=user-7"])
	assert.Len(t, v.sums["agent_tenant_tokens_total"], 6)
}

// Only the top tenants have a series: a heavy spender that comes after the
// top is full counts under _other until the next flush, then has its own;
// no series ever goes down, and the series always add up to the whole.
func TestTenantTopK(t *testing.T) {
	h := newHarness(t, tenantsOn(2))
	tenantRun(h, 1, "tenant.id", "small-a", false, 100)
	tenantRun(h, 2, "tenant.id", "small-b", false, 120)
	tenantRun(h, 3, "tenant.id", "whale", false, 50_000)
	h.advance(time.Minute)
	v := h.flush() // closes the runs, then rebalances
	c1 := v.sums["agent_tenant_cost_usd_total"]
	assert.Contains(t, c1, "tenant=_other", "whale came after the top was full")
	assert.NotContains(t, c1, "tenant=whale")
	tenantRun(h, 4, "tenant.id", "whale", false, 50_000)
	tenantRun(h, 5, "tenant.id", "small-b", false, 100)
	h.advance(time.Minute)
	v = h.flush()
	c2 := v.sums["agent_tenant_cost_usd_total"]
	assert.Contains(t, c2, "tenant=whale", "whale spends far more than the smallest of the top: it took small-a's place")
	assert.Equal(t, c1["tenant=_other"], c2["tenant=_other"], "what was counted under _other stays there")
	assert.Equal(t, c1["tenant=small-a"], c2["tenant=small-a"], "small-a's series stops growing, never goes down")
	assert.Greater(t, c2["tenant=small-b"], c1["tenant=small-b"])
	sum := 0.0
	for _, x := range c2 {
		sum += x
	}
	assert.InDelta(t, v.total("agent_cost_usd_total"), sum, 1e-12)
}

// 100k distinct tenant ids: top_k + 1 series, bounded followers, every
// dollar counted.
func TestTenantsUnderAttack(t *testing.T) {
	h := newHarness(t, tenantsOn(100))
	const n = 100_000
	for tr := range n {
		tenantRun(h, tr, "tenant.id", fmt.Sprintf("t-%d", tr), false, 100)
		if tr%10_000 == 9_999 {
			h.advance(10 * time.Second)
			h.flush()
			require.LessOrEqual(t, len(h.c.tenants.candidates), 400)
		}
	}
	h.advance(time.Minute)
	v := h.flush()
	assert.LessOrEqual(t, len(v.sums["agent_tenant_cost_usd_total"]), 101)
	sum := 0.0
	for _, x := range v.sums["agent_tenant_cost_usd_total"] {
		sum += x
	}
	assert.InDelta(t, v.total("agent_cost_usd_total"), sum, 1e-9)
}

func TestTenantsOffByDefault(t *testing.T) {
	h := newHarness(t, nil)
	tenantRun(h, 1, "tenant.id", "acme", false, 1000)
	h.advance(time.Minute)
	v := h.flush()
	assert.Empty(t, v.sums["agent_tenant_cost_usd_total"])
	assert.NotZero(t, v.total("agent_cost_usd_total"))
}
