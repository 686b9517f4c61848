# Shared helpers for integration tests (sourced, bash).
#
# Every test runs in its own scratch folder ($T), starts its own processes on 127.0.0.1
# with ports from free_ports, waits for readiness instead of sleeping, and stops what it
# started by PID on exit, pass or fail.

set -u
LLMPROXY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LLMPROXY_BUILD:-$LLMPROXY_ROOT/build/san}
AGENT=$BUILD/llmproxy-agent
CTL=$BUILD/llmproxy-ctl
export HAPROXY=${HAPROXY:-haproxy}
# haproxy_at_least MAJOR MINOR: the HAProxy under test ($HAPROXY) is that version or newer.
haproxy_at_least() {
    local v major minor
    v=$("$HAPROXY" -v | sed -n 's/^HA-\{0,1\}Proxy version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n 1)
    read -r major minor <<<"$v"
    [ -n "$major" ] && { [ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }; }
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

T=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-it.XXXXXX")
_pids=()
_failures=0

cleanup() {
    local pid
    for pid in "${_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${_pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$_failures" -eq 0 ] && [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "  (scratch kept in $T)"; fi
}
trap cleanup EXIT

log() { printf '  %s\n' "$*"; }

fail() {
    _failures=$((_failures + 1))
    printf '  FAIL: %s\n' "$*"
}

# check DESCRIPTION COMMAND...: run a command, record pass or fail.
check() {
    local what=$1
    shift
    if "$@"; then printf '  ok: %s\n' "$what"; else fail "$what"; fi
}

finish() {
    if [ "$_failures" -gt 0 ]; then
        for f in "$T"/*.log; do [ -f "$f" ] && { echo "  --- $f (tail)"; tail -n 30 "$f"; }; done
        exit 1
    fi
    exit 0
}

# What a test cannot do here (an optional tool missing, not root, an older HAProxy) is
# skipped, never passed in silence. run.sh counts a skipped test apart from passes and
# failures by its exit status, and lists the skipped parts of tests that did run.
SKIP_STATUS=77

# skip REASON: the whole test cannot run here. Checks that failed before still fail it.
skip() {
    [ "$_failures" -eq 0 ] || finish
    printf '  skipped: %s\n' "$*"
    exit "$SKIP_STATUS"
}

# skip_part WHAT REASON: part of the test cannot run here; the rest goes on.
skip_part() {
    printf '  skipped: %s: %s\n' "$1" "$2"
    if [ -n "${LLMPROXY_SKIPPED_PARTS:-}" ]; then
        printf '%s: %s: %s\n' "$(basename "$0" .sh)" "$1" "$2" >>"$LLMPROXY_SKIPPED_PARTS"
    fi
}

# free_ports N: print N free TCP ports on 127.0.0.1, from a random block with no socket on
# it, below the kernel's ephemeral range so that no client connection takes one of them
# between this check and the bind.
free_ports() {
    local n=$1 base p ok low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ "${low:-0}" -gt 12000 ] || low=32768
    for _ in $(seq 100); do
        base=$((10000 + (RANDOM % ((low - 10000 - n) / 10)) * 10))
        ok=1
        for p in $(seq "$base" $((base + n - 1))); do
            if ss -Htan "sport = :$p" | grep -q .; then ok=0; break; fi
        done
        if [ $ok -eq 1 ]; then seq "$base" $((base + n - 1)); return 0; fi
    done
    echo "free_ports: no free block" >&2
    return 1
}

# spawn NAME CMD...: start a background process, log to $T/NAME.log, remember its PID.
spawn() {
    local name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    local pid=$!
    _pids+=("$pid")
    eval "PID_$name=$pid"
}

# wait_port PORT [TIMEOUT_S]: until something listens on 127.0.0.1:PORT.
wait_port() {
    local port=$1 timeout=${2:-10} i
    for i in $(seq $((timeout * 20))); do
        if ss -Htln "sport = :$port" | grep -q .; then return 0; fi
        sleep 0.05
    done
    echo "wait_port: nothing listens on $port after ${timeout}s" >&2
    return 1
}

# wait_until TIMEOUT_S COMMAND...: poll a condition every 50 ms.
wait_until() {
    local timeout=$1 i
    shift
    for i in $(seq $((timeout * 20))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    return 1
}

# wait_output TIMEOUT OP VALUE CMD [ARGS...]: wait until `test "$(CMD ARGS)" OP VALUE` holds,
# running CMD afresh at each poll. (`wait_until 5 test "$(cmd)" = 1` would not: the shell
# expands "$(cmd)" once, before wait_until ever runs.)
wait_output() {
    local timeout=$1 op=$2 value=$3
    shift 3
    wait_until "$timeout" output_is "$op" "$value" "$@"
}
output_is() {
    local op=$1 value=$2
    shift 2
    test "$("$@")" "$op" "$value"
}

# stop PID: stop one process we started (TERM, then KILL after 5 s).
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# haproxy_cli SOCKET COMMAND: one runtime-API command.
haproxy_cli() {
    printf '%s\n' "$2" | socat -t 2 - "UNIX-CONNECT:$1" 2>/dev/null
}

# ---- the rendered data path: mock upstreams, agent and HAProxy ----------------------

MOCK=$BUILD/tools/mock_upstream

# start_mock NAME PORT [MOCK ARGS...]: one mock upstream, spawned as mock_NAME and ready.
start_mock() {
    local name=$1 port=$2 scheme=http
    shift 2
    case " $* " in *" --tls-cert "*) scheme=https ;; esac
    spawn "mock_$name" "$MOCK" --name "$name" --port "$port" "$@"
    local pid_var=PID_mock_$name
    # Ours answers, not whatever else may hold the port.
    if ! wait_until 10 bash -c "[ \"\$(curl -sfk '$scheme://127.0.0.1:$port/__mock/health' | jq -r .name)\" = '$name' ] &&
        kill -0 ${!pid_var}"; then
        fail "mock $name did not start on port $port"
        return 1
    fi
}

# mock_records PORT [JQ FILTER]: the mock's request records through a jq filter (default:
# the whole array), over plain HTTP, or HTTPS when MOCK_SCHEME=https.
mock_records() {
    curl -sfk -m 5 "${MOCK_SCHEME:-http}://127.0.0.1:$1/__mock/requests" | jq -r "${2:-.}"
}

# mock_count PORT: how many API requests the mock has recorded.
mock_count() { mock_records "$1" 'length'; }

# mock_reset PORT...: clear the records of each mock.
mock_reset() {
    local port
    for port in "$@"; do
        curl -sfk -m 5 -o /dev/null -X POST "${MOCK_SCHEME:-http}://127.0.0.1:$port/__mock/reset"
    done
}

# mock_config PORT QUERY: change a mock's settings at run time (see tests/tools/README.md).
mock_config() {
    curl -sfk -m 5 -o /dev/null -X POST "${MOCK_SCHEME:-http}://127.0.0.1:$1/__mock/config?$2"
}

# arrival_order PORT:NAME...: the names of the mocks in the order their API requests
# arrived (by the records' arrival_ms, then by mock), space-separated.
arrival_order() {
    local spec
    for spec in "$@"; do
        mock_records "${spec%%:*}" ".[] | \"\\(.arrival_ms) \\(.seq) ${spec#*:}\""
    done | sort -n -k1,1 -k2,2 | awk '{print $3}' | xargs
}

# agent_is UP|DOWN: the agent's state as HAProxy's spop-check sees it (needs $T/haproxy.sock,
# i.e. `haproxy: {run_dir: $T}` in the configuration).
agent_is() {
    [ "$(haproxy_cli "$T/haproxy.sock" "show stat llm_agent 4 -1" |
        awk -F, '$2=="agent"{print $18}')" = "$1" ]
}

# agent_address: where the rendered configuration in $T/out has HAProxy reach the agent's
# SPOP listener: "unix@PATH" or "HOST:PORT".
agent_address() {
    awk '$1=="server" && $2=="agent" {gsub(/"/, "", $3); print $3}' "$T/out/haproxy.cfg"
}

# start_agent CONFIG_YAML: the agent, spawned as `agent`, listening where the rendered
# configuration in $T/out has HAProxy reach it (a unix socket, or a TCP port).
start_agent() {
    local addr
    addr=$(agent_address)
    spawn agent "$AGENT" -c "$1"
    case $addr in
    unix@*) wait_until 10 test -S "${addr#unix@}" ;;
    *) wait_port "${addr##*:}" ;;
    esac && kill -0 "$PID_agent"
}

# start_stack CONFIG_YAML: render into $T/out, start the agent and HAProxy (spawned as
# `haproxy`), and wait until HAProxy's health check has seen the agent UP. The caller's
# configuration sets `haproxy: {run_dir: $T}`.
start_stack() {
    local cfg=$1
    if ! "$CTL" render -c "$cfg" -o "$T/out" >"$T/render.log" 2>&1; then
        cat "$T/render.log" >&2
        fail "render $cfg"
        return 1
    fi
    start_agent "$cfg" || { fail "agent did not start"; return 1; }
    spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
    if ! wait_until 10 agent_is UP || ! kill -0 "$PID_haproxy"; then
        fail "HAProxy did not see the agent UP"
        return 1
    fi
}

# metric 'NAME{LABELS}': the value of exactly that series on the agent's /metrics page at
# 127.0.0.1:$ADMIN, or "absent"; the page stays in $T/metrics for further reading.
metric() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"
    awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$T/metrics"
}

# requests_on PHASE: the GET /PHASE/models requests of forward `main` the running agent
# counted, or "absent": tests that restart the agent send each phase to its own path.
requests_on() { metric "llmproxy_http_requests_total{forward=\"main\",method=\"GET\",path=\"/$1/models\"}"; }
# counted PHASE N: the running agent counted exactly N of that phase's requests.
counted() { [ "$(requests_on "$1")" = "$2" ]; }

# clean_log LOG: no sanitizer report in a process's log.
clean_log() { ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$1"; }
