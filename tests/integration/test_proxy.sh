#!/usr/bin/env bash
# Upstreams reached through a real forward proxy (Debian's tinyproxy, run here as our own
# process): HAProxy's server is the agent's CONNECT tunnel socket, TLS to the upstream stays
# end to end (a test CA made here), the proxy's credentials are sent, and a proxy that
# refuses (wrong credentials, a port it does not allow, or stopped) gives the client a JSON
# 502 that the log feed counts as an upstream failure.
source "$(dirname "$0")/lib.sh"

TINYPROXY=${TINYPROXY:-tinyproxy}
command -v "$TINYPROXY" >/dev/null || { echo "  tinyproxy is missing (make deps)"; exit 1; }

read -r UP PX DENIED F_OK F_CRED F_DENY SPOP LOGS ADMIN PLAIN F_PLAIN < <(free_ports 11 | xargs)

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=proxy-test-ca" \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$T/up.key" \
        -out "$T/up.csr" 2>/dev/null &&
    printf 'subjectAltName=DNS:localhost\n' >"$T/up.ext" &&
    openssl x509 -req -in "$T/up.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
        -days 1 -extfile "$T/up.ext" -out "$T/up.pem" 2>/dev/null
check "test CA and upstream certificate made" test -s "$T/up.pem"

# Only the mock's port may be CONNECTed to, and only with user:pass.
cat >"$T/tinyproxy.conf" <<CONF
Port $PX
Listen 127.0.0.1
Timeout 30
MaxClients 50
LogFile "$T/tinyproxy-access.log"
LogLevel Connect
PidFile "$T/tinyproxy.pid"
Allow 127.0.0.1
ConnectPort $UP
ConnectPort $PLAIN
BasicAuth user pass
CONF

# The upstream's URL names localhost: through the proxy, the proxy resolves it.
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: ok, address: 127.0.0.1, port: $F_OK, upstream_group: g_ok}
    - {name: cred, address: 127.0.0.1, port: $F_CRED, upstream_group: g_cred}
    - {name: deny, address: 127.0.0.1, port: $F_DENY, upstream_group: g_deny}
    - {name: plain, address: 127.0.0.1, port: $F_PLAIN, upstream_group: g_plain}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: api, url: "https://localhost:$UP/v1", tls: {ca_file: "$T/ca.pem"}}
  - {name: closed, url: "https://localhost:$DENIED/v1", tls: {ca_file: "$T/ca.pem"}}
  - {name: plain, url: "http://localhost:$PLAIN/v1", breaker: {threshold: 0.5}}
upstream_groups:
  - name: g_ok
    upstreams: [{name: api}]
    http_client: {timeout: {connect: 2}, proxy: {enabled: true, url: "http://user:pass@127.0.0.1:$PX"}}
  - name: g_cred
    upstreams: [{name: api}]
    http_client: {timeout: {connect: 2}, proxy: {enabled: true, url: "http://user:wrong@127.0.0.1:$PX"}}
  - name: g_deny
    upstreams: [{name: closed}]
    http_client: {timeout: {connect: 2}, proxy: {enabled: true, url: "http://user:pass@127.0.0.1:$PX"}}
  - name: g_plain
    upstreams: [{name: plain}]
    http_client: {timeout: {connect: 2}, proxy: {enabled: true, url: "http://user:pass@127.0.0.1:$PX"}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock api "$UP" --tls-cert "$T/up.pem" --tls-key "$T/up.key" || finish
start_mock plain "$PLAIN" || finish
spawn tinyproxy "$TINYPROXY" -d -c "$T/tinyproxy.conf"
wait_port "$PX" || { fail "tinyproxy did not start"; finish; }
start_stack "$T/config.yaml" || finish
export MOCK_SCHEME=https

check "HAProxy's servers are the agent's tunnel sockets" \
    grep -q "server api \"unix@$T/tunnel_g_ok__api.sock\" ssl verify required" "$T/out/haproxy.cfg"
check "the proxy's credentials are not in haproxy.cfg" bash -c "! grep -q 'user:pass' '$T/out/haproxy.cfg'"
check "the agent listens on the tunnel socket" test -S "$T/tunnel_g_ok__api.sock"

# metric NAME LABEL_FILTER: the sum of the samples of NAME whose labels match the regex.
metric() {
    curl -sf -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v n="$1" -v f="$2" 'index($0, n "{") == 1 && $0 ~ f {s += $NF} END {print s + 0}'
}

st=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$F_OK/chat/completions" \
    -H 'Content-Type: application/json' -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}')
check "a chat completion through the proxy: 200 ($st)" test "$st" = 200
check "... answered by the TLS mock" test "$(jq -r '.choices[0].message.content' "$T/body")" = api
check "... which recorded the request with its Host and path" \
    test "$(mock_records "$UP" '.[-1] | .host + " " + .path')" = "localhost:$UP /v1/chat/completions"
check "... and tinyproxy logged the CONNECT" \
    wait_until 5 grep -q "CONNECT localhost:$UP HTTP/1.1" "$T/tinyproxy-access.log"
check "... the tunnel counted it established" \
    test "$(metric llmproxy_tunnel_established_total 'group="g_ok"')" -ge 1
check "... and relayed bytes both ways" \
    test "$(metric llmproxy_tunnel_bytes_total 'group="g_ok".*direction="down"')" -gt 0

# expect_refused FORWARD_PORT GROUP REASON WHAT: a JSON 502, no request at the mock, a
# tunnel failure for REASON and an upstream error from the log feed.
expect_refused() {
    local port=$1 group=$2 reason=$3 what=$4 st n_before
    n_before=$(mock_count "$UP")
    st=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$port/chat/completions" \
        -d '{"model":"m"}')
    check "$what: 502 ($st)" test "$st" = 502
    check "... with a JSON error ($(jq -r .error.code "$T/body" 2>/dev/null))" \
        test "$(jq -r .error.code "$T/body" 2>/dev/null)" = upstream_unreachable
    check "... no request reached the upstream" test "$(mock_count "$UP")" = "$n_before"
    check "... the tunnel counted a '$reason' failure" \
        test "$(metric llmproxy_tunnel_failures_total "group=\"$group\".*reason=\"$reason\"")" -ge 1
    check "... and the log feed an upstream error" \
        wait_until 5 bash -c "[ \$(curl -sf 'http://127.0.0.1:$ADMIN/metrics' |
            grep '^llmproxy_upstream_errors_total{' | grep 'group=\"$group\"' |
            awk '{s += \$NF} END {print s + 0}') -ge 1 ]"
}

expect_refused "$F_CRED" g_cred refused "wrong proxy credentials"
# With BasicAuth set, the 200 above already showed the right credentials are sent.
# tinyproxy 1.11 answers a wrong credential with 401 (407 is the standard's choice).
check "... tinyproxy refused the credentials (401/407)" \
    grep -qE "tunnel g_cred/api: .*CONNECT refused with status 40[17]" "$T/agent.log"
expect_refused "$F_DENY" g_deny refused "a port the proxy does not allow"
check "... tinyproxy forbade it (403)" \
    grep -q "tunnel g_deny/closed: .*CONNECT refused with status 403" "$T/agent.log"
# A plain http upstream: HAProxy sends the request into the tunnel at once, and the
# tunnel's own answer for a proxy it cannot reach must still read as unreachable.
plain() {
    curl -s -m 10 -o "$T/body" -D "$T/headers" -w '%{http_code}' \
        "http://127.0.0.1:$F_PLAIN/chat/completions" -d '{"model":"m"}'
}
st=$(plain)
check "a plain http upstream through the proxy: 200 ($st)" test "$st" = 200
check "... answered by the plain mock" test "$(jq -r '.choices[0].message.content' "$T/body")" = plain

stop_pid "$PID_tinyproxy"
expect_refused "$F_OK" g_ok connect "the proxy stopped"
n_before=$(MOCK_SCHEME=http mock_count "$PLAIN")
st=$(plain)
check "the proxy stopped, a plain http upstream: 502 ($st)" test "$st" = 502
check "... upstream_unreachable in the body ($(jq -r .error.code "$T/body" 2>/dev/null))" \
    test "$(jq -r .error.code "$T/body" 2>/dev/null)" = upstream_unreachable
check "... the tunnel's header does not reach the client" \
    bash -c "! grep -qi '^x-llmproxy-tunnel' '$T/headers'"
check "... no request reached the upstream" test "$(MOCK_SCHEME=http mock_count "$PLAIN")" = "$n_before"
check "... the same label in the request errors" \
    wait_until 5 bash -c "curl -sf 'http://127.0.0.1:$ADMIN/metrics' |
        grep '^llmproxy_http_request_errors_total{forward=\"plain\"' | grep -q 'error=\"upstream_unreachable\",status=\"502\"'"
check "... no other label for it" \
    bash -c "! curl -sf 'http://127.0.0.1:$ADMIN/metrics' |
        grep '^llmproxy_http_request_errors_total{forward=\"plain\"' | grep -v upstream_unreachable | grep -q ."
check "... and a connect failure of the upstream from the log feed" \
    wait_until 5 bash -c "curl -sf 'http://127.0.0.1:$ADMIN/metrics' |
        grep -q '^llmproxy_upstream_errors_total{error=\"connect\",group=\"g_plain\",upstream=\"plain\"}'"

# The tunnel's answer is ready before a slow writer has sent its request (the connect to
# the stopped proxy fails at once): the request must still go in, and the answer come out.
late_writer() {
    python3 - "$T/tunnel_g_plain__plain.sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
time.sleep(0.3)
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
got = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
print(got.split(b"\r\n")[0].decode(), "|", b"x-llmproxy-tunnel: unreachable" in got)
PY
}
late=$(late_writer 2>&1)
check "a request written after the tunnel failed still gets its answer ($late)" \
    test "$late" = "HTTP/1.1 502 Bad Gateway | True"

# One that never closes is not kept: the answering socket is closed after its linger.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
time.sleep(8)' "$T/tunnel_g_plain__plain.sock" &
holder=$!
plain_active_is() { test "$(metric llmproxy_tunnel_active 'group="g_plain"')" = "$1"; }
check "... a peer that never closes holds the tunnel open" wait_until 2 plain_active_is 1
check "... for a bounded time only" wait_until 5 plain_active_is 0
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

check "no sanitizer report from the agent" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
