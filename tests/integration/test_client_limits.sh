#!/usr/bin/env bash
# Per-client limits and per-client series, end to end: HAProxy names the client whose key
# matched, the agent spends that client's own bucket wherever its requests come from, and
# the request lines carry the client into /metrics and /status. Client `alpha` has its own
# limit (burst 2, 1 per second); `bravo` has none, so the forward's per-address limit
# (generous here) applies to it; forward `open` has no client_auth (client "anonymous").
source "$(dirname "$0")/lib.sh"

read -r A F_KEYS F_OPEN ADMIN < <(free_ports 4 | xargs)
export ALPHA_KEY=llmp-alpha-0123456789abcdef BRAVO_KEY=llmp-bravo-0123456789abcdef

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - name: keys
      address: 127.0.0.1
      port: $F_KEYS
      upstream_group: g
      client_auth: true
      ratelimit: {enabled: true, per_second: 1000, burst: 1000}
    - {name: open, address: 127.0.0.1, port: $F_OPEN, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
haproxy: {run_dir: "$T"}
clients:
  - {name: alpha, key: "\${ALPHA_KEY}", ratelimit: {per_second: 1, burst: 2}}
  - {name: bravo, key: "\${BRAVO_KEY}"}
YAML

start_mock a "$A" || finish
start_stack "$T/config.yaml" || finish

# ask PORT FROM [CURL ARGS...]: one request from source address FROM; prints the status.
ask() {
    local port=$1 from=$2
    shift 2
    curl -s -m 10 -o "$T/body" -D "$T/head" -w '%{http_code}' --interface "$from" "$@" \
        "http://127.0.0.1:$port/v1/chat/completions" -d '{"model":"m"}'
}

# Five requests of alpha's, from three addresses, faster than its refill of one a second:
# its bucket of 2 is one for all its addresses, so three get 429 (one more 200 for each
# whole second the five took, on a slow machine).
codes=""
started=$SECONDS
for from in 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.1 127.0.0.2; do
    codes+="$(ask "$F_KEYS" "$from" -H "x-api-key: $ALPHA_KEY") "
done
took=$((SECONDS - started))
A200=$(tr ' ' '\n' <<<"$codes" | grep -c '^200$')
A429=$(tr ' ' '\n' <<<"$codes" | grep -c '^429$')
check "alpha: its own bucket of 2, shared by its addresses ($codes in about ${took}s)" \
    test "$A200" -ge 2 -a "$A200" -le $((2 + took)) -a $((A200 + A429)) -eq 5
check "... the 429 says when to come back" grep -qi '^retry-after: [1-9]' "$T/head"
check "... in the OpenAI error shape" grep -q '"error"' "$T/body"

codes=""
for _ in 1 2 3 4 5; do codes+="$(ask "$F_KEYS" 127.0.0.1 -H "Authorization: Bearer $BRAVO_KEY") "; done
check "meanwhile bravo, from alpha's address, goes on ($codes)" test "$codes" = "200 200 200 200 200 "
codes=""
for _ in 1 2 3 4 5; do codes+="$(ask "$F_OPEN" 127.0.0.1) "; done
check "... and so does the forward without client_auth ($codes)" test "$codes" = "200 200 200 200 200 "
st=$(ask "$F_KEYS" 127.0.0.1 -H "x-api-key: llmp-nobody-0123456789abcdef")
check "an unknown key: 401 ($st)" test "$st" = 401

# The request lines reach the agent through the log feed: wait for all 16 of them.
metric() { # NAME{LABELS} (exact label set as printed): its value, 0 when absent
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
all_counted() {
    [ "$(metric 'llmproxy_client_requests_total{client="alpha",forward="keys",status_class="2xx"}')" = "$A200" ] &&
        [ "$(metric 'llmproxy_client_requests_total{client="bravo",forward="keys",status_class="2xx"}')" = 5 ] &&
        [ "$(metric 'llmproxy_client_requests_total{client="anonymous",forward="open",status_class="2xx"}')" = 5 ]
}
check "/metrics counts requests by client: alpha $A200, bravo 5, anonymous 5" wait_until 10 all_counted
check "... alpha's $A429 429s by client" \
    test "$(metric 'llmproxy_client_requests_total{client="alpha",forward="keys",status_class="4xx"}')" = "$A429" -a \
    "$(metric 'llmproxy_client_ratelimited_total{client="alpha",forward="keys"}')" = "$A429"
check "... bravo was never limited" \
    test "$(metric 'llmproxy_client_ratelimited_total{client="bravo",forward="keys"}')" = 0
check "... the 401 as unauthenticated" wait_until 5 test \
    "$(metric 'llmproxy_client_requests_total{client="unauthenticated",forward="keys",status_class="4xx"}')" = 1
check "... and no series names a key" \
    bash -c '! curl -s -m 5 "http://127.0.0.1:$1/metrics" | grep -q "llmp-"' _ "$ADMIN"

curl -s -m 5 "http://127.0.0.1:$ADMIN/status" >"$T/status.json"
check "/status lists alpha with its $A429 limited requests" \
    jq -e --argjson n "$A429" '.clients[] | select(.name == "alpha") | .limited == $n' "$T/status.json" >/dev/null
check "... and holds no key or hash" bash -c '! grep -qE "llmp-|[0-9a-f]{64}" "$1"' _ "$T/status.json"

finish
