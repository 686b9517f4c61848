#!/usr/bin/env bash
# The container's supervisor (PID 1): render the configuration for HAProxy, start
# llmproxy-agent and HAProxy, pass signals on, and stop when either of them stops.
#
#   SIGTERM, SIGINT  HAProxy stops accepting and finishes its requests (soft stop, at most
#                    LLMPROXY_STOP_TIMEOUT_S), then the agent stops; exit 0
#   SIGHUP           reload: llmproxy-ctl check, render, agent SIGHUP, HAProxy SIGUSR2
#   either exits     the other is stopped; exit 1 (the orchestrator restarts the container)
#
# Environment (all optional):
#   LLMPROXY_CONFIG          the configuration (default /etc/llmproxy/config.yaml)
#   LLMPROXY_RENDERED        where HAProxy's files are rendered (default /run/llmproxy/rendered)
#   LLMPROXY_STOP_TIMEOUT_S  how long HAProxy may finish requests at stop (default 25)
#   HAPROXY                  the haproxy binary (default: haproxy on PATH)
# Secrets referenced as ${NAME} in the configuration come from the container's environment.
set -u

CONFIG=${LLMPROXY_CONFIG:-/etc/llmproxy/config.yaml}
RENDERED=${LLMPROXY_RENDERED:-/run/llmproxy/rendered}
STOP_TIMEOUT_S=${LLMPROXY_STOP_TIMEOUT_S:-25}
HAPROXY=${HAPROXY:-haproxy}

say() { printf 'entrypoint: %s\n' "$*" >&2; }

agent_pid=""
haproxy_pid=""
stopping=0

# wait_gone PID TIMEOUT_S: wait for PID to exit, SIGKILL after TIMEOUT_S.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# stop_all: HAProxy first (soft stop, so streams in flight finish), then the agent.
stop_all() {
    stopping=1
    if [ -n "$haproxy_pid" ]; then
        kill -USR1 "$haproxy_pid" 2>/dev/null
        wait_gone "$haproxy_pid" "$STOP_TIMEOUT_S"
    fi
    if [ -n "$agent_pid" ]; then
        kill -TERM "$agent_pid" 2>/dev/null
        wait_gone "$agent_pid" 5
    fi
}

on_stop() {
    say "stopping (SIG$1)"
    stop_all
    exit 0
}

# reload: refuse a configuration HAProxy would not load, before touching anything running.
on_reload() {
    say "reloading $CONFIG"
    if ! llmproxy-ctl check -c "$CONFIG" >&2; then
        say "reload refused: the configuration does not pass llmproxy-ctl check"
        return
    fi
    llmproxy-ctl render -c "$CONFIG" -o "$RENDERED" >&2 || { say "render failed"; return; }
    kill -HUP "$agent_pid" 2>/dev/null
    kill -USR2 "$haproxy_pid" 2>/dev/null
}

trap 'on_stop TERM' TERM
trap 'on_stop INT' INT
trap 'on_reload' HUP

llmproxy-ctl render -c "$CONFIG" -o "$RENDERED" >&2 || { say "cannot render $CONFIG"; exit 1; }

llmproxy-agent -c "$CONFIG" &
agent_pid=$!
# HAProxy in master-worker mode in the foreground; it fails open while the agent starts.
# HAProxy's environment as packaged (the malloc setting); the container's own value wins.
GLIBC_TUNABLES=${GLIBC_TUNABLES:-$(sed -n 's/^GLIBC_TUNABLES=//p' /usr/share/llmproxy/haproxy.env)} \
    "$HAPROXY" -W -db -f "$RENDERED/haproxy.cfg" &
haproxy_pid=$!
say "started llmproxy-agent (pid $agent_pid) and HAProxy (pid $haproxy_pid)"

# A trapped signal interrupts `wait -n`; only a child's exit ends the loop.
while :; do
    wait -n "$agent_pid" "$haproxy_pid"
    [ "$stopping" -eq 1 ] && exit 0
    if ! kill -0 "$agent_pid" 2>/dev/null; then
        say "llmproxy-agent exited; stopping HAProxy"
        agent_pid=""
        break
    fi
    if ! kill -0 "$haproxy_pid" 2>/dev/null; then
        say "HAProxy exited; stopping llmproxy-agent"
        haproxy_pid=""
        break
    fi
done
stop_all
exit 1
