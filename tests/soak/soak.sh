#!/usr/bin/env bash
# make soak: a bounded mixed load with faults against a rendered stack, watching HAProxy's
# and the agent's memory and file descriptors for growth. Method and figures:
# docs/reliability.md, section "Soak".
#
#   tests/soak/soak.sh [BUILD_DIR]        (default: build)
#
# Uses BUILD_DIR/llmproxy-ctl, llmproxy-agent and tools/mock_upstream (`make soak` builds
# them first); builds nothing itself. Needs haproxy, wrk, curl, socat and ss; wrk is
# installed with apt-get when missing and the script runs as root.
#
# The stack: three mock upstreams (a, b, and c, which flaps on demand and has a breaker),
# the agent and HAProxy from one llmproxy-ctl rendering, with three forwards:
#   main  group rr: roundrobin over a and b; plain chat completions, plus an SSE share
#   ra    group ra: response_aware over a, b and c, retries on (3 attempts)
#   lim   group rr, rate limited (per_second 50, burst 100), driven above its limit
# Four wrk clients run all the time, paced per connection (soak.lua), in back-to-back runs
# of SOAK_INTERVAL seconds. About every SOAK_FAULT_EVERY seconds, a quarter of the way into
# an interval, one fault in turn: the agent reloads (SIGHUP), HAProxy reloads (SIGUSR2),
# c flaps (every other answer 503) for SOAK_FLAP_SECONDS, the agent restarts (SIGTERM, then
# a new one).
#
# Every interval prints one line: elapsed time, requests per second, errors (socket errors,
# and statuses other than 200, or 429 on lim), HAProxy's master and workers (RSS summed,
# file descriptors summed) and the agent's. At the end: first, value at 60 s (after the
# warm-up), last and max of each figure, and a verdict per figure: "flat" when the last
# value is within +10% (RSS) or +16 (fds) of the value at 60 s, "growing" otherwise. Exits 0
# when every figure is flat and every process of the stack stayed up, 1 otherwise.
# Everything runs on 127.0.0.1 and is stopped by PID on exit, failure or Ctrl-C.
#
# Environment: SOAK_SECONDS (600), SOAK_INTERVAL (30), SOAK_FAULT_EVERY (60),
# SOAK_FLAP_SECONDS (20), SOAK_KEEP (1 keeps the scratch folder), HAPROXY (haproxy).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:-build}" && pwd)
CTL=$BUILD/llmproxy-ctl
AGENT=$BUILD/llmproxy-agent
MOCK=$BUILD/tools/mock_upstream
HAPROXY=${HAPROXY:-haproxy}

DURATION=${SOAK_SECONDS:-600}
INTERVAL=${SOAK_INTERVAL:-30}
FAULT_EVERY=${SOAK_FAULT_EVERY:-60}
FLAP_SECONDS=${SOAK_FLAP_SECONDS:-20}
WARM_S=60        # the reference sample is the first one taken at or after this
RSS_SLACK_PCT=10 # "flat": last RSS within this many percent above the reference
FD_SLACK=16      # "flat": last fd count within this many above the reference

say() { printf 'soak.sh: %s\n' "$*" >&2; }

for n in "$DURATION" "$INTERVAL" "$FAULT_EVERY" "$FLAP_SECONDS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { say "SOAK_* settings are positive whole seconds"; exit 2; }
done
for bin in "$CTL" "$AGENT" "$MOCK"; do
    [[ -x $bin ]] || { say "$bin missing: run 'make O=$BUILD all'"; exit 1; }
done
# shellcheck source=../lib/loadgen.sh
source "$HERE/../lib/loadgen.sh"
need_wrk
need_tools "$HAPROXY" curl socat ss

# ---- processes we started, stopped by PID only -------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-soak.XXXXXX")
PIDS=()   # the stack: mocks, agent, HAProxy (in start order)
LOADS=()  # the wrk runs of the current interval
SLEEPER=  # the sleep being waited for
VERDICT=1 # exit status, 0 once the run is judged flat

cleanup() {
    local pid i

    for pid in "${LOADS[@]}" $SLEEPER; do kill -TERM "$pid" 2>/dev/null || true; done
    # Newest first: HAProxy stops taking traffic before the agent and the mocks go.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${LOADS[@]}" "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $VERDICT -eq 0 && -z ${SOAK_KEEP:-} ]]; then rm -rf "$WORK"; else say "scratch kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# forget PID: a stack process that was stopped on purpose.
forget() {
    local i
    for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} != "$1" ]] || unset 'PIDS[i]'; done
    PIDS=("${PIDS[@]}")
}

# pause SECONDS: sleep in the background, so that a signal reaches the traps at once.
pause() {
    sleep "$1" &
    SLEEPER=$!
    wait "$SLEEPER"
    SLEEPER=
}

# ---- the stack -----------------------------------------------------------------------------

A=$(free_port) B=$(free_port) C=$(free_port)
F_MAIN=$(free_port) F_RA=$(free_port) F_LIM=$(free_port)
ADMIN=$(free_port) SPOP=$(free_port) LOGS=$(free_port)

# The mocks print a line per request on stdout: not kept.
spawn PID_A /dev/null "$MOCK" --name a --port "$A" --delay-ms 2
spawn PID_B /dev/null "$MOCK" --name b --port "$B"
spawn PID_C /dev/null "$MOCK" --name c --port "$C" --delay-ms 1
for m in A B C; do
    pid_var=PID_$m
    wait_for "${!pid_var}" 10 "mock ${m,,}" curl -sf -m 1 "http://127.0.0.1:${!m}/__mock/health" || exit 1
done

mock_config() { curl -sf -m 5 -o /dev/null -X POST "http://127.0.0.1:$1/__mock/config?$2"; }

cat >"$WORK/config.yaml" <<EOF
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F_MAIN, upstream_group: rr}
    - {name: ra, address: 127.0.0.1, port: $F_RA, upstream_group: ra}
    - name: lim
      address: 127.0.0.1
      port: $F_LIM
      upstream_group: rr
      ratelimit: {enabled: true, per_second: 50, burst: 100}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
  - name: c
    url: "http://127.0.0.1:$C/v1"
    breaker: {threshold: 0.5, cooldown: 5}
upstream_groups:
  - name: rr
    upstreams: [{name: a}, {name: b}]
    balance: {strategy: roundrobin}
  - name: ra
    upstreams: [{name: a}, {name: b}, {name: c}]
    balance: {strategy: response_aware}
    http_client: {retry: {enabled: true, attempts: 3, initial: 20}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$WORK"}
EOF
"$CTL" render -c "$WORK/config.yaml" -o "$WORK/out" >"$WORK/render.log" 2>&1 ||
    { cat "$WORK/render.log" >&2; say "llmproxy-ctl render failed"; exit 1; }

start_agent() {
    spawn PID_AGENT "$WORK/agent.log" "$AGENT" -c "$WORK/config.yaml"
    wait_for "$PID_AGENT" 10 "agent" listening "$SPOP" || { tail "$WORK/agent.log" >&2; return 1; }
}
agent_up() {
    printf 'show stat llm_agent 4 -1\n' | socat -t 2 - "UNIX-CONNECT:$WORK/haproxy.sock" |
        awk -F, '$2 == "agent" { print $18 }' | grep -qx UP
}
start_agent || exit 1
spawn PID_HAPROXY /dev/null "$HAPROXY" -W -db -f "$WORK/out/haproxy.cfg"
wait_for "$PID_HAPROXY" 15 "HAProxy seeing the agent UP" agent_up || { tail "$WORK/stderr.log" >&2; exit 1; }

CHAT='{"model":"soak","messages":[{"role":"user","content":"Hello."}]}'
for port in "$F_MAIN" "$F_RA" "$F_LIM"; do
    [[ $(curl -s -m 5 -o /dev/null -w '%{http_code}' -d "$CHAT" "http://127.0.0.1:$port/v1/chat/completions") == 200 ]] ||
        { say "the forward on $port does not answer 200"; exit 1; }
done
curl -sN -m 5 -d '{"stream":true}' "http://127.0.0.1:$F_MAIN/v1/chat/completions" | grep -q '^data: \[DONE\]' ||
    { say "the main forward does not relay a stream"; exit 1; }

# ---- figures -------------------------------------------------------------------------------

# status_kb PID: VmRSS in KiB (0 when the process is gone); fds PID: open descriptors.
status_kb() { awk '$1 == "VmRSS:" { print $2; exit }' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# haproxy_pids: the master and its workers (after a reload, the old ones still finishing).
# shellcheck disable=SC2046 # the children are words
haproxy_pids() { echo "$PID_HAPROXY" $(cat "/proc/$PID_HAPROXY/task/$PID_HAPROXY/children" 2>/dev/null); }
sum_over() {
    local fn=$1 pid sum=0 v
    shift
    for pid in "$@"; do
        v=$("$fn" "$pid")
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
metric_sum() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v f="$1" 'index($1, f "{") == 1 || $1 == f { n += $2 } END { printf "%d\n", n }'
}

# ---- load ----------------------------------------------------------------------------------

# name port connections pause_ms stream: the four clients, paced to about 1000 requests per
# second in all on a 2-core machine, so that the soak leaves room for other work.
STREAMS=(
    "main $F_MAIN 4 8 0"
    "ra $F_RA 4 8 0"
    "lim $F_LIM 2 10 0"
    "sse $F_MAIN 2 0 1"
)
declare -A TOT_REQ TOT_SOCK TOT_CODES

# load_start TICK SECONDS: one wrk run per client, in the background.
load_start() {
    local tick=$1 secs=$2 s name port conns pace stream
    LOADS=()
    for s in "${STREAMS[@]}"; do
        read -r name port conns pace stream <<<"$s"
        SOAK_DELAY_MS=$pace SOAK_STREAM=$stream wrk -c "$conns" -t 1 -d "${secs}s" --timeout 5s \
            -s "$HERE/soak.lua" "http://127.0.0.1:$port/v1/chat/completions" \
            >"$WORK/wrk.$name.$tick" 2>&1 &
        LOADS+=("$!")
    done
}

# load_judge TICK: add the runs of that interval to the totals; set TICK_REQ, TICK_ERR and
# TICK_WHY (what the errors were, per client).
load_judge() {
    local tick=$1 s name line req sock codes c code n bad
    TICK_REQ=0 TICK_ERR=0 TICK_WHY=
    for s in "${STREAMS[@]}"; do
        read -r name _ <<<"$s"
        line=$(grep -m 1 '^requests=' "$WORK/wrk.$name.$tick")
        if [[ -z $line ]]; then
            TICK_ERR=$((TICK_ERR + 1))
            TICK_WHY+=" $name:wrk-failed"
            continue
        fi
        req=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
        sock=$(sed 's/.*socket_errors=\([0-9]*\).*/\1/' <<<"$line")
        codes=$(sed 's/.*codes=//' <<<"$line")
        TICK_REQ=$((TICK_REQ + req))
        TOT_REQ[$name]=$((${TOT_REQ[$name]:-0} + req))
        TOT_SOCK[$name]=$((${TOT_SOCK[$name]:-0} + sock))
        bad=$sock
        ((sock == 0)) || TICK_WHY+=" $name:socket-errors:$sock"
        for c in ${codes//,/ }; do
            code=${c%%:*} n=${c#*:}
            TOT_CODES[$name:$code]=$((${TOT_CODES[$name:$code]:-0} + n))
            if [[ $code != 200 && ! ($name == lim && $code == 429) ]]; then
                bad=$((bad + n))
                TICK_WHY+=" $name:$code:$n"
            fi
        done
        TICK_ERR=$((TICK_ERR + bad))
    done
}

# ---- faults --------------------------------------------------------------------------------

FAULTS=(agent-sighup haproxy-usr2 upstream-flap agent-restart)
NEXT_FAULT=$((FAULT_EVERY / 4 + FAULT_EVERY / 2)) # 45 s with the defaults: mid-interval
FAULT_N=0
FLAP_END=   # when c stops flapping
FAULT_LOG=()

event() { printf '%5ds  %s\n' "$SECONDS" "$*"; }

inject() {
    local kind=${FAULTS[FAULT_N % ${#FAULTS[@]}]} old
    FAULT_N=$((FAULT_N + 1))
    case $kind in
    agent-sighup)
        kill -HUP "$PID_AGENT"
        event "fault: agent reload (SIGHUP to $PID_AGENT)"
        ;;
    haproxy-usr2)
        kill -USR2 "$PID_HAPROXY"
        event "fault: HAProxy reload (SIGUSR2 to master $PID_HAPROXY)"
        ;;
    upstream-flap)
        mock_config "$C" 'status=503&fail_every=2' || say "mock c refused to flap"
        FLAP_END=$((SECONDS + FLAP_SECONDS))
        event "fault: upstream c flaps (every other answer 503) for ${FLAP_SECONDS}s"
        ;;
    agent-restart)
        old=$PID_AGENT
        kill -TERM "$old"
        for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$old" 2>/dev/null || true
        wait "$old" 2>/dev/null || true
        forget "$old"
        start_agent || { say "the agent did not restart"; exit 1; }
        event "fault: agent restarted (pid $old -> $PID_AGENT)"
        ;;
    esac
    FAULT_LOG+=("$kind")
}

# run_faults UNTIL: inject the faults (and end the flapping) due before second UNTIL.
run_faults() {
    local until=$1 next
    while :; do
        next=$NEXT_FAULT
        [[ -n $FLAP_END && $FLAP_END -lt $next ]] && next=$FLAP_END
        ((next < until)) || return 0
        ((next <= SECONDS)) || pause $((next - SECONDS))
        if [[ -n $FLAP_END && $FLAP_END -le $SECONDS ]]; then
            mock_config "$C" 'status=0&fail_every=1' || say "mock c refused to stop flapping"
            FLAP_END=
            event "c answers normally again"
        else
            inject
            NEXT_FAULT=$((NEXT_FAULT + FAULT_EVERY))
        fi
    done
}

# ---- the run -------------------------------------------------------------------------------

stack_alive() {
    local pid
    for pid in "$PID_A" "$PID_B" "$PID_C" "$PID_AGENT" "$PID_HAPROXY"; do
        kill -0 "$pid" 2>/dev/null || { say "process $pid of the stack exited"; return 1; }
    done
}

declare -a S_T S_HRSS S_HFD S_HN S_ARSS S_AFD
printf 'soak: %ss, a line every %ss, a fault every %ss (%s), build %s\n' "$DURATION" \
    "$INTERVAL" "$FAULT_EVERY" "${FAULTS[*]}" "$BUILD"
printf '%6s  %9s  %6s  %s\n' elapsed req/s errors \
    'HAProxy master+workers: procs RSS fds | agent: RSS fds'
SECONDS=0
tick=0
ALIVE=1
while ((SECONDS < DURATION)); do
    tick=$((tick + 1))
    start=$SECONDS
    secs=$((DURATION - start < INTERVAL ? DURATION - start : INTERVAL))
    load_start "$tick" "$secs"
    run_faults $((start + secs))
    wait "${LOADS[@]}"
    LOADS=()
    load_judge "$tick"
    elapsed=$SECONDS
    read -ra hp <<<"$(haproxy_pids)"
    S_T+=("$elapsed")
    S_HN+=("${#hp[@]}")
    S_HRSS+=("$(sum_over status_kb "${hp[@]}")")
    S_HFD+=("$(sum_over fds "${hp[@]}")")
    S_ARSS+=("$(status_kb "$PID_AGENT")")
    S_AFD+=("$(fds "$PID_AGENT")")
    i=$((${#S_T[@]} - 1))
    printf '%5ds  %9.0f  %6d  %d procs %7d KiB %4d fds | %7d KiB %4d fds%s\n' "$elapsed" \
        "$(awk -v n="$TICK_REQ" -v s="$((elapsed - start))" 'BEGIN { print (s > 0 ? n / s : n) }')" \
        "$TICK_ERR" "${S_HN[i]}" "${S_HRSS[i]}" "${S_HFD[i]}" "${S_ARSS[i]}" "${S_AFD[i]}" \
        "${TICK_WHY:+  (${TICK_WHY# })}"
    stack_alive || { ALIVE=0; break; }
done
[[ -z $FLAP_END ]] || mock_config "$C" 'status=0&fail_every=1' || true

# ---- summary ---------------------------------------------------------------------------------

echo
echo "requests per client (statuses; socket errors):"
total=0
for s in "${STREAMS[@]}"; do
    read -r name _ <<<"$s"
    codes=
    for key in "${!TOT_CODES[@]}"; do
        [[ $key == "$name:"* ]] && codes+="${key#*:}x${TOT_CODES[$key]} "
    done
    codes=$(tr ' ' '\n' <<<"$codes" | sort -n | xargs)
    printf '  %-5s %8d  (%s; socket errors %d)\n' "$name" "${TOT_REQ[$name]:-0}" "$codes" "${TOT_SOCK[$name]:-0}"
    total=$((total + ${TOT_REQ[$name]:-0}))
done
printf '  total %8d in %ds, faults: %s\n' "$total" "$SECONDS" "${FAULT_LOG[*]:-none}"
if ((ALIVE)); then
    printf 'agent since its last start: picks %s, attempts %s, retries %s, breaker opened %s, log lines %s (malformed %s, dropped %s)\n' \
        "$(metric_sum llmproxy_agent_pick_decisions_total)" "$(metric_sum llmproxy_agent_attempt_decisions_total)" \
        "$(metric_sum llmproxy_agent_attempt_retries_total)" "$(metric_sum llmproxy_circuitbreaker_opened_total)" \
        "$(metric_sum llmproxy_log_lines_received_total)" "$(metric_sum llmproxy_log_lines_malformed_total)" \
        "$(metric_sum llmproxy_log_lines_dropped_total)"
fi

# judge NAME UNIT KIND VALUES...: first, reference, last, max and the verdict of one figure.
FLAT=1
judge() {
    local name=$1 unit=$2 kind=$3 ref_i=0 i v max=0 first ref last ok
    shift 3
    local -a vals=("$@")
    for i in "${!S_T[@]}"; do
        if ((S_T[i] >= WARM_S)); then ref_i=$i; break; fi
    done
    for v in "${vals[@]}"; do ((v > max)) && max=$v; done
    first=${vals[0]} ref=${vals[ref_i]} last=${vals[${#vals[@]} - 1]}
    if [[ $kind == rss ]]; then
        ok=$((last * 100 <= ref * (100 + RSS_SLACK_PCT)))
    else
        ok=$((last <= ref + FD_SLACK))
    fi
    ((ok)) || FLAT=0
    printf '  %-14s first %7d  at %3ds %7d  last %7d  max %7d %-3s  %s\n' "$name" "$first" \
        "${S_T[ref_i]}" "$ref" "$last" "$max" "$unit" "$( ((ok)) && echo flat || echo growing)"
}
if ((${#S_T[@]} > 0)); then
    echo "resources (reference: the first sample at or after ${WARM_S}s; flat = last within +${RSS_SLACK_PCT}% RSS, +${FD_SLACK} fds):"
    judge "HAProxy RSS" KiB rss "${S_HRSS[@]}"
    judge "HAProxy fds" "" fd "${S_HFD[@]}"
    judge "agent RSS" KiB rss "${S_ARSS[@]}"
    judge "agent fds" "" fd "${S_AFD[@]}"
fi
if ((ALIVE && FLAT && ${#S_T[@]} > 0)); then
    echo "verdict: flat"
    VERDICT=0
else
    echo "verdict: $( ((ALIVE)) && echo growing || echo 'stack process exited')"
fi
exit "$VERDICT"
