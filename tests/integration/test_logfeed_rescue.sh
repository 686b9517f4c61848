#!/usr/bin/env bash
# A restarted agent gets HAProxy's log lines back on its unix socket, on every release,
# without HAProxy reloading, and nothing written meanwhile is lost or counted twice.
#
# HAProxy 3.0's ring forwarder keeps its half-closed connection to an agent that went away
# on a unix socket and never reconnects. The agent notices that no feed connection came
# while HAProxy runs, finds the forwarder's stream in `show sess` and has HAProxy end it
# (agent/feed_rescue.h): the forwarder reconnects and sends every line it held. 2.6 and
# 3.2 reconnect by themselves; the agent then has nothing to end.
source "$(dirname "$0")/lib.sh"

read -r UP FWD ADMIN < <(free_ports 3 | xargs)

# The agent's sockets are left at their default: unix sockets in haproxy.run_dir.
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: up, url: "http://127.0.0.1:$UP/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: up}]}
haproxy: {run_dir: "$T"}
YAML

start_mock up "$UP" || finish
start_stack "$T/config.yaml" || finish
check "the log feed is a unix socket" grep -q 'server logfeed "unix@' "$T/out/haproxy.cfg"

send() {
    for _ in $(seq "$2"); do
        curl -s -m 10 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$FWD/$1/models"
    done | sort | uniq -c | awk '{print $2"x"$1}' | xargs
}
haproxy_workers() { pgrep -P "$PID_haproxy" | xargs; }

codes=$(send before 3)
check "3 requests served ($codes)" test "$codes" = 200x3
check "the first agent counted them" wait_until 5 counted before 3
workers=$(haproxy_workers)

# The agent stops; requests go on, fail-open, while their lines wait in HAProxy's ring.
stop_pid "$PID_agent"
check "the first agent exited without sanitizer reports" clean_log "$T/agent.log"
mv "$T/agent.log" "$T/agent.1.log"
codes=$(send down 4)
check "agent down: 4 requests served anyway ($codes)" test "$codes" = 200x4

start_agent "$T/config.yaml" || { fail "the agent did not start again"; finish; }
codes=$(send after 3)
check "agent back: 3 requests served ($codes)" test "$codes" = 200x3

# Within the agent's silence bound, a look, and a reconnection.
check "the lines of the 4 requests made while it was down reach the new agent" \
    wait_until 15 counted down 4
check "... and those of the 3 made since ($(requests_on after))" wait_until 5 counted after 3
sleep 1 # a duplicate would have come in the same burst
check "nothing the first agent had read is counted again ($(requests_on before))" \
    test "$(requests_on before)" = absent
check "HAProxy was not reloaded (the same worker, $workers)" test "$(haproxy_workers)" = "$workers"
rescues=$(metric llmproxy_log_feed_rescues_total)
if haproxy_at_least 3 0 && ! haproxy_at_least 3 1; then
    check "3.0: the agent ended the stuck forwarder once ($rescues)" test "$rescues" = 1
    check "... and said so" grep -q 'ending 1 stuck ring forwarder' "$T/agent.log"
elif haproxy_at_least 3 1; then
    log "3.1+: the forwarder reconnected by itself; rescues: $rescues"
else
    # 2.6 reads `show sess older` as a stream address it does not have: never a match.
    check "2.6: nothing was ended ($rescues)" test "$rescues" = 0
fi

# The live feed goes on.
send live 2 >/dev/null
check "the feed is live again" wait_until 5 counted live 2
stop_pid "$PID_agent"
check "the second agent exited without sanitizer reports" clean_log "$T/agent.log"
finish
