#!/usr/bin/env bash
# What the rendered data path sends upstream, checked on the mock's records: the path
# joined to the base path, the query, Host, bearer/basic/none auth, header operations,
# User-Agent, one forward per group, and large bodies both ways.
source "$(dirname "$0")/lib.sh"

read -r A B C D F_BEAR F_BASIC F_NONE F_ENVB SPOP LOGS ADMIN < <(free_ports 11 | xargs)
# Secrets reach HAProxy through its environment, never through the rendered files.
export E2E_TOKEN=sk-e2e-token E2E_USER=env-user E2E_PASS='env:pass'

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: bear, address: 127.0.0.1, port: $F_BEAR, upstream_group: g_bear}
    - {name: basic, address: 127.0.0.1, port: $F_BASIC, upstream_group: g_basic}
    - {name: none, address: 127.0.0.1, port: $F_NONE, upstream_group: g_none}
    - {name: envb, address: 127.0.0.1, port: $F_ENVB, upstream_group: g_envb}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - name: a
    url: http://127.0.0.1:$A/v1
    auth: {type: bearer, token: "\${E2E_TOKEN}"}
    headers:
      - {op: insert, key: X-Team, value: "ml"}
      - {op: replace, key: X-Org, value: "org-1"}
      - {op: remove, key: X-Debug}
  - name: b
    url: http://127.0.0.1:$B/v1/
    auth: {type: basic, username: alice, password: "p@ss:w0rd"}
  - name: c
    url: http://127.0.0.1:$C
  - name: d
    url: http://127.0.0.1:$D/api
    auth: {type: basic, username: "\${E2E_USER}", password: "\${E2E_PASS}"}
upstream_groups:
  - name: g_bear
    upstreams: [{name: a}]
    http_client: {agent: "e2e-agent/1.0", retry: {enabled: true, attempts: 2, initial: 10}}
  - {name: g_basic, upstreams: [{name: b}]}
  - {name: g_none, upstreams: [{name: c}]}
  - {name: g_envb, upstreams: [{name: d}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

for m in a:$A b:$B c:$C d:$D; do start_mock "${m%%:*}" "${m#*:}" || finish; done
start_stack "$T/config.yaml" || finish

# via PORT PATH [CURL ARGS...]: one request through a forward; prints the status.
via() {
    local port=$1 path=$2
    shift 2
    curl -s -m 10 -o "$T/body" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path"
}
# last PORT JQ: a field of the last request the mock recorded.
last() { mock_records "$1" ".[-1] | $2"; }
# hdr_count PORT NAME: how many times the last request carried header NAME.
hdr_count() { last "$1" "[.headers[] | select(.[0] | ascii_downcase == \"$2\")] | length"; }
# hdr PORT NAME: the values of header NAME in the last request, comma-joined.
hdr() { last "$1" "[.headers[] | select(.[0] | ascii_downcase == \"$2\") | .[1]] | join(\",\")"; }

# ---- path, query, Host -------------------------------------------------------------
st=$(via "$F_BEAR" "/chat/completions?x=1&y=a%20b" -d '{"model":"m"}')
check "client /chat/completions answered 200 ($st)" test "$st" = 200
check "... reaches /v1/chat/completions with the query kept ($(last "$A" .path))" \
    test "$(last "$A" .path)" = "/v1/chat/completions?x=1&y=a%20b"
check "Host is the upstream's host:port ($(last "$A" .host))" test "$(last "$A" .host)" = "127.0.0.1:$A"
via "$F_BEAR" "/v1/chat/completions" -d '{"model":"m"}' >/dev/null
check "client /v1/chat/completions is not prefixed twice ($(last "$A" .path))" \
    test "$(last "$A" .path)" = "/v1/chat/completions"
via "$F_BEAR" "/v1x/models" >/dev/null
check "a path that only starts with the letters of the base is prefixed ($(last "$A" .path))" \
    test "$(last "$A" .path)" = "/v1/v1x/models"
via "$F_BASIC" "/models?limit=2" >/dev/null
check "a base path with a trailing / joins without // ($(last "$B" .path))" \
    test "$(last "$B" .path)" = "/v1/models?limit=2"
via "$F_NONE" "/v1/models" >/dev/null
check "no base path: the client's path as sent ($(last "$C" .path))" test "$(last "$C" .path)" = "/v1/models"
check "Host keeps the URL's port ($(last "$C" .host))" test "$(last "$C" .host)" = "127.0.0.1:$C"

# ---- auth ---------------------------------------------------------------------------
via "$F_BEAR" /models -H "Authorization: Bearer client-key" >/dev/null
check "bearer from the environment replaces the client's ($(last "$A" .authorization))" \
    test "$(last "$A" .authorization)" = "Bearer sk-e2e-token"
check "... as exactly one Authorization header" test "$(hdr_count "$A" authorization)" = 1
via "$F_BASIC" /models -H "Authorization: Bearer client-key" >/dev/null
want="Basic $(printf %s 'alice:p@ss:w0rd' | base64)"
check "literal basic credentials: exact base64 ($(last "$B" .authorization))" \
    test "$(last "$B" .authorization)" = "$want"
check "... as exactly one Authorization header" test "$(hdr_count "$B" authorization)" = 1
via "$F_ENVB" /models -H "Authorization: Bearer client-key" >/dev/null
want="Basic $(printf %s 'env-user:env:pass' | base64)"
check "basic credentials from the environment: exact base64 ($(last "$D" .authorization))" \
    test "$(last "$D" .authorization)" = "$want"
check "... and the base path /api ($(last "$D" .path))" test "$(last "$D" .path)" = "/api/models"
via "$F_NONE" /models -H "Authorization: Bearer client-key" >/dev/null
check "auth none passes the client's Authorization through ($(last "$C" .authorization))" \
    test "$(last "$C" .authorization)" = "Bearer client-key"
via "$F_NONE" /models >/dev/null
check "auth none adds nothing when the client sent nothing" test "$(last "$C" .authorization)" = null
check "rendered files hold no secret" bash -c '! grep -rqE "sk-e2e-token|env-user|env:pass" "$1"' _ "$T/out"

# ---- header operations and User-Agent ------------------------------------------------
via "$F_BEAR" /models -H "X-Org: client-org" -H "X-Debug: 1" -H "X-Debug: 2" \
    -H "x-llmproxy-id: forged" -A "client-ua/9" >/dev/null
check "insert adds a missing header ($(hdr "$A" x-team))" test "$(hdr "$A" x-team)" = ml
check "replace overwrites the client's value ($(hdr "$A" x-org))" test "$(hdr "$A" x-org)" = org-1
check "remove deletes every occurrence" test "$(hdr_count "$A" x-debug)" = 0
check "the internal id header never leaves" test "$(hdr_count "$A" x-llmproxy-id)" = 0
check "User-Agent is the configured one ($(last "$A" .user_agent))" \
    test "$(last "$A" .user_agent)" = "e2e-agent/1.0"
check "... exactly once" test "$(hdr_count "$A" user-agent)" = 1
via "$F_BEAR" /models -H "X-Team: mine" -H "X-Org: client-org" >/dev/null
check "insert keeps the client's value ($(hdr "$A" x-team))" test "$(hdr "$A" x-team)" = mine
check "replace adds when absent and overwrites when present" test "$(hdr_count "$A" x-org)" = 1
via "$F_NONE" /models -A "client-ua/9" >/dev/null
check "default User-Agent LLMProxy/1.0 ($(last "$C" .user_agent))" \
    test "$(last "$C" .user_agent)" = "LLMProxy/1.0"
check "header operations of one upstream do not leak to another" test "$(hdr_count "$C" x-team)" = 0

# ---- one forward, one group ----------------------------------------------------------
mock_reset "$A" "$B" "$C" "$D"
for p in "$F_BEAR" "$F_BASIC" "$F_BASIC" "$F_NONE" "$F_NONE" "$F_NONE"; do via "$p" /models >/dev/null; done
counts="$(mock_count "$A") $(mock_count "$B") $(mock_count "$C") $(mock_count "$D")"
check "each forward reaches only its own group (a b c d: $counts)" test "$counts" = "1 2 3 0"
check "the answer names the group's upstream" \
    bash -c "[ \"\$(curl -s -m 5 http://127.0.0.1:$F_BASIC/models | jq -r '.data[0].owned_by')\" = b ]"

# ---- large bodies ----------------------------------------------------------------------
head -c 1048576 /dev/urandom | base64 -w 0 | head -c 1048576 >"$T/big-req"
mock_reset "$A"
st=$(via "$F_BEAR" /chat/completions --data-binary @"$T/big-req" -H 'Content-Type: application/json')
check "a 1 MiB request body is answered 200 ($st)" test "$st" = 200
check "... and reaches the upstream whole ($(last "$A" .body_len) bytes)" test "$(last "$A" .body_len)" = 1048576
st=$(via "$F_NONE" /chat/completions --data-binary @"$T/big-req" -H 'Transfer-Encoding: chunked')
check "a 1 MiB chunked request body reaches the upstream whole ($st, $(last "$C" .body_len) bytes)" \
    test "$st:$(last "$C" .body_len)" = 200:1048576
N=$((10 * 1048576))
want=$(yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c "$N" | sha256sum | cut -d' ' -f1)
for p in "$F_BEAR" "$F_NONE"; do
    curl -s -m 30 -o "$T/big-resp" "http://127.0.0.1:$p/big?bytes=$N"
    size=$(wc -c <"$T/big-resp")
    got=$(sha256sum "$T/big-resp" | cut -d' ' -f1)
    check "a 10 MiB response arrives intact on port $p ($size bytes)" \
        test "$got" = "$want" -a "$size" -eq "$N"
done
finish
