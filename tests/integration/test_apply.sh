#!/usr/bin/env bash
# llmproxy-ctl apply reloads a running stack without a failed request: under steady load and
# with an SSE stream open, a new version adds upstream c and changes the weights; every
# request answers 200, the stream ends complete, c takes traffic afterwards and a keeps its
# open breaker through the agent's reload. A configuration that fails validation or
# HAProxy's check changes nothing, and older versions are pruned to the previous one.
source "$(dirname "$0")/lib.sh"

read -r A B C F SPOP LOGS ADMIN < <(free_ports 7 | xargs)
LIVE=$T/live

# config WEIGHTS_AND_MEMBERS: the configuration with the given group member list.
config() {
    cat <<YAML
http_server:
  forwards:
    - {name: chat, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - name: a
    url: "http://127.0.0.1:$A/v1"
    breaker: {threshold: 0.5, cooldown: 600}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
  - {name: c, url: "http://127.0.0.1:$C/v1"}
upstream_groups:
  - name: g
    upstreams: [$1]
    balance: {strategy: weighted_roundrobin}
    http_client: {stream: true}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML
}
config "{name: a, weight: 1}, {name: b, weight: 1}" >"$T/v1.yaml"
config "{name: a, weight: 1}, {name: b, weight: 1}, {name: c, weight: 3}" >"$T/v2.yaml"
config "{name: a}, {name: nosuch}" >"$T/broken.yaml"

for m in a b c; do
    port_var=${m^^}
    start_mock "$m" "${!port_var}" --sse-events 30 --sse-gap-ms 100 || finish
done

check "the first apply creates $LIVE -> live.1" \
    bash -c "'$CTL' apply -c '$T/v1.yaml' -o '$LIVE' >'$T/apply1.out' 2>&1 &&
             [ \"\$(readlink '$LIVE')\" = live.1 ]"
check "the version holds a copy of the configuration for the agent" cmp "$T/v1.yaml" "$LIVE/config.yaml"
check "haproxy.cfg names its own version's folder" \
    grep -q "errorfile 503 \"$T/live.1/errors/" "$LIVE/haproxy.cfg"

spawn agent "$AGENT" -c "$LIVE/config.yaml"
wait_port "$SPOP" || finish
spawn haproxy "$HAPROXY" -W -db -f "$LIVE/haproxy.cfg" -p "$T/haproxy.pid"
check "HAProxy sees the agent UP" wait_until 10 agent_is UP
check "HAProxy's pidfile names the master" wait_output 5 = "$PID_haproxy" cat "$T/haproxy.pid"

metrics() { curl -sf -m 2 "http://127.0.0.1:$ADMIN/metrics"; }
breaker_open() { metrics | grep -qx 'llmproxy_upstream_breaker_state{upstream="a"} 1'; }
worker_pid() { haproxy_cli "$T/haproxy.sock" "show info" | awk -F': ' '$1=="Pid"{print $2}'; }
chat() {
    curl -s -m 5 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$F/chat/completions" \
        -d '{"model":"m","messages":[]}'
}

# a fails its turns until its breaker opens (5 failed attempts in the window), then heals:
# only the breaker keeps it out from here on, for its 600 s cooldown.
mock_config "$A" status=503
for _ in $(seq 10); do chat >/dev/null; done
check "a's breaker is open before the apply" wait_until 5 breaker_open
mock_config "$A" status=0
mock_reset "$A" "$B" "$C"
old_worker=$(worker_pid)

# Steady load: two clients, ~16 requests/s in all, for 6 s; one status per line.
load() {
    local end=$((SECONDS + 6))
    while [ "$SECONDS" -lt "$end" ]; do chat; sleep 0.12; done >"$T/load.$1"
}
load 1 & load1=$!
load 2 & load2=$!
# One SSE stream of 30 events, 100 ms apart: open across the reload.
curl -sN -m 15 "http://127.0.0.1:$F/chat/completions" \
    -d '{"model":"m","stream":true,"messages":[]}' >"$T/stream" &
stream=$!

sleep 1.5
check "apply v2 (adds c, weights 1:1:3) while loaded" \
    "$CTL" apply -c "$T/v2.yaml" -o "$LIVE" --haproxy-pid "$T/haproxy.pid" --agent-pid "$PID_agent"
check "$LIVE -> live.2, live.1 kept for rollback" \
    test "$(readlink "$LIVE")" = live.2 -a -d "$T/live.1"
# The old worker finishes its requests through internal listeners it no longer owns: it
# reaches them only if the new worker binds the same unix sockets.
binds() { awk '$1 == "bind" && $2 ~ /^"unix@/ {print $2}' "$T/$1/haproxy.cfg" | sort -u; }
check "v2 binds every internal socket v1 bound ($(binds live.1 | wc -l) of $(binds live.2 | wc -l))" \
    test -z "$(comm -23 <(binds live.1) <(binds live.2))" -a "$(binds live.1 | wc -l)" -gt 0
wait "$load1" "$load2" "$stream"

statuses=$(cat "$T/load.1" "$T/load.2" | sort | uniq -c | awk '{print $2"x"$1}' | xargs)
n=$(cat "$T/load.1" "$T/load.2" | wc -l)
check "no request failed across the reload ($n requests: $statuses)" \
    test "$n" -ge 40 -a "$statuses" = "200x$n"
events=$(grep -c '^data: {' "$T/stream")
check "the SSE stream open across the reload ends complete ($events events, then [DONE])" \
    test "$events" -eq 30 -a "$(grep -v '^$' "$T/stream" | tail -n 1)" = "data: [DONE]"
check "HAProxy runs a new worker ($old_worker -> $(worker_pid))" \
    test -n "$old_worker" -a "$(worker_pid)" != "$old_worker"
check "the agent reloaded the new version" \
    grep -q 'reloaded: 1 forward, 1 group, 3 upstreams' "$T/agent.log"
nc=$(mock_count "$C")
check "c receives traffic after the apply ($nc requests)" test "$nc" -gt 0
check "a's breaker is still open after the agent's reload" breaker_open
na=$(mock_count "$A")
check "so a received nothing, healthy as it was ($na requests)" test "$na" -eq 0

# Refusals change nothing: not the link, not the folders, not a process.
reloads() { grep -c 'reloading' "$T/agent.log"; }
agent_reloads=$(reloads)
worker=$(worker_pid)
"$CTL" apply -c "$T/broken.yaml" -o "$LIVE" --haproxy-pid "$T/haproxy.pid" \
    --agent-pid "$PID_agent" >"$T/broken.out" 2>&1
check "an invalid configuration is refused with exit 1" test $? -eq 1
check "... saying why and that nothing changed" \
    bash -c "grep -q 'nosuch' '$T/broken.out' && grep -q 'not applied; .* still points to live.2' '$T/broken.out'"
HAPROXY=false "$CTL" apply -c "$T/v1.yaml" -o "$LIVE" --haproxy-pid "$T/haproxy.pid" \
    --agent-pid "$PID_agent" >"$T/rejected.out" 2>&1
check "a configuration HAProxy rejects is refused with exit 1" test $? -eq 1
check "... saying so" grep -q 'HAProxy rejects the rendered configuration' "$T/rejected.out"
"$CTL" apply -c "$T/v1.yaml" -o "$LIVE" --haproxy-pid "$T/nosuch.pid" >"$T/nopid.out" 2>&1
check "a missing pidfile is refused before anything changes (exit 1)" test $? -eq 1
check "after the refusals the link, the folders and the processes are as they were" \
    test "$(readlink "$LIVE")" = live.2 -a ! -e "$T/live.3" -a "$(reloads)" = "$agent_reloads" \
    -a "$(worker_pid)" = "$worker"

# Rollback is an apply of the previous version's copy; the oldest version goes.
check "rolling back to live.1's configuration applies it as live.3" \
    "$CTL" apply -c "$T/live.1/config.yaml" -o "$LIVE" --haproxy-pid "$T/haproxy.pid" \
    --agent-pid "$PID_agent"
check "only the live version and the previous one remain" \
    test "$(cd "$T" && ls -d live.* | xargs)" = "live.2 live.3" -a "$(readlink "$LIVE")" = live.3
check "the agent reloads the rolled-back configuration" \
    wait_output 5 -eq 2 grep -c 'reloaded:' "$T/agent.log"
check "HAProxy keeps serving after the rollback" wait_output 5 = 200 chat
finish
