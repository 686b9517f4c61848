#!/usr/bin/env bash
# A group with retries whose members rewrite alike (a bearer token each, one base path):
# the agent's choice is tried from the member's pinned backend, in one HTTP pass, and only
# a failed first attempt goes on to the other members' listeners.
#   - healthy members: every request takes the pinned path (no listener line, no
#     `attempt` decision);
#   - a member answering 503: the request is retried on the other member with that
#     member's own credential and path and no internal header, after the agent's backoff,
#     and logged under the request's own id even when the client sent one; the first
#     member is counted first_attempt_retried without a breaker outcome, and its next
#     requests take the group layer, where each attempt is judged, until one succeeds;
#   - the first 429 of a member never seen to rate-limit: retried on the other member from
#     HAProxy 3.1, given to the client before (HAProxy 2.6 and 3.0 retry no 429); the next
#     one goes through the group layer and is retried on every version;
#   - an upstream sending the listeners' relayed-429 mark (or the tunnel's) itself is not
#     turned into a 429, and the client never sees either;
#   - a group whose members rewrite differently keeps the group layer for every request.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

read -r A B C D F_R F_D SPOP LOGS ADMIN < <(free_ports 9 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: fr, address: 127.0.0.1, port: $F_R, upstream_group: r}
    - {name: fd, address: 127.0.0.1, port: $F_D, upstream_group: d}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1", auth: {type: bearer, token: key-a}}
  - {name: b, url: "http://127.0.0.1:$B/v1", auth: {type: bearer, token: key-b}}
  - {name: c, url: "http://127.0.0.1:$C/v1"}
  - {name: d, url: "http://127.0.0.1:$D/openai/v1"}
upstream_groups:
  - name: r
    upstreams: [{name: a}, {name: b}]
    balance: {strategy: roundrobin}
    http_client: {retry: {enabled: true, attempts: 1, initial: 200}}
  - name: d
    upstreams: [{name: c}, {name: d}]
    http_client: {retry: {enabled: true, attempts: 1, initial: 10}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

for m in a:$A b:$B c:$C d:$D; do start_mock "${m%%:*}" "${m#*:}" || finish; done
start_stack "$T/config.yaml" || finish

post() { # PORT [CURL ARGS...]: one chat completion; prints its status
    local port=$1
    shift
    curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" -d '{"model":"m","messages":[]}' \
        "http://127.0.0.1:$port/v1/chat/completions"
}
lines() { grep -c "$1" "$T/haproxy.log"; }
errors() { metric "llmproxy_upstream_errors_total{error=\"$1\",group=\"r\",upstream=\"$2\"}"; }
# Every log line of the requests so far has reached the agent.
settled() {
    wait_until 5 bash -c "[ \$(curl -s -m 2 http://127.0.0.1:$ADMIN/metrics |
        awk '\$1 == \"llmproxy_log_lines_received_total\" {print \$2}') -ge \$(grep -cE '^(LLMR4|LLMA1) ' '$T/haproxy.log') ]"
}

# ---- healthy: one HTTP pass ------------------------------------------------------------
codes=""
for _ in 1 2 3 4 5 6; do codes+=" $(post "$F_R")"; done
check "healthy members: every request served (codes:$codes)" test "$codes" = " 200 200 200 200 200 200"
check "... each from its pinned backend" wait_output 5 = 6 lines ' r - - POST 200 .* [ab] pin_r__[ab] '
check "... with no listener line" test "$(lines '^LLMA1 ')" = 0
check "... and no attempt decision" \
    test "$(metric_sum llmproxy_agent_attempt_decisions_total)" = 0
check "a and b each served some ($(mock_count "$A"), $(mock_count "$B"))" \
    test "$(mock_count "$A")" -ge 2 -a "$(mock_count "$B")" -ge 2

# ---- a answers 503: retried on b, as b's request --------------------------------------
mock_reset "$A"
mock_reset "$B"
mock_config "$A" "status=503"
codes="$(post "$F_R" -H 'x-llmproxy-id: forged') $(post "$F_R" -H 'x-llmproxy-id: forged')"
check "a's 503 is retried on b: both served (codes: $codes)" test "$codes" = "200 200"
check "... a tried once, b served both ($(mock_count "$A"), $(mock_count "$B"))" \
    test "$(mock_count "$A") $(mock_count "$B")" = "1 2"
check "... b got its own key, never a's" \
    test "$(mock_records "$B" '[.[].authorization] | unique | join(",")')" = "Bearer key-b"
check "... and its own path, once prefixed" \
    test "$(mock_records "$B" '[.[].path] | unique | join(",")')" = "/v1/chat/completions"
check "... and no internal header, not even the client's forged id" \
    test "$(mock_records "$B" '[.[].headers[][0] | ascii_downcase | select(startswith("x-llmproxy"))] | length')" = 0
check "... a got its own key" test "$(mock_records "$A" '.[0].authorization')" = "Bearer key-a"
retried=$(mock_records "$B" "[.[] | select(.arrival_ms >= $(mock_records "$A" '.[0].arrival_ms'))][0].arrival_ms")
gap=$((retried - $(mock_records "$A" '.[0].arrival_ms')))
check "... after the agent's backoff of ~200 ms (got $gap ms)" test "$gap" -ge 190 -a "$gap" -lt 1000
check "HAProxy logged the retry from a's pinned backend to b's listener" \
    wait_output 5 = 1 lines ' r - - POST 200 .* +1 retry:b pin_r__a '
id=$(grep ' +1 retry:b pin_r__a ' "$T/haproxy.log" | awk '{print $2}')
check "... and b's listener logged it under the request's id ($id), not the client's" \
    bash -c "grep -q '^LLMA1 $id r b 200 ' '$T/haproxy.log' && ! grep -q '^LLMA1 forged' '$T/haproxy.log'"
settled
check "a is counted first_attempt_retried ($(errors first_attempt_retried a))" \
    test "$(errors first_attempt_retried a)" = 1
check "... and its breaker is untouched" \
    test "$(metric 'llmproxy_upstream_breaker_state{upstream="a"}')" = 0

# a's next request takes the group layer: its 503 there is judged a 5xx, and retried.
n5=$(lines '^LLMA1 .* r a 503 ')
codes="$(post "$F_R") $(post "$F_R")"
check "a's next requests are served, through the group layer (codes: $codes)" test "$codes" = "200 200"
check "... where a's listener logged its 503" \
    wait_output 5 -gt "$n5" lines '^LLMA1 .* r a 503 '
settled
check "... judged an upstream 5xx ($(errors status_5xx a))" test "$(errors status_5xx a)" -ge 1

# a recovers: once an attempt of a succeeds in the group layer, it is pinned again.
mock_config "$A" "status=0"
for _ in $(seq 1 10); do
    post "$F_R" >/dev/null
    [ "$(lines '^LLMA1 .* r a 200 ')" -ge 1 ] && break
done
check "a's recovery is judged in the group layer" wait_output 5 -ge 1 lines '^LLMA1 .* r a 200 '
settled
n_pin=$(lines ' a pin_r__a ')
for _ in 1 2 3 4; do post "$F_R" >/dev/null; done
check "... and then a is pinned again" wait_output 5 -gt "$n_pin" lines ' a pin_r__a '

# ---- an upstream that sends our internal mark itself --------------------------------------
# Before 3.1 a listener marks the 429 it relays as a 503; a pinned backend gives only such a
# mark from a `retry:` server back as a 429, never one its own member sent.
mock_reset "$A"
mock_reset "$B"
mock_config "$A" "headers=x-llmproxy-relayed-429:%201%0Ax-llmproxy-tunnel:%20unreachable"
n_pin=$(lines ' r - - POST 200 .* a pin_r__a ')
codes=""
for _ in 1 2; do codes+=" $(post "$F_R" -D "$T/marked.h")"; done
check "a 200 of a carrying x-llmproxy-relayed-429 stays a 200 (codes:$codes)" test "$codes" = " 200 200"
check "... and no internal mark reaches the client" \
    bash -c "! grep -qi '^x-llmproxy-' '$T/marked.h'"
check "... a served one ($(mock_count "$A"))" test "$(mock_count "$A")" = 1
check "... logged as a's 200 from its pinned backend" \
    wait_output 5 -gt "$n_pin" lines ' r - - POST 200 .* a pin_r__a '
mock_config "$A" "headers="

# ---- a's 429s: HAProxy retries none before 3.1 ----------------------------------------
mock_reset "$A"
mock_config "$A" "status=429&headers=Retry-After:%200"
codes=""
for _ in 1 2; do codes+=" $(post "$F_R")"; done
if haproxy_at_least 3 1; then
    check "a's first 429 is retried on b (codes:$codes)" test "$codes" = " 200 200"
else
    check "a's first 429 reaches the client as a's (codes:$codes)" test "$codes" = " 429 200" -o "$codes" = " 200 429"
fi
check "... a answered one ($(mock_count "$A"))" test "$(mock_count "$A")" = 1
settled
codes=""
for _ in 1 2; do codes+=" $(post "$F_R")"; done
check "a's next 429 goes through the group layer and is retried on b (codes:$codes)" \
    test "$codes" = " 200 200"
# Before 3.1 the listener relays a 429 as a 503 and logs the upstream's status last.
check "... a's listener logged it" \
    wait_until 5 bash -c "grep -qE '^LLMA1 [^ ]+ r a (429 |503 .* 429$)' '$T/haproxy.log'"
mock_config "$A" "status=0"

# ---- members that rewrite differently: two layers ---------------------------------------
# (d's base path is prefixed to the client's /v1/...: each member's own rewrite, once)
codes=""
for _ in 1 2 3 4; do codes+=" $(post "$F_D")"; done
check "group d (base paths /v1 and /openai/v1) serves (codes:$codes)" test "$codes" = " 200 200 200 200"
check "... through its group layer" wait_output 5 = 4 lines ' d - - POST 200 .* [cd] grp_d '
check "... each member with its own path ($(mock_count "$C"), $(mock_count "$D"))" \
    test "$(mock_records "$C" '[.[].path] | unique | join(",")') $(mock_records "$D" '[.[].path] | unique | join(",")')" = \
    "/v1/chat/completions /openai/v1/v1/chat/completions"
check "HAProxy and the agent left no sanitizer report" sanitizer_clean "$T/agent.log"
finish
