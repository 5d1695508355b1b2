#!/usr/bin/env bash
# Installs the real backends the test suite runs against: Debian's
# prometheus (with promtool) and prometheus-alertmanager (with amtool), and a
# pinned Jaeger v2 built from the Go module proxy. Nothing is started as a service; tests start their own processes
# on loopback. Idempotent; needs root (or sudo) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Jaeger v2, pinned in internal/tools/jaeger/go.mod (a Go module of its own),
# built once into bin/jaeger (about 2.5 min and 2.3 GB of memory cold).
if [ ! -x bin/jaeger ]; then
  echo "building Jaeger v2 (pinned) into bin/jaeger"
  go -C internal/tools/jaeger build -trimpath -ldflags='-s -w' -o "$PWD/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
fi

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
[ ${#need[@]} -eq 0 ] && { echo "test dependencies present: $(prometheus --version 2>&1 | head -1), $(prometheus-alertmanager --version 2>&1 | head -1), bin/jaeger"; exit 0; }
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
