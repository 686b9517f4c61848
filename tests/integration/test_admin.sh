#!/usr/bin/env bash
# The agent's admin endpoint without HAProxy: /health, /metrics after a few SPOP picks
# sent by spop_bench, 404 and 405, oversized requests refused without harm, keep-alive,
# and a slowloris client cut off after admin.timeout.connect.
source "$(dirname "$0")/lib.sh"

BENCH=$BUILD/tools/spop_bench
read -r FWD_PORT SPOP_PORT LOG_PORT ADMIN_PORT < <(free_ports 4 | xargs)
ADMIN=http://127.0.0.1:$ADMIN_PORT

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: g}
  admin:
    address: 127.0.0.1
    port: $ADMIN_PORT
    timeout: {connect: 1}
upstreams:
  - {name: a, url: "http://127.0.0.1:1/v1", breaker: {threshold: 0.5, cooldown: 30}}
  - {name: b, url: "http://127.0.0.1:2"}
upstream_groups:
  - {name: g, upstreams: [{name: a}, {name: b}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
YAML

spawn agent "$AGENT" -c "$T/config.yaml"
wait_port "$ADMIN_PORT" || { fail "admin endpoint did not start"; finish; }

# status_of ARGS...: the HTTP status curl gets.
status_of() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@"; }

# raw_exchange BYTES [SECONDS]: send raw bytes (printf %b) on a fresh connection and print
# whatever comes back until the agent closes it or SECONDS pass.
raw_exchange() {
    (
        trap '' PIPE
        exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" || exit 0
        printf '%b' "$1" >&3 2>/dev/null
        timeout "${2:-5}" cat <&3 2>/dev/null
    )
}

# /health
body=$(curl -s -m 5 -D "$T/health.h" "$ADMIN/health")
check "GET /health is 200 OK (body: $body)" \
    bash -c "grep -q '^HTTP/1.1 200' '$T/health.h' && [ '$body' = OK ]"
check "/health is text/plain" grep -qi '^content-type: text/plain' "$T/health.h"

# A few decisions, then the page.
check "spop_bench got 10 valid picks" "$BENCH" -p "$SPOP_PORT" -n 10 -f main --kv
curl -s -m 5 -D "$T/metrics.h" -o "$T/metrics.txt" "$ADMIN/metrics"
check "GET /metrics is 200" grep -q '^HTTP/1.1 200' "$T/metrics.h"
check "/metrics has the 0.0.4 content type" \
    grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$T/metrics.h"
for t in 'llmproxy_upstream_requests_total counter' \
    'llmproxy_upstream_duration_seconds histogram' \
    'llmproxy_upstream_errors_total counter' \
    'llmproxy_http_requests_total counter' \
    'llmproxy_http_request_duration_seconds histogram' \
    'llmproxy_http_request_errors_total counter' \
    'llmproxy_ratelimit_total counter' \
    'llmproxy_circuitbreaker_state_changes_total counter' \
    'llmproxy_circuitbreaker_calls_total counter' \
    'llmproxy_circuitbreaker_opened_total counter' \
    'llmproxy_circuitbreaker_closed_total counter' \
    'llmproxy_circuitbreaker_half_opened_total counter' \
    'llmproxy_upstream_breaker_state gauge' \
    'llmproxy_agent_pick_decisions_total counter' \
    'llmproxy_agent_decision_duration_seconds histogram' \
    'llmproxy_log_lines_received_total counter'; do
    grep -qx "# TYPE $t" "$T/metrics.txt" || fail "/metrics lacks '# TYPE $t'"
done
check "/metrics has every expected # TYPE line" true
picks=$(awk '/^llmproxy_agent_pick_decisions_total\{/ {s += $2} END {print s + 0}' "$T/metrics.txt")
check "pick decisions on the page equal the picks sent (got $picks)" test "$picks" -eq 10
passed=$(awk '$1=="llmproxy_agent_pick_decisions_total{verdict=\"pass\"}" {print $2}' "$T/metrics.txt")
check "all 10 picks passed (got $passed)" test "$passed" = 10
timed=$(awk '$1=="llmproxy_agent_decision_duration_seconds_count" {print $2}' "$T/metrics.txt")
check "each decision was timed (count $timed)" test "$timed" = 10
check "breaker counters carry group, upstream and url" grep -qF \
    'llmproxy_circuitbreaker_opened_total{group="g",upstream="a",url="http://127.0.0.1:1/v1"} 0' \
    "$T/metrics.txt"
check "the page was written in full" \
    bash -c "tail -n 1 '$T/metrics.txt' | grep -q '^llmproxy_metrics_refused_samples_total 0$'"

# Anything else.
check "unknown path is 404" test "$(status_of "$ADMIN/nope")" = 404
check "/ is 404" test "$(status_of "$ADMIN/")" = 404
check "POST is 405" test "$(status_of -X POST -d x "$ADMIN/metrics")" = 405
check "DELETE is 405" test "$(status_of -X DELETE "$ADMIN/health")" = 405
check "405 says Allow: GET" bash -c "curl -s -m 5 -D - -o /dev/null -X PUT '$ADMIN/health' | grep -qi '^allow: GET'"
check "query string ignored for routing" test "$(status_of "$ADMIN/health?verbose=1")" = 200

# Oversized requests are refused, the agent lives on.
big=$(head -c 12000 /dev/zero | tr '\0' a)
check "12 KB header is 431" test "$(status_of -H "X-Big: $big" "$ADMIN/health")" = 431
resp=$(raw_exchange "GET /$big HTTP/1.1\r\n\r\n" | head -n 1 | tr -d '\r')
check "12 KB request line is refused ($resp)" bash -c "[[ '$resp' =~ ^HTTP/1.1\ 41[4] ]]"
resp=$(raw_exchange "\x00\x01\x02garbage\r\n\r\n" | head -n 1 | tr -d '\r')
check "binary garbage is 400 ($resp)" bash -c "[[ '$resp' =~ ^HTTP/1.1\ 400 ]]"
check "agent survives bad requests" kill -0 "$PID_agent"
check "and still answers /health" test "$(status_of "$ADMIN/health")" = 200

# Keep-alive: two requests on one connection.
curl -sv -m 5 "$ADMIN/health" "$ADMIN/health" >"$T/ka.out" 2>"$T/ka.err"
check "keep-alive: two answers on one connection" \
    bash -c "[ \"\$(cat '$T/ka.out' | tr -d '\n')\" = OKOK ] && grep -qiE 're-?using existing connection' '$T/ka.err'"
resp=$(raw_exchange "GET /health HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n" |
    grep -o '^HTTP/1.1 [0-9]*' | xargs)
check "pipelined requests answered in order ($resp)" test "$resp" = "HTTP/1.1 200 HTTP/1.1 404"

since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'; }

# Slowloris: a request head never finished is cut off after timeout.connect (1 s).
start=$(date +%s.%N)
resp=$(raw_exchange "GET /health HTTP/1.1\r\nX-Slow: " 6 | head -n 1 | tr -d '\r')
elapsed=$(since "$start")
check "slowloris answered 408 and closed after ~1 s (${elapsed}s: $resp)" \
    bash -c "[[ '$resp' =~ ^HTTP/1.1\ 408 ]] && awk 'BEGIN { exit !($elapsed < 3) }'"
# Trickling bytes does not extend the deadline.
start=$(date +%s.%N)
(
    trap '' PIPE
    exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT" || exit 0
    for c in G E T ' ' / h e a l; do printf '%s' "$c" >&3 2>/dev/null || break; sleep 0.3; done
    timeout 5 cat <&3 >/dev/null 2>&1
)
elapsed=$(since "$start")
check "a trickling client is cut off too (${elapsed}s)" awk "BEGIN { exit !($elapsed < 3.5) }"
check "a silent connection is closed" bash -c "[[ \"\$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$ADMIN_PORT; cat <&3' | head -n 1)\" =~ ^HTTP/1.1\ 408 ]]"

check "agent still serves after the slow clients" test "$(status_of "$ADMIN/health")" = 200

stop_pid "$PID_agent"
check "agent exited cleanly on SIGTERM without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
