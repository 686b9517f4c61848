#!/usr/bin/env bash
# The packages, as an operator gets them: build the .deb (dpkg-buildpackage) into the scratch
# folder, check its contents and metadata (and lintian's verdict), install it with apt-get,
# run the agent and HAProxy from the INSTALLED files exactly as the systemd units say (their
# ExecStartPre/ExecStart/ExecReload lines, as the units' user, with their environment; PID 1
# is not systemd here), serve a chat completion through them, reload both, stop them and
# purge the package. Then build the .rpm and check its file list and requirements, and check
# the container and Kubernetes files against the same build and configuration.
#
# Needs root (it installs a package); skipped otherwise. It leaves the machine as it found
# it: the package purged, the llmproxy user removed if this test created it.
source "$(dirname "$0")/lib.sh"

ROOT=$LLMPROXY_ROOT
PKG=llmproxy
ETC=/etc/llmproxy
UNITS=/lib/systemd/system

[ "$(id -u)" = 0 ] || skip "installing a package needs root"
"$ROOT/packaging/install-deps.sh" >"$T/deps.log" 2>&1 || { fail "packaging/install-deps.sh"; finish; }

# list_has TEXT WORD...: the comma/space separated list TEXT names every WORD (a regex).
list_has() {
    local text=$1 w
    shift
    for w in "$@"; do
        grep -Eq "(^|[ ,])$w([ ,(]|$)" <<<"$text" || { echo "missing: $w" >&2; return 1; }
    done
}

# ---- the .deb: build and inspect ---------------------------------------------------------
if ! "$ROOT/packaging/build-deb.sh" "$T/deb" >"$T/build-deb.log" 2>&1; then
    fail "packaging/build-deb.sh (dpkg-buildpackage)"
    finish
fi
DEB=$(ls "$T"/deb/${PKG}_*.deb)
log "built $(basename "$DEB")"
DEB_VERSION=$(dpkg-deb -f "$DEB" Version)
UPSTREAM_VERSION=${DEB_VERSION%-*}
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
check "Depends: haproxy, libev4, libyaml-0-2, libssl3, adduser ($DEPENDS)" \
    list_has "$DEPENDS" haproxy libev4 libyaml-0-2 libssl3 adduser
# deb_allows_haproxy VERSION: the Depends field admits haproxy VERSION (every comma-separated
# group that names haproxy has an alternative VERSION satisfies).
deb_allows_haproxy() {
    local group alt rel want ok
    while IFS= read -r group; do
        [[ $group == *haproxy* ]] || continue
        ok=0
        while IFS= read -r alt; do
            [[ $alt =~ haproxy\ \(([<>=]+)\ ([^\)]+)\) ]] || continue
            rel=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
            case $rel in '>=') rel=ge ;; '<<') rel=lt ;; '<=') rel=le ;; '>>') rel=gt ;; '=') rel=eq ;; esac
            dpkg --compare-versions "$1" "$rel" "$want" && ok=1
        done < <(tr '|' '\n' <<<"$group")
        [ "$ok" = 1 ] || return 1
    done < <(tr ',' '\n' <<<"$DEPENDS")
}
# The HAProxy lines the suite runs on (2.6, 3.0, 3.2) as their distributions version them,
# and lines it does not run on.
check "Depends admits the tested HAProxy releases (Debian 12's $(dpkg-query -W -f='${Version}' haproxy), 3.0.11-1, 3.2.0-1)" \
    eval 'deb_allows_haproxy "$(dpkg-query -W -f="\${Version}" haproxy)" && deb_allows_haproxy 2.6.12-1+deb12u1 &&
        deb_allows_haproxy 3.0.11-1 && deb_allows_haproxy 3.2.0-1 && deb_allows_haproxy 3.2.15-1~bpo13+1'
check "... and no other (2.4.22-1, 2.8.5-1, 3.1.0-1, 3.3.0-1, 3.4.0-1)" \
    eval '! deb_allows_haproxy 2.4.22-1 && ! deb_allows_haproxy 2.8.5-1 && ! deb_allows_haproxy 3.1.0-1 &&
        ! deb_allows_haproxy 3.3.0-1 && ! deb_allows_haproxy 3.4.0-1'

dpkg-deb -c "$DEB" | awk '{ print $1, $NF }' | sed 's#^\(\S*\) \./#\1 /#' >"$T/deb-contents"
has_file() { grep -Eq "^$1 $2\$" "$T/deb-contents"; }
check "ships /usr/bin/llmproxy-agent and llmproxy-ctl (executable)" \
    eval 'has_file -rwxr-xr-x /usr/bin/llmproxy-agent && has_file -rwxr-xr-x /usr/bin/llmproxy-ctl'
check "ships /etc/llmproxy/config.yaml (0644) and llmproxy.env (0600)" \
    eval 'has_file -rw-r--r-- $ETC/config.yaml && has_file -rw------- $ETC/llmproxy.env'
check "ships both systemd units" \
    eval 'has_file -rw-r--r-- $UNITS/llmproxy-agent.service && has_file -rw-r--r-- $UNITS/llmproxy-haproxy.service'
check "ships HAProxy's environment, /usr/share/llmproxy/haproxy.env (0644)" \
    has_file -rw-r--r-- /usr/share/llmproxy/haproxy\.env
check "ships man pages llmproxy-agent(8) and llmproxy-ctl(1)" \
    eval 'has_file "\S+" "/usr/share/man/man8/llmproxy-agent\.8\.gz" &&
          has_file "\S+" "/usr/share/man/man1/llmproxy-ctl\.1\.gz"'
dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles >"$T/conffiles"
check "both files in /etc are conffiles" \
    eval 'grep -qx $ETC/config.yaml "$T/conffiles" && grep -qx $ETC/llmproxy.env "$T/conffiles"'

if command -v lintian >/dev/null; then
    # Warnings are reported; errors fail (--fail-on error).
    lintian --fail-on error "$DEB" >"$T/lintian.log" 2>&1
    rc=$?
    grep -v 'running with root privileges' "$T/lintian.log" | sed 's/^/  lintian: /'
    check "lintian reports no error" test "$rc" -eq 0
else
    skip_part "lintian" "lintian is not installed"
fi

# ---- install -----------------------------------------------------------------------------
user_existed=0
getent passwd llmproxy >/dev/null && user_existed=1
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'ok installed'; then
    log "note: $PKG was installed (an earlier run?): purging it first"
    apt-get purge -y -qq "$PKG" >"$T/purge-before.log" 2>&1
fi

installed=0
# At exit, pass or fail: stop what we started, purge the package, drop the user we created.
pkg_cleanup() {
    local pid
    for pid in "${_pids[@]}"; do stop_pid "$pid"; done
    _pids=()
    if [ "$installed" -eq 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >"$T/purge.log" 2>&1 ||
            echo "  FAIL: apt-get purge $PKG (see $T/purge.log)"
        installed=0
    fi
    rm -rf /run/llmproxy
    if [ "$user_existed" -eq 0 ] && getent passwd llmproxy >/dev/null; then
        userdel llmproxy 2>/dev/null
        getent group llmproxy >/dev/null && groupdel llmproxy 2>/dev/null
    fi
    cleanup
}
trap pkg_cleanup EXIT

cp "$DEB" "$T/$PKG.deb" # apt-get wants a path with a slash; keep the name simple
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$T/$PKG.deb" \
    >"$T/install.log" 2>&1; then
    installed=1
    log "installed with apt-get"
else
    fail "apt-get install $DEB"
    finish
fi
check "dpkg says installed, version $DEB_VERSION" \
    test "$(dpkg-query -W -f='${Status} ${Version}' "$PKG")" = "install ok installed $DEB_VERSION"
check "postinst created the system user llmproxy (no login shell)" \
    eval 'getent passwd llmproxy | grep -Eq ":(/usr/sbin/nologin|/bin/false)$"'
check "binaries report the package's version $UPSTREAM_VERSION" \
    eval '[ "$(/usr/bin/llmproxy-agent --version)" = "llmproxy-agent $UPSTREAM_VERSION" ] &&
          [ "$(/usr/bin/llmproxy-ctl --version)" = "llmproxy-ctl $UPSTREAM_VERSION" ]'
check "llmproxy.env is 0600 root:root after install" test "$(stat -c '%a %U:%G' $ETC/llmproxy.env)" = "600 root:root"
check "man llmproxy-ctl renders" eval 'man -P cat llmproxy-ctl 2>/dev/null | grep -q "COMMAND OPTIONS"'
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify accepts both units" \
        systemd-analyze verify --man=no $UNITS/llmproxy-agent.service $UNITS/llmproxy-haproxy.service
else
    skip_part "systemd-analyze verify" "systemd-analyze is not installed"
fi

# As the units' user, as systemd runs them after reading the env file. An array, not a
# function: spawned in the background it must exec, so its PID is the program's (ExecReload's
# kill runs as that user and must reach it).
AS_LLMPROXY=(setpriv --reuid=llmproxy --regid=llmproxy --init-groups --no-new-privs)
# Where systemd starts units (WorkingDirectory defaults to /). The folder the tests run
# from may be closed to the llmproxy user (a clone under a 0700 temporary folder), and
# HAProxy returns to its starting folder while parsing, so start from / as systemd does.
cd / || exit 1

# The shipped configuration is valid as shipped, without any secret set.
check "shipped config.yaml validates without OPENAI_API_KEY" \
    "${AS_LLMPROXY[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin llmproxy-ctl validate -c $ETC/config.yaml
shipped_accepted() {
    {
        "${AS_LLMPROXY[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin llmproxy-agent -t -c $ETC/config.yaml &&
            "${AS_LLMPROXY[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin llmproxy-ctl check -c $ETC/config.yaml
    } >"$T/shipped-check.log" 2>&1
}
check "shipped config.yaml: agent -t and HAProxy (llmproxy-ctl check) accept it" shipped_accepted

# ---- run the units' commands by hand -----------------------------------------------------

# unit_values UNIT KEY: every value of KEY= in the unit's [Service] section, in order.
unit_values() {
    awk -v key="$2" '/^\[/ { section = $0 } section == "[Service]" && index($0, key "=") == 1 {
        print substr($0, length(key) + 2) }' "$UNITS/$1"
}

# unit_env UNIT: the environment the unit's commands get, one NAME=value a line: PATH, then
# Environment= assignments, then the EnvironmentFile= lines (which win, as in systemd).
unit_env() {
    local unit=$1 line file
    echo "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
    while read -r line; do
        for a in $line; do echo "$a"; done
    done < <(unit_values "$unit" Environment)
    while read -r file; do
        file=${file#-}
        grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$file"
    done < <(unit_values "$unit" EnvironmentFile)
}

# unit_cmd UNIT LINE: one Exec line expanded like systemd does for ${NAME} and $NAME (from
# the unit's environment, plus MAINPID), printed one word a line.
unit_cmd() {
    local unit=$1 line=$2 word name value
    local -A env=()
    while IFS= read -r a; do env[${a%%=*}]=${a#*=}; done < <(unit_env "$unit")
    env[MAINPID]=${MAINPID:-}
    for word in $line; do
        while [[ $word =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*) ]]; do
            name=${BASH_REMATCH[1]:-${BASH_REMATCH[2]}}
            value=${env[$name]:-}
            word=${word/"${BASH_REMATCH[0]}"/"$value"}
        done
        printf '%s\n' "$word"
    done
}

# unit_user_of UNIT: User= of the unit.
unit_user_of() { unit_values "$1" User; }

# run_unit_line UNIT LINE: run one expanded Exec line in the foreground as the unit's user
# (root for kill lines, which systemd runs as the unit's user too: the same effect here).
run_unit_line() {
    local unit=$1 line=$2
    local -a cmd envs
    mapfile -t cmd < <(unit_cmd "$unit" "$line")
    mapfile -t envs < <(unit_env "$unit")
    "${AS_LLMPROXY[@]}" env -i "${envs[@]}" "${cmd[@]}"
}

# spawn_unit NAME UNIT: its ExecStartPre lines in order (each must succeed), then ExecStart
# in the background, spawned as NAME.
spawn_unit() {
    local name=$1 unit=$2 line
    local -a cmd envs
    while IFS= read -r line; do
        run_unit_line "$unit" "$line" >>"$T/$name-pre.log" 2>&1 || {
            fail "$unit: ExecStartPre=$line"
            return 1
        }
    done < <(unit_values "$unit" ExecStartPre)
    mapfile -t cmd < <(unit_cmd "$unit" "$(unit_values "$unit" ExecStart)")
    mapfile -t envs < <(unit_env "$unit")
    spawn "$name" "${AS_LLMPROXY[@]}" env -i "${envs[@]}" "${cmd[@]}"
}

# reload_unit UNIT MAINPID: its ExecReload lines in order.
reload_unit() {
    local unit=$1 line
    MAINPID=$2
    while IFS= read -r line; do
        run_unit_line "$unit" "$line" >>"$T/reload.log" 2>&1 || {
            echo "ExecReload=$line failed" >&2
            return 1
        }
    done < <(unit_values "$unit" ExecReload)
}

check "both units run as User=llmproxy" \
    eval '[ "$(unit_user_of llmproxy-agent.service)" = llmproxy ] &&
          [ "$(unit_user_of llmproxy-haproxy.service)" = llmproxy ]'
# HAProxy 3.0 never reconnects a unix socket log feed whose agent went away; the agent ends
# that forwarder itself (test_logfeed_rescue.sh), so a restarted agent reloads nothing: a
# reload would leave the old worker's unsent lines behind.
check "the agent's unit does not reload HAProxy's" \
    test -z "$(unit_values llmproxy-agent.service ExecStartPost)"

read -r FWD_PORT ADMIN_PORT SPOP_PORT LOGS_PORT MOCK_PORT < <(free_ports 5 | xargs)
TOKEN=pkg-test-$RANDOM$RANDOM

# The operator's edit: the test configuration in place of the shipped one, the secret in the
# env file. The originals are kept aside (the purge removes both anyway).
cp -p $ETC/config.yaml "$T/config.yaml.orig"
cp -p $ETC/llmproxy.env "$T/llmproxy.env.orig"
cat >$ETC/config.yaml <<YAML
# test_packaging.sh: a mock upstream on loopback instead of the API.
http_server:
    forwards:
        - {name: main, address: 127.0.0.1, port: $FWD_PORT, upstream_group: main}
    admin: {address: 127.0.0.1, port: $ADMIN_PORT}
upstreams:
    - name: mock
      url: "http://127.0.0.1:$MOCK_PORT/v1"
      auth: {type: bearer, token: "\${LLMPROXY_TEST_TOKEN}"}
upstream_groups:
    - {name: main, upstreams: [{name: mock}]}
agent:
    spop: {address: 127.0.0.1, port: $SPOP_PORT}
    logs: {address: 127.0.0.1, port: $LOGS_PORT}
haproxy:
    run_dir: /run/llmproxy
YAML
echo "LLMPROXY_TEST_TOKEN=$TOKEN" >>$ETC/llmproxy.env

# What RuntimeDirectory=llmproxy (mode 0750) makes before the units start.
install -d -o llmproxy -g llmproxy -m 0750 /run/llmproxy

start_mock mock "$MOCK_PORT" || finish
spawn_unit agent llmproxy-agent.service || finish
wait_port "$SPOP_PORT" 15 && kill -0 "$PID_agent" || { fail "agent did not listen on $SPOP_PORT"; finish; }
spawn_unit haproxy llmproxy-haproxy.service || finish
wait_port "$FWD_PORT" 15 && kill -0 "$PID_haproxy" || { fail "HAProxy did not listen on $FWD_PORT"; finish; }

sock_agent_up() {
    [ "$(haproxy_cli /run/llmproxy/haproxy.sock "show stat llm_agent 4 -1" |
        awk -F, '$2=="agent"{print $18}')" = UP ]
}
check "HAProxy's stats socket is in /run/llmproxy and sees the agent UP" wait_until 15 sock_agent_up

# owners_of PID: the users running PID and its children (HAProxy's worker), sorted.
owners_of() { ps -o user= --pid "$1" --ppid "$1" | sort -u | xargs; }
check "agent runs as llmproxy" test "$(owners_of "$PID_agent")" = llmproxy
check "HAProxy master and worker run as llmproxy" test "$(owners_of "$PID_haproxy")" = llmproxy
packaged_malloc=$(grep '^GLIBC_TUNABLES=' /usr/share/llmproxy/haproxy.env)
check "HAProxy keeps freed heap (the packaged $packaged_malloc)" \
    eval 'tr "\0" "\n" </proc/$PID_haproxy/environ | grep -qx "$packaged_malloc"'
check "rendered files are in /run/llmproxy/rendered, owned by llmproxy" \
    test "$(stat -c %U /run/llmproxy/rendered/haproxy.cfg)" = llmproxy
check "the secret stays out of the rendered files" \
    eval '! grep -rq "$TOKEN" /run/llmproxy/rendered'

BODY='{"model":"m","messages":[{"role":"user","content":"hi"}]}'
chat() {
    curl -s -m 10 -o "$T/chat.json" -w '%{http_code}' "http://127.0.0.1:$FWD_PORT/v1/chat/completions" \
        -H 'Content-Type: application/json' -d "$BODY"
}
check "a chat completion through the installed stack answers 200" test "$(chat)" = 200
check "the answer comes from the mock upstream" \
    test "$(jq -r '.choices[0].message.content' "$T/chat.json" 2>/dev/null)" = mock
check "the upstream got the bearer token from llmproxy.env" \
    test "$(mock_records "$MOCK_PORT" '.[-1].authorization')" = "Bearer $TOKEN"
check "admin /health answers 200" \
    test "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/health")" = 200

# Reload both as systemctl reload would: agent SIGHUP; HAProxy check + render + USR2.
check "ExecReload of llmproxy-agent.service (SIGHUP) keeps it running" \
    eval 'reload_unit llmproxy-agent.service "$PID_agent" && sleep 0.5 && kill -0 "$PID_agent"'
check "ExecReload of llmproxy-haproxy.service (check, render, USR2) succeeds" \
    reload_unit llmproxy-haproxy.service "$PID_haproxy"
check "after both reloads a chat completion still answers 200" wait_until 10 bash -c "
    [ \"\$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:$FWD_PORT/v1/chat/completions \
        -H 'Content-Type: application/json' -d '$BODY')\" = 200 ]"

# ---- the container's supervisor, run on the installed files ---------------------------
# The image has it at /usr/local/bin; the llmproxy user may not reach the source tree.
ENTRY=/run/llmproxy/entrypoint.sh
install -m 0755 "$ROOT/packaging/docker/entrypoint.sh" "$ENTRY"
stop_pid "$PID_haproxy"
stop_pid "$PID_agent"
if [ -x "$ENTRY" ]; then
    # Same configuration and ports; the entrypoint renders into a folder of its own. A shell
    # cannot trap a signal ignored when it starts: SIGHUP is made the default again, as it
    # is for a container's first process, whoever started this suite (nohup ignores it).
    spawn entry "${AS_LLMPROXY[@]}" env -i --default-signal=HUP PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        "LLMPROXY_TEST_TOKEN=$TOKEN" LLMPROXY_CONFIG=$ETC/config.yaml \
        LLMPROXY_RENDERED=/run/llmproxy/entry-rendered "$ENTRY"
    check "entrypoint.sh starts both: a chat completion answers 200" wait_until 20 bash -c "
        [ \"\$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:$FWD_PORT/v1/chat/completions \
            -H 'Content-Type: application/json' -d '$BODY')\" = 200 ]"
    entry_haproxy=$(pgrep -P "$PID_entry" -x haproxy | head -n 1)
    check "... its HAProxy keeps freed heap too (the packaged setting)" \
        eval 'tr "\0" "\n" </proc/$entry_haproxy/environ | grep -qx "$packaged_malloc"'
    kill -HUP "$PID_entry"
    check "entrypoint.sh reloads on SIGHUP and keeps serving" eval '
        wait_until 10 grep -q "reloading" "$T/entry.log" && sleep 1 && kill -0 "$PID_entry" &&
        [ "$(chat)" = 200 ]'
    kill -TERM "$PID_entry"
    entry_rc=0
    wait_until 15 bash -c "! kill -0 $PID_entry" || entry_rc=timeout
    wait "$PID_entry" 2>/dev/null || entry_rc=$?
    check "entrypoint.sh stops both on SIGTERM and exits 0 (got $entry_rc)" test "$entry_rc" = 0
    check "nothing is left listening on the forward and SPOP ports" \
        wait_until 5 bash -c "! ss -Htln 'sport = :$FWD_PORT' | grep -q . && ! ss -Htln 'sport = :$SPOP_PORT' | grep -q ."
    # A crashed agent takes the container down, so the orchestrator restarts it whole.
    spawn entry2 "${AS_LLMPROXY[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        "LLMPROXY_TEST_TOKEN=$TOKEN" LLMPROXY_CONFIG=$ETC/config.yaml \
        LLMPROXY_RENDERED=/run/llmproxy/entry-rendered "$ENTRY"
    wait_port "$SPOP_PORT" 15
    agent_child=$(pgrep -P "$PID_entry2" -x llmproxy-agent)
    [ -n "$agent_child" ] && kill -KILL "$agent_child"
    entry_rc=0
    wait_until 15 bash -c "! kill -0 $PID_entry2" || entry_rc=timeout
    wait "$PID_entry2" 2>/dev/null || entry_rc=$?
    check "entrypoint.sh exits 1 when the agent dies (got $entry_rc)" test "$entry_rc" = 1
    check "... and has stopped HAProxy" \
        wait_until 5 bash -c "! ss -Htln 'sport = :$FWD_PORT' | grep -q ."
else
    fail "$ENTRY missing or not executable"
fi

# ---- Kubernetes: every file parses; the ConfigMap's configuration validates ----------------
K8S=$ROOT/packaging/kubernetes
yaml_parser=""
if python3 -c 'import yaml' 2>/dev/null; then
    yaml_parser=python
elif command -v ruby >/dev/null; then
    yaml_parser=ruby
fi
for f in "$K8S"/*.yaml; do
    case $yaml_parser in
    python) check "$(basename "$f") parses (python3 yaml)" \
        python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f" ;;
    ruby) check "$(basename "$f") parses (ruby yaml)" \
        ruby -ryaml -e 'YAML.load_stream(File.read(ARGV[0]))' "$f" ;;
    *) skip_part "$(basename "$f") parses" "no YAML parser (python3 yaml, ruby)" ;;
    esac
done
# The ConfigMap's config.yaml block: the lines indented under `config.yaml: |`.
awk '/^  config.yaml: \|/ { on = 1; next } on && /^    / { print substr($0, 5); next }
     on && /^ *$/ { print ""; next } on { exit }' "$K8S/configmap.yaml" >"$T/k8s-config.yaml"
check "the container's config.yaml validates (llmproxy-ctl validate)" \
    llmproxy-ctl validate -c "$ROOT/packaging/docker/config.yaml"
check "the ConfigMap carries the container's config.yaml unchanged" \
    cmp -s "$T/k8s-config.yaml" "$ROOT/packaging/docker/config.yaml"

# ---- purge -------------------------------------------------------------------------------
for pid in "${_pids[@]}"; do stop_pid "$pid"; done
_pids=()
if DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >"$T/purge.log" 2>&1; then
    installed=0
    check "purged: not installed, /etc/llmproxy and the binaries gone" \
        eval '! dpkg-query -W -f="\${Status}" $PKG 2>/dev/null | grep -q installed &&
              [ ! -e $ETC ] && [ ! -e /usr/bin/llmproxy-agent ] && [ ! -e $UNITS/llmproxy-agent.service ]'
else
    fail "apt-get purge $PKG"
fi

# ---- the .rpm ----------------------------------------------------------------------------
if "$ROOT/packaging/build-rpm.sh" "$T/rpm" >"$T/build-rpm.log" 2>&1; then
    RPM=$(ls "$T"/rpm/$PKG-[0-9]*.rpm | grep -v debug | head -n 1)
    log "built $(basename "$RPM")"
    rpm -qpl "$RPM" >"$T/rpm-files" 2>/dev/null
    rpm -qpR "$RPM" >"$T/rpm-requires" 2>/dev/null
    rpm_has() { grep -qx "$1" "$T/rpm-files"; }
    check "rpm -qpl: binaries, /etc files, HAProxy's environment, units, man pages" eval '
        rpm_has /usr/bin/llmproxy-agent && rpm_has /usr/bin/llmproxy-ctl &&
        rpm_has /usr/share/llmproxy/haproxy.env &&
        rpm_has $ETC/config.yaml && rpm_has $ETC/llmproxy.env &&
        rpm_has /usr/lib/systemd/system/llmproxy-agent.service &&
        rpm_has /usr/lib/systemd/system/llmproxy-haproxy.service &&
        grep -q "^/usr/share/man/man8/llmproxy-agent\.8" "$T/rpm-files" &&
        grep -q "^/usr/share/man/man1/llmproxy-ctl\.1" "$T/rpm-files"'
    check "rpm -qpR: haproxy 2.6, 3.0 or 3.2, libev, libyaml, libcrypto" eval '
        grep -qxF "((haproxy >= 2.6 with haproxy < 2.7) or (haproxy >= 3.0 with haproxy < 3.1) or (haproxy >= 3.2 with haproxy < 3.3))" "$T/rpm-requires" &&
        grep -q "^libev\.so\.4" "$T/rpm-requires" &&
        grep -q "^libyaml-0\.so\.2" "$T/rpm-requires" && grep -q "^libcrypto\.so\.3" "$T/rpm-requires"'
    check "rpm: the /etc files are %config, llmproxy.env is 0600" eval '
        [ "$(rpm -qpc "$RPM" 2>/dev/null | sort | xargs)" = "$ETC/config.yaml $ETC/llmproxy.env" ] &&
        rpm -qplv "$RPM" 2>/dev/null | grep -q "^-rw------- .* $ETC/llmproxy.env$"'
    check "rpm and deb carry the same version ($UPSTREAM_VERSION)" \
        test "$(rpm -qp --qf '%{VERSION}' "$RPM" 2>/dev/null)" = "$UPSTREAM_VERSION"
else
    fail "packaging/build-rpm.sh (rpmbuild)"
fi

# ---- the Dockerfile builds like the packages -----------------------------------------------
DOCKERFILE=$ROOT/packaging/docker/Dockerfile
# build_cmd FILE: the line that runs packaging/build-release.sh, without RUN/indentation.
build_cmd() {
    grep -v '^[[:space:]]*#' "$1" | grep -o 'packaging/build-release\.sh.*' | head -n 1 |
        sed 's/[ \\]*$//'
}
check "Dockerfile, debian/rules and the RPM spec run the same build command" eval '
    c=$(build_cmd "$DOCKERFILE") && [ -n "$c" ] &&
    [ "$c" = "$(build_cmd "$ROOT/packaging/debian/rules")" ] &&
    [ "$c" = "$(build_cmd "$ROOT/packaging/rpm/llmproxy.spec")" ]'
# stage_packages NAME: the packages apt-get installs in the Dockerfile stage NAME.
stage_packages() {
    awk -v stage="$1" '/^FROM / { on = ($NF == stage) } on' "$DOCKERFILE" |
        sed -n '/apt-get install/,/[^\\]$/p' | tr -s ' \\' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
        grep -vE '^(apt-get|install|rm|update)$'
}
build_deps=$(awk '/^Build-Depends:/ { on = 1; sub(/^Build-Depends:/, ""); print; next }
                 on && /^[ \t]/ { print; next } { on = 0 }' "$ROOT/packaging/debian/control" |
    tr ',' '\n' | awk '{ print $1 }' | grep -v '^debhelper-compat$' | grep -v '^$' | xargs)
runtime_deps=$(tr ',|' '\n\n' <<<"$DEPENDS" | awk '{ print $1 }' | grep -vE '^(adduser|libc6)$' | awk '!seen[$0]++' | xargs)
check "Dockerfile's build stage installs the Build-Depends ($build_deps)" \
    list_has "$(stage_packages build | xargs)" $build_deps
check "Dockerfile's runtime stage installs the .deb's Depends ($runtime_deps)" \
    list_has "$(stage_packages runtime | xargs)" $runtime_deps

finish
