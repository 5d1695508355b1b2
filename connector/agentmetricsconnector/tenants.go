package agentmetricsconnector

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/connector/agentmetricsconnector/internal/series"
)

// Per-tenant (or per-user) cost and tokens, opt-in (tenants.attributes).
// Each LLM call counts under the tenant its span names (the first of the
// configured attributes on the span, else on its resource). Only the top
// tenants by spend have a series of their own: the first tenants.top_k seen
// are admitted, every other one counts in the tenant="_other" series, and
// at each flush a tenant outside the top whose recent spend (halving every
// hour) is more than twice the smallest admitted one's takes its place.
// A swap changes where spend counts from then on, never what was counted,
// so every series, "_other" included, only grows: "tenant over $X today"
// is one increase() over a day. Followed tenants outside the top are
// bounded too (4 × top_k, the least spending forgotten first, its score
// inherited by the newcomer, as in the space-saving algorithm), so an
// attack of distinct tenant ids costs bounded memory and two series.

// TenantOther is the series of the tenants outside the top.
const TenantOther = "_other"

const tenantHalfLife = time.Hour

// tenantTracker decides which tenants have a series (under mu).
type tenantTracker struct {
	k          int
	admitted   map[string]float64 // tenant -> decayed spend
	candidates map[string]float64
	lastDecay  time.Time
}

func newTenantTracker(k int) *tenantTracker {
	return &tenantTracker{k: k, admitted: map[string]float64{}, candidates: map[string]float64{}}
}

// label returns the series a call of tenant with this spend counts under.
func (tt *tenantTracker) label(tenant string, spend float64) string {
	if s, ok := tt.admitted[tenant]; ok {
		tt.admitted[tenant] = s + spend
		return tenant
	}
	if len(tt.admitted) < tt.k {
		tt.admitted[strings.Clone(tenant)] = spend
		return tenant
	}
	if s, ok := tt.candidates[tenant]; ok {
		tt.candidates[tenant] = s + spend
		return TenantOther
	}
	base := 0.0
	if len(tt.candidates) >= 4*tt.k {
		min, minScore := "", math.Inf(1)
		for t, s := range tt.candidates {
			if s < minScore {
				min, minScore = t, s
			}
		}
		delete(tt.candidates, min)
		base = minScore
	}
	tt.candidates[strings.Clone(tenant)] = base + spend
	return TenantOther
}

// rebalance decays every score and lets tenants outside the top take the
// place of the smallest admitted ones that spend less than half as much.
func (tt *tenantTracker) rebalance(now time.Time) {
	if !tt.lastDecay.IsZero() {
		f := math.Pow(0.5, float64(now.Sub(tt.lastDecay))/float64(tenantHalfLife))
		for t := range tt.admitted {
			tt.admitted[t] *= f
		}
		for t := range tt.candidates {
			tt.candidates[t] *= f
		}
	}
	tt.lastDecay = now
	for {
		best, bestScore := "", 0.0
		for t, s := range tt.candidates {
			if s > bestScore {
				best, bestScore = t, s
			}
		}
		worst, worstScore := "", math.Inf(1)
		for t, s := range tt.admitted {
			if s < worstScore {
				worst, worstScore = t, s
			}
		}
		if best == "" || worst == "" || bestScore <= 2*worstScore {
			return
		}
		delete(tt.candidates, best)
		delete(tt.admitted, worst)
		tt.admitted[best] = bestScore
		tt.candidates[worst] = worstScore
	}
}

// tenantOf returns the tenant a span names: the first configured attribute
// on the span, else on its resource ("" when none).
func tenantOf(keys []string, span ptrace.Span, resource pcommon.Map) string {
	for _, m := range [2]pcommon.Map{span.Attributes(), resource} {
		for _, k := range keys {
			if v, ok := m.Get(k); ok {
				if s := v.AsString(); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

// emitTenant counts an LLM call's cost and tokens under its tenant.
func (c *agentConnector) emitTenant(o *obs, ts pcommon.Timestamp) {
	if c.tenants == nil || o.tenant == "" {
		return
	}
	spend := o.cost
	if !o.hasCost {
		// Unpriced: ranked by tokens, at a dollar a million.
		spend = float64(o.tokens[0]+o.tokens[1]+o.tokens[2]+o.tokens[3]) / 1e6
	}
	label := c.tenants.label(o.tenant, spend)
	m := c.metrics
	if o.hasCost {
		m.tenantCost.Add(series.Key{label}, o.cost, ts)
	}
	for d, n := range o.tokens {
		if n > 0 {
			m.tenantTokens.Add(series.Key{label, tokenDirections[d]}, float64(n), ts)
		}
	}
}
