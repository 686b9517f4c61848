#!/usr/bin/env bash
# The log feed against real HAProxy 2.6 from a rendered configuration: HAProxy's ring
# streams every stream's log line to the agent, an upstream answering 503 five times trips
# its breaker so the next picks avoid it, and after the cooldown one good probe brings it
# back. A broken stream on the log port is dropped without harming the agent.
source "$(dirname "$0")/lib.sh"

MOCK_BIN=$BUILD/tools/mock_upstream
read -r FWD_PORT A_PORT B_PORT SPOP_PORT LOG_PORT ADMIN_PORT < <(free_ports 6 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: feed}
  admin: {address: 127.0.0.1, port: $ADMIN_PORT}
upstreams:
  - name: feed_a
    url: http://127.0.0.1:$A_PORT
    breaker: {threshold: 0.5, cooldown: 2}
  - name: feed_b
    url: http://127.0.0.1:$B_PORT
upstream_groups:
  - name: feed
    upstreams: [{name: feed_a}, {name: feed_b}]
    balance: {strategy: roundrobin}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
haproxy: {run_dir: "$T", access_log: true}
YAML

mock() { # PORT PATH [CURL ARGS]: a mock's control endpoint
    local port=$1 path=$2
    shift 2
    curl -sf -m 5 "$@" "http://127.0.0.1:$port/__mock/$path"
}
requests_to() { mock "$1" requests | jq length; }
one() { curl -s -o /dev/null -m 5 -w '%{http_code}\n' "http://127.0.0.1:$FWD_PORT/v1/models"; }

spawn mock_a "$MOCK_BIN" --name a --port "$A_PORT"
spawn mock_b "$MOCK_BIN" --name b --port "$B_PORT"
wait_until 10 mock "$A_PORT" health
wait_until 10 mock "$B_PORT" health
check "render the configuration" "$CTL" render -c "$T/config.yaml" -o "$T/out"
check "HAProxy accepts the ring and log formats" "$HAPROXY" -c -q -f "$T/out/haproxy.cfg"
spawn agent "$AGENT" -c "$T/config.yaml" -l debug
wait_port "$SPOP_PORT"
wait_port "$LOG_PORT"
spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
wait_port "$FWD_PORT"
agent_up() {
    [ "$(haproxy_cli "$T/haproxy.sock" "show stat llm_agent 4 -1" |
        awk -F, '$2=="agent"{print $18}')" = UP ]
}
check "spop-check marks the agent UP" wait_until 10 agent_up
check "HAProxy's ring connects to the log feed" \
    wait_until 10 grep -q 'logfeed: HAProxy connected' "$T/agent.log"

# a answers 503 from the start: its 5 round-robin turns out of 10 are five failed attempts
# in the window, which trip its breaker (threshold 0.5) on the fifth.
mock "$A_PORT" 'config?status=503' -X POST >/dev/null
codes=$(for _ in $(seq 10); do one; done | sort | uniq -c | awk '{print $2"x"$1}' | xargs)
check "a's 503s reach the client, b serves the rest (got: $codes)" test "$codes" = "200x5 503x5"
check "a got exactly its 5 turns ($(requests_to "$A_PORT"))" test "$(requests_to "$A_PORT")" -eq 5
check "the agent opened a's breaker from the log feed" \
    wait_until 5 grep -q 'breaker feed_a: closed -> open' \
    "$T/agent.log"
check "no line was refused as malformed by the agent" \
    bash -c "! grep -q 'logfeed: malformed' '$T/agent.log'"
check "operators still see the lines on HAProxy's stdout" \
    wait_until 5 grep -q '^LLMR4 .* main feed - - GET 503 .* feed_a pin_feed__feed_a pass ' "$T/haproxy.log"
check "the request line carries forward, group, server, backend and verdict" \
    grep -qE '^LLMR4 [0-9A-F:_]+ main feed - - GET 200 .* feed_b pin_feed__feed_b pass - "/v1/models" - - - - - -$' \
    "$T/haproxy.log"

# Open: every pick avoids a for the cooldown.
mock "$A_PORT" reset -X POST >/dev/null
mock "$B_PORT" reset -X POST >/dev/null
codes=$(for _ in 1 2 3 4 5 6; do one; done | sort -u | xargs)
check "while open, requests succeed on b only (statuses: $codes)" test "$codes" = 200
check "while open, a receives nothing ($(requests_to "$A_PORT"))" \
    test "$(requests_to "$A_PORT")" -eq 0
check "while open, b receives all 6 ($(requests_to "$B_PORT"))" \
    test "$(requests_to "$B_PORT")" -eq 6

# a heals; after the 2 s cooldown one probe goes to a, its success closes the breaker.
mock "$A_PORT" 'config?status=0' -X POST >/dev/null
sleep 2.2
a_back() {
    one >/dev/null
    [ "$(requests_to "$A_PORT")" -ge 1 ]
}
check "after the cooldown a gets a probe" wait_until 5 a_back
check "the probe's success closed the breaker" \
    wait_until 5 grep -q 'breaker feed_a: half_open -> closed' "$T/agent.log"
mock "$A_PORT" reset -X POST >/dev/null
for _ in 1 2 3 4; do one; done >/dev/null
check "closed again: a is back in the rotation ($(requests_to "$A_PORT") of 4)" \
    test "$(requests_to "$A_PORT")" -eq 2

# A refused connection is a connect failure of that attempt (SC--).
kill -TERM "$PID_mock_b"
wait "$PID_mock_b" 2>/dev/null
for _ in 1 2 3 4; do one; done >/dev/null
check "a refused connection is logged as SC--, with the 502 the client got" \
    wait_until 5 grep -qE '^LLMR4 \S+ main feed - - GET 502 [0-9]+ [0-9]+ -1 -1 [0-9]+ [0-9]+ SC-- 0 feed_b pin_feed__feed_b ' \
    "$T/haproxy.log"

# A quiet feed is nudged: a newline to HAProxy's ring forwarder, which drops it and
# forwards what its ring holds (2.6's can miss a wakeup and hold a line until the next).
# HAProxy keeps the connection, and lines go on arriving on it.
feed_metric() {
    curl -sf -m 5 "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
feed_ports() { ss -Htn state established "( dport = :$LOG_PORT )" | awk '{print $3}' | sort | xargs; }
nudged_since() { [ "$(feed_metric llmproxy_log_feed_nudges_total)" -ge $(($1 + 3)) ]; }
ports_before=$(feed_ports)
nudges_before=$(feed_metric llmproxy_log_feed_nudges_total)
check "a quiet feed is nudged (from $nudges_before, 4 a second)" wait_until 3 nudged_since "$nudges_before"
lines_before=$(feed_metric llmproxy_log_lines_received_total)
one >/dev/null
check "... and still delivers: the next line arrives" \
    wait_until 5 bash -c "[ \$(curl -sf 'http://127.0.0.1:$ADMIN_PORT/metrics' |
        awk '\$1 == \"llmproxy_log_lines_received_total\" {print \$2}') -gt $lines_before ]"
check "... on the connection HAProxy had ($ports_before)" test "$(feed_ports)" = "$ports_before"
check "... which was one" test "$(wc -w <<<"$ports_before")" = 1
check "no line was refused as malformed after the nudges" \
    bash -c "! grep -q 'logfeed: malformed' '$T/agent.log'"

# A garbage stream on the log port is dropped and counted; HAProxy's own stream carries on.
printf 'hello\n' | socat -t 1 - "TCP:127.0.0.1:$LOG_PORT" >/dev/null 2>&1
printf '99999999 x' | socat -t 1 - "TCP:127.0.0.1:$LOG_PORT" >/dev/null 2>&1
check "a bad record length drops that connection" \
    wait_until 5 grep -q 'dropped: bad record (length)' "$T/agent.log"
check "an oversize record drops that connection" \
    wait_until 5 grep -q 'dropped: bad record (oversize)' "$T/agent.log"
check "agent survives a broken log stream" kill -0 "$PID_agent"
n_before=$(grep -c 'breaker feed_a:' "$T/agent.log")
mock "$A_PORT" 'config?status=503' -X POST >/dev/null
for _ in $(seq 12); do one; done >/dev/null
check "HAProxy's feed still drives the breaker afterwards" \
    wait_until 5 bash -c "[ \$(grep -c 'breaker feed_a:' '$T/agent.log') -gt $n_before ]"

stop_pid "$PID_agent"
check "agent exited cleanly without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
