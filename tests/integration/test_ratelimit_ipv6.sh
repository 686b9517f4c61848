#!/usr/bin/env bash
# IPv6 clients are rate limited per network, not per address. HAProxy on loopback can only
# give ::1, so spop_bench plays HAProxy against the real agent and sends `pick` NOTIFYs from
# many IPv6 sources (per_second 1, burst 5 on every forward):
#   - 200 addresses of one /64 share one bucket: about 5 pass, not 200;
#   - 200 addresses in each of two /64s: each network has its own bucket, about 10 pass;
#   - with ipv6_prefix: 128, each of 200 addresses is its own client: all 200 pass;
#   - the table holds one bucket per network, not one per address.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

BENCH=$BUILD/tools/spop_bench
read -r FWD1 FWD2 FWD3 SPOP LOGS ADMIN < <(free_ports 6 | xargs)
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
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:1/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
YAML

spawn agent "$AGENT" -c "$T/config.yaml"
wait_port "$SPOP" && wait_port "$ADMIN" || { fail "the agent did not start"; finish; }

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

stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
