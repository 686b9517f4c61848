#!/usr/bin/env bash
# IPv6 clients are rate limited per network, not per address. HAProxy on loopback can only
# give ::1, so spop_bench plays HAProxy against the real agent and sends `pick` NOTIFYs from
# many IPv6 sources (per_second 1, burst 5 on every forward):
#   - 200 addresses of one /64 share one bucket: about 5 pass, not 200;
#   - 200 addresses in each of two /64s: each network has its own bucket, about 10 pass;
#   - with ipv6_prefix: 128, each of 200 addresses is its own client: all 200 pass;
#   - the table holds one bucket per network, not one per address.
# Then through HAProxy: on a dual-stack listener ([::]) HAProxy sends an IPv4 client as an
# IPv4-mapped IPv6 src (::ffff:127.0.0.1), which must stay one client per IPv4 address,
# not be cut to the /64 that every IPv4 client shares.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

BENCH=$BUILD/tools/spop_bench
read -r UP FWD1 FWD2 FWD3 DUAL SPOP LOGS ADMIN < <(free_ports 8 | xargs)
RATE=1
BURST=5

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: one_net, address: 127.0.0.1, port: $FWD1, upstream_group: g,
       ratelimit: {enabled: true, per_second: $RATE, burst: $BURST}}
    - {name: two_nets, address: 127.0.0.1, port: $FWD2, upstream_group: g,
       ratelimit: {enabled: true, per_second: $RATE, burst: $BURST, ipv6_prefix: 64}}
    - {name: per_address, address: 127.0.0.1, port: $FWD3, upstream_group: g,
       ratelimit: {enabled: true, per_second: $RATE, burst: $BURST, ipv6_prefix: 128}}
    - {name: dual_stack, address: "::", port: $DUAL, upstream_group: g,
       ratelimit: {enabled: true, per_second: $RATE, burst: $BURST}}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$UP/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$UP" || finish
start_stack "$T/config.yaml" || finish

# picks NAME FORWARD SOURCES HOSTS_PER_NET: one IPv6 pick per source, 20 in flight as HAProxy
# sends them; the key=value report in $T/bench.NAME.
picks() {
    "$BENCH" -p "$SPOP" -f "$2" -d 20 -n "$3" --distinct-ips "$3" --ipv6 --ipv6-hosts "$4" \
        --kv >"$T/bench.$1" 2>&1
}
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $(cat "$T/bench.$1")"; }
# passed_within NAME NETS: every pick was answered and NETS buckets passed at least their
# burst and at most their burst plus what refills while the run lasts (and a second more).
passed_within() {
    local pass seconds
    pass=$(kv "$1" pass) seconds=$(kv "$1" seconds)
    [ "$(kv "$1" answered)" = "$(kv "$1" sent)" ] && [ "$(kv "$1" errors)" = 0 ] &&
        awk -v p="$pass" -v s="$seconds" -v n="$2" -v b="$BURST" -v r="$RATE" \
            'BEGIN { exit !(p >= n * b && p <= n * (b + r * (s + 1))) }'
}

check "agent: 200 sources of one /64 ran" picks one one_net 200 200
check "one /64 shares one bucket: $(kv one pass) of 200 passed, $(kv one limited) limited (burst $BURST)" \
    passed_within one 1
check "agent: 200 sources in each of two /64s ran" picks two two_nets 400 200
check "two /64s have a bucket each: $(kv two pass) of 400 passed (2 x burst $BURST)" \
    passed_within two 2
check "agent: 200 sources of one /64 with ipv6_prefix 128 ran" picks full per_address 200 200
check "ipv6_prefix 128 keeps one bucket per address: $(kv full pass) of 200 passed" \
    test "$(kv full pass)" = 200
n=$(metric llmproxy_ratelimit_clients)
check "the table holds 1 + 2 + 200 buckets, not 800 ($n)" test "$n" = 203

# burst_from SOURCE N: N requests to the dual-stack forward from 127.0.0.1 to SOURCE, on
# one connection; their statuses.
burst_from() {
    local i urls=()
    for i in $(seq "$2"); do urls+=(-o /dev/null "http://127.0.0.1:$DUAL/v1/models"); done
    curl -s -m 10 -w "%{http_code}\n" --interface "$1" "${urls[@]}" | xargs
}
want="$(printf '200 %.0s' $(seq $BURST))429"
got=$(burst_from 127.0.0.1 $((BURST + 1)))
check "dual-stack listener: 127.0.0.1 gets its burst, then 429 (got: $got)" test "$got" = "$want"
got=$(burst_from 127.0.0.2 1)
check "... 127.0.0.2 is another client, not the same IPv4-mapped /64 (got: $got)" test "$got" = 200

stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
