#!/usr/bin/env bash
# The rendered data path picks upstreams the way each strategy says: round robin, smooth
# weighted round robin, random spread and failover, seen both by the client (the mock's
# name in the answer) and by the upstreams (each mock's request records).
source "$(dirname "$0")/lib.sh"

read -r A B C F_RR F_WRR F_RND F_FO SPOP LOGS ADMIN < <(free_ports 10 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: rr, address: 127.0.0.1, port: $F_RR, upstream_group: rr}
    - {name: wrr, address: 127.0.0.1, port: $F_WRR, upstream_group: wrr}
    - {name: rnd, address: 127.0.0.1, port: $F_RND, upstream_group: rnd}
    - {name: fo, address: 127.0.0.1, port: $F_FO, upstream_group: fo}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
  - {name: c, url: "http://127.0.0.1:$C/v1"}
upstream_groups:
  - name: rr
    upstreams: [{name: a}, {name: b}, {name: c}]
    balance: {strategy: roundrobin}
  - name: wrr
    upstreams: [{name: a, weight: 5}, {name: b, weight: 1}, {name: c, weight: 1}]
    balance: {strategy: weighted_roundrobin}
  - name: rnd
    upstreams: [{name: a}, {name: b}, {name: c}]
    balance: {strategy: random}
  - name: fo
    upstreams: [{name: a}, {name: b}, {name: c}]
    balance: {strategy: failover}
    http_client: {retry: {enabled: true, attempts: 2, initial: 10}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
start_mock c "$C" || finish
start_stack "$T/config.yaml" || finish

# names PORT N: N sequential chat completions on a forward; prints the answering mocks'
# names (the mock puts its name in the completion), or the status when not 200.
names() {
    local port=$1 n=$2 i
    for i in $(seq "$n"); do
        curl -s -m 5 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$port/chat/completions" \
            -d '{"model":"m","messages":[]}' >"$T/code"
        if [ "$(cat "$T/code")" = 200 ]; then jq -r '.choices[0].message.content' "$T/body"; else cat "$T/code"; echo; fi
    done | xargs
}
ALL="$A:a $B:b $C:c"

mock_reset "$A" "$B" "$C"
got=$(names "$F_RR" 6)
check "roundrobin, client side: a b c a b c (got: $got)" test "$got" = "a b c a b c"
up=$(arrival_order $ALL)
check "roundrobin, upstream side: a b c a b c (got: $up)" test "$up" = "a b c a b c"

mock_reset "$A" "$B" "$C"
got=$(names "$F_WRR" 7)
check "smooth weighted 5,1,1, client side: a a b a c a a (got: $got)" test "$got" = "a a b a c a a"
up=$(arrival_order $ALL)
check "smooth weighted 5,1,1, upstream side: a a b a c a a (got: $up)" test "$up" = "a a b a c a a"

mock_reset "$A" "$B" "$C"
got=$(names "$F_RND" 60)
nb=$(grep -o b <<<"$got" | wc -l); nc=$(grep -o c <<<"$got" | wc -l)
na=$(grep -o a <<<"$got" | wc -l)
check "random, client side: 60 answers spread over a b c ($na/$nb/$nc)" \
    test $((na + nb + nc)) -eq 60 -a "$na" -gt 0 -a "$nb" -gt 0 -a "$nc" -gt 0
ra=$(mock_count "$A"); rb=$(mock_count "$B"); rc=$(mock_count "$C")
check "random, upstream side: the records match ($ra/$rb/$rc)" \
    test "$ra" -eq "$na" -a "$rb" -eq "$nb" -a "$rc" -eq "$nc"

mock_reset "$A" "$B" "$C"
got=$(names "$F_FO" 4)
check "failover, client side: a while it answers (got: $got)" test "$got" = "a a a a"
check "failover, upstream side: only a was asked" \
    test "$(arrival_order $ALL)" = "a a a a"

# A stopped. Without the log feed the agent does not learn failures and nothing health
# checks the upstreams, so the agent still picks a: the listener's connect error becomes a
# 502 that the group's L7 retry (retry-on 502, option redispatch 1) sends to the next
# server of `balance first` that is not a. So the client sees b, b is the only one asked.
stop_pid "$PID_mock_a"
mock_reset "$B" "$C"
got=$(names "$F_FO" 4)
check "failover, a stopped, client side: b answers after a retry (got: $got)" test "$got" = "b b b b"
up=$(arrival_order "$B:b" "$C:c")
check "failover, a stopped, upstream side: only b was asked (got: $up)" test "$up" = "b b b b"

start_mock a "$A" || finish
got=$(names "$F_FO" 2)
check "failover, a back: traffic returns to a (got: $got)" test "$got" = "a a"

# response_aware learns from the log feed: test_e2e_response_aware.sh.
finish
