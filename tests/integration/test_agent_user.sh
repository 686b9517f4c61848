#!/usr/bin/env bash
# llmproxy-agent -u USER: started as root, it binds every listener (SPOP, log feed, admin)
# and then runs as USER, with USER's groups only and no way back to root; it still answers
# HAProxy and serves /health. An unknown user is refused before anything is bound, and root
# without -u is warned about. Skipped when the test does not run as root.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to switch users"
RUN_AS=nobody
uid=$(id -u "$RUN_AS") gid=$(id -g "$RUN_AS")

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

"$AGENT" -c "$T/config.yaml" -u no-such-user-llmproxy >"$T/nouser.log" 2>&1
check "an unknown user is refused with exit 1" test $? -eq 1
check "... saying so" grep -q 'no such user' "$T/nouser.log"
check "... before anything was bound" bash -c "! grep -q 'listening on' '$T/nouser.log'"

start_mock a "$A" || finish
"$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1 || { fail "render"; finish; }
spawn agent "$AGENT" -c "$T/config.yaml" -u "$RUN_AS"
wait_port "$ADMIN" || { fail "agent did not start"; finish; }
spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
check "HAProxy sees the agent UP" wait_until 10 agent_is UP

ids() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' "/proc/$PID_agent/status" | xargs; }
check "the agent runs as $RUN_AS: real, effective, saved and fs uid $uid ($(ids Uid))" \
    test "$(ids Uid)" = "$uid $uid $uid $uid"
check "... gid $gid ($(ids Gid))" test "$(ids Gid)" = "$gid $gid $gid $gid"
check "... with $RUN_AS's groups only, root's dropped ($(ids Groups))" \
    test "$(ids Groups)" = "$(id -G "$RUN_AS")"
check "... and says so" grep -q "running as user $RUN_AS (uid $uid, gid $gid)" "$T/agent.log"
check "... without the root warning" bash -c "! grep -q 'running as root' '$T/agent.log'"
check "it still serves /health" test "$(curl -s -m 5 "http://127.0.0.1:$ADMIN/health")" = OK
picks() { metric_sum llmproxy_agent_pick_decisions_total; }
before=$(picks)
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F/v1/chat/completions" -d '{}')
check "it still decides: a request is served ($code) and picked ($before -> $(picks))" \
    test "$code" = 200 -a "$(picks)" -gt "$before"
stop_pid "$PID_agent"
check "it exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"

spawn agent_root "$AGENT" -c "$T/config.yaml"
check "root without -u: warned" wait_until 5 grep -q 'warn: running as root' "$T/agent_root.log"
stop_pid "$PID_agent_root"
finish
