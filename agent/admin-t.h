/*
 * The agent's admin HTTP server (types only; functions are in admin.h).
 */
#ifndef LLMPROXY_ADMIN_T_H
#define LLMPROXY_ADMIN_T_H

#include <stdbool.h>
#include <stdint.h>

#include "acceptor-t.h"
#include "buf-t.h"

/* Connections served at once (or an eighth of the descriptor limit if lower). When all are
 * taken, the idle one least likely to be a real client is evicted for the newcomer, so a
 * liveness probe always gets in; only when every one is busy writing is a newcomer refused. */
#define ADMIN_MAX_CONNS 256
/* Largest response body (the /metrics page); a larger page is answered 500. */
#define ADMIN_MAX_BODY ((size_t)64 * 1024 * 1024)
/* How long a closing connection may take to send its last bytes and hang up. */
#define ADMIN_LINGER_S 2.0

/* Renders a page into `out`; false when it could not (the client gets 500). */
typedef bool admin_render_fn(void *ctx, struct buf *out);

/* A page rendered afresh on every GET of `path` (the query string is ignored). */
struct admin_page {
    const char *path;
    const char *content_type;
    admin_render_fn *render;
};

struct admin_stats {
    uint64_t open;                   /* connections open now (the acceptor's count) */
    uint64_t unauthorized;           /* requests answered 401: token missing or wrong */
    struct acceptor_stats admission; /* refused and evicted connections */
};

#endif /* LLMPROXY_ADMIN_T_H */
