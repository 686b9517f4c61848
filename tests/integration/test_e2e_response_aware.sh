#!/usr/bin/env bash
# response_aware through the rendered data path: the agent learns each upstream's response
# time from HAProxy's log feed, and under concurrent load sends most requests to the
# faster of two upstreams (10 ms vs 200 ms), while still having tried both. It keeps
# learning: the slow upstream is still probed now and then (at most one pick in 11), so
# once it becomes the fastest it wins its traffic back within a few sequential requests,
# while in a steady state the fast upstream keeps the large majority.
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
start_mock slow "$SLOW" --delay-ms 200 || finish
start_stack "$T/config.yaml" || finish

# 80 chat completions, 4 at a time.
curl -s --no-progress-meter --parallel --parallel-max 4 -m 30 -o /dev/null -w '%{http_code}\n' \
    -d '{"model":"m","messages":[]}' "http://127.0.0.1:$FWD/v1/chat/completions?n=[1-80]" \
    >"$T/codes"
ok=$(grep -c '^200$' "$T/codes")
check "all 80 requests answered 200 (got $ok)" test "$ok" -eq 80
nf=$(mock_count "$FAST")
ns=$(mock_count "$SLOW")
check "both upstreams were tried (fast $nf, slow $ns)" test "$nf" -gt 0 -a "$ns" -gt 0
check "most traffic went to the faster upstream (fast $nf, slow $ns)" \
    test "$nf" -ge $(((nf + ns) * 3 / 4))

# The agent's view agrees: the fast upstream's EMA is well below the slow one's.
ema() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v u="$1" '$1 ~ "^llmproxy_upstream_response_time_ema_seconds\\{" && $1 ~ "upstream=\""u"\"" {print $2}'
}
ef=$(ema fast); es=$(ema slow)
check "the agent measured fast ($ef s) faster than slow ($es s)" \
    awk -v f="$ef" -v s="$es" 'BEGIN { exit !(f != "" && s != "" && f < 0.1 && s > 0.15) }'

# share N: N chat completions one after the other, counted afresh at each mock: sets ok
# (answered 200), nf and ns (requests at fast and slow).
share() {
    mock_reset "$FAST" "$SLOW"
    ok=0
    for _ in $(seq "$1"); do
        [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -d '{"model":"m","messages":[]}' \
            "http://127.0.0.1:$FWD/v1/chat/completions")" = 200 ] && ok=$((ok + 1))
    done
    nf=$(mock_count "$FAST")
    ns=$(mock_count "$SLOW")
}

share 60
check "steady state: 60 sequential requests answered 200 ($ok)" test "$ok" -eq 60
check "... the fast upstream got at least 80 % (fast $nf, slow $ns)" test "$nf" -ge 48
check "... and the slow one was still probed (slow $ns)" test "$ns" -ge 1

# The slow upstream becomes the fastest: it must win traffic back within 40 requests.
mock_config "$SLOW" delay_ms=1
share 40
check "after slow became 1 ms: 40 requests answered 200 ($ok)" test "$ok" -eq 40
check "... it got a fair share of them (slow $ns, fast $nf)" test "$ns" -ge 16
share 40
check "... and then the large majority (slow $ns, fast $nf)" test "$ns" -ge 32
finish
