/*
 * The HTTP CONNECT exchange with a forward proxy (types only; functions are in
 * connect_proxy.h).
 */
#ifndef LLMPROXY_CONNECT_PROXY_T_H
#define LLMPROXY_CONNECT_PROXY_T_H

#include <stddef.h>

/* Longest proxy response head read before giving up: proxies answer CONNECT in a few
 * hundred bytes; anything longer is not a proxy worth waiting for. */
#define CONNECT_PROXY_HEAD_MAX 8192

/* Longest CONNECT request built: the target, a Host header and a Basic credential. */
#define CONNECT_PROXY_REQUEST_MAX 2048

enum connect_proxy_head {
    CONNECT_PROXY_INCOMPLETE = 0, /* no end of head yet: read more */
    CONNECT_PROXY_DONE,           /* a whole head: status and head_len are set */
    CONNECT_PROXY_MALFORMED,      /* not an HTTP/1.x status line */
    CONNECT_PROXY_TOO_LONG,       /* no end of head within CONNECT_PROXY_HEAD_MAX */
};

/* What the proxy answered. Bytes past head_len already belong to the tunnel. */
struct connect_proxy_response {
    int status;      /* 100..999; 2xx opens the tunnel */
    size_t head_len; /* status line, headers and the empty line */
};

#endif /* LLMPROXY_CONNECT_PROXY_T_H */
