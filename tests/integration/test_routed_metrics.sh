#!/usr/bin/env bash
# A forward with routing, seen from the agent: HAProxy sends pick_<group> for the group its
# rules chose and the agent balances that group (the answering mock says which); the request
# lines carry the route, which the agent books as llmproxy_route_requests_total and, by
# model rule, llmproxy_model_requests_total, without a single unmatched or malformed line.
# A forward without routing next to it keeps its page free of the routing families' series.
source "$(dirname "$0")/lib.sh"

read -r A B C ROUTED PLAIN SPOP LOGS ADMIN < <(free_ports 8 | xargs)

cat >"$T/config.yaml" <<YAML
http_server:
  forwards:
    - name: routed
      address: 127.0.0.1
      port: $ROUTED
      upstream_group: local
      routing:
        - {model: 'gpt-4o*', target_group: cloud}
        - {model: llama-3.1-70b, target_group: big}
        - {path: /v1/embeddings, target_group: cloud}
    - {name: plain, address: 127.0.0.1, port: $PLAIN, upstream_group: local}
  admin: {address: 127.0.0.1, port: $ADMIN}
upstreams:
  - {name: a, url: "http://127.0.0.1:$A/v1"}
  - {name: b, url: "http://127.0.0.1:$B/v1"}
  - {name: c, url: "http://127.0.0.1:$C/v1"}
upstream_groups:
  - {name: local, upstreams: [{name: a}]}
  - {name: cloud, upstreams: [{name: b}]}
  - {name: big, upstreams: [{name: c}]}
agent:
  spop: {address: 127.0.0.1, port: $SPOP}
  logs: {address: 127.0.0.1, port: $LOGS}
haproxy: {run_dir: "$T"}
YAML

start_mock a "$A" || finish
start_mock b "$B" || finish
start_mock c "$C" || finish
start_stack "$T/config.yaml" || finish

# ask PORT PATH BODY: the answering mock's name, or the status when not 200.
ask() {
    local out
    out=$(curl -s -m 5 -w '\n%{http_code}' -d "$3" "http://127.0.0.1:$1$2")
    if [ "${out##*$'\n'}" = 200 ]; then jq -r '.choices[0].message.content // .model' <<<"${out%$'\n'*}"; else echo "${out##*$'\n'}"; fi
}

got=$(for m in gpt-4o gpt-4o-mini llama-3.1-70b llama-3.1-8b; do
    ask "$ROUTED" /v1/chat/completions "{\"model\":\"$m\",\"messages\":[]}"
done | xargs)
check "each model went to its rule's group: gpt-4o* cloud, llama-3.1-70b big, else local (got: $got)" \
    test "$got" = "b b c a"
got=$(ask "$ROUTED" /v1/chat/completions '{"messages":[]}')
check "no model: the forward's own group (got: $got)" test "$got" = a
ask "$ROUTED" /v1/embeddings '{"input":"x"}' >/dev/null
check "the path rule sends embeddings to cloud ($(mock_count "$B") requests on b)" \
    test "$(mock_count "$B")" = 3
ask "$PLAIN" /v1/chat/completions '{"model":"gpt-4o","messages":[]}' >/dev/null
# HAProxy refuses this one before its rules run: no route, no group, still the forward's.
code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -X PATCH "http://127.0.0.1:$ROUTED/v1/chat/completions")
check "a method HAProxy refuses is answered before routing ($code)" test "$code" = 405

lines_in() { [ "$(metric llmproxy_log_lines_received_total)" -ge 8 ]; }
check "the agent received the 8 request lines" wait_until 10 lines_in
check "no line unmatched or malformed" \
    test "$(metric llmproxy_log_lines_unmatched_total)" = 0 -a \
    "$(metric llmproxy_log_lines_malformed_total)" = 0
check "routed by a rule to cloud: 3" \
    test "$(metric 'llmproxy_route_requests_total{forward="routed",group="cloud",route="rule"}')" = 3
check "routed by a rule to big: 1" \
    test "$(metric 'llmproxy_route_requests_total{forward="routed",group="big",route="rule"}')" = 1
check "fell back, a model no rule takes: 1" \
    test "$(metric 'llmproxy_route_requests_total{forward="routed",group="local",route="unmatched"}')" = 1
check "fell back, no model in the body: 1" \
    test "$(metric 'llmproxy_route_requests_total{forward="routed",group="local",route="no_model"}')" = 1
check "by model rule: gpt-4o* 2 (2xx)" \
    test "$(metric 'llmproxy_model_requests_total{forward="routed",model="gpt-4o*",status_class="2xx"}')" = 2
check "by model rule: llama-3.1-70b 1 (2xx)" \
    test "$(metric 'llmproxy_model_requests_total{forward="routed",model="llama-3.1-70b",status_class="2xx"}')" = 1
# (the mock has no embeddings endpoint: that one is its 404)
other=$(awk '$1 ~ /^llmproxy_model_requests_total\{forward="routed",model="other",/ { n += $2 } END { print n + 0 }' "$T/metrics")
check "other models, no model and the path rule: other 3 ($other)" test "$other" = 3
check "the refused request counts as the routed forward's, in no route" \
    test "$(metric 'llmproxy_http_request_errors_total{forward="routed",error="method_not_allowed",status="405"}')" = 1
check "the forward without routing has no routing series" \
    bash -c "! grep -q 'forward=\"plain\"' <(grep -E '^llmproxy_(route|model)_' '$T/metrics')"
check "no pick named a group its forward lacks" \
    test "$(metric 'llmproxy_agent_pick_decisions_total{verdict="unknown_group"}')" = 0
finish
