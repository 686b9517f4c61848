#!/usr/bin/env bash
# Routing without the agent (fail-open): HAProxy still routes by model, and an affinity
# group balances on its own by the session header (balance hdr, consistent hashing): one
# session stays on one member, sessions spread over the members, a request without the
# header is still served. The agent is never started, so nothing here depends on it.
source "$(dirname "$0")/lib.sh"

read -r M_DEF M_S1 M_S2 F_MAIN < <(free_ports 4 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F_MAIN, upstream_group: dflt,
       routing: [{model: "sticky*", target_group: sess}]}
upstreams:
  - {name: def, url: "http://127.0.0.1:$M_DEF/v1"}
  - {name: s1, url: "http://127.0.0.1:$M_S1/v1"}
  - {name: s2, url: "http://127.0.0.1:$M_S2/v1"}
upstream_groups:
  - {name: dflt, upstreams: [{name: def}]}
  - {name: sess, upstreams: [{name: s1}, {name: s2}], affinity: {header: X-Session-Id}}
haproxy: {run_dir: "$T", access_log: true}
YAML

for m in def:$M_DEF s1:$M_S1 s2:$M_S2; do
    start_mock "${m%%:*}" "${m#*:}" || finish
done
"$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1 || { fail "render"; finish; }
check "the affinity group balances on the session header when the agent is away" \
    grep -q "balance hdr(x-session-id)" "$T/out/haproxy.cfg"
spawn haproxy "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
wait_port "$F_MAIN" || { fail "HAProxy did not listen"; finish; }

# served [CURL ARGS...]: the mock that answered one chat completion of model sticky-1
# (its name is the answer's content), or the status when none did.
served() {
    local out
    out=$(curl -s -m 10 -w ' %{http_code}' "$@" -H 'content-type: application/json' \
        -d '{"model":"sticky-1","messages":[]}' "http://127.0.0.1:$F_MAIN/v1/chat/completions")
    jq -r '.choices[0].message.content' <<<"${out% *}" 2>/dev/null || echo "${out##* }"
}

one=""
for _ in 1 2 3 4 5 6; do one="$one $(served -H 'x-session-id: conv-42')"; done
check "one session stays on one member:$one" \
    bash -c '[ "$(tr " " "\n" <<<"$1" | grep . | sort -u | wc -l)" = 1 ] && [[ $1 =~ s[12] ]]' _ "$one"
many=""
for i in $(seq 16); do many="$many $(served -H "x-session-id: conv-$i")"; done
check "sixteen sessions use both members:$many" \
    bash -c '[[ $1 =~ s1 ]] && [[ $1 =~ s2 ]] && ! [[ $1 =~ def ]]' _ "$many"
w=$(served)
check "without the header: still the affinity group ($w)" bash -c '[[ $1 =~ ^s[12]$ ]]' _ "$w"
w=$(curl -s -m 10 -H 'content-type: application/json' -d '{"model":"other"}' \
    "http://127.0.0.1:$F_MAIN/v1/chat/completions" | jq -r '.choices[0].message.content')
check "an unmatched model goes to the default group ($w)" test "$w" = def

finish
