#!/usr/bin/env bash
# HAProxy reloaded 10 times under a steady load (SIGUSR2 to the master, each time waiting
# for the new worker to answer on the stats socket): not one request fails. The old workers
# finish what they hold and exit; the agent keeps deciding for every new worker.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

read -r A B F SPOP LOGS ADMIN < <(free_ports 6 | xargs)
RELOADS=10

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}, {name: b}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
start_stack "$T/config.yaml" || finish

worker_pid() { haproxy_cli "$T/haproxy.sock" "show info" | awk -F': ' '$1 == "Pid" { print $2 }'; }
new_worker() { local w; w=$(worker_pid); [ -n "$w" ] && [ "$w" != "$1" ]; }
workers() { pgrep -P "$PID_haproxy" | wc -l; }
picks() { metric_sum llmproxy_agent_pick_decisions_total; }

first=$(worker_pid)
picks_before=$(picks)
load_start reload "http://127.0.0.1:$F/v1/chat/completions" 14
sleep 1
seen=()
done_reloads=0
for i in $(seq "$RELOADS"); do
    old=$(worker_pid)
    kill -USR2 "$PID_haproxy"
    if ! wait_until 10 new_worker "$old"; then
        fail "reload $i: no new worker after 10 s"
        break
    fi
    seen+=("$(worker_pid)")
    done_reloads=$i
    sleep 0.8
done
load_wait reload
n=$(load_total reload)
check "$done_reloads reloads, each with a new worker ($first -> ${seen[*]})" \
    test "$done_reloads" -eq "$RELOADS" -a \
    "$(printf '%s\n' "$first" "${seen[@]}" | sort -u | wc -l)" -eq $((RELOADS + 1))
check "no request failed across the reloads ($n requests: $(load_summary reload))" \
    load_all_200 reload 14
check "the agent decided them (picks $picks_before -> $(picks))" \
    test $(($(picks) - picks_before)) -ge "$n"
one_worker() { [ "$(workers)" -eq 1 ]; }
check "the old workers exit once their connections are done" wait_until 10 one_worker
check "the master is still running" kill -0 "$PID_haproxy"
stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
