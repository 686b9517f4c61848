#!/usr/bin/env bash
# response_aware keeps learning: an upstream that was slow is still probed now and then
# (at most one pick in 11 here), so once it becomes fast it is found again within a few
# sequential requests, while in a steady state the fast upstream keeps the large majority.
source "$(dirname "$0")/lib.sh"

read -r FAST SLOW FWD SPOP LOGS ADMIN < <(free_ports 6 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: ra, address: 127.0.0.1, port: $FWD, upstream_group: ra}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: slow, url: "http://127.0.0.1:$SLOW/v1"}
  - {name: fast, url: "http://127.0.0.1:$FAST/v1"}
upstream_groups:
  - name: ra
    upstreams: [{name: slow}, {name: fast}]
    balance: {strategy: response_aware}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock fast "$FAST" --delay-ms 10 || finish
start_mock slow "$SLOW" --delay-ms 300 || finish
start_stack "$T/config.yaml" || finish

# sequential N: N chat completions one after the other; prints how many answered 200.
sequential() {
    local ok=0
    for _ in $(seq "$1"); do
        [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -d '{"model":"m","messages":[]}' \
            "http://127.0.0.1:$FWD/v1/chat/completions")" = 200 ] && ok=$((ok + 1))
    done
    echo "$ok"
}

# Both are measured first (unmeasured upstreams are tried first).
sequential 4 >/dev/null
mock_reset "$FAST" "$SLOW"
ok=$(sequential 60)
nf=$(mock_count "$FAST"); ns=$(mock_count "$SLOW")
check "steady state: 60 requests answered 200 ($ok)" test "$ok" -eq 60
check "steady state: the fast upstream got at least 80 % (fast $nf, slow $ns)" \
    test "$nf" -ge 48
check "... and the slow one was still probed (slow $ns)" test "$ns" -ge 1

# The slow upstream becomes the fastest: it must win traffic back within 40 requests.
mock_config "$SLOW" delay_ms=1
mock_reset "$FAST" "$SLOW"
ok=$(sequential 40)
nf=$(mock_count "$FAST"); ns=$(mock_count "$SLOW")
check "after the change: 40 requests answered 200 ($ok)" test "$ok" -eq 40
check "the recovered upstream got a fair share of the next 40 (slow $ns, fast $nf)" \
    test "$ns" -ge 16
mock_reset "$FAST" "$SLOW"
sequential 40 >/dev/null
nf=$(mock_count "$FAST"); ns=$(mock_count "$SLOW")
check "... and then the large majority (slow $ns, fast $nf)" test "$ns" -ge 32
finish
