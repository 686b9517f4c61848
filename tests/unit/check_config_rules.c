/*
 * One failing configuration per validation rule, each asserting the exact message
 * and its line:column. Every case is a small YAML text and what llmproxy-ctl prints.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/conf_testutil.h"

/* A valid upstream and group that cases can reference. */
#define U "upstreams: [{name: u, url: 'http://u'}]\n"
#define G "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"

struct rule_case {
    const char *name;
    const char *yaml;
    const char *expected; /* every diagnostic line, in order */
};

static const struct rule_case cases[] = {
    /* ---- keys ---- */
    {"unknown key with suggestion", U "upstreams_groups: []\n",
     "t.yaml:2:1: upstreams_groups: unknown key \"upstreams_groups\"; did you mean "
     "\"upstream_groups\"? (allowed: http_server, upstreams, upstream_groups, agent, haproxy, "
     "clients)\n"},
    {"unknown key, case only", "upstreams:\n  - Name: u\n    url: 'http://u'\n",
     "t.yaml:2:5: upstreams[0].Name: unknown key \"Name\"; did you mean \"name\"? (allowed: name, "
     "url, auth, headers, breaker, tls, throttle)\n"
     "t.yaml:2:5: upstreams[0].name: missing; this key is required\n"},
    {"unknown key, transposed letters", "http_server: {admin: {prot: 9000}}\n",
     "t.yaml:1:23: http_server.admin.prot: unknown key \"prot\"; did you mean \"port\"? (allowed: "
     "port, address, timeout, token)\n"},
    {"unknown key, nothing close", "agent: {color: blue}\n",
     "t.yaml:1:9: agent.color: unknown key \"color\"; allowed: spop, logs, ratelimit_max_clients, "
     "decision_timeout_ms, cluster\n"},
    {"keys of the original not in the schema",
     "upstreams: [{name: u, url: 'http://u', weight: 2}]\n",
     "t.yaml:1:40: upstreams[0].weight: unknown key \"weight\"; allowed: name, url, auth, headers, "
     "breaker, tls, throttle\n"},
    {"duplicate key", "agent:\n  decision_timeout_ms: 10\n  decision_timeout_ms: 20\n",
     "t.yaml:3:3: agent.decision_timeout_ms: duplicate key \"decision_timeout_ms\"; it is first "
     "given at line 2:3\n"},
    {"alias and key both given: upstream_group",
     U G "http_server:\n  forwards:\n    - name: f\n      upstream_group: g\n"
         "      default_group: g\n",
     "t.yaml:7:7: http_server.forwards[0].default_group: \"default_group\" and \"upstream_group\" "
     "(line 6:7) are the same setting; give only one\n"},
    {"alias and key both given: stream",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], http_client: {stream_mode: true, "
       "stream: false}}]\n",
     "t.yaml:2:86: upstream_groups[0].http_client.stream: \"stream\" and \"stream_mode\" (line "
     "2:67) are the same setting; give only one\n"},
    {"key that is not a scalar", "agent: {[a]: 1}\n",
     "t.yaml:1:9: agent: found a list as a key; keys are plain names\n"},
    /* ---- node kinds (the walk goes on after each) ---- */
    {"wrong kinds",
     "http_server: []\nupstreams: {name: u}\nagent: {spop: {port: {a: 1}}, logs: [1]}\n",
     "t.yaml:1:14: http_server: found a list; expected a mapping\n"
     "t.yaml:2:12: upstreams: found a mapping; expected a list\n"
     "t.yaml:3:22: agent.spop.port: found a mapping; expected a number 1-65535\n"
     "t.yaml:3:37: agent.logs: found a list; expected a mapping\n"},
    {"list item that is not a mapping", "upstreams: [u1]\n",
     "t.yaml:1:13: upstreams[0]: found \"u1\"; expected a mapping\n"},
    {"empty scalar", "agent: {decision_timeout_ms: }\n",
     "t.yaml:1:30: agent.decision_timeout_ms: found an empty value; expected a number 5-10000\n"},
    /* ---- required keys: reported at the mapping that lacks them ---- */
    {"required keys missing",
     "upstreams: [{url: 'http://u'}, {name: v}]\n"
     "upstream_groups: [{upstreams: [{weight: 2}]}, {name: h}]\n"
     "http_server: {forwards: [{port: 3001}]}\n",
     "t.yaml:1:13: upstreams[0].name: missing; this key is required\n"
     "t.yaml:1:32: upstreams[1].url: missing; this key is required\n"
     "t.yaml:2:19: upstream_groups[0].name: missing; this key is required\n"
     "t.yaml:2:32: upstream_groups[0].upstreams[0].name: missing; this key is required\n"
     "t.yaml:2:47: upstream_groups[1].upstreams: missing; this key is required\n"
     "t.yaml:3:26: http_server.forwards[0].name: missing; this key is required\n"
     "t.yaml:3:26: http_server.forwards[0].upstream_group: missing; this key is required\n"},
    {"group without upstreams", "upstream_groups: [{name: g, upstreams: []}]\n",
     "t.yaml:1:40: upstream_groups[0].upstreams: the list is empty; at least 1 item is "
     "required\n"},
    /* ---- types and ranges ---- */
    {"quoted number",
     U G "http_server: {forwards: [{name: f, upstream_group: g, port: \"3000\"}]}\n",
     "t.yaml:3:61: http_server.forwards[0].port: found the string \"3000\"; expected a number "
     "1-65535 (write it without quotes)\n"},
    {"not a number", "agent: {spop: {port: 9k}, logs: {port: 1.5}, ratelimit_max_clients: 0x10}\n",
     "t.yaml:1:22: agent.spop.port: found \"9k\"; expected a number 1-65535\n"
     "t.yaml:1:40: agent.logs.port: found \"1.5\"; expected a number 1-65535\n"
     "t.yaml:1:69: agent.ratelimit_max_clients: found \"0x10\"; expected a number "
     "1000-100000000\n"},
    {"integer ranges",
     "http_server:\n"
     "  admin: {port: 0, timeout: {connect: 3601}}\n"
     "agent: {spop: {port: 70000}, ratelimit_max_clients: 999, decision_timeout_ms: -5}\n",
     "t.yaml:2:17: http_server.admin.port: 0 is out of range; allowed: 1-65535\n"
     "t.yaml:2:39: http_server.admin.timeout.connect: 3601 is out of range; allowed: 1-3600\n"
     "t.yaml:3:22: agent.spop.port: 70000 is out of range; allowed: 1-65535\n"
     "t.yaml:3:53: agent.ratelimit_max_clients: 999 is out of range; allowed: 1000-100000000\n"
     "t.yaml:3:79: agent.decision_timeout_ms: -5 is out of range; allowed: 5-10000\n"},
    {"group ranges",
     U "upstream_groups:\n  - name: g\n    upstreams: [{name: u, weight: 65536}]\n"
       "    http_client:\n"
       "      keepalive: 601\n"
       "      timeout: {connect: 121, request: 0, idle: 3601}\n"
       "      retry: {attempts: 11, initial: 9}\n",
     "t.yaml:4:35: upstream_groups[0].upstreams[0].weight: 65536 is out of range; allowed: "
     "1-65535\n"
     "t.yaml:6:18: upstream_groups[0].http_client.keepalive: 601 is out of range; allowed: 0-600\n"
     "t.yaml:7:26: upstream_groups[0].http_client.timeout.connect: 121 is out of range; allowed: "
     "1-120\n"
     "t.yaml:7:40: upstream_groups[0].http_client.timeout.request: 0 is out of range; allowed: "
     "1-3600\n"
     "t.yaml:7:49: upstream_groups[0].http_client.timeout.idle: 3601 is out of range; allowed: "
     "1-3600\n"
     "t.yaml:8:25: upstream_groups[0].http_client.retry.attempts: 11 is out of range; allowed: "
     "1-10\n"
     "t.yaml:8:38: upstream_groups[0].http_client.retry.initial: 9 is out of range; allowed: "
     "10-60000\n"},
    {"queue ranges",
     U "upstream_groups:\n"
       "  - {name: a, upstreams: [{name: u, max_in_flight: 0}]}\n"
       "  - {name: b, upstreams: [{name: u, max_in_flight: -1}]}\n"
       "  - {name: c, upstreams: [{name: u, max_in_flight: 1000001}]}\n"
       "  - {name: d, upstreams: [{name: u, max_in_flight: many}]}\n"
       "  - {name: e, upstreams: [{name: u, max_in_flight: \"2\"}]}\n"
       "  - {name: f, upstreams: [{name: u}], http_client: {timeout: {queue: 0}}}\n"
       "  - {name: h, upstreams: [{name: u}], http_client: {timeout: {queue: 3601}}}\n",
     "t.yaml:3:52: upstream_groups[0].upstreams[0].max_in_flight: 0 is out of range; allowed: "
     "1-1000000\n"
     "t.yaml:4:52: upstream_groups[1].upstreams[0].max_in_flight: -1 is out of range; allowed: "
     "1-1000000\n"
     "t.yaml:5:52: upstream_groups[2].upstreams[0].max_in_flight: 1000001 is out of range; "
     "allowed: 1-1000000\n"
     "t.yaml:6:52: upstream_groups[3].upstreams[0].max_in_flight: found \"many\"; expected a "
     "number 1-1000000\n"
     "t.yaml:7:52: upstream_groups[4].upstreams[0].max_in_flight: found the string \"2\"; "
     "expected a number 1-1000000 (write it without quotes)\n"
     "t.yaml:8:70: upstream_groups[5].http_client.timeout.queue: 0 is out of range; allowed: "
     "1-3600\n"
     "t.yaml:9:70: upstream_groups[6].http_client.timeout.queue: 3601 is out of range; allowed: "
     "1-3600\n"},
    {"breaker ranges",
     "upstreams: [{name: u, url: 'http://u', breaker: {threshold: 0.001, cooldown: 0}}]\n"
     "x-b: &b {threshold: 1.5e0, cooldown: \"30\"}\n"
     "x-c: {threshold: nan}\n",
     "t.yaml:1:61: upstreams[0].breaker.threshold: 0.001 is out of range; allowed: 0.01-1\n"
     "t.yaml:1:78: upstreams[0].breaker.cooldown: 0 is out of range; allowed: 1-3600\n"},
    {"breaker threshold not a number",
     "upstreams: [{name: u, url: 'http://u', breaker: {threshold: high}}]\n",
     "t.yaml:1:61: upstreams[0].breaker.threshold: found \"high\"; expected a number 0.01-1\n"},
    {"ratelimit ranges",
     U G "http_server: {forwards: [{name: f, upstream_group: g, "
         "ratelimit: {per_second: 0, burst: 10000001}}]}\n",
     "t.yaml:3:79: http_server.forwards[0].ratelimit.per_second: 0 is out of range; allowed: "
     "1-1000000\n"
     "t.yaml:3:89: http_server.forwards[0].ratelimit.burst: 10000001 is out of range; allowed: "
     "1-10000000\n"},
    {"ratelimit ipv6_prefix range",
     U G "http_server: {forwards: [{name: f, upstream_group: g, ratelimit: {ipv6_prefix: 31}},\n"
         "  {name: h, upstream_group: g, port: 3001, ratelimit: {ipv6_prefix: 129}},\n"
         "  {name: i, upstream_group: g, port: 3002, ratelimit: {ipv6_prefix: /64}}]}\n",
     "t.yaml:3:80: http_server.forwards[0].ratelimit.ipv6_prefix: 31 is out of range; allowed: "
     "32-128\n"
     "t.yaml:4:69: http_server.forwards[1].ratelimit.ipv6_prefix: 129 is out of range; allowed: "
     "32-128\n"
     "t.yaml:5:69: http_server.forwards[2].ratelimit.ipv6_prefix: found \"/64\"; expected a "
     "number 32-128\n"},
    {"booleans",
     U G "http_server: {forwards: [{name: f, upstream_group: g, "
         "ratelimit: {enabled: 'yes'}}]}\n"
         "x-a: &a {enabled: maybe}\n"
         "upstream_groups_x: 1\n",
     "t.yaml:3:76: http_server.forwards[0].ratelimit.enabled: found the string \"yes\"; expected "
     "true or false (write it without quotes)\n"
     "t.yaml:5:1: upstream_groups_x: unknown key \"upstream_groups_x\"; did you mean "
     "\"upstream_groups\"? (allowed: http_server, upstreams, upstream_groups, agent, haproxy, "
     "clients)\n"},
    {"enum with suggestion",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], balance: {strategy: round_robin}}]\n",
     "t.yaml:2:73: upstream_groups[0].balance.strategy: unknown strategy \"round_robin\"; did you "
     "mean \"roundrobin\"? (allowed: roundrobin, weighted_roundrobin, random, response_aware, "
     "failover, affinity, least_load)\n"},
    {"enum without suggestion",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], balance: {strategy: least_conn}}]\n",
     "t.yaml:2:73: upstream_groups[0].balance.strategy: unknown strategy \"least_conn\"; allowed: "
     "roundrobin, weighted_roundrobin, random, response_aware, failover, affinity, least_load\n"},
    /* ---- names and addresses ---- */
    {"bad names",
     "upstreams:\n  - {name: 'a b', url: 'http://u'}\n"
     "  - {name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, url: 'http://u'}\n"
     "  - {name: '', url: 'http://u'}\n",
     "t.yaml:2:12: upstreams[0].name: invalid name \"a b\"; expected a name of 1-48 letters, "
     "digits, '_', '.' or '-'\n"
     "t.yaml:3:12: upstreams[1].name: invalid name "
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; expected a name of 1-48 letters, "
     "digits, '_', '.' or '-'\n"
     "t.yaml:4:12: upstreams[2].name: invalid name \"\"; expected a name of 1-48 letters, digits, "
     "'_', '.' or '-'\n"},
    {"bad addresses",
     "http_server: {admin: {address: localhost}}\nagent: {spop: {address: '[::1]'}}\n",
     "t.yaml:1:32: http_server.admin.address: invalid address \"localhost\"; expected an IPv4 or "
     "IPv6 address such as 0.0.0.0, 127.0.0.1 or ::\n"
     "t.yaml:2:25: agent.spop.address: invalid address \"[::1]\"; expected an IPv4 or IPv6 "
     "address such as 0.0.0.0, 127.0.0.1 or ::\n"},
    /* ---- cross references ---- */
    {"dangling group with suggestion",
     U "upstream_groups: [{name: mixgroup, upstreams: [{name: u}]}]\n"
       "http_server: {forwards: [{name: f, upstream_group: mixgrp}]}\n",
     "t.yaml:3:52: http_server.forwards[0].upstream_group: group \"mixgrp\" is not defined; did "
     "you mean \"mixgroup\"? defined groups: mixgroup\n"},
    {"dangling group, none defined", "http_server: {forwards: [{name: f, default_group: g}]}\n",
     "t.yaml:1:51: http_server.forwards[0].upstream_group: group \"g\" is not defined; defined "
     "groups: none\n"},
    {"dangling upstream in a group",
     U "upstream_groups: [{name: g, upstreams: [{name: u}, {name: openai}]}]\n",
     "t.yaml:2:59: upstream_groups[0].upstreams[1].name: upstream \"openai\" is not defined; "
     "defined upstreams: u\n"},
    {"duplicate names",
     "upstreams: [{name: u, url: 'http://u'}, {name: u, url: 'http://v'}]\n"
     "upstream_groups: [{name: g, upstreams: [{name: u}]}, {name: g, upstreams: [{name: u}]}]\n"
     "http_server: {forwards: [{name: f, upstream_group: g}, {name: f, port: 3001, "
     "upstream_group: g}]}\n",
     "t.yaml:1:48: upstreams[1].name: duplicate upstream name \"u\"; it is first defined at line "
     "1:20\n"
     "t.yaml:2:61: upstream_groups[1].name: duplicate group name \"g\"; it is first defined at "
     "line 2:26\n"
     "t.yaml:3:63: http_server.forwards[1].name: duplicate forward name \"f\"; it is first "
     "defined at line 3:33\n"},
    {"upstream twice in a group",
     U "upstream_groups:\n  - name: g\n    upstreams:\n      - name: u\n      - name: u\n",
     "t.yaml:6:15: upstream_groups[0].upstreams[1].name: upstream \"u\" is listed twice in group "
     "\"g\"; it is first listed at line 5:15\n"},
    {"many defined names are cut short",
     "upstreams: [{name: a, url: 'http://a'}, {name: b, url: 'http://a'}, {name: c, url: "
     "'http://a'}, {name: d, url: 'http://a'}, {name: e, url: 'http://a'}, {name: f, url: "
     "'http://a'}, {name: g, url: 'http://a'}, {name: h, url: 'http://a'}, {name: i, url: "
     "'http://a'}, {name: j, url: 'http://a'}, {name: k, url: 'http://a'}]\n"
     "upstream_groups: [{name: x, upstreams: [{name: zzz}]}]\n",
     "t.yaml:2:48: upstream_groups[0].upstreams[0].name: upstream \"zzz\" is not defined; defined "
     "upstreams: a, b, c, d, e, f, g, h, i, j, ...\n"},
    /* ---- listeners ---- */
    {"two forwards on one port",
     U G "http_server:\n  forwards:\n    - {name: a, upstream_group: g}\n"
         "    - {name: b, upstream_group: g, address: 127.0.0.1, port: 3000}\n",
     "t.yaml:6:62: http_server.forwards[1].port: 127.0.0.1:3000 clashes with "
     "http_server.forwards[0] (0.0.0.0:3000, at line 5:14); every listener needs its own "
     "address:port\n"},
    {"forward on the default admin port",
     U G "http_server: {forwards: [{name: a, upstream_group: g, port: 9000}]}\n",
     "t.yaml:3:61: http_server.forwards[0].port: 0.0.0.0:9000 clashes with http_server.admin "
     "(0.0.0.0:9000, by default); every listener needs its own address:port\n"},
    {"IPv6 wildcard takes every address",
     "agent: {spop: {port: 9100}}\nhttp_server: {admin: {address: '::', port: 9100}}\n",
     "t.yaml:2:44: http_server.admin.port: [::]:9100 clashes with agent.spop (127.0.0.1:9100, at "
     "line 1:22); every listener needs its own address:port\n"},
    {"agent listeners", "agent: {spop: {port: 9300}, logs: {port: 9300, address: 127.0.0.1}}\n",
     "t.yaml:1:42: agent.logs.port: 127.0.0.1:9300 clashes with agent.spop (127.0.0.1:9300, at "
     "line 1:22); every listener needs its own address:port\n"},
    /* ---- rate limit ---- */
    {"burst below per_second",
     U G "http_server:\n  forwards:\n    - name: f\n      upstream_group: g\n"
         "      ratelimit: {per_second: 100, burst: 50}\n",
     "t.yaml:7:43: http_server.forwards[0].ratelimit.burst: 50 is below per_second (100); burst "
     "must be >= per_second\n"},
    {"per_second above the default burst",
     U G "http_server: {forwards: [{name: f, upstream_group: g, ratelimit: {per_second: 500}}]}\n",
     "t.yaml:3:79: http_server.forwards[0].ratelimit.per_second: 500 is above burst (200, the "
     "default); burst must be >= per_second, set burst too\n"},
    /* ---- admin token: described, never quoted (it is a secret) ---- */
    {"admin token too short", U G "http_server: {admin: {token: 'abc123'}}\n",
     "t.yaml:3:30: http_server.admin.token: 6 characters; a token needs 16 to 512 (e.g. openssl "
     "rand -hex 32)\n"},
    {"admin token with a space", U G "http_server: {admin: {token: 'abcdefgh ijklmnopq'}}\n",
     "t.yaml:3:30: http_server.admin.token: invalid character; allowed: letters, digits, -._~+/ "
     "and trailing = (an RFC 6750 bearer token)\n"},
    {"admin token with = inside", U G "http_server: {admin: {token: 'abcdefgh=ijklmnopq'}}\n",
     "t.yaml:3:30: http_server.admin.token: invalid character; allowed: letters, digits, -._~+/ "
     "and trailing = (an RFC 6750 bearer token)\n"},
    /* ---- auth ---- */
    {"bearer without token", "upstreams: [{name: u, url: 'http://u', auth: {type: bearer}}]\n",
     "t.yaml:1:46: upstreams[0].auth.token: missing; auth type bearer requires it\n"},
    {"bearer with empty token",
     "upstreams: [{name: u, url: 'http://u', auth: {type: bearer, token: ''}}]\n",
     "t.yaml:1:68: upstreams[0].auth.token: empty; auth type bearer requires a non-empty value\n"},
    {"basic without password, user with colon",
     "upstreams: [{name: u, url: 'http://u', auth: {type: basic, username: 'a:b'}}]\n",
     "t.yaml:1:46: upstreams[0].auth.password: missing; auth type basic requires it\n"
     "t.yaml:1:70: upstreams[0].auth.username: contains ':'; a basic auth user name cannot (RFC "
     "7617)\n"},
    {"unknown auth type",
     "upstreams: [{name: u, url: 'http://u', auth: {type: Bearer, token: t}}]\n",
     "t.yaml:1:53: upstreams[0].auth.type: unknown type \"Bearer\"; did you mean \"bearer\"? "
     "(allowed: none, bearer, basic)\n"},
    /* ---- throttle ---- */
    {"throttle header name not a token",
     "upstreams: [{name: u, url: 'http://u', throttle: {headers: {reset_tokens: 'a(b)'}}}]\n",
     "t.yaml:1:75: upstreams[0].throttle.headers.reset_tokens: invalid header name \"a(b)\"; "
     "allowed: letters, digits and !%&*+-.^_`|~ (an RFC 9110 token without #$')\n"},
    {"throttle header name with a comment sign",
     "upstreams: [{name: u, url: 'http://u', throttle: {headers: {remaining_tokens: 'x#y'}}}]\n",
     "t.yaml:1:79: upstreams[0].throttle.headers.remaining_tokens: invalid header name \"x#y\"; "
     "allowed: letters, digits and !%&*+-.^_`|~ (an RFC 9110 token without #$')\n"},
    {"throttle default above its cap",
     "upstreams: [{name: u, url: 'http://u', throttle: {retry_after_default: 60, "
     "retry_after_max: 30}}]\n",
     "t.yaml:1:72: upstreams[0].throttle.retry_after_default: 60 is above retry_after_max (30); "
     "allowed: 1 to retry_after_max\n"},
    {"throttle cap out of range",
     "upstreams: [{name: u, url: 'http://u', throttle: {retry_after_max: 0}}]\n",
     "t.yaml:1:68: upstreams[0].throttle.retry_after_max: 0 is out of range; allowed: "
     "1-86400\n"},
    /* ---- header operations ---- */
    {"header name not a token",
     "upstreams: [{name: u, url: 'http://u', headers: [{op: insert, key: 'X Team', value: a}]}]\n",
     "t.yaml:1:68: upstreams[0].headers[0].key: invalid header name \"X Team\"; allowed: letters, "
     "digits and !#$%&*+-.^_`|~ (an RFC 9110 token without ')\n"},
    {"header injection: CR LF in a value",
     "upstreams: [{name: u, url: 'http://u', headers: [{op: insert, key: X-A, value: \"a\\r\\nX-B: "
     "1\"}]}]\n",
     "t.yaml:1:80: upstreams[0].headers[0].value: contains the control character \"\\r\" at "
     "character 2; line breaks, NUL and other control characters are not allowed (they could "
     "inject headers or configuration lines)\n"},
    {"header injection: LF and NUL in a key",
     "upstreams: [{name: u, url: 'http://u', headers: [{op: remove, key: \"X-A\\nB\"}, {op: "
     "remove, key: \"X\\0\"}]}]\n",
     "t.yaml:1:68: upstreams[0].headers[0].key: contains the control character \"\\n\" at "
     "character 4; line breaks, NUL and other control characters are not allowed (they could "
     "inject headers or configuration lines)\n"
     "t.yaml:1:97: upstreams[0].headers[1].key: contains the control character \"\\x00\" at "
     "character 2; line breaks, NUL and other control characters are not allowed (they could "
     "inject headers or configuration lines)\n"},
    {"framing headers refused",
     "upstreams: [{name: u, url: 'http://u', headers: [{op: remove, key: content-length}, "
     "{op: replace, key: Upgrade, value: h2c}]}]\n",
     "t.yaml:1:68: upstreams[0].headers[0].key: header \"content-length\" is managed by HAProxy; "
     "Content-Length, Transfer-Encoding, Connection and Upgrade cannot be changed\n"
     "t.yaml:1:104: upstreams[0].headers[1].key: header \"Upgrade\" is managed by HAProxy; "
     "Content-Length, Transfer-Encoding, Connection and Upgrade cannot be changed\n"},
    {"insert and replace need a value",
     "upstreams: [{name: u, url: 'http://u', headers: [{op: insert, key: X-A}, {op: replace, "
     "key: X-B, value: ''}]}]\n",
     "t.yaml:1:50: upstreams[0].headers[0].value: missing; op insert requires a value\n"
     "t.yaml:1:105: upstreams[0].headers[1].value: empty; op replace requires a non-empty value\n"},
    {"header op and key required, op unknown",
     "upstreams: [{name: u, url: 'http://u', headers: [{key: X-A}, {op: delete, key: X-B}]}]\n",
     "t.yaml:1:50: upstreams[0].headers[0].op: missing; this key is required\n"
     "t.yaml:1:67: upstreams[0].headers[1].op: unknown op \"delete\"; allowed: insert, replace, "
     "remove\n"},
    /* ---- URLs ---- */
    {"upstream URL errors",
     "upstreams:\n"
     "  - {name: a, url: 'ftp://x'}\n"
     "  - {name: b, url: 'api.openai.com/v1'}\n"
     "  - {name: c, url: 'https://key:secret@api/v1'}\n"
     "  - {name: d, url: 'https://api/v1?model=x'}\n"
     "  - {name: e, url: 'https://api/v1#top'}\n"
     "  - {name: f, url: 'http://api:0'}\n"
     "  - {name: g, url: 'http:///v1'}\n"
     "  - {name: h, url: 'http://[::g]/'}\n"
     "  - {name: i, url: 'http://a/b c'}\n"
     "  - {name: j, url: 'http://a b/'}\n"
     "  - {name: k, url: 'http://300.1.1.1/'}\n",
     "t.yaml:2:20: upstreams[0].url: unsupported scheme \"ftp\"; allowed: http, https\n"
     "t.yaml:3:20: upstreams[1].url: not a URL; expected http(s)://host[:port][/base/path]\n"
     "t.yaml:4:20: upstreams[2].url: credentials (\"user@\") are not allowed in the URL; use auth "
     "with type bearer or basic\n"
     "t.yaml:5:20: upstreams[3].url: a query string (\"?...\") is not allowed; give the base URL "
     "only\n"
     "t.yaml:6:20: upstreams[4].url: a fragment (\"#...\") is not allowed\n"
     "t.yaml:7:20: upstreams[5].url: invalid port \"0\"; allowed: 1-65535\n"
     "t.yaml:8:20: upstreams[6].url: the URL has no host; expected scheme://host\n"
     "t.yaml:9:20: upstreams[7].url: invalid IPv6 address \"[::g]\"\n"
     "t.yaml:10:20: upstreams[8].url: the character \" \" is not allowed in a URL path; "
     "percent-encode it\n"
     "t.yaml:11:20: upstreams[9].url: invalid host \"a b\"; expected a DNS name, an IPv4 address "
     "or [IPv6 address]\n"
     "t.yaml:12:20: upstreams[10].url: invalid host \"300.1.1.1\"; expected a DNS name, an IPv4 "
     "address or [IPv6 address]\n"},
    {"proxy URL errors",
     U "upstream_groups:\n"
       "  - {name: a, upstreams: [{name: u}], http_client: {proxy: {enabled: true}}}\n"
       "  - {name: b, upstreams: [{name: u}], http_client: {proxy: {enabled: true, url: "
       "'https://p:8443'}}}\n"
       "  - {name: c, upstreams: [{name: u}], http_client: {proxy: {enabled: true, url: "
       "'http://u:p@proxy'}}}\n"
       "  - {name: d, upstreams: [{name: u}], http_client: {proxy: {enabled: true, url: "
       "'http://proxy:3128/x'}}}\n"
       "  - {name: e, upstreams: [{name: u}], http_client: {proxy: {enabled: false, url: "
       "'garbage'}}}\n",
     "t.yaml:3:60: upstream_groups[0].http_client.proxy.url: missing; required when enabled is "
     "true\n"
     "t.yaml:4:81: upstream_groups[1].http_client.proxy.url: unsupported scheme \"https\"; a proxy "
     "URL must be http://host:port\n"
     "t.yaml:5:81: upstream_groups[2].http_client.proxy.url: the proxy URL has no port; expected "
     "http://host:port\n"
     "t.yaml:6:81: upstream_groups[3].http_client.proxy.url: a path, query or fragment is not "
     "allowed; expected http://host:port\n"},
};

START_TEST(rule)
{
    const struct rule_case *c = &cases[_i];
    char *text = ctu_errors(c->yaml);

    ck_assert_msg(strcmp(text, c->expected) == 0, "case \"%s\":\n got: %s\nwant: %s", c->name, text,
                  c->expected);
    free(text);
}
END_TEST

static const char *const valid_cases[] = {
    /* URLs that must be accepted, and what a group may leave out. */
    "upstreams:\n"
    "  - {name: a, url: 'HTTPS://API.example.com:8443/v1/'}\n"
    "  - {name: b, url: 'http://10.0.0.1'}\n"
    "  - {name: c, url: 'http://[::1]:8080'}\n"
    "  - {name: d, url: 'http://host_1.internal/a%20b/c'}\n"
    "upstream_groups: [{name: g, upstreams: [{name: a}, {name: b}, {name: c}, {name: d}]}]\n",
    /* Different addresses may share a port; remove may carry a value. */
    U G "http_server:\n  admin: {address: 127.0.0.1}\n  forwards:\n"
        "    - {name: a, upstream_group: g, address: 127.0.0.2, port: 9000}\n"
        "    - {name: b, upstream_group: g, address: '::1', port: 9000}\n"
        "x-h: [{op: remove, key: X-A, value: ignored}]\n",
    /* Proxy with credentials; burst equal to per_second. */
    U "upstream_groups: [{name: g, upstreams: [{name: u}], http_client: {proxy: {enabled: true, "
      "url: 'http://user:pass@proxy:3128/'}}}]\n"
      "http_server: {forwards: [{name: f, upstream_group: g, ratelimit: {per_second: 300, burst: "
      "300}}]}\n",
    /* An admin token: hex, or base64 with padding. */
    U G "http_server: {admin: {token: '0123456789abcdef0123456789abcdef'}}\n",
    U G "http_server: {admin: {token: 'q83vEjRWeJq8/+3v-._~AAAAA=='}}\n",
};

START_TEST(valid)
{
    char *text;
    struct config *cfg = ctu_load(valid_cases[_i], NULL, &text);

    ck_assert_msg(cfg != NULL, "case %d:\n%s", _i, text);
    ck_assert_str_eq(text, "");
    free(text);
    config_free(cfg);
}
END_TEST

START_TEST(parsed_urls)
{
    char *text;
    struct config *cfg = ctu_load(valid_cases[0], NULL, &text);
    const struct conf_upstream *u;

    ck_assert_ptr_nonnull(cfg);
    u = cfg->upstreams;
    ck_assert(u[0].parsed.tls);
    ck_assert_str_eq(u[0].parsed.host, "API.example.com");
    ck_assert_uint_eq(u[0].parsed.port, 8443);
    ck_assert_str_eq(u[0].parsed.base_path, "/v1");
    ck_assert_uint_eq(u[1].parsed.port, 80);
    ck_assert_str_eq(u[1].parsed.base_path, "");
    ck_assert_str_eq(u[2].parsed.host, "::1");
    ck_assert_str_eq(u[3].parsed.base_path, "/a%20b/c");
    ck_assert_ptr_null(u[0].parsed.userinfo);
    free(text);
    config_free(cfg);
    cfg = ctu_load(valid_cases[2], NULL, &text);
    ck_assert_ptr_nonnull(cfg);
    ck_assert(cfg->groups[0].client.proxy_enabled);
    ck_assert_str_eq(cfg->groups[0].client.proxy.host, "proxy");
    ck_assert_uint_eq(cfg->groups[0].client.proxy.port, 3128);
    ck_assert_str_eq(cfg->groups[0].client.proxy.userinfo, "user:pass");
    free(text);
    config_free(cfg);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("config_rules");
    TCase *tc = tcase_create("rules");

    tcase_add_loop_test(tc, rule, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_loop_test(tc, valid, 0, (int)(sizeof(valid_cases) / sizeof(valid_cases[0])));
    tcase_add_test(tc, parsed_urls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rules_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
