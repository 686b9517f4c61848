#!/usr/bin/env bash
# make bench-agent: how fast llmproxy-agent answers `pick` over SPOP, and how much memory its
# rate-limit table costs. Method and reference figures: docs/benchmarks.md.
#
#   tests/bench/agent.sh [BUILD_DIR]        (default: build)
#
# Uses BUILD_DIR/llmproxy-agent and BUILD_DIR/tools/spop_bench, which the Makefile builds
# first; builds nothing itself. The agent runs on CPU 0 and spop_bench on CPU 1; the agent
# gets a throw-away configuration on free loopback ports. Runs:
#   1. throughput: 4 connections x depth 20, 1,000,000 picks (10 s at most)
#   2. latency:    1 connection x depth 1, 100,000 picks; again with spop_bench on the
#                  agent's CPU, which leaves out the cost of waking the other CPU
#   3. memory:     1,000,000 distinct client addresses through a rate-limited forward, on a
#                  fresh agent each for IPv4 and IPv6: VmRSS before and after
# Prints one table. Exits 1 when the agent cannot run or any pick got a bad answer. A figure
# off its target is flagged in the table but does not fail the run: it depends on the host.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
AGENT=$BUILD/llmproxy-agent
BENCH=$BUILD/tools/spop_bench

THROUGHPUT_TARGET=200000 # picks/s on one core
P99_TARGET_US=50
MEMORY_CLIENTS=1000000
RSS_SLACK_KB=4096 # connection buffers, libc arenas: what the agent may add beside the table

for bin in "$AGENT" "$BENCH"; do
    if [[ ! -x $bin ]]; then
        echo "agent.sh: $bin missing: run 'make O=$BUILD bench-agent'" >&2
        exit 1
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-bench.XXXXXX")
AGENT_PID=
BENCH_PID=
FAILED=0

stop_agent() {
    local pid=$AGENT_PID

    [[ -n $pid ]] || return 0
    AGENT_PID=
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    [[ -z $BENCH_PID ]] || kill -TERM "$BENCH_PID" 2>/dev/null || true
    stop_agent
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Pinning: the agent is single-threaded, so one core is what it gets in production too.
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    PIN_AGENT=(taskset -c 0)
    PIN_BENCH=(taskset -c 1)
    PINNING="agent on CPU 0, spop_bench on CPU 1"
else
    PIN_AGENT=()
    PIN_BENCH=()
    PINNING="not pinned (needs taskset and 2 CPUs): figures are pessimistic"
fi

# free_port and listening.
# shellcheck source=../lib/loadgen.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/loadgen.sh"

FORWARD_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SPOP_PORT=$(free_port)
LOGS_PORT=$(free_port)

cat >"$WORK/agent.yaml" <<EOF
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FORWARD_PORT, upstream_group: g,
       ratelimit: {enabled: true, per_second: 1000000, burst: 1000000}}
  admin: {address: 127.0.0.1, port: $ADMIN_PORT}
upstreams:
  - {name: a, url: "http://127.0.0.1:1", breaker: {threshold: 0.5, cooldown: 30}}
  - {name: b, url: "http://127.0.0.1:2", breaker: {threshold: 0.5, cooldown: 30}}
upstream_groups:
  - {name: g, upstreams: [{name: a}, {name: b}], balance: {strategy: response_aware}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOGS_PORT}
  ratelimit_max_clients: $MEMORY_CLIENTS
EOF

start_agent() {
    "${PIN_AGENT[@]}" "$AGENT" -c "$WORK/agent.yaml" >>"$WORK/agent.log" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do
        listening "$SPOP_PORT" && return 0
        kill -0 "$AGENT_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "agent.sh: the agent did not listen on 127.0.0.1:$SPOP_PORT; its log:" >&2
    tail -n 20 "$WORK/agent.log" >&2
    exit 1
}

rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status"
}

# Runs spop_bench against the agent; its key=value line lands in RESULT. It runs in the
# background so that a signal reaches the traps at once instead of after the run.
RESULT=
bench() {
    local rc=0

    "${PIN_BENCH[@]}" "$BENCH" -p "$SPOP_PORT" --kv "$@" >"$WORK/bench.out" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=
    RESULT=$(<"$WORK/bench.out")
    if ((rc != 0)); then
        echo "agent.sh: spop_bench $* failed ($rc): $RESULT" >&2
        FAILED=1
    fi
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then
        echo "agent.sh: the agent died; its log:" >&2
        tail -n 20 "$WORK/agent.log" >&2
        exit 1
    fi
}

# A figure of the last run, 0 when the run printed none (it failed and said so).
kv() {
    local v

    v=$(sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $RESULT")
    echo "${v:-0}"
}

thousands() {
    sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"
}

mib() {
    awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'
}

# "ok" when awk finds the condition true, else "MISSED".
verdict() {
    awk "BEGIN { exit !($1) }" && echo ok || echo MISSED
}

ROWS=()
row() {
    ROWS+=("$(printf '%-16s %-20s %-36s %-28s %s' "$@")")
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "llmproxy-agent decision benchmark: $(nproc) CPUs (${cpu_model:-unknown CPU}), $PINNING"
echo "agent: $AGENT"
echo

start_agent

bench -c 4 -d 20 -n 1000000 -t 10 --distinct-ips 10000
rate=$(kv picks_per_s)
row throughput "4 conns x depth 20" "$(thousands "$rate") picks/s ($(thousands "$(kv answered)") picks)" \
    ">= $(thousands $THROUGHPUT_TARGET) picks/s" "$(verdict "$rate >= $THROUGHPUT_TARGET")"

latency_row() {
    local p99

    bench -c 1 -d 1 -n 100000 -t 20 --distinct-ips 10000
    p99=$(kv p99_us)
    row "$1" "1 conn x depth 1" "p50 $(kv p50_us) us, p99 $p99 us" \
        "p99 <= $P99_TARGET_US us" "$(verdict "$p99 <= $P99_TARGET_US")"
}

latency_row latency
# Across cores every round trip wakes a sleeping CPU twice, which virtual machines make
# costly; on the agent's own core only the agent's work and loopback remain.
if ((${#PIN_BENCH[@]})); then
    saved=("${PIN_BENCH[@]}")
    PIN_BENCH=("${PIN_AGENT[@]}")
    latency_row "latency (1 CPU)"
    PIN_BENCH=("${saved[@]}")
fi

table_kb=$(($("$BENCH" --table-bytes $MEMORY_CLIENTS) / 1024))
for family in IPv4 IPv6; do
    stop_agent
    start_agent
    before=$(rss_kb)
    flag=()
    [[ $family == IPv6 ]] && flag=(--ipv6)
    bench -c 4 -d 20 -n $MEMORY_CLIENTS -t 30 --distinct-ips $MEMORY_CLIENTS "${flag[@]}"
    after=$(rss_kb)
    row "memory $family" "$(thousands $MEMORY_CLIENTS) clients" \
        "VmRSS $(mib "$before") -> $(mib "$after") MiB" \
        "+ <= $(mib "$table_kb") table + $((RSS_SLACK_KB / 1024)) MiB" \
        "$(verdict "$after - $before <= $table_kb + $RSS_SLACK_KB")"
done
stop_agent

printf '%-16s %-20s %-36s %s\n' test load result target
printf '%s\n' "${ROWS[@]}"
echo
echo "Round trips include loopback both ways: they bound the time spent inside the agent."
if ((FAILED)); then
    echo "agent.sh: some picks were not answered correctly (see above)" >&2
    exit 1
fi
