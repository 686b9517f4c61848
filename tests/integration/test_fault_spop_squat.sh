#!/usr/bin/env bash
# 300 idle SPOP connections from an unprivileged local user, against an agent limited to
# 256 descriptors (prlimit). The agent caps SPOP at half its descriptors and evicts
# connections that never sent HELLO for newcomers, so it neither spins on EMFILE (which
# once took 100 % CPU and wrote 1.5 million log lines in 4 s) nor locks HAProxy out:
# HAProxy's spop-check keeps the agent UP and requests keep getting decisions (a rate
# limit's 429, which only the agent gives) instead of failing open. The HELLO deadline
# then clears the squatters that are left.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"
source "$(dirname "$0")/squat_lib.sh"

read -r A F_LIM SPOP LOGS ADMIN < <(free_ports 5 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - name: lim
      address: 127.0.0.1
      port: $F_LIM
      upstream_group: g
      ratelimit: {enabled: true, per_second: 1, burst: 2}
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
"$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1 || { fail "render"; finish; }
spawn agent prlimit --nofile=256:256 "$AGENT" -c "$T/config.yaml"
wait_port "$SPOP" && wait_port "$ADMIN" || { fail "agent did not start"; finish; }
spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
wait_until 10 agent_is UP || { fail "HAProxy did not see the agent UP"; finish; }

# limited: three requests at once on the limited forward, the third refused by the agent.
limited() {
    local i args=()
    for i in 1 2 3; do args+=(-o /dev/null "http://127.0.0.1:$F_LIM/v1/models"); done
    [ "$(curl -s -m 5 -w '%{http_code}\n' "${args[@]}" | tail -n 1)" = 429 ]
}
check "before: the agent decides (the rate limit answers 429)" wait_until 5 limited

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID_agent/stat"; }
log_lines_before=$(wc -l <"$T/agent.log")

squat squatter "$SPOP" 300
check "the squatter holds 300 idle SPOP connections" wait_until 20 squatting squatter 300
t0=$(cpu_ticks)
sleep 3
ticks=$(($(cpu_ticks) - t0))
hz=$(getconf CLK_TCK)
check "the agent stays idle meanwhile: $ticks ticks of CPU in 3 s (at most $((hz / 2)))" \
    test "$ticks" -le $((hz / 2))
new_lines=$(($(wc -l <"$T/agent.log") - log_lines_before))
check "its log stays small: $new_lines new lines" test "$new_lines" -le 20
check "its log has no line per connection" \
    test "$(grep -c 'spop' "$T/agent.log")" -le 20

check "HAProxy still sees the agent UP" agent_is UP
check "requests still get the agent's decisions, not fail-open (429)" wait_until 5 limited
refused=$(metric_sum llmproxy_spop_connections_refused_total)
evicted=$(metric llmproxy_spop_connections_evicted_total)
check "squatters were evicted for newcomers ($evicted), none refused ($refused)" \
    test "$evicted" -ge 100 -a "$refused" -eq 0
hello_expired() { [ "$(metric 'llmproxy_spop_connections_expired_total{deadline="hello"}')" -ge 100 ]; }
wait_until 10 hello_expired
check "the HELLO deadline clears the squatters left (expired: $(metric 'llmproxy_spop_connections_expired_total{deadline="hello"}'))" \
    hello_expired
few_open() { [ "$(metric llmproxy_spop_connections)" -lt 20 ]; }
wait_until 5 few_open
check "only HAProxy's connections remain ($(metric llmproxy_spop_connections) open)" few_open
check "and decisions go on" wait_until 5 limited
check "the agent is alive" kill -0 "$PID_agent"
check "no sanitizer report" sanitizer_clean "$T/agent.log"
finish
