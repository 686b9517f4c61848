#!/usr/bin/env bash
# The code in the client's JSON error and the `error` label of
# llmproxy_http_request_errors_total agree for the failures of an upstream's connection:
# a refused connection, a connect timeout (a loopback socket whose listen backlog is full,
# so SYNs go unanswered) and a forward proxy that is down, each on a pinned backend and in
# a retry group (the two-layer path). A plain http upstream behind a proxy that is down is
# unreachable too: the agent's tunnel answers the request HAProxy had already sent into it
# (docs/configuration.md); test_proxy.sh covers https upstreams.
source "$(dirname "$0")/lib.sh"

read -r REFUSED HOLE PROXY F_REF F_REFR F_CT F_CTR F_PX F_PXR SPOP LOGS ADMIN \
    < <(free_ports 12 | xargs)

retry='retry: {enabled: true, attempts: 1, initial: 10}'
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: ref, address: 127.0.0.1, port: $F_REF, upstream_group: ref}
    - {name: refr, address: 127.0.0.1, port: $F_REFR, upstream_group: refr}
    - {name: ct, address: 127.0.0.1, port: $F_CT, upstream_group: ct}
    - {name: ctr, address: 127.0.0.1, port: $F_CTR, upstream_group: ctr}
    - {name: px, address: 127.0.0.1, port: $F_PX, upstream_group: px}
    - {name: pxr, address: 127.0.0.1, port: $F_PXR, upstream_group: pxr}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: refused, url: "http://127.0.0.1:$REFUSED/v1"}
  - {name: hole, url: "http://127.0.0.1:$HOLE/v1"}
upstream_groups:
  - {name: ref, upstreams: [{name: refused}], http_client: {timeout: {connect: 1}}}
  - {name: refr, upstreams: [{name: refused}], http_client: {timeout: {connect: 1}, $retry}}
  - {name: ct, upstreams: [{name: hole}], http_client: {timeout: {connect: 1}}}
  - {name: ctr, upstreams: [{name: hole}], http_client: {timeout: {connect: 1}, $retry}}
  - name: px
    upstreams: [{name: refused}]
    http_client: {timeout: {connect: 1}, proxy: {enabled: true, url: "http://127.0.0.1:$PROXY"}}
  - name: pxr
    upstreams: [{name: refused}]
    http_client:
      timeout: {connect: 1}
      proxy: {enabled: true, url: "http://127.0.0.1:$PROXY"}
      $retry
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

# A black hole on loopback: backlog 0 holds one connection, which we make and never
# accept; the kernel then drops further SYNs, so connecting times out.
spawn hole python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(0)
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1])))]
try:
    held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5))
except OSError:
    pass
print("full", flush=True)
time.sleep(3600)' "$HOLE"
check "the black hole's backlog is full" wait_until 5 grep -q full "$T/hole.log"
check "... so a connection to it times out" \
    bash -c "! timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$HOLE' 2>/dev/null"
start_stack "$T/config.yaml" || finish

errors() {
    curl -sf -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v f="forward=\"$1\"" 'index($0, "llmproxy_http_request_errors_total{") == 1 && index($0, f) {
            match($0, /error="[^"]*"/); print substr($0, RSTART + 7, RLENGTH - 8) " " $NF }'
}

# expect FORWARD PORT WHAT [CODE]: a JSON 502 with CODE (upstream_unreachable), counted
# under that label only.
expect() {
    local fwd=$1 port=$2 what=$3 want=${4:-upstream_unreachable} st code
    st=$(curl -s -m 15 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$port/v1/chat/completions" \
        -d '{"model":"m"}')
    code=$(jq -r .error.code "$T/body" 2>/dev/null)
    check "$what: 502 ($st)" test "$st" = 502
    check "... $want in the body ($code)" test "$code" = "$want"
    check "... and the same in the metric ($(errors "$fwd" | xargs))" \
        wait_until 5 bash -c "[ \"\$(curl -sf -m 5 'http://127.0.0.1:$ADMIN/metrics' |
            grep '^llmproxy_http_request_errors_total{' | grep 'forward=\"$fwd\"' |
            grep -o 'error=\"[a-z_]*\"' | sort -u)\" = 'error=\"$want\"' ]"
}

expect ref "$F_REF" "a refused connection"
expect refr "$F_REFR" "a refused connection in a retry group"
expect ct "$F_CT" "a connect timeout"
expect ctr "$F_CTR" "a connect timeout in a retry group"
expect px "$F_PX" "the forward proxy down"
expect pxr "$F_PXR" "the forward proxy down, in a retry group"
finish
