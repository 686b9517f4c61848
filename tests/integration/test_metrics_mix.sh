#!/usr/bin/env bash
# /metrics after a scripted mix of traffic through the rendered data path matches the
# expected numbers exactly: successes, 429s, a tripped breaker and the 503 it causes,
# retries, and an SSE stream counted for its whole duration.
source "$(dirname "$0")/lib.sh"

read -r GOOD BAD FAIL F_RL F_GB F_SSE F_R SPOP LOGS ADMIN < <(free_ports 10 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: f_rl, address: 127.0.0.1, port: $F_RL, upstream_group: only_good,
       ratelimit: {enabled: true, per_second: 1, burst: 2}}
    - {name: f_gb, address: 127.0.0.1, port: $F_GB, upstream_group: only_bad}
    - {name: f_sse, address: 127.0.0.1, port: $F_SSE, upstream_group: only_good}
    - {name: f_r, address: 127.0.0.1, port: $F_R, upstream_group: retried}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: good, url: "http://127.0.0.1:$GOOD/v1"}
  - {name: bad, url: "http://127.0.0.1:$BAD/v1", breaker: {threshold: 0.5, cooldown: 300}}
  - {name: failing, url: "http://127.0.0.1:$FAIL/v1"}
upstream_groups:
  - {name: only_good, upstreams: [{name: good}]}
  - {name: only_bad, upstreams: [{name: bad}]}
  - name: retried
    upstreams: [{name: failing}]
    http_client: {retry: {enabled: true, attempts: 1, initial: 10}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock good "$GOOD" --sse-events 4 --sse-gap-ms 100 || finish
start_mock bad "$BAD" --status 503 || finish
start_mock failing "$FAIL" --status 502 || finish
start_stack "$T/config.yaml" || finish

scrape() { curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"; }
# metric 'NAME{LABELS}': the value of exactly that series, or "absent".
metric() {
    scrape
    awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$T/metrics"
}
expect() { # expect SERIES VALUE
    local got
    got=$(metric "$1")
    check "$1 = $2 (got $got)" test "$got" = "$2"
}
post() { # PORT [BODY]
    curl -s -m 10 -o /dev/null -w '%{http_code}\n' -d "${2:-{\"model\":\"m\",\"messages\":[]\}}" \
        "http://127.0.0.1:$1/v1/chat/completions"
}
log_lines() { awk '$1 == "llmproxy_log_lines_received_total" {print $2}' "$T/metrics"; }
lines_reach() { scrape; [ "$(log_lines)" -ge "$1" ]; }

# 1. Three requests from one client on a forward limited to a burst of 2.
codes=$(for _ in 1 2 3; do post "$F_RL"; done | xargs)
check "rate limit: 200 200 429 (got $codes)" test "$codes" = "200 200 429"
# 2. Five 503s from an upstream with a breaker trip it; the sixth never reaches it.
codes=$(for _ in 1 2 3 4 5; do post "$F_GB"; done | xargs)
check "five upstream 503s relayed (got $codes)" test "$codes" = "503 503 503 503 503"
wait_until 5 bash -c "curl -s http://127.0.0.1:$ADMIN/metrics | grep -q '^llmproxy_circuitbreaker_opened_total{group=\"only_bad\",upstream=\"bad\",url=\"http://127.0.0.1:$BAD/v1\"} 1$'"
code=$(post "$F_GB")
check "the tripped breaker answers 503 itself (got $code, upstream saw $(mock_count "$BAD"))" \
    test "$code" = 503 -a "$(mock_count "$BAD")" -eq 5
# 3. One SSE stream of 4 events 100 ms apart (~0.3 s).
curl -s -N -m 10 -o "$T/sse" -d '{"model":"m","stream":true,"messages":[]}' \
    "http://127.0.0.1:$F_SSE/v1/chat/completions"
check "the SSE stream completed" grep -q '\[DONE\]' "$T/sse"
# 4. One request retried once on an upstream answering 502.
code=$(post "$F_R")
check "the retried request ends with the upstream's 502 (got $code)" test "$code" = 502

# 3 + 6 + 1 + 1 request lines, and the retry's attempt line: every request line of a
# pinned backend is its attempt too, and the retried request's first attempt was made in
# its pinned backend, then retried through the listener (docs/rendering.md).
check "every log line reached the agent" wait_until 10 lines_reach 12

P='method="POST",path="/v1/chat/completions"'
expect "llmproxy_http_requests_total{forward=\"f_rl\",$P}" 3
expect "llmproxy_http_requests_total{forward=\"f_gb\",$P}" 6
expect "llmproxy_http_requests_total{forward=\"f_sse\",$P}" 1
expect "llmproxy_http_requests_total{forward=\"f_r\",$P}" 1
expect 'llmproxy_ratelimit_total{forward="f_rl"}' 1
expect 'llmproxy_ratelimit_total{forward="f_gb"}' absent
expect 'llmproxy_upstream_requests_total{group="only_good",upstream="good"}' 3
expect 'llmproxy_upstream_requests_total{group="only_bad",upstream="bad"}' 5
expect 'llmproxy_upstream_requests_total{group="retried",upstream="failing"}' 2
expect 'llmproxy_upstream_duration_seconds_count{group="only_bad",upstream="bad"}' 5
URL_BAD="url=\"http://127.0.0.1:$BAD/v1\""
expect "llmproxy_circuitbreaker_opened_total{group=\"only_bad\",upstream=\"bad\",$URL_BAD}" 1
expect "llmproxy_circuitbreaker_calls_total{group=\"only_bad\",upstream=\"bad\",$URL_BAD,result=\"failure\"}" 5
expect "llmproxy_circuitbreaker_calls_total{group=\"only_bad\",upstream=\"bad\",$URL_BAD,result=\"rejected\"}" 1
expect 'llmproxy_upstream_errors_total{error="status_5xx",group="only_bad",upstream="bad"}' 5
# The pinned first attempt: retried, how it failed unknown; the listener's retry: a 5xx.
expect 'llmproxy_upstream_errors_total{error="first_attempt_retried",group="retried",upstream="failing"}' 1
expect 'llmproxy_upstream_errors_total{error="status_5xx",group="retried",upstream="failing"}' 1
expect 'llmproxy_http_request_errors_total{forward="f_rl",error="rate_limit_exceeded",status="429"}' 1
expect 'llmproxy_http_request_errors_total{forward="f_gb",error="upstream_error",status="503"}' 5
expect 'llmproxy_http_request_errors_total{forward="f_gb",error="no_upstream_available",status="503"}' 1
expect 'llmproxy_http_request_errors_total{forward="f_r",error="upstream_error",status="502"}' 1
expect 'llmproxy_agent_attempt_retries_total' 1
expect "llmproxy_http_request_duration_seconds_count{forward=\"f_sse\",$P}" 1
# The SSE stream lasted ~0.3 s: counted in the 0.5 s bucket, not in the 0.25 s one.
expect "llmproxy_http_request_duration_seconds_bucket{forward=\"f_sse\",$P,le=\"0.25\"}" 0
expect "llmproxy_http_request_duration_seconds_bucket{forward=\"f_sse\",$P,le=\"0.5\"}" 1
finish
