#!/usr/bin/env bash
# Hostile strings on their way to haproxy.cfg: each value of the table either is refused
# by `llmproxy-ctl validate` with a message saying what is allowed (and then by render
# too), or goes through validate, render and `haproxy -c` and arrives at the upstream
# byte for byte (header values, the bearer token, the User-Agent, the URL's base path).
source "$(dirname "$0")/lib.sh"

read -r F UP SPOP LOGS ADMIN < <(free_ports 5 | xargs)

# config_with HEADER_YAML [UPSTREAM_EXTRA_YAML] [TOP_EXTRA_YAML]: a whole configuration.
config_with() {
    cat <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F, upstream_group: g}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - name: a
    url: "http://127.0.0.1:$UP/v1"
    headers:
      - $1
${2:-}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
${3:-haproxy: {run_dir: "$T"\}}
YAML
}

# ---- refused: validate says what is allowed, render refuses as well ------------------
# Each line: the YAML of one header operation, then the message expected (a regex).
long=$(head -c 5000 /dev/zero | tr '\0' v)
export HOSTILE_PCT='50%off'
refused=(
    '{op: insert, key: X-A, value: "line\nbreak"}' 'value: contains the control character "\\n" at character 5; line breaks, NUL'
    '{op: insert, key: X-A, value: "cr\rlf"}' 'value: contains the control character "\\r"'
    '{op: insert, key: X-A, value: "nul\0byte"}' 'value: contains the control character "\\x00"'
    '{op: insert, key: X-A, value: "del\x7fchar"}' 'value: contains the control character "\\x7f"'
    "{op: insert, key: X-A, value: \"$long\"}" 'value: the value is 5000 bytes long; at most 4096 allowed'
    "{op: insert, key: \"x'y\", value: v}" "key: invalid header name \"x'y\"; allowed: letters, digits and .*without '"
    '{op: insert, key: "x y", value: v}' 'key: invalid header name "x y"; allowed: letters, digits'
    '{op: insert, key: "x\"y", value: v}' 'key: invalid header name "x\\"y"'
    '{op: insert, key: "x:y", value: v}' 'key: invalid header name "x:y"'
    '{op: remove, key: "x(y)"}' 'key: invalid header name "x\(y\)"'
    '{op: insert, key: "", value: v}' 'key: invalid header name ""'
    '{op: insert, key: X-A, value: "${HOSTILE_PCT}"}' "value: environment variable HOSTILE_PCT holds '%'"
)
for ((i = 0; i < ${#refused[@]}; i += 2)); do
    config_with "${refused[i]}" >"$T/refused.yaml"
    "$CTL" validate -c "$T/refused.yaml" >"$T/refused.log" 2>&1
    rc=$?
    check "validate refuses ${refused[i]:0:60} (exit $rc)" test "$rc" -eq 1
    check "... saying: ${refused[i + 1]:0:70}" grep -qE -- "${refused[i + 1]}" "$T/refused.log"
    check "... and render refuses it too" \
        bash -c '! "$1" render -c "$2" -o "$3" >/dev/null 2>&1' _ "$CTL" "$T/refused.yaml" "$T/refused-out"
done
# Strings elsewhere: names, URLs, paths.
others=(
    '  - {name: "a b", url: "http://127.0.0.1:1"}' 'upstreams\[1\].name: invalid name "a b"; expected a name of'
    '  - {name: b, url: "http://127.0.0.1:1/v\"1"}' "url: the character .* is not allowed in a URL path"
    '  - {name: b, url: "http://127.0.0.1:1/a b"}' "url: the character .* is not allowed in a URL path"
    '  - {name: b, url: "http://ho\"st:1"}' 'url: invalid host'
    '  - {name: b, url: "http://host:1/v1", tls: {ca_file: "/a\nb"}}' 'contains the control character'
)
for ((i = 0; i < ${#others[@]}; i += 2)); do
    config_with '{op: remove, key: X-A}' "${others[i]}" >"$T/refused.yaml"
    "$CTL" validate -c "$T/refused.yaml" >"$T/refused.log" 2>&1
    rc=$?
    check "validate refuses ${others[i]:4:60} (exit $rc)" test "$rc" -eq 1
    check "... saying: ${others[i + 1]:0:70}" grep -qE -- "${others[i + 1]}" "$T/refused.log"
done
config_with '{op: remove, key: X-A}' "" 'haproxy: {run_dir: "/run/a\nb"}' >"$T/refused.yaml"
check "validate refuses a run_dir with a line break" \
    bash -c '"$1" validate -c "$2" 2>&1 | grep -q "run_dir: contains the control character"' _ "$CTL" "$T/refused.yaml"

# ---- accepted: HAProxy loads the render and the bytes arrive as written --------------
# Each line: the YAML of a header value, then the bytes expected at the upstream.
vlong=$(head -c 4000 /dev/zero | tr '\0' w)
export HOSTILE_ENV='env "quoted" \back $dollar #hash'
values=(
    '"a\"b'"'"'c"' 'a"b'"'"'c'
    '"back\\slash\\"' 'back\slash\'
    '"hash # not a comment"' 'hash # not a comment'
    '"inner  spaces,  twice"' 'inner  spaces,  twice'
    '"100% %[src] %{+Q}o %%"' '100% %[src] %{+Q}o %%'
    '"cost 5$ or $HOME or $$HOME or $${HOME}"' 'cost 5$ or $HOME or $HOME or ${HOME}'
    '"tab\there"' $'tab\there'
    '"caf\u00e9 \u20ac"' 'café €'
    '"{\"json\": [1, 2], \"x\": \"a,b)\"}"' '{"json": [1, 2], "x": "a,b)"}'
    '"${HOSTILE_ENV}"' "$HOSTILE_ENV"
    "\"$vlong\"" "$vlong"
)
headers=""
for ((i = 0; i < ${#values[@]}; i += 2)); do
    headers+="{op: insert, key: X-V$((i / 2)), value: ${values[i]}}"$'\n      - '
done
headers+='{op: replace, key: "X-Odd!#$%&*+.^_`|~", value: "odd name"}'
config_with "$headers" '    auth: {type: bearer, token: "tok\"en$$%\\#x y"}' >"$T/config.yaml"
sed -i "s|url: \"http://127.0.0.1:$UP/v1\"|url: \"http://127.0.0.1:$UP/p'q\$r(s)!*,;=:@\"|" "$T/config.yaml"
"$CTL" validate -c "$T/config.yaml" >"$T/validate.log" 2>&1
check "validate accepts every value of the table" test $? -eq 0
start_mock a "$UP" || finish
start_stack "$T/config.yaml" || { cat "$T/validate.log"; finish; }
check "haproxy -c accepts the render" "$HAPROXY" -c -q -f "$T/out/haproxy.cfg"
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'User-Agent: client' \
    "http://127.0.0.1:$F/chat/completions" -d '{}')
check "a request through it is served ($code)" test "$code" = 200
curl -sf -m 5 "http://127.0.0.1:$UP/__mock/requests" >"$T/requests.json"
# The value of header $1 as the upstream received it (HAProxy sends names in lower case).
# The mock shows each byte outside printable ASCII as U+00XX: expected values are compared
# in that form.
arrived() {
    jq -j --arg k "$1" '[.[-1].headers[] | select(.[0] == ($k | ascii_downcase)) | .[1]] |
        .[0] // "(absent)"' "$T/requests.json"
}
as_mock() { printf '%s' "$1" | iconv -f latin1 -t utf-8; }
for ((i = 0; i < ${#values[@]}; i += 2)); do
    got=$(arrived "X-V$((i / 2))")
    check "header value ${values[i]:0:50} arrives byte for byte" test "$got" = "$(as_mock "${values[i + 1]}")"
done
check "a header named with every other tchar arrives" test "$(arrived 'X-Odd!#$%&*+.^_`|~')" = "odd name"
check "the bearer token arrives byte for byte" test "$(arrived Authorization)" = 'Bearer tok"en$%\#x y'
path=$(jq -r ".[-1].path" "$T/requests.json")
check "the URL's base path arrives as written ($path)" test "$path" = "/p'q\$r(s)!*,;=:@/chat/completions"
finish
