#!/usr/bin/env bash
# agent.cluster.redis: two HAProxy + agent stacks share one Redis, and one client driven
# through both is limited to the configured rate in total, not once per stack. Killing
# Redis under load fails no request (only 200 and 429) and each stack falls back to its
# own bucket (about twice the rate in total); Redis back, the buckets are shared again.
# A stalled Redis (DEBUG SLEEP) delays no answer. Redis holds only hashed identities under
# the configured prefix, and its password (from ${VAR}) shows nowhere: not in the agents'
# logs, not on /status or /metrics.
source "$(dirname "$0")/lib.sh"

REDIS_SERVER=${REDIS_SERVER:-redis-server}
command -v "$REDIS_SERVER" >/dev/null || { echo "  redis-server is missing (make deps)"; exit 1; }

read -r A R F1 F2 S1 S2 L1 L2 AD1 AD2 < <(free_ports 10 | xargs)
export LLMPROXY_TEST_REDIS_PW=CANARY-redis-5c1e
RATE=20 # per second, and the burst: 200 in 10 s shared, about 400 when each stack is alone

start_redis() {
    spawn redis "$REDIS_SERVER" --port "$R" --bind 127.0.0.1 --save "" --appendonly no \
        --requirepass "$LLMPROXY_TEST_REDIS_PW" --enable-debug-command local
    wait_port "$R" && kill -0 "$PID_redis"
}

# stack N FORWARD_PORT SPOP LOGS ADMIN: the configuration of stack N in $T/sN.
stack_config() {
    mkdir -p "$T/s$1"
    cat >"$T/s$1/config.yaml" <<YAML
http_server:
  forwards:
    - name: chat
      address: 127.0.0.1
      port: $2
      upstream_group: g
      ratelimit: {enabled: true, per_second: $RATE, burst: $RATE}
  admin: {address: 127.0.0.1, port: $5}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $3}
  logs: {address: 127.0.0.1, port: $4}
  cluster:
    redis:
      url: "redis://127.0.0.1:$R/3"
      password: "\${LLMPROXY_TEST_REDIS_PW}"
      timeout_ms: 250 # sanitizer builds on a busy machine: no fallback but the ones caused
      key_prefix: "it"
haproxy: {run_dir: "$T/s$1"}
YAML
}

# start_one N: render stack N, start its agent and HAProxy, wait until HAProxy sees the
# agent UP.
start_one() {
    local d=$T/s$1 sock
    "$CTL" render -c "$d/config.yaml" -o "$d/out" >"$d/render.log" 2>&1 || { cat "$d/render.log"; return 1; }
    spawn "agent$1" "$AGENT" -c "$d/config.yaml" -l debug
    spawn "haproxy$1" "$HAPROXY" -W -db -f "$d/out/haproxy.cfg"
    sock=$d/haproxy.sock
    wait_until 15 bash -c "[ \"\$(printf 'show stat llm_agent 4 -1\n' | socat -t 2 - UNIX-CONNECT:$sock |
        awk -F, '\$2==\"agent\"{print \$18}')\" = UP ]"
}

# cluster_state ADMIN_PORT: "shared", "local" or "starting", as /status says.
cluster_state() { curl -sf -m 2 "http://127.0.0.1:$1/status" | jq -r .cluster.state; }
both_are() { [ "$(cluster_state "$AD1")" = "$1" ] && [ "$(cluster_state "$AD2")" = "$1" ]; }

# drive SECONDS NAME: one client (127.0.0.1) through both stacks at 3 x RATE each, in the
# background; the statuses land in $T/NAME.1 and $T/NAME.2. The PIDs are in DRIVE_PIDS.
drive() {
    local secs=$1 name=$2 port n i urls
    n=$((secs * RATE * 3))
    DRIVE_PIDS=()
    DRIVE_START=$(date +%s%N)
    for i in 1 2; do
        port=F$i
        urls=()
        for _ in $(seq "$n"); do urls+=(-o /dev/null "http://127.0.0.1:${!port}/models"); done
        curl -s -m $((secs + 20)) --rate "$((RATE * 3))/s" -w "%{http_code}\n" "${urls[@]}" \
            >"$T/$name.$i" 2>/dev/null &
        DRIVE_PIDS+=($!)
    done
}
# drive_wait: until both curls are done; DRIVE_MS is how long the drive lasted, which under
# load may exceed what it was asked (the rate is admitted per second of it).
drive_wait() {
    local p
    for p in "${DRIVE_PIDS[@]}"; do wait "$p"; done
    DRIVE_MS=$((($(date +%s%N) - DRIVE_START) / 1000000))
}
count() { cat "$T/$1.1" "$T/$1.2" | grep -c "^$2$"; }
others() { cat "$T/$1.1" "$T/$1.2" | grep -vcE '^(200|429)$'; }

start_mock a "$A" || finish
start_redis || { fail "redis-server did not start on $R"; finish; }
stack_config 1 "$F1" "$S1" "$L1" "$AD1"
stack_config 2 "$F2" "$S2" "$L2" "$AD2"
start_one 1 || { fail "stack 1 did not start"; finish; }
start_one 2 || { fail "stack 2 did not start"; finish; }
check "both agents share their buckets through Redis" wait_until 10 both_are shared

# Shared: the burst goes first (warm-up), then 10 s at 6 x the rate in total.
drive 2 warm && drive_wait
drive 10 shared && drive_wait
ok=$(count shared 200)
want=$((RATE * DRIVE_MS / 1000))
log "shared: $ok admitted in $DRIVE_MS ms at $RATE/s: $want expected ($(count shared 429) limited, $(others shared) other)"
check "shared: admitted within 10 % of $want (got $ok)" \
    test "$ok" -ge $((want * 9 / 10)) -a "$ok" -le $((want * 11 / 10))
check "shared: every answer is 200 or 429" test "$(others shared)" = 0
check "each stack admitted part of it (the client is spread over both)" \
    test "$(grep -c '^200$' "$T/shared.1")" -gt 0 -a "$(grep -c '^200$' "$T/shared.2")" -gt 0

keys=$(redis-cli -p "$R" -a "$LLMPROXY_TEST_REDIS_PW" --no-auth-warning -n 3 --scan | xargs)
check "Redis holds one bucket, under llmproxy:it: (got: $keys)" \
    bash -c "[[ '$keys' =~ ^llmproxy:it:rl:[0-9a-f]{32}$ ]]"
check "the key expires when idle" \
    test "$(redis-cli -p "$R" -a "$LLMPROXY_TEST_REDIS_PW" --no-auth-warning -n 3 pttl "$keys")" -gt 0
check "Redis holds no client address" \
    bash -c "! redis-cli -p $R -a $LLMPROXY_TEST_REDIS_PW --no-auth-warning -n 3 --scan | grep -q 127.0.0"

# Redis killed under load: nothing fails, each stack limits alone.
drive 6 down
sleep 1
stop_pid "$PID_redis"
check "without Redis both agents decide locally" wait_until 5 both_are local
drive_wait
log "Redis down: $(count down 200) admitted in 6 s ($(count down 429) limited, $(others down) other)"
check "Redis down: every answer is still 200 or 429" test "$(others down)" = 0
# 1 s shared (~20), then 5 s with two buckets (~200 + the stack's refilled debt): far above 1.3x.
check "Redis down: each stack falls back to its own limit (got $(count down 200), shared would be ~$((RATE * 6)))" \
    test "$(count down 200)" -ge $((RATE * 6 * 13 / 10))
curl -sf "http://127.0.0.1:$AD1/metrics" >"$T/metrics1"
check "the fallback is counted" grep -qE '^llmproxy_cluster_fallbacks_total [1-9]' "$T/metrics1"
check "the fallback is logged once" test "$(grep -c 'deciding on local buckets' "$T/agent1.log")" = 1

# Redis back: shared again.
start_redis || { fail "redis-server did not start again"; finish; }
check "Redis back: both agents share again" wait_until 15 both_are shared
drive 5 back && drive_wait
ok=$(count back 200)
want=$((RATE * DRIVE_MS / 1000 + RATE))
log "Redis back: $ok admitted in $DRIVE_MS ms"
check "Redis back: admitted near the shared rate again (got $ok, limit $want with the burst)" \
    test "$ok" -le $((want * 11 / 10))
check "the recovery is counted" bash -c "curl -sf http://127.0.0.1:$AD2/metrics | grep -qE '^llmproxy_cluster_recoveries_total [1-9]'"

# Redis stalls (DEBUG SLEEP): no decision waits for it. Every request during the stall is
# answered at once, 200 or 429; both agents (each with a batch unanswered) go local within
# timeout_ms, and share again once Redis answers.
redis() { redis-cli -p "$R" -a "$LLMPROXY_TEST_REDIS_PW" --no-auth-warning "$@"; }
redis debug sleep 3 >/dev/null &
STALL_PID=$!
sleep 0.3
times=$(for _ in $(seq 5); do
    for port in "$F1" "$F2"; do
        curl -s -o /dev/null -m 5 -w "%{http_code}:%{time_total}\n" "http://127.0.0.1:$port/models"
    done
done | xargs)
log "during the stall: $times"
check "Redis stalled: both agents decide locally" wait_until 2 both_are local
check "Redis stalled: every request answered 200 or 429 within 0.5 s (got: $times)" \
    bash -c "for t in $times; do [[ \$t =~ ^(200|429):0\.[0-4] ]] || exit 1; done"
wait "$STALL_PID"
check "Redis awake again: both agents share again" wait_until 15 both_are shared
check "the late batch is counted as a timeout" \
    bash -c "curl -sf http://127.0.0.1:$AD1/metrics | grep -qE '^llmproxy_cluster_timeouts_total [1-9]'"

for f in "$T/agent1.log" "$T/agent2.log"; do
    check "the password is not in $(basename "$f")" bash -c "! grep -q '$LLMPROXY_TEST_REDIS_PW' '$f'"
done
curl -sf "http://127.0.0.1:$AD1/status" >"$T/status1"
check "/status names the Redis, not its password" \
    bash -c "jq -e '.cluster.redis == \"127.0.0.1:$R\"' '$T/status1' >/dev/null && ! grep -q '$LLMPROXY_TEST_REDIS_PW' '$T/status1' '$T/metrics1'"
finish
