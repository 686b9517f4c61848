#!/usr/bin/env bash
# Session affinity through the rendered data path: an affinity group of 4 mocks (each puts
# its name in the completion), 100 sessions (header x-session-id) of 20 turns each, 8
# sessions at a time. Every session's turns land on one member, and the members hold
# 25 +- 20 % sessions each. Then one member's mock stops: its sessions' next requests fail
# until its breaker opens (5 failed attempts, threshold 0.5), after which exactly the
# sessions of that member have moved (to the others, for good) and every other session
# is still where it was. A reload of the agent in between moves none, nor does another
# member's 429: its sessions go elsewhere only while it cools down.
source "$(dirname "$0")/lib.sh"

read -r M0 M1 M2 M3 FWD SPOP LOGS ADMIN < <(free_ports 8 | xargs)
SESSIONS=100
TURNS=20
PARALLEL=8

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: chat, address: 127.0.0.1, port: $FWD, upstream_group: gpu}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: m0, url: "http://127.0.0.1:$M0/v1", breaker: {threshold: 0.5, cooldown: 300}}
  - {name: m1, url: "http://127.0.0.1:$M1/v1", breaker: {threshold: 0.5, cooldown: 300}}
  - {name: m2, url: "http://127.0.0.1:$M2/v1", breaker: {threshold: 0.5, cooldown: 300}}
  - {name: m3, url: "http://127.0.0.1:$M3/v1", breaker: {threshold: 0.5, cooldown: 300}}
upstream_groups:
  - name: gpu
    upstreams: [{name: m0}, {name: m1}, {name: m2}, {name: m3}]
    balance: {strategy: affinity}
    affinity: {header: x-session-id}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T", access_log: true}
YAML

# Each answer takes 10 ms, so requests overlap as an engine's do: an instant answer leaves
# nothing in flight but the agent's few milliseconds of fresh picks, all of one session.
for m in 0 1 2 3; do
    port_var=M$m
    start_mock "m$m" "${!port_var}" --delay-ms 10 || finish
done
start_stack "$T/config.yaml" || finish

# turns SESSION N: N sequential chat completions of one session over one keep-alive
# connection (one curl); prints "SESSION NAME" per turn, NAME the answering mock (it puts
# its name in the completion), or the status when not 200.
turns() {
    local s=$1 n=$2 i args=() line name=""
    for i in $(seq "$n"); do
        [ "$i" -gt 1 ] && args+=(--next)
        args+=(-s -m 10 -w '\n=%{http_code}\n' -H "x-session-id: session-$s"
            -d '{"model":"m","messages":[{"role":"user","content":"turn '"$i"'"}]}'
            "http://127.0.0.1:$FWD/chat/completions")
    done
    curl "${args[@]}" | while IFS= read -r line; do
        if [[ $line =~ \"content\":\"([a-z0-9]+)\" ]]; then
            name=${BASH_REMATCH[1]}
        elif [[ $line =~ ^=([0-9]+)$ ]]; then
            if [ "${BASH_REMATCH[1]}" = 200 ] && [ -n "$name" ]; then echo "$s $name"; else echo "$s ${BASH_REMATCH[1]}"; fi
            name=""
        fi
    done
}
export -f turns
export FWD

# round FILE N P: N turns of every session, P sessions at a time, into FILE.
round() {
    seq "$SESSIONS" | xargs -P "$3" -I{} bash -c 'turns "$1" "$2" >"$3.$1"' _ {} "$2" "$1"
    cat "$1".* >"$1"
    rm -f "$1".*
}

started=$SECONDS
round "$T/r1" "$TURNS" "$PARALLEL"
log "$((SESSIONS * TURNS)) turns in $((SECONDS - started)) s"
check "every turn answered by a member ($(wc -l <"$T/r1") lines)" \
    test "$(grep -cE '^[0-9]+ m[0-3]$' "$T/r1")" = $((SESSIONS * TURNS))
# session -> its member: where most of its turns went.
awk '{ n[$1" "$2]++ } END { for (k in n) print k, n[k] }' "$T/r1" | sort -k1,1n -k3,3nr |
    awk '!seen[$1]++ { print $1, $2, $3 }' >"$T/home"
off_home=$(awk '{ off += '"$TURNS"' - $3 } END { print off + 0 }' "$T/home")
# Requests HAProxy balanced itself: the agent's answer came too late (no verdict logged).
failed_open() { awk '$1 == "LLMR4" && $19 == "-"' "$T/haproxy.log" | wc -l; }
# A turn leaves its session's member only when the agent spilled it (its member over the
# load bound) or when HAProxy balanced it itself because the agent's answer came too late
# (fail-open: no verdict in its log line). Both stay rare at 8 sessions at a time.
spilled=$(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="spilled"}')
failopen=$(failed_open)
log "turns away from their session's member: $off_home (agent spilled $spilled, fail-open $failopen)"
check "every session's turns on one member but those spilled or failed open ($off_home <= $spilled + $failopen)" \
    test "$off_home" -le $((spilled + failopen)) -a "$off_home" -ge "$spilled"
check "... and those are under 2 % of the turns ($off_home)" test "$off_home" -le $((SESSIONS * TURNS / 50))
counts=$(for m in m0 m1 m2 m3; do echo -n "$(awk -v m=$m '$2 == m' "$T/home" | wc -l) "; done | xargs)
log "sessions per member m0..m3: $counts"
spread_ok() { for c in $counts; do [ "$c" -ge 20 ] && [ "$c" -le 30 ] || return 1; done; }
check "members hold 25 +- 20 % sessions each ($counts)" spread_ok
check "the agent holds $SESSIONS sessions" \
    test "$(metric 'llmproxy_affinity_sessions{group="gpu"}')" = "$SESSIONS"
# A new session's first request that spills counts as spilled, not new.
new=$(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="new"}')
check "$SESSIONS new sessions but those whose first turn spilled ($new, $spilled spilled), none moved" \
    test "$new" -le "$SESSIONS" -a $((new + spilled)) -ge "$SESSIONS" -a \
    "$(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="moved"}')" = 0

# The agent reloads its unchanged configuration: every session stays on its member.
kill -HUP "$PID_agent"
check "the agent reloaded" wait_until 5 grep -q 'reloaded:' "$T/agent.log"
check "... and still holds $SESSIONS sessions" \
    test "$(metric 'llmproxy_affinity_sessions{group="gpu"}')" = "$SESSIONS"
before=$(failed_open)
round "$T/r1b" 1 2
after_reload=$(join <(sort "$T/home") <(sort "$T/r1b") | awk '$2 == $4' | wc -l)
late=$(($(failed_open) - before))
check "after the reload, one more turn of every session at its member ($after_reload, $late failed open)" \
    test "$after_reload" -ge $((SESSIONS - late))

# m1 answers one 429 with Retry-After: 2: while it cools down its sessions' turns go to
# another member, and come back to it after; none of them moves for good.
s1=$(awk '$2 == "m1" {print $1; exit}' "$T/home")
moves_before=$(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="moved"}')
mock_config "$M1" "status=429&headers=Retry-After:%202"
check "session $s1's turn meets m1's 429 ($(turns "$s1" 1 | tee "$T/throttled"))" \
    test "$(cat "$T/throttled")" = "$s1 429"
mock_config "$M1" "status=0&headers="
cooling() {
    local left
    left=$(metric 'llmproxy_upstream_throttle_cooldown_seconds{upstream="m1"}')
    [ "$left" != absent ] && awk -v s="$left" 'BEGIN { exit !(s + 0 > 0) }'
}
not_cooling() { ! cooling; }
check "... the agent learns m1 cools down" wait_until 5 cooling
away=$(turns "$s1" 1)
check "... its next turn goes to another member meanwhile ($away)" \
    bash -c "[[ '$away' =~ ^$s1\ m[023]$ ]]"
check "... and m1 still holds the session" \
    test "$(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="moved"}')" = "$moves_before"
check "... the cooldown ends" wait_until 5 not_cooling
check "... and the session's turns are on m1 again ($(turns "$s1" 1 | tee "$T/back"))" \
    test "$(cat "$T/back")" = "$s1 m1"

# m2 goes away: its sessions fail until its breaker opens.
stop_pid "$PID_mock_m2"
on_m2=$(awk '$2 == "m2" {print $1}' "$T/home" | xargs)
n_m2=$(wc -w <<<"$on_m2")
is_open() { [ "$(metric 'llmproxy_upstream_breaker_state{upstream="m2"}')" = 1 ]; }
# The breaker's 10 s window still holds m2's successes of the first round: its failures
# open it once they are half of the window, within about 10 s.
tries=0 failing_since=$SECONDS
for s in $(for _ in $(seq 20); do echo "$on_m2"; done); do
    is_open && break
    turns "$s" 1 >>"$T/failing"
    tries=$((tries + 1))
    [ $((SECONDS - failing_since)) -lt 30 ] || break
    sleep 0.1
done
check "m2's breaker opened while its sessions failed ($tries requests: $(awk '{print $2}' "$T/failing" | sort | uniq -c | xargs))" \
    wait_until 5 is_open

# One turn of every session, two at a time: no load to spill for.
before=$(failed_open)
round "$T/r2" 1 2
late=$(($(failed_open) - before))
stayed=0 moved=0 wrong=0
while read -r s m _; do
    now=$(awk -v s="$s" '$1 == s {print $2}' "$T/r2")
    if [ "$m" = m2 ]; then
        if [[ $now =~ ^m[013]$ ]]; then moved=$((moved + 1)); else wrong=$((wrong + 1)); fi
    elif [ "$now" = "$m" ]; then
        stayed=$((stayed + 1))
    else
        wrong=$((wrong + 1))
    fi
done <"$T/home"
check "m2's $n_m2 sessions moved to the others ($moved)" test "$moved" = "$n_m2"
check "the other $((SESSIONS - n_m2)) sessions stayed ($stayed, $wrong elsewhere, $late failed open)" \
    test "$stayed" -ge $((SESSIONS - n_m2 - late)) -a "$wrong" -le "$late"
spilled_r2=$(($(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="spilled"}') - spilled))
moves=$(metric 'llmproxy_affinity_picks_total{group="gpu",outcome="moved"}')
check "the agent counted $n_m2 moves, but those that spilled ($moves, $spilled_r2 spilled)" \
    test "$moves" -le "$n_m2" -a $((moves + spilled_r2)) -ge "$n_m2"
log "whole test: $((SECONDS - started)) s"
finish
