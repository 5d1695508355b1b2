#!/usr/bin/env bash
# Installs the real backends the test suite runs against: Debian's
# prometheus (with promtool) and prometheus-alertmanager (with amtool), a
# pinned Jaeger v2 and a pinned VictoriaLogs, both built from the Go module
# proxy. Nothing is started as a service; tests start their own processes
# on loopback. Idempotent; needs root (or sudo) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Jaeger v2, pinned in internal/tools/jaeger/go.mod (a Go module of its own),
# built once into bin/jaeger (about 2.5 min and 2.3 GB of memory cold).
if [ ! -x bin/jaeger ]; then
  echo "building Jaeger v2 (pinned) into bin/jaeger"
  go -C internal/tools/jaeger build -trimpath -ldflags='-s -w' -o "$PWD/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
fi

# VictoriaLogs, the log store of the alert -> trace -> log test, pinned in
# internal/tools/victorialogs/go.mod. Grafana Loki was the first choice (it
# ingests OTLP natively) but its licence is AGPL-3.0, which this project does
# not take in, even as a test tool; VictoriaLogs (Apache-2.0) ingests OTLP
# logs natively too.
if [ ! -x bin/victoria-logs ]; then
  echo "building VictoriaLogs (pinned) into bin/victoria-logs"
  go -C internal/tools/victorialogs build -trimpath -ldflags='-s -w' -o "$PWD/bin/victoria-logs" github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs
fi

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
[ ${#need[@]} -eq 0 ] && { echo "test dependencies present: $(prometheus --version 2>&1 | head -1), $(prometheus-alertmanager --version 2>&1 | head -1), bin/jaeger, bin/victoria-logs"; exit 0; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]} from Debian packages"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages' services are not wanted: tests run their own instances.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  $sudo systemctl stop "$svc" >/dev/null 2>&1 || true
done
echo "installed: $(prometheus --version 2>&1 | head -1)"
