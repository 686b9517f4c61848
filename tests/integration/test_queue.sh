#!/usr/bin/env bash
# max_in_flight: HAProxy holds a member's excess requests in its queue and serves them in
# turn; one that waits longer than http_client.timeout.queue gets 503 upstream_saturated
# with Retry-After, which is not the upstream's failure (its breaker stays closed) and is
# not an unreachable upstream (that keeps its 502 upstream_unreachable). The wait and the
# timeouts are on /metrics per member.
source "$(dirname "$0")/lib.sh"

read -r SLOW SLOWER REFUSED F_Q F_QT F_DEAD SPOP LOGS ADMIN < <(free_ports 9 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: q, address: 127.0.0.1, port: $F_Q, upstream_group: q}
    - {name: qt, address: 127.0.0.1, port: $F_QT, upstream_group: qt}
    - {name: dead, address: 127.0.0.1, port: $F_DEAD, upstream_group: dead}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: slow, url: "http://127.0.0.1:$SLOW/v1"}
  - {name: slower, url: "http://127.0.0.1:$SLOWER/v1", breaker: {threshold: 0.5}}
  - {name: refused, url: "http://127.0.0.1:$REFUSED/v1", breaker: {threshold: 0.5}}
upstream_groups:
  - {name: q, upstreams: [{name: slow, max_in_flight: 2}]}
  - name: qt
    upstreams: [{name: slower, max_in_flight: 1}]
    http_client: {timeout: {queue: 1}}
  - name: dead
    upstreams: [{name: refused, max_in_flight: 1}]
    http_client: {timeout: {connect: 1}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock slow "$SLOW" --delay-ms 500 || finish
start_mock slower "$SLOWER" --delay-ms 4000 || finish
start_stack "$T/config.yaml" || finish

check "the member's server line has maxconn, its group backend a queue timeout" \
    bash -c "grep -q 'server slower .* maxconn 1\$' '$T/out/haproxy.cfg' &&
             grep -q 'timeout queue 1s' '$T/out/haproxy.cfg'"
check "a group with a queue has no pinned backend (the queue's 503 is the group layer's)" \
    bash -c "! grep -q '^backend pin_q__' '$T/out/haproxy.cfg'"

# post PORT NAME: one chat completion in the background; status, seconds and the body's
# code go to $T/NAME.out, the headers to $T/NAME.hdr.
post() {
    curl -s -m 20 -o "$T/$2.body" -D "$T/$2.hdr" -w '%{http_code} %{time_total}\n' \
        "http://127.0.0.1:$1/v1/chat/completions" -d '{"model":"m"}' >"$T/$2.out"
    jq -r '.error.code // "none"' "$T/$2.body" 2>/dev/null >>"$T/$2.out"
}

# ---- 6 requests on a member that takes 2: 2 run, 4 wait their turn, all served ----------
pids=()
for i in 1 2 3 4 5 6; do
    post "$F_Q" "q$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
served=$(cat "$T"/q?.out | awk 'NR % 2 == 1 && $1 == 200' | wc -l)
slowest=$(cat "$T"/q?.out | awk 'NR % 2 == 1 {print $2}' | sort -n | tail -n 1)
check "all 6 served with 200 ($served)" test "$served" = 6
check "... in three turns of 500 ms: the last after >= 1.4 s ($slowest s)" \
    awk -v t="$slowest" 'BEGIN { exit !(t >= 1.4 && t < 5) }'
# The mock's records: never more than 2 at once (arrivals 3 and later after the first end).
arrivals=$(mock_records "$SLOW" '[.[].arrival_ms] | sort | . as $a | map(. - $a[0] | tostring) | join(" ")')
log "arrivals at the upstream (ms after the first): $arrivals"
check "... the upstream saw at most 2 at once (3rd arrival >= 450 ms after the 1st)" \
    awk -v a="$arrivals" 'BEGIN { n = split(a, x, " "); exit !(n == 6 && x[3] >= 450) }'
# is SERIES VALUE: the series has that value on /metrics now.
is() { [ "$(metric "$1")" = "$2" ]; }
check "4 requests waited in the queue (queue_wait count)" \
    wait_until 5 is 'llmproxy_upstream_queue_wait_seconds_count{group="q",upstream="slow"}' 4
wait_sum=$(metric 'llmproxy_upstream_queue_wait_seconds_sum{group="q",upstream="slow"}')
check "... for about 0.5 + 0.5 + 1 + 1 s in all ($wait_sum s)" \
    awk -v s="$wait_sum" 'BEGIN { exit !(s >= 2.5 && s < 4.5) }'
check "... none timed out" \
    test "$(metric 'llmproxy_upstream_queue_timeouts_total{group="q",upstream="slow"}')" = absent
queued=$(metric 'llmproxy_upstream_queued{upstream="slow"}')
check "the queued gauge is there for the member ($queued)" test "$queued" != absent

# ---- timeout.queue 1 on a member that takes 1 and answers in 4 s: the excess gets 503 ----
pids=()
post "$F_QT" qt0 &
pids+=($!)
sleep 0.3
for i in 1 2 3; do
    post "$F_QT" "qt$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
check "the first is served (200)" test "$(head -n 1 "$T/qt0.out" | cut -d' ' -f1)" = 200
for i in 1 2 3; do
    read -r st took <"$T/qt$i.out"
    code=$(sed -n 2p "$T/qt$i.out")
    ra=$(tr -d '\r' <"$T/qt$i.hdr" | awk -F': ' 'tolower($1) == "retry-after" {print $2}')
    check "queued request $i: 503 ($st) upstream_saturated ($code), Retry-After 1 ($ra)" \
        test "$st/$code/$ra" = "503/upstream_saturated/1"
    check "... after about the queue timeout ($took s)" \
        awk -v t="$took" 'BEGIN { exit !(t >= 0.9 && t < 2.0) }'
done
check "3 queue timeouts counted for the member" \
    wait_until 5 is 'llmproxy_upstream_queue_timeouts_total{group="qt",upstream="slower"}' 3
check "... as request errors upstream_saturated, 503" \
    test "$(metric 'llmproxy_http_request_errors_total{forward="qt",error="upstream_saturated",status="503"}')" = 3
check "... not as the upstream's errors ($(metric 'llmproxy_upstream_errors_total{error="queue_timeout",group="qt",upstream="slower"}'))" \
    bash -c "! grep '^llmproxy_upstream_errors_total{' '$T/metrics' | grep -q 'upstream=\"slower\"'"
check "... its breaker stays closed" \
    test "$(metric 'llmproxy_upstream_breaker_state{upstream="slower"}')" = 0

# ---- a member with max_in_flight that cannot be reached keeps its own answer ----------
post "$F_DEAD" dead
read -r st _ <"$T/dead.out"
check "a refused connection: 502 ($st) upstream_unreachable ($(sed -n 2p "$T/dead.out"))" \
    test "$st/$(sed -n 2p "$T/dead.out")" = "502/upstream_unreachable"
wait_until 10 is \
    'llmproxy_http_request_errors_total{forward="dead",error="upstream_unreachable",status="502"}' 1
check "... counted as upstream_unreachable ($(grep '^llmproxy_http_request_errors_total{forward="dead"' "$T/metrics" | xargs))" \
    is 'llmproxy_http_request_errors_total{forward="dead",error="upstream_unreachable",status="502"}' 1
for i in 2 3 4 5 6; do post "$F_DEAD" dead; done
check "... and by the breaker, which opens" \
    wait_until 5 is 'llmproxy_upstream_breaker_state{upstream="refused"}' 1
finish
