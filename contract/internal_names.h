/*
 * Names inside the rendered HAProxy configuration that something other than that file
 * relies on. llmproxy-ctl writes them into haproxy.cfg (ctl/render_haproxy.c); the agent
 * finds HAProxy by them: the pinned backend's prefix in the log line (agent/logline.c),
 * the group backend's servers on the runtime API (agent/mirror.c), that API's socket
 * (agent/main.c) and the log ring's forwarder (agent/feed_rescue.c). Group, upstream and forward names are restricted to [A-Za-z0-9_.-], so
 * none of these needs quoting.
 */
#ifndef LLMPROXY_CONTRACT_INTERNAL_NAMES_H
#define LLMPROXY_CONTRACT_INTERNAL_NAMES_H

/* The proxies of the data path (docs/rendering.md). */
#define HAPROXY_FRONTEND_FMT "fwd_%s"    /* forward */
#define HAPROXY_GROUP_FMT    "grp_%s"    /* group backend */
#define HAPROXY_LISTEN_FMT   "up_%s__%s" /* group, upstream: per-member listener */

/*
 * Backends whose name starts with this hold one real server, the upstream of the same
 * name, reached directly from the frontend when the agent chose it. In a group with
 * retries they also hold a server per other member, named with HAPROXY_RETRY_SERVER_PREFIX,
 * that leads to that member's listener: a retry goes there.
 */
#define HAPROXY_PINNED_PREFIX "pin_"
#define HAPROXY_PINNED_FMT    HAPROXY_PINNED_PREFIX "%s__%s" /* group, upstream */

/*
 * ':' is in no configured name, so these never clash with the real server. HAProxy logs
 * the last server a request went to: with this prefix, the first attempt failed and the
 * member named after it took the retry, behind its listener.
 */
#define HAPROXY_RETRY_SERVER_PREFIX "retry:"

/*
 * The header that carries the client request's id from the group backend to the
 * upstream layer. The group backend overwrites it and the listener deletes it, so a
 * client can neither forge it nor see it reach an upstream.
 */
#define HAPROXY_ID_HEADER "x-llmproxy-id"

/*
 * What the agent's forward-proxy tunnel (agent/tunnel.c) answers HAProxy in place of a
 * plain http upstream the proxy did not reach: a response head with this header and
 * value, which that upstream's listener and pinned backend turn into the JSON 502
 * upstream_unreachable (docs/rendering.md). HAProxy has sent the request by then, so
 * closing the tunnel alone would look like an upstream that closed without answering.
 */
#define HAPROXY_TUNNEL_HEADER      "x-llmproxy-tunnel"
#define HAPROXY_TUNNEL_UNREACHABLE "unreachable"

/*
 * HAProxy before 3.1 cannot retry on a 429. In a group with retries, an upstream's 429
 * leaves its listener as a 503 (which the group backend retries on another member) that
 * carries this header; the frontend turns a response that still has it back into the
 * upstream's 429. The listener deletes the header from what the upstream sent first, so
 * only our own rule sets it.
 */
#define HAPROXY_RELAYED_429_HEADER "x-llmproxy-relayed-429"

/* The ring that carries every stream's log line to the agent's log feed; also the name of
 * its forwarder's frontend and backend in HAProxy's `show sess` (agent/feed_rescue.c). */
#define HAPROXY_LOG_RING "llm_logs"

/* HAProxy's runtime API (`stats socket`), inside haproxy.run_dir. */
#define HAPI_SOCKET_NAME "haproxy.sock"

#endif /* LLMPROXY_CONTRACT_INTERNAL_NAMES_H */
