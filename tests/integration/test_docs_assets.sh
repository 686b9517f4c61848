#!/usr/bin/env bash
# The operator assets stay true to the agent: the Grafana dashboard is valid JSON, every
# metric it or the Prometheus alert rules name is a family a real agent exports (an agent
# alone, picks sent by spop_bench, a proxied group so the tunnel families exist), every
# family the agent exports is documented in docs/metrics.md, every alert is described
# there, and the alerts file is YAML with a name and an expression per rule.
source "$(dirname "$0")/lib.sh"

BENCH=$BUILD/tools/spop_bench
DASHBOARD=$LLMPROXY_ROOT/packaging/grafana/llmproxy-dashboard.json
ALERTS=$LLMPROXY_ROOT/packaging/prometheus/llmproxy-alerts.yaml
METRICS_DOC=$LLMPROXY_ROOT/docs/metrics.md
# jq_true ARGS...: jq -e, quiet (a redirection after `check` would hide its verdict too).
jq_true() { jq -e "$@" >/dev/null; }
# no_new_failures N: true when no failure was recorded since _failures was N.
no_new_failures() { [ "$_failures" -eq "$1" ]; }

read -r FWD_PORT SPOP_PORT LOG_PORT ADMIN_PORT PROXY_PORT < <(free_ports 5 | xargs)

# The dashboard.
check "the dashboard is valid JSON" jq_true . "$DASHBOARD"
check "the dashboard has a uid, panels and a datasource variable" jq_true \
    '.uid == "llmproxy" and (.panels | length > 0)
     and any(.templating.list[]; .type == "datasource")' "$DASHBOARD"
check "panel ids are unique" jq_true \
    '[.. | objects | select(has("gridPos")) | .id] | length == (unique | length)' \
    "$DASHBOARD"
check "every panel target has a PromQL expression" jq_true \
    '[.. | objects | select(has("targets")) | .targets[] | .expr | strings | length > 0]
     | length > 0 and all' "$DASHBOARD"

# The alerts file: YAML, when a parser is at hand (llmproxy-ctl validate is not one).
if python3 -c 'import yaml' 2>/dev/null; then
    check "the alerts file is YAML with an alert name and an expression per rule" python3 -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
rules = [r for g in doc["groups"] for r in g["rules"]]
assert rules and all(r.get("alert") and r.get("expr") for r in rules), "incomplete rule"
' "$ALERTS"
    alert_names=$(python3 -c '
import sys, yaml
for g in yaml.safe_load(open(sys.argv[1]))["groups"]:
    for r in g["rules"]:
        print(r["alert"])
' "$ALERTS")
else
    log "note: no YAML parser (python3 yaml): the alerts file is not parsed"
    alert_names=$(awk '$1 == "-" && $2 == "alert:" {print $3}' "$ALERTS")
fi
if command -v promtool >/dev/null; then
    check "promtool accepts the alert rules" bash -c 'promtool check rules "$1" >/dev/null' _ "$ALERTS"
else
    skip_part "promtool check rules" "promtool is not installed"
fi
check "the alerts file has rules ($(echo $alert_names | wc -w))" test -n "$alert_names"
f0=$_failures
for a in $alert_names; do
    grep -qF "$a" "$METRICS_DOC" || fail "alert $a is not described in docs/metrics.md"
done
check "every alert is described in docs/metrics.md" no_new_failures "$f0"

# A real agent's families: one plain group, one reached through a forward proxy (nothing
# listens on its port; the tunnel families exist as soon as the group does).
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN_PORT}
upstreams:
  - {name: a, url: "http://127.0.0.1:1/v1", breaker: {threshold: 0.5, cooldown: 30}}
  - {name: b, url: "https://example.com/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
  - name: p
    upstreams: [{name: b}]
    http_client: {proxy: {enabled: true, url: "http://127.0.0.1:$PROXY_PORT"}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
haproxy: {run_dir: "$T"}
YAML
spawn agent "$AGENT" -c "$T/config.yaml"
wait_port "$ADMIN_PORT" || { fail "admin endpoint did not start"; finish; }
check "spop_bench got 10 valid picks" "$BENCH" -p "$SPOP_PORT" -n 10 -f main --kv
check "GET /metrics" curl -sf -m 5 -o "$T/metrics.txt" "http://127.0.0.1:$ADMIN_PORT/metrics"
awk '$1 == "#" && $2 == "TYPE" {print $3, $4}' "$T/metrics.txt" | sort >"$T/families"
check "the agent exports the tunnel families" grep -q '^llmproxy_tunnel_active gauge$' "$T/families"

# family_of NAME: the exported family NAME belongs to (a histogram's _bucket, _sum and
# _count are its own), or nothing.
family_of() {
    local base=${1%_bucket}
    base=${base%_sum}
    base=${base%_count}
    if grep -q "^$1 " "$T/families"; then
        echo "$1"
    elif [ "$base" != "$1" ] && grep -qx "$base histogram" "$T/families"; then
        echo "$base"
    fi
}

# Names in the assets; a name ending in "_" is prose ("llmproxy_http_*"), not a metric.
used=$( (jq -r '.. | strings' "$DASHBOARD"; cat "$ALERTS") |
    grep -oE 'llmproxy_[a-z0-9_]+' | grep -v '_$' | sort -u)
n=0 f0=$_failures
for name in $used; do
    n=$((n + 1))
    [ -n "$(family_of "$name")" ] || fail "$name is used in the dashboard or alerts but the agent exports no such metric"
done
check "all $n metric names in the dashboard and alerts exist in the agent's /metrics" bash -c "[ $n -gt 30 ] && [ $_failures -eq $f0 ]"

# Every exported family is documented.
f0=$_failures
while read -r family _; do
    grep -qF "\`$family\`" "$METRICS_DOC" || fail "$family is exported but not in docs/metrics.md"
done <"$T/families"
check "every exported family ($(wc -l <"$T/families")) is in docs/metrics.md" no_new_failures "$f0"

# The dashboard shows the essentials the operations guide promises.
f0=$_failures
for family in llmproxy_http_requests_total llmproxy_http_request_errors_total \
    llmproxy_http_request_duration_seconds llmproxy_upstream_success_rate \
    llmproxy_upstream_response_time_ema_seconds llmproxy_upstream_in_flight \
    llmproxy_upstream_breaker_state llmproxy_ratelimit_total \
    llmproxy_agent_decision_duration_seconds llmproxy_log_lines_received_total; do
    grep -q "$family" <<<"$used" || fail "the dashboard lacks $family"
done
check "the dashboard covers traffic, latency, upstreams, breakers, rate limits, decisions, log feed" \
    no_new_failures "$f0"

stop_pid "$PID_agent"
check "agent exited cleanly without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
