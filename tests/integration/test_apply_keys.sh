#!/usr/bin/env bash
# llmproxy-ctl apply changes client keys without reloading HAProxy: under a steady load with
# client alpha's key, a new version adds charlie and revokes bravo; the worker stays the
# same, no request of the load fails, charlie's key is served within a second and bravo's
# gets 401 on its next request, on a new connection and on one it kept open. The map files in the live folder hold hashes only. A
# change that is not only keys (a new upstream) still reloads and keeps the new keys; when
# the runtime API cannot be reached, apply reloads HAProxy instead.
source "$(dirname "$0")/lib.sh"

read -r A B F SPOP LOGS ADMIN < <(free_ports 6 | xargs)
LIVE=$T/live
KEY_ALPHA=llmp-alpha-0123456789abcdefABCDEF
KEY_BRAVO=llmp-bravo-0123456789abcdefABCDEF
KEY_CHARLIE=llmp-charlie-0123456789abcdefABCD
KEY_DELTA=llmp-delta-0123456789abcdefABCDEF

# config CLIENTS [EXTRA_UPSTREAM]: the configuration with these clients ("name=key" words),
# its group holding upstream a, and b too when asked.
config() {
    local c members="{name: a}"
    [ -n "${2:-}" ] && members="{name: a}, {name: b}"
    echo "clients:"
    for c in $1; do
        echo "  - {name: ${c%%=*}, key: \"${c#*=}\"}"
    done
    cat <<YAML
http_server:
  forwards:
    - {name: chat, address: 127.0.0.1, port: $F, upstream_group: g, client_auth: true}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
upstream_groups:
  - {name: g, upstreams: [$members]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML
}
config "alpha=$KEY_ALPHA bravo=$KEY_BRAVO" >"$T/v1.yaml"
config "alpha=$KEY_ALPHA charlie=$KEY_CHARLIE" >"$T/v2.yaml"
config "alpha=$KEY_ALPHA charlie=$KEY_CHARLIE" b >"$T/v3.yaml"
config "alpha=$KEY_ALPHA charlie=$KEY_CHARLIE delta=$KEY_DELTA" b >"$T/v4.yaml"

start_mock a "$A" || finish
start_mock b "$B" || finish

check "the first apply creates $LIVE -> live.1" \
    bash -c "'$CTL' apply -c '$T/v1.yaml' -o '$LIVE' >'$T/apply1.out' 2>&1"
spawn agent "$AGENT" -c "$LIVE/config.yaml"
wait_port "$SPOP" || finish
spawn haproxy "$HAPROXY" -W -db -f "$LIVE/haproxy.cfg" -p "$T/haproxy.pid"
check "HAProxy sees the agent UP" wait_until 10 agent_is UP
check "HAProxy's pidfile names the master" \
    wait_output 5 = "$PID_haproxy" cat "$T/haproxy.pid"

worker_pid() { haproxy_cli "$T/haproxy.sock" "show info" | awk -F': ' '$1=="Pid"{print $2}'; }
# chat KEY [HEADER]: one request with KEY in HEADER (Authorization: Bearer by default).
chat() {
    local hdr="Authorization: Bearer $1"
    [ -n "${2:-}" ] && hdr="$2: $1"
    curl -s -m 5 -o /dev/null -w '%{http_code}\n' -H "$hdr" \
        "http://127.0.0.1:$F/chat/completions" -d '{"model":"m","messages":[]}'
}
# status_is STATUS KEY: a request with KEY answers STATUS (for wait_until, which re-runs it).
status_is() { [ "$(chat "$2")" = "$1" ]; }
# worker_is_not PID: HAProxy answers from a worker other than PID.
worker_is_not() {
    local w
    w=$(worker_pid)
    [ -n "$w" ] && [ "$w" != "$1" ]
}
apply() {
    "$CTL" apply -c "$T/$1.yaml" -o "$LIVE" --haproxy-pid "$T/haproxy.pid" \
        --agent-pid "$PID_agent" >"$T/apply-$1.out" 2>&1
}

check "alpha's and bravo's keys are served (Bearer, x-api-key, api-key)" \
    test "$(chat "$KEY_ALPHA") $(chat "$KEY_BRAVO" x-api-key) $(chat "$KEY_ALPHA" api-key)" = \
    "200 200 200"
check "charlie's key, not issued yet, gets 401" test "$(chat "$KEY_CHARLIE")" = 401

# The map holds "<sha256 hex> <client>" lines, and nothing of a key itself.
maps_hold_hashes_only() {
    local keys
    keys=$(printf '%s\n' "$KEY_ALPHA" "$KEY_BRAVO" "$KEY_CHARLIE" "$KEY_DELTA")
    ls "$LIVE"/maps/*.map >/dev/null &&
        ! grep -hvE '^[0-9a-f]{64} [A-Za-z0-9_.-]+$' "$LIVE"/maps/*.map | grep -q . &&
        ! grep -rqF -f <(echo "$keys") "$LIVE"/maps/
}
check "the live folder's map files hold hashes only" maps_hold_hashes_only

# Steady load with alpha's key: ~16 requests/s for 6 s (10 s at most); one status a line.
load() {
    local end=$((SECONDS + 6))
    while [ "$SECONDS" -lt "$end" ]; do chat "$KEY_ALPHA"; sleep 0.06; done >"$T/load"
}
# bravo also keeps a connection open across the apply: the revocation reaches it too.
# keepalive_status KEY: one request on it, its status line's code; the rest is drained.
exec 3<>"/dev/tcp/127.0.0.1/$F"
keepalive_status() {
    local line
    printf 'POST /chat/completions HTTP/1.1\r\nHost: chat\r\nAuthorization: Bearer %s\r\n%s' \
        "$1" $'Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' >&3
    IFS= read -r -t 5 line <&3 || return 1
    while IFS= read -r -t 0.3 _ <&3; do :; done
    echo "$line" | awk '{print $2}'
}
check "bravo's key is served on a connection kept open" \
    test "$(keepalive_status "$KEY_BRAVO")" = 200

old_worker=$(worker_pid)
load & load_pid=$!
sleep 1.5

check "apply v2 (adds charlie, revokes bravo) under load" apply v2
check "... updates the keys in place, without a reload" \
    grep -qx 'keys updated in place: 1 map, no reload' "$T/apply-v2.out"
check "bravo's key gets 401 on its next request" test "$(chat "$KEY_BRAVO")" = 401
check "... also on the connection bravo kept open" \
    test "$(keepalive_status "$KEY_BRAVO")" = 401
exec 3>&-
check "charlie's key is served within a second" wait_until 1 status_is 200 "$KEY_CHARLIE"
check "$LIVE -> live.2" test "$(readlink "$LIVE")" = live.2
check "the agent reloaded the new version" wait_until 5 grep -q 'reloaded:' "$T/agent.log"
wait "$load_pid"

statuses=$(sort "$T/load" | uniq -c | awk '{print $2"x"$1}' | xargs)
n=$(wc -l <"$T/load")
check "no request of alpha's load failed across the apply ($n requests: $statuses)" \
    test "$n" -ge 30 -a "$statuses" = "200x$n"
check "HAProxy runs the same worker ($old_worker -> $(worker_pid))" \
    test -n "$old_worker" -a "$(worker_pid)" = "$old_worker"
check "the live folder's map files still hold hashes only" maps_hold_hashes_only

# A new upstream is not a key change: HAProxy reloads, and reads the keys from the files.
check "apply v3 (adds upstream b)" apply v3
check "... reloads HAProxy" grep -q 'HAProxy [0-9]* signalled to reload' "$T/apply-v3.out"
check "... which runs a new worker" wait_until 5 worker_is_not "$old_worker"
check "after the reload charlie is served and bravo refused" \
    test "$(chat "$KEY_CHARLIE") $(chat "$KEY_BRAVO")" = "200 401"

# The runtime API out of reach: the key change is applied by a reload instead.
worker=$(worker_pid)
mv "$T/haproxy.sock" "$T/haproxy.sock.away"
check "apply v4 (adds delta) with HAProxy's runtime socket gone" apply v4
check "... says it reloads HAProxy instead" \
    grep -q 'reloading HAProxy instead' "$T/apply-v4.out"
# The new worker inherits the socket's descriptor, whatever its name now: give it back.
mv "$T/haproxy.sock.away" "$T/haproxy.sock"
check "... by a new worker" wait_until 5 worker_is_not "$worker"
check "... which serves delta's key" wait_until 5 status_is 200 "$KEY_DELTA"
finish
