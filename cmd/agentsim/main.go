// Command agentsim emulates a fleet of AI agents sending OTLP traces, for
// demos, end-to-end tests and load. See README.md ("Agent simulator").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-agent/otelcol-agent/internal/agentsim"
)

type scenarioFlags []agentsim.ScenarioAt

func (s *scenarioFlags) String() string { return fmt.Sprint(*s) }
func (s *scenarioFlags) Set(v string) error {
	sc, err := agentsim.ParseScenario(v)
	if err != nil {
		return err
	}
	*s = append(*s, sc)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "agentsim:", err)
		os.Exit(1)
	}
}

func run() error {
	var scenarios scenarioFlags
	endpoint := flag.String("endpoint", "127.0.0.1:4317", "OTLP gRPC endpoint (host:port, plaintext)")
	rate := flag.Float64("rate", 100, "agent runs per minute")
	duration := flag.Duration("duration", time.Minute, "how long to run (0 with -runs: until that many runs)")
	maxRuns := flag.Int("runs", 0, "stop after this many runs (0: no limit)")
	agents := flag.String("agents", "support-agent", "comma-separated agent ids")
	tools := flag.String("tools", "", "comma-separated extra tools; each run calls one at random besides lookup_order and process_refund")
	models := flag.String("models", "gpt-4o-mini,claude-sonnet-4-5", "comma-separated model names")
	conventions := flag.String("conventions", "seed,genai,openinference", "comma-separated conventions to rotate: seed, genai, openinference")
	seed := flag.Uint64("seed", 1, "random seed (same seed, same runs)")
	service := flag.String("service", "agentsim", "service.name of the emitted spans")
	totals := flag.String("totals", "", "write the exact totals sent as JSON to this file ('-' for stdout) at the end")
	progress := flag.Duration("progress", 5*time.Second, "progress line interval on stderr (0: off)")
	flag.Var(&scenarios, "scenario", "scenario[@start], repeatable: "+strings.Join(agentsim.Scenarios, ", "))
	flag.Parse()
	if *rate <= 0 {
		return fmt.Errorf("-rate must be positive")
	}
	if *duration <= 0 && *maxRuns <= 0 {
		return fmt.Errorf("set -duration or -runs")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(*endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond), sdktrace.WithMaxQueueSize(100_000), sdktrace.WithMaxExportBatchSize(2048)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", *service))),
	)
	sim := agentsim.New(agentsim.Config{
		Agents: split(*agents), Tools: split(*tools), Models: split(*models), Conventions: split(*conventions), Seed: *seed, Scenarios: scenarios,
	}, tp.Tracer("agentsim"))

	start := time.Now()
	interval := time.Duration(float64(time.Minute) / *rate)
	next := start
	lastProgress := start
	n := 0
	for {
		if *maxRuns > 0 && n >= *maxRuns {
			break
		}
		elapsed := time.Since(start)
		if *duration > 0 && elapsed >= *duration {
			break
		}
		if ctx.Err() != nil {
			break
		}
		if wait := time.Until(next); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			continue
		}
		sim.Run(ctx, elapsed)
		n++
		next = next.Add(interval)
		if *progress > 0 && time.Since(lastProgress) >= *progress {
			lastProgress = time.Now()
			fmt.Fprintf(os.Stderr, "agentsim: %s elapsed=%s rate=%.0f/min\n", sim.Totals().Summary(), elapsed.Round(time.Second), *rate)
		}
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.Shutdown(flushCtx); err != nil {
		return fmt.Errorf("flushing spans: %w", err)
	}
	t := sim.Totals()
	fmt.Fprintf(os.Stderr, "agentsim: done: %s in %s\n", t.Summary(), time.Since(start).Round(time.Millisecond))
	if *totals != "" {
		data, err := json.MarshalIndent(t, "", "  ")
		if err != nil {
			return err
		}
		if *totals == "-" {
			_, err = os.Stdout.Write(append(data, '\n'))
			return err
		}
		return os.WriteFile(*totals, append(data, '\n'), 0o644)
	}
	return nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
