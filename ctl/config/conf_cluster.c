/*
 * agent.cluster: where the shared token buckets live (Redis) and how often the agents
 * sync them. Only keys that exist here load; the walker reports the others with their
 * position.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_cluster.h"
#include "conf_diag.h"
#include "conf_walk.h"
#include "config.h"

#define REDIS_SCHEME  "redis://"
#define REDISS_SCHEME "rediss://"

/* Characters of a host name or an IPv4 literal; an IPv6 literal is bracketed. */
static const char host_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";

static int url_error(char *err, size_t errlen, const char *what, const char *s)
{
    char q[CONF_QUOTE_BUF];

    snprintf(err, errlen,
             "%s in %s; allowed: redis://HOST[:PORT][/DB] (DB 0-%d; the password in "
             "password:, not in the URL)",
             what, conf_quote(q, sizeof(q), s, strlen(s)), CONF_REDIS_MAX_DB);
    return -1;
}

/* A decimal number of 1 to 5 digits at `p` up to `end`, at most `max`. */
static bool small_number(const char *p, const char *end, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    if (end <= p || end - p > 5)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    *out = v;
    return v <= max;
}

int conf_redis_url_parse(const char *s, struct conf_redis_url *out, char *err, size_t errlen)
{
    const char *p, *host, *host_end, *end;
    unsigned long n;
    size_t len;

    memset(out, 0, sizeof(*out));
    out->port = CONF_REDIS_DEFAULT_PORT;
    if (strncasecmp(s, REDISS_SCHEME, strlen(REDISS_SCHEME)) == 0) {
        snprintf(err, errlen,
                 "rediss:// (TLS) is not supported: the hiredis this agent is built with "
                 "(Debian 12's 0.14) has no TLS; use redis:// on a trusted network, or a TLS "
                 "tunnel (stunnel, a service mesh) to the Redis");
        return -1;
    }
    if (strncasecmp(s, REDIS_SCHEME, strlen(REDIS_SCHEME)) != 0)
        return url_error(err, errlen, "no redis:// scheme", s);
    p = s + strlen(REDIS_SCHEME);
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return url_error(err, errlen, "credentials", s);
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end || strspn(host, "0123456789abcdefABCDEF:.") != (size_t)(host_end - host))
            return url_error(err, errlen, "a bad IPv6 literal", s);
        p = host_end + 1;
    } else {
        host = p;
        host_end = p + strspn(p, host_chars);
        if (host_end > end)
            host_end = end;
        p = host_end;
    }
    len = (size_t)(host_end - host);
    if (len == 0 || len > CONF_REDIS_HOST_MAX)
        return url_error(err, errlen, len ? "a host name over 253 bytes" : "no host", s);
    memcpy(out->host, host, len);
    out->host[len] = '\0';
    if (*p == ':') {
        if (!small_number(p + 1, end, 65535, &n) || n == 0)
            return url_error(err, errlen, "a bad port (allowed: 1-65535)", s);
        out->port = (uint16_t)n;
        p = end;
    }
    if (p != end)
        return url_error(err, errlen, "unexpected characters after the host", s);
    if (*p == '/' && p[1]) {
        if (!small_number(p + 1, p + strlen(p), CONF_REDIS_MAX_DB, &n))
            return url_error(err, errlen, "a bad database number", s);
        out->db = (uint32_t)n;
    } else if (*p && strcmp(p, "/") != 0) {
        return url_error(err, errlen, "a query or fragment", s);
    }
    return 0;
}

/* What a key prefix may hold: printable, no space, nothing Redis' glob patterns read. */
static const char prefix_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";
#define KEY_PREFIX_MAX 64
#define PASSWORD_MAX   512

static void redis_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen)
{
    struct conf_cluster *c = obj;
    struct conf_redis_url url;
    char err[512], q[CONF_QUOTE_BUF];
    const char *pfx = c->key_prefix.val;

    (void)seen;
    if (!c->url.val) {
        struct conf_pos pos = conf_walk_pos(w, map);

        conf_walk_error(w, &pos, "url", "missing; required: redis://HOST[:PORT][/DB]");
    } else if (conf_redis_url_parse(c->url.val, &url, err, sizeof(err)) < 0) {
        conf_walk_error(w, &c->url.pos, "url", "%s", err);
    } else {
        c->host = conf_walk_strdup(w, url.host, strlen(url.host));
        c->port = url.port;
        c->db = url.db;
    }
    /* A secret: the message says what is wrong with it, never what it is. */
    if (c->password.val && (!c->password.val[0] || strlen(c->password.val) > PASSWORD_MAX))
        conf_walk_error(w, &c->password.pos, "password",
                        "%zu bytes; a password has 1 to %d (empty: leave the key out)",
                        strlen(c->password.val), PASSWORD_MAX);
    if (pfx && (strlen(pfx) > KEY_PREFIX_MAX || strspn(pfx, prefix_chars) != strlen(pfx)))
        conf_walk_error(w, &c->key_prefix.pos, "key_prefix",
                        "%s is not allowed; at most %d letters, digits, '.', '_', ':' or '-'",
                        conf_quote(q, sizeof(q), pfx, strlen(pfx)), KEY_PREFIX_MAX);
}

#define CLUSTER_INT(n, member, lo, hi, d)                                                          \
    {                                                                                              \
        .name = n, .type = CONF_T_INT, .off = offsetof(struct conf_cluster, member),               \
        .size = sizeof(uint32_t), .min = lo, .max = hi, .def = d                                   \
    }
#define CLUSTER_STR(n, member, d)                                                                  \
    {                                                                                              \
        .name = n, .type = CONF_T_STR, .off = offsetof(struct conf_cluster, member), .def_str = d  \
    }

static const struct conf_key redis_keys[] = {
    CLUSTER_STR("url", url, NULL),
    CLUSTER_STR("password", password, NULL),
    /* Redis on the same network answers in well under a millisecond: a few missed
     * milliseconds already mean it is not keeping up, and the agents decide alone. */
    CLUSTER_INT("timeout_ms", timeout_ms, 1, 10000, 5),
    CLUSTER_STR("key_prefix", key_prefix, ""),
};
static const struct conf_schema redis_schema = {.keys = redis_keys,
                                                .n_keys =
                                                    sizeof(redis_keys) / sizeof(redis_keys[0]),
                                                .finish = redis_finish};

static const struct conf_key cluster_keys[] = {
    {.name = "redis",
     .type = CONF_T_MAP,
     .flags = CONF_K_FLAG,
     .sub = &redis_schema,
     .flag_off = offsetof(struct conf_cluster, redis_enabled)},
    /* Every 5 ms: 200 small batches a second per agent, and at 2 agents an overshoot of at
     * most per_second / 200 tokens (docs/operations.md "Scaling out"). */
    CLUSTER_INT("sync_interval_ms", sync_interval_ms, 1, 1000, 5),
    CLUSTER_INT("max_keys_per_sync", max_keys_per_sync, 1, 100000, 1000),
};
const struct conf_schema conf_cluster_schema = {
    .keys = cluster_keys, .n_keys = sizeof(cluster_keys) / sizeof(cluster_keys[0])};
