#!/usr/bin/env bash
# Every kind of upstream failure trips the breaker through the rendered data path (HAProxy,
# the agent and its log feed, mocks): an upstream whose port refuses connections, one that
# never answers (timeout.request 1 s) and one answering 500. Each sits in a round-robin
# group [bad, good] with retries off, so bad takes every other request until its fifth
# failed attempt in the window (threshold 0.5 over >= 5 attempts) opens its breaker; from
# then on good takes everything and the client no longer sees the failure. Without retries
# the agent's choices go through pinned backends: one log line per request is also its
# attempt. A group whose
# upstreams are all open answers 503 JSON with Retry-After itself, without connecting.
source "$(dirname "$0")/lib.sh"

read -r GOOD HANG ERR REFUSED F_REF F_HANG F_ERR F_DEAD SPOP LOGS ADMIN < <(free_ports 11 | xargs)
COOLDOWN=300

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: f_ref, address: 127.0.0.1, port: $F_REF, upstream_group: g_ref}
    - {name: f_hang, address: 127.0.0.1, port: $F_HANG, upstream_group: g_hang}
    - {name: f_err, address: 127.0.0.1, port: $F_ERR, upstream_group: g_err}
    - {name: f_dead, address: 127.0.0.1, port: $F_DEAD, upstream_group: g_dead}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: good, url: "http://127.0.0.1:$GOOD/v1"}
  - name: bad_ref
    url: "http://127.0.0.1:$REFUSED/v1"
    breaker: {threshold: 0.5, cooldown: $COOLDOWN}
  - name: bad_hang
    url: "http://127.0.0.1:$HANG/v1"
    breaker: {threshold: 0.5, cooldown: $COOLDOWN}
  - name: bad_err
    url: "http://127.0.0.1:$ERR/v1"
    breaker: {threshold: 0.5, cooldown: $COOLDOWN}
upstream_groups:
  - {name: g_ref, upstreams: [{name: bad_ref}, {name: good}]}
  - name: g_hang
    upstreams: [{name: bad_hang}, {name: good}]
    http_client: {timeout: {request: 1}}
  - {name: g_err, upstreams: [{name: bad_err}, {name: good}]}
  - {name: g_dead, upstreams: [{name: bad_ref}, {name: bad_hang}, {name: bad_err}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

start_mock good "$GOOD" || finish
start_mock hang "$HANG" --fail-mode hang || finish
start_mock err "$ERR" --status 500 || finish
start_stack "$T/config.yaml" || finish
check "nothing listens on bad_ref's port" bash -c "! ss -Htln 'sport = :$REFUSED' | grep -q ."

scrape() { curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"; }
# metric 'NAME{LABELS}': the value of exactly that series, or "absent".
metric() {
    scrape
    awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$T/metrics"
}
state_of() { metric "llmproxy_upstream_breaker_state{upstream=\"$1\"}"; }
is_open() { [ "$(state_of "$1")" = 1 ]; }

# The feed is asynchronous: before each next pick, wait until the agent has received the
# log line of every request so far, so the breaker has judged every attempt and counts
# stay exact.
LINES=0
lines_reach() { [ "$(metric llmproxy_log_lines_received_total)" -ge "$LINES" ]; }
# call PORT: one chat completion, in this shell (not $(...)) so that LINES counts; its
# status in CODE, its headers and body in $T/h and $T/body.
call() {
    CODE=$(curl -s -m 10 -D "$T/h" -o "$T/body" -w '%{http_code}' \
        -d '{"model":"m","messages":[]}' "http://127.0.0.1:$1/v1/chat/completions")
    LINES=$((LINES + 1))
    wait_until 5 lines_reach || CODE="$CODE(feed-stalled)"
}

# trip CASE FORWARD_PORT BAD BAD_COUNT_CMD FAIL_STATUS: drive requests on the forward until
# BAD's breaker opens (at most 20), then check what the client and both upstreams saw.
trip() {
    local what=$1 port=$2 bad=$3 count_bad=$4 fail=$5 codes="" n
    mock_reset "$GOOD"
    for n in $(seq 20); do
        call "$port"
        codes="$codes $CODE"
        is_open "$bad" && break
    done
    codes=$(echo "$codes" | xargs -n1 | sort | uniq -c | awk '{print $2"x"$1}' | xargs)
    check "$what: $bad's breaker opened on its 5th failed attempt, after $n requests" \
        test "$n" -ge 9 -a "$n" -le 10
    check "$what: the agent logged the transition" \
        grep -q "breaker $bad: closed -> open" "$T/agent.log"
    check "$what: $bad was tried exactly 5 times ($($count_bad))" test "$($count_bad)" = 5
    check "$what: the client saw $fail for those 5 attempts only, 200 for good's ($codes)" \
        test "$codes" = "200x$((n - 5)) ${fail}x5"
    check "$what: good served the others ($(mock_count "$GOOD"))" \
        test "$(mock_count "$GOOD")" = $((n - 5))

    # Open: the next requests all go to good and succeed.
    local before
    before=$($count_bad)
    mock_reset "$GOOD"
    codes=""
    for _ in $(seq 6); do
        call "$port"
        codes="$codes $CODE"
    done
    codes=$(echo "$codes" | xargs -n1 | sort -u | xargs)
    check "$what: while open every request succeeds ($codes)" test "$codes" = 200
    check "$what: ... on good ($(mock_count "$GOOD") of 6)" test "$(mock_count "$GOOD")" = 6
    check "$what: ... and $bad gets none ($before -> $($count_bad))" \
        test "$($count_bad)" = "$before"
}

# Attempts on each upstream, from HAProxy's request lines through its pinned backend
# (bad_ref has no mock to count them).
attempts_on() { grep -c "^LLMR4 .* $1 pin_[a-z_]*__$1 " "$T/haproxy.log"; }
ref_attempts() { attempts_on bad_ref; }
hang_attempts() { mock_count "$HANG"; }
err_attempts() { mock_count "$ERR"; }

# (a) Connection refused: HAProxy answers 502 upstream_unreachable; each attempt is SC--.
trip "refused" "$F_REF" bad_ref ref_attempts 502
check "refused: the attempts were logged as connect failures (SC--)" \
    test "$(grep -cE '^LLMR4 .* f_ref g_ref - - POST 502 .* SC-- 0 bad_ref pin_g_ref__bad_ref ' "$T/haproxy.log")" = 5
check "refused: counted as connect errors" \
    test "$(metric 'llmproxy_upstream_errors_total{error="connect",group="g_ref",upstream="bad_ref"}')" = 5

# (b) No answer: HAProxy gives up after timeout.request (1 s) with 504 upstream_timeout.
trip "timeout" "$F_HANG" bad_hang hang_attempts 504
check "timeout: the hanging upstream did receive each request (fault hang)" \
    test "$(mock_records "$HANG" '[.[] | select(.fault == "hang")] | length')" = 5
check "timeout: counted as timeout errors" \
    test "$(metric 'llmproxy_upstream_errors_total{error="timeout",group="g_hang",upstream="bad_hang"}')" = 5

# (c) 500 from the upstream: relayed unchanged to the client until the breaker opens.
trip "5xx" "$F_ERR" bad_err err_attempts 500
check "5xx: counted as status_5xx errors" \
    test "$(metric 'llmproxy_upstream_errors_total{error="status_5xx",group="g_err",upstream="bad_err"}')" = 5

# Every upstream of g_dead is open (a breaker belongs to its upstream, whatever the group):
# the agent refuses the request before any connection is attempted.
n_attempts=$(grep -c '^LLMR4 .* pin_' "$T/haproxy.log")
n_hang=$(hang_attempts)
n_err=$(err_attempts)
call "$F_DEAD"
check "all open: 503 ($CODE)" test "$CODE" = 503
check "... as JSON no_upstream_available ($(jq -r .error.code "$T/body" 2>/dev/null))" \
    test "$(jq -r .error.code "$T/body" 2>/dev/null)" = no_upstream_available
check "... with Content-Type application/json" grep -qi '^content-type: application/json' "$T/h"
ra=$(awk 'tolower($1) == "retry-after:" { gsub(/\r/, "", $2); print $2 }' "$T/h")
check "... and Retry-After within the cooldown (${ra:-none})" \
    bash -c "[[ '$ra' =~ ^[0-9]+$ ]] && [ '$ra' -ge 1 ] && [ '$ra' -le $COOLDOWN ]"
check "... with no attempt on any upstream (HAProxy logged none)" \
    test "$(grep -c '^LLMR4 .* pin_' "$T/haproxy.log")" = "$n_attempts"
check "... and no request reached the mocks (hang $n_hang, err $n_err)" \
    test "$(hang_attempts)" = "$n_hang" -a "$(err_attempts)" = "$n_err"
check "... counted as an unavailable pick" \
    test "$(metric 'llmproxy_agent_pick_decisions_total{verdict="unavailable"}')" = 1
check "the breakers stay open (cooldown $COOLDOWN s)" \
    bash -c "! grep -q 'open -> half_open' '$T/agent.log'"

stop_pid "$PID_agent"
check "agent exited cleanly without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
