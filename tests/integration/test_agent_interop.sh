#!/usr/bin/env bash
# The agent against real HAProxy 2.6 with a hand-written configuration
# (tests/integration/agent/): health check, decisions reaching HAProxy, a bounded
# concurrent load with every decision in time, fail-open when the agent dies, recovery
# when it comes back, and an HAProxy reload's DISCONNECT.
source "$(dirname "$0")/lib.sh"

read -r FWD_PORT A_PORT B_PORT SPOP_PORT LOG_PORT ADMIN_PORT < <(free_ports 6 | xargs)
export T FWD_PORT A_PORT B_PORT SPOP_PORT
cp "$LLMPROXY_ROOT/tests/integration/agent/spoe.conf" "$T/spoe.conf"
cp "$LLMPROXY_ROOT/tests/integration/agent/spoe-attempt.conf" "$T/spoe-attempt.conf"
cp "$LLMPROXY_ROOT/tests/integration/agent/haproxy.cfg" "$T/haproxy.cfg"

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - name: main
      address: 127.0.0.1
      port: $FWD_PORT
      upstream_group: main
  admin:
    address: 127.0.0.1
    port: $ADMIN_PORT
upstreams:
  - name: a
    url: http://127.0.0.1:$A_PORT
  - name: b
    url: http://127.0.0.1:$B_PORT
upstream_groups:
  - name: main
    upstreams: [{name: a}, {name: b}]
    balance: {strategy: roundrobin}
    http_client: {retry: {enabled: true, attempts: 3, initial: 100}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
YAML

start_agent() { # at debug level: a routine DISCONNECT is logged only there
    spawn agent "$AGENT" -c "$T/config.yaml" -l debug
    wait_port "$SPOP_PORT"
}

agent_is() { # UP / DOWN as HAProxy's health check sees the agent
    [ "$(haproxy_cli "$T/admin.sock" "show stat llm_agent 4 -1" |
        awk -F, '$2=="agent"{print $18}')" = "$1" ]
}

upstream_of() { # one request; prints "<status> <x-llm-upstream> <x-llm-err>"
    curl -s -o /dev/null -m 5 -w '%{http_code} %header{x-llm-upstream} %header{x-llm-err}\n' \
        "http://127.0.0.1:$FWD_PORT/v1/models"
}

start_agent
spawn haproxy "$HAPROXY" -W -db -f "$T/haproxy.cfg"
wait_port "$FWD_PORT"

check "spop-check marks the agent UP" wait_until 10 agent_is UP

# Round robin decided by the agent: a, b, a, b.
seq_out=$(for _ in 1 2 3 4; do upstream_of; done | awk '{print $1":"$2}' | xargs)
check "agent decisions reach HAProxy in round-robin order (got: $seq_out)" \
    test "$seq_out" = "200:a 200:b 200:a 200:b"

# 1,000 requests at 50 concurrency: every one answered 200 with a decision and without
# an SPOE error variable (a processing timeout would set txn.llm.err).
before=$(grep -c '<GROUP:pick>' "$T/haproxy.log")
dropped_before=$(haproxy_cli "$T/admin.sock" "show info" | awk -F': ' '$1=="DroppedLogs"{print $2}')
curl -s --no-progress-meter --parallel --parallel-max 50 -m 20 -o /dev/null \
    -w '%{http_code} %header{x-llm-upstream} %header{x-llm-err}\n' \
    "http://127.0.0.1:$FWD_PORT/r[1-1000]" >"$T/load.out"
ok=$(grep -c '^200 [ab] $' "$T/load.out")
check "1000 concurrent requests all decided in time by the agent (got $ok)" test "$ok" -eq 1000
# HAProxy 2.6 drops a log line to stdout when another thread holds the output (it counts
# them in DroppedLogs), so the SPOE log is checked as: no error status, and logged plus
# dropped lines account for every request.
new_pick_lines() { grep '<GROUP:pick>' "$T/haproxy.log" | tail -n +$((before + 1)); }
logged_and_dropped() {
    local dropped
    dropped=$(haproxy_cli "$T/admin.sock" "show info" | awk -F': ' '$1=="DroppedLogs"{print $2}')
    echo $(($(new_pick_lines | grep -c ' st=0 ') + dropped - dropped_before))
}
all_accounted() { [ "$(logged_and_dropped)" -ge 1000 ]; }
wait_until 10 all_accounted
st0=$(logged_and_dropped)
notzero=$(new_pick_lines | grep -vc ' st=0 ')
check "SPOE logged st=0 for all 1000 (st=0 + dropped: $st0, errors: $notzero)" \
    test "$st0" -ge 1000 -a "$notzero" -eq 0
a=$(grep -c '^200 a ' "$T/load.out"); b=$(grep -c '^200 b ' "$T/load.out")
check "load spread evenly by round robin (a=$a b=$b)" \
    test $((a + b)) -eq 1000 -a $((a - b)) -le 2 -a $((b - a)) -le 2

# Retry backoff: repeated attempts of one request id are answered 100, 200, 400 ms late,
# held on a timer while the agent keeps answering everything else at once.
attempt_of() { # prints "<seconds> <x-llm-attempt>"
    curl -s -o /dev/null -m 5 -H "x-llmproxy-id: $1" \
        -w '%{time_total} %header{x-llm-attempt}\n' "http://127.0.0.1:$FWD_PORT/v1/chat/completions"
}
within() { awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t < hi) }'; }
read -r t1 v1 < <(attempt_of retry-1)
read -r t2 v2 < <(attempt_of retry-1)
read -r t3 v3 < <(attempt_of retry-1)
check "first attempt answered at once (${t1}s, $v1)" bash -c "[ '$v1' = go ] && $(declare -f within); within $t1 0 0.09"
check "second attempt held ~100 ms (${t2}s, $v2)" bash -c "[ '$v2' = go ] && $(declare -f within); within $t2 0.1 0.3"
check "third attempt held ~200 ms (${t3}s)" bash -c "$(declare -f within); within $t3 0.2 0.4"
attempt_of retry-1 >"$T/held.out" &
held_pid=$!
sleep 0.05 # let the held attempt reach the agent first
read -r tf vf < <(attempt_of retry-2)
wait "$held_pid"
read -r t4 _ <"$T/held.out"
check "a held answer (${t4}s) does not delay another request (${tf}s)" \
    bash -c "$(declare -f within); within $t4 0.4 0.7 && within $tf 0 0.09"

# Agent killed: traffic keeps flowing (fail-open), the check marks it DOWN.
kill -KILL "$PID_agent"; wait "$PID_agent" 2>/dev/null
check "health check marks the dead agent DOWN" wait_until 10 agent_is DOWN
res=$(for _ in 1 2 3 4 5 6; do upstream_of; done | awk '{print $1}' | sort -u | xargs)
check "requests keep flowing fail-open without the agent (statuses: $res)" test "$res" = 200
nodec=$(upstream_of)
check "fail-open requests carry no agent decision but the error var ($nodec)" \
    bash -c "[[ '$nodec' =~ ^200\ \ [0-9]+$ ]]"

# Agent restarted: UP again, decisions resume.
start_agent
check "restarted agent is UP again" wait_until 10 agent_is UP
res=$(upstream_of)
check "decisions resume after the restart ($res)" bash -c "[[ '$res' =~ ^200\ [ab]\ $ ]]"

# HAProxy reload (master-worker, USR2): a 2.6 worker leaving says HAPROXY-DISCONNECT; 3.1
# and later just close their SPOP connections. Either way the agent sees no fault.
master=$PID_haproxy
old_workers=$(pgrep -P "$master" | xargs)
kill -USR2 "$master"
if haproxy_at_least 3 1; then
    gone() { for p in $old_workers; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
    check "the old worker left, closing its SPOP connections (3.1+: no DISCONNECT)" \
        wait_until 15 gone
else
    check "agent answered HAProxy's DISCONNECT on reload" \
        wait_until 10 grep -q 'haproxy disconnect' "$T/agent.log"
    check "... a routine goodbye, logged at debug level, not info" \
        bash -c "! grep 'haproxy disconnect (status 0' '$T/agent.log' | grep -vq '^debug: '"
fi
check "no SPOP fault across the reload" bash -c "! grep -q 'spop: fd [0-9]* closed after' '$T/agent.log'"
check "decisions continue through the new worker" \
    wait_until 10 bash -c "[[ \"\$(curl -s -o /dev/null -w '%header{x-llm-upstream}' http://127.0.0.1:$FWD_PORT/x)\" =~ ^[ab]$ ]]"
check "agent still running after the reload" kill -0 "$PID_agent"

# Malformed input on one connection is refused and counted; other connections carry on.
send_raw() { # bytes in printf %b form; the agent hangs up early, so ignore SIGPIPE
    (
        trap '' PIPE
        exec 3<>"/dev/tcp/127.0.0.1/$SPOP_PORT" || exit 0
        printf '%b' "$1" >&3 2>/dev/null
        timeout 2 cat <&3 >/dev/null 2>&1
    )
}
send_raw '\x00\x00\x00\x03abc'                       # shorter than any frame
send_raw '\x7f\xff\xff\xff\x01\x00\x00\x00\x01\x00\x00' # longer than any frame
head -c 4096 /dev/urandom >"$T/garbage" && send_raw "$(od -An -v -tx1 "$T/garbage" | tr -s ' \n' ' ' | sed 's/ \([0-9a-f][0-9a-f]\)/\\x\1/g')"
check "a too-short frame was refused and named" \
    wait_until 5 grep -q 'closed after frame_too_small' "$T/agent.log"
check "a too-long frame was refused and named" \
    wait_until 5 grep -q 'closed after frame_too_big' "$T/agent.log"
check "agent survives malformed input" kill -0 "$PID_agent"
res=$(upstream_of)
check "HAProxy's connections still get decisions ($res)" bash -c "[[ '$res' =~ ^200\ [ab]\ $ ]]"

# SIGHUP reload: a new strategy applies at once, the agent keeps running.
sed -i 's/strategy: roundrobin/strategy: failover/' "$T/config.yaml"
kill -HUP "$PID_agent"
check "agent reloaded on SIGHUP" wait_until 5 grep -q 'reloaded:' "$T/agent.log"
seq_out=$(for _ in 1 2 3 4; do upstream_of; done | awk '{print $2}' | xargs)
check "reloaded strategy (failover) is in force (got: $seq_out)" test "$seq_out" = "a a a a"
printf 'upstreams: [\n' >"$T/broken.yaml"
cp "$T/broken.yaml" "$T/config.yaml"
kill -HUP "$PID_agent"
check "a broken config on SIGHUP is refused, the running one kept" \
    wait_until 5 grep -q 'reload refused' "$T/agent.log"
res=$(upstream_of)
check "decisions continue after the refused reload ($res)" bash -c "[[ '$res' =~ ^200\ a\ $ ]]"

# The agent stops cleanly on SIGTERM (and, under ASan, leaks nothing).
stop_pid "$PID_agent"
check "agent exited cleanly on SIGTERM without sanitizer reports" \
    bash -c "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
