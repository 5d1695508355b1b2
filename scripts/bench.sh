#!/usr/bin/env bash
# `make bench`: every benchmark of the project in one run, written to
# docs/benchmarks.md (regenerated) with the machine, the commands and the raw
# numbers. Takes about 23 minutes on 2 cores: `-bench .` runs the log
# pipeline's benchmarks too (BenchmarkProcessLogs, BenchmarkDecodeOTLPLogs,
# BenchmarkConsumeLogs: ns/record beside the traces' ns/span), which add
# about 8 of them, mostly set-up with the timer stopped (decoding batches,
# opening and closing the traces the records join). Loopback only. The
# report itself is written by scripts/bench_report.py.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${BENCH_COUNT:-6}
RATES=${LOAD_RATES:-100000,200000,300000,400000,500000,650000,800000}
STEP=${LOAD_STEP:-8s}
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT

go build -trimpath -ldflags='-s -w' -o bin/loadharness ./cmd/loadharness
# The stock-component collector the peer_recipe pipeline runs on (otelcol-agent
# has no signal_to_metrics): same go.mod, toolchain and flags as the agent's.
go -C internal/tools build -o "$PWD/bin/benchstat" golang.org/x/perf/cmd/benchstat

# Each component is its own Go module, and the stock connectors' half of the
# connector side-by-side lives in the distribution's module (test/stockbench):
# one go test per module, run one after the other into one file.
gobench_cmd="go -C <module> test -run '^\$' -bench . -benchmem -count $COUNT ./... for processor/agentsemconvprocessor, connector/agentmetricsconnector, then go test the same way ./test/stockbench/"
echo "running: $gobench_cmd" >&2
: > "$raw/go.txt"
for m in processor/agentsemconvprocessor connector/agentmetricsconnector; do
  go -C "$m" test -run '^$' -bench . -benchmem -count "$COUNT" ./... | tee -a "$raw/go.txt" >&2
done
go test -run '^$' -bench . -benchmem -count "$COUNT" ./test/stockbench/ | tee -a "$raw/go.txt" >&2
bin/benchstat "$raw/go.txt" > "$raw/benchstat.txt"

PIPELINES=${LOAD_PIPELINES:-plain,span_metrics,agent,peer_recipe}
# The exporter every pipeline shares compresses with gzip (its default), which
# is about half of the collector's CPU; LOAD_COMPRESSION=none shows the rest.
COMPRESSION=${LOAD_COMPRESSION:-gzip}
# Profiled at 200k spans/s: every pipeline now exports its traces (gzip), and
# a pipeline only reaches a step if it sustained the one before.
PROFILE_RATE=${PROFILE_RATE:-200000}
load_cmd="bin/loadharness -collector bin/otelcol-agent -pipelines $PIPELINES -compression $COMPRESSION -rates $RATES -step $STEP -profile-dir $raw/prof -profile-rate $PROFILE_RATE"
echo "running: $load_cmd" >&2
$load_cmd -out "$raw/load.json" 2> >(tee "$raw/load.log" >&2)

# The recorded real-client fixtures (10 traces per file, 9 copies per request,
# new trace ids on every send) through the same pipelines at moderate rates.
REPLAY_DIR=${REPLAY_DIR:-../shared/fixtures/real-clients}
[ -d "$REPLAY_DIR" ] || REPLAY_DIR=internal/agenttest/testdata/real-clients
REPLAY_RATES=${REPLAY_RATES:-25000,50000,100000}
replay_cmd="bin/loadharness -collector bin/otelcol-agent -pipelines $PIPELINES -compression $COMPRESSION -replay $REPLAY_DIR -rates $REPLAY_RATES -step $STEP"
echo "running: $replay_cmd" >&2
$replay_cmd -out "$raw/replay.json" 2> >(tee "$raw/replay.log" >&2)

# Where the collector's CPU went during the profiled step, per pipeline.
for f in "$raw"/prof/*.cpu.pprof; do
  [ -e "$f" ] || continue
  exe=bin/otelcol-agent
  go tool pprof -top -cum -nodecount=100000 "$exe" "$f" > "${f%.cpu.pprof}.top" 2>/dev/null || true
done

python3 scripts/bench_report.py --raw "$raw" --go-cmd "$gobench_cmd" --load-cmd "$load_cmd" \
  --replay-cmd "$replay_cmd" --profile-rate "$PROFILE_RATE" > docs/benchmarks.md
echo "wrote docs/benchmarks.md" >&2
