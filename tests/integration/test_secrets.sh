#!/usr/bin/env bash
# Secrets never leak: a bearer token, a basic password, a header value and a forward
# proxy's password all come from ${VAR} with canary values. The stack renders, runs and
# serves traffic with them (the mocks and the proxy receive them: they were used), and the
# canary, plain or base64-encoded as it travels, appears nowhere we write or serve: not in
# the rendered folder, not in the agent's log (at debug level), not in HAProxy's log, not on
# /metrics or /status, not in what llmproxy-ctl prints.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

TINYPROXY=${TINYPROXY:-tinyproxy}
command -v "$TINYPROXY" >/dev/null || { echo "  tinyproxy is missing (make deps)"; exit 1; }

read -r A B PX F F_PX SPOP LOGS ADMIN < <(free_ports 8 | xargs)
CANARY=CANARY-7f3a91
export LLM_TOKEN=$CANARY-token LLM_HEADER=$CANARY-header LLM_PASS=$CANARY-basic LLM_PROXY_PASS=$CANARY-proxy
# How the basic credentials travel on the wire.
BASIC_B64=$(printf 'u:%s' "$LLM_PASS" | base64 -w0)
PROXY_B64=$(printf 'px:%s' "$LLM_PROXY_PASS" | base64 -w0)

cat >"$T/tinyproxy.conf" <<CONF
Port $PX
Listen 127.0.0.1
Timeout 30
MaxClients 20
LogFile "$T/tinyproxy-access.log"
PidFile "$T/tinyproxy.pid"
Allow 127.0.0.1
ConnectPort $A
BasicAuth px $LLM_PROXY_PASS
CONF
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
    - {name: viaproxy, address: 127.0.0.1, port: $F_PX, upstream_group: px}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - name: a
    url: "http://127.0.0.1:$A/v1"
    auth: {type: bearer, token: "\${LLM_TOKEN}"}
    headers: [{op: insert, key: X-Canary, value: "\${LLM_HEADER}"}]
  - name: b
    url: "http://127.0.0.1:$B/v1"
    auth: {type: basic, username: u, password: "\${LLM_PASS}"}
upstream_groups:
  - {name: g, upstreams: [{name: a}, {name: b}]}
  - name: px
    upstreams: [{name: a}]
    http_client: {proxy: {enabled: true, url: "http://px:\${LLM_PROXY_PASS}@127.0.0.1:$PX"}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
spawn tinyproxy "$TINYPROXY" -d -c "$T/tinyproxy.conf"
wait_port "$PX" || { fail "tinyproxy did not start"; finish; }

"$CTL" validate -c "$T/config.yaml" >"$T/ctl.log" 2>&1
"$CTL" render -c "$T/config.yaml" -o "$T/out" >>"$T/ctl.log" 2>&1 || { fail "render"; finish; }
check "haproxy.cfg is mode 0600" test "$(stat -c %a "$T/out/haproxy.cfg")" = 600
spawn agent "$AGENT" -c "$T/config.yaml" -l debug
wait_port "$SPOP" || { fail "agent did not start"; finish; }
spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
wait_until 10 agent_is UP || { fail "HAProxy did not see the agent UP"; finish; }

codes=$({ for _ in 1 2 3 4; do
    curl -s -m 5 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$F/v1/chat/completions" -d '{}'
done; for _ in 1 2; do
    curl -s -m 5 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$F_PX/v1/chat/completions" -d '{}'
done; } | sort | uniq -c | awk '{ print $2"x"$1 }' | xargs)
check "traffic served on both forwards ($codes)" test "$codes" = 200x6
check "a received the bearer token" \
    test "$(mock_records "$A" "[.[] | select(.authorization == \"Bearer $LLM_TOKEN\")] | length")" -ge 2
check "a received the header value" \
    test "$(mock_records "$A" "[.[] | select(any(.headers[]; (.[0] | ascii_downcase) == \"x-canary\" and .[1] == \"$LLM_HEADER\"))] | length")" -ge 2
check "b received the basic credentials" \
    test "$(mock_records "$B" "[.[] | select(.authorization == \"Basic $BASIC_B64\")] | length")" = 2
check "the proxy accepted the proxy password (a took the 2 proxied requests too)" \
    test "$(mock_count "$A")" = 4
curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics.out"
curl -s -m 5 "http://127.0.0.1:$ADMIN/status" >"$T/status.out"
check "/metrics and /status answered" test -s "$T/metrics.out" -a -s "$T/status.out"
# A reload logs configuration details too.
kill -HUP "$PID_agent"
wait_until 5 grep -q 'reloaded:' "$T/agent.log"
stop_pid "$PID_agent"
"$CTL" check -c "$T/config.yaml" >>"$T/ctl.log" 2>&1

leaks() { grep -rlaF -e "$CANARY" -e "$BASIC_B64" -e "$PROXY_B64" "$@"; }
check "the search finds the canary where it belongs (tinyproxy's own configuration)" \
    test "$(leaks "$T/tinyproxy.conf")" = "$T/tinyproxy.conf"
for what in "the rendered folder:$T/out" "the agent's log:$T/agent.log" \
    "HAProxy's log:$T/haproxy.log" "/metrics:$T/metrics.out" "/status:$T/status.out" \
    "llmproxy-ctl's output:$T/ctl.log"; do
    check "the canary appears nowhere in ${what%%:*} ($(leaks "${what#*:}" | xargs))" \
        bash -c "! grep -rqaF -e '$CANARY' -e '$BASIC_B64' -e '$PROXY_B64' '${what#*:}'"
done
check "the agent exited cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
