#!/usr/bin/env bash
# A client's own fault never counts against an upstream. Through a pinned group (no retry:
# one HAProxy layer) and a group with retries (the listener layer), ten of each client fault:
# - a broken chunked body after HAProxy has connected upstream (a valid chunk, a pause,
#   then `zz`), the remote breaker trip this test was written for;
# - a client that closes mid-body, one that closes while waiting for its answer, a body
#   shorter than its Content-Length, a body that stalls until the client gives up;
# - bad request syntax and a head larger than HAProxy's buffer.
# Afterwards both upstreams' breakers are closed, no upstream error was counted, the faults
# are counted as client errors of the request metrics, and a normal request still gets 200.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

read -r A B FP FR SPOP LOGS ADMIN < <(free_ports 7 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: pin, address: 127.0.0.1, port: $FP, upstream_group: p, timeout: {connect: 1}}
    - {name: two, address: 127.0.0.1, port: $FR, upstream_group: r, timeout: {connect: 1}}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1", breaker: {threshold: 0.5, cooldown: 60}}
  - {name: b, url: "http://127.0.0.1:$B/v1", breaker: {threshold: 0.5, cooldown: 60}}
upstream_groups:
  - {name: p, upstreams: [{name: a}]}
  - name: r
    upstreams: [{name: b}]
    http_client: {retry: {enabled: true, attempts: 2, initial: 10}}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

# The faults, one connection each, all at once in one process (so the stalls do not add up):
# `fault.py "KIND..." PORT...` sends ten of each kind to each port and writes what came back
# (a status, or "closed") to answers.PORT.KIND, a line per connection.
cat >"$T/fault.py" <<'PY'
import os, socket, sys, threading, time
body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
def head(extra):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n" + extra + b"\r\n")
def fault(kind, port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    try:
        if kind == "badchunk":
            s.sendall(head(b"Transfer-Encoding: chunked\r\n") + b"%x\r\n%s\r\n" % (len(body), body))
            time.sleep(0.2)
            s.sendall(b"zz\r\n")
        elif kind == "abort_body":
            s.sendall(head(b"Content-Length: 1000\r\n") + body)
            time.sleep(0.2)
            return None
        elif kind == "abort_wait":
            s.sendall(head(b"Content-Length: %d\r\n" % len(body)) + body)
            time.sleep(0.05)
            return None
        elif kind == "short_body":
            s.sendall(head(b"Content-Length: 1000\r\n") + body)
            s.shutdown(socket.SHUT_WR)
        elif kind == "stall":
            s.sendall(head(b"Content-Length: 1000\r\n") + body)
            s.settimeout(3)
        elif kind == "syntax":
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost x\r\n\r\n")
        elif kind == "big_head":
            s.sendall(head(b"X-Big: " + b"a" * 70000 + b"\r\n") + body)
        answer = s.recv(64)
        return answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/") else "closed"
    except (socket.timeout, ConnectionError, BrokenPipeError):
        return "closed"
    finally:
        s.close()
answers, lock = {}, threading.Lock()
def one(kind, port):
    got = fault(kind, port)
    with lock:
        answers.setdefault((port, kind), []).append("" if got is None else got)
threads = [threading.Thread(target=one, args=(kind, int(port)))
           for port in sys.argv[2:] for kind in sys.argv[1].split() for _ in range(10)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for (port, kind), got in answers.items():
    with open(os.path.join(os.path.dirname(sys.argv[0]), "answers.%d.%s" % (port, kind)), "w") as f:
        f.write("".join(a + "\n" for a in got))
PY

# The upstream takes a while, so that a client can leave while it waits.
start_mock a "$A" --delay-ms 100 || finish
start_mock b "$B" --delay-ms 100 || finish
start_stack "$T/config.yaml" || finish

faults="badchunk abort_body abort_wait short_body stall syntax big_head"
python3 "$T/fault.py" "$faults" "$FP" "$FR"
log "pinned: $(for k in $faults; do printf '%s=%s ' "$k" "$(sort -u "$T/answers.$FP.$k" | xargs | tr ' ' ,)"; done)"
log "retry:  $(for k in $faults; do printf '%s=%s ' "$k" "$(sort -u "$T/answers.$FR.$k" | xargs | tr ' ' ,)"; done)"
# 2.6 answers 400; from 3.x HAProxy's parser may close the connection instead.
check "the broken chunk was refused on the pinned path ($(sort -u "$T/answers.$FP.badchunk" | xargs))" \
    eval '! grep -qv -e "^400$" -e "^closed$" "$T/answers.$FP.badchunk"'

# Every request above has ended and HAProxy has logged it: wait until the agent has them all
# (2 forwards x 7 faults x 10), then judge.
requests_logged() {
    [ "$(metric_sum llmproxy_http_requests_total)" -ge 140 ]
}
check "the agent received every request's log line" wait_until 15 requests_logged

check "no upstream error counted for any client fault (got $(metric_sum llmproxy_upstream_errors_total))" \
    test "$(metric_sum llmproxy_upstream_errors_total)" -eq 0
for up in a b; do
    group=p
    [ $up = b ] && group=r
    failures=$(metric "llmproxy_circuitbreaker_calls_total{group=\"$group\",upstream=\"$up\",url=\"http://127.0.0.1:$([ $up = a ] && echo "$A" || echo "$B")/v1\",result=\"failure\"}")
    check "no breaker failure recorded for $up (got $failures)" test "$failures" = absent -o "$failures" = 0
    opened=$(curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        grep -c "^llmproxy_circuitbreaker_state_changes_total{group=\"$group\",upstream=\"$up\".*state=\"open\"} [1-9]")
    check "$up's breaker never opened" test "$opened" -eq 0
done
for fwd in pin two; do
    bad=$(metric "llmproxy_http_request_errors_total{forward=\"$fwd\",error=\"bad_request\",status=\"400\"}")
    check "$fwd: bad requests counted as client errors (got $bad)" test "$bad" != absent -a "${bad%.*}" -ge 20
    aborted=$(curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v f="$fwd" 'index($1, "llmproxy_http_request_errors_total{forward=\"" f "\",error=\"client_aborted\"") == 1 { n += $2 } END { print n + 0 }')
    check "$fwd: client aborts counted as client errors (got $aborted)" test "$aborted" -ge 10
done

for port in $FP $FR; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Content-Type: application/json' \
        -d '{"model":"m","messages":[]}' "http://127.0.0.1:$port/v1/chat/completions")
    check "a normal request on :$port still gets 200 (got $code)" test "$code" = 200
done
check "the agent logged no sanitizer report" sanitizer_clean "$T/agent.log"
finish
