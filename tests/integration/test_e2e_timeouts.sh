#!/usr/bin/env bash
# Errors HAProxy itself answers in the rendered data path, as JSON in the OpenAI shape:
# an upstream that never answers -> 504 after timeout.request, a client that never
# finishes its headers -> 408 after the forward's timeout.connect, a closed upstream port
# -> 502; an upstream's own error status is relayed unchanged.
source "$(dirname "$0")/lib.sh"

read -r HANG DOWN ERR F_HANG F_SLOW F_DOWN F_ERR SPOP LOGS ADMIN < <(free_ports 10 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: hang, address: 127.0.0.1, port: $F_HANG, upstream_group: g_hang}
    - name: slow
      address: 127.0.0.1
      port: $F_SLOW
      upstream_group: g_hang
      timeout: {connect: 1}
    - {name: down, address: 127.0.0.1, port: $F_DOWN, upstream_group: g_down}
    - {name: err, address: 127.0.0.1, port: $F_ERR, upstream_group: g_err}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: hang, url: "http://127.0.0.1:$HANG/v1"}
  - {name: down, url: "http://127.0.0.1:$DOWN/v1"}
  - {name: err, url: "http://127.0.0.1:$ERR/v1"}
upstream_groups:
  - {name: g_hang, upstreams: [{name: hang}], http_client: {timeout: {request: 2}}}
  - {name: g_down, upstreams: [{name: down}], http_client: {timeout: {connect: 1}}}
  - {name: g_err, upstreams: [{name: err}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock hang "$HANG" --fail-mode hang || finish
start_mock err "$ERR" --status 500 || finish
start_stack "$T/config.yaml" || finish

# call PORT: one chat completion; prints "<status> <seconds>", body in $T/body.
call() {
    curl -s -m 15 -D "$T/h" -o "$T/body" -w '%{http_code} %{time_total}' \
        "http://127.0.0.1:$1/chat/completions" -d '{"model":"m"}'
}
within() { awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t < hi) }'; }
code() { jq -r .error.code "$T/body" 2>/dev/null; }

read -r st secs < <(call "$F_HANG")
check "a hanging upstream: 504 ($st)" test "$st" = 504
check "... after timeout.request = 2 s (${secs}s)" within "$secs" 1.9 3.5
check "... with the JSON upstream_timeout error ($(code))" test "$(code)" = upstream_timeout
check "... as application/json" grep -qi '^content-type: application/json' "$T/h"
check "... and the upstream did receive the request (fault hang)" \
    test "$(mock_records "$HANG" '.[-1].fault')" = hang

read -r st secs < <(call "$F_DOWN")
check "an upstream port nobody listens on: 502 ($st, ${secs}s)" test "$st" = 502
check "... with the JSON upstream_unreachable error ($(code))" test "$(code)" = upstream_unreachable

read -r st secs < <(call "$F_ERR")
check "an upstream's own 500 is relayed unchanged ($st)" test "$st" = 500
check "... with the upstream's body (X-Mock-Name header and its error JSON)" \
    bash -c "grep -qi '^x-mock-name: err' '$T/h' && jq -e .error '$T/body' >/dev/null"
check "... the upstream recorded it once" test "$(mock_count "$ERR")" = 1

# A client that sends half a request head and waits: the forward's timeout.connect (1 s)
# answers 408 and closes.
partial() {
    local start=$EPOCHREALTIME
    exec 3<>"/dev/tcp/127.0.0.1/$F_SLOW" || return 1
    printf 'POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty' >&3
    timeout 5 cat <&3 >"$T/partial.out"
    exec 3<&-
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}'
}
secs=$(partial)
check "an unfinished request head: 408 ($(head -n 1 "$T/partial.out" | tr -d '\r'))" \
    grep -q '^HTTP/1.[01] 408' "$T/partial.out"
check "... after the forward's timeout.connect = 1 s (${secs}s)" within "$secs" 0.9 2.5
# HAProxy 2.6's H1 multiplexer answers a head that never completes before any stream
# exists, with its built-in HTML page: errorfile/errorfiles (even in defaults) are not
# consulted there, so the rendered JSON 408 cannot apply (docs/rendering.md).
log "note: the 408 body is HAProxy 2.6's built-in page, not the rendered JSON (mux-level error)"
check "... never forwarded upstream" test "$(mock_count "$HANG")" = 1
finish
