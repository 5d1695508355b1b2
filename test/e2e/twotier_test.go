package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otelcol-agent/otelcol-agent/internal/agentsim"
	"github.com/otelcol-agent/otelcol-agent/internal/e2etest"
)

// config/edge.yaml in front of two config/gateway.yaml replicas: every span
// of a run reaches one gateway (load_balancing by trace id), so the runs
// counted by the two gateways add up to exactly the runs sent, and each
// gateway writes its own series.
func TestTwoTierAggregatesWholeRuns(t *testing.T) {
	edge := e2etest.NewPorts(t)
	// TLS and tokens on both hops, as the configs require: agents to the
	// edge with one token, the edge to the gateways with another.
	edgeSec, gwSec := newSecrets(t, "edge-token"), newSecrets(t, "gateway-token")
	var gws []e2etest.Ports
	for i := range 2 {
		p := e2etest.NewPorts(t)
		env := gwSec.gatewayEnv(t, p, fmt.Sprintf("gw-%d", i+1)) // traces onward: nothing listens, retried in the background
		e2etest.Start(t, []string{"config/gateway.yaml"}, env, p.Health)
		gws = append(gws, p)
	}
	env := edgeSec.serverEnv(edge.Env())
	env["OTELCOL_AGENT_GATEWAYS"] = fmt.Sprintf("[%s, %s]", gws[0].OTLPGRPC, gws[1].OTLPGRPC)
	env["OTELCOL_AGENT_GATEWAY_CA_FILE"] = gwSec.cert.CAFile
	env["OTELCOL_AGENT_GATEWAY_TOKEN_FILE"] = gwSec.tokenFile
	e2etest.Start(t, []string{"config/edge.yaml"}, env, edge.Health)

	tp, flush := simTracer(t, edge.OTLPGRPC, edgeSec.tracerOptions(t)...)
	sim := agentsim.New(agentsim.Config{Agents: []string{"refund-bot"}, Seed: 11,
		Conventions: []string{agentsim.ConvGenAI, agentsim.ConvOpenInference, agentsim.ConvSeed}}, tp.Tracer("agentsim"))
	runSim(t, sim, 200, 0)
	flush()
	tot := sim.Totals()

	// The gateways flush every 10 s and close runs 5 s after their run span.
	e2etest.Eventually(t, 60*time.Second, func(context.Context) error {
		total, steps, counts := 0.0, 0.0, []float64{}
		for _, gw := range gws {
			fams, err := scrape(gw.Prometheus)
			if err != nil {
				return err
			}
			n := sumWhere(fams["agent_requests_total"], map[string]string{"agent_id": "refund-bot"})
			counts = append(counts, n)
			total += n
			steps += sumWhere(fams["agent_reasoning_steps"], map[string]string{"agent_id": "refund-bot"})
		}
		if total != float64(tot.Runs) || steps != float64(tot.ReasoningSteps["refund-bot"]) {
			return fmt.Errorf("gateways counted %v runs (%v) and %v steps; sent %d runs, %d steps", total, counts, steps, tot.Runs, tot.ReasoningSteps["refund-bot"])
		}
		if counts[0] == 0 || counts[1] == 0 {
			return fmt.Errorf("one gateway got every run: %v", counts)
		}
		return nil
	})
}
