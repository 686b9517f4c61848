#!/usr/bin/env bash
# Slow and malformed clients, against a forward (HAProxy) and against the admin endpoint
# (the agent), both with timeout.connect 1 s:
# - slowloris (a request head never finished, or trickled a few bytes at a time): 408, then
#   the connection closes, within the timeout (plus scheduling slack);
# - a 100 KiB header: refused by HAProxy (larger than its buffer: 400 from 2.6, 414 from
#   3.2), 431 from the agent;
# - bytes that are not HTTP: 400;
# - 200 such clients at once (bounded: 200 background readers, each one connection) while
#   a legitimate client keeps getting 200 and /health keeps answering;
# - afterwards HAProxy's worker and the agent are back near their memory and file
#   descriptor baselines: nothing a bad client sent is kept.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"
# ASan keeps freed memory in quarantine (256 MiB by default), so an ASan build's RSS grows
# with all it allocated, kept or not (+18 MiB once in this flood, +1.6 MiB usually). A small
# quarantine lets memory be reused, so the RSS checks below measure what is kept.
export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=4

read -r A F SPOP LOGS ADMIN < <(free_ports 5 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g, timeout: {connect: 1}}
  admin: {address: 127.0.0.1, port: $ADMIN, timeout: {connect: 1}}
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
start_stack "$T/config.yaml" || finish
WORKER=$(haproxy_cli "$T/haproxy.sock" "show info" | awk -F': ' '$1 == "Pid" { print $2 }')

# The bad requests, as files of raw bytes.
printf 'GET /health HTTP/1.1\r\nHost: x\r\nAccept: appl' >"$T/partial"
{
    printf 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: '
    head -c 102400 /dev/zero | tr '\0' a
    printf '\r\n\r\n'
} >"$T/big"
printf '\x16\x03\x01 not http at all\r\n\r\n' >"$T/garbage"

# raw PORT FILE [TRICKLE]: send FILE's bytes on a new connection (with TRICKLE, 4 bytes
# every 200 ms, like a slowloris keeping its connection alive), then wait at most 5 s for
# the answer; print its status (or "closed" for a close without one, "none" when nothing
# came at all), the seconds it took, and the seconds after which its bytes were all written
# (a client forked in a crowd may only write after the server's timeout has run out).
raw() {
    local port=$1 file=$2 trickle=${3:-} start=$EPOCHREALTIME line="" status fd writer=""
    local written=$EPOCHREALTIME
    if ! exec {fd}<>"/dev/tcp/127.0.0.1/$port"; then
        echo "refused 0 0"
        return
    fi
    if [ -n "$trickle" ]; then
        (
            data=$(cat "$file")
            for ((i = 0; i < ${#data}; i += 4)); do
                printf '%s' "${data:i:4}" >&"$fd" 2>/dev/null || break
                sleep 0.2
            done
        ) &
        writer=$!
    else
        cat "$file" >&"$fd" 2>/dev/null
        written=$EPOCHREALTIME
    fi
    if IFS= read -r -t 5 line <&"$fd"; then
        status=$(awk '{ print $2 }' <<<"$line")
        # ... and the connection closes after it. Read with bash's own read, not a forked
        # `timeout cat`: 200 clients forking on two cores can take seconds to run one.
        while IFS= read -r -t 2 line <&"$fd"; do :; done
        [ $? -gt 128 ] && status="$status-kept-open"
    elif [ -n "$line" ] || [ $? -le 128 ]; then
        status=closed
    else
        status=none
    fi
    [ -n "$writer" ] && { kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null; }
    exec {fd}>&-
    awk -v s="$status" -v a="$start" -v b="$EPOCHREALTIME" -v w="$written" \
        'BEGIN { printf "%s %.2f %.2f\n", s, b - a, w - a }'
}
# answered_within RESULT STATUSES MAX_S: RESULT's status is one of STATUSES, in time.
answered_within() {
    local st=${1%% *} secs=${1#* }
    secs=${secs%% *}
    [[ " $2 " == *" $st "* ]] && awk -v t="$secs" -v m="$3" 'BEGIN { exit !(t <= m) }'
}

spop0=$(metric llmproxy_spop_connections)
rss_agent0=$(rss_kb "$PID_agent") fds_agent0=$(fd_count "$PID_agent")
rss_worker0=$(rss_kb "$WORKER") fds_worker0=$(fd_count "$WORKER")
# The worker's idle connections to the upstream: over TCP to the mock, and to its own
# internal listener (a unix socket pair, both ends in the worker: two fds each).
upstream_conns() { ss -Htn state established "( dport = :$A )" | wc -l; }
internal_conns() { ss -Hxp state established | grep "pid=$WORKER," | grep -c '/up_[0-9a-f]*\.sock'; }
upstream_fds() { echo $(($(upstream_conns) + 2 * $(internal_conns))); }
up0=$(upstream_fds)

# One of each, alone.
for target in "forward:$F" "admin:$ADMIN"; do
    name=${target%%:*} port=${target#*:}
    r=$(raw "$port" "$T/partial")
    check "$name: partial head -> 408 and close within the 1 s timeout ($r)" answered_within "$r" 408 2.5
    r=$(raw "$port" "$T/partial" trickle)
    check "$name: trickled head -> 408 and close, trickling does not extend it ($r)" \
        answered_within "$r" 408 2.5
    r=$(raw "$port" "$T/garbage")
    check "$name: not HTTP -> 400 ($r)" answered_within "$r" 400 1
done
r=$(raw "$F" "$T/big")
check "forward: a 100 KiB header -> 400/414 (over HAProxy's buffer) ($r)" \
    answered_within "$r" "400 414 431" 1
r=$(raw "$ADMIN" "$T/big")
check "admin: a 100 KiB header -> 431 ($r)" answered_within "$r" 431 1

# 200 at once: 80 slowloris and 20 of each other kind on the forward, 40 slowloris and 20
# oversized on the admin endpoint (which serves 256 connections at most, so /health has room).
bad() {
    local i
    for i in $(seq 80); do raw "$F" "$T/partial" >"$T/bad.fs.$i" & done
    for i in $(seq 20); do raw "$F" "$T/big" >"$T/bad.fb.$i" & done
    for i in $(seq 20); do raw "$F" "$T/garbage" >"$T/bad.fg.$i" & done
    for i in $(seq 20); do raw "$F" "$T/partial" trickle >"$T/bad.ft.$i" & done
    for i in $(seq 40); do raw "$ADMIN" "$T/partial" >"$T/bad.as.$i" & done
    for i in $(seq 20); do raw "$ADMIN" "$T/big" >"$T/bad.ab.$i" & done
    wait
}
# The legitimate client's rounds last as long as the flood (and two rounds at least, 15 s at
# most): each round forks two curls, which on two cores busy with 200 bash clients may take
# a second, so a fixed time could fit a single round.
good() {
    local end=$((SECONDS + 15)) rounds=0
    while [ "$SECONDS" -lt "$end" ] && { kill -0 "$bad_pid" 2>/dev/null || [ "$rounds" -lt 2 ]; }; do
        curl -s -m 5 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$F/v1/chat/completions" -d '{}'
        curl -s -m 5 -o /dev/null -w 'health %{http_code}\n' "http://127.0.0.1:$ADMIN/health"
        rounds=$((rounds + 1))
        sleep 0.05
    done >"$T/good"
}
bad &
bad_pid=$!
sleep 0.3 # the bad clients are connected
good
wait "$bad_pid"
summary() { cat "$T"/bad."$1".* | awk '{ print $1 }' | sort | uniq -c | awk '{ print $2"x"$1 }' | xargs; }
slowest() { cat "$T"/bad."$1".* | awk '$2 > m { m = $2 } END { printf "%.2f\n", m }'; }
# Within the 1 s timeout plus scheduling slack: 200 bash clients on two cores take seconds
# to be served their answers (3.1-3.8 s seen on a quiet machine), while a slowloris that
# got its way would hold its connection to the 5 s limit of raw() and get no 408.
in_time() { awk -v t="$(slowest "$1")" 'BEGIN { exit !(t < 4.9) }'; }
check "200 at once, forward slowloris: 80 x 408 ($(summary fs), slowest $(slowest fs) s)" \
    eval '[ "$(summary fs)" = 408x80 ] && in_time fs'
check "... forward trickled: 20 x 408 ($(summary ft), slowest $(slowest ft) s)" \
    eval '[ "$(summary ft)" = 408x20 ] && in_time ft'
# refused_or_late KEY STATUSES: each of the 20 got one of STATUSES, or 408 when its bytes
# were all written 0.9 s or more after it connected (the server's 1 s timer starts at
# accept, after connect). Alone, each kind gets its status (above); in the crowd, forking
# the writer may take a second, but a 408 for bytes written in time is the server's fault.
refused_or_late() {
    [ "$(cat "$T"/bad."$1".* | wc -l)" -eq 20 ] &&
        cat "$T"/bad."$1".* | awk -v want=" $2 " \
            '!(index(want, " " $1 " ") || ($1 == 408 && $3 >= 0.9)) { bad = 1 } END { exit bad }'
}
check "... forward oversized: 20 x 400 (414 from 3.2), or 408 when written too late ($(summary fb))" \
    refused_or_late fb "400 414"
check "... forward garbage: 20 x 400, or 408 when written too late ($(summary fg))" \
    refused_or_late fg 400
check "... admin slowloris: 40 x 408 ($(summary as), slowest $(slowest as) s)" \
    eval '[ "$(summary as)" = 408x40 ] && in_time as'
check "... admin oversized: 20 x 431, or 408 when written too late ($(summary ab))" \
    refused_or_late ab 431
good_codes=$(grep -c '^200$' "$T/good")
health=$(grep -c '^health 200$' "$T/good")
# How many rounds fit in the flood depends on the machine's load (200 clients share its
# cores); what matters is that every one of them succeeded.
check "meanwhile the legitimate client got only 200s ($good_codes) and /health only 200s ($health)" \
    test "$good_codes" -ge 2 -a "$health" -eq "$good_codes" -a "$(wc -l <"$T/good")" -eq $((2 * good_codes))

# Back near the baselines once every bad connection is gone. HAProxy may have opened more
# SPOP connections to the agent under the concurrent load (each an fd on both sides, kept
# until the SPOE idle timeout), and keeps the legitimate client's upstream connections idle
# (for http_client.timeout.idle, 60 s): those are not the bad clients' and are counted and
# allowed for, plus 1 for HAProxy's own comings and goings (its log ring's reconnection).
spop_conns() { metric llmproxy_spop_connections; }
worker_allowed() { echo $((fds_worker0 + $(spop_conns) - spop0 + $(upstream_fds) - up0 + 1)); }
settled() {
    local extra=$(($(spop_conns) - spop0))
    [ "$(fd_count "$PID_agent")" -le $((fds_agent0 + extra)) ] &&
        [ "$(fd_count "$WORKER")" -le "$(worker_allowed)" ] &&
        ! ss -Htn state established "( sport = :$ADMIN or sport = :$F )" | grep -q .
}
wait_until 10 settled
extra=$(($(spop_conns) - spop0))
rss_agent=$(rss_kb "$PID_agent") fds_agent=$(fd_count "$PID_agent")
rss_worker=$(rss_kb "$WORKER") fds_worker=$(fd_count "$WORKER") allowed=$(worker_allowed)
check "no client connection left on the forward or the admin port" \
    bash -c "! ss -Htn state established '( sport = :$ADMIN or sport = :$F )' | grep -q ."
check "agent: file descriptors back to baseline ($fds_agent0 -> $fds_agent, $extra more SPOP connections)" \
    test "$fds_agent" -le $((fds_agent0 + extra))
check "HAProxy worker: file descriptors back to baseline ($fds_worker0 -> $fds_worker, at most $allowed: $extra more SPOP connections, $(($(upstream_fds) - up0)) more fds of idle upstream ones)" \
    test "$fds_worker" -le "$allowed"
check "agent: RSS near baseline ($rss_agent0 -> $rss_agent KiB, at most +16 MiB under ASan)" \
    test $((rss_agent - rss_agent0)) -le 16384
check "HAProxy worker: RSS near baseline ($rss_worker0 -> $rss_worker KiB, at most +32 MiB)" \
    test $((rss_worker - rss_worker0)) -le 32768
check "HAProxy still serves" test "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F/v1/models")" = 200
stop_pid "$PID_agent"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"
finish
