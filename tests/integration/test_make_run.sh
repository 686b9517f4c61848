#!/usr/bin/env bash
# `make run`'s script (packaging/run-local.sh) run non-interactively on free ports: it starts
# the demo (two mock upstreams, the agent, HAProxy), the curl commands it prints go through
# with round robin and the configured tokens, SIGINT and SIGTERM stop every process it
# started and free its ports, and a busy port is refused by name before anything starts.
# PID_<name> come from lib.sh's spawn; functions run through check; bash -c gets $1 quoted.
# shellcheck disable=SC2154,SC2317,SC2016 source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

SCRIPT=$LLMPROXY_ROOT/packaging/run-local.sh
read -r FWD_PORT ADMIN_PORT A_PORT B_PORT < <(free_ports 4 | xargs)
export LLMPROXY_BUILD=$BUILD LLMPROXY_PORT=$FWD_PORT LLMPROXY_ADMIN_PORT=$ADMIN_PORT
export LLMPROXY_DEMO_A_PORT=$A_PORT LLMPROXY_DEMO_B_PORT=$B_PORT
# demo-a keeps the example's default token, demo-b's comes from the environment.
unset DEMO_A_TOKEN
export DEMO_B_TOKEN=sk-from-env-b

# start_run NAME: the script in the background, as `make run` would start it, logging to
# $T/NAME.log, with its files in $T/NAME/. A background job of a non-interactive bash has
# SIGINT ignored, and a script cannot trap a signal ignored at entry: restore it first.
start_run() {
    spawn "$1" env --default-signal=INT,QUIT LLMPROXY_RUN_DIR="$T/$1" bash "$SCRIPT"
}

# ready NAME: the script printed where to send requests.
ready() { grep -q 'Ctrl-C stops everything' "$T/$1.log"; }

# descendants PID: every process below PID (HAProxy's master has its worker below it).
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1"); do
        echo "$child"
        descendants "$child"
    done
}

# stop_run NAME SIGNAL: send SIGNAL to the script and wait (15 s at most) for its exit
# status, left in $run_status (255 when it did not exit).
stop_run() {
    local pid
    pid=$(eval echo "\$PID_$1")
    kill -"$2" "$pid"
    if wait_until 15 bash -c "! kill -0 $pid"; then
        wait "$pid"
        run_status=$?
    else
        run_status=255
    fi
}

none_alive() {
    local pid
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 1; done
    return 0
}

none_listening() {
    local port
    for port in "$@"; do ss -Htln "sport = :$port" | grep -q . && return 1; done
    return 0
}

no_sanitizer_report() { ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$@"; }

# printed_curl NAME FLAGS: the ready-to-paste curl the script printed, with those flags.
printed_curl() { sed -n "s/^  \\(curl $2 http.*\\)\$/\\1/p" "$T/$1.log" | head -n 1; }

# ---- a full run, stopped with SIGINT ------------------------------------------------------
start_run run1
if ! wait_until 60 ready run1; then
    fail "the script did not report ready within 60 s"
    for f in "$T"/run1/*.log; do [ -f "$f" ] && { echo "  --- $f"; tail -n 20 "$f"; }; done
    finish
fi
log "started: $(descendants "$PID_run1" | xargs)"

check "the banner names the forward on its port" \
    grep -q "forward   http://127.0.0.1:$FWD_PORT " "$T/run1.log"
check "the banner names the admin URL" grep -q "http://127.0.0.1:$ADMIN_PORT/health" "$T/run1.log"
check "haproxy.run_dir came from LLMPROXY_RUN_DIR (socket in the run folder)" \
    test -S "$T/run1/haproxy.sock"

chat=$(printed_curl run1 -s)
stream=$(printed_curl run1 -sN)
check "a ready-to-paste chat completion curl is printed" test -n "$chat"
check "a ready-to-paste streaming curl is printed" test -n "$stream"

content_of() { bash -c "$chat -m 10" | sed -n 's/.*"content":"\([^"]*\)".*/\1/p'; }
first=$(content_of)
second=$(content_of)
check "the printed curl gets a chat completion, round robin ($first then $second)" \
    test "$first $second" = "demo-a demo-b" -o "$first $second" = "demo-b demo-a"
check "HAProxy's request log follows in the script's terminal, a line per request" \
    wait_until 5 bash -c '[ "$(grep -c "^LLMR4 .* demo demo - - POST 200 .*\"/v1/chat/completions\" - - - - - -$" "$1")" -ge 2 ]' \
    _ "$T/run1.log"

bash -c "$stream -m 10" >"$T/stream.out"
check "the printed streaming curl gets 5 SSE events and [DONE]" \
    test "$(grep -c '^data: {' "$T/stream.out")" -eq 5 -a "$(grep -c '^data: \[DONE\]' "$T/stream.out")" -eq 1

records() { curl -s -m 5 "http://127.0.0.1:$1/__mock/requests"; }
check "demo-a got the example's default bearer token" \
    grep -q '"authorization":"Bearer demo-key-a"' <<<"$(records "$A_PORT")"
check "demo-b got its token from the environment" \
    grep -q '"authorization":"Bearer sk-from-env-b"' <<<"$(records "$B_PORT")"
check "the token from the environment is not written into the rendered files" \
    bash -c '! grep -rq sk-from-env-b "$1"' _ "$T/run1/rendered"

started=$(descendants "$PID_run1" | xargs)
stop_run run1 INT
check "SIGINT: the script exits 0 (status $run_status)" test "$run_status" -eq 0
check "SIGINT: the script says it stopped" grep -q 'run-local: stopped' "$T/run1.log"
# shellcheck disable=SC2086
check "SIGINT: every process it started is gone ($started)" none_alive $started
check "SIGINT: its ports are free again" none_listening "$FWD_PORT" "$A_PORT" "$B_PORT"
check "SIGINT: the agent removed its sockets" test ! -e "$T/run1/agent-spop.sock"
check "no sanitizer report from the agent or the mocks" no_sanitizer_report "$T"/run1/*.log

# ---- a busy port is refused by name, nothing is started ------------------------------------
spawn blocker "$BUILD/tools/mock_upstream" --name blocker --port "$FWD_PORT"
wait_port "$FWD_PORT"
LLMPROXY_RUN_DIR=$T/busy timeout 30 bash "$SCRIPT" >"$T/busy.log" 2>&1
busy_status=$?
check "a busy forward port: exit 1 (status $busy_status)" test "$busy_status" -eq 1
check "the message names the port and the variable that moves it" \
    bash -c 'grep -q "port $1 (forward) is already in use" "$2" &&
             grep -q "LLMPROXY_PORT=<port> make run" "$2"' _ "$FWD_PORT" "$T/busy.log"
nothing_started() { none_listening "$A_PORT" "$B_PORT" && test ! -e "$T/busy/agent-spop.sock"; }
check "nothing was started" nothing_started
stop_pid "$PID_blocker"

# ---- SIGTERM stops it just as well ---------------------------------------------------------
start_run run2
check "second run ready" wait_until 60 ready run2
started=$(descendants "$PID_run2" | xargs)
stop_run run2 TERM
check "SIGTERM: the script exits 0 (status $run_status)" test "$run_status" -eq 0
# shellcheck disable=SC2086
check "SIGTERM: every process it started is gone ($started)" none_alive $started
check "SIGTERM: its ports are free again" none_listening "$FWD_PORT" "$A_PORT" "$B_PORT"
check "SIGTERM: the agent removed its sockets" test ! -e "$T/run2/agent-spop.sock"
check "no sanitizer report in the second run" no_sanitizer_report "$T"/run2/*.log

if [ "$_failures" -gt 0 ]; then
    for f in "$T"/run*/*.log; do [ -f "$f" ] && { echo "  --- $f (tail)"; tail -n 20 "$f"; }; done
fi
finish
