#!/usr/bin/env bash
# The log feed stalls: the agent stops reading HAProxy's ring (SIGSTOP) while 2000 requests
# go through, then comes back (SIGCONT).
#
# The rendered configuration is edited before HAProxy starts, so that the flood overflows
# the ring instead of the kernel's buffers: `ring llm_logs` shrinks from 1 MiB to 32 KiB,
# and `tune.sndbuf.server 16384` pins the send buffer of HAProxy's connection to the log
# feed (left alone, Linux grows it up to tcp_wmem's maximum, 4 MiB, which would hold the
# whole flood). What must hold:
# - HAProxy keeps serving: every request answers 200 (picks fail open, test_fault_agent.sh);
# - the overflow is visible in the ring: HAProxy writes "N event(s) dropped" notices into it
#   (`show events llm_logs`);
# - after SIGCONT the agent catches up: it receives at least what the ring still held, and
#   fewer lines than were written (the rest were lost in HAProxy, not in the agent: the
#   agent's own llmproxy_log_lines_dropped_total stays 0);
# - HAProxy accounts for every line lost: while its reader is stuck, the ring refuses new
#   lines and counts them; the notices' counts add up to exactly the lines written in the
#   stall that the agent never received (the first notice, "1 event dropped", is written
#   at once in the little room left; the one with the rest when the ring drains);
# - each notice reaches the agent as one malformed line (reason `tag`: it is no LLMR4 or
#   LLMA1 line), and nothing else is malformed;
# - new traffic afterwards is counted normally: 10 requests, 10 more lines (with the agent
#   up they go through pinned backends: one line each; in the stall, fail-open, two).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

FLOOD=2000
RING_BYTES=32768
read -r A F SPOP LOGS ADMIN < <(free_ports 5 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
if ! "$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1; then
    fail "render"
    finish
fi
CFG=$T/out/haproxy.cfg
sed -i -e "/^ring llm_logs\$/,/^\$/ s/^    size .*/    size $RING_BYTES/" \
    -e 's/^global$/&\n    tune.sndbuf.server 16384/' "$CFG"
check "the ring is shrunk to $RING_BYTES bytes and the feed's send buffer pinned" \
    test "$(sed -n '/^ring llm_logs$/,/^$/p' "$CFG" | awk '$1 == "size" { print $2 }')" = "$RING_BYTES" \
    -a "$(grep -c '^    tune\.sndbuf\.server 16384$' "$CFG")" = 1
check "HAProxy accepts the edited configuration" "$HAPROXY" -c -q -f "$CFG"

# Debug level: the agent logs each malformed line's text.
spawn agent "$AGENT" -c "$T/config.yaml" -l debug
wait_port "$SPOP" && wait_port "$LOGS" || { fail "agent did not start"; finish; }
spawn haproxy "$HAPROXY" -W -db -f "$CFG"
wait_until 10 agent_is UP || { fail "HAProxy did not see the agent UP"; finish; }
check "HAProxy's ring connects to the log feed" \
    wait_until 10 grep -q 'logfeed: HAProxy connected' "$T/agent.log"

received() { metric llmproxy_log_lines_received_total; }
malformed() { metric llmproxy_log_lines_malformed_total; }
# parsed: lines received that were LLMR4 or LLMA1 lines.
parsed() { echo $(($(received) - $(malformed))); }
parsed_is() { [ "$(parsed)" -eq "$1" ]; }
# settled: the received count did not move for a second.
settled() {
    local a b
    a=$(received)
    sleep 1
    b=$(received)
    [ "$a" = "$b" ]
}
# requests N: N sequential requests on one keep-alive connection, one status per line. The
# path is long (~110 bytes) so that each log line is too.
LONG=$(head -c 100 /dev/zero | tr '\0' p)
requests() {
    curl -s -m 60 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$F/v1/$LONG/models?i=[1-$1]"
}

requests 10 >/dev/null
check "before the stall: 10 requests, 10 lines (pinned: one each), none malformed" \
    wait_until 5 parsed_is 10

kill -STOP "$PID_agent"
codes=$(requests "$FLOOD" | sort | uniq -c | awk '{ print $2"x"$1 }' | xargs)
check "agent stopped: HAProxy answers all $FLOOD requests 200 ($codes)" test "$codes" = "200x$FLOOD"
# HAProxy 3.2 ends each event it shows with a NUL before the newline; 2.6 does not.
haproxy_cli "$T/haproxy.sock" "show events llm_logs" | tr -d '\000' >"$T/ring.txt"
ring_lines=$(grep -cE '^(LLMR4|LLMA1) ' "$T/ring.txt")
ring_bytes=$(grep -E '^(LLMR4|LLMA1) ' "$T/ring.txt" | wc -c)
check "the ring is full of unread lines ($ring_lines lines, $ring_bytes bytes)" \
    test "$ring_bytes" -gt $((RING_BYTES / 2)) -a "$ring_bytes" -le "$RING_BYTES"
check "HAProxy marked the overflow in the ring: '$(grep -m 1 -E 'events? dropped' "$T/ring.txt")'" \
    grep -qE '^[0-9]+ events? dropped$' "$T/ring.txt"
# The stopped agent cannot answer /metrics: the kernel shows the feed backed up instead.
backlog=$(ss -Htn state established "( sport = :$LOGS )" | awk '{ n += $1 } END { print n + 0 }')
check "the agent's end of the feed is backed up ($backlog bytes unread)" test "$backlog" -gt 0

kill -CONT "$PID_agent"
wait_until 20 settled
caught_up=$(($(parsed) - 10))
written=$((2 * FLOOD))
check "SIGCONT: the agent caught up at least the ring's $ring_lines lines ($caught_up of $written written)" \
    test "$caught_up" -ge "$ring_lines" -a "$caught_up" -lt "$written"
check "... HAProxy lost the rest, the agent nothing (llmproxy_log_lines_dropped_total $(metric llmproxy_log_lines_dropped_total))" \
    test "$(metric llmproxy_log_lines_dropped_total)" = 0

before=$(parsed)
requests 10 >/dev/null
check "after the stall: 10 requests, 10 more lines, parsed normally" wait_until 5 parsed_is $((before + 10))
sleep 0.5 # a drop notice written with the new lines has arrived too

notices=$(grep -cE 'logfeed: malformed line \(tag\): [0-9]+ events? dropped$' "$T/agent.log")
noted=$(sed -nE 's/.*logfeed: malformed line \(tag\): ([0-9]+) events? dropped$/\1/p' "$T/agent.log" |
    awk '{ n += $1 } END { print n + 0 }')
lost=$((written - caught_up))
check "every malformed line is one of HAProxy's $notices drop notices (malformed $(malformed))" \
    test "$notices" -ge 1 -a "$(malformed)" -eq "$notices" -a \
    "$(grep -c 'logfeed: malformed line' "$T/agent.log")" -eq "$notices"
check "the notices count $noted dropped events: exactly the $lost lines lost" test "$noted" -eq "$lost"
log "figures: $written lines written in the stall, ring held $ring_lines, agent caught up $caught_up, lost $lost, notices $notices saying $noted"

check "HAProxy still runs" kill -0 "$PID_haproxy"
stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
