#!/usr/bin/env bash
# Per-client rate limit and counters, against a running agent (no HAProxy): spop_bench
# sends picks naming a client as a forward with client_auth does; the client with its own
# limit is refused past its burst whatever its addresses, another client and a name the
# configuration lacks are not; `llmproxy-ctl status` and /status show per-client counters
# and never a key or its hash; /metrics carries the client families.
source "$(dirname "$0")/lib.sh"

BENCH=$BUILD/tools/spop_bench
read -r FWD_PORT SPOP_PORT LOG_PORT ADMIN_PORT < <(free_ports 4 | xargs)
KEY_A=llmp-status-test-key-of-team-a-0123456789
HASH_A=$(printf %s "$KEY_A" | sha256sum | cut -d' ' -f1)
HASH_B=ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: keyed, address: 127.0.0.1, port: $FWD_PORT, upstream_group: g, client_auth: true}
  admin: {address: 127.0.0.1, port: $ADMIN_PORT}
upstreams:
  - {name: alpha, url: "http://127.0.0.1:1/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: alpha}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
clients:
  - {name: team-a, key: "\${KEY_A}", ratelimit: {per_second: 1, burst: 5}}
  - {name: team-b, key_sha256: $HASH_B}
YAML
export KEY_A

spawn agent "$AGENT" -c "$T/config.yaml"
wait_port "$ADMIN_PORT" || { fail "admin endpoint did not start"; finish; }

# 20 picks of team-a from 20 addresses: one bucket of 5 (a token a second besides).
bench() { # <file> <spop_bench options>: every pick answered, exit 0
    local out=$1
    shift
    "$BENCH" -p "$SPOP_PORT" -f keyed --kv "$@" >"$out" && grep -q ' errors=0' "$out"
}
kv() { grep -oE "(^| )$2=[0-9]+" "$1" | cut -d= -f2; }
check "team-a: 20 picks from 20 addresses answered" \
    bench "$T/a.kv" -n 20 --distinct-ips 20 --client team-a
check "team-b: 30 picks answered" bench "$T/b.kv" -n 30 --client team-b
check "ghost: 7 picks answered" bench "$T/ghost.kv" -n 7 --client ghost
cat "$T/a.kv" "$T/b.kv" "$T/ghost.kv"
check "team-a: refused past its burst (got $(kv "$T/a.kv" limited) of 20)" \
    test "$(kv "$T/a.kv" limited)" -ge 14
check "team-b and the unknown name: nothing refused" \
    test "$(kv "$T/b.kv" limited)$(kv "$T/ghost.kv" limited)" = 00

check "status --json exits 0" bash -c "'$CTL' status -c '$T/config.yaml' --json >'$T/status.json'"
holds() { jq -e "$1" "$T/status.json" >/dev/null; } # <jq expression> is true of /status
check "team-a: 20 requests, at least 14 limited whatever its addresses" \
    holds '.clients[] | select(.name=="team-a") | .requests == 20 and .limited >= 14 and
           .ratelimit == {"per_second":1,"burst":5}'
check "team-b (no limit of its own, none on the forward): 30 requests, none limited" \
    holds '.clients[] | select(.name=="team-b") | .requests == 30 and .limited == 0 and
           .ratelimit == null'
check "a name the configuration lacks is no client" holds '[.clients[].name] == ["team-a","team-b"]'
check "the forward counts team-a's 429s" \
    holds '.forwards[0].limited == (.clients[] | select(.name=="team-a") | .limited)'

check "status exits 0" bash -c "'$CTL' status -c '$T/config.yaml' >'$T/status.txt' 2>'$T/status.err'"
cat "$T/status.txt"
check "the clients table has its columns" \
    grep -qE '^  NAME +RATELIMIT +REQUESTS +LIMITED$' "$T/status.txt"
check "the clients table lists team-a" grep -qE '^  team-a +1/s burst 5 +20 +[0-9]+$' "$T/status.txt"
check "the clients table lists team-b" grep -qE '^  team-b +off +30 +0$' "$T/status.txt"
check "no key and no hash in the table or the document" bash -c \
    "! grep -qE '$KEY_A|$HASH_A|$HASH_B' '$T/status.txt' '$T/status.json'"

curl -s -m 5 -o "$T/metrics.txt" "http://127.0.0.1:$ADMIN_PORT/metrics"
check "/metrics has the client families" \
    grep -q '^# TYPE llmproxy_client_requests_total counter$' "$T/metrics.txt"
check "no key and no hash in /metrics" bash -c \
    "! grep -qE '$KEY_A|$HASH_A|$HASH_B' '$T/metrics.txt'"

stop_pid "$PID_agent"
check "agent exited cleanly on SIGTERM without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
check "no key and no hash in the agent's log" bash -c \
    "! grep -qE '$KEY_A|$HASH_A|$HASH_B' '$T/agent.log'"
finish
