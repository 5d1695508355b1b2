#!/usr/bin/env python3
"""Writes docs/benchmarks.md (to stdout) from the raw results of `make bench`.

scripts/bench.sh runs it; to try it on a short load run only:

    bin/loadharness -rates 50000 -step 3s -out /tmp/raw/load.json
    bin/loadharness -replay ../shared/fixtures/real-clients -rates 20000 -step 3s -out /tmp/raw/replay.json
    python3 scripts/bench_report.py --raw /tmp/raw

or on the Go benchmarks only (no load harness: the load sections are left
out):

    (per module, as scripts/bench.sh runs them) go -C processor/agentsemconvprocessor test -run '^$' -bench . -benchmem -count 6 ./... > /tmp/raw/go.txt; the same for connector/agentmetricsconnector and ./test/stockbench/ (>>)
    python3 scripts/bench_report.py --raw /tmp/raw

Inputs in --raw, each optional: go.txt (go test -bench output), benchstat.txt,
load.json and replay.json (bin/loadharness -out), prof/<pipeline>.top (go tool
pprof -top -cum of the profiled step).
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--raw", required=True)
ap.add_argument("--go-cmd", default="")
ap.add_argument("--load-cmd", default="")
ap.add_argument("--replay-cmd", default="")
ap.add_argument("--profile-rate", type=float, default=400000)
ap.add_argument("--load-dir", default="test/load", help="the pipelines' configs (for what each produces)")
args = ap.parse_args()
raw, profrate = args.raw, args.profile_rate


def read(path):
    p = os.path.join(raw, path)
    return open(p).read() if os.path.exists(p) else None


# --- Go benchmarks -----------------------------------------------------------
go = read("go.txt") or ""
per = {}
for line in go.splitlines():
    m = re.match(r"(Benchmark\S+?)-\d+\s+\d+\s+(.*)", line)
    if not m:
        continue
    name, rest = m.groups()
    for val, unit in re.findall(r"([\d.]+) (\S+)", rest):
        per.setdefault(name, {}).setdefault(unit, []).append(float(val))


def med(n, u):
    v = per.get(n, {}).get(u)
    return statistics.median(v) if v else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


def per_item(n, unit, item):
    """unit (allocs/op, B/op) per span or record: the benchmarks report the
    batch size as spans/op or records/op."""
    return ratio(med(n, unit), med(n, item + "s/op"))


def num(v, fmt="{:.0f}"):
    return "—" if v != v else fmt.format(v)


# --- load harness --------------------------------------------------------------
load = json.loads(read("load.json") or "[]")
replay = json.loads(read("replay.json") or "[]")
L = {p["pipeline"]: p for p in load}


def produces(pipeline):
    """The `# Produces:` paragraph of the pipeline's config header."""
    path = os.path.join(args.load_dir, pipeline + ".yaml")
    if not os.path.exists(path):
        return ""
    out, on = [], False
    for line in open(path):
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if text.startswith("Produces:"):
            on, text = True, text[len("Produces:"):].strip()
        elif on and not text:
            break
        if on:
            out.append(text)
    return " ".join(out)


def per_m(seconds, spans):
    return seconds / spans * 1e6 if spans else float("nan")


def common_rate(results):
    """The highest offered rate every pipeline sustained (CPU per span is
    compared there: it depends on the rate, through batching and GC)."""
    sets = [{s["target_spans_per_sec"] for s in p["steps"] if s["sustained"]} for p in results]
    common = set.intersection(*sets) if sets else set()
    return max(common) if common else None


def step_at(p, rate):
    return next((s for s in p["steps"] if s["target_spans_per_sec"] == rate and s["sustained"]), None)


def last_sustained(p):
    ok = [s for s in p["steps"] if s["sustained"]]
    return ok[-1] if ok else None


def metrics_summary(p):
    ms = (p.get("sink") or {}).get("metrics") or []
    if not ms:
        return "no metrics"
    return ", ".join(f"`{m['name']}` ({m['series']})" for m in ms)


def tokens_summary(p):
    """The token metric's total against the LLM tokens the sent spans record."""
    sent = p.get("sent_tokens", 0)
    ms = [m for m in ((p.get("sink") or {}).get("metrics") or [])
          if m["type"] == "Sum" and "token" in m["name"]]
    if not ms or not sent:
        return "—"
    return "; ".join(f"`{m['name']}`: {m.get('total', 0):,.0f} of {sent:,} ({ratio(m.get('total', 0), sent):.0%})" for m in ms)


def forwarded(p):
    sent = sum(s["sent_spans"] for s in p["steps"])
    fwd = sum(s.get("forwarded_spans", 0) for s in p["steps"])
    return f"{fwd:,} / {sent:,}"


def fwd_bytes(p):
    sk = p.get("sink") or {}
    return f"{sk['trace_bytes'] / sk['spans']:.0f}" if sk.get("spans") else "—"


def load_table(results, title_rate_note):
    rate = common_rate(results)
    rate_hdr = f"at {rate:,.0f} spans/s" if rate else "at a common rate (none)"
    print(f"| pipeline | collector | max sustained spans/s | collector CPU-s per M spans at max | collector CPU-s per M spans {rate_hdr} | sink CPU-s per M spans {rate_hdr} | generator CPU-s per M spans {rate_hdr} | peak RSS MiB | spans forwarded / sent | forwarded bytes per span |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in results:
        s = step_at(p, rate) if rate else None
        c = f"{per_m(s['cpu_seconds'], s['sent_spans']):.2f}" if s else "—"
        k = f"{per_m(s.get('sink_cpu_seconds', 0), s['sent_spans']):.2f}" if s else "—"
        g = f"{per_m(s.get('generator_cpu_seconds', 0), s['sent_spans']):.2f}" if s else "—"
        print(f"| {p['pipeline']} | `{os.path.basename(p.get('collector', ''))}` | {p['max_sustained_spans_per_sec']:.0f} | {p['cpu_seconds_per_million_spans']:.2f} | {c} | {k} | {g} | {p['peak_rss_mib']:.0f} | {forwarded(p)} | {fwd_bytes(p)} |")
    if title_rate_note:
        print(f"\n{title_rate_note}")
    return rate


print("# Benchmarks (generated by `make bench`; do not edit)\n")
print("What changed to get here, with before/after numbers and the profile behind each target that is not met: [performance.md](performance.md).\n")
cpu = "unknown"
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu = l.split(":", 1)[1].strip()
        break
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
gov = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
print(f"- machine: {os.cpu_count()} cores, {cpu}, {mem:.0f} GiB; {platform.system()} {platform.release()}; {gov}")
if args.go_cmd:
    print(f"- Go benchmarks: `{args.go_cmd}`")
if args.load_cmd:
    print(f"- load harness, generated load: `{args.load_cmd}`")
if args.replay_cmd:
    print(f"- load harness, real-client replay: `{args.replay_cmd}`")
print()

if per:
    print("## Per span or record, side by side (median of the runs)\n")
    print("| benchmark | ns/span | ns/record | allocs/op | B/op |\n| --- | --- | --- | --- | --- |")
    for n in sorted(per):
        print(f"| {n} | {num(med(n,'ns/span'))} | {num(med(n,'ns/record'))} | {med(n,'allocs/op'):.0f} | {med(n,'B/op'):.0f} |")

# The trace pipeline's components on spans beside the log pipeline's on
# records (both pipelines run agentsemconv and then agentmetrics): the same
# measure (timed CPU of a batch divided by its spans or records), the same
# realistic runs (agenttest.RealisticBatch, and the records its agents log).
if any(n.startswith("BenchmarkProcessLogs") or n.startswith("BenchmarkConsumeLogs") for n in per):
    print("\n## Trace pipeline vs log pipeline: ns per span / ns per record, allocs (median of the runs)\n")
    print("Spans: `agenttest.RealisticBatch` (100 runs, ~1,075 spans a batch). Records: what 300 such runs log "
          "(1,000 records a batch: per run a GenAI operation-details event with content attributes, a `gen_ai.user.message` event "
          "with a content body, a log line with a content attribute, and on every 3rd run a `gen_ai.evaluation.result` hallucination "
          "verdict, the only records the connector counts). *no trace*: no span of a verdict's trace is in the store (the verdicts came first, and in the benchmark "
          "no span follows): each verdict opens its trace, and closing those traces is timed too; *trace open*: the spans came first, the verdicts join their open trace, "
          "ConsumeLogs alone is timed (the close is the spans' work).\n")
    print("| component | trace pipeline: ns/span | allocs/span | B/span | log pipeline: ns/record | allocs/record | B/record |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def cells(n, item):
        return f"{num(med(n, 'ns/' + item))} | {num(per_item(n, 'allocs/op', item), '{:.2f}')} | {num(per_item(n, 'B/op', item), '{:.1f}')}"
    rows = [
        ("agentsemconv processor (redaction: drop)", "BenchmarkProcessTraces", "BenchmarkProcessLogs"),
        ("agentmetrics connector (log records: no trace)", "BenchmarkConsumeTraces/agentmetrics", "BenchmarkConsumeLogs/no_trace"),
        ("agentmetrics connector (log records: trace open)", None, "BenchmarkConsumeLogs/trace_open"),
    ]
    for label, tn, ln in rows:
        t = cells(tn, "span") if tn else "— | — | —"
        print(f"| {label} | {t} | {cells(ln, 'record')} |")
    tsum = med("BenchmarkProcessTraces", "ns/span") + med("BenchmarkConsumeTraces/agentmetrics", "ns/span")
    lsum = med("BenchmarkProcessLogs", "ns/record") + med("BenchmarkConsumeLogs/no_trace", "ns/record")
    print(f"| processor + connector (log records: no trace) | {num(tsum)} | | | {num(lsum)} | | |")
    print(f"| (reference) OTLP protobuf decode | {cells('BenchmarkDecodeOTLP', 'span')} | {cells('BenchmarkDecodeOTLPLogs', 'record')} |")
    print(f"\nA verdict (agent record) alone costs the connector {num(med('BenchmarkConsumeLogs/no_trace', 'ns/agent-record'))} ns "
          f"when it opens its trace and {num(med('BenchmarkConsumeLogs/trace_open', 'ns/agent-record'))} ns when it joins an open one "
          "(ns/agent-record: the batch's time over its verdicts only).")

print("\n## Targets\n")
print("| target | measured | met |\n| --- | --- | --- |")
if per:
    cm = med("BenchmarkConsumeTraces/agentmetrics", "ns/span"); sm = med("BenchmarkConsumeTraces/span_metrics", "ns/span")
    pr = med("BenchmarkProcessTraces", "ns/span"); dec = med("BenchmarkDecodeOTLP", "ns/span")
    print(f"| connector ns/span ≤ 1.0× span_metrics | {cm:.0f} vs {sm:.0f} ns/span = {ratio(cm, sm):.2f}× | {'yes' if cm<=sm else 'no'} |")
    print(f"| processor + connector CPU per span ≤ OTLP decode of that span | {pr:.0f} + {cm:.0f} = {pr+cm:.0f} vs {dec:.0f} ns/span = {ratio(pr+cm, dec):.2f}× | {'yes' if pr+cm<=dec else 'no'} |")
    # (Rows of benchmarks not in go.txt, e.g. a run of a -bench subset, are left out.)
    bpr = med("BenchmarkMemoryPerHeldRun", "bytes/open-run"); bps = med("BenchmarkMemoryPerHeldRun", "bytes/held-span")
    if "BenchmarkMemoryPerHeldRun" in per:
        print(f"| ≤ 512 bytes per open run, ≤ 64 bytes per held span | {bpr:.0f} B per run, {bps:.1f} B per span | {'yes' if bpr<=512 and bps<=64 else 'no'} |")
    flat = (med("BenchmarkSteadyState100kRuns", "heap-MiB-round-6"), med("BenchmarkSteadyState100kRuns", "heap-MiB-last-round"))
    if "BenchmarkSteadyState100kRuns" in per:
        print(f"| memory flat for 100k open runs of 20 spans | {flat[0]:.1f} MiB at round 6, {flat[1]:.1f} MiB at round 10 | {'yes' if abs(flat[1]-flat[0]) <= 0.02*flat[0] else 'no'} |")
    tn = med("BenchmarkManyToolNames", "heap-MiB"); ser = med("BenchmarkManyToolNames", "series")
    if "BenchmarkManyToolNames" in per:
        print(f"| 100k distinct tool names stay bounded by the cardinality limit | {ser:.0f} tool-call series, heap {tn:.1f} MiB | {'yes' if ser<=2001 else 'no'} |")
rate = common_rate(load)
if all(k in L for k in ("plain", "span_metrics", "agent")):
    a, p, s = L["agent"]["max_sustained_spans_per_sec"], L["plain"]["max_sustained_spans_per_sec"], L["span_metrics"]["max_sustained_spans_per_sec"]
    print(f"| agent pipeline throughput ≥ 0.8× plain OTLP (both forward every span with the same exporter) | {a:.0f} vs {p:.0f} spans/s = {ratio(a, p):.2f}× | {'yes' if p and a>=0.8*p else 'no'} |")
    print(f"| agent pipeline throughput ≥ 1.0× span_metrics | {a:.0f} vs {s:.0f} spans/s = {ratio(a, s):.2f}× | {'yes' if s and a>=s else 'no'} |")
    if "peer_recipe" in L:
        r = L["peer_recipe"]["max_sustained_spans_per_sec"]
        print(f"| (throughput) agent vs the stock GenAI recipe (peer_recipe) | {a:.0f} vs {r:.0f} spans/s = {ratio(a, r):.2f}× | |")
    if rate:
        names = [n for n in ("agent", "peer_recipe", "span_metrics", "plain") if n in L]
        cs = {n: per_m(step_at(L[n], rate)["cpu_seconds"], step_at(L[n], rate)["sent_spans"]) for n in names}
        vs = " / ".join(f"{cs[n]:.2f}" for n in names)
        rel = ", ".join(f"agent/{n} = {ratio(cs['agent'], cs[n]):.2f}×" for n in names if n != "agent")
        print(f"| (collector CPU per span at {rate:,.0f} spans/s, generated load) {' vs '.join(names)} | {vs} CPU-s per million spans | {rel} |")
rrate = common_rate(replay)
R = {p["pipeline"]: p for p in replay}
if rrate and "agent" in R:
    names = [n for n in ("agent", "peer_recipe", "span_metrics", "plain") if n in R]
    cs = {n: per_m(step_at(R[n], rrate)["cpu_seconds"], step_at(R[n], rrate)["sent_spans"]) for n in names}
    vs = " / ".join(f"{cs[n]:.2f}" for n in names)
    rel = ", ".join(f"agent/{n} = {ratio(cs['agent'], cs[n]):.2f}×" for n in names if n != "agent")
    print(f"| (collector CPU per span at {rrate:,.0f} spans/s, real-client replay) {' vs '.join(names)} | {vs} CPU-s per million spans | {rel} |")

if load or replay:
    print("\n## Load harness (one collector process; the generator and the sink run on the same 2 cores)\n")
    print("Every pipeline forwards every span with the same exporter (`test/load/shared/exporters.yaml`: OTLP gRPC, "
          f"compression {(load or replay)[0].get('compression', 'gzip')}) to one sink, and sends the metrics it makes, if any, "
          "through the same exporter to the same sink. The sink counts spans without decoding them and runs as a process of its own, "
          "so the collector's CPU is measured apart from the sink's and the generator's (all three share the cores). "
          "*Forwarded bytes per span* is the uncompressed OTLP the sink received: the agent pipeline writes canonical `agent.*` attributes and drops prompt and completion content before it exports, so its exporter compresses and sends a different amount than the others' (compare this column with the offered bytes per span). "
          "Every pipeline runs on the same binary, `bin/otelcol-agent` (it ships contrib signal_to_metrics for the peer recipe).\n")
    print("CPU per span depends on the rate (batch sizes, garbage collection), so pipelines are compared at the highest offered rate all of them sustained; the column *at max* is each pipeline's own last sustained step.\n")

if load:
    print(f"### Generated load (agenttest.RealisticBatch: about {load[0].get('spans_per_request', 0):.0f} spans per request, {load[0].get('request_bytes_per_span', 0):.0f} bytes of OTLP per span)\n")
    load_table(load, "")

if replay:
    files = ", ".join(replay[0].get("replay_files", []))
    print(f"\n### Real-client replay ({files}: recorded traces with their real attributes and content, "
          f"{replay[0].get('spans_per_request', 0):.0f} spans per request, {replay[0].get('request_bytes_per_span', 0):.0f} bytes of OTLP per span, new trace ids on every send)\n")
    load_table(replay, "")

if load or replay:
    print("\n### What each pipeline produces\n")
    print("*Configured* is the pipeline's config header; *received* is what its collector sent the sink (metric names, distinct series); "
          "*tokens* compares the token metric's total with the LLM input + output tokens recorded on the spans that were sent.\n")
    print("| pipeline | configured | metrics received (generated load) | tokens (generated load) | metrics received (replay) | tokens (replay) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in dict.fromkeys([p["pipeline"] for p in load] + [p["pipeline"] for p in replay]):
        lp, rp = L.get(name), R.get(name)
        print(f"| {name} | {produces(name)} | {metrics_summary(lp) if lp else '—'} | {tokens_summary(lp) if lp else '—'} | {metrics_summary(rp) if rp else '—'} | {tokens_summary(rp) if rp else '—'} |")

    print("\nA step is sustained when every request was accepted, the collector refused and dropped nothing, and at least 95% of the offered rate was sent. "
          "*Cores* are CPU-seconds per second of the step (and its 1.5 s drain): collector cores well below 2 at the last step means the generator "
          "or the sink (same 2 cores) ran out first, not the collector; compare pipelines by CPU per span then. Steps:\n")
    print("| load | pipeline | offered | achieved | failed requests | refused | export failed | forwarded | collector cores | sink cores | generator cores | collector CPU-s per M spans | sustained |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for results in (load, replay):
        for p in results:
            for s in p["steps"]:
                cores = s.get("collector_cores", 0)
                wall = s.get("seconds", 0)
                sc = s.get("sink_cpu_seconds", 0) / wall if wall else 0
                gc = s.get("generator_cpu_seconds", 0) / wall if wall else 0
                print(f"| {p.get('load', 'synthetic')} | {p['pipeline']} | {s['target_spans_per_sec']:.0f} | {s['achieved_spans_per_sec']:.0f} | {s['failed_requests']} | {s['refused_spans']:.0f} | {s['export_failed_spans']:.0f} | {s.get('forwarded_spans', 0)} | {cores:.2f} | {sc:.2f} | {gc:.2f} | {s['cpu_seconds_per_million_spans']:.2f} | {s['sustained']} |")

# --- where the collector's CPU goes -------------------------------------------
# CPU by stage inside the collector, from the CPU profile of the step
# offered PROFILE_RATE spans/s (cumulative seconds of each stage's entry
# point, divided by the spans the step sent).
stages = [
    ("OTLP protobuf decode (receiver)", r"\(\*ExportTraceServiceRequest\)\.UnmarshalProto$"),
    ("agentsemconv processor", r"agentsemconvprocessor\.\(\*semconvProcessor\)\.processTraces$"),
    ("agentmetrics connector", r"agentmetricsconnector\.\(\*agentConnector\)\.ConsumeTraces$"),
    ("span_metrics connector", r"spanmetricsconnector\.\(\*connectorImp\)\.ConsumeTraces$"),
    ("filter processor", r"filterprocessor\.\(\*filterSpanProcessor\)\.processTraces$"),
    ("signal_to_metrics connector", r"signaltometricsconnector\.\(\*signalToMetrics\)\.ConsumeTraces$"),
    ("copy for a second pipeline (fanout)", r"ptrace\.Traces\.CopyTo$"),
    ("OTLP exporter, traces (encode, compress, send)", r"otlpexporter\.\(\*baseExporter\)\.pushTraces$"),
    ("OTLP exporter, metrics", r"otlpexporter\.\(\*baseExporter\)\.pushMetrics$"),
    ("garbage collector, background", r"runtime\.gcBgMarkWorker$"),
]
prof = {}
for p in load:
    name = p["pipeline"]
    step = next((s for s in p["steps"] if s["target_spans_per_sec"] == profrate), None)
    top = read(f"prof/{name}.top")
    if step is None or top is None or not step["sent_spans"]:
        continue
    total = re.search(r"Total samples = ([\d.]+)(m?s)", top)

    def secs(v, unit):
        return float(v) / (1000 if unit == "ms" else 1)
    row = {"total": secs(*total.groups()) if total else float("nan")}
    for label, pat in stages:
        for line in top.splitlines()[6:]:
            f = line.split()
            if len(f) >= 6 and re.search(pat, " ".join(f[5:])):
                m = re.match(r"([\d.]+)(m?s)", f[3])
                row[label] = secs(*m.groups())
                break
    prof[name] = (row, step["sent_spans"], step["sustained"])
if prof:
    names = [p["pipeline"] for p in load if p["pipeline"] in prof]
    heads = [n if prof[n][2] else f"{n} (step not sustained)" for n in names]
    print(f"\n## Where the collector's CPU goes (profile of the {profrate:.0f} spans/s step, generated load)\n")
    print("CPU profile of the collector process (pprof extension, added on the command line) over the whole step; each stage is the cumulative CPU of its entry point divided by the spans the step sent, in ns per span. The stages do not overlap; what is left (gRPC, batch processor, scheduler, GC assists and sweeping) is in the total only. A pipeline that did not reach this step (it failed an earlier one) has no column.\n")
    print("| stage | " + " | ".join(heads) + " |\n| --- |" + " --- |" * len(names))
    for label, _ in [("total CPU", None)] + stages:
        key = "total" if label == "total CPU" else label
        cells = []
        for n in names:
            row, spans, _ = prof[n]
            cells.append(f"{row[key] / spans * 1e9:.0f}" if key in row else "")
        if any(cells):
            print(f"| {label} | " + " | ".join(cells) + " |")

    def pns(n, label):
        row, spans, _ = prof.get(n, ({}, 1, False))
        return row.get(label, float("nan")) / spans * 1e9
    pr_c, cm_c = pns("agent", "agentsemconv processor"), pns("agent", "agentmetrics connector")
    sm_c, dec_c = pns("span_metrics", "span_metrics connector"), pns("agent", "OTLP protobuf decode (receiver)")
    print("\nThe Go-benchmark targets measured in the collector instead (batches of 8,192+ spans from the batch processor, data no longer in the CPU caches; see performance.md):\n")
    print("| target | in the collector | met |\n| --- | --- | --- |")
    print(f"| connector ≤ 1.0× span_metrics | {cm_c:.0f} vs {sm_c:.0f} ns/span = {ratio(cm_c, sm_c):.2f}× | {'yes' if cm_c<=sm_c else 'no'} |")
    print(f"| processor + connector ≤ OTLP decode | {pr_c:.0f} + {cm_c:.0f} = {pr_c+cm_c:.0f} vs {dec_c:.0f} ns/span = {ratio(pr_c+cm_c, dec_c):.2f}× | {'yes' if pr_c+cm_c<=dec_c else 'no'} |")

bs = read("benchstat.txt")
if bs is not None:
    print("\n## benchstat\n\n```")
    print(bs.rstrip())
    print("```")
if go:
    print("\n## Raw `go test` output\n\n```")
    print(go.rstrip())
    print("```")
