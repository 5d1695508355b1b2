// Command loadharness measures what one collector process carries on this
// machine: for each pipeline of test/load/ it starts the built binary on
// loopback, offers OTLP gRPC load in steps of rising spans/s, and reports
// the highest rate sustained without refusals or drops, the collector's
// CPU-seconds per million spans and its peak RSS.
//
// Every pipeline forwards its traces (and its metrics, if it makes any) with
// the same exporter (test/load/shared/exporters.yaml) to one sink, which
// runs as a process of its own so that its CPU and the generator's are
// measured apart from the collector's (all three share the machine's cores).
// The load is either generated (agenttest.RealisticBatch) or, with -replay
// DIR, the recorded real-client fixtures, re-encoded once and sent with new
// trace ids every time. All traffic stays on 127.0.0.1 and every step is
// bounded in time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // the sink takes what the exporter compresses (gzip by default)
)

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawCodec sends pre-marshalled OTLP requests as they are, so the
// generator spends its CPU on sending, not on encoding.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return nil, errors.New("rawCodec: not *[]byte")
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append((*b)[:0], data...)
		return nil
	}
	return errors.New("rawCodec: not *[]byte")
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

type stepResult struct {
	TargetSpansPerSec   float64 `json:"target_spans_per_sec"`
	AchievedSpansPerSec float64 `json:"achieved_spans_per_sec"`
	SentSpans           int64   `json:"sent_spans"`
	SentTokens          int64   `json:"sent_tokens"` // LLM tokens recorded on the sent spans
	FailedRequests      int64   `json:"failed_requests"`
	Refused             float64 `json:"refused_spans"`
	ExportFailed        float64 `json:"export_failed_spans"`
	// ForwardedSpans is what the sink received during the step and its drain.
	ForwardedSpans  int64   `json:"forwarded_spans"`
	CPUSeconds      float64 `json:"cpu_seconds"` // the collector's
	CPUSecPerMSpans float64 `json:"cpu_seconds_per_million_spans"`
	// CollectorCores is the collector's CPU-seconds per second of the step:
	// below about 1.8 on 2 cores, the limit is the generator or the sink
	// (same cores), not the collector.
	CollectorCores float64 `json:"collector_cores"`
	// Seconds is the interval the CPU figures cover: the step and its drain.
	Seconds float64 `json:"seconds"`
	// The sink's and the generator's (this process's) CPU over the same
	// interval: they run on the same cores as the collector.
	SinkCPUSeconds      float64 `json:"sink_cpu_seconds"`
	GeneratorCPUSeconds float64 `json:"generator_cpu_seconds"`
	Sustained           bool    `json:"sustained"`
}

type pipelineResult struct {
	Pipeline  string `json:"pipeline"`
	Collector string `json:"collector"`
	// Load is "synthetic" or "replay"; for a replay, the files sent.
	Load        string   `json:"load"`
	ReplayFiles []string `json:"replay_files,omitempty"`
	// SpansPerRequest and RequestBytesPerSpan describe the offered requests
	// (uncompressed OTLP protobuf).
	SpansPerRequest     float64      `json:"spans_per_request"`
	RequestBytesPerSpan float64      `json:"request_bytes_per_span"`
	Compression         string       `json:"compression"`
	MaxSustainedSpansPS float64      `json:"max_sustained_spans_per_sec"`
	CPUSecPerMSpans     float64      `json:"cpu_seconds_per_million_spans"`
	PeakRSSMiB          float64      `json:"peak_rss_mib"`
	Steps               []stepResult `json:"steps"`
	// SentSpans and SentTokens are over all steps, for comparison with Sink.
	SentSpans  int64 `json:"sent_spans"`
	SentTokens int64 `json:"sent_tokens"`
	// Sink is everything the sink received from this pipeline's collector:
	// the forwarded spans and, per metric name, what the pipeline produced.
	Sink sinkStats `json:"sink"`
}

func main() {
	bin := flag.String("collector", "bin/otelcol-agent", "the built collector")
	collectorFor := flag.String("collector-for", "",
		"pipeline=binary,... for pipelines that need another collector than -collector (peer_recipe needs signal_to_metrics)")
	configs := flag.String("pipelines", "plain,span_metrics,agent,peer_recipe", "pipelines of test/load/ to measure")
	rates := flag.String("rates", "100000,200000,300000,400000,500000,650000,800000", "offered spans/s steps")
	stepDur := flag.Duration("step", 8*time.Second, "duration of each step")
	workers := flag.Int("workers", 6, "concurrent senders")
	replay := flag.String("replay", "", "send the recorded real-client fixtures (*.otlp.jsonl) of this directory instead of generated batches")
	replayCopies := flag.Int("replay-copies", 9, "with -replay: copies of a file's traces per request (each file holds 10 traces, 60 spans)")
	metricsWait := flag.Duration("metrics-wait", 17*time.Second, "after the last step, how long to wait for the metrics of pipelines with connectors")
	compression := flag.String("compression", "gzip", "the shared exporter's compression: gzip (its default) or none")
	out := flag.String("out", "", "write the results as JSON here")
	profDir := flag.String("profile-dir", "", "write a CPU profile of the collector per pipeline here (pprof extension on loopback)")
	profRate := flag.Float64("profile-rate", 200000, "the offered rate whose step is profiled (the whole step)")
	serveSinkAddr := flag.String("serve-sink", "", "internal: run as the sink on this address")
	sinkStatsAddr := flag.String("sink-stats", "", "internal: the sink's stats address")
	flag.Parse()
	if *serveSinkAddr != "" {
		if err := serveSink(*serveSinkAddr, *sinkStatsAddr); err != nil {
			fmt.Fprintln(os.Stderr, "loadharness: sink:", err)
			os.Exit(1)
		}
		return
	}
	if *compression != "gzip" && *compression != "none" {
		fmt.Fprintln(os.Stderr, "loadharness: -compression must be gzip or none")
		os.Exit(2)
	}
	bins := map[string]string{}
	for _, kv := range strings.Split(*collectorFor, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			bins[k] = v
		}
	}
	load := loadSpec{kind: "synthetic", workers: *workers, compression: *compression, metricsWait: *metricsWait}
	if *replay != "" {
		load.kind, load.dir, load.copies = "replay", *replay, *replayCopies
	}
	var results []pipelineResult
	for _, p := range strings.Split(*configs, ",") {
		b := *bin
		if v, ok := bins[p]; ok {
			b = v
		}
		prof := profileSpec{dir: *profDir, rate: *profRate}
		r, err := measure(b, p, parseRates(*rates), *stepDur, load, prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadharness:", p+":", err)
			os.Exit(1)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "loadharness: %s (%s): max sustained %.0f spans/s, %.2f CPU-s per million spans, peak RSS %.0f MiB; sent %d spans with %d LLM tokens; sink: %d spans, %d metric points\n",
			p, r.Load, r.MaxSustainedSpansPS, r.CPUSecPerMSpans, r.PeakRSSMiB, r.SentSpans, r.SentTokens, r.Sink.Spans, r.Sink.MetricPoints)
		for _, m := range r.Sink.Metrics {
			fmt.Fprintf(os.Stderr, "loadharness: %s: metric %s (%s %s) %d points, %d series, total %.0f, attributes %s\n",
				p, m.Name, m.Type, m.Temporality, m.Points, m.Series, m.Total, strings.Join(m.Attributes, ","))
		}
	}
	data, _ := json.MarshalIndent(results, "", "  ")
	if *out != "" {
		if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	} else {
		fmt.Println(string(data))
	}
}

// loadSpec says what the senders send.
type loadSpec struct {
	kind        string // synthetic or replay
	dir         string // replay: the fixtures
	copies      int    // replay: copies of a file's traces per request
	workers     int
	compression string
	metricsWait time.Duration
}

func (l loadSpec) batches() ([][]*batch, error) {
	if l.kind == "replay" {
		return replayBatches(l.dir, l.copies, l.workers)
	}
	return syntheticBatches(l.workers)
}

func parseRates(s string) []float64 {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		if f, err := strconv.ParseFloat(strings.TrimSpace(p), 64); err == nil && f > 0 {
			out = append(out, f)
		}
	}
	return out
}

func freeAddrs(n int) ([]string, error) {
	var ls []net.Listener
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out, nil
}

// profileSpec asks for a CPU profile of the collector during one step.
type profileSpec struct {
	dir  string
	rate float64
}

func measure(bin, pipeline string, rates []float64, stepDur time.Duration, load loadSpec, prof profileSpec) (pipelineResult, error) {
	res := pipelineResult{Pipeline: pipeline, Collector: bin, Load: load.kind, Compression: load.compression}
	if _, err := os.Stat(bin); err != nil {
		return res, fmt.Errorf("%w (bin/otelcol-agent: make build)", err)
	}
	batches, err := load.batches()
	if err != nil {
		return res, err
	}
	var spans, size, n float64
	seen := map[string]bool{}
	for _, b := range batches[0] {
		spans += float64(b.spans)
		size += float64(len(b.data))
		n++
		if load.kind == "replay" && !seen[b.name] {
			seen[b.name] = true
			res.ReplayFiles = append(res.ReplayFiles, b.name)
		}
	}
	res.SpansPerRequest, res.RequestBytesPerSpan = spans/n, size/spans

	addrs, err := freeAddrs(6)
	if err != nil {
		return res, err
	}
	otlp, sinkAddr, health, sinkStatsAddr, tel, pprofAddr := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4], addrs[5]
	_, telPort, _ := net.SplitHostPort(tel)

	sk, err := startSink(sinkAddr, sinkStatsAddr)
	if err != nil {
		return res, err
	}
	defer sk.stop()

	cfg, _ := filepath.Abs(filepath.Join("test/load", pipeline+".yaml"))
	args := []string{"--config", cfg}
	if prof.dir != "" {
		// The pprof extension is added on the command line so the measured
		// configurations stay identical with and without profiling.
		args = append(args, "--config", "yaml:extensions::pprof::endpoint: "+pprofAddr,
			"--config", "yaml:service::extensions: [health_check, pprof]")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LOAD_OTLP="+otlp, "LOAD_SINK="+sinkAddr, "LOAD_HEALTH="+health,
		"LOAD_TELEMETRY_PORT="+telPort, "LOAD_COMPRESSION="+load.compression)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		if s := strings.TrimSpace(logs.String()); s != "" {
			fmt.Fprintf(os.Stderr, "loadharness: %s: collector log:\n%s\n", pipeline, s)
		}
	}()
	if err := waitHealthy(health, 60*time.Second); err != nil {
		return res, fmt.Errorf("%w\n%s", err, logs.String())
	}

	conn, err := grpc.NewClient(otlp, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return res, err
	}
	defer conn.Close()
	gen := atomic.Uint32{}
	procs := procSet{collector: cmd.Process.Pid, sink: sk}
	for _, rate := range rates {
		var profiled chan error
		if prof.dir != "" && rate == prof.rate {
			profiled = make(chan error, 1)
			go func() {
				name := pipeline
				if load.kind == "replay" {
					name += ".replay"
				}
				profiled <- saveCPUProfile(pprofAddr, stepDur, filepath.Join(prof.dir, name+".cpu.pprof"))
			}()
		}
		step, err := runStep(conn, batches, rate, stepDur, &gen, procs, tel)
		if err != nil {
			return res, err
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				return res, fmt.Errorf("profile: %w", err)
			}
		}
		res.Steps = append(res.Steps, step)
		res.SentSpans += step.SentSpans
		res.SentTokens += step.SentTokens
		fmt.Fprintf(os.Stderr, "loadharness: %s: offered %.0f/s achieved %.0f/s failed=%d refused=%.0f export_failed=%.0f forwarded=%d/%d cpu: collector %.2fs sink %.2fs generator %.2fs sustained=%v\n",
			pipeline, rate, step.AchievedSpansPerSec, step.FailedRequests, step.Refused, step.ExportFailed,
			step.ForwardedSpans, step.SentSpans, step.CPUSeconds, step.SinkCPUSeconds, step.GeneratorCPUSeconds, step.Sustained)
		if !step.Sustained {
			break
		}
		res.MaxSustainedSpansPS = step.AchievedSpansPerSec
		res.CPUSecPerMSpans = step.CPUSecPerMSpans
	}
	res.PeakRSSMiB = peakRSSMiB(cmd.Process.Pid)
	// The load pipelines make metrics with connectors (configs with a
	// connectors: section): wait until what the last step sent is in the
	// sink. agentmetrics closes a run 5s after its last span and flushes
	// every 10s, span_metrics flushes every 10s.
	if text, err := os.ReadFile(cfg); err == nil && bytes.Contains(text, []byte("\nconnectors:")) {
		time.Sleep(load.metricsWait)
	}
	if st, err := sk.stats(); err == nil {
		res.Sink = st
	}
	return res, nil
}

// procSet are the processes whose CPU a step measures.
type procSet struct {
	collector int
	sink      *sinkProc
}

func runStep(conn *grpc.ClientConn, batches [][]*batch, rate float64, dur time.Duration, gen *atomic.Uint32, procs procSet, tel string) (stepResult, error) {
	st := stepResult{TargetSpansPerSec: rate}
	before := collectorCounters(tel)
	sink0, err := procs.sink.stats()
	if err != nil {
		return st, fmt.Errorf("sink: %w", err)
	}
	cpu0, sinkCPU0, selfCPU0 := cpuSeconds(procs.collector), cpuSeconds(procs.sink.pid()), cpuSeconds(os.Getpid())
	var spans float64
	for _, b := range batches[0] {
		spans += float64(b.spans)
	}
	spansPerBatch := spans / float64(len(batches[0]))
	perWorker := rate / float64(len(batches)) / spansPerBatch // batches/s per worker
	interval := time.Duration(float64(time.Second) / perWorker)
	var sent, sentTokens, failed atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for i := 0; ctx.Err() == nil; i++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				next = next.Add(interval)
				b := batches[w][i%len(batches[w])]
				payload := b.next(gen.Add(1))
				var resp []byte
				callCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
				err := conn.Invoke(callCtx, exportMethod, &payload, &resp)
				c()
				if err != nil {
					failed.Add(1)
					continue
				}
				sent.Add(int64(b.spans))
				sentTokens.Add(b.tokens)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	time.Sleep(1500 * time.Millisecond) // let the pipeline drain before reading its counters
	after := collectorCounters(tel)
	st.CPUSeconds = cpuSeconds(procs.collector) - cpu0
	st.SinkCPUSeconds = cpuSeconds(procs.sink.pid()) - sinkCPU0
	st.GeneratorCPUSeconds = cpuSeconds(os.Getpid()) - selfCPU0
	if sink1, err := procs.sink.stats(); err == nil {
		st.ForwardedSpans = sink1.Spans - sink0.Spans
	}
	st.SentSpans = sent.Load()
	st.SentTokens = sentTokens.Load()
	st.FailedRequests = failed.Load()
	st.AchievedSpansPerSec = float64(st.SentSpans) / elapsed
	st.Refused = after["otelcol_receiver_refused_spans"] - before["otelcol_receiver_refused_spans"]
	st.ExportFailed = after["otelcol_exporter_send_failed_spans"] - before["otelcol_exporter_send_failed_spans"] +
		after["otelcol_exporter_enqueue_failed_spans"] - before["otelcol_exporter_enqueue_failed_spans"]
	st.Seconds = elapsed + 1.5
	st.CollectorCores = st.CPUSeconds / st.Seconds
	if st.SentSpans > 0 {
		st.CPUSecPerMSpans = st.CPUSeconds / (float64(st.SentSpans) / 1e6)
	}
	st.Sustained = st.FailedRequests == 0 && st.Refused == 0 && st.ExportFailed == 0 && st.AchievedSpansPerSec >= 0.95*rate
	return st, nil
}

func waitHealthy(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("collector not healthy")
}

// collectorCounters sums the collector's own counters by metric name.
func collectorCounters(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i > 0 {
			name = line[:i]
		}
		name = strings.TrimSuffix(name, "_total")
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			out[name] += v
		}
	}
	return out
}

func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) in parentheses.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

func peakRSSMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// saveCPUProfile fetches a CPU profile of the collector covering one step.
func saveCPUProfile(addr string, dur time.Duration, path string) error {
	secs := max(1, int(dur/time.Second))
	client := http.Client{Timeout: dur + 30*time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
