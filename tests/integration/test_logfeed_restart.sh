#!/usr/bin/env bash
# An agent restart loses no outcome that fits in HAProxy's ring, and counts none twice.
#
# HAProxy 2.6's ring forwarder keeps its read position in the ring across reconnections
# (only its very first connection starts from the oldest line): while the agent is down it
# keeps retrying, and the next agent receives exactly the lines written since the last
# line handed to the previous connection, nothing older. Found empirically here and
# matching HAProxy's sink.c (the position lives in the forward target, not the session).
# Its limit: a line is consumed once copied to the connection, with no acknowledgement in
# the octet-counted protocol, so lines still unread in a dead agent's socket are lost.
#
# Each phase requests its own path, so /metrics tells whose lines the new agent counted.
source "$(dirname "$0")/lib.sh"

read -r UP FLAKY FWD F_FL SPOP LOGS ADMIN < <(free_ports 7 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD, upstream_group: g}
    - {name: fl, address: 127.0.0.1, port: $F_FL, upstream_group: g_fl}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: up, url: "http://127.0.0.1:$UP/v1"}
  - name: flaky
    url: "http://127.0.0.1:$FLAKY/v1"
    breaker: {threshold: 0.5, cooldown: 300}
upstream_groups:
  - {name: g, upstreams: [{name: up}]}
  - {name: g_fl, upstreams: [{name: flaky}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

start_mock up "$UP" || finish
start_mock flaky "$FLAKY" --status 503 || finish
start_stack "$T/config.yaml" || finish

scrape() { curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"; }
# metric 'NAME{LABELS}': the value of exactly that series, or "absent".
metric() {
    scrape
    awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$T/metrics"
}
lines() { metric llmproxy_log_lines_received_total; }
lines_reach() { [ "$(lines)" -ge "$1" ] 2>/dev/null; }
lines_are() { [ "$(lines)" = "$1" ]; }
# send PORT PHASE N: N requests on the forward, to /PHASE/models; their statuses, counted.
send() {
    for _ in $(seq "$3"); do
        curl -s -m 10 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$1/$2/models"
    done | sort | uniq -c | awk '{print $2"x"$1}' | xargs
}
# feed_closed: HAProxy has no connection to the log port left open (it noticed the close).
feed_closed() { ! ss -Htn state established state close-wait "( dport = :$LOGS )" | grep -q .; }
# unread_on_agent: bytes are waiting, unread, in the agent's end of the feed connection.
unread_on_agent() {
    [ "$(ss -Htn "( sport = :$LOGS )" | awk '$1 == "ESTAB" { n += $2 } END { print n + 0 }')" -gt 0 ]
}
# restart_agent N: keep the previous agent's log as agent.N.log, start a new agent and wait
# until HAProxy's ring has connected to its log feed.
restart_agent() {
    mv "$T/agent.log" "$T/agent.$1.log"
    start_agent "$T/config.yaml" || return 1
    wait_until 10 grep -q 'logfeed: HAProxy connected' "$T/agent.log"
}

# 1. K = 5 requests, all counted by the first agent.
codes=$(send "$FWD" k 5)
check "phase k: 5 requests served ($codes)" test "$codes" = 200x5
check "phase k: the first agent counted them" wait_until 5 counted k 5
check "phase k: one line a request, pinned by the agent's choice ($(lines))" test "$(lines)" = 5

# 2. The agent stops (SIGTERM); HAProxy notices its feed connection is gone.
stop_pid "$PID_agent"
check "the first agent exited without sanitizer reports" clean_log "$T/agent.log"
check "HAProxy closed its end of the feed" wait_until 5 feed_closed

# 3. M = 7 requests while it is down: fail-open serves them; the ring holds their lines.
#    And five 503s from flaky: outcomes its breaker has not judged yet.
codes=$(send "$FWD" m 7)
check "agent down: the 7 requests are served anyway ($codes)" test "$codes" = 200x7
codes=$(send "$F_FL" m 5)
check "agent down: flaky's 5 503s are relayed ($codes)" test "$codes" = 503x5
check "agent down: HAProxy logged the 7 request lines" \
    test "$(grep -c '^LLMR4 .* main g - - GET 200 .*"/m/models" - - - - - -$' "$T/haproxy.log")" = 7

# 4. A new agent: the ring replays exactly the 7 + 5 requests' lines (24), not phase k's.
check "agent restarted (#1), HAProxy's ring connected to it" restart_agent 1
check "the new agent received the 24 lines written while none ran" wait_until 10 lines_reach 24
sleep 1 # anything more would have come in the same burst
check "... and nothing else: no line the first agent had read ($(lines))" test "$(lines)" = 24
check "... phase m's 7 requests are counted ($(requests_on m))" test "$(requests_on m)" = 7
check "... phase k's are not counted again ($(requests_on k))" test "$(requests_on k)" = absent
check "... flaky's 5 attempts are counted" test \
    "$(metric 'llmproxy_upstream_errors_total{error="status_5xx",group="g_fl",upstream="flaky"}')" = 5
check "... and judged: they open flaky's breaker" \
    wait_until 5 grep -q 'breaker flaky: closed -> open' "$T/agent.log"
check "... as /metrics shows ($(metric 'llmproxy_upstream_breaker_state{upstream="flaky"}'))" \
    test "$(metric 'llmproxy_upstream_breaker_state{upstream="flaky"}')" = 1

# 5. The feed goes on live on the same connection.
send "$FWD" n 3 >/dev/null
check "phase n: live again, 3 requests counted" wait_until 5 counted n 3
check "phase n: 27 lines in all (one a pinned request)" wait_until 5 lines_are 27

# 6. Restart with nothing logged meanwhile: the next agent gets nothing at all, although
#    the ring still holds every line of the test (the position is kept, not rewound).
stop_pid "$PID_agent"
check "the second agent exited without sanitizer reports" clean_log "$T/agent.log"
check "HAProxy closed its end of the feed again" wait_until 5 feed_closed
check "agent restarted (#2), HAProxy's ring connected to it" restart_agent 2
sleep 1
check "a restart with nothing new replays nothing ($(lines) lines)" test "$(lines)" = 0

# 7. The limit: lines HAProxy already handed to a connection are consumed. Freeze the agent
#    so phase s's lines wait unread in its socket, kill it: they are gone; phase a's,
#    written after the kill, reach the next agent.
kill -STOP "$PID_agent"
send "$FWD" s 2 >/dev/null
check "phase s: its lines sit unread in the frozen agent's socket" wait_until 5 unread_on_agent
kill -KILL "$PID_agent"
wait "$PID_agent" 2>/dev/null
check "HAProxy saw the killed agent's feed close" wait_until 5 feed_closed
send "$FWD" a 3 >/dev/null
check "agent restarted (#3), HAProxy's ring connected to it" restart_agent 3
check "phase a: its 3 requests reach the next agent" wait_until 10 lines_reach 6
sleep 1
check "... ($(requests_on a)) and phase s's, lost with the killed agent, do not ($(requests_on s))" \
    test "$(requests_on a)" = 3 -a "$(requests_on s)" = absent
check "... 6 lines in all ($(lines))" test "$(lines)" = 6

stop_pid "$PID_agent"
check "the last agent exited without sanitizer reports" clean_log "$T/agent.log"
check "the agents logged no malformed line" \
    bash -c "! grep -q 'logfeed: malformed' '$T'/agent*.log"
finish
