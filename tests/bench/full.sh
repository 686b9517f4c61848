#!/usr/bin/env bash
# make bench: the full data path side by side. The same client load goes straight to a mock
# upstream (`direct`), through a plain one-layer HAProxy (`haproxy`), through LLMProxy as
# llmproxy-ctl renders it (`llmproxy-rr`, `llmproxy-ra`, and `llmproxy-keys`: round robin on
# a forward with client_auth, every request carrying a client key; `llmproxy-route`: round robin
# on a forward that routes by model and path, the same body matching its last rule;
# `llmproxy-redis`: round robin with the rate limits shared through a redis-server the bench
# starts; `llmproxy-retry`: round robin in a group with retries, whose first attempts leave
# from the pinned backends) and, when it installs, through Portkey's gateway (`portkey`). Method and reference
# figures: docs/benchmarks.md.
#
#   tests/bench/full.sh [BUILD_DIR]        (default: build)
#
# Uses BUILD_DIR/llmproxy-ctl, llmproxy-agent, tools/mock_upstream and tools/spop_bench,
# which `make bench` builds first; builds nothing itself. Needs haproxy, wrk, curl, socat
# and ss. wrk is installed with apt-get when missing and the script runs as root.
#
# Workloads, each in interleaved rounds (a warm-up round, then ROUNDS rounds that visit
# every target in turn), medians over the rounds:
#   thr-0ms   wrk -c 32 -t 2, non-streaming chat completions, mock answers at once
#   lat-20ms  the same with the mock waiting 20 ms before answering
#   sse       SSE_STREAMS sequential streamed completions per round (10 events 5 ms
#             apart) on one curl connection: time to first byte and to the stream's end
#   seq-0ms   wrk -c 1 -t 1: one request at a time
# Then 100,000 distinct client addresses go to llmproxy-rr's agent over SPOP (spop_bench),
# and its peak RSS is read. Prints one table and the issue 7 targets. Exits 1 when a
# target cannot start or a run fails; a missed target is only reported (it depends on the
# host). Everything runs on 127.0.0.1 and is stopped by PID on exit, failure or Ctrl-C.
#
# Environment: BENCH_ROUNDS (3), BENCH_SECONDS (3, per wrk run), BENCH_SSE_STREAMS (40),
# BENCH_PORTKEY (1; 0 skips Portkey), BENCH_PORTKEY_VERSION (1.15.2), HAPROXY (haproxy),
# BENCH_NBTHREAD (HAProxy's threads, for the plain HAProxy and LLMProxy alike; unset:
# HAProxy's default, one per CPU).
# shellcheck disable=SC2154 # the per-stack ports and PIDs are set by name (printf -v)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:-build}" && pwd)
CTL=$BUILD/llmproxy-ctl
AGENT=$BUILD/llmproxy-agent
MOCK=$BUILD/tools/mock_upstream
SPOP_BENCH=$BUILD/tools/spop_bench
export HAPROXY=${HAPROXY:-haproxy} # llmproxy-ctl renders for the release it reports

ROUNDS=${BENCH_ROUNDS:-3}
RUN_S=${BENCH_SECONDS:-3}
WARM_S=1
SSE_STREAMS=${BENCH_SSE_STREAMS:-40}
SSE_WARM=5
PORTKEY_WANTED=${BENCH_PORTKEY:-1}
PORTKEY_VERSION=${BENCH_PORTKEY_VERSION:-1.15.2}
NBTHREAD=${BENCH_NBTHREAD:-}
# Every HAProxy runs with the malloc setting it is packaged with; the caller's own value wins.
HAPROXY_MALLOC=GLIBC_TUNABLES=${GLIBC_TUNABLES:-$(sed -n 's/^GLIBC_TUNABLES=//p' "$HERE/../../packaging/haproxy.env")}
PORTKEY_DIR=$BUILD/bench-portkey # npm install cache, reused by later runs
MEMORY_CLIENTS=100000
AGENT_RSS_TARGET_KB=$((32 * 1024))

CHAT_BODY='{"model":"bench","messages":[{"role":"user","content":"Say hello in one word."}]}'
SSE_BODY='{"model":"bench","stream":true,"messages":[{"role":"user","content":"Say hello."}]}'

say() { printf 'full.sh: %s\n' "$*" >&2; }

for bin in "$CTL" "$AGENT" "$MOCK" "$SPOP_BENCH"; do
    if [[ ! -x $bin ]]; then
        say "$bin missing: run 'make O=$BUILD bench'"
        exit 1
    fi
done
# shellcheck source=../lib/loadgen.sh
source "$HERE/../lib/loadgen.sh"
need_wrk
need_tools "$HAPROXY" curl socat ss

# ---- processes we started, stopped by PID only -----------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-bench-full.XXXXXX")
PIDS=()
CURRENT= # the wrk, curl or spop_bench running now

cleanup() {
    local pid i

    [[ -z $CURRENT ]] || kill -TERM "$CURRENT" 2>/dev/null || true
    # Newest first: the proxies stop taking traffic before their agents and the mocks go.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_fg CMD...: run a measuring client in the background and wait for it, so that a
# signal reaches the traps at once; returns its status.
run_fg() {
    local rc=0

    "$@" &
    CURRENT=$!
    wait "$CURRENT" || rc=$?
    CURRENT=
    return "$rc"
}

# answers_chat URL [HEADER]: a non-streaming completion answers 200 with a completion.
answers_chat() {
    local out
    out=$(curl -s -m 5 -H 'Content-Type: application/json' ${2:+-H "$2"} -d "$CHAT_BODY" \
        -w '\n%{http_code}' "$1") || return 1
    [[ ${out##*$'\n'} == 200 && $out == *'"chat.completion"'* ]]
}

# answers_stream URL [HEADER]: a streamed completion ends with data: [DONE].
answers_stream() {
    curl -sN -m 5 -H 'Content-Type: application/json' ${2:+-H "$2"} -d "$SSE_BODY" "$1" |
        grep -q '^data: \[DONE\]'
}

# ---- /proc figures ---------------------------------------------------------------------

# cpu_ticks PID...: user + system time of the processes (all their threads), in clock ticks.
cpu_ticks() {
    local pid sum=0 line
    local -a f
    for pid in "$@"; do
        read -r line <"/proc/$pid/stat" || continue
        read -ra f <<<"${line##*) }" # fields from the 3rd on: the name may hold spaces
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

# status_kb FIELD PID...: a /proc/PID/status figure (VmHWM, VmRSS) summed over processes.
status_kb() {
    local field=$1 pid sum=0 v
    shift
    for pid in "$@"; do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# children PID: the PIDs of a process's children (HAProxy's worker under its master).
children() {
    cat "/proc/$1/task/$1/children" 2>/dev/null || pgrep -P "$1" || true
}

TICK_US=$((1000000 / $(getconf CLK_TCK)))

# ---- targets -----------------------------------------------------------------------------

declare -A URL          # target -> chat completions URL
declare -A HEADER       # target -> one extra request header
declare -A PROC         # target -> the proxy's PIDs ("" for direct)
declare -A NO_SSE       # target -> why it sits out the SSE workload
TARGETS=()
NOTES=()

MOCK_A_PORT=$(free_port)
MOCK_B_PORT=$(free_port)
for m in A B; do
    port_var=MOCK_${m}_PORT
    spawn pid /dev/null "$MOCK" --name "mock-${m,,}" --port "${!port_var}" --sse-events 10 --sse-gap-ms 5
    wait_for "$pid" 10 "mock $m" curl -sf -m 1 "http://127.0.0.1:${!port_var}/__mock/health" || exit 1
done

mock_config() {
    local port
    for port in "$MOCK_A_PORT" "$MOCK_B_PORT"; do
        curl -sf -m 5 -o /dev/null -X POST "http://127.0.0.1:$port/__mock/config?$1" ||
            { say "mock on $port refused config $1"; exit 1; }
    done
}

TARGETS+=(direct)
URL[direct]=http://127.0.0.1:$MOCK_A_PORT/v1/chat/completions
PROC[direct]=

# Plain HAProxy: one layer, round robin, keep-alive to the servers. http-no-delay as in the
# rendered configuration, so that both relay each SSE event at once.
HAPROXY_PORT=$(free_port)
mkdir -p "$WORK/haproxy"
cat >"$WORK/haproxy/haproxy.cfg" <<EOF
global
${NBTHREAD:+    nbthread $NBTHREAD}
    stats socket "$WORK/haproxy/haproxy.sock" mode 600 level admin

defaults
    mode http
    option http-keep-alive
    http-reuse safe
    option http-no-delay
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend plain
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend mocks

backend mocks
    balance roundrobin
    server a 127.0.0.1:$MOCK_A_PORT
    server b 127.0.0.1:$MOCK_B_PORT
EOF
spawn pid "$WORK/haproxy/haproxy.log" env "$HAPROXY_MALLOC" "$HAPROXY" -W -db -f "$WORK/haproxy/haproxy.cfg"
wait_for "$pid" 10 "plain HAProxy" listening "$HAPROXY_PORT" || { tail "$WORK/haproxy/haproxy.log" >&2; exit 1; }
TARGETS+=(haproxy)
URL[haproxy]=http://127.0.0.1:$HAPROXY_PORT/v1/chat/completions
PROC[haproxy]="$pid $(children "$pid")"

agent_up() {
    printf 'show stat llm_agent 4 -1\n' | socat -t 2 - "UNIX-CONNECT:$1/haproxy.sock" |
        awk -F, '$2 == "agent" { print $18 }' | grep -qx UP
}

# The client key of llmproxy-keys: its forward has client_auth, so HAProxy hashes the key of
# every request and looks it up in its map before anything else.
BENCH_CLIENT_KEY=llmp-bench-0123456789abcdefghijklmnopqrstuvwxyz

# start_llmproxy NAME STRATEGY [keys|routed|redis|engines|retry]: render a realistic configuration
# with llmproxy-ctl and start its agent and HAProxy as `make run` does; with `keys`, the
# forward checks client keys; with `routed`, it routes by model and path, and the benchmark's
# model matches its last rule (every rule is tried, the body's model read), to the same group;
# with `redis`, its rate-limit buckets are shared through the redis-server on REDIS_PORT; with
# `engines`, its members are the two engine mocks (ENGINE_FAST_PORT, ENGINE_SLOW_PORT) and it
# is measured apart, by the engine workload only; with `retry`, its group retries (2
# attempts, 100 ms backoff).
start_llmproxy() {
    local name=$1 strategy=$2 variant=${3:-} dir=$WORK/$1 fwd admin agent_pid ha_pid
    local forward_extra="" clients="" groups_extra="" group_extra="" cluster="" port_a=$MOCK_A_PORT
    local port_b=$MOCK_B_PORT client="{stream: true}"
    if [[ $variant == retry ]]; then
        client="{stream: true, retry: {enabled: true, attempts: 2, initial: 100}}"
    elif [[ $variant == engines ]]; then
        port_a=$ENGINE_FAST_PORT
        port_b=$ENGINE_SLOW_PORT
        [[ $strategy != least_load ]] || group_extra="    engine: {type: vllm, interval_ms: 100}"
    elif [[ $variant == keys ]]; then
        forward_extra="      client_auth: true"
        clients="clients: [{name: bench, key: $BENCH_CLIENT_KEY}]"
    elif [[ $variant == routed ]]; then
        forward_extra='      routing:
        - {model: "gpt-4o*", target_group: other}
        - {model: "claude-3-5-sonnet", target_group: other}
        - {path: "/v1/embeddings", target_group: other}
        - {model: "bench", target_group: g}'
        groups_extra='  - name: other
    upstreams: [{name: a}, {name: b}]
    http_client: {stream: true}'
    elif [[ $variant == redis ]]; then
        cluster="  cluster: {redis: {url: \"redis://127.0.0.1:$REDIS_PORT/0\"}}"
    fi
    fwd=$(free_port)
    admin=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/config.yaml" <<EOF
http_server:
  forwards:
    - name: main
      address: 127.0.0.1
      port: $fwd
      upstream_group: g
      ratelimit: {enabled: true, per_second: 1000000, burst: 1000000}
$forward_extra
  admin: {address: 127.0.0.1, port: $admin}
upstreams:
  - name: a
    url: "http://127.0.0.1:$port_a/v1"
    auth: {type: bearer, token: sk-bench-a}
    breaker: {threshold: 0.5, cooldown: 30}
  - name: b
    url: "http://127.0.0.1:$port_b/v1"
    auth: {type: bearer, token: sk-bench-b}
    breaker: {threshold: 0.5, cooldown: 30}
upstream_groups:
  - name: g
    upstreams: [{name: a}, {name: b}]
    balance: {strategy: $strategy}
    http_client: $client
$group_extra
$groups_extra
${cluster:+agent:
$cluster}
haproxy: {run_dir: "$dir"${NBTHREAD:+, nbthread: $NBTHREAD}}
$clients
EOF
    "$CTL" render -c "$dir/config.yaml" -o "$dir/out" >"$dir/render.log" 2>&1 ||
        { cat "$dir/render.log" >&2; say "$name: llmproxy-ctl render failed"; exit 1; }
    spawn agent_pid "$dir/agent.log" "$AGENT" -c "$dir/config.yaml"
    # The agent's SPOP and log feed are on their default unix sockets in run_dir, as packaged.
    wait_for "$agent_pid" 10 "$name agent" test -S "$dir/agent-spop.sock" ||
        { tail "$dir/agent.log" >&2; exit 1; }
    # HAProxy's request log goes to stdout: written, as in production, but not kept.
    spawn ha_pid /dev/null env "$HAPROXY_MALLOC" "$HAPROXY" -W -db -f "$dir/out/haproxy.cfg"
    wait_for "$ha_pid" 15 "$name HAProxy seeing its agent UP" agent_up "$dir" ||
        { tail "$WORK/stderr.log" >&2; exit 1; }
    [[ $variant == engines ]] || TARGETS+=("$name")
    URL[$name]=http://127.0.0.1:$fwd/v1/chat/completions
    [[ $variant == keys ]] && HEADER[$name]="Authorization: Bearer $BENCH_CLIENT_KEY"
    PROC[$name]="$ha_pid $(children "$ha_pid") $agent_pid"
    # ADMIN_llmproxy_rr, SPOP_llmproxy_rr, AGENT_llmproxy_rr and the same for _ra.
    printf -v "ADMIN_${name//-/_}" '%s' "$admin"
    printf -v "SPOP_${name//-/_}" '%s' "$dir/agent-spop.sock"
    printf -v "AGENT_${name//-/_}" '%s' "$agent_pid"
}
start_llmproxy llmproxy-rr roundrobin
start_llmproxy llmproxy-ra response_aware
start_llmproxy llmproxy-keys roundrobin keys
start_llmproxy llmproxy-route roundrobin routed
start_llmproxy llmproxy-retry roundrobin retry

# Two mocks playing inference engines of unequal speed (4 slots each, 20 ms and 100 ms a
# completion, the rest queued, their load on a vLLM metrics page), for the engine workload.
ENGINE_FAST_PORT=$(free_port)
ENGINE_SLOW_PORT=$(free_port)
for m in fast:20 slow:100; do
    port_var=ENGINE_${m%%:*}_PORT
    port_var=${port_var^^}
    spawn pid /dev/null "$MOCK" --name "engine-${m%%:*}" --port "${!port_var}" --slots 4 \
        --service-ms "${m#*:}"
    wait_for "$pid" 10 "engine mock ${m%%:*}" curl -sf -m 1 "http://127.0.0.1:${!port_var}/__mock/health" ||
        exit 1
done
ENGINE_TARGETS=(engines-rr engines-ll)
start_llmproxy engines-rr roundrobin engines
start_llmproxy engines-ll least_load engines

REDIS_PORT=$(free_port)
spawn pid "$WORK/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
wait_for "$pid" 10 "redis-server" listening "$REDIS_PORT" || { tail "$WORK/redis.log" >&2; exit 1; }
start_llmproxy llmproxy-redis roundrobin redis

# Portkey's gateway (Node.js), when npm can fetch it within a minute. Its routing comes in a
# request header: load balance over the two mocks as OpenAI-compatible hosts.
PORTKEY_HEADER='x-portkey-config: {"strategy":{"mode":"loadbalance"},"targets":[{"provider":"openai","api_key":"sk-bench-a","custom_host":"http://127.0.0.1:'$MOCK_A_PORT'/v1"},{"provider":"openai","api_key":"sk-bench-b","custom_host":"http://127.0.0.1:'$MOCK_B_PORT'/v1"}]}'
start_portkey() {
    local entry=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js port pid
    local url why

    if [[ $PORTKEY_WANTED != 1 ]]; then
        NOTES+=("portkey: skipped (BENCH_PORTKEY=$PORTKEY_WANTED)")
        return
    fi
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        NOTES+=("portkey: skipped (node and npm are not installed)")
        return
    fi
    if [[ ! -f $entry ]]; then
        say "installing @portkey-ai/gateway@$PORTKEY_VERSION with npm into $PORTKEY_DIR"
        if ! timeout 60 npm install --prefix "$PORTKEY_DIR" --no-audit --no-fund --loglevel=error \
            "@portkey-ai/gateway@$PORTKEY_VERSION" >"$WORK/npm.log" 2>&1 || [[ ! -f $entry ]]; then
            NOTES+=("portkey: skipped (npm install of @portkey-ai/gateway@$PORTKEY_VERSION failed or took over 60 s: $(tail -n 1 "$WORK/npm.log"))")
            return
        fi
    fi
    port=$(free_port)
    url=http://127.0.0.1:$port/v1/chat/completions
    spawn pid "$WORK/portkey.log" env NODE_ENV=production node --import "$HERE/loopback.mjs" \
        "$entry" "--port=$port" --headless
    if ! wait_for "$pid" 30 "portkey" answers_chat "$url" "$PORTKEY_HEADER"; then
        NOTES+=("portkey: skipped (gateway $PORTKEY_VERSION did not answer a chat completion within 30 s)")
        kill -TERM "$pid" 2>/dev/null || true
        return
    fi
    TARGETS+=(portkey)
    URL[portkey]=$url
    HEADER[portkey]=$PORTKEY_HEADER
    PROC[portkey]=$pid
    if ! answers_stream "$url" "$PORTKEY_HEADER"; then
        why=$(grep -m 1 -o 'TypeError: [^ ]*' "$WORK/portkey.log" || true)
        NO_SSE[portkey]="gateway $PORTKEY_VERSION on Node $(node --version) fails streamed completions (500${why:+, $why})"
        NOTES+=("portkey: sse skipped: ${NO_SSE[portkey]}")
    fi
}
start_portkey

for t in "${TARGETS[@]}"; do
    answers_chat "${URL[$t]}" "${HEADER[$t]:-}" || { say "$t does not answer a chat completion"; exit 1; }
    if [[ -z ${NO_SSE[$t]:-} ]] && ! answers_stream "${URL[$t]}" "${HEADER[$t]:-}"; then
        say "$t does not relay a streamed completion"
        exit 1
    fi
done

# ---- measuring ---------------------------------------------------------------------------

# Results, one line per measured run:
#   workload target round requests duration_us p50_us p99_us cpu_ticks socket_errors status_errors
#   mean_us
RESULTS=$WORK/results
: >"$RESULTS"
declare -A HWM_KB # workload/target -> peak RSS of the proxy after the workload

# wrk_run WORKLOAD TARGET ROUND SECONDS CONNS THREADS: ROUND 0 is the warm-up, not kept.
wrk_run() {
    local w=$1 t=$2 r=$3 s=$4 c=$5 th=$6 before after kv
    local -a pids
    read -ra pids <<<"${PROC[$t]}"
    before=$(cpu_ticks "${pids[@]}")
    if ! run_fg env BENCH_EXTRA_HEADER="${HEADER[$t]:-}" wrk -c "$c" -t "$th" -d "${s}s" --timeout 5s \
        -s "$HERE/chat.lua" "${URL[$t]}" >"$WORK/wrk.out" 2>&1; then
        say "wrk against $t failed:"
        cat "$WORK/wrk.out" >&2
        exit 1
    fi
    after=$(cpu_ticks "${pids[@]}")
    kv=$(grep '^requests=' "$WORK/wrk.out") || { say "wrk printed no figures for $t"; exit 1; }
    ((r > 0)) || return 0
    # requests=N duration_us=N p50_us=N p99_us=N mean_us=N socket_errors=N status_errors=N
    awk -v w="$w" -v t="$t" -v r="$r" -v cpu=$((after - before)) '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print w, t, r, v["requests"], v["duration_us"], v["p50_us"], v["p99_us"], cpu,
              v["socket_errors"], v["status_errors"], v["mean_us"]
    }' <<<"$kv" >>"$RESULTS"
}

# sse_run TARGET ROUND STREAMS: sequential streams on one curl connection (the URL glob
# makes curl reuse it). curl writes each stream's status, time to first byte and total
# time to stderr (%{stderr}), since the bodies go to stdout.
sse_run() {
    local t=$1 r=$2 n=$3 before after col w
    local -a pids
    read -ra pids <<<"${PROC[$t]}"
    before=$(cpu_ticks "${pids[@]}")
    run_fg curl -s -m 60 -H 'Content-Type: application/json' ${HEADER[$t]:+-H "${HEADER[$t]}"} -d "$SSE_BODY" \
        -w '%{stderr}%{http_code} %{time_starttransfer} %{time_total}\n' "${URL[$t]}?n=[1-$n]" \
        >/dev/null 2>"$WORK/sse.out" || { say "curl against $t failed"; exit 1; }
    after=$(cpu_ticks "${pids[@]}")
    ((r > 0)) || return 0
    # Percentiles by rank (nearest-rank), over this round's streams.
    for col in 2 3; do
        w=sse-ttfb
        ((col == 2)) || w=sse-total
        sort -g -k"$col","$col" "$WORK/sse.out" | awk -v col="$col" -v w="$w" \
            -v t="$t" -v r="$r" -v cpu=$((after - before)) '
            { x[NR] = $col * 1e6; total += $3 * 1e6; if ($1 != 200) bad++ }
            END {
                i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
                printf "%s %s %d %d %.0f %.0f %.0f %d 0 %d %.0f\n", w, t, r, NR, total, x[i50], x[i99], cpu, bad, NR ? total / NR : 0
            }' >>"$RESULTS"
    done
}

record_hwm() {
    local w=$1 t
    local -a pids
    for t in "${TARGETS[@]}"; do
        read -ra pids <<<"${PROC[$t]}"
        ((${#pids[@]})) && HWM_KB[$w/$t]=$(status_kb VmHWM "${pids[@]}")
    done
    return 0
}

# wrk_workload NAME CONNS THREADS: a warm-up round, then ROUNDS interleaved rounds.
wrk_workload() {
    local w=$1 c=$2 th=$3 r t
    say "$w: wrk -c $c -t $th, $ROUNDS rounds of ${RUN_S}s x ${#TARGETS[@]} targets"
    for t in "${TARGETS[@]}"; do wrk_run "$w" "$t" 0 "$WARM_S" "$c" "$th"; done
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${TARGETS[@]}"; do wrk_run "$w" "$t" "$r" "$RUN_S" "$c" "$th"; done
    done
    record_hwm "$w"
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "LLMProxy full data path benchmark: $(nproc) CPUs (${cpu_model:-unknown CPU}), nothing pinned:"
echo "wrk, curl, the mocks and the proxies share the CPUs. HAProxy $("$HAPROXY" -v | awk 'NR == 1 { print $3 }')," \
    "wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), build $BUILD"
echo

SSE_TARGETS=()
for t in "${TARGETS[@]}"; do [[ -n ${NO_SSE[$t]:-} ]] || SSE_TARGETS+=("$t"); done

wrk_workload thr-0ms 32 2
mock_config delay_ms=20
wrk_workload lat-20ms 32 2
mock_config delay_ms=0
say "sse: $ROUNDS rounds of $SSE_STREAMS streams x ${#SSE_TARGETS[@]} targets"
for t in "${SSE_TARGETS[@]}"; do sse_run "$t" 0 "$SSE_WARM"; done
for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${SSE_TARGETS[@]}"; do sse_run "$t" "$r" "$SSE_STREAMS"; done
done
record_hwm sse-ttfb
record_hwm sse-total
wrk_workload seq-0ms 1 1

# The engines: the same load, 16 clients, to roundrobin and least_load in turn. The answers
# are not streamed, so a request's latency is its time to first byte.
say "engines: wrk -c 16 -t 2, $ROUNDS rounds of ${RUN_S}s x ${#ENGINE_TARGETS[@]} targets"
for t in "${ENGINE_TARGETS[@]}"; do wrk_run engines "$t" 0 "$WARM_S" 16 2; done
for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${ENGINE_TARGETS[@]}"; do wrk_run engines "$t" "$r" "$RUN_S" 16 2; done
done

# 100,000 client addresses through llmproxy-rr's agent: its per-client table at that size.
say "agent memory: $MEMORY_CLIENTS distinct client addresses over SPOP"
run_fg "$SPOP_BENCH" -U "$SPOP_llmproxy_rr" -f main -c 4 -d 20 -n $((2 * MEMORY_CLIENTS)) -t 30 \
    --distinct-ips "$MEMORY_CLIENTS" --kv >"$WORK/spop.out" ||
    { say "spop_bench failed: $(cat "$WORK/spop.out")"; exit 1; }
AGENT_HWM_KB=$(status_kb VmHWM "$AGENT_llmproxy_rr")
AGENT_RSS_KB=$(status_kb VmRSS "$AGENT_llmproxy_rr")

# What each agent's log feed counted, against what was sent (warm-ups and checks included).
feed_count() {
    curl -s -m 5 "http://127.0.0.1:$1/metrics" |
        awk '$1 ~ /^llmproxy_http_requests_total[{ ]/ || $1 == "llmproxy_http_requests_total" { n += $NF }
             END { printf "%d", n }'
}
FEED_RR=$(feed_count "$ADMIN_llmproxy_rr")
FEED_RA=$(feed_count "$ADMIN_llmproxy_ra")

# ---- the table ---------------------------------------------------------------------------

# Per workload and target: median req/s, p50 and p99 over the rounds; CPU per request over
# all rounds together (clock ticks are coarse); errors summed.
SUMMARY=$WORK/summary
awk -v tick_us="$TICK_US" '
    function median(list, n,    a, i, j, k, tmp) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { tmp = a[j]; a[j] = a[j - 1]; a[j - 1] = tmp }
        k = int((n + 1) / 2)
        return n % 2 ? a[k] : (a[k] + a[k + 1]) / 2
    }
    {
        key = $1 " " $2
        if (!(key in req)) order[++n] = key
        rps[key] = rps[key] " " ($4 * 1e6 / $5)
        p50[key] = p50[key] " " $6
        p99[key] = p99[key] " " $7
        req[key] += $4
        cpu[key] += $8
        err[key] += $9 + $10
        mean[key] = mean[key] " " $11
    }
    END {
        for (i = 1; i <= n; i++) {
            k = order[i]
            # Fewer than 20 ticks (sse: a few ms of CPU in all) cannot be told apart.
            c = cpu[k] < 20 ? "-" : sprintf("%.1f", cpu[k] * tick_us / req[k])
            printf "%s %.1f %.3f %.3f %s %d %.3f\n", k, median(rps[k]), median(p50[k]) / 1000,
                median(p99[k]) / 1000, c, err[k], median(mean[k]) / 1000
        }
    }' "$RESULTS" >"$SUMMARY"

declare -A S_RPS S_P50 S_P99 S_CPU S_ERR S_MEAN
WORKLOADS=()
while read -r w t rps p50 p99 cpu errs mean; do
    [[ " ${WORKLOADS[*]} " == *" $w "* ]] || WORKLOADS+=("$w")
    S_RPS[$w/$t]=$rps
    S_P50[$w/$t]=$p50
    S_P99[$w/$t]=$p99
    S_CPU[$w/$t]=$cpu
    S_ERR[$w/$t]=$errs
    S_MEAN[$w/$t]=$mean
done <"$SUMMARY"

ratio() { awk -v a="$1" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

FAILED=0
fmt='%-10s %-13s %10s %9s %9s %11s %9s %9s %9s  %s\n'
printf "$fmt" workload target req/s "p50 ms" "p99 ms" "CPU us/req" "RSS MiB" "x haproxy" "x direct" ""
for w in "${WORKLOADS[@]}"; do
    for t in "${TARGETS[@]}"; do
        [[ -n ${S_RPS[$w/$t]:-} ]] || continue
        note=
        if ((S_ERR[$w/$t] > 0)); then
            note="${S_ERR[$w/$t]} errors"
            [[ $t == portkey ]] || FAILED=1 # not ours to fail on
        fi
        cpu=${S_CPU[$w/$t]}
        rss=-
        if [[ $t == direct ]]; then
            cpu=-
        else
            rss=$(awk -v kb="${HWM_KB[$w/$t]:-0}" 'BEGIN { printf "%.1f", kb / 1024 }')
        fi
        printf "$fmt" "$w" "$t" "${S_RPS[$w/$t]}" "${S_P50[$w/$t]}" "${S_P99[$w/$t]}" "$cpu" "$rss" \
            "$(ratio "${S_RPS[$w/$t]}" "${S_RPS[$w/haproxy]:-}")" \
            "$(ratio "${S_RPS[$w/$t]}" "${S_RPS[$w/direct]:-}")" "$note"
    done
done
echo
echo "req/s, p50, p99: medians of $ROUNDS interleaved rounds (sse rows: sequential streams, p50/p99"
echo "of time to first byte or of the whole stream). CPU: HAProxy (master + worker) plus the"
echo "agent, from /proc/PID/stat over all rounds, ${TICK_US} us ticks (- under 20 ticks). RSS: VmHWM of the same"
echo "processes after the workload. Ratios: req/s over the haproxy and direct rows."
for n in "${NOTES[@]}"; do echo "$n"; done
echo "log feed: llmproxy-rr's agent counted $FEED_RR requests, llmproxy-ra's $FEED_RA" \
    "(llmproxy_http_requests_total)"
echo

# The engines: time to first byte under the same load, by strategy.
efmt='%-10s %-11s %10s %13s %12s %12s  %s\n'
printf "$efmt" workload target req/s "TTFB mean ms" "TTFB p50 ms" "TTFB p99 ms" ""
for t in "${ENGINE_TARGETS[@]}"; do
    note=
    if ((${S_ERR[engines/$t]:-0} > 0)); then
        note="${S_ERR[engines/$t]} errors"
        FAILED=1
    fi
    printf "$efmt" engines "$t" "${S_RPS[engines/$t]}" "${S_MEAN[engines/$t]}" \
        "${S_P50[engines/$t]}" "${S_P99[engines/$t]}" "$note"
done
echo "engines: two mocks playing inference engines (4 slots, 20 ms and 100 ms a completion, the"
echo "rest queued), wrk -c 16; medians of $ROUNDS rounds. Answers are not streamed: latency is TTFB."
echo

# ---- issue 7 targets -----------------------------------------------------------------------

verdict() { awk "BEGIN { exit !($1) }" && echo ok || echo MISSED; }
TARGET_FMT='%-46s %-13s %-34s %s\n'
printf "$TARGET_FMT" "issue 7 target" row measured ""
for t in llmproxy-rr llmproxy-ra; do
    k=thr-0ms
    printf "$TARGET_FMT" "throughput, 0 ms mock >= 0.5 x haproxy" "$t" \
        "$(ratio "${S_RPS[$k/$t]}" "${S_RPS[$k/haproxy]}") x (${S_RPS[$k/$t]} vs ${S_RPS[$k/haproxy]})" \
        "$(verdict "${S_RPS[$k/$t]} >= 0.5 * ${S_RPS[$k/haproxy]}")"
done
for t in llmproxy-rr llmproxy-ra; do
    k=lat-20ms
    d50=$(awk -v a="${S_P50[$k/$t]}" -v b="${S_P50[$k/haproxy]}" 'BEGIN { printf "%+.3f", a - b }')
    d99=$(awk -v a="${S_P99[$k/$t]}" -v b="${S_P99[$k/haproxy]}" 'BEGIN { printf "%+.3f", a - b }')
    printf "$TARGET_FMT" "added latency, 20 ms mock: p50 <= +0.2 ms" "$t" "p50 $d50 ms over haproxy" \
        "$(verdict "$d50 <= 0.2")"
    printf "$TARGET_FMT" "added latency, 20 ms mock: p99 <= +1 ms" "$t" "p99 $d99 ms over haproxy" \
        "$(verdict "$d99 <= 1")"
done
for t in llmproxy-rr llmproxy-ra; do
    k=sse-ttfb
    d50=$(awk -v a="${S_P50[$k/$t]}" -v b="${S_P50[$k/haproxy]}" 'BEGIN { printf "%+.3f", a - b }')
    printf "$TARGET_FMT" "SSE time to first byte <= +1 ms (p50)" "$t" "$d50 ms over haproxy" \
        "$(verdict "$d50 <= 1")"
done
for t in llmproxy-rr llmproxy-ra; do
    k=thr-0ms
    printf "$TARGET_FMT" "proxy CPU per request <= 2 x haproxy (0 ms)" "$t" \
        "$(ratio "${S_CPU[$k/$t]}" "${S_CPU[$k/haproxy]}") x (${S_CPU[$k/$t]} vs ${S_CPU[$k/haproxy]} us)" \
        "$(verdict "${S_CPU[$k/$t]} <= 2 * ${S_CPU[$k/haproxy]}")"
done
k=thr-0ms
printf "$TARGET_FMT" "client_auth throughput >= 0.9 x llmproxy-rr" llmproxy-keys \
    "$(ratio "${S_RPS[$k/llmproxy-keys]}" "${S_RPS[$k/llmproxy-rr]}") x (${S_RPS[$k/llmproxy-keys]} vs ${S_RPS[$k/llmproxy-rr]})" \
    "$(verdict "${S_RPS[$k/llmproxy-keys]} >= 0.9 * ${S_RPS[$k/llmproxy-rr]}")"
printf "$TARGET_FMT" "routed forward throughput >= 0.85 x llmproxy-rr" llmproxy-route \
    "$(ratio "${S_RPS[$k/llmproxy-route]}" "${S_RPS[$k/llmproxy-rr]}") x (${S_RPS[$k/llmproxy-route]} vs ${S_RPS[$k/llmproxy-rr]})" \
    "$(verdict "${S_RPS[$k/llmproxy-route]} >= 0.85 * ${S_RPS[$k/llmproxy-rr]}")"
printf "$TARGET_FMT" "retry group throughput >= 0.6 x haproxy" llmproxy-retry \
    "$(ratio "${S_RPS[$k/llmproxy-retry]}" "${S_RPS[$k/haproxy]}") x (${S_RPS[$k/llmproxy-retry]} vs ${S_RPS[$k/haproxy]})" \
    "$(verdict "${S_RPS[$k/llmproxy-retry]} >= 0.6 * ${S_RPS[$k/haproxy]}")"
k=engines
printf "$TARGET_FMT" "least_load mean TTFB below roundrobin's" engines-ll \
    "$(ratio "${S_MEAN[$k/engines-ll]}" "${S_MEAN[$k/engines-rr]}") x (${S_MEAN[$k/engines-ll]} vs ${S_MEAN[$k/engines-rr]} ms)" \
    "$(verdict "${S_MEAN[$k/engines-ll]} < ${S_MEAN[$k/engines-rr]}")"
printf "$TARGET_FMT" "least_load p99 TTFB below roundrobin's" engines-ll \
    "$(ratio "${S_P99[$k/engines-ll]}" "${S_P99[$k/engines-rr]}") x (${S_P99[$k/engines-ll]} vs ${S_P99[$k/engines-rr]} ms)" \
    "$(verdict "${S_P99[$k/engines-ll]} < ${S_P99[$k/engines-rr]}")"
k=thr-0ms
printf "$TARGET_FMT" "Redis-shared limits throughput >= 0.85 x rr" llmproxy-redis \
    "$(ratio "${S_RPS[$k/llmproxy-redis]}" "${S_RPS[$k/llmproxy-rr]}") x, p99 $(awk -v a="${S_P99[lat-20ms/llmproxy-redis]}" -v b="${S_P99[lat-20ms/llmproxy-rr]}" 'BEGIN { printf "%+.3f", a - b }') ms (20 ms)" \
    "$(verdict "${S_RPS[$k/llmproxy-redis]} >= 0.85 * ${S_RPS[$k/llmproxy-rr]}")"
printf "$TARGET_FMT" "agent RSS <= 32 MiB, $MEMORY_CLIENTS client IPs" llmproxy-rr \
    "peak $(awk -v kb="$AGENT_HWM_KB" 'BEGIN { printf "%.1f", kb / 1024 }') MiB, now $(awk -v kb="$AGENT_RSS_KB" 'BEGIN { printf "%.1f", kb / 1024 }') MiB" \
    "$(verdict "$AGENT_HWM_KB <= $AGENT_RSS_TARGET_KB")"

if ((FAILED)); then
    say "some requests failed (see the errors column)"
    exit 1
fi
