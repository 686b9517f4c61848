/*
 * libFuzzer harness: request heads sent to the admin endpoint (admin_http_parse).
 *
 * The endpoint parses what it has received so far and parses again as more arrives, so
 * the head is offered growing, cut at boundaries that follow from its first byte, each
 * prefix in an exact-size buffer. The first verdict other than INCOMPLETE is final: every
 * longer prefix, the whole input included, must give the same one. A DONE head must lie
 * within the bytes and its path within the head; an ERROR must carry a documented status.
 * The Authorization value of a DONE head must lie within the head too, and is put through
 * the bearer-token check as the endpoint would.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin_auth.h"
#include "admin_http.h"
#include "util/chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TOKEN "fuzz-token-0123456789abcdef"

static bool error_status_ok(int status)
{
    switch (status) {
    case 400:
    case 405:
    case 413:
    case 414:
    case 431:
    case 505:
        return true;
    default:
        return false;
    }
}

static void check_request(enum admin_http_result r, const struct admin_request *req,
                          const uint8_t *buf, size_t len)
{
    const char *start = (const char *)buf;

    if (r == ADMIN_HTTP_DONE) {
        if (req->head_len == 0 || req->head_len > len || req->head_len > ADMIN_HTTP_MAX_HEAD ||
            req->minor > 1 || req->path_len > ADMIN_HTTP_MAX_LINE)
            abort();
        if (req->path_len > 0 &&
            (req->path < start || req->path + req->path_len > start + req->head_len))
            abort();
        if (req->authorization &&
            (req->authorization < start ||
             req->authorization + req->authorization_len > start + req->head_len))
            abort();
        /* Only the token's exact bytes may pass; the seeds never hold them. */
        if (admin_auth_ok(req->authorization, req->authorization_len, FUZZ_TOKEN) &&
            (req->authorization_len < sizeof(FUZZ_TOKEN) - 1 ||
             memcmp(req->authorization + req->authorization_len - (sizeof(FUZZ_TOKEN) - 1),
                    FUZZ_TOKEN, sizeof(FUZZ_TOKEN) - 1) != 0))
            abort();
    } else if (r == ADMIN_HTTP_ERROR) {
        if (!error_status_ok(req->status) || !req->why || !admin_http_reason(req->status))
            abort();
    } else if (r != ADMIN_HTTP_INCOMPLETE) {
        abort();
    }
}

/* Verdicts of two prefixes of one input, the first of them already final. */
static bool same_verdict(enum admin_http_result ra, const struct admin_request *a,
                         enum admin_http_result rb, const struct admin_request *b)
{
    if (ra != rb)
        return false;
    if (ra == ADMIN_HTTP_ERROR)
        return a->status == b->status;
    return a->head_len == b->head_len && a->path_len == b->path_len && a->minor == b->minor &&
           a->keep_alive == b->keep_alive && a->authorization_len == b->authorization_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chunks pieces;
    const uint8_t *piece;
    enum admin_http_result first = ADMIN_HTTP_INCOMPLETE;
    struct admin_request first_req = {0};
    size_t have = 0, n;

    if (size == 0)
        return 0;
    chunks_init(&pieces, data, size, data[0]);
    while ((n = chunks_next(&pieces, &piece)) > 0) {
        uint8_t *prefix = exact_copy(data, have += n);
        struct admin_request req = {0};
        enum admin_http_result r = admin_http_parse((const char *)prefix, have, &req);

        check_request(r, &req, prefix, have);
        if (first != ADMIN_HTTP_INCOMPLETE && !same_verdict(first, &first_req, r, &req))
            abort();
        if (first == ADMIN_HTTP_INCOMPLETE) {
            first = r;
            first_req = req;
        }
        free(prefix);
    }
    return 0;
}
