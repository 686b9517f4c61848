#!/usr/bin/env bash
# The agent is advisory: killed, HAProxy keeps serving with its own balancing (fail-open);
# restarted, its decisions are back. Whose decision it was is seen through what only the
# agent does: the rate limit (429) and the exact smooth weighted sequence a a b a c a a
# that a fresh agent produces (HAProxy's own weighted round robin orders differently).
source "$(dirname "$0")/lib.sh"

read -r A B C F_W F_LIM SPOP LOGS ADMIN < <(free_ports 8 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: w, address: 127.0.0.1, port: $F_W, upstream_group: wrr}
    - name: lim
      address: 127.0.0.1
      port: $F_LIM
      upstream_group: one
      ratelimit: {enabled: true, per_second: 1, burst: 2}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
  - {name: c, url: "http://127.0.0.1:$C/v1"}
upstream_groups:
  - name: wrr
    upstreams: [{name: a, weight: 5}, {name: b, weight: 1}, {name: c, weight: 1}]
    balance: {strategy: weighted_roundrobin}
  - {name: one, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
start_mock c "$C" || finish
start_stack "$T/config.yaml" || finish

# statuses PORT N: N requests back to back on one connection; their statuses.
statuses() {
    local i args=()
    for i in $(seq "$2"); do args+=(-o /dev/null "http://127.0.0.1:$1/models"); done
    curl -s -m 10 -w '%{http_code}\n' "${args[@]}" | xargs
}
# sequence N: N completions on the weighted forward; the answering mocks' names.
sequence() {
    local i
    for i in $(seq "$1"); do
        curl -s -m 5 "http://127.0.0.1:$F_W/chat/completions" -d '{}' | jq -r '.choices[0].message.content'
    done | xargs
}
ALL="$A:a $B:b $C:c"

# With the agent.
mock_reset "$A" "$B" "$C"
got=$(sequence 7)
check "agent: smooth weighted sequence, client side ($got)" test "$got" = "a a b a c a a"
check "agent: ... upstream side ($(arrival_order $ALL))" test "$(arrival_order $ALL)" = "a a b a c a a"
got=$(statuses "$F_LIM" 3)
check "agent: burst 2 then 429 ($got)" test "$got" = "200 200 429"

# Agent killed.
{ kill -KILL "$PID_agent" && wait "$PID_agent"; } 2>/dev/null
check "HAProxy's check marks the killed agent DOWN" wait_until 10 agent_is DOWN
mock_reset "$A" "$B" "$C"
start=$EPOCHREALTIME
got=$(statuses "$F_LIM" 5)
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
check "fail-open: every request served without the rate limit ($got)" test "$got" = "200 200 200 200 200"
check "fail-open: without delay (5 requests in ${secs}s)" awk -v t="$secs" 'BEGIN{exit !(t < 1.5)}'
got=$(sequence 7)
check "fail-open: HAProxy balances by itself, every answer from a member ($got)" \
    bash -c "[[ '$got' =~ ^([abc]\ ){6}[abc]$ ]]"
total=$(($(mock_count "$A") + $(mock_count "$B") + $(mock_count "$C")))
check "fail-open: the upstreams saw all 12 requests ($total)" test "$total" -eq 12
check "fail-open: HAProxy's own order differs from the agent's, so the check above is HAProxy's" \
    test "$got" != "a a b a c a a"

# Agent restarted: a fresh agent starts its weighted cycle and its buckets from scratch
# (the limited forward has its own group, so probing it leaves the weighted cycle alone).
start_agent "$T/config.yaml"
check "HAProxy's check marks the restarted agent UP" wait_until 10 agent_is UP
# The check is UP before every HAProxy thread has its SPOE connection back: wait until a
# request is limited again, proof that picks are answered by the agent.
limited_again() { [ "$(statuses "$F_LIM" 3 | awk '{print $NF}')" = 429 ]; }
check "agent back: the rate limit applies again" wait_until 10 limited_again
mock_reset "$A" "$B" "$C"
got=$(sequence 7)
check "agent back: the smooth weighted sequence from the start, client side ($got)" \
    test "$got" = "a a b a c a a"
check "agent back: ... upstream side ($(arrival_order $ALL))" test "$(arrival_order $ALL)" = "a a b a c a a"
stop_pid "$PID_agent"
check "the restarted agent exits cleanly, without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
