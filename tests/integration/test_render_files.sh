#!/usr/bin/env bash
# llmproxy-ctl render into a folder other users can write to (world-writable and sticky,
# like /tmp): whatever another user created there beforehand at the names of the
# temporary files (a link to a file they can read, a file of their own) neither receives
# the rendered output (haproxy.cfg holds the upstream's API key) nor gives the result its
# owner or mode. haproxy.cfg is 0600 whatever the umask, and an errors folder another user
# made is refused. Skipped when not run as root.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to play the other user"
as_attacker() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
owner_mode() { stat -c '%U %a' "$1"; }

cat >"$T/config.yaml" <<'YAML'
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: 3000, upstream_group: g}
upstreams:
  - name: a
    url: "http://127.0.0.1:8001/v1"
    auth: {type: bearer, token: sk-render-secret}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
YAML

chmod 711 "$T"
OUT=$T/pub
mkdir -m 1777 "$OUT"
mkdir -m 755 "$OUT/errors" # render's own folder, made before the attacker came
as_attacker touch "$T/pub/.keep" || { fail "cannot act as nobody"; finish; }
# The names a render writes to before renaming, as the attacker guesses them: a link to
# a file the attacker can read, and a file the attacker owns (mode 666).
as_attacker bash -c "umask 0; : >'$OUT/leak'; ln -s '$OUT/leak' '$OUT/haproxy.cfg.tmp'; \
    : >'$OUT/spoe-pick.conf.tmp'; ln -s '$OUT/leak' '$OUT/errors/400.http.tmp' 2>/dev/null; true"
check "the attacker's traps are in place" \
    bash -c "[ -L '$OUT/haproxy.cfg.tmp' ] && [ \"\$(stat -c %U '$OUT/spoe-pick.conf.tmp')\" = nobody ]"

(umask 0 && "$CTL" render -c "$T/config.yaml" -o "$OUT") >"$T/render.log" 2>&1
check "render succeeds" test $? -eq 0
check "the file behind the planted link received nothing" test ! -s "$OUT/leak"
check "the attacker's own file received nothing" test ! -s "$OUT/spoe-pick.conf.tmp"
check "the secret is nowhere the attacker can read" \
    bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups grep -rqs sk-render-secret '$OUT'"
check "haproxy.cfg is a file of its own (not the planted link)" \
    bash -c "[ -f '$OUT/haproxy.cfg' ] && [ ! -L '$OUT/haproxy.cfg' ]"
check "... holding the render" grep -q "Bearer sk-render-secret" "$OUT/haproxy.cfg"
check "... root's, mode 600 even with umask 0 ($(owner_mode "$OUT/haproxy.cfg"))" \
    test "$(owner_mode "$OUT/haproxy.cfg")" = "root 600"
check "spoe-pick.conf is root's, mode 644, not the attacker's ($(owner_mode "$OUT/spoe-pick.conf"))" \
    test "$(owner_mode "$OUT/spoe-pick.conf")" = "root 644"
check "no temporary file of render is left" \
    bash -c "! ls -a '$OUT' '$OUT/errors' | grep -E '\\.[A-Za-z0-9]{6}\$'"

# An errors folder someone else made (or a link to one) would let them change the pages
# HAProxy serves: render refuses it.
OUT2=$T/pub2
mkdir -m 1777 "$OUT2"
as_attacker mkdir -m 755 "$OUT2/errors"
"$CTL" render -c "$T/config.yaml" -o "$OUT2" >"$T/render2.log" 2>&1
check "render refuses an errors folder another user made" test $? -ne 0
check "... saying so" grep -q "errors: not a folder of ours" "$T/render2.log"
check "... and writes no haproxy.cfg naming it" test ! -e "$OUT2/haproxy.cfg"

# A maps folder planted as a link to another folder: render (which removes stale client
# maps) must not walk it and delete that folder's files. The configuration has no
# client_auth, so every clients_*.map would be stale if the folder were ours.
OUT3=$T/pub3
mkdir -m 1777 "$OUT3"
mkdir -m 700 "$T/victim"
: >"$T/victim/clients_main.map"
as_attacker ln -s "$T/victim" "$OUT3/maps"
"$CTL" render -c "$T/config.yaml" -o "$OUT3" >"$T/render3.log" 2>&1
check "render through a planted maps link leaves the linked folder's files alone" \
    test -e "$T/victim/clients_main.map"

# A second render replaces the files in place, same owner and modes.
"$CTL" render -c "$T/config.yaml" -o "$OUT" >>"$T/render.log" 2>&1
check "a second render succeeds, haproxy.cfg still mode 600 ($(owner_mode "$OUT/haproxy.cfg"))" \
    test "$(owner_mode "$OUT/haproxy.cfg")" = "root 600"
finish
