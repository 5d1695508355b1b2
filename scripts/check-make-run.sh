#!/usr/bin/env bash
# Starts `make run` the way the README says (with the listeners moved to free
# loopback ports through the default config's variables), checks that it
# serves /metrics and the health check and accepts OTLP/HTTP, then stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || shuf -i 20000-60000 -n 1; }
export OTELCOL_AGENT_OTLP_GRPC_ENDPOINT=127.0.0.1:$(free_port)
export OTELCOL_AGENT_OTLP_HTTP_ENDPOINT=127.0.0.1:$(free_port)
export OTELCOL_AGENT_PROMETHEUS_ENDPOINT=127.0.0.1:$(free_port)
export OTELCOL_AGENT_HEALTH_ENDPOINT=127.0.0.1:$(free_port)
export OTELCOL_AGENT_TELEMETRY_PORT=$(free_port)
log=$(mktemp)
setsid make --no-print-directory run >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM -- -"$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://$OTELCOL_AGENT_HEALTH_ENDPOINT/" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "make run exited:"; cat "$log"; exit 1; }
  sleep 0.2
done
curl -fsS "http://$OTELCOL_AGENT_HEALTH_ENDPOINT/" >/dev/null || { echo "health check not answering"; cat "$log"; exit 1; }
curl -fsS -H 'Content-Type: application/json' -d '{"resourceSpans":[]}' "http://$OTELCOL_AGENT_OTLP_HTTP_ENDPOINT/v1/traces" >/dev/null \
  || { echo "OTLP/HTTP not accepted"; cat "$log"; exit 1; }
curl -fsS "http://$OTELCOL_AGENT_PROMETHEUS_ENDPOINT/metrics" >/dev/null || { echo "/metrics not served"; cat "$log"; exit 1; }
echo "make run: health, OTLP/HTTP and /metrics answer"
