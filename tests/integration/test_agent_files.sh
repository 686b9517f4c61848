#!/usr/bin/env bash
# The files the agent makes in places other users can write to: its pidfile and the
# CONNECT tunnel sockets in haproxy.run_dir. A symbolic link another user planted at
# either name is never followed (the file it points at stays as it was); after -u the
# files belong to that user, the sockets mode 0600 so that HAProxy running as the same
# user can connect and other users cannot; both are removed at exit, the pidfile only
# while it still holds the agent's PID. HAProxy itself runs unprivileged here and serves
# a group reached through a forward proxy (tinyproxy). With haproxy.socket_group the
# sockets are mode 660 and that group: its members can connect, other users cannot.
# Skipped when not run as root.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to switch users"
TINYPROXY=${TINYPROXY:-tinyproxy}
command -v "$TINYPROXY" >/dev/null || { echo "  tinyproxy is missing (make deps)"; exit 1; }
RUN_AS=nobody
as_user() { setpriv --reuid="$RUN_AS" --regid=nogroup --clear-groups "$@"; }
owner_mode() { stat -c '%U %a' "$1"; }

read -r UP PX F SPOP LOGS ADMIN < <(free_ports 6 | xargs)
chmod 711 "$T" # the unprivileged processes below reach their folders through it
RUN=$T/run     # haproxy.run_dir, the agent's and HAProxy's user's
mkdir -m 755 "$RUN" && chown "$RUN_AS:nogroup" "$RUN"
PUB=$T/pub # a world-writable scratch folder, sticky like /tmp
mkdir -m 1777 "$PUB"
printf 'victim: unchanged\n' >"$T/victim"
chmod 644 "$T/victim"
SOCK=$RUN/tunnel_g__api.sock

cat >"$T/tinyproxy.conf" <<CONF
Port $PX
Listen 127.0.0.1
Timeout 30
MaxClients 20
PidFile "$T/tinyproxy.pid"
Allow 127.0.0.1
ConnectPort $UP
CONF
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: api, url: "http://127.0.0.1:$UP/v1"}
upstream_groups:
  - name: g
    upstreams: [{name: api}]
    http_client: {timeout: {connect: 2}, proxy: {enabled: true, url: "http://127.0.0.1:$PX"}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$RUN"}
YAML

# ---- a link planted at the tunnel socket's name: refused, not followed -------------------
as_user ln -s "$T/victim" "$SOCK"
"$AGENT" -c "$T/config.yaml" -u "$RUN_AS" >"$T/agent-link.log" 2>&1
check "a link at the tunnel socket's name: the agent refuses to start" test $? -ne 0
check "... saying why" grep -q "cannot listen on $SOCK: File exists" "$T/agent-link.log"
check "... the link is left alone" test -L "$SOCK"
rm -f "$SOCK"

# ---- a link planted at the pidfile's name: replaced, not followed ------------------------
as_user ln -s "$T/victim" "$PUB/agent.pid"
start_mock api "$UP" || finish
spawn tinyproxy "$TINYPROXY" -d -c "$T/tinyproxy.conf"
wait_port "$PX" || { fail "tinyproxy did not start"; finish; }
spawn agent "$AGENT" -c "$T/config.yaml" -u "$RUN_AS" -p "$PUB/agent.pid"
wait_port "$ADMIN" || { fail "agent did not start"; finish; }
check "the file behind a planted pidfile link is unchanged" \
    test "$(cat "$T/victim")" = "victim: unchanged"
check "the pidfile is a file of its own, not the link" \
    bash -c "[ -f '$PUB/agent.pid' ] && [ ! -L '$PUB/agent.pid' ]"
check "... holding the agent's PID" test "$(cat "$PUB/agent.pid")" = "$PID_agent"
check "... $RUN_AS's, mode 644 ($(owner_mode "$PUB/agent.pid"))" \
    test "$(owner_mode "$PUB/agent.pid")" = "$RUN_AS 644"
check "the tunnel socket is $RUN_AS's, mode 600 ($(owner_mode "$SOCK"))" \
    bash -c "[ -S '$SOCK' ] && [ \"\$(stat -c '%U %a' '$SOCK')\" = '$RUN_AS 600' ]"
check "another local user cannot connect to it" \
    bash -c "! setpriv --reuid=daemon --regid=daemon --clear-groups socat -u /dev/null UNIX-CONNECT:$SOCK 2>/dev/null"

# ---- HAProxy as the same unprivileged user serves the proxied group ----------------------
"$CTL" render -c "$T/config.yaml" -o "$T/out" >"$T/render.log" 2>&1 || { fail "render"; finish; }
chown -R "$RUN_AS:nogroup" "$T/out"
# From /, as systemd starts it: HAProxy goes back to its starting folder while parsing, and
# the one this test was started from (a clone in a 0700 folder) may be closed to nobody.
spawn haproxy env -C / setpriv --reuid="$RUN_AS" --regid=nogroup --clear-groups "$HAPROXY" -W -db -f "$T/out/haproxy.cfg"
up() { [ "$(haproxy_cli "$RUN/haproxy.sock" "show stat llm_agent 4 -1" | awk -F, '$2=="agent"{print $18}')" = UP ]; }
check "HAProxy, running as $RUN_AS, sees the agent UP" wait_until 10 up
check "... and runs as $RUN_AS ($(stat -c %U "$RUN/haproxy.sock" 2>/dev/null))" \
    test "$(stat -c %U "$RUN/haproxy.sock" 2>/dev/null)" = "$RUN_AS"
code=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$F/v1/chat/completions" -d '{}')
check "a request through the proxied group is served ($code)" test "$code" = 200
check "... by the upstream, through the tunnel" test "$(mock_count "$UP")" = 1

# ---- exit: our files go, another agent's pidfile stays -----------------------------------
stop_pid "$PID_agent"
check "the tunnel socket is removed at exit" test ! -e "$SOCK"
check "the pidfile is removed at exit" test ! -e "$PUB/agent.pid"
check "the agent exits cleanly, without sanitizer reports" sanitizer_clean "$T/agent.log"

spawn agent2 "$AGENT" -c "$T/config.yaml" -u "$RUN_AS" -p "$PUB/agent.pid"
# Running, not just bound: its sockets exist before it handles SIGTERM, and a SIGTERM that
# early ends it the default way, without the exit path this part is about.
wait_until 10 grep -q ' running: ' "$T/agent2.log" || { fail "agent did not start again"; finish; }
echo 1 >"$PUB/agent.pid" # as if another agent had been started with the same pidfile since
stop_pid "$PID_agent2"
check "a pidfile holding another PID is left at exit" test "$(cat "$PUB/agent.pid" 2>/dev/null)" = 1
check "... and the agent says why" grep -q "holds another process's PID" "$T/agent2.log"

# ---- HAProxy as another user: haproxy.socket_group -------------------------------------
# The agent runs as daemon; HAProxy's user (nobody) is in group nogroup.
RUN2=$T/run2
mkdir -m 755 "$RUN2" && chown daemon:daemon "$RUN2"
sed -e "s|run_dir: \"$RUN\"|run_dir: \"$RUN2\", socket_group: nogroup|" "$T/config.yaml" >"$T/group.yaml"
spawn agent3 "$AGENT" -c "$T/group.yaml" -u daemon
SOCK2=$RUN2/tunnel_g__api.sock
check "with socket_group: the socket is daemon's, group nogroup, mode 660" \
    wait_until 10 bash -c "[ \"\$(stat -c '%U %G %a' '$SOCK2')\" = 'daemon nogroup 660' ]"
check "... HAProxy's user, in nogroup, can connect" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups socat -u /dev/null "UNIX-CONNECT:$SOCK2"
check "... a user outside the group cannot" \
    bash -c "! setpriv --reuid=bin --regid=bin --clear-groups socat -u /dev/null UNIX-CONNECT:$SOCK2 2>/dev/null"
stop_pid "$PID_agent3"
check "... and it is removed at exit" test ! -e "$SOCK2"
finish
