#!/usr/bin/env bash
# The agent's per-(forward, client IP) token bucket through the rendered data path:
# burst passes, the next request is a JSON 429 with Retry-After that never reaches the
# upstream, other forwards and other client addresses keep their own buckets, tokens refill.
source "$(dirname "$0")/lib.sh"

read -r A F1 F2 SPOP LOGS ADMIN < <(free_ports 6 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - name: one
      address: 127.0.0.1
      port: $F1
      upstream_group: g
      ratelimit: {enabled: true, per_second: 1, burst: 4}
    - name: two
      address: 127.0.0.1
      port: $F2
      upstream_group: g
      ratelimit: {enabled: true, per_second: 2, burst: 4}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_stack "$T/config.yaml" || finish

# burst PORT N [CURL ARGS...]: N requests back to back on one connection; the statuses.
burst() {
    local port=$1 n=$2 i urls=()
    shift 2
    for i in $(seq "$n"); do urls+=(-o /dev/null "http://127.0.0.1:$port/models"); done
    curl -s -m 10 -w "%{http_code}\n" "$@" "${urls[@]}" | xargs
}

mock_reset "$A"
got=$(burst "$F1" 5)
check "burst 4 from one address: 4 pass, the 5th is limited (got: $got)" \
    test "$got" = "200 200 200 200 429"
check "the upstream saw only the 4 that passed ($(mock_count "$A"))" test "$(mock_count "$A")" = 4
curl -s -m 5 -D "$T/h" -o "$T/b" "http://127.0.0.1:$F1/models"
check "429 carries Retry-After: 1 (one token takes 1 s)" grep -qix 'retry-after: 1.' "$T/h"
check "429 is application/json" grep -qi '^content-type: application/json' "$T/h"
check "429 body is the OpenAI error shape" \
    test "$(jq -r '.error.code + " " + .error.type' "$T/b")" = "rate_limit_exceeded rate_limit_error"

got=$(burst "$F2" 4)
check "another forward has its own bucket (got: $got)" test "$got" = "200 200 200 200"
got=$(burst "$F1" 4 --interface 127.0.0.2)
check "another client address has its own bucket (got: $got)" test "$got" = "200 200 200 200"
got=$(burst "$F1" 1)
check "the first address is still limited (got: $got)" test "$got" = 429

# The last 429 left less than one token; 2.1 s at 1 per second brings back 2.1 more: at
# least two requests pass, and the bucket is empty again before the fourth.
sleep 2.1
got=$(burst "$F1" 4)
check "tokens refill at per_second (after 2.1 s: $got)" \
    bash -c "[[ '$got' =~ ^200\ 200\ (200|429)\ 429$ ]]"
finish
