#include <string.h>
#include <strings.h>

#include "conf_retry_path.h"
#include "config.h"

static bool same_header_ops(const struct conf_upstream *a, const struct conf_upstream *b)
{
    if (a->n_headers != b->n_headers)
        return false;
    for (size_t i = 0; i < a->n_headers; i++) {
        const struct conf_header_op *x = &a->headers[i], *y = &b->headers[i];

        if (x->op != y->op || strcasecmp(x->key.val, y->key.val) != 0)
            return false;
        /* An insert keeps a value already there: the first member's would stay. */
        if (x->op == HDR_INSERT &&
            (!conf_same_text(x->value.val, y->value.val) || !conf_same_text(x->value.tmpl, y->value.tmpl)))
            return false;
    }
    return true;
}

/* A retry that a listener rewrites for its own member is then exactly the request that
 * member would have got from the client, with no credential of the first member left. */
static bool members_interchangeable(const struct config *cfg, const struct conf_group *g)
{
    const struct conf_upstream *first = &cfg->upstreams[g->members[0].upstream];

    for (size_t i = 1; i < g->n_members; i++) {
        const struct conf_upstream *up = &cfg->upstreams[g->members[i].upstream];

        if (strcmp(up->parsed.base_path, first->parsed.base_path) != 0 ||
            (up->auth == AUTH_NONE) != (first->auth == AUTH_NONE) || !same_header_ops(up, first))
            return false;
    }
    return true;
}

bool conf_group_retries_from_pinned(const struct config *cfg, const struct conf_group *g)
{
    if (!g->client.retry_enabled || g->n_members == 0)
        return false;
    for (size_t i = 0; i < g->n_members; i++)
        if (g->members[i].max_in_flight > 0)
            return false;
    return members_interchangeable(cfg, g);
}
