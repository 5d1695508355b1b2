#!/usr/bin/env bash
# Static checks of the alerting configuration with the real tools:
# promtool check/test on the rules, amtool check-config and routing tests.
set -euo pipefail
cd "$(dirname "$0")/.."
promtool check config config/prometheus/prometheus.yml
promtool check rules config/prometheus/*-rules.yaml
promtool test rules config/prometheus/tests/*.yaml
amtool check-config config/alertmanager/alertmanager.yml
route() { # labels... expected-receiver
  local want=${!#} got
  got=$(amtool config routes test --config.file=config/alertmanager/alertmanager.yml "${@:1:$#-1}")
  [ "$got" = "$want" ] || { echo "routing $*: got $got, want $want" >&2; exit 1; }
  echo "route ${*:1:$#-1} -> $got"
}
route severity=P1 agent_id=a pagerduty-and-slack-p1
route severity=P2 agent_id=a slack-p2
route severity=P3 agent_id=a slack-p3
route agent_id=a slack-p3
