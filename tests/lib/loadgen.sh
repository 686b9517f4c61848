# Helpers shared by the load drivers, `make bench` (tests/bench/full.sh, agent.sh) and
# `make soak` (tests/soak/soak.sh): their tools, their processes (started in the background,
# known by PID, stopped by the caller's cleanup), and free loopback ports. Sourced, bash.
#
# need_wrk, need_tools and wait_for report through the caller's say MESSAGE (its own
# prefix, to stderr); spawn needs WORK (the scratch folder) and PIDS (an array the caller's
# cleanup stops, newest first).

# need_wrk: wrk on PATH, installed with apt-get when missing and running as root.
need_wrk() {
    command -v wrk >/dev/null && return 0
    if ((EUID == 0)) && command -v apt-get >/dev/null; then
        say "wrk not found: installing it (apt-get install -y wrk)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; } ||
            { say "could not install wrk"; exit 1; }
    else
        say "wrk not found: install it (apt-get install wrk) or run as root"
        exit 1
    fi
}

# need_tools TOOL...: each on PATH, else exit.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { say "$tool not found: run make deps"; exit 1; }
    done
}

# spawn VAR LOG CMD...: start CMD in the background, stdout and stderr to LOG, and remember
# its PID in VAR and in PIDS. With LOG /dev/null only stdout is dropped (HAProxy's request
# log, the mocks' request lines); stderr then goes to WORK/stderr.log.
spawn() {
    local var=$1 log=$2
    shift 2
    if [[ $log == /dev/null ]]; then
        "$@" >/dev/null 2>>"$WORK/stderr.log" &
    else
        "$@" >>"$log" 2>&1 &
    fi
    PIDS+=("$!")
    printf -v "$var" '%s' "$!"
}

listening() { [[ -n $(ss -Htln "sport = :$1") ]]; }

# free_port: a loopback port nobody listens on and not handed out before, below the
# ephemeral range so that no client connection of the run takes it.
TAKEN=" "
free_port() {
    local p low

    low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    ((low > 12000)) || low=32768
    while :; do
        p=$((10000 + RANDOM % (low - 10000)))
        if [[ $TAKEN != *" $p "* ]] && ! listening "$p"; then
            TAKEN+="$p "
            echo "$p"
            return
        fi
    done
}

# wait_for PID TIMEOUT_S WHAT CMD...: poll CMD every 50 ms until it succeeds; fail when the
# process PID exits first or the time is up.
wait_for() {
    local pid=$1 timeout=$2 what=$3 i
    shift 3
    for ((i = 0; i < timeout * 20; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    say "$what: not ready after ${timeout}s"
    return 1
}
