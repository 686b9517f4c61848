#!/usr/bin/env bash
# make run: LLMProxy on this machine, on loopback, in the foreground, with two mock upstreams
# standing in for LLM APIs. Ctrl-C (SIGINT) or SIGTERM stops everything it started.
#
#   packaging/run-local.sh            (make run builds first, then calls this)
#
# Steps: check the ports are free, derive the demo configuration from
# docs/examples/config.yaml (ports moved as asked), render it for HAProxy, start the mock
# upstreams demo-a and demo-b, the agent and HAProxy, wait until each is ready, print how to
# send requests, then follow HAProxy's request log until stopped. Builds nothing itself.
#
# Environment (all optional):
#   LLMPROXY_BUILD       folder holding llmproxy-ctl, llmproxy-agent, tools/mock_upstream
#                        (default: build)
#   LLMPROXY_RUN_DIR     scratch folder: configuration, rendered files, logs, and the
#                        internal unix sockets (HAProxy's, the agent's SPOP and log feed)
#                        (default: LLMPROXY_BUILD/run; at most 70 bytes once absolute);
#                        the example config reads it as haproxy.run_dir
#   LLMPROXY_PORT        the forward clients use            (default 3000)
#   LLMPROXY_ADMIN_PORT  the admin endpoint                 (default 9000)
#   LLMPROXY_DEMO_A_PORT, LLMPROXY_DEMO_B_PORT  the mock upstreams (default 8001, 8002)
#   DEMO_A_TOKEN, DEMO_B_TOKEN  bearer tokens sent upstream (default demo-key-a/-b)
#   HAPROXY              the haproxy binary (default: haproxy on PATH)
#
# Exit status: 0 when stopped by a signal after a clean start, 1 when something could not
# start or stopped on its own.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE=$ROOT/docs/examples/config.yaml
HAPROXY=${HAPROXY:-haproxy}
READY_TIMEOUT_S=30 # sanitizer builds start slowly
STOP_TIMEOUT_S=5   # then SIGKILL

say() { printf 'run-local: %s\n' "$*"; }

# ---- processes we started, stopped by PID only --------------------------------------------
pids=()
names=()
stopping=0

# track NAME PID: remember a process we started in the background.
track() {
    names+=("$1")
    pids+=("$2")
}

# spawn NAME CMD...: start CMD in the background, output to $RUN_DIR/NAME.log.
spawn() {
    local name=$1
    shift
    "$@" >"$RUN_DIR/$name.log" 2>&1 &
    track "$name" "$!"
}

# stop_all: SIGTERM to everything still running, newest first (HAProxy stops taking traffic
# before the agent and the upstreams go), then wait; SIGKILL what is left after the timeout.
stop_all() {
    local i deadline
    [ "$stopping" -eq 1 ] && return
    stopping=1
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
    done
    deadline=$((SECONDS + STOP_TIMEOUT_S))
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        while kill -0 "${pids[i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if kill -0 "${pids[i]}" 2>/dev/null; then
            say "${names[i]} (pid ${pids[i]}) ignored SIGTERM; killing it"
            kill -KILL "${pids[i]}" 2>/dev/null
        fi
        wait "${pids[i]}" 2>/dev/null
    done
}

die() {
    say "error: $*" >&2
    stop_all
    exit 1
}

# show_log NAME: the end of one process's log, to explain why it failed.
show_log() {
    local f=$RUN_DIR/$1.log
    [ -s "$f" ] || return 0
    echo "--- last lines of $f:" >&2
    tail -n 20 "$f" >&2
}

on_signal() {
    trap '' INT TERM # a second Ctrl-C must not cut the stop short (it is bounded anyway)
    echo
    say "stopping (signal $1)"
    stop_all
    say "stopped"
    exit 0
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'stop_all' EXIT

# ---- settings -------------------------------------------------------------------------------
BUILD=${LLMPROXY_BUILD:-$ROOT/build}
CTL=$BUILD/llmproxy-ctl
AGENT=$BUILD/llmproxy-agent
MOCK=$BUILD/tools/mock_upstream
for bin in "$CTL" "$AGENT" "$MOCK"; do
    [ -x "$bin" ] || die "$bin is missing: build first (make all, or make run)"
done
command -v "$HAPROXY" >/dev/null || die "haproxy not found (HAPROXY=$HAPROXY): run make deps"
for tool in curl ss; do
    command -v "$tool" >/dev/null || die "$tool not found: run make deps"
done

RUN_DIR=${LLMPROXY_RUN_DIR:-$BUILD/run}
mkdir -p "$RUN_DIR" || die "cannot create the run folder $RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd) # haproxy.run_dir must be absolute
export LLMPROXY_RUN_DIR=$RUN_DIR

# One row per port: variable, its default (as written in the example), what listens there.
# The defaults are also how the rows are found in the example (see derive_config).
PORT_ROWS=(
    "LLMPROXY_PORT 3000 forward"
    "LLMPROXY_ADMIN_PORT 9000 admin"
    "LLMPROXY_DEMO_A_PORT 8001 demo-a"
    "LLMPROXY_DEMO_B_PORT 8002 demo-b"
)
declare -A port_of # what -> port
declare -A seen    # port -> what
for row in "${PORT_ROWS[@]}"; do
    read -r var def what <<<"$row"
    p=${!var:-$def}
    if ! [[ $p =~ ^[1-9][0-9]{0,4}$ ]] || [ "$p" -gt 65535 ]; then
        die "$var=$p is not a port number (1-65535)"
    fi
    [ -z "${seen[$p]:-}" ] || die "$var=$p: port $p is already given to ${seen[$p]}"
    seen[$p]=$what
    port_of[$what]=$p
done
FWD_PORT=${port_of[forward]}
ADMIN_PORT=${port_of[admin]}
# Where the agent listens for HAProxy (the example leaves agent.spop to its default).
SPOP_SOCKET=$RUN_DIR/agent-spop.sock

port_busy() { ss -Htln "sport = :$1" | grep -q .; }

# Refuse clearly, before starting anything, when another program holds one of the ports.
busy=0
for row in "${PORT_ROWS[@]}"; do
    read -r var def what <<<"$row"
    p=${port_of[$what]}
    if port_busy "$p"; then
        busy=1
        say "error: port $p ($what) is already in use:" >&2
        ss -Htlnp "sport = :$p" | sed 's/^/    /' >&2
        say "  stop what listens there, or pick another port: $var=<port> make run" >&2
    fi
done
[ "$busy" -eq 0 ] || die "ports busy; nothing started"

# ---- configuration --------------------------------------------------------------------------

# derive_config OUT: the example with its default ports replaced by the chosen ones. Each
# default must match exactly one line (a listener's `port:` or an upstream's URL), so an
# edited example fails here instead of starting something on unexpected ports.
derive_config() {
    local out=$1 row var def what p pattern n
    local -a sed_args=()
    for row in "${PORT_ROWS[@]}"; do
        read -r var def what <<<"$row"
        p=${port_of[$what]}
        case $what in
        demo-*) pattern="\\(url: *\"http://127\\.0\\.0\\.1:\\)$def/" ;;
        *) pattern="^\\( *port: *\\)$def *\$" ;;
        esac
        n=$(grep -c "$pattern" "$EXAMPLE")
        [ "$n" -eq 1 ] || die "$EXAMPLE: expected one line matching '$pattern' ($what), found $n"
        case $what in
        demo-*) sed_args+=(-e "s#$pattern#\\1$p/#") ;;
        *) sed_args+=(-e "s#$pattern#\\1$p#") ;;
        esac
    done
    {
        echo "# Derived from $EXAMPLE by packaging/run-local.sh; rewritten at every run."
        sed "${sed_args[@]}" "$EXAMPLE"
    } >"$out.tmp" && mv "$out.tmp" "$out"
}

CONFIG=$RUN_DIR/config.yaml
RENDERED=$RUN_DIR/rendered
derive_config "$CONFIG" || die "cannot write $CONFIG"
"$CTL" render -c "$CONFIG" -o "$RENDERED" >"$RUN_DIR/render.log" 2>&1 || {
    show_log render
    die "llmproxy-ctl could not render $CONFIG"
}

# ---- start, each one ready before the next --------------------------------------------------

# wait_ready NAME WHAT CMD...: poll CMD until it succeeds; fail if the process NAME (the
# last one spawned) exits or READY_TIMEOUT_S passes.
wait_ready() {
    local name=$1 what=$2 pid=${pids[-1]} deadline=$((SECONDS + READY_TIMEOUT_S))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log "$name"
            die "$name exited while starting ($what)"
        fi
        [ "$SECONDS" -lt "$deadline" ] || {
            show_log "$name"
            die "$name not ready after ${READY_TIMEOUT_S}s ($what)"
        }
        sleep 0.1
    done
}

mock_healthy() { curl -sf -m 1 "http://127.0.0.1:$1/__mock/health"; }

# HAProxy's own health check (option spop-check) sees the agent UP.
agent_up_in_haproxy() {
    printf 'show stat llm_agent 4 -1\n' | socat -t 2 - "UNIX-CONNECT:$RUN_DIR/haproxy.sock" |
        awk -F, '$2 == "agent" { print $18 }' | grep -qx UP
}

for up in demo-a demo-b; do
    spawn "$up" "$MOCK" --name "$up" --port "${port_of[$up]}"
    wait_ready "$up" "answering on 127.0.0.1:${port_of[$up]}" mock_healthy "${port_of[$up]}"
done

spawn agent "$AGENT" -c "$CONFIG"
wait_ready agent "SPOP on $SPOP_SOCKET" test -S "$SPOP_SOCKET"

# HAProxy's environment as packaged (the malloc setting); the caller's own value wins.
spawn haproxy env GLIBC_TUNABLES="${GLIBC_TUNABLES:-$(sed -n 's/^GLIBC_TUNABLES=//p' "$ROOT/packaging/haproxy.env")}" \
    "$HAPROXY" -W -db -f "$RENDERED/haproxy.cfg"
wait_ready haproxy "listening on 127.0.0.1:$FWD_PORT" port_busy "$FWD_PORT"
if command -v socat >/dev/null; then
    wait_ready haproxy "its health check of the agent" agent_up_in_haproxy
else
    say "socat not found (make deps installs it): not waiting for HAProxy to see the agent"
fi

# ---- where to send requests -----------------------------------------------------------------
URL=http://127.0.0.1:$FWD_PORT/v1/chat/completions
BODY='{"model":"demo","messages":[{"role":"user","content":"Hello"}]}'
STREAM_BODY='{"model":"demo","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

if curl -sf -m 1 -o /dev/null "http://127.0.0.1:$ADMIN_PORT/health"; then
    ADMIN_NOTE=""
else
    ADMIN_NOTE="   (not answering: see $RUN_DIR/agent.log)"
fi

cat <<EOF

LLMProxy is running. Files and logs: $RUN_DIR

  forward   http://127.0.0.1:$FWD_PORT  ->  group "demo", round robin over
            demo-a (127.0.0.1:${port_of[demo-a]}) and demo-b (127.0.0.1:${port_of[demo-b]}), mock upstreams
  agent     SPOP on $SPOP_SOCKET
  admin     http://127.0.0.1:$ADMIN_PORT/health, /metrics and /status$ADMIN_NOTE

A chat completion (the answer's content names the upstream; run it twice to see both):

  curl -s $URL -H 'Content-Type: application/json' -d '$BODY'

The same, streamed (SSE events arrive as the upstream sends them):

  curl -sN $URL -H 'Content-Type: application/json' -d '$STREAM_BODY'

Ctrl-C stops everything. HAProxy's request log follows.

EOF

# Follow the request log on our own output; tail is one more process of ours.
tail -n 0 -f "$RUN_DIR/haproxy.log" &
track follow "$!"

# Until a signal arrives (on_signal exits) or a process stops on its own.
while :; do
    wait -n
    # Ctrl-C in a terminal reaches our children too, and one may exit before our own trap
    # has run: give the trap a moment before calling the exit unexpected.
    sleep 0.3
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[i]}" 2>/dev/null; then
            show_log "${names[i]}"
            die "${names[i]} (pid ${pids[i]}) stopped on its own"
        fi
    done
done
