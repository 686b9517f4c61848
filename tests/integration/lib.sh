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
HAPROXY=${HAPROXY:-haproxy}
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

# free_ports N: print N free TCP ports on 127.0.0.1, from a random block, none listening.
free_ports() {
    local n=$1 base p ok
    for _ in $(seq 100); do
        base=$((20000 + (RANDOM % 3500) * 10))
        ok=1
        for p in $(seq "$base" $((base + n - 1))); do
            if ss -Htln "sport = :$p" | grep -q .; then ok=0; break; fi
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
