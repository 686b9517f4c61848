#!/usr/bin/env bash
# Client requests that must never reach an upstream, on both paths into it: forward `pin`
# (a group without retries: pinned backends) and forward `two` (a group with retries: the
# group backend and the per-upstream listeners). Each is refused by the frontend, in the
# OpenAI error shape, before the agent is asked and before any upstream connection:
# - a method outside the forward's list: 405 with Allow (CONNECT, TRACE, PROPFIND, ...);
# - a path that could climb out of the upstream's base path ("..", ".", "%2e", "..;",
#   back and encoded slashes): 400 invalid_path; "//" is merged, and the upstream never
#   records a path outside its base path;
# - a declared body over max_body: 413 (also a Content-Length too long to be a number);
#   a chunked one as far as the buffer holds it;
# - a body trickled or stalled: 408 within the forward's timeout.connect, with no
#   connection to the upstream.
# Every error a client can get on a forward is JSON (405, 400, 413, 408, 502, 504);
# except that HAProxy before 3.4 answers a malformed or unfinished request *head* from its
# HTTP/1 layer with its built-in page (docs/rendering.md), which is checked as such.
# With npm online, the OpenAI Node SDK shows the 405's and 413's status, code and message.
source "$(dirname "$0")/lib.sh"

read -r A B F_PIN F_TWO SPOP LOGS ADMIN < <(free_ports 7 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: pin, address: 127.0.0.1, port: $F_PIN, upstream_group: gpin, timeout: {connect: 1}}
    - name: two
      address: 127.0.0.1
      port: $F_TWO
      upstream_group: gtwo
      timeout: {connect: 1}
      methods: [GET, POST, PUT]
      max_body: 1KiB
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1", auth: {type: bearer, token: sk-canary-a}}
  - {name: b, url: "http://127.0.0.1:$B/v1", auth: {type: bearer, token: sk-canary-b}}
upstream_groups:
  - {name: gpin, upstreams: [{name: a}], http_client: {timeout: {request: 2}}}
  - name: gtwo
    upstreams: [{name: b}]
    http_client: {timeout: {request: 2}, retry: {enabled: true, attempts: 1, initial: 50}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
start_stack "$T/config.yaml" || finish

# picks: how many times the agent was asked (every verdict).
picks() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk '$1 ~ /^llmproxy_agent_pick_decisions_total/ { s += $2 } END { print s + 0 }'
}
# upstream_conns PORT: connections open to that mock right now.
upstream_conns() { ss -Htn state established "sport = :$1" | wc -l; }

# send PORT OUT: stdin's bytes on one connection; the whole answer (until HAProxy closes,
# at most 5 s after stdin ends) into OUT, and the seconds until its first line on stdout.
send() {
    local start=$EPOCHREALTIME
    # shut-none: a client half-closing after its request is taken for an abort by HAProxy 3.x.
    socat -t 5 - "TCP:127.0.0.1:$1,shut-none" 2>/dev/null | {
        IFS= read -r line && printf '%s\n' "$line"
        awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }' >"$2.secs"
        cat
    } >"$2"
    cat "$2.secs"
}
status_of() { head -n 1 "$1" | awk '{ print $2 }'; }
header_of() { sed -n '/^\r$/q; p' "$1" | awk -v h="$2" 'BEGIN { IGNORECASE = 1 }
    index(tolower($0), tolower(h) ":") == 1 { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; exit }'; }
body_of() { sed '1,/^\r$/d' "$1"; }
# json_error FILE STATUS CODE: an OpenAI-shaped JSON error with that status and error.code.
json_error() {
    [ "$(status_of "$1")" = "$2" ] &&
        [ "$(header_of "$1" Content-Type)" = application/json ] &&
        [ "$(body_of "$1" | jq -r '.error.code')" = "$3" ] &&
        [ -n "$(body_of "$1" | jq -r '.error.type // empty')" ] &&
        [ -n "$(body_of "$1" | jq -r '.error.message // empty')" ]
}
# json_error_any FILE STATUS CODE...: json_error with any one of the codes.
json_error_any() {
    local f=$1 st=$2 code
    shift 2
    for code in "$@"; do json_error "$f" "$st" "$code" && return 0; done
    return 1
}
# json_error_within FILE STATUS CODE MAX_S: json_error, its first line within MAX_S seconds.
json_error_within() {
    json_error "$1" "$2" "$3" && awk -v t="$(cat "$1.secs")" -v m="$4" 'BEGIN { exit !(t < m) }'
}
# method_refused FILE ALLOW: the JSON 405 with exactly that Allow header.
method_refused() {
    json_error "$1" 405 method_not_allowed && [ "$(header_of "$1" Allow)" = "$2" ]
}
req() { # METHOD TARGET [EXTRA HEADER LINES...]: a request head, Connection: close
    local m=$1 t=$2 h
    shift 2
    printf '%s %s HTTP/1.1\r\nHost: llm\r\nConnection: close\r\n' "$m" "$t"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
}

picks0=$(picks)
# ---- 1. methods ------------------------------------------------------------------------
for fwd in pin:$F_PIN two:$F_TWO; do
    name=${fwd%%:*} port=${fwd#*:}
    allow="GET, HEAD, POST, DELETE, OPTIONS"
    [ "$name" = two ] && allow="GET, POST, PUT"
    for m in CONNECT TRACE PROPFIND PATCH; do
        # HAProxy itself refuses a CONNECT whose authority is not the Host (400).
        if [ "$m" = CONNECT ]; then target=llm:443; else target=/v1/models; fi
        req "$m" "$target" "Authorization: Bearer client" | send "$port" "$T/m.out" >/dev/null
        check "$name: $m -> 405 JSON method_not_allowed, Allow: $(header_of "$T/m.out" Allow)" \
            method_refused "$T/m.out" "$allow"
    done
done
req DELETE /v1/files/f1 | send "$F_TWO" "$T/m.out" >/dev/null
check "two: DELETE is not in its list -> 405" json_error "$T/m.out" 405 method_not_allowed
req PUT /v1/files/f1 "Content-Length: 0" | send "$F_TWO" "$T/m.out" >/dev/null
check "two: PUT is in its list: the upstream answered it ($(status_of "$T/m.out"))" \
    test "$(mock_records "$B" '[.[] | select(.method == "PUT")] | length')" = 1
for port in "$F_PIN" "$F_TWO"; do
    req GET /v1/models | send "$port" "$T/m.out" >/dev/null
    check "GET /v1/models on :$port -> 200 ($(status_of "$T/m.out"))" test "$(status_of "$T/m.out")" = 200
done
check "no refused method reached an upstream" \
    test "$(mock_records "$A" '[.[] | select(.method != "GET")] | length')$(mock_records "$B" '[.[] | select(.method != "GET" and .method != "PUT")] | length')" = 00
check "refused methods were not sent to the agent ($(picks) - $picks0 picks for 3 passed requests)" \
    test "$(($(picks) - picks0))" -eq 3

# ---- 2. paths ---------------------------------------------------------------------------
mock_reset "$A" "$B"
climbing=(/../admin /v1/../../admin /v1/./../x /%2e%2e/admin /v1/%2E%2E/%2e%2E/x /.%2e/x
    /v1/..%2f..%2fadmin /v1/..%2F..%2Fadmin /v1/..%5c..%5cadmin '/v1/..;/admin' /. /.. /v1/.
    '/v1/..?q=1' /v1/%2e/models)
for fwd in pin:$F_PIN two:$F_TWO; do
    name=${fwd%%:*} port=${fwd#*:}
    for p in "${climbing[@]}"; do
        curl -s -m 5 --path-as-is -o "$T/p.body" -D "$T/p.head" "http://127.0.0.1:$port$p"
        cat "$T/p.head" "$T/p.body" >"$T/p.out"
        json_error "$T/p.out" 400 invalid_path || fail "$name: $p -> $(status_of "$T/p.out") $(body_of "$T/p.out" | head -c 120)"
    done
    log "$name: ${#climbing[@]} climbing paths sent with curl --path-as-is, each refused unless a FAIL says so"
    # A path that is not from the root, and a back slash, over a raw socket.
    req GET '*' | send "$port" "$T/p.out" >/dev/null
    # (From 3.x HAProxy's parser refuses "GET *" itself: with the errorfile's bad_request
    # on 3.4, with its built-in page before, see docs/configuration.md.)
    check "$name: GET * -> 400 ($(status_of "$T/p.out") $(body_of "$T/p.out" | jq -r .error.code 2>/dev/null))" \
        eval 'json_error_any "$T/p.out" 400 invalid_path bad_request ||
            { haproxy_at_least 3 0 && [ "$(status_of "$T/p.out")" = 400 ]; }'
    # (HAProxy refuses one whose authority is not the Host, and sets it with the Host.)
    req GET 'http://llm/v1/../../admin' | send "$port" "$T/p.out" >/dev/null
    check "$name: an absolute-form target that climbs -> 400 invalid_path" \
        json_error "$T/p.out" 400 invalid_path
    req GET '/v1/..\admin' | send "$port" "$T/p.out" >/dev/null
    check "$name: a back slash segment -> 400 ($(status_of "$T/p.out"))" test "$(status_of "$T/p.out")" = 400
    # Repeated slashes are merged: the upstream gets its base path and one slash each.
    curl -s -m 5 --path-as-is -o /dev/null "http://127.0.0.1:$port//v1//models?x=//y"
    curl -s -m 5 --path-as-is -o /dev/null "http://127.0.0.1:$port///models"
    curl -s -m 5 --path-as-is -o /dev/null "http://127.0.0.1:$port/v1/files/a.b..c"
done
for port in "$A" "$B"; do
    paths=$(mock_records "$port" '[.[].path] | join(" ")')
    check "the upstream on :$port saw only paths in its base path: $paths" \
        test "$paths" = "/v1/models?x=//y /v1/models /v1/files/a.b..c"
done
check "no climbing path reached the agent" test "$(($(picks) - picks0))" -eq 9

# ---- 3. bodies --------------------------------------------------------------------------
mock_reset "$A" "$B"
picks1=$(picks)
body_head() { # PORT TARGET LENGTH: a POST head with that Content-Length
    printf 'POST %s HTTP/1.1\r\nHost: llm\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n' "$2" "$3"
}
# 32 MiB + 1 (the default max_body), 2^32 + 1 (would wrap a 32-bit conversion) and 11
# digits; the client keeps its side open, as a real one sending its body would.
for len in 33554433 4294967297 99999999999; do
    { body_head "$F_PIN" /v1/chat/completions "$len"; sleep 0.5; } | send "$F_PIN" "$T/b.out" >/dev/null
    check "pin: Content-Length $len -> 413 JSON" json_error "$T/b.out" 413 request_too_large
done
{ body_head "$F_TWO" /v1/chat/completions 1025; head -c 1025 /dev/zero | tr '\0' x; } |
    send "$F_TWO" "$T/b.out" >/dev/null
check "two: 1025 bytes with max_body 1KiB -> 413 JSON" json_error "$T/b.out" 413 request_too_large
{ body_head "$F_TWO" /v1/chat/completions 1024; head -c 1024 /dev/zero | tr '\0' x; } |
    send "$F_TWO" "$T/b.out" >/dev/null
check "two: 1024 bytes -> 200 ($(status_of "$T/b.out"))" test "$(status_of "$T/b.out")" = 200
# Chunked: no length to check up front; what the buffer holds is checked.
{
    printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: llm\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n'
    printf '800\r\n'; head -c 2048 /dev/zero | tr '\0' x; printf '\r\n0\r\n\r\n'
} | send "$F_TWO" "$T/b.out" >/dev/null
check "two: a chunked body of 2 KiB (in one buffer) with max_body 1KiB -> 413 JSON" \
    json_error "$T/b.out" 413 request_too_large
check "no oversized body reached an upstream ($(mock_count "$A") + $(mock_count "$B") requests)" \
    test "$(mock_count "$A")$(mock_count "$B")" = 01

# A stalled and a trickled body: 408 within timeout.connect (1 s), and the upstream never
# sees a connection for them (the clients take 4 s; 3 s leaves room for a loaded machine).
# Both forwards at once, each watched on its own upstream.
mock_reset "$A" "$B"
declare -A pooled peak
slow=()
for fwd in pin:$F_PIN:$A two:$F_TWO:$B; do
    IFS=: read -r name port up <<<"$fwd"
    pooled[$up]=$(upstream_conns "$up") # HAProxy's idle connections from earlier requests
    peak[$up]=0
    { body_head "$port" /v1/chat/completions 100; printf '{"model":'; sleep 4; } |
        send "$port" "$T/$name.s.out" >/dev/null &
    slow+=($!)
    {
        body_head "$port" /v1/chat/completions 100
        for _ in $(seq 20); do printf x; sleep 0.2; done
    } | send "$port" "$T/$name.t.out" >/dev/null &
    slow+=($!)
done
any_alive() { local p; for p; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while any_alive "${slow[@]}"; do
    for up in "$A" "$B"; do
        n=$(upstream_conns "$up")
        [ "$n" -gt "${peak[$up]}" ] && peak[$up]=$n
    done
    sleep 0.05
done
wait "${slow[@]}"
for fwd in pin:$F_PIN:$A two:$F_TWO:$B; do
    IFS=: read -r name port up <<<"$fwd"
    check "$name: a stalled body -> 408 JSON after $(cat "$T/$name.s.out.secs") s" \
        json_error_within "$T/$name.s.out" 408 request_timeout 3
    check "$name: a body trickled a byte per 200 ms -> 408 JSON after $(cat "$T/$name.t.out.secs") s" \
        json_error_within "$T/$name.t.out" 408 request_timeout 3
    check "$name: no new upstream connection while they waited (peak ${peak[$up]}, ${pooled[$up]} idle before), no request ($(mock_count "$up"))" \
        test "${peak[$up]}" -le "${pooled[$up]}" -a "$(mock_count "$up")" = 0
done
check "slow and oversized bodies were not sent to the agent (1 request passed, $(($(picks) - picks1)) picks)" \
    test "$(($(picks) - picks1))" -eq 1

# ---- 4. every error a client can get is JSON --------------------------------------------
# The raw requests (not HTTP at all, a head that never ends, a coding before chunked) reach
# no upstream: both forwards' go at once, in the background, while the upstream faults run.
raw=()
for fwd in pin:$F_PIN two:$F_TWO; do
    name=${fwd%%:*} port=${fwd#*:}
    printf 'GARBAGE\x01 / HTTP/1.1\r\n\r\n' | send "$port" "$T/$name.e400.out" >/dev/null &
    raw+=($!)
    { printf 'GET /v1/models HTTP/1.1\r\nHost: llm\r\n'; sleep 3; } | send "$port" "$T/$name.e408.out" >/dev/null &
    raw+=($!)
    # A coding before chunked is refused with 422 (a lone "gzip" is a 400).
    {
        printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: llm\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
        sleep 0.5
    } | send "$port" "$T/$name.e422.out" >/dev/null &
    raw+=($!)
done
for fwd in pin:$F_PIN:$A two:$F_TWO:$B; do
    IFS=: read -r name port up <<<"$fwd"
    mock_config "$up" "fail_mode=hang"
    req GET /v1/models | send "$port" "$T/e.out" >/dev/null
    check "$name: an upstream that does not answer -> 504 JSON" json_error "$T/e.out" 504 upstream_timeout
    mock_config "$up" "fail_mode=close"
    req GET /v1/models | send "$port" "$T/e.out" >/dev/null
    check "$name: an upstream that closes -> 502 JSON ($(status_of "$T/e.out"))" \
        json_error_any "$T/e.out" 502 bad_upstream_response upstream_unreachable
    mock_config "$up" "fail_mode=none"
done
wait "${raw[@]}"
for name in pin two; do
    if haproxy_at_least 3 4; then
        check "$name: a malformed request head -> 400 JSON" json_error "$T/$name.e400.out" 400 bad_request
        check "$name: an unfinished request head -> 408 JSON" json_error "$T/$name.e408.out" 408 request_timeout
        check "$name: Transfer-Encoding: gzip, chunked -> 422 JSON" \
            json_error "$T/$name.e422.out" 422 unsupported_transfer_encoding
    else
        check "$name: Transfer-Encoding: gzip, chunked -> 422 (HAProxy's own page before 3.4)" \
            test "$(status_of "$T/$name.e422.out")" = 422
        check "$name: a malformed request head -> 400 (HAProxy's own page before 3.4)" \
            test "$(status_of "$T/$name.e400.out")" = 400
        check "$name: an unfinished request head -> 408 (HAProxy's own page before 3.4)" \
            test "$(status_of "$T/$name.e408.out")" = 408
    fi
done

# ---- the OpenAI Node SDK surfaces these errors like the API's own ----------------------
# Installed into the scratch folder; skipped when npm is missing or has no network.
if command -v node >/dev/null && command -v npm >/dev/null &&
    timeout 90 npm install --prefix "$T/sdk" --no-audit --no-fund --silent openai@4 >"$T/npm.log" 2>&1; then
    cat >"$T/sdk/errors.js" <<'JS'
const OpenAI = require('openai');
const client = new OpenAI({ apiKey: 'sk-client', baseURL: process.argv[2], maxRetries: 0 });
const show = (e) => console.log(`${e.status} ${e.code} ${e.type} ${e.message}`);
(async () => {
  await client.files.del('file-1').then(() => console.log('no error'), show);
  await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2048) }] })
    .then(() => console.log('no error'), show);
})();
JS
    node "$T/sdk/errors.js" "http://127.0.0.1:$F_TWO/v1" >"$T/sdk.out" 2>&1
    check "SDK: DELETE -> APIError 405 method_not_allowed ($(sed -n 1p "$T/sdk.out"))" \
        test "$(sed -n 1p "$T/sdk.out")" = "405 method_not_allowed invalid_request_error 405 method not allowed"
    check "SDK: a 2 KiB prompt over max_body -> APIError 413 request_too_large ($(sed -n 2p "$T/sdk.out"))" \
        test "$(sed -n 2p "$T/sdk.out")" = "413 request_too_large invalid_request_error 413 request body too large"
else
    skip_part "the OpenAI Node SDK's errors" "the SDK could not be installed (npm missing or offline)"
fi

finish
