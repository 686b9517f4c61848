/*
 * A tiny blocking HTTP/1.0 GET, enough for llmproxy-ctl to read the agent's admin
 * endpoint: one request, the answer read until the server closes, all within a deadline.
 * Plain HTTP only; no redirects, no chunked bodies (an HTTP/1.0 answer has none).
 */
#ifndef LLMPROXY_HTTP_GET_H
#define LLMPROXY_HTTP_GET_H

#include <stddef.h>
#include <stdint.h>

struct http_answer {
    int status; /* e.g. 200 */
    char *body; /* malloc'd, NUL-terminated; free with http_answer_free() */
    size_t body_len;
};

/*
 * GET `path` from `host` (an IP literal or a name) on `port`, with "Authorization: Bearer
 * <bearer>" unless `bearer` is NULL or empty, waiting at most `timeout_ms`
 * for the whole exchange and accepting at most `max_answer` bytes of answer. Returns 0, or
 * -1 with a message ("connection refused", "no answer within 3000 ms") in `err`.
 */
int http_get(const char *host, uint16_t port, const char *path, const char *bearer, int timeout_ms,
             size_t max_answer, struct http_answer *out, char *err, size_t err_size);

void http_answer_free(struct http_answer *a);

#endif /* LLMPROXY_HTTP_GET_H */
