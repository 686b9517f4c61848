#!/usr/bin/env bash
# A flapping upstream under load: flappy answers 503 to every other request (mock
# --fail-every 2), steady always 200, round robin over [flappy, steady], retries off, and a
# breaker on flappy with a 1 s cooldown. Over 8 s at about 20 requests/s its breaker opens
# (3 failures in 6 attempts reach the 0.5 threshold), goes half-open after the cooldown and
# closes or opens again on its single probe, again and again. What must hold:
# - the breaker opened and closed at least once each, on /metrics;
# - no request reached flappy while its breaker was open: the agent's transition lines are
#   timestamped as they are written and compared with the mock's arrival times; each
#   half-open spell lets at most one request (the probe) through;
# - the client saw exactly the 503s flappy returned (relayed, never retried), nothing else.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

read -r FLAPPY STEADY F SPOP LOGS ADMIN < <(free_ports 6 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - name: flappy
    url: "http://127.0.0.1:$FLAPPY/v1"
    breaker: {threshold: 0.5, cooldown: 1}
  - {name: steady, url: "http://127.0.0.1:$STEADY/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: flappy}, {name: steady}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock flappy "$FLAPPY" --status 503 --fail-every 2 || finish
start_mock steady "$STEADY" || finish
if ! "$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1; then
    fail "render"
    finish
fi
# The agent, its log lines stamped with the wall clock as they are written (stderr is
# unbuffered: each line is one write).
"$AGENT" -c "$T/config.yaml" 2> >(while IFS= read -r l; do
    printf '%s %s\n' "$EPOCHREALTIME" "$l"
done >"$T/agent.log") &
PID_agent=$!
_pids+=("$PID_agent")
wait_port "$SPOP" || { fail "agent did not start"; finish; }
spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
wait_until 10 agent_is UP || { fail "HAProxy did not see the agent UP"; finish; }
mock_reset "$FLAPPY" "$STEADY"

load_start flap "http://127.0.0.1:$F/v1/chat/completions" 8
load_wait flap
sleep 0.5 # the last lines reach the agent

n=$(load_total flap)
failed=$(load_failed flap)
flappy_503=$(mock_records "$FLAPPY" '[.[] | select(.status == 503)] | length')
# Enough requests for the breaker to cycle several times; how many fit in the 8 s depends on
# the machine's load (each request forks a curl), 80-300 seen.
check "the load ran ($n requests: $(load_summary flap))" load_covered flap 8
check "every client error is a 503 relayed from flappy ($failed errors, flappy returned $flappy_503)" \
    test "$failed" -eq "$flappy_503" -a "$(load_summary flap | tr ' ' '\n' | grep -vc -e '^200x' -e '^503x')" -eq 0
# Time alone moves an open breaker to half-open, whenever the agent next looks at it, so the
# counters and the agent's log are read around one snapshot of the log: each count in it lies
# between the counter read before and the one read after.
opened=$(metric_sum llmproxy_circuitbreaker_opened_total)
half=$(metric_sum llmproxy_circuitbreaker_half_opened_total)
closed=$(metric_sum llmproxy_circuitbreaker_closed_total)
# The log trails the counters by a pipe: wait until it holds every transition counted above.
logged() { grep -c "breaker flappy: .* -> $1" "$T/agent.log"; }
wait_output 5 -ge "$opened" logged open
wait_output 5 -ge "$half" logged half_open
cp "$T/agent.log" "$T/agent.snap"
opened_after=$(metric_sum llmproxy_circuitbreaker_opened_total)
half_after=$(metric_sum llmproxy_circuitbreaker_half_opened_total)
check "the breaker opened ($opened) and closed ($closed) at least once each" \
    test "$opened" -ge 1 -a "$closed" -ge 1
logged_open=$(grep -c 'breaker flappy: .* -> open' "$T/agent.snap")
check "the agent logged as many transitions to open ($logged_open, counted $opened..$opened_after)" \
    test "$logged_open" -ge "$opened" -a "$logged_open" -le "$opened_after"

# One timeline, wall clock in ms, on which the mock stamps its arrivals too (two clocks and
# an offset between them would not survive the wall clock being stepped meanwhile).
{
    awk '/breaker flappy: / { printf "%.3f state %s\n", $1 * 1000, $NF }' "$T/agent.snap"
    mock_records "$FLAPPY" '.[] | "\(.arrival_wall_ms) \(.seq)"' |
        awk '{ printf "%.3f req %s\n", $1, $2 }'
} | sort -n >"$T/timeline"
# Judge each request by the state at its arrival. The agent's lines are stamped by a reader
# a fraction of a millisecond after they are written, so within GRACE_MS of a transition a
# request belongs to either side: one picked just before a transition to open may arrive
# just after its line, and a half-open spell's probe, picked right after the transition,
# may arrive before its line is stamped. GRACE_MS stays well below the ~100 ms between two
# requests to flappy while its breaker is closed, so a breaker that let traffic through
# would still be caught.
GRACE_MS=100
read -r in_open max_probes spells < <(awk -v g="$GRACE_MS" '
    function judge_pending(probe_from,   i) {
        for (i = 1; i <= np; i++)
            if (probe_from && pending[i] > probe_from) probes[spells]++
            else { in_open++; print "  open since " since ": request at " pending[i] > "/dev/stderr" }
        np = 0
    }
    $2 == "state" {
        if ($3 == "half_open") { spells++; probes[spells] = 0; judge_pending($1 - g) }
        else judge_pending(0)
        state = $3; since = $1; next
    }
    state == "open" && $1 > since + g { pending[++np] = $1 }
    state == "half_open" { probes[spells]++ }
    END { judge_pending(0); for (s in probes) if (probes[s] > max) max = probes[s]; print in_open + 0, max + 0, spells + 0 }
' "$T/timeline")
check "no request reached flappy while its breaker was open ($in_open)" test "$in_open" -eq 0
# A probe seen proves the two sides of the timeline line up: no request in an open spell
# means something only then.
check "each of the $spells half-open spells let at most one probe through, and probes were seen (max $max_probes, counted $half..$half_after)" \
    test "$spells" -ge 1 -a "$max_probes" -eq 1 -a "$spells" -ge "$half" -a "$spells" -le "$half_after"
total_flappy=$(mock_count "$FLAPPY")
check "steady took the rest ($(mock_count "$STEADY") + $total_flappy = $n)" \
    test $(($(mock_count "$STEADY") + total_flappy)) -eq "$n"

stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
