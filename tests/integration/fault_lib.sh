# Helpers shared by the fault-injection tests (test_fault_*.sh), sourced after lib.sh.
#
# A load is a bounded background loop of curl requests, one status and duration per line
# in $T/load.NAME, so a test can inject a fault while it runs and judge every request
# afterwards.

# load_start NAME URL SECONDS [GAP_S]: requests on URL every GAP_S (default 0.02 s, about
# 20 per second with curl's own time) for SECONDS; the loop's PID in LOAD_PID_NAME.
load_start() {
    local name=$1 url=$2 secs=$3 gap=${4:-0.02}
    (
        end=$((SECONDS + secs))
        while [ "$SECONDS" -lt "$end" ]; do
            curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}\n' \
                -d '{"model":"m","messages":[]}' "$url"
            sleep "$gap"
        done >"$T/load.$name"
    ) &
    eval "LOAD_PID_$name=$!"
}

# load_wait NAME: until that load has sent its last request.
load_wait() {
    local pid_var=LOAD_PID_$1
    wait "${!pid_var}"
}

# load_summary NAME: its statuses counted, e.g. "200x118 502x2".
load_summary() { awk '{print $1}' "$T/load.$1" | sort | uniq -c | awk '{print $2"x"$1}' | xargs; }
# load_total NAME, load_failed NAME: how many requests, how many not answered 200.
load_total() { wc -l <"$T/load.$1"; }
load_failed() { awk '$1 != 200 { n++ } END { print n + 0 }' "$T/load.$1"; }
# load_covered NAME SECONDS: the load sent at least 4 requests a second over its SECONDS, so
# every second of the fault it overlapped saw requests. Not more: a busy host runs the
# curl loop at 8-10 a second, not the 20 it reaches when idle.
load_covered() { [ "$(load_total "$1")" -ge $((4 * $2)) ]; }
# load_all_200 NAME SECONDS: covered, and every request answered 200.
load_all_200() { load_covered "$1" "$2" && [ "$(load_failed "$1")" -eq 0 ]; }
# load_slowest NAME: the longest request, in seconds.
load_slowest() { awk '$2 > m { m = $2 } END { printf "%.3f\n", m }' "$T/load.$1"; }

# metric 'NAME{LABELS}': the value of exactly that series on the agent's /metrics ($ADMIN),
# or "absent".
metric() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }'
}
# metric_sum NAME: the sum of every series of the family NAME (0 when it has none).
metric_sum() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
        awk -v f="$1" 'index($1, f "{") == 1 || $1 == f { n += $2 } END { printf "%d\n", n }'
}

# sanitizer_clean LOG: no AddressSanitizer, LeakSanitizer or UBSan report in it.
sanitizer_clean() { ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$1"; }

# rss_kb PID, fd_count PID: a process's resident memory (KiB) and open file descriptors.
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
