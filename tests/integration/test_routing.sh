#!/usr/bin/env bash
# Model and path routing (forward `routing`), decided by HAProxy: exact and prefix model
# rules, path rules, first match wins, unmatched to the forward's own group, routing_strict's
# 404, the x-llmproxy-model header (never forwarded), a body too large for the model to be
# read (OpenAI Python SDK key order: messages first, model last), a model nested in messages,
# a duplicate "model" key, GET /v1/models answered by HAProxy (OpenAI Node SDK when npm can
# install it) and, on a forward without model rules, still sent upstream.
# Each group has one mock, whose name says which group served a request.
source "$(dirname "$0")/lib.sh"

read -r M_DEF M_OAI M_VLLM M_EMB F_MAIN F_STRICT F_PLAIN < <(free_ports 7 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - name: main
      address: 127.0.0.1
      port: $F_MAIN
      default_group: dflt
      routing:
        - {path: /v1/embeddings, target_group: embed}
        - {model: "gpt-4o*", target_group: openai}
        - {model: llama-3.1-70b, target_group: vllm}
        - {path: "/v1/items/{id:[0-9]+}", target_group: vllm}
    - name: strict
      address: 127.0.0.1
      port: $F_STRICT
      upstream_group: dflt
      routing_strict: true
      routing:
        - {model: llama-3.1-70b, target_group: vllm}
    - {name: plain, address: 127.0.0.1, port: $F_PLAIN, upstream_group: dflt}
upstreams:
  - {name: def, url: "http://127.0.0.1:$M_DEF/v1"}
  - {name: oai, url: "http://127.0.0.1:$M_OAI/v1"}
  - {name: vllm, url: "http://127.0.0.1:$M_VLLM/v1"}
  - {name: emb, url: "http://127.0.0.1:$M_EMB/v1"}
upstream_groups:
  - {name: dflt, upstreams: [{name: def}]}
  - {name: openai, upstreams: [{name: oai}], models: [gpt-4o-mini]}
  - {name: vllm, upstreams: [{name: vllm}], models: [llama-3.1-70b, llama-3.1-8b]}
  - {name: embed, upstreams: [{name: emb}]}
haproxy: {run_dir: "$T", access_log: true}
YAML

for m in def:$M_DEF oai:$M_OAI vllm:$M_VLLM emb:$M_EMB; do
    start_mock "${m%%:*}" "${m#*:}" || finish
done
start_stack "$T/config.yaml" || finish

# served PORT PATH BODY-FILE [CURL ARGS...]: which mock got the request ("none" if no mock
# did); the status is kept in $T/status, the response in $T/body.
served() {
    local port=$1 path=$2 body=$3 m who=none
    shift 3
    mock_reset "$M_DEF" "$M_OAI" "$M_VLLM" "$M_EMB"
    curl -s -m 20 -o "$T/body" -w '%{http_code}' -H 'content-type: application/json' "$@" \
        --data-binary "@$body" "http://127.0.0.1:$port$path" >"$T/status"
    for m in def:$M_DEF oai:$M_OAI vllm:$M_VLLM emb:$M_EMB; do
        [ "$(mock_count "${m#*:}")" = 1 ] && who=${m%%:*}
    done
    echo "$who"
}
# route_of PATH: the route field of the last LLMR4 line for PATH (the access log).
route_of() {
    grep "LLMR4 .* \"$1\"" "$T/haproxy.log" | tail -n 1 | awk '{print $5}'
}
body() { printf '%s' "$1" >"$T/req.json"; echo "$T/req.json"; }
CHAT=/v1/chat/completions

# ---- model rules, path rules, their order ------------------------------------------------
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"gpt-4o-mini","messages":[]}')")
check "prefix rule gpt-4o*: gpt-4o-mini goes to openai ($w)" test "$w" = oai
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"llama-3.1-70b","messages":[]}')")
check "exact rule: llama-3.1-70b goes to vllm ($w)" test "$w" = vllm
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"llama-3.1-70b-x","messages":[]}')")
check "exact rule does not take llama-3.1-70b-x: default group ($w)" test "$w" = def
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"unknown","messages":[]}')")
check "unmatched model: default group ($w, status $(cat "$T/status"))" test "$w" = def
w=$(served "$F_MAIN" /v1/embeddings "$(body '{"model":"gpt-4o","input":"x"}')")
check "path rule before a model rule wins for a request matching both ($w)" test "$w" = emb
w=$(served "$F_MAIN" /v1/items/42 "$(body '{}')")
check "path rule {id:[0-9]+}: /v1/items/42 goes to vllm ($w)" test "$w" = vllm
w=$(served "$F_MAIN" /v1/items/4x "$(body '{}')")
check "... /v1/items/4x does not match: default group ($w)" test "$w" = def

# ---- the header ----------------------------------------------------------------------------
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"unknown"}')" -H 'x-llmproxy-model: llama-3.1-70b')
check "x-llmproxy-model wins over the body ($w)" test "$w" = vllm
n=$(mock_records "$M_VLLM" '[.[-1].headers[] | select(.[0] | ascii_downcase == "x-llmproxy-model")] | length')
check "... and no upstream sees it ($n)" test "$n" = 0
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"llama-3.1-70b"}')" -H 'x-llmproxy-model: a' \
    -H 'x-llmproxy-model: b')
n=$(mock_records "$M_VLLM" '[.[-1].headers[] | select(.[0] | ascii_downcase == "x-llmproxy-model")] | length')
check "a repeated header is ignored: the body decides ($w), the header removed ($n)" \
    test "$w:$n" = vllm:0

# ---- big bodies, in the key order of the OpenAI Python SDK ----------------------------------
big() { # big SIZE MODEL: messages first, model last
    python3 -c 'import json,sys
n, m = int(sys.argv[1]), sys.argv[2]
print(json.dumps({"messages": [{"role": "user", "content": "x" * n}], "model": m}), end="")' \
        "$1" "$2" >"$T/big.json"
    echo "$T/big.json"
}
w=$(served "$F_MAIN" $CHAT "$(big 300000 llama-3.1-70b)")
check "300 KB body, model last: the model is past what HAProxy reads: default group ($w)" \
    test "$w" = def
wait_output 5 = truncated route_of $CHAT
check "... logged with route truncated ($(route_of $CHAT))" test "$(route_of $CHAT)" = truncated
w=$(served "$F_MAIN" $CHAT "$(big 300000 unknown)" -H 'x-llmproxy-model: llama-3.1-70b')
check "the same body with x-llmproxy-model: routed ($w)" test "$w" = vllm
w=$(served "$F_MAIN" $CHAT "$(big 1000 llama-3.1-70b)")
check "a small body in that order: routed ($w)" test "$w" = vllm
wait_output 5 = 2 route_of $CHAT
check "... logged with the rule's index ($(route_of $CHAT))" test "$(route_of $CHAT)" = 2

# ---- hostile bodies ------------------------------------------------------------------------
w=$(served "$F_MAIN" $CHAT \
    "$(body '{"messages":[{"role":"user","content":"hi","model":"llama-3.1-70b"}]}')")
check "a model nested in messages is not taken ($w)" test "$w" = def
wait_output 5 = no_model route_of $CHAT
check "... route no_model ($(route_of $CHAT))" test "$(route_of $CHAT)" = no_model
w=$(served "$F_MAIN" $CHAT "$(body '{"model":"llama-3.1-70b","model":"unknown"}')")
check "duplicate model key: HAProxy takes the first one ($w)" test "$w" = vllm
w=$(served "$F_MAIN" $CHAT "$(body 'not json at all')")
check "a body that is not JSON: default group ($w)" test "$w" = def

# ---- routing_strict --------------------------------------------------------------------------
w=$(served "$F_STRICT" $CHAT "$(body '{"model":"unknown"}')")
check "strict: unmatched model gets 404 ($(cat "$T/status")) and reaches no upstream ($w)" \
    test "$(cat "$T/status"):$w" = 404:none
check "... in the OpenAI error shape, code model_not_found" \
    test "$(jq -r .error.code "$T/body")" = model_not_found
w=$(served "$F_STRICT" $CHAT "$(body '{"messages":[]}')")
check "strict: no model in the body goes to the default group ($w)" test "$w" = def
w=$(served "$F_STRICT" $CHAT "$(body '{"model":"llama-3.1-70b"}')")
check "strict: a matching model is routed ($w)" test "$w" = vllm

# ---- GET /v1/models ------------------------------------------------------------------------
mock_reset "$M_DEF" "$M_OAI" "$M_VLLM" "$M_EMB"
st=$(curl -s -m 10 -o "$T/models.json" -w '%{http_code}' "http://127.0.0.1:$F_MAIN/v1/models")
ids=$(jq -r '[.data[].id] | join(",")' "$T/models.json")
check "GET /v1/models answered by HAProxy ($st): $ids" \
    test "$st:$ids" = "200:llama-3.1-70b,gpt-4o-mini,llama-3.1-8b"
n=$(($(mock_count "$M_DEF") + $(mock_count "$M_OAI") + $(mock_count "$M_VLLM") + $(mock_count "$M_EMB")))
check "... no upstream asked ($n)" test "$n" = 0
w=$(curl -s -m 10 "http://127.0.0.1:$F_PLAIN/v1/models" | jq -r '.data[0].owned_by')
check "GET /v1/models on a forward without model rules goes upstream ($w)" test "$w" = def

if command -v node >/dev/null && command -v npm >/dev/null &&
    timeout 90 npm install --prefix "$T/sdk" --no-audit --no-fund --silent openai@4 >"$T/npm.log" 2>&1; then
    cat >"$T/sdk/models.js" <<'JS'
const OpenAI = require('openai');
const client = new OpenAI({ apiKey: 'unused', baseURL: process.argv[2], maxRetries: 0 });
(async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  console.log(ids.join(','));
})().catch((e) => console.log(`error ${e}`));
JS
    out=$(node "$T/sdk/models.js" "http://127.0.0.1:$F_MAIN/v1" 2>&1)
    check "Node SDK models.list(): $out" test "$out" = "llama-3.1-70b,gpt-4o-mini,llama-3.1-8b"
else
    skip_part "the OpenAI Node SDK's models.list()" "the SDK could not be installed (npm missing or offline)"
fi

finish
