#!/usr/bin/env bash
# The real client behind a load balancer (forward trusted_proxies): the rate limit bucket
# (and the request id in the log lines) follows the address a trusted peer reports, by
# X-Forwarded-For, Forwarded or the PROXY protocol v2 of a second HAProxy in front; what
# anyone else sends in those changes nothing. 127.0.0.1 is the trusted balancer; 127.0.0.2
# and up are other peers on the same loopback. Every bucket holds BURST requests and
# refills one a second, so a 429 right after a bucket was spent names that bucket.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

read -r UP XFF FWD PP LB LB_BAD SPOP LOGS ADMIN < <(free_ports 9 | xargs)
BURST=2
LIMIT="ratelimit: {enabled: true, per_second: 1, burst: $BURST}"

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: xff, address: 127.0.0.1, port: $XFF, upstream_group: g, $LIMIT,
       trusted_proxies: [127.0.0.1/32, "10.0.0.0/8"]}
    - {name: fwd, address: 127.0.0.1, port: $FWD, upstream_group: g, $LIMIT,
       trusted_proxies: [127.0.0.1], client_address_header: forwarded}
    - {name: pp, address: 127.0.0.1, port: $PP, upstream_group: g, $LIMIT,
       trusted_proxies: [127.0.0.1], proxy_protocol: true}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$UP/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

start_mock a "$UP" || finish
start_stack "$T/config.yaml" || finish
check "the trusted list is rendered as a file of networks" \
    test "$(xargs <"$T/out/trusted_xff.acl")" = "127.0.0.1/32 10.0.0.0/8"

# A load balancer in TCP mode that sends the PROXY protocol v2, from the trusted address
# (lb) and from an untrusted one (lb_bad).
cat >"$T/lb.cfg" <<CFG
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
listen lb
    bind 127.0.0.1:$LB
    server pp 127.0.0.1:$PP send-proxy-v2 source 127.0.0.1
listen lb_bad
    bind 127.0.0.1:$LB_BAD
    server pp 127.0.0.1:$PP send-proxy-v2 source 127.0.0.2
CFG
spawn lb "$HAPROXY" -db -f "$T/lb.cfg"
wait_port "$LB" && wait_port "$LB_BAD" || { fail "the balancer did not start"; finish; }

# req PORT [CURL ARGS...]: one request's status.
req() {
    local port=$1
    shift
    curl -s -m 5 -o /dev/null -w "%{http_code}" "$@" "http://127.0.0.1:$port/models"
}
# statuses PORT N [CURL ARGS...]: N requests, one connection each; their statuses.
statuses() {
    local port=$1 n=$2 i out=()
    shift 2
    for i in $(seq "$n"); do out+=("$(req "$port" "$@")"); done
    echo "${out[*]}"
}
SPENT="$(printf '200 %.0s' $(seq $BURST))429"

# ---- X-Forwarded-For ----
got=$(statuses "$XFF" $((BURST + 1)) --interface 127.0.0.2 -H "X-Forwarded-For: 198.51.100.9")
check "untrusted peer: its own bucket is spent by its own requests (got: $got)" test "$got" = "$SPENT"
got=$(req "$XFF" --interface 127.0.0.2 -H "X-Forwarded-For: 198.51.100.10")
check "... a forged X-Forwarded-For does not give it a fresh one (got: $got)" test "$got" = 429
got=$(req "$XFF" --interface 127.0.0.2 -H "X-Forwarded-For: 127.0.0.1, 198.51.100.11")
check "... nor does a whole forged chain (got: $got)" test "$got" = 429

got=$(statuses "$XFF" $((BURST + 1)) -H "X-Forwarded-For: 198.51.100.1")
check "trusted peer: client 198.51.100.1 spends its bucket (got: $got)" test "$got" = "$SPENT"
got=$(statuses "$XFF" $BURST -H "X-Forwarded-For: 198.51.100.2")
check "... client 198.51.100.2 behind the same peer has its own (got: $got)" \
    test "$got" = "$(printf '200 %.0s' $(seq $BURST) | xargs)"
got=$(req "$XFF" -H "X-Forwarded-For: 198.51.100.1, 10.1.2.3")
check "chain 'client, trusted1': the right-most untrusted is the client, 198.51.100.1 (got: $got)" \
    test "$got" = 429
got=$(req "$XFF" -H "X-Forwarded-For: 198.51.100.1, 198.51.100.3")
check "what the client wrote to the left of its address is not read (got: $got)" test "$got" = 200
got=$(req "$XFF" -H "X-Forwarded-For: 198.51.100.1" -H "X-Forwarded-For: 198.51.100.4")
check "the last of repeated headers counts (198.51.100.4, fresh; got: $got)" test "$got" = 200
got=$(statuses "$XFF" 2 -H "X-Forwarded-For: 198.51.100.1, garbage, 10.9.9.9")
check "an entry that is no address ends the walk: the client is 10.9.9.9, not skipped over (got: $got)" \
    test "$got" = "200 200"
got=$(req "$XFF")
check "the balancer's own requests (no header) keep the balancer's bucket (got: $got)" test "$got" = 200
n=$(grep -c "^LLMR4 C6336401:" "$T/haproxy.log")
check "the log lines name the client: $n request ids start with 198.51.100.1 (C6336401)" \
    test "$n" = $((BURST + 2))
check "... and none of the untrusted peer's forged addresses (C633640A)" \
    bash -c "! grep -q '^LLMR4 C633640[AB]:' '$T/haproxy.log'"

# ---- Forwarded ----
got=$(statuses "$FWD" $((BURST + 1)) -H 'Forwarded: for="[2001:db8::1]:4711";proto=https')
check "Forwarded: for=\"[2001:db8::1]:4711\" spends that client's bucket (got: $got)" \
    test "$got" = "$SPENT"
got=$(req "$FWD" -H 'Forwarded: for="[2001:DB8::2]"')
check "... 2001:db8::2 is the same /64 client (got: $got)" test "$got" = 429
got=$(req "$FWD" -H 'Forwarded: for="[2001:db8:0:1::1]"')
check "... 2001:db8:0:1::1 is another (got: $got)" test "$got" = 200
got=$(statuses "$FWD" $((BURST + 1)) -H 'Forwarded: for=192.0.2.60;proto=http, for=127.0.0.1')
check "Forwarded walks from the right past the trusted 127.0.0.1 (got: $got)" test "$got" = "$SPENT"
got=$(req "$FWD" -H 'Forwarded: for=192.0.2.60')
check "... to the client 192.0.2.60, whose bucket that spent (got: $got)" test "$got" = 429
got=$(statuses "$FWD" $BURST -H 'Forwarded: for=unknown' -H "X-Forwarded-For: 192.0.2.99")
check "an unknown for= and an X-Forwarded-For the balancer does not write leave the balancer (got: $got)" \
    test "$got" = "200 200"
got=$(req "$FWD" -H "X-Forwarded-For: 192.0.2.98")
check "... whose bucket that spent (got: $got)" test "$got" = 429
got=$(req "$FWD" --interface 127.0.0.2 -H 'Forwarded: for="[2001:db8:0:2::1]"')
check "an untrusted peer's Forwarded is ignored: its own bucket (got: $got)" test "$got" = 200
got=$(statuses "$FWD" $BURST --interface 127.0.0.2 -H 'Forwarded: for="[2001:db8:0:3::1]"')
check "... the same one (got: $got)" test "$got" = "200 429"

# ---- PROXY protocol v2 from HAProxy-as-client ----
got=$(statuses "$LB" $((BURST + 1)) --interface 127.0.0.3)
check "PROXY v2 through the balancer: client 127.0.0.3 spends its bucket (got: $got)" \
    test "$got" = "$SPENT"
got=$(req "$LB" --interface 127.0.0.4)
check "... client 127.0.0.4 through the same balancer has its own (got: $got)" test "$got" = 200
got=$(req "$LB" --interface 127.0.0.3 -H "X-Forwarded-For: 198.51.100.50")
check "... and 127.0.0.3, an untrusted client, cannot escape it by X-Forwarded-For (got: $got)" \
    test "$got" = 429
mock_reset "$UP"
got=$(req "$LB_BAD" --interface 127.0.0.5)
check "a PROXY v2 header from an untrusted peer is refused (got: $got)" test "$got" != 200
got=$(req "$PP" --interface 127.0.0.2 --haproxy-protocol)
check "... a PROXY v1 header as well: 400 (got: $got)" test "$got" = 400
got=$(req "$XFF" --haproxy-protocol)
check "... and on a forward without proxy_protocol, even from a trusted peer (got: $got)" \
    test "$got" = 400
check "none of them reached the upstream ($(mock_count "$UP"))" test "$(mock_count "$UP")" = 0
got=$(req "$PP" --interface 127.0.0.2)
check "an untrusted peer without PROXY header is served as itself (got: $got)" test "$got" = 200
got=$(req "$PP")
check "a trusted peer must send the PROXY header on a proxy_protocol forward (got: $got)" \
    test "$got" = 000

# The agent's table holds one bucket per client it was shown: on xff 127.0.0.2, 198.51.100.1
# to .4, 10.9.9.9 and 127.0.0.1; on fwd the /64s of 2001:db8::1 and 2001:db8:0:1::1,
# 192.0.2.60, 127.0.0.1 and 127.0.0.2; on pp 127.0.0.3, 127.0.0.4 and 127.0.0.2. None for
# an address only forged, nor one per balancer alone. A bucket idle past its refill (2 s)
# may have expired already on a slow host, so 15 is the most.
n=$(metric llmproxy_ratelimit_clients)
check "the metrics count the real clients: at most 15 buckets ($n)" test "$n" -ge 1 -a "$n" -le 15
# ... and forged addresses add none: an untrusted peer whose bucket was just made sends
# five more, each with a new X-Forwarded-For (expiry can only lower the count meanwhile).
req "$FWD" --interface 127.0.0.6 >/dev/null
before=$(metric llmproxy_ratelimit_clients)
for i in 1 2 3 4 5; do req "$FWD" --interface 127.0.0.6 -H "X-Forwarded-For: 203.0.113.$i" >/dev/null; done
after=$(metric llmproxy_ratelimit_clients)
check "forged X-Forwarded-For from an untrusted peer makes no bucket ($before -> $after)" \
    test "$after" -le "$before"

stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
