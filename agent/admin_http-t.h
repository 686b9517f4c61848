/*
 * One HTTP/1.x request head as the admin endpoint reads it (types only; see admin_http.h).
 */
#ifndef LLMPROXY_ADMIN_HTTP_T_H
#define LLMPROXY_ADMIN_HTTP_T_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds of a request head: the whole head, its request line, its path, its headers. */
#define ADMIN_HTTP_MAX_HEAD    8192
#define ADMIN_HTTP_MAX_LINE    2048
#define ADMIN_HTTP_MAX_HEADERS 64

enum admin_http_result {
    ADMIN_HTTP_INCOMPLETE = 0, /* no complete head yet, and nothing wrong so far */
    ADMIN_HTTP_DONE,           /* a complete, acceptable head: see the request */
    ADMIN_HTTP_ERROR,          /* refuse with `status`; the connection must close */
};

struct admin_request {
    const char *path; /* the target up to '?' or '#', a view into the parsed bytes */
    size_t path_len;
    unsigned minor;            /* HTTP/1.<minor>, 0 or 1 */
    bool keep_alive;           /* the client allows another request on this connection */
    const char *authorization; /* the Authorization value, trimmed; NULL when absent */
    size_t authorization_len;
    size_t head_len; /* bytes of the head, blank line included */
    int status;      /* ADMIN_HTTP_ERROR: 400, 405, 413, 414, 431 or 505 */
    const char *why; /* ADMIN_HTTP_ERROR: a short explanation for the response body */
};

#endif /* LLMPROXY_ADMIN_HTTP_T_H */
