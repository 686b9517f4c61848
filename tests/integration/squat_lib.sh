# Idle connections held by an unprivileged local user: the squatter of a listener's slots
# (sourced after lib.sh).

# squat NAME PORT N: as nobody, open N TCP connections to 127.0.0.1:PORT, send nothing and
# hold them open (spawned as NAME, so stopped at cleanup). Once every connect was tried,
# $T/NAME.log says "connected K" (K: how many the kernel completed).
squat() {
    spawn "$1" setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c '
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        held.append(s)
    except OSError:
        s.close()
print("connected", len(held), flush=True)
time.sleep(600)
' "$2" "$3"
}

# squatting NAME [MIN]: NAME has made its connects, at least MIN (default 1) of them.
squatting() {
    local k
    k=$(awk '$1 == "connected" { print $2 }' "$T/$1.log" 2>/dev/null)
    [ -n "$k" ] && [ "$k" -ge "${2:-1}" ]
}
