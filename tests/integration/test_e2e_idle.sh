#!/usr/bin/env bash
# http_client.timeout.idle closes idle upstream connections: after one request, the
# connection HAProxy keeps to the upstream is gone within idle + slack with `idle: 2`, and
# still open at that time with `idle: 60`, on each path a request can take: a pinned
# backend (no retries), a retry group's listener, and the agent's tunnel through a forward
# proxy (there the connection to the upstream is the proxy's, closed when HAProxy closes
# the tunnel).
source "$(dirname "$0")/lib.sh"

TINYPROXY=${TINYPROXY:-tinyproxy}
read -r UD2 UD60 UR2 UR60 UP2 UP60 PX FD2 FD60 FR2 FR60 FP2 FP60 SPOP LOGS < <(free_ports 15 | xargs)
has_proxy=false
command -v "$TINYPROXY" >/dev/null && has_proxy=true

# group NAME UPSTREAM IDLE EXTRA: one group of one upstream.
group() {
    printf '  - name: %s\n    upstreams: [{name: %s}]\n    http_client: {timeout: {idle: %s}%s}\n' \
        "$1" "$2" "$3" "$4"
}
retry=', retry: {enabled: true, attempts: 1, initial: 10}'
proxy=", proxy: {enabled: true, url: \"http://127.0.0.1:$PX\"}"
{
    cat <<YAML
http_server:
  forwards:
    - {name: d2, address: 127.0.0.1, port: $FD2, upstream_group: d2}
    - {name: d60, address: 127.0.0.1, port: $FD60, upstream_group: d60}
    - {name: r2, address: 127.0.0.1, port: $FR2, upstream_group: r2}
    - {name: r60, address: 127.0.0.1, port: $FR60, upstream_group: r60}
YAML
    $has_proxy && cat <<YAML
    - {name: p2, address: 127.0.0.1, port: $FP2, upstream_group: p2}
    - {name: p60, address: 127.0.0.1, port: $FP60, upstream_group: p60}
YAML
    echo "upstreams:"
    for u in d2:$UD2 d60:$UD60 r2:$UR2 r60:$UR60 p2:$UP2 p60:$UP60; do
        echo "  - {name: ${u%%:*}, url: \"http://127.0.0.1:${u#*:}/v1\"}"
    done
    echo "upstream_groups:"
    group d2 d2 2 ""
    group d60 d60 60 ""
    group r2 r2 2 "$retry"
    group r60 r60 60 "$retry"
    if $has_proxy; then
        group p2 p2 2 "$proxy"
        group p60 p60 60 "$proxy"
    fi
    cat <<YAML
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML
} >"$T/config.yaml"

paths="d r"
for p in d r; do
    eval "start_mock ${p}2 \$U${p^^}2" || finish
    eval "start_mock ${p}60 \$U${p^^}60" || finish
done
if $has_proxy; then
    paths="d r p"
    start_mock p2 "$UP2" || finish
    start_mock p60 "$UP60" || finish
    cat >"$T/tinyproxy.conf" <<CONF
Port $PX
Listen 127.0.0.1
Timeout 600
MaxClients 50
PidFile "$T/tinyproxy.pid"
Allow 127.0.0.1
ConnectPort $UP2
ConnectPort $UP60
CONF
    spawn tinyproxy "$TINYPROXY" -d -c "$T/tinyproxy.conf"
    wait_port "$PX" || { fail "tinyproxy did not start"; finish; }
else
    log "tinyproxy is missing: the proxy path is not tested"
fi
start_stack "$T/config.yaml" || finish

# established PORT: connections established to PORT (the mock's side is not counted).
established() { ss -Htn state established "( dport = :$1 )" | wc -l; }

for p in $paths; do
    for idle in 2 60; do
        eval "fport=\$F${p^^}$idle"
        st=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -d '{"model":"m","messages":[]}' \
            "http://127.0.0.1:$fport/v1/chat/completions")
        check "path $p, idle $idle: 200 ($st)" test "$st" = 200
    done
done
t0=$(date +%s%N)
for p in $paths; do
    for idle in 2 60; do
        eval "uport=\$U${p^^}$idle"
        n=$(established "$uport")
        check "path $p, idle $idle: the upstream connection is kept after the request ($n)" \
            test "$n" -ge 1
    done
done

# since_t0: seconds since t0, to the tenth.
since_t0() { awk -v t0="$t0" -v now="$(date +%s%N)" 'BEGIN { printf "%.1f", (now - t0) / 1e9 }'; }
# HAProxy purges idle connections every idle / 2: a lone one goes between idle and
# 1.5 x idle after its last use. Not before idle, and within idle + 3 s of slack.
sleep 1.5
for p in $paths; do
    eval "u2=\$U${p^^}2"
    check "path $p: with idle 2 the connection is still open after $(since_t0) s" \
        test "$(established "$u2")" -ge 1
done
# Then poll each until it closes, to log when.
declare -A closed_at
while [ "$(since_t0 | cut -d. -f1)" -lt "${IDLE_POLL_S:-5}" ]; do
    open=0
    for p in $paths; do
        eval "u2=\$U${p^^}2"
        [ -n "${closed_at[$p]:-}" ] && continue
        if [ "$(established "$u2")" -eq 0 ]; then closed_at[$p]=$(since_t0); else open=1; fi
    done
    [ "$open" = 0 ] && break
    sleep 0.1
done
for p in $paths; do log "path $p, idle 2: closed ${closed_at[$p]:-not} s after the request"; done
for p in $paths; do
    eval "u2=\$U${p^^}2 u60=\$U${p^^}60"
    n2=$(established "$u2")
    n60=$(established "$u60")
    check "path $p: with idle 2 the upstream connection is closed by 5 s ($n2 open)" \
        test "$n2" -eq 0
    check "path $p: with idle 60 it is still open then ($n60 open)" test "$n60" -ge 1
done
finish
