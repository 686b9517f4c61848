#!/usr/bin/env bash
# Retries through the rendered data path: a refused connection is retried on another
# upstream; a 503 is retried `attempts` times on a single upstream with the agent's
# backoff (initial, then 2 x initial); a 400 and a response timeout are never retried.
source "$(dirname "$0")/lib.sh"

read -r GOOD FAIL503 BAD400 HANG DEAD F_FO F_503 F_400 F_HANG SPOP LOGS ADMIN < <(free_ports 12 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: fo, address: 127.0.0.1, port: $F_FO, upstream_group: fo}
    - {name: s503, address: 127.0.0.1, port: $F_503, upstream_group: s503}
    - {name: s400, address: 127.0.0.1, port: $F_400, upstream_group: s400}
    - {name: shang, address: 127.0.0.1, port: $F_HANG, upstream_group: shang}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: dead, url: "http://127.0.0.1:$DEAD/v1"}
  - {name: good, url: "http://127.0.0.1:$GOOD/v1"}
  - {name: u503, url: "http://127.0.0.1:$FAIL503/v1"}
  - {name: u400, url: "http://127.0.0.1:$BAD400/v1"}
  - {name: hang, url: "http://127.0.0.1:$HANG/v1"}
upstream_groups:
  - name: fo
    upstreams: [{name: dead}, {name: good}]
    balance: {strategy: roundrobin}
    http_client: {retry: {enabled: true, attempts: 2, initial: 100}}
  - name: s503
    upstreams: [{name: u503}]
    http_client: {retry: {enabled: true, attempts: 2, initial: 150}}
  - name: s400
    upstreams: [{name: u400}]
    http_client: {retry: {enabled: true, attempts: 2, initial: 100}}
  - name: shang
    upstreams: [{name: hang}]
    http_client: {timeout: {request: 1}, retry: {enabled: true, attempts: 2, initial: 100}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

start_mock good "$GOOD" || finish
start_mock u503 "$FAIL503" --status 503 || finish
start_mock u400 "$BAD400" --status 400 || finish
start_mock hang "$HANG" --fail-mode hang || finish
start_stack "$T/config.yaml" || finish

post() { # PORT: one chat completion; prints "<status> <seconds>"
    curl -s -m 10 -o "$T/body" -w '%{http_code} %{time_total}\n' \
        -d '{"model":"m","messages":[]}' "http://127.0.0.1:$1/v1/chat/completions"
}

# Round robin picks `dead` first (nothing listens there): its pinned backend tries it, and
# the retry goes to `good`'s listener.
read -r code _ < <(post "$F_FO")
check "a refused connection is retried on the other upstream (status $code)" test "$code" = 200
check "the other upstream answered it once ($(mock_count "$GOOD"))" test "$(mock_count "$GOOD")" -eq 1
check "HAProxy logged one retry with redispatch for it, from dead's pinned backend" \
    wait_until 5 grep -qE '^LLMR4 .* fo fo - - POST 200 .* \+1 retry:good pin_fo__dead ' "$T/haproxy.log"

# A single upstream answering 503: tried 1 + 2 times, 150 ms then 300 ms apart.
read -r code secs < <(post "$F_503")
check "the upstream's 503 reaches the client after the retries (status $code)" test "$code" = 503
check "the 503 body is the upstream's own" \
    bash -c "jq -e '.error' '$T/body' >/dev/null"
n=$(mock_count "$FAIL503")
check "a 503 is tried attempts + 1 = 3 times (got $n)" test "$n" -eq 3
read -r g1 g2 < <(mock_records "$FAIL503" '[.[].arrival_ms] | "\(.[1] - .[0]) \(.[2] - .[1])"')
check "backoff before retry 1 is ~150 ms (got ${g1} ms)" test "$g1" -ge 140 -a "$g1" -lt 400
check "backoff before retry 2 is ~300 ms (got ${g2} ms)" test "$g2" -ge 290 -a "$g2" -lt 600

# A 400 is the client's problem: never retried.
read -r code _ < <(post "$F_400")
check "a 400 is relayed (status $code)" test "$code" = 400
check "a 400 is never retried ($(mock_count "$BAD400") request)" test "$(mock_count "$BAD400")" -eq 1

# A slow generation is not retried and billed twice: a response timeout ends with 504.
read -r code secs < <(post "$F_HANG")
check "a response timeout gives 504 (status $code after ${secs}s)" test "$code" = 504
check "a response timeout is never retried ($(mock_count "$HANG") request)" \
    test "$(mock_count "$HANG")" -eq 1
finish
