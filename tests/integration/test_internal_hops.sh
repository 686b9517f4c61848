#!/usr/bin/env bash
# The internal hops belong to the service alone. With the default configuration (no
# agent.spop / agent.logs), the stack runs as root and another local user (nobody, the
# attacker) tries each internal hop directly:
#   (a) an HTTP request to every per-upstream listener (it would leave with the
#       upstream's API key, no rate limit, no decision),
#   (b) the agent's SPOP channel, with a HELLO (forged picks steer rate limits),
#   (c) the agent's log feed, with a forged attempt line (forged outcomes open breakers);
# every one is refused with EACCES, while requests through the forward still work and the
# agent still gets HAProxy's log lines. The folder holding the sockets is open to all
# here, so the sockets' own modes are what refuses: 600 for the agent's user (HAProxy
# runs as the same user), 660 and the group with haproxy.socket_group (HAProxy runs as
# another user of that group). Skipped when not run as root.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to run the attacker as another user"
# The system's python: one installed for root alone (pyenv) is not the attacker's.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || skip "$PYTHON is needed for the attacker's tool"
ATTACKER=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

read -r A F ADMIN < <(free_ports 3 | xargs)
RUN=$T # lib.sh finds HAProxy's runtime socket there
chmod 755 "$RUN"
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - name: a
    url: "http://127.0.0.1:$A/v1"
    auth: {type: bearer, token: operator-secret-key}
upstream_groups:
  - {name: g, upstreams: [{name: a}], http_client: {retry: {enabled: true, attempts: 1}}}
haproxy: {run_dir: "$RUN"}
YAML

# The attacker's tool: connect to ADDRESS (unix@PATH, abns@NAME or HOST:PORT), send
# PAYLOAD (a file), print "EACCES" and the like when the connection is refused, else
# "connected" and how many bytes came back.
cat >"$T/attack.py" <<'PY'
import errno, socket, sys
addr, payload = sys.argv[1], open(sys.argv[2], "rb").read()
if addr.startswith("unix@"):
    s, target = socket.socket(socket.AF_UNIX), addr[5:]
elif addr.startswith("abns@"):
    # HAProxy before 3.1 pads abstract names with NULs to the whole sun_path.
    s, target = socket.socket(socket.AF_UNIX), ("\0" + addr[5:]).ljust(108, "\0")
else:
    host, port = addr.rsplit(":", 1)
    s, target = socket.socket(), (host.strip("[]"), int(port))
s.settimeout(3)
try:
    s.connect(target)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
    sys.exit(0)
s.sendall(payload)
got = b""
try:
    while len(got) < 65536:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
except OSError:
    pass
print("connected, %d bytes back" % len(got))
PY

# An SPOP HAPROXY-HELLO frame, as HAProxy 2.6 sends it.
cat >"$T/hello.py" <<'PY'
import struct, sys
def varint(v):
    if v < 240:
        return bytes([v])
    out = [(v | 240) & 0xff]
    v = (v - 240) >> 4
    while v >= 128:
        out.append((v | 128) & 0xff)
        v = (v - 128) >> 7
    out.append(v)
    return bytes(out)
def s(x):
    return varint(len(x)) + x.encode()
body = bytes([1]) + struct.pack(">I", 1) + varint(0) + varint(0)
body += s("supported-versions") + bytes([8]) + s("2.0")
body += s("max-frame-size") + bytes([3]) + varint(16380)
body += s("capabilities") + bytes([8]) + s("pipelining")
sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
PY
"$PYTHON" "$T/hello.py" >"$T/hello.bin"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}' \
    >"$T/request.http"
# A failed attempt as the listener layer logs it (contract/logformat.h), octet-counted.
line="LLMA1 forged g a 503 0 0 -1 1 0 SC--"
printf '%d %s' "${#line}" "$line" >"$T/logline.bin"

attack() { "${ATTACKER[@]}" "$PYTHON" "$T/attack.py" "$1" "$2"; }

# Where a hop stays on TCP, validate says when it is not on loopback (and still accepts it).
printf 'agent:\n  spop: {address: 0.0.0.0, port: 9100}\n  logs: {address: "::1", port: 9101}\n' \
    >"$T/tcp.yaml"
"$CTL" validate -c "$T/tcp.yaml" >"$T/validate.out" 2>"$T/validate.err"
check "validate accepts TCP agent listeners (exit $?)" test $? -eq 0
check "... warning about agent.spop on 0.0.0.0, at its line and column" \
    grep -q "^$T/tcp.yaml:2:34: agent.spop: warning: 0.0.0.0 is not a loopback address" "$T/validate.err"
check "... and not about agent.logs on ::1" test "$(grep -c warning "$T/validate.err")" -eq 1

start_mock a "$A" || finish
start_stack "$T/config.yaml" || finish

listeners=$(awk '$1 == "bind" && $2 !~ /^"127\.0\.0\.1:/ {gsub(/"/, "", $2); print $2}' "$T/out/haproxy.cfg")
spop=$(agent_address)
logs=$(awk '$1 == "server" && $2 == "logfeed" {gsub(/"/, "", $3); print $3}' "$T/out/haproxy.cfg")
check "the defaults render unix sockets for the agent ($spop, $logs)" \
    bash -c "[[ '$spop' == unix@$RUN/* && '$logs' == unix@$RUN/* ]]"
# The listener's second socket takes the retries of the member's pinned backend.
check "... and one listener, with its retry socket" test "$(echo "$listeners" | wc -w)" -eq 2

got=$(attack "127.0.0.1:$F" "$T/request.http")
check "the attacker's tool works: through the forward, as any client ($got)" \
    bash -c "[[ '$got' == connected,* && '$got' != 'connected, 0 bytes back' ]]"
mock_reset "$A"
for l in $listeners; do
    got=$(attack "$l" "$T/request.http")
    check "(a) the attacker's request to listener $l is refused: $got" test "$got" = EACCES
done
check "... and nothing reached the upstream with the operator's key" test "$(mock_count "$A")" -eq 0

got=$(attack "$spop" "$T/hello.bin")
check "(b) the attacker's SPOP HELLO to $spop is refused: $got" test "$got" = EACCES
got=$(attack "$logs" "$T/logline.bin")
check "(c) the attacker's forged log line to $logs is refused: $got" test "$got" = EACCES

mode() { stat -c %a "${1#unix@}"; }
check "the agent's sockets are 600 ($(mode "$spop"), $(mode "$logs"))" \
    test "$(mode "$spop") $(mode "$logs")" = "600 600"
for l in $listeners; do
    check "listener $l is 600 ($(mode "$l"))" test "$(mode "$l")" = 600
done

# The service itself still uses every hop.
lines0=$(metric_sum llmproxy_log_lines_received_total)
picks0=$(metric_sum llmproxy_agent_pick_decisions_total)
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F/v1/chat/completions" -d '{}')
check "a request through the forward is served ($code)" test "$code" = 200
check "... reaches the upstream with the operator's key" \
    test "$(mock_records "$A" '.[-1].authorization')" = \
    "Bearer operator-secret-key"
check "... was picked by the agent over SPOP" \
    wait_output 5 -gt "$picks0" metric_sum llmproxy_agent_pick_decisions_total
# One line: the agent chose a, whose pinned backend served it without a listener.
check "... and its log line reached the agent's feed" \
    wait_until 5 bash -c "[ \$(curl -s -m 2 http://127.0.0.1:$ADMIN/metrics |
        awk '\$1 == \"llmproxy_log_lines_received_total\" {print \$2}') -ge $((lines0 + 1)) ]"

stop_pid "$PID_agent"
check "the agent removes its sockets when it stops" \
    bash -c "[ ! -e '${spop#unix@}' ] && [ ! -e '${logs#unix@}' ]"
check "... without sanitizer reports" sanitizer_clean "$T/agent.log"

# Started as root with -u USER, the agent binds, then gives its sockets to USER, so that an
# HAProxy running as USER still connects after the switch (this HAProxy runs as root; the
# owner is what is checked).
check "HAProxy sees the stopped agent DOWN" wait_until 10 agent_is DOWN
mv "$T/agent.log" "$T/agent-root.log"
spawn agent "$AGENT" -c "$T/config.yaml" -u daemon
check "with -u daemon the agent listens again" wait_until 10 test -S "${spop#unix@}"
owner() { stat -c %U:%G:%a "${1#unix@}"; }
check "... its sockets owned by daemon, mode 600 ($(owner "$spop"), $(owner "$logs"))" \
    test "$(owner "$spop") $(owner "$logs")" = "daemon:daemon:600 daemon:daemon:600"
check "... HAProxy sees it UP" wait_until 10 agent_is UP
got=$(attack "$spop" "$T/hello.bin")
check "... and the attacker is still refused: $got" test "$got" = EACCES

stop_pid "$PID_agent"
check "HAProxy sees the stopped agent DOWN again" wait_until 10 agent_is DOWN
mv "$T/agent.log" "$T/agent-daemon.log"

# With haproxy.socket_group, HAProxy may run as another user of that group: the sockets are
# group-writable and that group's, and a member connects; the attacker outside it still
# cannot.
sed -e "s|run_dir: \"$RUN\"|run_dir: \"$RUN\", socket_group: nogroup|" "$T/config.yaml" >"$T/group.yaml"
check "the configuration now sets socket_group" grep -q "socket_group: nogroup" "$T/group.yaml"
spawn agent "$AGENT" -c "$T/group.yaml" -u daemon
# The stopped agent, as daemon, could not remove its sockets from this root-owned folder:
# wait for the new ones rather than for any socket.
both() { echo "$(owner "$spop") $(owner "$logs")"; }
group_sockets() { [ "$(both)" = "daemon:nogroup:660 daemon:nogroup:660" ]; }
wait_until 10 group_sockets
check "with socket_group: nogroup, the agent's sockets are daemon's, group nogroup, mode 660 ($(both))" \
    group_sockets
check "... HAProxy sees it UP" wait_until 10 agent_is UP
got=$("${ATTACKER[@]}" "$PYTHON" "$T/attack.py" "$spop" "$T/hello.bin")
check "... a member of nogroup (nobody) connects over SPOP and is answered: $got" \
    bash -c "[[ '$got' == connected,* && '$got' != 'connected, 0 bytes back' ]]"
for sock in "$spop" "$logs"; do
    got=$(setpriv --reuid=bin --regid=bin --clear-groups "$PYTHON" "$T/attack.py" "$sock" "$T/hello.bin")
    check "... a user outside the group (bin) is refused at $sock: $got" test "$got" = EACCES
done

# Killed, the agent leaves its sockets behind; the next one replaces them.
kill -KILL "$PID_agent"
wait "$PID_agent" 2>/dev/null
check "SIGKILL leaves the socket behind" test -S "${spop#unix@}"
check "HAProxy sees the killed agent DOWN" wait_until 10 agent_is DOWN
mv "$T/agent.log" "$T/agent-group.log"
spawn agent "$AGENT" -c "$T/config.yaml"
check "a new agent replaces the stale sockets and HAProxy sees it UP" wait_until 10 agent_is UP
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$F/v1/chat/completions" -d '{}')
check "... and requests are served again ($code)" test "$code" = 200
finish
