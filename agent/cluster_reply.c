/*
 * Checks of every reply before anything in it is used.
 */
#include <stdio.h>
#include <string.h>

#include "cluster_reply.h"

#define SHA_HEX_LEN 40

/* hiredis' own reply builders, but for arrays; filled from the first reader capped (the
 * loop is single-threaded). */
static redisReplyObjectFunctions capped_functions;
static void *(*default_create_array)(const redisReadTask *, int);

static void *create_capped_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || elements > CLUSTER_REPLY_MAX_ELEMENTS)
        return NULL;
    return default_create_array(task, elements);
}

void cluster_reply_cap_arrays(redisReader *reader)
{
    if (!default_create_array) {
        capped_functions = *reader->fn;
        default_create_array = capped_functions.createArray;
        capped_functions.createArray = create_capped_array;
    }
    reader->fn = &capped_functions;
}

/* An error reply's first bytes, with anything unprintable replaced: it goes to the log. */
static int error_text(const redisReply *r, const char *what, char *err, size_t errlen)
{
    char text[81];
    size_t n = 0;

    if (r && r->type == REDIS_REPLY_ERROR && r->str) {
        for (; n < r->len && n < sizeof(text) - 1; n++)
            text[n] = r->str[n] >= 0x20 && r->str[n] < 0x7f ? r->str[n] : '?';
    }
    text[n] = '\0';
    if (n)
        snprintf(err, errlen, "%s: Redis answered %s", what, text);
    else
        snprintf(err, errlen, "%s: unexpected reply (type %d)", what, r ? r->type : -1);
    return -1;
}

int cluster_reply_levels(const redisReply *r, size_t n, int64_t limit_mt, int64_t *levels,
                         char *err, size_t errlen)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return error_text(r, "sync", err, errlen);
    if (r->elements != n || (n && !r->element)) {
        snprintf(err, errlen, "sync: %zu levels for %zu buckets", r->elements, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];

        if (!e || e->type != REDIS_REPLY_INTEGER || e->integer > limit_mt ||
            e->integer < -limit_mt) {
            snprintf(err, errlen, "sync: level %zu is not an integer within +-%lld", i,
                     (long long)limit_mt);
            return -1;
        }
        levels[i] = e->integer;
    }
    return 0;
}

int cluster_reply_ok(const redisReply *r, char *sha, char *err, size_t errlen)
{
    if (!sha) {
        if (r && r->type == REDIS_REPLY_STATUS && r->str && r->len == 2 &&
            memcmp(r->str, "OK", 2) == 0)
            return 0;
        return error_text(r, "setup", err, errlen);
    }
    if (!r || r->type != REDIS_REPLY_STRING || !r->str || r->len != SHA_HEX_LEN ||
        strspn(r->str, "0123456789abcdef") != SHA_HEX_LEN)
        return error_text(r, "script load", err, errlen);
    memcpy(sha, r->str, SHA_HEX_LEN);
    sha[SHA_HEX_LEN] = '\0';
    return 0;
}
