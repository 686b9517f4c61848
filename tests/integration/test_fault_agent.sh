#!/usr/bin/env bash
# The agent killed or hung under a steady load: HAProxy fails open, so no client request
# fails, and decisions come back with the agent.
#
# Why zero failures is the right bound, even for a pick in flight at the kill: HAProxy asks
# with `option set-on-error` and `continue-on-error`, so a pick whose connection dies or
# whose answer does not come within `timeout processing` (50 ms) just proceeds without a
# decision, and HAProxy balances the request itself. Only the choice is lost, never the
# request. A hung agent (SIGSTOP) costs each request at most that 50 ms until HAProxy's
# spop-check marks it DOWN, then nothing: the group has no retry engine to wait for.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

read -r A B F F_LIM SPOP LOGS ADMIN < <(free_ports 7 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
    - name: lim
      address: 127.0.0.1
      port: $F_LIM
      upstream_group: g
      ratelimit: {enabled: true, per_second: 1, burst: 2}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}, {name: b}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
start_stack "$T/config.yaml" || finish

URL=http://127.0.0.1:$F/v1/chat/completions
picks() { metric_sum llmproxy_agent_pick_decisions_total; }
picks_above() { [ "$(picks)" -gt "$1" ]; }
# limited: three requests at once on the limited forward, the third refused by the agent.
limited() {
    local i args=()
    for i in 1 2 3; do args+=(-o /dev/null "http://127.0.0.1:$F_LIM/v1/models"); done
    [ "$(curl -s -m 5 -w '%{http_code}\n' "${args[@]}" | tail -n 1)" = 429 ]
}
check "the agent decides before any fault: the rate limit answers 429" wait_until 5 limited

# 1. SIGKILL at 2 s into a 6 s load, a new agent at 4 s.
load_start kill "$URL" 6
sleep 2
kill -KILL "$PID_agent"
wait "$PID_agent" 2>/dev/null
mv "$T/agent.log" "$T/agent.killed.log"
sleep 2
start_agent "$T/config.yaml" || fail "the agent did not restart"
load_wait kill
n=$(load_total kill)
check "SIGKILL: every request of the load answered 200 ($n requests: $(load_summary kill))" \
    load_all_200 kill 6
check "SIGKILL: no request waited long (slowest $(load_slowest kill) s)" \
    awk -v t="$(load_slowest kill)" 'BEGIN { exit !(t < 1.0) }'
check "the restarted agent is UP for HAProxy" wait_until 10 agent_is UP
check "the restarted agent decides again: the rate limit answers 429" wait_until 10 limited
before=$(picks)
curl -s -m 5 -o /dev/null "$URL" -d '{}'
check "... and its pick counter grows ($before -> $(picks))" wait_until 5 picks_above "$before"

# 2. SIGSTOP for 5 s (a hung agent) under the same load, then SIGCONT.
load_start stop "$URL" 7
sleep 1
kill -STOP "$PID_agent"
stopped_at=$SECONDS
check "SIGSTOP: HAProxy marks the hung agent DOWN" wait_until 5 agent_is DOWN
left=$((5 - (SECONDS - stopped_at)))
[ "$left" -gt 0 ] && sleep "$left"
kill -CONT "$PID_agent"
load_wait stop
n=$(load_total stop)
check "SIGSTOP: every request of the load answered 200 ($n requests: $(load_summary stop))" \
    load_all_200 stop 7
check "SIGSTOP: each waited at most the pick timeout, plus some (slowest $(load_slowest stop) s)" \
    awk -v t="$(load_slowest stop)" 'BEGIN { exit !(t < 1.0) }'
check "SIGCONT: HAProxy marks the agent UP again" wait_until 10 agent_is UP
check "SIGCONT: the rate limit answers 429 again" wait_until 10 limited
before=$(picks)
curl -s -m 5 -o /dev/null "$URL" -d '{}'
check "SIGCONT: the pick counter grows ($before -> $(picks))" wait_until 5 picks_above "$before"

stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
check "HAProxy still runs" kill -0 "$PID_haproxy"
finish
