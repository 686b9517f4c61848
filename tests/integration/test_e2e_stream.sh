#!/usr/bin/env bash
# SSE through the rendered data path: every event is relayed as the upstream sends it
# (the first long before the last is sent), gaps are the upstream's own (no ~200 ms
# clumping, thanks to option http-no-delay), and the stream ends complete.
source "$(dirname "$0")/lib.sh"

read -r A F SPOP LOGS ADMIN < <(free_ports 5 | xargs)
GAP_MS=100
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: chat, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}], http_client: {stream: true}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" --sse-events 5 --sse-gap-ms "$GAP_MS" || finish
start_stack "$T/config.yaml" || finish

# One streamed completion; each line of output is "<seconds since the request> <line>"
# for every non-empty line received, stamped as it arrives.
t0=$EPOCHREALTIME
curl -sN -m 10 "http://127.0.0.1:$F/chat/completions" \
    -d '{"model":"m","stream":true,"messages":[]}' |
    while IFS= read -r line; do
        [ -n "$line" ] && printf '%s %s\n' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}')" "$line"
    done >"$T/events"
cat "$T/events" | cut -c1-60 | sed 's/^/    /'

n=$(grep -c ' data: {' "$T/events")
check "all 5 events arrived ($n)" test "$n" -eq 5
check "the stream ends with data: [DONE]" test "$(tail -n 1 "$T/events" | cut -d' ' -f2-)" = "data: [DONE]"
content=$(grep ' data: {' "$T/events" | cut -d' ' -f3- | jq -rj '.choices[0].delta.content')
check "the deltas join up to 'a 1 2 3 4' ($content)" test "$content" = "a 1 2 3 4"

first=$(awk 'NR==1{print $1}' "$T/events")
last=$(awk 'END{print $1}' "$T/events")
# The upstream sends its last event 4 gaps (0.4 s) after the first and [DONE] one more.
check "the first event arrives before the upstream sends the last (first ${first}s, last ${last}s)" \
    awk -v f="$first" -v l="$last" 'BEGIN { exit !(f < 0.3 && l - f >= 0.4) }'
gaps=$(awk 'NR>1{printf "%d ", ($1-p)*1000} {p=$1}' "$T/events")
check "each gap is the upstream's ${GAP_MS} ms, not inflated (ms: $gaps)" \
    awk -v g="$gaps" 'BEGIN { n = split(g, a, " "); for (i = 1; i <= n; i++) if (a[i] < 60 || a[i] > 170) exit 1; exit !(n == 5) }'

check "upstream side: one streamed request, answered 200" \
    test "$(mock_records "$A" '[.[] | select(.stream == true and .status == 200)] | length')" = 1
finish
