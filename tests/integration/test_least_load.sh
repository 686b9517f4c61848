#!/usr/bin/env bash
# least_load against two engines of unequal speed (tests/tools/mock_upstream in engine mode:
# 4 slots each, 20 ms against 100 ms a completion, the rest queued), under the same load of
# 16 concurrent clients as roundrobin: the agent reads each engine's queue from its vLLM
# metrics page and sends more to the faster one, so the slow one's queue stays shorter and
# the load ends sooner. An engine whose metrics page cannot be read is still served, judged
# by HAProxy's requests in flight, and the failed scrapes are counted.
source "$(dirname "$0")/lib.sh"

read -r FAST SLOW FWD_LL FWD_RR FWD_BAD SPOP LOGS ADMIN < <(free_ports 8 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: ll, address: 127.0.0.1, port: $FWD_LL, upstream_group: ll}
    - {name: rr, address: 127.0.0.1, port: $FWD_RR, upstream_group: rr}
    - {name: blind, address: 127.0.0.1, port: $FWD_BAD, upstream_group: blind}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: fast, url: "http://127.0.0.1:$FAST/v1"}
  - {name: slow, url: "http://127.0.0.1:$SLOW/v1"}
upstream_groups:
  - name: ll
    upstreams: [{name: slow}, {name: fast}]
    balance: {strategy: least_load}
    engine: {type: vllm, interval_ms: 100}
  - name: rr
    upstreams: [{name: slow}, {name: fast}]
  - name: blind
    upstreams: [{name: slow}, {name: fast}]
    balance: {strategy: least_load}
    engine: {type: vllm, metrics_path: /no/such/page, interval_ms: 100}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock fast "$FAST" --slots 4 --service-ms 20 || finish
start_mock slow "$SLOW" --slots 4 --service-ms 100 || finish
start_stack "$T/config.yaml" || finish

# The agent has read both pages (at least one good scrape each) before the load starts.
scrapes_ok() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v u="$1" '$1 ~ /^llmproxy_engine_scrapes_total\{/ && $1 ~ "group=\"ll\"" &&
                       $1 ~ "upstream=\""u"\"" && $1 ~ /result="ok"/ { n += $2 }
                       END { print n + 0 }'
}
both_scraped() { [ "$(scrapes_ok fast)" -gt 0 ] && [ "$(scrapes_ok slow)" -gt 0 ]; }
wait_until 10 both_scraped
check "the agent scraped both engines' metrics pages" both_scraped

# completions PORT: the chat completions a mock received since its reset (HAProxy's health
# checks are not counted).
completions() { mock_records "$1" '[.[] | select(.path | contains("/chat/completions"))] | length'; }

# load NAME PORT: 160 completions, 16 at a time, while the slow engine's queue is sampled
# every 20 ms. Sets ok, nf and ns (answered 200, at fast, at slow), maxq (the slow engine's
# longest queue seen), secs (how long the load took) and ttfb (mean time to first byte, ms).
load() {
    local name=$1 port=$2 start
    mock_reset "$FAST" "$SLOW"
    spawn "poll_$name" bash -c "while :; do curl -s -m 1 http://127.0.0.1:$SLOW/metrics |
        awk '\$1 ~ /^vllm:num_requests_waiting/ {print \$2}'; sleep 0.02; done"
    local poll_var=PID_poll_$name
    start=$(date +%s%N)
    curl -s --no-progress-meter --parallel --parallel-max 16 -m 60 -o /dev/null \
        -w '%{http_code} %{time_starttransfer}\n' -d '{"model":"m","messages":[]}' \
        "http://127.0.0.1:$port/v1/chat/completions?n=[1-160]" >"$T/load.$name"
    secs=$(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.2f", (e - s) / 1e9 }')
    kill "${!poll_var}" 2>/dev/null
    ok=$(grep -c '^200 ' "$T/load.$name")
    ttfb=$(awk '{ t += $2 } END { printf "%.0f", NR ? t * 1000 / NR : 0 }' "$T/load.$name")
    maxq=$(awk 'BEGIN { m = 0 } $1 + 0 > m { m = $1 + 0 } END { print m }' "$T/poll_$name.log")
    nf=$(completions "$FAST")
    ns=$(completions "$SLOW")
    log "$name: 200s $ok/160, fast $nf, slow $ns, slow queue max $maxq, ${secs}s, mean TTFB ${ttfb} ms"
}

load rr "$FWD_RR"
rr_ok=$ok rr_ns=$ns rr_maxq=$maxq rr_secs=$secs rr_ttfb=$ttfb
check "roundrobin: all 160 answered 200 ($rr_ok)" test "$rr_ok" -eq 160
check "roundrobin: the slow engine got half ($rr_ns)" test "$rr_ns" -ge 70 -a "$rr_ns" -le 90

load ll "$FWD_LL"
check "least_load: all 160 answered 200 ($ok)" test "$ok" -eq 160
check "least_load: the fast engine got at least two thirds (fast $nf, slow $ns)" \
    test "$nf" -ge 107
check "least_load: the slow engine's queue stayed shorter than under roundrobin ($maxq < $rr_maxq)" \
    test "$maxq" -lt "$rr_maxq"
check "least_load: the same load ended sooner (${secs}s < ${rr_secs}s)" \
    awk -v a="$secs" -v b="$rr_secs" 'BEGIN { exit !(a < b) }'
check "least_load: mean time to first byte lower (${ttfb} ms < ${rr_ttfb} ms)" \
    test "$ttfb" -lt "$rr_ttfb"

# The agent's view of the engines is on /metrics.
curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"
check "engine gauges are exported per upstream" \
    grep -Eq '^llmproxy_engine_requests_waiting\{group="ll",upstream="slow"\} [0-9.]+$' "$T/metrics"

# A page that cannot be read: failed scrapes are counted, requests still served by
# HAProxy's count in flight.
load blind "$FWD_BAD"
check "unreadable pages: all 160 answered 200 ($ok)" test "$ok" -eq 160
check "unreadable pages: failed scrapes counted" bash -c \
    "curl -s -m 5 http://127.0.0.1:$ADMIN/metrics |
     grep -Eq '^llmproxy_engine_scrapes_total\\{group=\"blind\",upstream=\"(fast|slow)\",result=\"failed\"\\} [1-9]'"
finish
