#!/usr/bin/env bash
# The admin endpoint against hostile local users (no HAProxy needed):
# - 300 idle connections from an unprivileged user fill its slots: /health still answers
#   200 (the idle connection least likely to be a client is evicted for the newcomer),
#   and the evictions are counted;
# - http_server.admin.token (from the environment, as ${ADMIN_TOKEN}) guards /metrics and
#   /status: 401 with WWW-Authenticate: Bearer and a JSON body without or with a wrong
#   token, 200 with it; /health needs none; llmproxy-ctl status sends it from the
#   configuration; the token never appears in the agent's log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/squat_lib.sh"

read -r FWD_PORT SPOP_PORT LOG_PORT ADMIN_PORT < <(free_ports 4 | xargs)
ADMIN=http://127.0.0.1:$ADMIN_PORT
export ADMIN_TOKEN=9f2c4e1ab37d58c6e0f14a2b7c9d3e85

config() { # TOKEN_LINE: the configuration, with or without the token
    cat <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: g}
  admin:
    address: 127.0.0.1
    port: $ADMIN_PORT
$1
upstreams:
  - {name: a, url: "http://127.0.0.1:1/v1"}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP_PORT}
  logs: {address: 127.0.0.1, port: $LOG_PORT}
YAML
}
config "    token: '\${ADMIN_TOKEN}'" >"$T/config.yaml"
config "" >"$T/config-no-token.yaml"

spawn agent "$AGENT" -c "$T/config.yaml"
wait_port "$ADMIN_PORT" || { fail "admin endpoint did not start"; finish; }

code() { curl -s -m 5 -o "$T/body" -D "$T/head" -w '%{http_code}' "$@"; }
bearer() { printf 'Authorization: Bearer %s' "$1"; }

# The token.
for page in /metrics /status; do
    check "$page without a token: 401" test "$(code "$ADMIN$page")" = 401
    check "$page 401 says WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$T/head"
    check "$page 401 has a JSON body" bash -c "jq -e '.error == \"unauthorized\"' '$T/body' >/dev/null"
    check "$page with a wrong token: 401" \
        test "$(code -H "$(bearer 9f2c4e1ab37d58c6e0f14a2b7c9d3e84)" "$ADMIN$page")" = 401
    check "$page with a token's prefix: 401" \
        test "$(code -H "$(bearer 9f2c4e1ab37d58c6)" "$ADMIN$page")" = 401
    check "$page with another scheme: 401" \
        test "$(code -H "Authorization: Basic $ADMIN_TOKEN" "$ADMIN$page")" = 401
    check "$page with the token: 200" test "$(code -H "$(bearer "$ADMIN_TOKEN")" "$ADMIN$page")" = 200
done
check "/health needs no token: 200" test "$(code "$ADMIN/health")" = 200
check "llmproxy-ctl status sends the configuration's token" \
    bash -c "'$CTL' status -c '$T/config.yaml' >'$T/status.txt' 2>'$T/status.err'"
check "... and prints the table" grep -q '^  main ' "$T/status.txt"
check "without it in the configuration: exit 1, and it says why" \
    bash -c "! '$CTL' status -c '$T/config-no-token.yaml' 2>'$T/status.err' >/dev/null &&
        grep -q '401' '$T/status.err'"
metric() {
    curl -s -m 5 -H "$(bearer "$ADMIN_TOKEN")" "$ADMIN/metrics" |
        awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }'
}
check "401s are counted ($(metric llmproxy_admin_unauthorized_total))" \
    test "$(metric llmproxy_admin_unauthorized_total)" -eq 9

# Idle connections in every slot.
squat squatter "$ADMIN_PORT" 300
check "the squatter holds 300 idle admin connections" wait_until 20 squatting squatter 300
for i in 1 2 3; do
    check "/health answers 200 while they sit there ($i)" test "$(code "$ADMIN/health")" = 200
done
check "/metrics too, with the token" test "$(code -H "$(bearer "$ADMIN_TOKEN")" "$ADMIN/metrics")" = 200
evicted=$(metric llmproxy_admin_connections_evicted_total)
check "squatters were evicted to admit them ($evicted), none refused" \
    test "$evicted" -ge 44 -a "$(metric 'llmproxy_admin_connections_refused_total{reason="limit"}')" -eq 0

check "the token is never in the agent's log" bash -c "! grep -q '$ADMIN_TOKEN' '$T/agent.log'"
check "the agent is alive" kill -0 "$PID_agent"
check "no sanitizer report" bash -c \
    "! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' '$T/agent.log'"
finish
