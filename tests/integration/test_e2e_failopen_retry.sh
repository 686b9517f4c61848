#!/usr/bin/env bash
# Fail-open for a group with retries: when the agent dies, requests that arrive before
# HAProxy's health check notices wait at most the `attempt` engine's processing timeout,
# which the renderer keeps just above the longest backoff the group can ask for (here
# 100 ms x 2 + 1 s), not a fixed 35 s.
source "$(dirname "$0")/lib.sh"

read -r A FWD SPOP LOGS ADMIN < <(free_ports 5 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: f, address: 127.0.0.1, port: $FWD, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - name: g
    upstreams: [{name: a}]
    http_client: {retry: {enabled: true, attempts: 2, initial: 100}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_stack "$T/config.yaml" || finish
check "the attempt engine waits at most 1.2 s for the agent" \
    grep -q 'timeout processing 1200ms' "$T/out/spoe-attempt.conf"

post() {
    curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}\n' \
        -d '{"model":"m","messages":[]}' "http://127.0.0.1:$FWD/v1/chat/completions"
}
read -r code secs < <(post)
check "with the agent: 200 at once (${secs}s)" test "$code" = 200

kill -KILL "$PID_agent"
wait "$PID_agent" 2>/dev/null
# Before the health check marks the agent DOWN, a request waits for the SPOE timeouts.
read -r code secs < <(post)
check "right after the agent died: served (status $code)" test "$code" = 200
check "right after the agent died: within the 1.2 s bound plus the pick timeout (${secs}s)" \
    awk -v t="$secs" 'BEGIN { exit !(t < 2) }'
check "once the check sees it DOWN: no wait at all" wait_until 10 agent_is DOWN
read -r code secs < <(post)
check "fail-open request after the check: 200 without delay (${secs}s)" \
    awk -v c="$code" -v t="$secs" 'BEGIN { exit !(c == 200 && t < 0.2) }'
finish
