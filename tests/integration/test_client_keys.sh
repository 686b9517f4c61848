#!/usr/bin/env bash
# Client API keys, enforced by HAProxy itself: forwards `main` and `side` have client_auth,
# `open` does not. A valid key in each header style gets through and the upstream sees only
# its own credential; a missing, wrong or not-allowed key gets the OpenAI-shaped 401 with
# WWW-Authenticate: Bearer and reaches no upstream; `open` behaves as before; with the
# agent SIGKILLed, keys are still checked. Keys appear in no rendered file, no log and no
# process's arguments. The OpenAI Node SDK raises its AuthenticationError (when npm can
# install it). Also llmproxy-ctl key new / key hash.
source "$(dirname "$0")/lib.sh"

read -r A F_MAIN F_OPEN F_SIDE < <(free_ports 4 | xargs)
UPSTREAM_TOKEN=sk-upstream-own-credential

# ---- llmproxy-ctl key ------------------------------------------------------------------
"$CTL" key new >"$T/alice.key" 2>"$T/key.err" || fail "key new"
"$CTL" key new --name bob >"$T/bob.key" 2>>"$T/key.err" || fail "key new --name bob"
ALICE_KEY=$(head -n 1 "$T/alice.key")
BOB_KEY=$(head -n 1 "$T/bob.key")
BOB_HASH=$(sed -n 's/^  key_sha256: "\([0-9a-f]*\)"$/\1/p' "$T/bob.key")
check "key new: llmp- and 43 base64url characters ($(printf %s "$ALICE_KEY" | wc -c) bytes)" \
    bash -c '[[ $1 =~ ^llmp-[A-Za-z0-9_-]{43}$ ]]' _ "$ALICE_KEY"
check "two keys differ" test "$ALICE_KEY" != "$BOB_KEY"
check "key new --name prints the clients entry" grep -qx -- "- name: bob" "$T/bob.key"
check "the printed hash is the key's SHA-256" \
    test "$BOB_HASH" = "$(printf %s "$BOB_KEY" | sha256sum | cut -d' ' -f1)"
check "key hash reads the key from standard input (newline ignored)" \
    test "$(printf '%s\n' "$BOB_KEY" | "$CTL" key hash)" = "$BOB_HASH"
check "key hash of a known vector" \
    test "$(printf 'sk-alice-0123456789abcdef' | "$CTL" key hash)" = \
    8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f
printf 'short' | "$CTL" key hash >/dev/null 2>&1
check "key hash refuses what the configuration would (exit 1)" test $? = 1

# alice's key comes from the environment, bob's only as its hash.
export ALICE_KEY
cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - {name: main, address: 127.0.0.1, port: $F_MAIN, upstream_group: g, client_auth: true}
    - {name: open, address: 127.0.0.1, port: $F_OPEN, upstream_group: g}
    - {name: side, address: 127.0.0.1, port: $F_SIDE, upstream_group: g, client_auth: true}
upstreams:
  - name: a
    url: http://127.0.0.1:$A/v1
    auth: {type: bearer, token: $UPSTREAM_TOKEN}
upstream_groups:
  - {name: g, upstreams: [{name: a}]}
haproxy: {run_dir: "$T"}
clients:
  - {name: alice, key: "\${ALICE_KEY}"}
  - {name: bob, key_sha256: "$BOB_HASH", forwards: [main]}
YAML

start_mock a "$A" || finish
start_stack "$T/config.yaml" || finish

# ask PORT [CURL ARGS...]: one chat completion through a forward; prints the status, keeps
# the body in $T/body and the response headers in $T/head.
ask() {
    local port=$1
    shift
    curl -s -m 10 -o "$T/body" -D "$T/head" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$port/v1/chat/completions" -d '{"model":"m"}'
}
last() { mock_records "$A" ".[-1] | $1"; }
hdr_count() { last "[.headers[] | select(.[0] | ascii_downcase == \"$1\")] | length"; }

# ---- valid keys, each header style ---------------------------------------------------------
for style in "Authorization: Bearer $ALICE_KEY" "Authorization: bearer   $ALICE_KEY" \
    "x-api-key: $ALICE_KEY" "api-key: $BOB_KEY" "Authorization: Bearer $BOB_KEY"; do
    shown=${style/$ALICE_KEY/<alice>}
    shown=${shown/$BOB_KEY/<bob>}
    st=$(ask "$F_MAIN" -H "$style")
    check "$shown: 200 ($st)" test "$st" = 200
    check "... the upstream sees only its own credential ($(last .authorization))" \
        test "$(last .authorization)" = "Bearer $UPSTREAM_TOKEN"
    check "... once, and no x-api-key or api-key" \
        test "$(hdr_count authorization):$(hdr_count x-api-key):$(hdr_count api-key)" = 1:0:0
done
st=$(ask "$F_MAIN" -H 'Authorization: Basic Zm9vOmJhcg==' -H "x-api-key: $ALICE_KEY")
check "a non-Bearer Authorization is ignored, x-api-key used ($st)" test "$st" = 200
mock_records "$A" >"$T/upstream-records.json"
check "no client key anywhere in what the upstream received" \
    bash -c "! grep -qaF -e '$ALICE_KEY' -e '$BOB_KEY' '$T/upstream-records.json'"

# ---- refused keys ------------------------------------------------------------------------
before=$(mock_count "$A")
refused() {
    local what=$1 port=$2 st
    shift 2
    st=$(ask "$port" "$@")
    check "$what: 401 ($st)" test "$st" = 401
    check "... the OpenAI invalid_api_key error" \
        test "$(jq -r '.error | "\(.type) \(.code) \(.param)"' "$T/body")" = \
        "invalid_request_error invalid_api_key null"
    check "... with WWW-Authenticate: Bearer" grep -qix $'www-authenticate: Bearer\r' "$T/head"
}
refused "no key" "$F_MAIN"
refused "a wrong key" "$F_MAIN" -H "Authorization: Bearer llmp-not-a-key-of-anyone-000000"
refused "the stored hash sent as the key" "$F_MAIN" -H "x-api-key: $BOB_HASH"
refused "a key not allowed on the forward (bob on side)" "$F_SIDE" -H "x-api-key: $BOB_KEY"
refused "a key sent twice in one header" "$F_MAIN" -H "x-api-key: $ALICE_KEY" -H "x-api-key: $ALICE_KEY"
refused "a wrong Bearer next to a valid x-api-key (Authorization wins)" "$F_MAIN" \
    -H "Authorization: Bearer llmp-wrong-wrong-wrong-wrong" -H "x-api-key: $ALICE_KEY"
refused "an empty x-api-key" "$F_MAIN" -H "x-api-key;"
check "no refused request reached the upstream" test "$(mock_count "$A")" = "$before"
st=$(ask "$F_SIDE" -H "api-key: $ALICE_KEY")
check "alice, allowed on every client_auth forward, gets through side ($st)" test "$st" = 200

# ---- the forward without client_auth: as before -------------------------------------------
st=$(ask "$F_OPEN")
check "open forward without a key: 200 ($st)" test "$st" = 200
ask "$F_OPEN" -H "x-api-key: client-own-value-123" >/dev/null
check "... a client's x-api-key still passes there ($(hdr_count x-api-key))" test "$(hdr_count x-api-key)" = 1

# ---- the OpenAI Node SDK ------------------------------------------------------------------------
# Installed into the scratch folder; skipped when npm is missing or has no network. The key
# goes through the environment: never a process argument.
if command -v node >/dev/null && command -v npm >/dev/null &&
    timeout 90 npm install --prefix "$T/sdk" --no-audit --no-fund --silent openai@4 >"$T/npm.log" 2>&1; then
    cat >"$T/sdk/keys.js" <<'JS'
const OpenAI = require('openai');
const ask = (apiKey) => new OpenAI({ apiKey, baseURL: process.argv[2], maxRetries: 0 })
  .chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
  .then(() => console.log('ok'),
        (e) => console.log(`${e.constructor.name} ${e.status} ${e.code} ${e.type}`));
(async () => {
  await ask(process.env.SDK_KEY);
  await ask('llmp-not-a-key-of-anyone-000000');
})();
JS
    SDK_KEY=$ALICE_KEY node "$T/sdk/keys.js" "http://127.0.0.1:$F_MAIN/v1" >"$T/sdk.out" 2>&1
    check "SDK: a valid key is served ($(sed -n 1p "$T/sdk.out"))" test "$(sed -n 1p "$T/sdk.out")" = ok
    check "SDK: a wrong key raises AuthenticationError ($(sed -n 2p "$T/sdk.out"))" \
        test "$(sed -n 2p "$T/sdk.out")" = "AuthenticationError 401 invalid_api_key invalid_request_error"
else
    skip_part "the OpenAI Node SDK's authentication error" "the SDK could not be installed (npm missing or offline)"
fi

# ---- the agent killed: keys are still checked ------------------------------------------------
kill -KILL "$PID_agent"
wait "$PID_agent" 2>/dev/null
st=$(ask "$F_MAIN" -H "Authorization: Bearer $ALICE_KEY")
check "agent SIGKILLed: a valid key is still served (fail-open balancing) ($st)" test "$st" = 200
st=$(ask "$F_MAIN" -H "Authorization: Bearer llmp-not-a-key-of-anyone-000000")
check "agent SIGKILLed: a wrong key still gets 401 ($st)" test "$st" = 401
st=$(ask "$F_MAIN")
check "agent SIGKILLed: no key still gets 401 ($st)" test "$st" = 401

# ---- no key where we write or show things ------------------------------------------------------
check "the rendered folder holds no key" bash -c "! grep -rqaF -e '$ALICE_KEY' -e '$BOB_KEY' '$T/out'"
check "... but the maps hold the hashes" grep -q "^$BOB_HASH bob\$" "$T/out/maps/clients_main.map"
check "HAProxy's and the agent's logs hold no key" bash -c "! grep -qaF -e '$ALICE_KEY' -e '$BOB_KEY' '$T/haproxy.log' '$T/agent.log'"
check "no process has a key in its arguments" bash -c "! ps -eo args | grep -v grep | grep -qF -e '$ALICE_KEY' -e '$BOB_KEY'"
finish
