package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// The sink is the OTLP gRPC endpoint every load pipeline exports to. It runs
// in a process of its own (the harness started again with -serve-sink), so
// its CPU is measured apart from the collector's and the generator's; it is
// the same for every pipeline. Traces are counted without decoding: the
// request is walked field by field down to the spans (after gRPC has undone
// the exporter's compression, which is most of the sink's CPU). Metrics are
// few (one request per flush or per batch) and decoded, to record what each
// pipeline produces.

const (
	traceService  = "opentelemetry.proto.collector.trace.v1.TraceService"
	metricService = "opentelemetry.proto.collector.metrics.v1.MetricsService"
)

// sinkStats is what the sink has received since it started.
type sinkStats struct {
	Spans          int64          `json:"spans"`
	TraceRequests  int64          `json:"trace_requests"`
	TraceBytes     int64          `json:"trace_bytes"` // uncompressed
	MetricRequests int64          `json:"metric_requests"`
	MetricPoints   int64          `json:"metric_points"`
	Metrics        []metricSketch `json:"metrics"`
}

// metricSketch summarises one metric name as the sink received it.
type metricSketch struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Temporality string   `json:"temporality,omitempty"`
	Points      int64    `json:"points"`
	Series      int      `json:"series"` // distinct attribute sets (resource + point), capped
	Attributes  []string `json:"attributes"`
	// Total is, for a sum, the sum over its series of what was counted:
	// every delta point added, the last cumulative point of each series.
	Total float64 `json:"total,omitempty"`
}

const maxSeriesTracked = 100_000

type metricAcc struct {
	typ, temporality string
	points           int64
	series           map[string]float64 // last value of each series (sums)
	attrs            map[string]struct{}
	delta            float64 // sum of the delta points (sums)
}

type sinkServer struct {
	spans, traceReqs, traceBytes atomic.Int64
	metricReqs, metricPoints     atomic.Int64
	mu                           sync.Mutex
	metrics                      map[string]*metricAcc
}

// traceMsg and metricMsg are what sinkCodec decodes a request into.
type (
	traceMsg  struct{}
	metricMsg struct{}
)

// sinkCodec does the sink's work while gRPC still holds the request bytes,
// so they are neither copied nor retained after Unmarshal returns.
type sinkCodec struct{ s *sinkServer }

func (c sinkCodec) Name() string { return "proto" }

func (c sinkCodec) Marshal(any) (mem.BufferSlice, error) {
	return nil, nil // every Export response is the empty message
}

func (c sinkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	var b []byte
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		b = buf.ReadOnlyData()
	}
	switch v.(type) {
	case *traceMsg:
		n, err := countSpans(b)
		if err != nil {
			return err
		}
		c.s.spans.Add(int64(n))
		c.s.traceReqs.Add(1)
		c.s.traceBytes.Add(int64(len(b)))
		return nil
	case *metricMsg:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return err
		}
		c.s.recordMetrics(req.Metrics())
		return nil
	}
	return fmt.Errorf("sinkCodec: unexpected %T", v)
}

var _ encoding.CodecV2 = sinkCodec{}

// countSpans counts the spans of an ExportTraceServiceRequest without
// decoding them: resource_spans (1) -> scope_spans (2) -> spans (2).
func countSpans(b []byte) (int, error) {
	n := 0
	err := eachField(b, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// eachField calls fn with the bytes of every length-delimited field num of
// the message b, skipping the other fields.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		f, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if f == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(f, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
}

func (s *sinkServer) recordMetrics(md pmetric.Metrics) {
	s.metricReqs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	var key strings.Builder
	for _, rm := range md.ResourceMetrics().All() {
		res := attrString(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				acc := s.metrics[m.Name()]
				if acc == nil {
					acc = &metricAcc{typ: m.Type().String(), series: map[string]float64{}, attrs: map[string]struct{}{}}
					s.metrics[m.Name()] = acc
				}
				point := func(attrs pcommon.Map, v float64) {
					acc.points++
					s.metricPoints.Add(1)
					for k := range attrs.All() {
						acc.attrs[k] = struct{}{}
					}
					key.Reset()
					key.WriteString(res)
					key.WriteByte('|')
					key.WriteString(attrString(attrs))
					if _, ok := acc.series[key.String()]; ok || len(acc.series) < maxSeriesTracked {
						acc.series[key.String()] = v
					}
					acc.delta += v
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					acc.temporality = m.Sum().AggregationTemporality().String()
					for _, dp := range m.Sum().DataPoints().All() {
						v := dp.DoubleValue()
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							v = float64(dp.IntValue())
						}
						point(dp.Attributes(), v)
					}
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						point(dp.Attributes(), 0)
					}
				case pmetric.MetricTypeHistogram:
					acc.temporality = m.Histogram().AggregationTemporality().String()
					for _, dp := range m.Histogram().DataPoints().All() {
						point(dp.Attributes(), 0)
					}
				case pmetric.MetricTypeExponentialHistogram:
					acc.temporality = m.ExponentialHistogram().AggregationTemporality().String()
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						point(dp.Attributes(), 0)
					}
				case pmetric.MetricTypeSummary:
					for _, dp := range m.Summary().DataPoints().All() {
						point(dp.Attributes(), 0)
					}
				}
			}
		}
	}
}

func attrString(m pcommon.Map) string {
	kv := make([]string, 0, m.Len())
	for k, v := range m.All() {
		kv = append(kv, k+"="+v.AsString())
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (s *sinkServer) stats() sinkStats {
	st := sinkStats{
		Spans: s.spans.Load(), TraceRequests: s.traceReqs.Load(), TraceBytes: s.traceBytes.Load(),
		MetricRequests: s.metricReqs.Load(), MetricPoints: s.metricPoints.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, acc := range s.metrics {
		ms := metricSketch{Name: name, Type: acc.typ, Temporality: acc.temporality, Points: acc.points, Series: len(acc.series)}
		switch {
		case acc.typ != pmetric.MetricTypeSum.String():
		case acc.temporality == pmetric.AggregationTemporalityCumulative.String():
			for _, v := range acc.series {
				ms.Total += v
			}
		default:
			ms.Total = acc.delta
		}
		for k := range acc.attrs {
			ms.Attributes = append(ms.Attributes, k)
		}
		slices.Sort(ms.Attributes)
		st.Metrics = append(st.Metrics, ms)
	}
	slices.SortFunc(st.Metrics, func(a, b metricSketch) int { return strings.Compare(a.Name, b.Name) })
	return st
}

func exportDesc(service string, msg func() any) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				m := msg()
				if err := dec(m); err != nil {
					return nil, err
				}
				return m, nil
			},
		}},
	}
}

// serveSink runs the sink until SIGTERM or until its parent (the harness)
// goes away: OTLP gRPC on grpcAddr, GET /stats (JSON) on statsAddr.
func serveSink(grpcAddr, statsAddr string) error {
	s := &sinkServer{metrics: map[string]*metricAcc{}}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(sinkCodec{s}), grpc.MaxRecvMsgSize(256<<20))
	srv.RegisterService(exportDesc(traceService, func() any { return &traceMsg{} }), struct{}{})
	srv.RegisterService(exportDesc(metricService, func() any { return &metricMsg{} }), struct{}{})
	gl, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", statsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.stats())
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hl) }()
	go func() { _ = srv.Serve(gl) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Stop()
	return hs.Close()
}

// sinkProc is the sink process as the harness sees it.
type sinkProc struct {
	cmd       *exec.Cmd
	statsAddr string
}

func startSink(grpcAddr, statsAddr string) (*sinkProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve-sink", grpcAddr, "-sink-stats", statsAddr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &sinkProc{cmd: cmd, statsAddr: statsAddr}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := p.stats(); err == nil {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	return nil, errors.New("sink did not start")
}

func (p *sinkProc) pid() int { return p.cmd.Process.Pid }

func (p *sinkProc) stats() (sinkStats, error) {
	var st sinkStats
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.statsAddr + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(body, &st)
}

func (p *sinkProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
