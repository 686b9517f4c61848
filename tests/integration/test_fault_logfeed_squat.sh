#!/usr/bin/env bash
# The log feed's 64 slots held by idle connections of an unprivileged local user before
# HAProxy connects, then 100 more squatters once it has. HAProxy's ring connection is never
# the one refused: when full, the agent evicts the slot that never delivered a well-formed
# line (the oldest first), so HAProxy's lines still arrive and feed the metrics, and every
# eviction is counted in llmproxy_log_connections_evicted_total instead of being logged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"
source "$(dirname "$0")/squat_lib.sh"

read -r A F SPOP LOGS ADMIN < <(free_ports 5 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
"$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1 || { fail "render"; finish; }
start_agent "$T/config.yaml" && wait_port "$LOGS" && wait_port "$ADMIN" ||
    { fail "agent did not start"; finish; }

squat squatter "$LOGS" 80
check "the squatter holds 80 idle log-feed connections" wait_until 20 squatting squatter 80
evicted_at_least() { [ "$(metric llmproxy_log_connections_evicted_total)" -ge "$1" ]; }
wait_until 5 evicted_at_least 16
check "the agent keeps 64 of them at most ($(metric llmproxy_log_connections_evicted_total) evicted)" \
    evicted_at_least 16

spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
wait_until 10 agent_is UP || { fail "HAProxy did not see the agent UP"; finish; }

received() { metric llmproxy_log_lines_received_total; }
received_at_least() { [ "$(received)" -ge "$1" ]; }
send() {
    local i
    for i in $(seq "$1"); do
        curl -s -m 5 -o /dev/null "http://127.0.0.1:$F/v1/models"
    done
}
send 5
check "HAProxy's lines arrive despite the squatters ($(received) received)" \
    wait_until 10 received_at_least 5

squat squatter2 "$LOGS" 100
check "100 more squatters connected" wait_until 20 squatting squatter2 100
before=$(received)
send 5
check "HAProxy's connection, proven by its lines, survives them ($before -> $(received))" \
    wait_until 10 received_at_least $((before + 5))
evicted=$(metric llmproxy_log_connections_evicted_total)
check "evictions are counted ($evicted), none refused ($(metric_sum llmproxy_log_connections_refused_total))" \
    test "$evicted" -ge 116 -a "$(metric_sum llmproxy_log_connections_refused_total)" -eq 0
check "connections are not logged one by one ($(grep -c logfeed "$T/agent.log") lines)" \
    test "$(grep -c logfeed "$T/agent.log")" -le 10
check "the agent is alive" kill -0 "$PID_agent"
check "no sanitizer report" sanitizer_clean "$T/agent.log"
finish
