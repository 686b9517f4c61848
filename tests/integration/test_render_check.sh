#!/usr/bin/env bash
# llmproxy-ctl render/check against real HAProxy: every sample configuration renders into
# something `haproxy -c` accepts, a broken one makes check exit 1, and a rendered data path
# (HAProxy + agent + an HAProxy playing the upstream) rewrites Host, path, auth and headers.
source "$(dirname "$0")/lib.sh"

# Secrets of tests/data/render/rich.yaml and complete.yaml: referenced, never written.
export RICH_OPENAI_KEY=sk-it-secret-1 RICH_USER=it-user RICH_PASS=it-secret-2
export OPENAI_API_KEY=sk-it-secret-3 ANTHROPIC_API_KEY=sk-it-secret-4

ctl_check() { "$CTL" check -c "$1" >>"$T/check.log" 2>&1; }

for f in "$LLMPROXY_ROOT"/tests/data/config/seed-*.yaml "$LLMPROXY_ROOT"/tests/data/config/complete.yaml \
    "$LLMPROXY_ROOT"/tests/data/render/*.yaml; do
    check "check accepts ${f#"$LLMPROXY_ROOT"/}" ctl_check "$f"
done

check "check refuses an invalid configuration (exit 1)" \
    bash -c '"$1" check -c "$2" >/dev/null 2>&1; [ $? -eq 1 ]' _ "$CTL" \
    "$LLMPROXY_ROOT/tests/data/config/three-errors.yaml"
check "check without -c is a usage error (exit 2)" \
    bash -c '"$1" check >/dev/null 2>&1; [ $? -eq 2 ]' _ "$CTL"
check "check reports HAProxy's own refusal (exit 1)" \
    bash -c 'HAPROXY=false "$1" check -c "$2" >/dev/null 2>&1; [ $? -eq 1 ]' _ "$CTL" \
    "$LLMPROXY_ROOT/tests/data/config/seed-full.yaml"

# haproxy.run_dir missing here: HAProxy would stop at startup, so render and check say so,
# at the key's position, and still succeed (the packaged service creates the folder).
cat >"$T/no-run-dir.yaml" <<YAML
upstreams:
  - {name: a, url: "http://127.0.0.1:1/v1"}
haproxy:
  run_dir: $T/not-there
YAML
"$CTL" check -c "$T/no-run-dir.yaml" >"$T/no-run-dir.out" 2>"$T/no-run-dir.err"
check "check with a missing run_dir still passes (exit $?)" test $? -eq 0
check "... and warns where run_dir is written" \
    grep -q "^$T/no-run-dir.yaml:4:12: haproxy.run_dir: warning: $T/not-there does not exist" \
    "$T/no-run-dir.err"
"$CTL" render -c "$T/no-run-dir.yaml" -o "$T/no-run-dir" >/dev/null 2>"$T/no-run-dir-render.err"
check "render warns about it too" grep -q 'haproxy.run_dir: warning:' "$T/no-run-dir-render.err"
mkdir "$T/not-there"
"$CTL" render -c "$T/no-run-dir.yaml" -o "$T/no-run-dir" >/dev/null 2>"$T/run-dir-render.err"
# (Rendering for HAProxy 3.0 also warns about this file's unix socket log feed.)
check "... and says nothing of it once it exists" bash -c "! grep -q run_dir '$T/run-dir-render.err'"

"$CTL" render -c "$LLMPROXY_ROOT/tests/data/render/rich.yaml" -o "$T/rich" >/dev/null
check "rendered files hold no secret from the environment" \
    bash -c '! grep -rqE "it-secret|it-user" "$1"' _ "$T/rich"

# ---- a live data path ----------------------------------------------------------------
read -r FWD_PORT UP_PORT SPOP_PORT LOG_PORT ADMIN_PORT RL_PORT < <(free_ports 6 | xargs)
export IT_KEY=sk-live-key

# The upstream echoes what reached it.
cat >"$T/upstream.cfg" <<CFG
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend upstream
    bind 127.0.0.1:$UP_PORT
    http-request return status 200 content-type text/plain lf-string "host=%[req.hdr(host)] path=%[path] query=%[query] auth=%[req.hdr(authorization)] ua=%[req.hdr(user-agent)] team=%[req.hdr(x-team)] debug=%[req.hdr(x-debug)] id=%[req.hdr(x-llmproxy-id)]\n"
CFG

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: g}
    - name: limited
      address: 127.0.0.1
      port: $RL_PORT
      upstream_group: g
      ratelimit: {enabled: true, per_second: 1, burst: 1}
  admin: {address: 127.0.0.1, port: $ADMIN_PORT}
upstreams:
  - name: echo
    url: http://127.0.0.1:$UP_PORT/v1
    auth: {type: bearer, token: "\${IT_KEY}"}
    headers:
      - {op: insert, key: X-Team, value: "ml 100%"}
      - {op: remove, key: X-Debug}
upstream_groups:
  - name: g
    upstreams: [{name: echo}]
    http_client: {agent: "it-agent/1", retry: {enabled: true, attempts: 1, initial: 10}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
haproxy: {run_dir: "$T"}
YAML

check "render the live configuration" "$CTL" render -c "$T/config.yaml" -o "$T/out" >/dev/null
spawn upstream "$HAPROXY" -db -f "$T/upstream.cfg"
[ -x "$AGENT" ] && spawn agent "$AGENT" -c "$T/config.yaml"
spawn haproxy "$HAPROXY" -db -f "$T/out/haproxy.cfg"
wait_port "$UP_PORT"
wait_port "$FWD_PORT"

echo_of() { # PATH [CURL ARGS...]: the upstream's echo of one request through the proxy
    local path=$1
    shift
    curl -s -m 5 "$@" "http://127.0.0.1:$FWD_PORT$path"
}

out=$(echo_of "/chat/completions?x=1" -H "Authorization: Bearer client-key" \
    -H "X-Debug: 1" -H "x-llmproxy-id: forged")
log "echo: $out"
check "Host is the upstream's host:port" grep -q "host=127.0.0.1:$UP_PORT " <<<"$out"
check "base path prefixed, query kept" grep -q "path=/v1/chat/completions query=x=1 " <<<"$out"
check "bearer token from the environment replaces the client's" \
    grep -q "auth=Bearer sk-live-key " <<<"$out"
check "User-Agent set" grep -q "ua=it-agent/1 " <<<"$out"
check "insert adds a missing header, '%' kept literally" grep -q "team=ml 100% " <<<"$out"
check "remove deletes the header" grep -q "debug= " <<<"$out"
check "the internal id header does not leave" grep -q "id=$" <<<"$out"

out=$(echo_of "/v1/models" -H "X-Team: mine")
check "a path already under the base path is not prefixed" grep -q "path=/v1/models " <<<"$out"
check "insert keeps a header the client sent" grep -q "team=mine " <<<"$out"

if [ -x "$AGENT" ]; then
    limited() { # a burst of 1: the second request at once is refused by the agent
        curl -s -o /dev/null -m 5 "http://127.0.0.1:$RL_PORT/v1/models"
        curl -s -m 5 -D "$T/rl.headers" -o "$T/rl.body" -w '%{http_code}' \
            "http://127.0.0.1:$RL_PORT/v1/models" | grep -qx 429
    }
    check "the agent's limited verdict is a 429" wait_until 10 limited
    check "429 body is the OpenAI-shaped JSON" \
        grep -q '"code":"rate_limit_exceeded"' "$T/rl.body"
    check "429 carries Retry-After" grep -qi '^retry-after: [0-9]' "$T/rl.headers"
    check "429 is application/json" grep -qi '^content-type: application/json' "$T/rl.headers"
fi

finish
