#!/usr/bin/env bash
# An upstream's own throttling through the rendered data path (HAProxy, the agent and its
# log feed, mocks answering 429 with Retry-After or x-ratelimit-* headers):
#   - a member answering 429 with Retry-After: 2 gets no traffic for ~2 s, then again, and
#     its breaker stays closed even when it answers nothing but 429s;
#   - every member cooling down: the client gets 429 upstreams_throttled with the soonest
#     Retry-After, never 503;
#   - remaining requests (or tokens) 0 with a reset of 2s steers traffic away before any 429;
#   - with retries, a 429 moves the request to the other member at once: HAProxy retries
#     on 429 from 3.1, and before that the listener relays it as a 503 it retries;
#   - hostile Retry-After values (huge, garbage, negative, NaN, dates past and far, spaces
#     and quotes, a line break folding a forged log line into the value, 10 KB) park a member for no more than its cap, break no log line and
#     open no breaker;
#   - a client sending Retry-After or x-ratelimit-* request headers changes nothing.
source "$(dirname "$0")/lib.sh"

read -r A B C D E F H K F1 F2 F3 F4 SPOP LOGS ADMIN < <(free_ports 15 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: f1, address: 127.0.0.1, port: $F1, upstream_group: g1}
    - {name: f2, address: 127.0.0.1, port: $F2, upstream_group: g2}
    - {name: f3, address: 127.0.0.1, port: $F3, upstream_group: g3}
    - {name: f4, address: 127.0.0.1, port: $F4, upstream_group: g4}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1", breaker: {threshold: 0.5, cooldown: 300}}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
  - {name: c, url: "http://127.0.0.1:$C/v1"}
  - {name: d, url: "http://127.0.0.1:$D/v1"}
  # Declared rate-limiting: their requests take the group layer, where the first 429 is
  # judged and retried like any other (test_retry_pinned.sh has the undeclared kind).
  - {name: e, url: "http://127.0.0.1:$E/v1", throttle: {retry_after_default: 5}}
  - {name: f, url: "http://127.0.0.1:$F/v1", throttle: {retry_after_default: 5}}
  - name: h
    url: "http://127.0.0.1:$H/v1"
    breaker: {threshold: 0.5, cooldown: 300}
    throttle: {retry_after_default: 1, retry_after_max: 3}
  - {name: k, url: "http://127.0.0.1:$K/v1"}
upstream_groups:
  - {name: g1, upstreams: [{name: a}, {name: b}]}
  - {name: g2, upstreams: [{name: c}, {name: d}]}
  - name: g3
    upstreams: [{name: e}, {name: f}]
    http_client: {retry: {enabled: true, attempts: 1, initial: 1500}}
  - {name: g4, upstreams: [{name: h}, {name: k}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

for m in a:$A b:$B c:$C d:$D e:$E f:$F h:$H k:$K; do start_mock "${m%%:*}" "${m#*:}" || finish; done
start_stack "$T/config.yaml" || finish

# call PORT [CURL ARGS...]: one chat completion; its status in CODE, its time in SECS, its
# headers and body in $T/h and $T/body. Then waits until the agent has the request's log
# lines (LINES_PER of them: 1 for a pinned group, 2 with a listener), so the next pick
# knows what this one taught.
# How many lines a request yields depends on the path it took (a retry adds one, a member
# skipped while cooling down takes one away), so each section starts from the agent's own
# count once it holds still, rather than from a running estimate that may have drifted ahead
# (and would then make every later call wait out its 5 s).
lines_reach() { [ "$(metric llmproxy_log_lines_received_total)" -ge "$LINES" ]; }
lines_per() {
    local before
    LINES_PER=$1
    LINES=$(metric llmproxy_log_lines_received_total)
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        sleep 0.2
        before=$LINES
        LINES=$(metric llmproxy_log_lines_received_total)
        [ "$LINES" = "$before" ] && break
    done
}
lines_per 1
call() {
    local port=$1 out
    shift
    out=$(curl -s -m 10 -D "$T/h" -o "$T/body" -w '%{http_code} %{time_total}' "$@" \
        -d '{"model":"m","messages":[]}' "http://127.0.0.1:$port/v1/chat/completions")
    read -r CODE SECS <<<"$out"
    LINES=$((LINES + LINES_PER))
    wait_until 5 lines_reach || CODE="$CODE(feed-stalled)"
}
throttled() { metric "llmproxy_upstream_throttled_total{upstream=\"$1\"}"; }
cooldown() { metric "llmproxy_upstream_throttle_cooldown_seconds{upstream=\"$1\"}"; }
breaker() { metric "llmproxy_upstream_breaker_state{upstream=\"$1\"}"; }
# until_count PORT MOCK_PORT N: calls until the mock has N requests (at most 8 calls).
until_count() {
    local i
    for i in 1 2 3 4 5 6 7 8; do
        [ "$(mock_count "$2")" -ge "$3" ] && return 0
        call "$1"
    done
    [ "$(mock_count "$2")" -ge "$3" ]
}
# spread PORT N: N calls; the statuses, space-separated, in CODES.
spread() {
    local i
    CODES=""
    for ((i = 0; i < $2; i++)); do
        call "$1"
        CODES="$CODES $CODE"
    done
}

# ---- a 429 with Retry-After: 2 parks the member for ~2 s ------------------------------
mock_config "$A" "status=429&headers=Retry-After:%202"
check "a gets a request and answers 429" until_count "$F1" "$A" 1
check "the agent counted a's 429 (got $(throttled a))" wait_output 5 = 1 throttled a
T0=$(date +%s.%N)
na=$(mock_count "$A")
spread "$F1" 6
check "while a cools down, b takes everything (codes:$CODES)" test "$CODES" = " 200 200 200 200 200 200"
check "a got no request while cooling ($(mock_count "$A") after $na)" test "$(mock_count "$A")" -eq "$na"
cd_a=$(cooldown a)
check "a's cooldown gauge is within 2 s (got $cd_a)" awk -v v="$cd_a" 'BEGIN { exit !(v > 0 && v <= 2) }'
mock_config "$A" "status=0&headers="
sleep "$(awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN { s = t0 + 2.3 - now; print (s > 0 ? s : 0) }')"
spread "$F1" 4
check "after ~2 s a takes traffic again ($(mock_count "$A") requests)" test "$(mock_count "$A")" -gt "$na"
check "a's cooldown gauge is back to 0 (got $(cooldown a))" test "$(cooldown a)" = 0

# Nothing but 429s, with Retry-After: 0: a keeps getting traffic, and its breaker (threshold
# 0.5 over 5 attempts) would open if a 429 were a failure.
mock_config "$A" "status=429&headers=Retry-After:%200"
spread "$F1" 14
check "a answered 429s only, at least 6 of them (got $(throttled a) in all)" test "$(throttled a)" -ge 7
check "a's breaker stays closed (state $(breaker a))" test "$(breaker a)" = 0
check "no failure was booked against a ($(metric 'llmproxy_circuitbreaker_calls_total{group="g1",upstream="a",url="http://127.0.0.1:'"$A"'/v1",result="failure"}'))" \
    test "$(metric 'llmproxy_circuitbreaker_calls_total{group="g1",upstream="a",url="http://127.0.0.1:'"$A"'/v1",result="failure"}')" = 0

# ---- every member throttled: 429 with the soonest Retry-After, never 503 ----------------
mock_config "$A" "status=429&headers=Retry-After:%203"
mock_config "$B" "status=429&headers=Retry-After:%2030"
nb=$(mock_count "$B")
ta=$(throttled a)
until_count "$F1" "$B" $((nb + 1))
for i in 1 2 3; do [ "$(throttled a)" -gt "$ta" ] && break; call "$F1"; done
check "both members answered 429 (a $(throttled a), b $(throttled b))" \
    test "$(throttled a)" -gt "$ta" -a "$(throttled b)" -ge 1
call "$F1"
ra=$(tr -d '\r' <"$T/h" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')
check "all throttled: the client gets 429, not 503 (got $CODE)" test "$CODE" = 429
check "Retry-After is the soonest cooldown, 1 to 3 s (got '$ra')" test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 3
check "the body is OpenAI's error shape, code upstreams_throttled" \
    jq -e '.error.code == "upstreams_throttled" and .error.type == "rate_limit_error" and
        (.error.message | type == "string")' "$T/body"
check "the refusal is counted for f1/g1" \
    test "$(metric 'llmproxy_forward_upstreams_throttled_total{forward="f1",group="g1"}')" -ge 1
check "the pick verdict is counted" \
    test "$(metric 'llmproxy_agent_pick_decisions_total{verdict="throttled"}')" -ge 1
mock_config "$A" "status=0&headers="
mock_config "$B" "status=0&headers="

# ---- remaining requests 0, reset 2s: traffic leaves c before any 429 --------------------
mock_config "$C" "headers=x-ratelimit-remaining-requests:%200%0Ax-ratelimit-reset-requests:%202s"
mock_config "$D" "headers=x-ratelimit-remaining-requests:%2050%0Ax-ratelimit-remaining-tokens:%2040000"
check "c gets a request" until_count "$F2" "$C" 1
check "c's remaining requests gauge says 0" \
    wait_output 5 = 0 metric 'llmproxy_upstream_ratelimit_remaining_requests{upstream="c"}'
T0=$(date +%s.%N)
nc=$(mock_count "$C")
spread "$F2" 6
check "while c's budget is spent, d takes everything (codes:$CODES)" test "$CODES" = " 200 200 200 200 200 200"
check "c got no request before its reset ($(mock_count "$C") after $nc)" test "$(mock_count "$C")" -eq "$nc"
check "d's remaining gauges say 50 requests, 40000 tokens" test \
    "$(metric 'llmproxy_upstream_ratelimit_remaining_requests{upstream="d"}') $(metric 'llmproxy_upstream_ratelimit_remaining_tokens{upstream="d"}')" = "50 40000"
check "c sent no token budget: no gauge for it" \
    test "$(metric 'llmproxy_upstream_ratelimit_remaining_tokens{upstream="c"}')" = absent
check "nobody answered 429 (c $(throttled c), d $(throttled d))" test "$(throttled c)$(throttled d)" = 00
mock_config "$C" "headers=x-ratelimit-remaining-requests:%20100"
sleep "$(awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN { s = t0 + 2.3 - now; print (s > 0 ? s : 0) }')"
spread "$F2" 4
check "after the reset c takes traffic again ($(mock_count "$C") requests)" test "$(mock_count "$C")" -gt "$nc"

# ---- the same with tokens: d's remaining tokens 0, reset 2s: traffic leaves d ---------
mock_config "$D" "headers=x-ratelimit-remaining-tokens:%200%0Ax-ratelimit-reset-tokens:%202s"
nd=$(mock_count "$D")
check "d gets a request" until_count "$F2" "$D" $((nd + 1))
check "d's remaining tokens gauge says 0" \
    wait_output 5 = 0 metric 'llmproxy_upstream_ratelimit_remaining_tokens{upstream="d"}'
nd=$(mock_count "$D")
spread "$F2" 4
check "while d's tokens are spent, c takes everything (codes:$CODES)" test "$CODES" = " 200 200 200 200"
check "d got no request before its token reset ($(mock_count "$D") after $nd)" test "$(mock_count "$D")" -eq "$nd"
mock_config "$C" "headers="
mock_config "$D" "headers="

# ---- retries: both members answer 429 (Retry-After 0: no cooldown to skip them for) ----
# The request tries both, and the client gets the last one's own 429 and body.
lines_per 3
for m in "$E" "$F"; do mock_config "$m" "status=429&headers=Retry-After:%200"; done
call "$F3"
check "both members 429: the client gets the upstream's 429 ($CODE), its body, no marker" \
    bash -c "[ '$CODE' = 429 ] && grep -q 'injected status 429' '$T/body' &&
             ! grep -qi 'x-llmproxy-relayed' '$T/h'"
check "... after trying both (e $(mock_count "$E"), f $(mock_count "$F"))" \
    test "$(mock_count "$E")" -ge 1 -a "$(mock_count "$F")" -ge 1

# ---- 20 requests, e answering 429 with no cooldown: those that meet e first move to f,
# and none waits the backoff, whether the agent has e's log line before the retry's
# attempt message or only after it (then it releases the held answer).
mock_config "$F" "status=0&headers="
lines_per 2
codes="" slowest=0
for i in $(seq 20); do
    call "$F3"
    codes="$codes $CODE"
    slowest=$(awk -v a="$slowest" -v b="$SECS" 'BEGIN { print (b > a ? b : a) }')
done
check "20 requests through e's 429s: every one 200 ($(xargs -n1 <<<"$codes" | sort | uniq -c | xargs))" \
    test "$codes" = "$(printf ' 200%.0s' $(seq 20))"
check "... none waited the 1.5 s backoff (slowest $slowest s, $(metric llmproxy_spop_held_answers_released_total) released early)" \
    awk -v t="$slowest" 'BEGIN { exit !(t < 1.0) }'
te=$(throttled e)

# ---- retries: a 429 moves to the other member without the 1.5 s backoff ----------------
mock_config "$E" "status=429&headers=Retry-After:%205"
ne=$(mock_count "$E")
codes="" slow=""
lines_per 2
for i in 1 2; do
    call "$F3"
    codes="$codes $CODE"
    slow="$slow $SECS"
done
check "e answered one more 429 ($te -> $(throttled e))" wait_output 5 = $((te + 1)) throttled e
if haproxy_at_least 3 1; then
    check "retry-on 429 is rendered" grep -q 'retry-on .* 429' "$T/out/haproxy.cfg"
else
    check "before 3.1 the listener relays a 429 as a retryable 503" \
        bash -c "! grep -q 'retry-on .* 429' '$T/out/haproxy.cfg' &&
                 grep -q 'http-response set-status 503 if { status 429 }' '$T/out/haproxy.cfg'"
fi
check "the 429 was retried on f: every client got 200 (codes:$codes)" test "$codes" = " 200 200"
check "with no backoff: each request took well under 1.5 s (s:$slow)" \
    awk -v s="$slow" 'BEGIN { n = split(s, t, " "); for (i = 1; i <= n; i++) if (t[i] >= 1.0) exit 1 }'
check "no relay marker reached a client" bash -c "! grep -qi 'x-llmproxy-relayed' '$T/h'"
nf=$(mock_count "$F")
spread "$F3" 3
check "while e cools down, f takes everything (codes:$CODES)" test "$CODES" = " 200 200 200"
check "e's breaker stays closed" test "$(breaker e)" = 0
mock_config "$E" "status=0&headers="
lines_per 1

# ---- hostile Retry-After values: capped at 3 s, default 1 s, nothing breaks -------------
big=$(head -c 10240 /dev/zero | tr '\0' 9)
i=0
# VALUE (url-encoded) and the longest cooldown it may give.
for spec in "99999999 3" "NaN 1" "-5 1" "1e9 1" "%20%20 1" \
    "Wed,%2021%20Oct%202015%2007:28:00%20GMT 1" "Fri,%2031%20Dec%209999%2023:59:59%20GMT 3" \
    "1%20%22x%22%20'y'%20%5C%20%3Cz%3E 1" "$big 3" "-1.5e308 1" \
    "1%0A%20%22LLMA1%20-%20g4%20k%20500%200%200%200%200%200%20----%22 1"; do
    read -r value most <<<"$spec"
    i=$((i + 1))
    mock_config "$H" "status=429&headers=Retry-After:%20$value" || fail "mock refused value $i"
    before=$(throttled h)
    wait_output 5 = 0 cooldown h
    for j in 1 2 3 4; do [ "$(throttled h)" -gt "$before" ] && break; call "$F4"; done
    cd_h=$(cooldown h)
    check "hostile Retry-After #$i (${value:0:40}): counted, cooldown $cd_h s <= $most s" \
        awk -v v="$cd_h" -v m="$most" -v n="$(throttled h)" -v b="$before" \
        'BEGIN { exit !(n > b && v <= m) }'
done
check "no log line was malformed" test "$(metric llmproxy_log_lines_malformed_total)" = 0
check "h's breaker stays closed" test "$(breaker h)" = 0
check "the agent is still up" kill -0 "$PID_agent"
check "HAProxy's log lines stay one per line: no header text leaked into any" \
    bash -c "! grep -E '^LLM' '$T/haproxy.log' | grep -qE '\"x\"|GMT|NaN|99999999|g4 k 500'"
mock_config "$H" "status=0&headers="
wait_output 5 = 0 cooldown h

# ---- a client's headers cause no cooldown ----------------------------------------------
th=$(throttled h)
nh=$(mock_count "$H")
for i in 1 2 3 4 5 6; do
    call "$F4" -H 'Retry-After: 99999' -H 'retry-after-ms: 99999999' \
        -H 'x-ratelimit-remaining-requests: 0' -H 'x-ratelimit-reset-requests: 6m0s'
done
check "client headers: no 429 counted for h ($(throttled h))" test "$(throttled h)" = "$th"
check "client headers: no cooldown ($(cooldown h))" test "$(cooldown h)" = 0
check "client headers: no budget gauge for h" \
    test "$(metric 'llmproxy_upstream_ratelimit_remaining_requests{upstream="h"}')" = absent
check "client headers: h still takes its share ($(($(mock_count "$H") - nh)) of 6)" \
    test "$(($(mock_count "$H") - nh))" -ge 2

finish
