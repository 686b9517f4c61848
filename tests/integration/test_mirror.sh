#!/usr/bin/env bash
# Open breakers mirrored into HAProxy through its runtime API, against real HAProxy 2.6
# from a rendered configuration: an upstream answering 503 trips its breaker and its
# server in the group backend goes to weight 0 (so HAProxy's own balancing and redispatch
# avoid it too); after an HAProxy reload the new worker gets the weight 0 again; once the
# upstream heals and a probe succeeds after the cooldown, its configured weight is back.
source "$(dirname "$0")/lib.sh"

read -r FWD A B SPOP LOGS ADMIN < <(free_ports 6 | xargs)
COOLDOWN=8

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD, upstream_group: mg}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: mirror_a, url: "http://127.0.0.1:$A", breaker: {threshold: 0.5, cooldown: $COOLDOWN}}
  - {name: mirror_b, url: "http://127.0.0.1:$B"}
upstream_groups:
  - name: mg
    upstreams: [{name: mirror_a, weight: 3}, {name: mirror_b, weight: 2}]
    balance: {strategy: weighted_roundrobin}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

SOCK=$T/haproxy.sock
# weight SERVER: its current weight in grp_mg, from `show servers state` (srv_uweight).
weight() { haproxy_cli "$SOCK" "show servers state grp_mg" | awk -v s="$1" '$4==s {print $8}'; }
weight_is() { [ "$(weight "$1")" = "$2" ]; }
# stat_weight SERVER: the same seen through `show stat` (column 19).
stat_weight() { haproxy_cli "$SOCK" "show stat grp_mg 4 -1" | awk -F, -v s="$1" '$2==s {print $19}'; }
worker_pid() { haproxy_cli "$SOCK" "show info" | awk '$1=="Pid:" {print $2}'; }
one() { curl -s -o /dev/null -m 5 -w '%{http_code}\n' "http://127.0.0.1:$FWD/v1/models"; }

start_mock a "$A" || finish
start_mock b "$B" || finish
start_stack "$T/config.yaml" || finish

check "at start both servers have their configured weights (a=$(weight mirror_a), b=$(weight mirror_b))" \
    bash -c "[ '$(weight mirror_a)' = 3 ] && [ '$(weight mirror_b)' = 2 ]"
check "the agent asserted every weight once HAProxy's feed connected" \
    wait_until 10 grep -q 'HAProxy log feed connected: asserting' "$T/agent.log"

# a fails: three of every five picks go to it, so ten requests trip its breaker.
mock_config "$A" status=503
for _ in $(seq 10); do one; done >/dev/null
check "a's breaker opened" wait_until 5 grep -q 'breaker mirror_a: closed -> open' "$T/agent.log"
check "a's server went to weight 0 in HAProxy" wait_until 3 weight_is mirror_a 0
check "show stat agrees (weight $(stat_weight mirror_a))" test "$(stat_weight mirror_a)" = 0
check "b keeps its weight ($(weight mirror_b))" weight_is mirror_b 2
check "no command was refused by HAProxy" bash -c "! grep -q 'runtime API.*refused' '$T/agent.log'"
# mirror_commands RESULT: the page's count of the mirror's commands with that result.
mirror_commands() {
    local series="llmproxy_agent_breaker_mirror_commands_total{result=\"$1\"}"
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v s="$series" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }'
}
applied=$(mirror_commands applied)
check "/metrics counts the weights HAProxy applied ($applied) and the failed ones ($(mirror_commands failed))" \
    bash -c "[ '$applied' != absent ] && [ '$applied' -gt 0 ] && [ '$(mirror_commands failed)' != absent ]"

# While open, HAProxy's own choice (what redispatch and fail-open use) avoids a as well.
mock_reset "$A" "$B"
codes=$(for _ in 1 2 3 4; do one; done | sort -u | xargs)
check "while open every request is served ($codes) and a gets none ($(mock_count "$A"))" \
    bash -c "[ '$codes' = 200 ] && [ $(mock_count "$A") -eq 0 ]"

# HAProxy reloads: the new worker starts from haproxy.cfg (weight 3); the agent sees its
# log feed connect and asserts weight 0 again.
pid_before=$(worker_pid)
n_feeds=$(grep -c 'HAProxy log feed connected' "$T/agent.log")
kill -USR2 "$PID_haproxy"
new_worker() { [ -n "$(worker_pid)" ] && [ "$(worker_pid)" != "$pid_before" ]; }
check "HAProxy reloaded into a new worker" wait_until 10 new_worker
check "the agent saw the new worker's log feed" wait_until 10 bash -c \
    "[ \$(grep -c 'HAProxy log feed connected' '$T/agent.log') -gt $n_feeds ]"
check "the new worker has a at weight 0 again" wait_until 7 weight_is mirror_a 0
check "... and b at its weight ($(weight mirror_b))" weight_is mirror_b 2
check "the breaker is still open across HAProxy's reload" \
    bash -c "! grep -q 'breaker mirror_a: open -> half_open' '$T/agent.log'"

# The point of it all: without the agent (fail-open), HAProxy's own balancing avoids a.
{ kill -KILL "$PID_agent" && wait "$PID_agent"; } 2>/dev/null
check "HAProxy's check marks the killed agent DOWN" wait_until 10 agent_is DOWN
mock_reset "$A" "$B"
codes=$(for _ in $(seq 6); do one; done | sort -u | xargs)
check "fail-open: every request served ($codes), a at weight 0 gets none ($(mock_count "$A"))" \
    bash -c "[ '$codes' = 200 ] && [ $(mock_count "$A") -eq 0 ]"

# A restarted agent starts with closed breakers and gives every server its weight back,
# then a's failures trip its breaker again.
start_agent "$T/config.yaml"
check "the restarted agent restores a's weight" wait_until 5 weight_is mirror_a 3
check "HAProxy's check marks the restarted agent UP" wait_until 10 agent_is UP
trip_again() { one >/dev/null; weight_is mirror_a 0; }
check "a's failures drain it again" wait_until 10 trip_again

# a heals; after the cooldown one probe reaches it through use-server despite weight 0,
# its success closes the breaker and the configured weight comes back.
mock_config "$A" status=0
mock_reset "$A"
probe_sent() { one >/dev/null; [ "$(mock_count "$A")" -ge 1 ]; }
check "after the cooldown a gets a probe at weight 0" wait_until $((COOLDOWN + 5)) probe_sent
check "the probe closed the breaker" \
    wait_until 5 grep -q 'breaker mirror_a: half_open -> closed' "$T/agent.log"
check "a's configured weight is back" wait_until 3 weight_is mirror_a 3
check "show stat agrees (weight $(stat_weight mirror_a))" test "$(stat_weight mirror_a)" = 3

# The agent goes on when HAProxy's socket disappears, and re-asserts when it is back.
stop_pid "$PID_haproxy"
sleep 1.5
check "the agent survives HAProxy stopping" kill -0 "$PID_agent"
stop_pid "$PID_agent"
check "the agent exited cleanly, without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
