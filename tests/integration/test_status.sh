#!/usr/bin/env bash
# `llmproxy-ctl status` against a running agent (no HAProxy): spop_bench makes picks, then
# the table shows every forward, group and upstream with its pick count, --json is valid
# JSON with the same numbers, GET /status is served as application/json, and with the
# agent gone the command fails with a clear message and exit status 1.
source "$(dirname "$0")/lib.sh"

BENCH=$BUILD/tools/spop_bench
read -r FWD_PORT SPOP_PORT LOG_PORT ADMIN_PORT < <(free_ports 4 | xargs)

# The admin endpoint listens on the wildcard address: status must reach it on loopback.
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: g}
  admin: {address: 0.0.0.0, port: $ADMIN_PORT}
upstreams:
  - {name: alpha, url: "http://127.0.0.1:1/v1", breaker: {threshold: 0.5, cooldown: 30}}
  - {name: beta, url: "http://127.0.0.1:2"}
upstream_groups:
  - {name: g, upstreams: [{name: alpha}, {name: beta}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
YAML

spawn agent "$AGENT" -c "$T/config.yaml"
wait_port "$ADMIN_PORT" || { fail "admin endpoint did not start"; finish; }

check "spop_bench got 10 valid picks" "$BENCH" -p "$SPOP_PORT" -n 10 -f main --kv

# The table.
check "status exits 0" bash -c "'$CTL' status -c '$T/config.yaml' >'$T/status.txt' 2>'$T/status.err'"
cat "$T/status.txt"
check "the table lists the forward" grep -qE '^  main +127\.0\.0\.1:[0-9]+ +g +off +0 +0$' "$T/status.txt"
check "the table lists the group and its members" \
    grep -qE '^  g +roundrobin +alpha,beta$' "$T/status.txt"
# roundrobin over two members: 10 picks are 5 each.
for up in alpha beta; do
    check "upstream $up: closed breaker and 5 picks" bash -c \
        "awk '\$1==\"$up\" {print \$2, \$7}' '$T/status.txt' | grep -qx 'closed 5'"
done
check "the upstream header names every column" grep -qE \
    '^  NAME +BREAKER +EMA_MS +SUCCESS +IN_FLIGHT +SCORE +PICKS +OK +FAILED +REJECTED +OPENED +URL$' \
    "$T/status.txt"

# The JSON, as the command prints it and as the agent serves it.
check "status --json exits 0" bash -c "'$CTL' status -c '$T/config.yaml' --json >'$T/status.json'"
check "--json is valid JSON" bash -c "jq -e . '$T/status.json' >/dev/null"
check "--json: picks total 10" \
    test "$(jq '[.upstreams[].picks] | add' "$T/status.json")" = 10
check "--json: alpha's breaker is closed with its threshold" \
    test "$(jq -c '.upstreams[] | select(.name=="alpha") | [.breaker.state, .breaker.threshold]' \
        "$T/status.json")" = '["closed",0.5]'
check "--json: not measured yet: ema_ms and score are null" \
    test "$(jq -c '[.upstreams[] | .ema_ms, .score] | unique' "$T/status.json")" = '[null]'
check "--json: the forward's counters" \
    test "$(jq -c '.forwards[0] | [.name, .group, .limited, .unavailable]' "$T/status.json")" = \
    '["main","g",0,0]'
curl -s -m 5 -D "$T/status.h" -o /dev/null "http://127.0.0.1:$ADMIN_PORT/status"
check "GET /status is 200 application/json" \
    bash -c "grep -q '^HTTP/1.1 200' '$T/status.h' && grep -qi '^content-type: application/json' '$T/status.h'"

# Usage errors are 2.
"$CTL" status >/dev/null 2>&1
check "status without -c exits 2" test $? -eq 2
"$CTL" status -c "$T/config.yaml" -o x >/dev/null 2>&1
check "status -o exits 2" test $? -eq 2

# The agent gone: a clear message and exit status 1, within the 3 s timeout.
stop_pid "$PID_agent"
check "agent exited cleanly on SIGTERM without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
"$CTL" status -c "$T/config.yaml" >"$T/down.out" 2>"$T/down.err"
rc=$?
check "agent down: exit 1 (got $rc)" test "$rc" -eq 1
check "agent down: says the agent does not answer" \
    grep -q "the agent does not answer at http://127.0.0.1:$ADMIN_PORT/status" "$T/down.err"
check "agent down: nothing on stdout" test ! -s "$T/down.out"

# A silent listener (accepts, never answers): cut off by the timeout, exit 1.
spawn silent socat "TCP-LISTEN:$ADMIN_PORT,bind=127.0.0.1,reuseaddr" SYSTEM:"sleep 30"
wait_port "$ADMIN_PORT"
start=$(date +%s.%N)
"$CTL" status -c "$T/config.yaml" >/dev/null 2>"$T/silent.err"
rc=$?
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
check "silent agent: exit 1 after ~3 s (rc $rc, ${elapsed}s)" \
    awk -v rc="$rc" -v t="$elapsed" 'BEGIN { exit !(rc == 1 && t >= 2.9 && t < 5) }'
check "silent agent: says no answer in time" grep -q "no answer within 3000 ms" "$T/silent.err"
finish
