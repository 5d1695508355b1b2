// Command loadharness measures what one otelcol-agent process carries on
// this machine: it starts the built binary on loopback with each pipeline of
// test/load/, offers OTLP gRPC load in steps of rising spans/s, and reports
// per pipeline the highest rate sustained without refusals or drops, the
// CPU-seconds per million spans and the peak RSS. All traffic stays on
// 127.0.0.1 and every step is bounded in time.
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

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // the collector's OTLP exporter compresses with gzip by default

	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
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

// batch is one pre-marshalled request whose trace ids are rewritten in
// place before each use, so every send opens new agent runs.
type batch struct {
	data   []byte
	idOffs []int // offsets of trace id bytes to rewrite
	spans  int
}

func newBatch(seed uint64) (*batch, error) {
	data, td, err := agenttest.RealisticBatchOTLP(100, seed)
	if err != nil {
		return nil, err
	}
	ids := map[pcommon.TraceID]bool{}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				ids[s.TraceID()] = true
			}
		}
	}
	b := &batch{data: data, spans: td.SpanCount()}
	for id := range ids {
		off := 0
		for {
			i := bytes.Index(data[off:], id[:])
			if i < 0 {
				break
			}
			b.idOffs = append(b.idOffs, off+i+12) // the last 4 bytes carry the generation
			off += i + 16
		}
	}
	return b, nil
}

// next stamps a new generation into the batch's trace ids.
func (b *batch) next(gen uint32) []byte {
	for _, o := range b.idOffs {
		b.data[o], b.data[o+1], b.data[o+2], b.data[o+3] = byte(gen), byte(gen>>8), byte(gen>>16), byte(gen>>24)
	}
	return b.data
}

type stepResult struct {
	TargetSpansPerSec   float64 `json:"target_spans_per_sec"`
	AchievedSpansPerSec float64 `json:"achieved_spans_per_sec"`
	SentSpans           int64   `json:"sent_spans"`
	FailedRequests      int64   `json:"failed_requests"`
	Refused             float64 `json:"refused_spans"`
	ExportFailed        float64 `json:"export_failed_spans"`
	CPUSeconds          float64 `json:"cpu_seconds"`
	CPUSecPerMSpans     float64 `json:"cpu_seconds_per_million_spans"`
	// CollectorCores is the collector's CPU-seconds per second of the step:
	// below about 1.8 on 2 cores, the limit is the generator, not the collector.
	CollectorCores float64 `json:"collector_cores"`
	Sustained      bool    `json:"sustained"`
}

type pipelineResult struct {
	Pipeline            string       `json:"pipeline"`
	MaxSustainedSpansPS float64      `json:"max_sustained_spans_per_sec"`
	CPUSecPerMSpans     float64      `json:"cpu_seconds_per_million_spans"`
	PeakRSSMiB          float64      `json:"peak_rss_mib"`
	Steps               []stepResult `json:"steps"`
}

func main() {
	bin := flag.String("collector", "bin/otelcol-agent", "the built collector")
	configs := flag.String("pipelines", "plain,span_metrics,agent", "pipelines of test/load/ to measure")
	rates := flag.String("rates", "100000,200000,300000,400000,500000,650000,800000", "offered spans/s steps")
	stepDur := flag.Duration("step", 8*time.Second, "duration of each step")
	workers := flag.Int("workers", 6, "concurrent senders")
	out := flag.String("out", "", "write the results as JSON here")
	profDir := flag.String("profile-dir", "", "write a CPU profile of the collector per pipeline here (pprof extension on loopback)")
	profRate := flag.Float64("profile-rate", 400000, "the offered rate whose step is profiled (the whole step)")
	flag.Parse()
	var results []pipelineResult
	for _, p := range strings.Split(*configs, ",") {
		prof := profileSpec{dir: *profDir, rate: *profRate}
		r, err := measure(*bin, p, parseRates(*rates), *stepDur, *workers, prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadharness:", p+":", err)
			os.Exit(1)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "loadharness: %s: max sustained %.0f spans/s, %.2f CPU-s per million spans, peak RSS %.0f MiB\n",
			p, r.MaxSustainedSpansPS, r.CPUSecPerMSpans, r.PeakRSSMiB)
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

// sink is the OTLP endpoint the plain pipeline exports to; it counts spans.
type sink struct {
	ptraceotlp.UnimplementedGRPCServer
	spans atomic.Int64
}

func (s *sink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

// profileSpec asks for a CPU profile of the collector during one step.
type profileSpec struct {
	dir  string
	rate float64
}

func measure(bin, pipeline string, rates []float64, stepDur time.Duration, workers int, prof profileSpec) (pipelineResult, error) {
	res := pipelineResult{Pipeline: pipeline}
	addrs, err := freeAddrs(6)
	if err != nil {
		return res, err
	}
	otlp, sinkAddr, health, prom, tel, pprofAddr := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4], addrs[5]
	_, telPort, _ := net.SplitHostPort(tel)

	sk := &sink{}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, sk)
	l, err := net.Listen("tcp", sinkAddr)
	if err != nil {
		return res, err
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

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
		"LOAD_PROMETHEUS="+prom, "LOAD_TELEMETRY_PORT="+telPort)
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
	batches := make([][]*batch, workers)
	for w := range workers {
		for i := range 16 {
			b, err := newBatch(uint64(w*1000 + i + 1))
			if err != nil {
				return res, err
			}
			batches[w] = append(batches[w], b)
		}
	}
	gen := atomic.Uint32{}
	for _, rate := range rates {
		var profiled chan error
		if prof.dir != "" && rate == prof.rate {
			profiled = make(chan error, 1)
			go func() {
				profiled <- saveCPUProfile(pprofAddr, stepDur, filepath.Join(prof.dir, pipeline+".cpu.pprof"))
			}()
		}
		step, err := runStep(conn, batches, rate, stepDur, &gen, cmd.Process.Pid, tel)
		if err != nil {
			return res, err
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				return res, fmt.Errorf("profile: %w", err)
			}
		}
		res.Steps = append(res.Steps, step)
		fmt.Fprintf(os.Stderr, "loadharness: %s: offered %.0f/s achieved %.0f/s failed=%d refused=%.0f export_failed=%.0f cpu=%.2fs sustained=%v\n",
			pipeline, rate, step.AchievedSpansPerSec, step.FailedRequests, step.Refused, step.ExportFailed, step.CPUSeconds, step.Sustained)
		if !step.Sustained {
			break
		}
		res.MaxSustainedSpansPS = step.AchievedSpansPerSec
		res.CPUSecPerMSpans = step.CPUSecPerMSpans
	}
	res.PeakRSSMiB = peakRSSMiB(cmd.Process.Pid)
	if pipeline == "plain" {
		fmt.Fprintf(os.Stderr, "loadharness: plain: the sink received %d spans\n", sk.spans.Load())
	}
	return res, nil
}

func runStep(conn *grpc.ClientConn, batches [][]*batch, rate float64, dur time.Duration, gen *atomic.Uint32, pid int, tel string) (stepResult, error) {
	st := stepResult{TargetSpansPerSec: rate}
	before := collectorCounters(tel)
	cpu0 := cpuSeconds(pid)
	spansPerBatch := batches[0][0].spans
	perWorker := rate / float64(len(batches)) / float64(spansPerBatch) // batches/s per worker
	interval := time.Duration(float64(time.Second) / perWorker)
	var sent, failed atomic.Int64
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
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	time.Sleep(1500 * time.Millisecond) // let the pipeline drain before reading its counters
	after := collectorCounters(tel)
	st.SentSpans = sent.Load()
	st.FailedRequests = failed.Load()
	st.AchievedSpansPerSec = float64(st.SentSpans) / elapsed
	st.Refused = after["otelcol_receiver_refused_spans"] - before["otelcol_receiver_refused_spans"]
	st.ExportFailed = after["otelcol_exporter_send_failed_spans"] - before["otelcol_exporter_send_failed_spans"] +
		after["otelcol_exporter_enqueue_failed_spans"] - before["otelcol_exporter_enqueue_failed_spans"]
	st.CPUSeconds = cpuSeconds(pid) - cpu0
	st.CollectorCores = st.CPUSeconds / (elapsed + 1.5)
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
