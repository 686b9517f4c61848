/*
 * CONNECT tunnels to a forward proxy (types only; functions are in tunnel.h).
 */
#ifndef LLMPROXY_TUNNEL_T_H
#define LLMPROXY_TUNNEL_T_H

#include <stdint.h>

/* Why a connection HAProxy opened never carried the upstream's bytes. */
enum tunnel_fail {
    TUNNEL_FAIL_RESOLVE = 0, /* the proxy's name did not resolve */
    TUNNEL_FAIL_CONNECT,     /* the proxy could not be reached */
    TUNNEL_FAIL_REFUSED,     /* the proxy answered CONNECT with a non-2xx status */
    TUNNEL_FAIL_PROTOCOL,    /* the proxy's answer was not an HTTP head within bounds */
    TUNNEL_FAIL_CLOSED,      /* the proxy closed or reset before answering */
    TUNNEL_FAIL_TIMEOUT,     /* no answer within the group's connect timeout */
    TUNNEL_FAIL_RESOURCE,    /* out of sockets, memory or the connection bound */
    TUNNEL_FAIL_COUNT,
};

/* Counters of one tunnel since the agent started. */
struct tunnel_stats {
    uint64_t accepted;    /* connections HAProxy opened */
    uint64_t established; /* the proxy answered 2xx */
    uint64_t active;      /* open now */
    uint64_t failed[TUNNEL_FAIL_COUNT];
    uint64_t bytes_up;   /* HAProxy -> proxy, after the CONNECT */
    uint64_t bytes_down; /* proxy -> HAProxy, after the CONNECT answer */
    int last_status;     /* the last non-2xx status the proxy sent, 0 if none */
};

#endif /* LLMPROXY_TUNNEL_T_H */
