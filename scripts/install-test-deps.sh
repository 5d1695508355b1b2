#!/usr/bin/env bash
# Installs the real backends the test suite runs against, from Debian's
# packages: prometheus (with promtool) and prometheus-alertmanager (with
# amtool). Nothing is started as a service; tests start their own processes
# on loopback. Idempotent; needs root (or sudo) the first time.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
[ ${#need[@]} -eq 0 ] && { echo "test dependencies present: $(prometheus --version 2>&1 | head -1)"; exit 0; }
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
