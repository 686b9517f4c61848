/*
 * The schema tables, innermost first, and the rules that tie keys of one mapping
 * together (finish hooks). Cross-references between mappings are in conf_check.c.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "conf_cidr.h"
#include "conf_client_key.h"
#include "conf_cluster.h"
#include "conf_haproxy_version.h"
#include "conf_diag.h"
#include "conf_route.h"
#include "conf_schema.h"
#include "conf_sockets.h"
#include "conf_url.h"
#include "conf_walk.h"
#include "config.h"

_Static_assert(sizeof(enum balance_strategy) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum auth_type) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum header_op) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum client_address_header) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum route_kind) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum engine_type) == sizeof(int), "enum fields are written as int");

#define FIELD_SIZE(T, member) sizeof(((T *)0)->member)
#define N_KEYS(keys)          (sizeof(keys) / sizeof((keys)[0]))

#define INT_KEY(n, T, member, lo, hi, d)                                                           \
    {                                                                                              \
        .name = n, .type = CONF_T_INT, .off = offsetof(T, member), .size = FIELD_SIZE(T, member),  \
        .min = lo, .max = hi, .def = d                                                             \
    }
/* An integer key of a mapping whose object is the uint32_t itself (timeouts). */
#define U32_KEY(n, lo, hi, d)                                                                      \
    {                                                                                              \
        .name = n, .type = CONF_T_INT, .off = 0, .size = sizeof(uint32_t), .min = lo, .max = hi,   \
        .def = d                                                                                   \
    }
#define BOOL_KEY(n, T, member, d)                                                                  \
    {                                                                                              \
        .name = n, .type = CONF_T_BOOL, .off = offsetof(T, member), .def = d                       \
    }
#define STR_KEY(n, T, member, flags_, d)                                                           \
    {                                                                                              \
        .name = n, .type = CONF_T_STR, .flags = flags_, .off = offsetof(T, member), .def_str = d   \
    }
#define ENUM_KEY(n, T, member, flags_, words_)                                                     \
    {                                                                                              \
        .name = n, .type = CONF_T_ENUM, .flags = flags_, .off = offsetof(T, member),               \
        .words = words_                                                                            \
    }
/* A name that identifies its object; its position becomes the object's. */
#define NAME_KEY(T)                                                                                \
    {                                                                                              \
        .name = "name", .type = CONF_T_NAME, .flags = CONF_K_REQUIRED | CONF_K_POS,                \
        .off = offsetof(T, name), .pos_off = offsetof(T, pos)                                      \
    }
/* The address and port of a listener: a struct conf_listen at `member`. */
#define LISTEN_KEYS(T, member, def_addr, def_port)                                                 \
    {.name = "port",                                                                               \
     .type = CONF_T_INT,                                                                           \
     .flags = CONF_K_POS,                                                                          \
     .off = offsetof(T, member.port),                                                              \
     .size = sizeof(uint16_t),                                                                     \
     .min = 1,                                                                                     \
     .max = 65535,                                                                                 \
     .def = def_port,                                                                              \
     .pos_off = offsetof(T, member.pos)},                                                          \
    {                                                                                              \
        .name = "address", .type = CONF_T_ADDR, .off = offsetof(T, member.address),                \
        .def_str = def_addr                                                                        \
    }
#define MAP_KEY(n, off_, schema)                                                                   \
    {                                                                                              \
        .name = n, .type = CONF_T_MAP, .off = off_, .sub = &schema                                 \
    }
#define LIST_KEY(n, T, member, count, flags_, lo, hi, schema)                                      \
    {                                                                                              \
        .name = n, .type = CONF_T_LIST, .flags = flags_, .off = offsetof(T, member),               \
        .count_off = offsetof(T, count), .min = lo, .max = hi, .sub = &schema                      \
    }
#define ALIAS_KEY(n, of)                                                                           \
    {                                                                                              \
        .name = n, .alias_of = of                                                                  \
    }
#define SCHEMA(keys_, ...)                                                                         \
    {                                                                                              \
        .keys = keys_, .n_keys = N_KEYS(keys_), __VA_ARGS__                                        \
    }

/* Index of a key in a table, and whether the mapping gave it (and it was accepted). */
static const struct conf_node *given(const struct conf_schema *s, const struct conf_seen *seen,
                                     const char *name)
{
    return seen->val[conf_schema_index(s, name)];
}

/* Whether key `name` was written, whatever its value. */
static bool written(const struct conf_schema *s, const struct conf_seen *seen, const char *name)
{
    return seen->key[conf_schema_index(s, name)] != NULL;
}

static bool rejected(const struct conf_schema *s, const struct conf_seen *seen, const char *name)
{
    size_t i = conf_schema_index(s, name);

    return seen->key[i] && !seen->val[i];
}

/* The value of key `name` in `map` as written (accepted or not), or NULL. */
static const struct conf_node *written_value(const struct conf_node *map, const char *name)
{
    if (!map || map->type != CONF_NODE_MAP)
        return NULL;
    for (const struct conf_item *it = map->items; it; it = it->next)
        if (it->key->type == CONF_NODE_SCALAR && strcmp(it->key->str, name) == 0)
            return it->val;
    return NULL;
}

/* ---- http_server ---------------------------------------------------------------------- */

static const struct conf_key inbound_timeout_keys[] = {
    U32_KEY("connect", 1, 3600, 10),
};
static const struct conf_schema inbound_timeout_schema = SCHEMA(inbound_timeout_keys);

static void ratelimit_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                             const struct conf_seen *seen);

/* A token bucket's refill rate and size: a forward's per-IP limit, a client's own limit. */
#define RATELIMIT_RATE_KEY(T)  INT_KEY("per_second", T, ratelimit_per_second, 1, 1000000, 100)
#define RATELIMIT_BURST_KEY(T) INT_KEY("burst", T, ratelimit_burst, 1, 10000000, 200)

static const struct conf_key ratelimit_keys[] = {
    BOOL_KEY("enabled", struct conf_forward, ratelimit_enabled, false),
    RATELIMIT_RATE_KEY(struct conf_forward),
    RATELIMIT_BURST_KEY(struct conf_forward),
    /* Every IPv6 host holds at least a /64; shorter than a /32 (an ISP's allocation) would
     * put unrelated networks in one bucket. */
    INT_KEY("ipv6_prefix", struct conf_forward, ratelimit_ipv6_prefix, 32, 128, 64),
};
static const struct conf_schema ratelimit_schema =
    SCHEMA(ratelimit_keys, .finish = ratelimit_finish);

/* A bucket smaller than its refill rate could never hold one second's worth. */
static void burst_check(struct conf_walk *w, const struct conf_schema *s,
                        const struct conf_seen *seen, uint32_t per_second, uint32_t burst)
{
    const struct conf_node *burst_node = given(s, seen, "burst");
    const struct conf_node *rate_node = given(s, seen, "per_second");
    struct conf_pos pos;

    if (burst >= per_second || rejected(s, seen, "burst") || rejected(s, seen, "per_second"))
        return;
    if (burst_node) {
        pos = conf_walk_pos(w, burst_node);
        conf_walk_error(w, &pos, "burst",
                        "%u is below per_second (%u); burst must be >= per_second", burst,
                        per_second);
    } else if (rate_node) {
        pos = conf_walk_pos(w, rate_node);
        conf_walk_error(w, &pos, "per_second",
                        "%u is above burst (%u, the default); burst must be >= per_second, set "
                        "burst too",
                        per_second, burst);
    }
}

/*
 * A rate given without `enabled` limits nothing (the original format's default, kept),
 * which is rarely what was meant, so say so.
 */
static void ratelimit_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                             const struct conf_seen *seen)
{
    const struct conf_forward *f = obj;
    const struct conf_node *burst = given(&ratelimit_schema, seen, "burst");
    const struct conf_node *rate = given(&ratelimit_schema, seen, "per_second");
    struct conf_pos pos;

    if ((burst || rate) && !written(&ratelimit_schema, seen, "enabled")) {
        pos = conf_walk_pos(w, map);
        conf_walk_warn(w, &pos, NULL,
                       "warning: %s set but enabled is not: this forward is not rate limited; "
                       "add enabled: true (or enabled: false to say so)",
                       burst && rate ? "per_second and burst are"
                       : rate        ? "per_second is"
                                     : "burst is");
    }
    burst_check(w, &ratelimit_schema, seen, f->ratelimit_per_second, f->ratelimit_burst);
}

const char *const conf_http_methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", NULL,
};

/* What an OpenAI-compatible API is called with. */
#define DEFAULT_METHODS                                                                            \
    ((1u << HTTP_METHOD_GET) | (1u << HTTP_METHOD_HEAD) | (1u << HTTP_METHOD_POST) |               \
     (1u << HTTP_METHOD_DELETE) | (1u << HTTP_METHOD_OPTIONS))

/* Requests carry prompts and, for /v1/files, uploads: 32 MiB fits both with room. */
#define DEFAULT_MAX_BODY (32u * 1024 * 1024)

static void forward_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                           const struct conf_seen *seen);

/* ---- routing rules -------------------------------------------------------------------- */

static void route_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen);

static const struct conf_key route_keys[] = {
    STR_KEY("model", struct conf_route, pattern, 0, NULL),
    STR_KEY("path", struct conf_route, pattern, 0, NULL),
    STR_KEY("target_group", struct conf_route, group_name, CONF_K_REQUIRED, NULL),
};
static const struct conf_schema route_schema =
    SCHEMA(route_keys, .item_size = sizeof(struct conf_route), .keep_pos = true,
           .pos_off = offsetof(struct conf_route, pos), .finish = route_finish);

static void route_path_finish(struct conf_walk *w, struct conf_route *r)
{
    char re[CONF_ROUTE_REGEX_SIZE], why[512];

    if (conf_route_path_regex(r->pattern.val, re, sizeof(re), why, sizeof(why)) < 0)
        conf_walk_error(w, &r->pattern.pos, "path", "%s", why);
    else
        r->match = conf_walk_strdup(w, re, strlen(re));
}

static void route_model_finish(struct conf_walk *w, struct conf_route *r)
{
    const char *s = r->pattern.val, *why = conf_route_model_problem(s, true);
    size_t len = strlen(s);

    if (why) {
        conf_walk_error(w, &r->pattern.pos, "model", "%s", why);
        return;
    }
    r->kind = s[len - 1] == '*' ? ROUTE_MODEL_PREFIX : ROUTE_MODEL;
    r->match = conf_walk_strdup(w, s, r->kind == ROUTE_MODEL_PREFIX ? len - 1 : len);
}

/* Exactly one of model and path: `pattern` holds whichever was given. */
static void route_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen)
{
    struct conf_route *r = obj;
    bool model = written(&route_schema, seen, "model"), path = written(&route_schema, seen, "path");
    struct conf_pos pos = conf_walk_pos(w, map);

    r->match = NULL;
    if (model && path) {
        conf_walk_error(w, &pos, NULL,
                        "gives both model and path; a rule matches one of them "
                        "(write two rules)");
    } else if (!model && !path) {
        conf_walk_error(w, &pos, NULL, "gives neither model nor path; a rule matches one");
    } else if (!r->pattern.val) {
        return; /* rejected and reported */
    } else if (path) {
        r->kind = ROUTE_PATH;
        route_path_finish(w, r);
    } else {
        route_model_finish(w, r);
    }
}

/* The same kind of rule on the same pattern twice: the second could never match. */
static void routes_unique(struct conf_walk *w, const struct conf_forward *f)
{
    char key[32];

    for (size_t i = 0; i < f->n_routes; i++) {
        const struct conf_route *a = &f->routes[i];

        for (size_t j = 0; j < i && a->match; j++) {
            const struct conf_route *b = &f->routes[j];

            if (!b->match || (a->kind == ROUTE_PATH) != (b->kind == ROUTE_PATH) ||
                strcmp(a->pattern.val, b->pattern.val) != 0)
                continue;
            snprintf(key, sizeof(key), "routing[%zu]", i);
            conf_walk_error(w, &a->pattern.pos, key,
                            "repeats the %s pattern of routing[%zu] (line %d); the first "
                            "match wins, so this rule would never apply",
                            a->kind == ROUTE_PATH ? "path" : "model", j, b->pattern.pos.line);
            break;
        }
    }
}

/* Indexed by enum client_address_header. */
static const char *const client_address_header_words[] = {"x-forwarded-for", "forwarded", "none",
                                                          NULL};

static const struct conf_key forward_keys[] = {
    NAME_KEY(struct conf_forward),
    LISTEN_KEYS(struct conf_forward, listen, "0.0.0.0", 3000),
    STR_KEY("upstream_group", struct conf_forward, group_name, CONF_K_REQUIRED, NULL),
    /* The original LLMProxy's later name for upstream_group. */
    ALIAS_KEY("default_group", "upstream_group"),
    MAP_KEY("ratelimit", 0, ratelimit_schema),
    MAP_KEY("timeout", offsetof(struct conf_forward, timeout_connect_s), inbound_timeout_schema),
    {.name = "methods",
     .type = CONF_T_WORDSET,
     .off = offsetof(struct conf_forward, methods),
     .words = conf_http_methods,
     .def = DEFAULT_METHODS},
    {.name = "max_body",
     .type = CONF_T_SIZE,
     .off = offsetof(struct conf_forward, max_body),
     .min = 1,
     .max = UINT32_MAX,
     .def = DEFAULT_MAX_BODY},
    BOOL_KEY("client_auth", struct conf_forward, client_auth, false),
    {.name = "trusted_proxies",
     .type = CONF_T_STRLIST,
     .off = offsetof(struct conf_forward, trusted_proxies),
     .count_off = offsetof(struct conf_forward, n_trusted_proxies),
     .min = 0,
     .max = CONF_MAX_TRUSTED},
    BOOL_KEY("proxy_protocol", struct conf_forward, proxy_protocol, false),
    ENUM_KEY("client_address_header", struct conf_forward, client_address_header, 0,
             client_address_header_words),
    LIST_KEY("routing", struct conf_forward, routes, n_routes, 0, 0, CONF_ROUTE_MAX, route_schema),
    BOOL_KEY("routing_strict", struct conf_forward, routing_strict, false),
};
static const struct conf_schema forward_schema =
    SCHEMA(forward_keys, .item_size = sizeof(struct conf_forward), .keep_pos = true,
           .pos_off = offsetof(struct conf_forward, pos), .finish = forward_finish);

/*
 * trusted_proxies: every entry a network, rewritten in the canonical form the renderer
 * writes. A network with host bits set is refused rather than widened: a typo here hands
 * strangers the right to choose their address (and so their rate limit bucket).
 */
static void trusted_proxies_finish(struct conf_walk *w, struct conf_forward *f)
{
    char key[48], canon[CONF_CIDR_SIZE];

    for (size_t i = 0; i < f->n_trusted_proxies; i++) {
        struct conf_str *t = &f->trusted_proxies[i];
        const char *why;
        unsigned prefix = 1;

        if (!t->val)
            continue;
        snprintf(key, sizeof(key), "trusted_proxies[%zu]", i);
        why = conf_cidr_parse(t->val, canon, &prefix);
        if (why && canon[0])
            conf_walk_error(w, &t->pos, key, "\"%s\": %s; write the network, %s", t->val, why,
                            canon);
        else if (why)
            conf_walk_error(w, &t->pos, key, "\"%s\": %s", t->val, why);
        else if (!(t->val = conf_walk_strdup(w, canon, strlen(canon))))
            return;
        else if (prefix == 0)
            conf_walk_warn(w, &t->pos, key,
                           "warning: %s trusts every peer: any client can choose the address "
                           "it is rate limited and logged by",
                           canon);
    }
}

/* What a trusted peer's word is taken from: PROXY header or request header, else nothing. */
static void client_address_finish(struct conf_walk *w, struct conf_forward *f,
                                  const struct conf_node *map, const struct conf_seen *seen)
{
    const struct conf_node *pp = given(&forward_schema, seen, "proxy_protocol");
    const struct conf_node *hdr = given(&forward_schema, seen, "client_address_header");
    struct conf_pos pos;

    trusted_proxies_finish(w, f);
    if (f->n_trusted_proxies == 0 && f->proxy_protocol && pp) {
        pos = conf_walk_pos(w, pp);
        conf_walk_error(w, &pos, "proxy_protocol",
                        "needs trusted_proxies: the PROXY protocol is accepted only from the "
                        "balancers listed there (a PROXY header from anyone else is refused)");
    } else if (f->n_trusted_proxies == 0 && hdr) {
        pos = conf_walk_pos(w, hdr);
        conf_walk_warn(w, &pos, "client_address_header",
                       "warning: without trusted_proxies no header is believed; the client is "
                       "the connection's peer");
    } else if (f->n_trusted_proxies > 0 && !f->proxy_protocol &&
               f->client_address_header == CLIENT_ADDRESS_NO_HEADER && hdr) {
        pos = conf_walk_pos(w, hdr);
        conf_walk_warn(w, &pos, "client_address_header",
                       "warning: none without proxy_protocol: trusted_proxies change nothing; "
                       "set proxy_protocol: true or name the header the proxies write");
    }
    (void)map;
}

/*
 * Two methods are never forwarded, whatever the list says: CONNECT would turn the
 * connection into a tunnel to the upstream, past rate limits and metrics, and TRACE would
 * echo the request back, with the credentials the proxy injected.
 */
static void forward_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                           const struct conf_seen *seen)
{
    static const struct {
        enum http_method m;
        const char *why;
    } refused[] = {
        {HTTP_METHOD_CONNECT, "it would open a tunnel to the upstream, past rate limits and "
                              "metrics"},
        {HTTP_METHOD_TRACE, "the upstream would echo the request back, with the credentials "
                            "LLMProxy adds"},
    };
    /* Looked up as written, so that this is reported along with any other bad entry. */
    const struct conf_node *list = written_value(map, "methods");
    struct conf_forward *f = obj;

    client_address_finish(w, f, map, seen);
    routes_unique(w, f);
    if (!list || list->type != CONF_NODE_SEQ)
        return;
    for (const struct conf_item *it = list->items; it; it = it->next) {
        for (size_t i = 0; i < N_KEYS(refused); i++) {
            const char *name = conf_http_methods[refused[i].m];
            struct conf_pos pos;

            if (it->val->type != CONF_NODE_SCALAR || it->val->len != strlen(name) ||
                memcmp(it->val->str, name, it->val->len) != 0)
                continue;
            pos = conf_walk_pos(w, it->val);
            conf_walk_error(w, &pos, "methods", "%s is never forwarded: %s", name, refused[i].why);
            f->methods &= ~(1u << refused[i].m);
        }
    }
}

static void admin_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen);

static const struct conf_key admin_keys[] = {
    LISTEN_KEYS(struct conf_admin, listen, "0.0.0.0", 9000),
    MAP_KEY("timeout", offsetof(struct conf_admin, timeout_connect_s), inbound_timeout_schema),
    STR_KEY("token", struct conf_admin, token, 0, NULL),
};
static const struct conf_schema admin_schema =
    SCHEMA(admin_keys, .keep_pos = true, .pos_off = offsetof(struct conf_admin, listen.pos),
           .finish = admin_finish);

#define ADMIN_TOKEN_MIN 16
#define ADMIN_TOKEN_MAX 512

/* RFC 6750 b64token: what a bearer token may be made of, so it travels in a header as is. */
static bool is_b64token(const char *t)
{
    size_t i = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/");

    return i > 0 && t[i + strspn(t + i, "=")] == '\0';
}

/* The admin token is a secret: errors describe it, never quote it. */
static void admin_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen)
{
    const struct conf_str *t = &((const struct conf_admin *)obj)->token;
    size_t len = t->val ? strlen(t->val) : 0;

    (void)map;
    if (!t->val || rejected(&admin_schema, seen, "token"))
        return;
    if (len < ADMIN_TOKEN_MIN || len > ADMIN_TOKEN_MAX)
        conf_walk_error(w, &t->pos, "token",
                        "%zu characters; a token needs %d to %d (e.g. openssl rand -hex 32)", len,
                        ADMIN_TOKEN_MIN, ADMIN_TOKEN_MAX);
    else if (!is_b64token(t->val))
        conf_walk_error(w, &t->pos, "token",
                        "invalid character; allowed: letters, digits, -._~+/ and trailing = "
                        "(an RFC 6750 bearer token)");
}

static const struct conf_key http_server_keys[] = {
    LIST_KEY("forwards", struct config, forwards, n_forwards, 0, 0, CONF_MAX_FORWARDS,
             forward_schema),
    MAP_KEY("admin", offsetof(struct config, admin), admin_schema),
};
static const struct conf_schema http_server_schema = SCHEMA(http_server_keys);

/* ---- upstreams ------------------------------------------------------------------------ */

static const char *const auth_words[] = {"none", "bearer", "basic", NULL};
static const char *const header_op_words[] = {"insert", "replace", "remove", NULL};

static void auth_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                        const struct conf_seen *seen);

static const struct conf_key auth_keys[] = {
    ENUM_KEY("type", struct conf_upstream, auth, 0, auth_words),
    STR_KEY("token", struct conf_upstream, token, CONF_K_LOGFMT, NULL),
    STR_KEY("username", struct conf_upstream, username, CONF_K_LOGFMT, NULL),
    STR_KEY("password", struct conf_upstream, password, CONF_K_LOGFMT, NULL),
};
static const struct conf_schema auth_schema = SCHEMA(auth_keys, .finish = auth_finish);

/* A credential the auth type needs: present (unless reported already) and not empty. */
static void require_credential(struct conf_walk *w, const struct conf_node *map,
                               const struct conf_seen *seen, const char *key,
                               const struct conf_str *s, const char *type)
{
    struct conf_pos pos;

    if (rejected(&auth_schema, seen, key))
        return;
    if (!s->val) {
        pos = conf_walk_pos(w, map);
        conf_walk_error(w, &pos, key, "missing; auth type %s requires it", type);
    } else if (!s->val[0]) {
        conf_walk_error(w, &s->pos, key, "empty; auth type %s requires a non-empty value", type);
    }
}

static void auth_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                        const struct conf_seen *seen)
{
    const struct conf_upstream *u = obj;

    if (u->auth == AUTH_BEARER) {
        require_credential(w, map, seen, "token", &u->token, "bearer");
    } else if (u->auth == AUTH_BASIC) {
        require_credential(w, map, seen, "username", &u->username, "basic");
        require_credential(w, map, seen, "password", &u->password, "basic");
        if (u->username.val && strchr(u->username.val, ':'))
            conf_walk_error(w, &u->username.pos, "username",
                            "contains ':'; a basic auth user name cannot (RFC 7617)");
    }
}

static void header_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                          const struct conf_seen *seen);

static const struct conf_key header_keys[] = {
    ENUM_KEY("op", struct conf_header_op, op, CONF_K_REQUIRED, header_op_words),
    STR_KEY("key", struct conf_header_op, key, CONF_K_REQUIRED, NULL),
    STR_KEY("value", struct conf_header_op, value, CONF_K_LOGFMT, NULL),
};
static const struct conf_schema header_schema =
    SCHEMA(header_keys, .item_size = sizeof(struct conf_header_op), .finish = header_finish);

/*
 * RFC 9110 tchar, what a header field name may be made of, less '\'': the rendered
 * "req.hdr(NAME)" of an insert is a sample argument, where HAProxy reads '\'' as a quote
 * ("expected ')'").
 */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&*+-.^_`|~", c));
}

/* HAProxy frames messages itself; rewriting these would desynchronise client and server. */
static const char *const framing_headers[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                              "Upgrade"};

static void header_key_check(struct conf_walk *w, const struct conf_str *key)
{
    char q[CONF_QUOTE_BUF];
    size_t i;

    for (i = 0; key->val[i]; i++)
        if (!is_tchar(key->val[i]))
            break;
    if (!key->val[0] || key->val[i]) {
        conf_walk_error(w, &key->pos, "key",
                        "invalid header name %s; allowed: letters, digits and "
                        "!#$%%&*+-.^_`|~ (an RFC 9110 token without ')",
                        conf_quote(q, sizeof(q), key->val, strlen(key->val)));
        return;
    }
    for (i = 0; i < N_KEYS(framing_headers); i++)
        if (strcasecmp(key->val, framing_headers[i]) == 0)
            conf_walk_error(w, &key->pos, "key",
                            "header %s is managed by HAProxy; Content-Length, "
                            "Transfer-Encoding, Connection and Upgrade cannot be changed",
                            conf_quote(q, sizeof(q), key->val, strlen(key->val)));
}

static void header_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                          const struct conf_seen *seen)
{
    struct conf_header_op *h = obj;
    struct conf_pos pos;

    if (h->key.val)
        header_key_check(w, &h->key);
    if (!given(&header_schema, seen, "op"))
        return;
    if (h->op == HDR_REMOVE) {
        h->value.val = NULL; /* a value given with remove means nothing */
        h->value.tmpl = NULL;
    } else if (rejected(&header_schema, seen, "value")) {
        return;
    } else if (!h->value.val) {
        pos = conf_walk_pos(w, map);
        conf_walk_error(w, &pos, "value", "missing; op %s requires a value",
                        header_op_words[h->op]);
    } else if (!h->value.val[0]) {
        conf_walk_error(w, &h->value.pos, "value", "empty; op %s requires a non-empty value",
                        header_op_words[h->op]);
    }
}

static const struct conf_key breaker_keys[] = {
    {.name = "threshold",
     .type = CONF_T_FLOAT,
     .off = offsetof(struct conf_upstream, breaker_threshold),
     .min = 0.01,
     .max = 1.0,
     .def = 0.5},
    INT_KEY("cooldown", struct conf_upstream, breaker_cooldown_s, 1, 3600, 30),
};
static const struct conf_schema breaker_schema = SCHEMA(breaker_keys);

/*
 * A file or folder HAProxy opens: absolute, so the rendered configuration does not depend
 * on the folder HAProxy starts in, and free of control characters, which no quoting can
 * carry into haproxy.cfg.
 */
static void path_check(struct conf_walk *w, const struct conf_str *s, const char *key)
{
    const char *c;

    if (!s->val)
        return;
    if (s->val[0] != '/') {
        conf_walk_error(w, &s->pos, key,
                        "\"%s\" is not an absolute path; give one starting with '/'", s->val);
        return;
    }
    for (c = s->val; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            conf_walk_error(w, &s->pos, key, "contains a control character; not allowed in a path");
            return;
        }
}

static void tls_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                       const struct conf_seen *seen)
{
    (void)map;
    (void)seen;
    path_check(w, &((struct conf_upstream *)obj)->tls_ca_file, "ca_file");
}

static const struct conf_key tls_keys[] = {
    STR_KEY("ca_file", struct conf_upstream, tls_ca_file, 0, NULL),
    BOOL_KEY("verify", struct conf_upstream, tls_verify, true),
};
static const struct conf_schema tls_schema = SCHEMA(tls_keys, .finish = tls_finish);

/*
 * A response header the agent reads: an RFC 9110 token, less what the unquoted
 * "res.fhdr(NAME)" it is rendered into cannot carry: '#' starts a comment in haproxy.cfg,
 * and '$' and '\'' are left out with it.
 */
static void throttle_header_check(struct conf_walk *w, const struct conf_str *s, const char *key)
{
    char q[CONF_QUOTE_BUF];
    size_t i;

    if (!s->val)
        return;
    for (i = 0; s->val[i]; i++)
        if (!is_tchar(s->val[i]) || s->val[i] == '#' || s->val[i] == '$')
            break;
    if (!s->val[0] || s->val[i])
        conf_walk_error(w, &s->pos, key,
                        "invalid header name %s; allowed: letters, digits and "
                        "!%%&*+-.^_`|~ (an RFC 9110 token without #$')",
                        conf_quote(q, sizeof(q), s->val, strlen(s->val)));
}

static void throttle_headers_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                                    const struct conf_seen *seen)
{
    struct conf_throttle *t = obj;

    (void)map;
    (void)seen;
    throttle_header_check(w, &t->remaining_requests_header, "remaining_requests");
    throttle_header_check(w, &t->remaining_tokens_header, "remaining_tokens");
    throttle_header_check(w, &t->reset_requests_header, "reset_requests");
    throttle_header_check(w, &t->reset_tokens_header, "reset_tokens");
}

static const struct conf_key throttle_header_keys[] = {
    STR_KEY("remaining_requests", struct conf_throttle, remaining_requests_header, 0,
            "x-ratelimit-remaining-requests"),
    STR_KEY("remaining_tokens", struct conf_throttle, remaining_tokens_header, 0,
            "x-ratelimit-remaining-tokens"),
    STR_KEY("reset_requests", struct conf_throttle, reset_requests_header, 0,
            "x-ratelimit-reset-requests"),
    STR_KEY("reset_tokens", struct conf_throttle, reset_tokens_header, 0,
            "x-ratelimit-reset-tokens"),
};
static const struct conf_schema throttle_header_schema =
    SCHEMA(throttle_header_keys, .finish = throttle_headers_finish);

static const struct conf_schema throttle_schema;

static void throttle_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                            const struct conf_seen *seen)
{
    struct conf_throttle *t = obj;
    const struct conf_node *def = given(&throttle_schema, seen, "retry_after_default");
    struct conf_pos pos;

    /* A value already refused is not compared: one error per mistake. */
    if (t->retry_after_default_s <= t->retry_after_max_s ||
        rejected(&throttle_schema, seen, "retry_after_default") ||
        rejected(&throttle_schema, seen, "retry_after_max"))
        return;
    pos = conf_walk_pos(w, def ? def : map);
    conf_walk_error(w, &pos, "retry_after_default",
                    "%u is above retry_after_max (%u); allowed: 1 to retry_after_max",
                    (unsigned)t->retry_after_default_s, (unsigned)t->retry_after_max_s);
}

static const struct conf_key throttle_keys[] = {
    INT_KEY("retry_after_default", struct conf_throttle, retry_after_default_s, 1, 86400, 5),
    INT_KEY("retry_after_max", struct conf_throttle, retry_after_max_s, 1, 86400, 300),
    INT_KEY("min_remaining_requests", struct conf_throttle, min_remaining_requests, 0, 1000000000,
            0),
    INT_KEY("min_remaining_tokens", struct conf_throttle, min_remaining_tokens, 0, 1000000000, 0),
    MAP_KEY("headers", 0, throttle_header_schema),
};
static const struct conf_schema throttle_schema = SCHEMA(throttle_keys, .finish = throttle_finish);

static void upstream_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                            const struct conf_seen *seen);

static const struct conf_key upstream_keys[] = {
    NAME_KEY(struct conf_upstream),
    STR_KEY("url", struct conf_upstream, url, CONF_K_REQUIRED, NULL),
    MAP_KEY("auth", 0, auth_schema),
    LIST_KEY("headers", struct conf_upstream, headers, n_headers, 0, 0, CONF_MAX_HEADER_OPS,
             header_schema),
    {.name = "breaker",
     .type = CONF_T_MAP,
     .flags = CONF_K_FLAG,
     .sub = &breaker_schema,
     .flag_off = offsetof(struct conf_upstream, breaker_enabled)},
    MAP_KEY("tls", 0, tls_schema),
    {.name = "throttle",
     .type = CONF_T_MAP,
     .flags = CONF_K_FLAG,
     .off = offsetof(struct conf_upstream, throttle),
     .sub = &throttle_schema,
     .flag_off = offsetof(struct conf_upstream, throttle_declared)},
};
static const struct conf_schema upstream_schema =
    SCHEMA(upstream_keys, .item_size = sizeof(struct conf_upstream), .keep_pos = true,
           .pos_off = offsetof(struct conf_upstream, pos), .finish = upstream_finish);

static void upstream_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                            const struct conf_seen *seen)
{
    struct conf_upstream *u = obj;
    char err[512];

    (void)map;
    (void)seen;
    if (u->url.val &&
        conf_url_parse(w->arena, u->url.val, CONF_URL_UPSTREAM, &u->parsed, err, sizeof(err)) < 0)
        conf_walk_error(w, &u->url.pos, "url", "%s", err);
}

/* ---- upstream_groups ------------------------------------------------------------------ */

static const char *const strategy_words[] = {
    "roundrobin", "weighted_roundrobin", "random", "response_aware", "failover",
    "affinity",   "least_load",          NULL,
};

static const struct conf_key member_keys[] = {
    {.name = "name",
     .type = CONF_T_STR,
     .flags = CONF_K_REQUIRED | CONF_K_POS,
     .off = offsetof(struct conf_member, name),
     .pos_off = offsetof(struct conf_member, pos)},
    INT_KEY("weight", struct conf_member, weight, 1, 65535, 1),
    /* Absent: 0, no limit. HAProxy's maxconn takes up to 32 bits; a member that holds
     * more than a million streams at once needs no queue. */
    INT_KEY("max_in_flight", struct conf_member, max_in_flight, 1, 1000000, 0),
};
static const struct conf_schema member_schema =
    SCHEMA(member_keys, .item_size = sizeof(struct conf_member), .keep_pos = true,
           .pos_off = offsetof(struct conf_member, pos));

static const struct conf_key balance_keys[] = {
    ENUM_KEY("strategy", struct conf_group, strategy, 0, strategy_words),
};
static const struct conf_schema balance_schema = SCHEMA(balance_keys);

static const struct conf_key client_timeout_keys[] = {
    INT_KEY("connect", struct conf_http_client, connect_timeout_s, 1, 120, 10),
    INT_KEY("request", struct conf_http_client, request_timeout_s, 1, 3600,
            CONF_REQUEST_TIMEOUT_DEFAULT_S),
    INT_KEY("idle", struct conf_http_client, idle_timeout_s, 1, 3600, 60),
    /* 5 s: long enough to ride out a burst on a member at its max_in_flight (a few of its
     * requests end in that time), short enough that a client told to come back (503 with
     * Retry-After) learns it well before its own timeout. */
    INT_KEY("queue", struct conf_http_client, queue_timeout_s, 1, 3600, 5),
};
static const struct conf_schema client_timeout_schema = SCHEMA(client_timeout_keys);

static const struct conf_key retry_keys[] = {
    BOOL_KEY("enabled", struct conf_http_client, retry_enabled, false),
    INT_KEY("attempts", struct conf_http_client, retry_attempts, 1, 10, 3),
    INT_KEY("initial", struct conf_http_client, retry_initial_ms, 10, 60000, 500),
};
static const struct conf_schema retry_schema = SCHEMA(retry_keys);

static void proxy_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen);

static const struct conf_key proxy_keys[] = {
    BOOL_KEY("enabled", struct conf_http_client, proxy_enabled, false),
    STR_KEY("url", struct conf_http_client, proxy_url, 0, NULL),
};
static const struct conf_schema proxy_schema = SCHEMA(proxy_keys, .finish = proxy_finish);

/* The URL matters (and is required) only when the proxy is enabled. */
static void proxy_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen)
{
    struct conf_http_client *c = obj;
    struct conf_pos pos;
    char err[512];

    if (!c->proxy_enabled || rejected(&proxy_schema, seen, "url"))
        return;
    if (!c->proxy_url.val) {
        pos = conf_walk_pos(w, map);
        conf_walk_error(w, &pos, "url", "missing; required when enabled is true");
    } else if (conf_url_parse(w->arena, c->proxy_url.val, CONF_URL_PROXY, &c->proxy, err,
                              sizeof(err)) < 0) {
        conf_walk_error(w, &c->proxy_url.pos, "url", "%s", err);
    }
}

static const struct conf_key http_client_keys[] = {
    STR_KEY("agent", struct conf_http_client, agent, CONF_K_LOGFMT, "LLMProxy/1.0"),
    INT_KEY("keepalive", struct conf_http_client, keepalive_s, 0, 600, 60),
    BOOL_KEY("stream", struct conf_http_client, stream, true),
    /* The original LLMProxy's undocumented spelling. */
    ALIAS_KEY("stream_mode", "stream"),
    MAP_KEY("timeout", 0, client_timeout_schema),
    MAP_KEY("retry", 0, retry_schema),
    MAP_KEY("proxy", 0, proxy_schema),
};
static const struct conf_schema http_client_schema = SCHEMA(http_client_keys);

static void affinity_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                            const struct conf_seen *seen);

static const struct conf_key affinity_keys[] = {
    STR_KEY("header", struct conf_affinity, header, 0, CONF_AFFINITY_HEADER_DEFAULT),
    BOOL_KEY("body_keys", struct conf_affinity, body_keys, true),
    {.name = "load_factor",
     .type = CONF_T_FLOAT,
     .off = offsetof(struct conf_affinity, load_factor),
     .min = 1.0,
     .max = 100.0,
     .def = CONF_AFFINITY_LOAD_FACTOR_DEFAULT},
};
static const struct conf_schema affinity_schema = SCHEMA(affinity_keys, .finish = affinity_finish);

/* The header is matched lower-cased (HTTP/2 sends it so); 1.0 would be no slack at all. */
static void affinity_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                            const struct conf_seen *seen)
{
    struct conf_affinity *a = obj;
    const struct conf_node *lf = given(&affinity_schema, seen, "load_factor");
    struct conf_pos pos;

    (void)map;
    if (a->header.val && given(&affinity_schema, seen, "header")) {
        size_t i;

        for (i = 0; a->header.val[i] && is_tchar(a->header.val[i]); i++)
            a->header.val[i] = (char)tolower((unsigned char)a->header.val[i]);
        if (!a->header.val[0] || a->header.val[i])
            conf_walk_error(w, &a->header.pos, "header",
                            "invalid header name; allowed: letters, digits and "
                            "!#$%%&*+-.^_`|~ (an RFC 9110 token without ')");
    }
    if (lf && a->load_factor <= 1.0) {
        pos = conf_walk_pos(w, lf);
        conf_walk_error(w, &pos, "load_factor",
                        "%s leaves a member no room above the mean; allowed: more than 1.0, "
                        "up to 100 (1.25: 25%% above the mean)",
                        lf->str);
    }
}

static void group_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen);

/* Indexed by enum engine_type. */
static const char *const engine_type_words[] = {"vllm", "sglang", NULL};

static void engine_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                          const struct conf_seen *seen);

static const struct conf_key engine_saturated_keys[] = {
    INT_KEY("waiting", struct conf_engine, saturated_waiting, 1, 1000000, 5),
    {.name = "kv_cache",
     .type = CONF_T_FLOAT,
     .off = offsetof(struct conf_engine, saturated_kv_cache),
     .min = 0.01,
     .max = 1.0,
     .def = 0.8},
};
static const struct conf_schema engine_saturated_schema = SCHEMA(engine_saturated_keys);

static const struct conf_key engine_keys[] = {
    ENUM_KEY("type", struct conf_engine, type, CONF_K_REQUIRED, engine_type_words),
    STR_KEY("metrics_path", struct conf_engine, metrics_path, 0, "/metrics"),
    INT_KEY("interval_ms", struct conf_engine, interval_ms, 50, 60000, 200),
    INT_KEY("timeout_ms", struct conf_engine, timeout_ms, 10, 10000, 1000),
    MAP_KEY("saturated", 0, engine_saturated_schema),
};
static const struct conf_schema engine_schema =
    SCHEMA(engine_keys, .keep_pos = true, .pos_off = offsetof(struct conf_engine, pos),
           .finish = engine_finish);

/* The path goes on the scrape's request line as it is. */
static void engine_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                          const struct conf_seen *seen)
{
    const struct conf_str *p = &((const struct conf_engine *)obj)->metrics_path;
    size_t len = p->val ? strlen(p->val) : 0;

    (void)map;
    if (!p->val || rejected(&engine_schema, seen, "metrics_path"))
        return;
    if (p->val[0] != '/' || len > 512)
        conf_walk_error(w, &p->pos, "metrics_path",
                        "a path from the root (/metrics), at most "
                        "512 bytes");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p->val[i];

        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '#') {
            conf_walk_error(w, &p->pos, "metrics_path",
                            "byte %zu cannot go on a request line; allowed: printable ASCII "
                            "without spaces, '\"' or '#'",
                            i + 1);
            return;
        }
    }
}

static const struct conf_key group_keys[] = {
    NAME_KEY(struct conf_group),
    LIST_KEY("upstreams", struct conf_group, members, n_members, CONF_K_REQUIRED, 1,
             CONF_MAX_MEMBERS, member_schema),
    MAP_KEY("balance", 0, balance_schema),
    MAP_KEY("http_client", offsetof(struct conf_group, client), http_client_schema),
    {.name = "models",
     .type = CONF_T_STRLIST,
     .off = offsetof(struct conf_group, models),
     .count_off = offsetof(struct conf_group, n_models),
     .min = 0,
     .max = CONF_ROUTE_MAX},
    MAP_KEY("affinity", offsetof(struct conf_group, affinity), affinity_schema),
    {.name = "engine",
     .type = CONF_T_MAP,
     .flags = CONF_K_FLAG,
     .off = offsetof(struct conf_group, engine),
     .sub = &engine_schema,
     .flag_off = offsetof(struct conf_group, engine.enabled)},
};
static const struct conf_schema group_schema =
    SCHEMA(group_keys, .item_size = sizeof(struct conf_group), .keep_pos = true,
           .pos_off = offsetof(struct conf_group, pos), .finish = group_finish);

/* `models`: exact names, each once. */
static void group_models_finish(struct conf_walk *w, const struct conf_group *g)
{
    char key[32];

    for (size_t i = 0; i < g->n_models; i++) {
        const struct conf_str *m = &g->models[i];
        const char *why;

        if (!m->val)
            continue;
        snprintf(key, sizeof(key), "models[%zu]", i);
        if ((why = conf_route_model_problem(m->val, false))) {
            conf_walk_error(w, &m->pos, key, "%s", why);
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (g->models[j].val && strcmp(g->models[j].val, m->val) == 0) {
                conf_walk_error(w, &m->pos, key, "repeats models[%zu]; list a model once", j);
                break;
            }
    }
}

/* An affinity block is the affinity strategy's: it implies it, and contradicts any other. */
static void group_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                         const struct conf_seen *seen)
{
    struct conf_group *g = obj;
    const struct conf_node *strategy = written_value(written_value(map, "balance"), "strategy");
    char q[CONF_QUOTE_BUF];
    struct conf_pos pos;

    group_models_finish(w, g);
    if (!given(&group_schema, seen, "affinity"))
        return;
    if (!strategy) {
        g->strategy = BAL_AFFINITY;
    } else if (strategy->type == CONF_NODE_SCALAR && strcmp(strategy->str, "affinity") != 0) {
        pos = conf_walk_pos(w, given(&group_schema, seen, "affinity"));
        conf_walk_error(w, &pos, "affinity",
                        "given with balance.strategy %s; affinity settings belong to strategy "
                        "affinity (remove the strategy or this block)",
                        conf_quote(q, sizeof(q), strategy->str, strategy->len));
    }
}

/* ---- agent ---------------------------------------------------------------------------- */

/*
 * agent.spop and agent.logs: a unix socket (`socket`, or by default one in haproxy.run_dir,
 * filled in by conf_check, which knows run_dir), or TCP when address or port is given, as
 * configurations written before the unix sockets did. The TCP defaults apply only then.
 */
static void agent_listen_finish(struct conf_walk *w, struct conf_listen *l,
                                const struct conf_schema *s, const struct conf_seen *seen,
                                uint16_t tcp_port)
{
    bool tcp =
        seen->key[conf_schema_index(s, "address")] || seen->key[conf_schema_index(s, "port")];
    struct conf_str *sock = &l->socket;

    if (!sock->val) {
        if (tcp && !l->address)
            l->address = conf_walk_strdup(w, "127.0.0.1", strlen("127.0.0.1"));
        if (tcp && !l->port)
            l->port = tcp_port;
        return;
    }
    if (tcp) {
        conf_walk_error(w, &sock->pos, "socket",
                        "given with address or port; give either socket (a unix socket) or "
                        "address and port (TCP)");
        return;
    }
    path_check(w, sock, "socket");
    if (strlen(sock->val) >= CONF_SOCKET_PATH_MAX)
        conf_walk_error(w, &sock->pos, "socket",
                        "%zu bytes long; a unix socket path has at most %d bytes",
                        strlen(sock->val), CONF_SOCKET_PATH_MAX - 1);
}

static void spop_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                        const struct conf_seen *seen);
static void logs_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                        const struct conf_seen *seen);

/* Without address and port, no TCP defaults: see agent_listen_finish. */
#define AGENT_LISTEN_KEYS(member)                                                                  \
    LISTEN_KEYS(struct conf_agent, member, NULL, 0),                                               \
        STR_KEY("socket", struct conf_agent, member.socket, 0, NULL)

static const struct conf_key spop_keys[] = {AGENT_LISTEN_KEYS(spop)};
static const struct conf_schema spop_schema =
    SCHEMA(spop_keys, .keep_pos = true, .pos_off = offsetof(struct conf_agent, spop.pos),
           .finish = spop_finish);

static const struct conf_key logs_keys[] = {AGENT_LISTEN_KEYS(logs)};
static const struct conf_schema logs_schema =
    SCHEMA(logs_keys, .keep_pos = true, .pos_off = offsetof(struct conf_agent, logs.pos),
           .finish = logs_finish);

static void spop_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                        const struct conf_seen *seen)
{
    (void)map;
    agent_listen_finish(w, &((struct conf_agent *)obj)->spop, &spop_schema, seen, 9100);
}

static void logs_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                        const struct conf_seen *seen)
{
    (void)map;
    agent_listen_finish(w, &((struct conf_agent *)obj)->logs, &logs_schema, seen, 9101);
}

static const struct conf_key agent_keys[] = {
    MAP_KEY("spop", 0, spop_schema),
    MAP_KEY("logs", 0, logs_schema),
    INT_KEY("ratelimit_max_clients", struct conf_agent, ratelimit_max_clients, 1000, 100000000,
            1000000),
    INT_KEY("decision_timeout_ms", struct conf_agent, decision_timeout_ms, 5, 10000, 50),
    MAP_KEY("cluster", offsetof(struct conf_agent, cluster), conf_cluster_schema),
};
static const struct conf_schema agent_schema = SCHEMA(agent_keys);

/* ---- haproxy ---------------------------------------------------------------------- */

/* A system group name as useradd(8) takes it: the portable characters, no leading '-'. */
static void group_name_check(struct conf_walk *w, const struct conf_str *s, const char *key)
{
    char q[CONF_QUOTE_BUF];
    size_t n;

    if (!s->val)
        return;
    n = strspn(s->val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    if (n == 0 || s->val[n] || n > 32 || s->val[0] == '-')
        conf_walk_error(w, &s->pos, key,
                        "invalid group name %s; allowed: 1-32 letters, digits, '.', '_' or '-', "
                        "not starting with '-'",
                        conf_quote(q, sizeof(q), s->val, strlen(s->val)));
}

/* "auto", or a release LLMProxy renders for, 2.6 or newer: "3.2", or "3.2.9" as
 * `haproxy -v` prints it. */
static void haproxy_version_check(struct conf_walk *w, struct conf_haproxy *h)
{
    struct conf_haproxy_version oldest = CONF_HAPROXY_OLDEST;
    const char *end;
    char q[CONF_QUOTE_BUF];

    if (!h->version.val || strcmp(h->version.val, "auto") == 0)
        return;
    end = conf_haproxy_version_parse(h->version.val, &h->target);
    if (end && end[0] == '.' && end[1] && strlen(end + 1) <= 3 &&
        strspn(end + 1, "0123456789") == strlen(end + 1))
        end += strlen(end);
    if (!end || *end || conf_haproxy_version_cmp(h->target, oldest) < 0) {
        conf_walk_error(w, &h->version.pos, "version",
                        "%s is not a release LLMProxy renders for; allowed: \"auto\" (ask "
                        "'haproxy -v') or a release from %u.%u on, such as \"2.6\", \"3.0\" or "
                        "\"3.2.9\"",
                        conf_quote(q, sizeof(q), h->version.val, strlen(h->version.val)),
                        oldest.major, oldest.minor);
        h->target = (struct conf_haproxy_version){0, 0};
    }
}

static void haproxy_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                           const struct conf_seen *seen)
{
    const struct conf_str *run_dir = &((struct conf_haproxy *)obj)->run_dir;

    (void)map;
    (void)seen;
    path_check(w, run_dir, "run_dir");
    /* HAProxy's listeners and the agent's sockets live there: their paths must fit. */
    if (run_dir->val && strlen(run_dir->val) > CONF_RUN_DIR_MAX)
        conf_walk_error(w, &run_dir->pos, "run_dir",
                        "%zu bytes long; at most %d, so that the unix sockets under it fit "
                        "the %d-byte socket address limit",
                        strlen(run_dir->val), CONF_RUN_DIR_MAX, CONF_SOCKET_PATH_MAX - 1);
    group_name_check(w, &((struct conf_haproxy *)obj)->socket_group, "socket_group");
    haproxy_version_check(w, obj);
}

static const struct conf_key haproxy_keys[] = {
    STR_KEY("run_dir", struct conf_haproxy, run_dir, 0, "/run/llmproxy"),
    INT_KEY("hard_stop_after", struct conf_haproxy, hard_stop_after_s, 1, 604800, 3600),
    BOOL_KEY("access_log", struct conf_haproxy, access_log, false),
    INT_KEY("nbthread", struct conf_haproxy, nbthread, 0, 4096, 0),
    BOOL_KEY("bind_threads", struct conf_haproxy, bind_threads, true),
    STR_KEY("socket_group", struct conf_haproxy, socket_group, 0, NULL),
    STR_KEY("version", struct conf_haproxy, version, 0, "auto"),
};
static const struct conf_schema haproxy_schema = SCHEMA(haproxy_keys, .finish = haproxy_finish);

/* ---- clients -------------------------------------------------------------------------- */

static void client_ratelimit_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                                    const struct conf_seen *seen);

static const struct conf_key client_ratelimit_keys[] = {
    RATELIMIT_RATE_KEY(struct conf_client),
    RATELIMIT_BURST_KEY(struct conf_client),
};
static const struct conf_schema client_ratelimit_schema =
    SCHEMA(client_ratelimit_keys, .finish = client_ratelimit_finish);

static void client_ratelimit_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                                    const struct conf_seen *seen)
{
    const struct conf_client *c = obj;

    (void)map;
    burst_check(w, &client_ratelimit_schema, seen, c->ratelimit_per_second, c->ratelimit_burst);
}

static void client_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                          const struct conf_seen *seen);

static const struct conf_key client_keys[] = {
    NAME_KEY(struct conf_client),
    STR_KEY("key", struct conf_client, key, 0, NULL),
    STR_KEY("key_sha256", struct conf_client, key_sha256_written, 0, NULL),
    {.name = "forwards",
     .type = CONF_T_STRLIST,
     .flags = CONF_K_FLAG,
     .off = offsetof(struct conf_client, forward_names),
     .count_off = offsetof(struct conf_client, n_forward_names),
     .flag_off = offsetof(struct conf_client, forwards_given),
     .min = 0,
     .max = CONF_MAX_FORWARDS},
    {.name = "ratelimit",
     .type = CONF_T_MAP,
     .flags = CONF_K_FLAG,
     .sub = &client_ratelimit_schema,
     .flag_off = offsetof(struct conf_client, ratelimit_enabled)},
};
static const struct conf_schema client_schema =
    SCHEMA(client_keys, .item_size = sizeof(struct conf_client), .keep_pos = true,
           .pos_off = offsetof(struct conf_client, pos), .finish = client_finish);

/* The key itself: its characters and length are checked, then only its hash is kept
 * in key_sha256. It is a secret: messages describe it, never quote it. */
static void client_key_finish(struct conf_walk *w, struct conf_client *c)
{
    size_t len = strlen(c->key.val);

    if (len < CONF_CLIENT_KEY_MIN || len > CONF_CLIENT_KEY_MAX)
        conf_walk_error(w, &c->key.pos, "key",
                        "%zu characters; a client key needs %d to %d (llmproxy-ctl key new "
                        "makes one)",
                        len, CONF_CLIENT_KEY_MIN, CONF_CLIENT_KEY_MAX);
    else if (!conf_client_key_valid(c->key.val, len))
        conf_walk_error(w, &c->key.pos, "key",
                        "invalid character; allowed: " CONF_CLIENT_KEY_CHARS " (HAProxy cuts "
                        "header values at commas and strips spaces, so only these arrive "
                        "unchanged in every header)");
    else if (conf_sha256_hex(c->key.val, len, c->key_sha256) < 0)
        conf_walk_error(w, &c->key.pos, "key", "cannot compute its SHA-256 (OpenSSL failed)");
}

/* Exactly one of key and key_sha256; key_sha256[] ends up as lowercase hex either way. */
static void client_finish(struct conf_walk *w, void *obj, const struct conf_node *map,
                          const struct conf_seen *seen)
{
    struct conf_client *c = obj;
    const struct conf_str *hash = &c->key_sha256_written;
    const struct conf_node *name = given(&client_schema, seen, "name");
    struct conf_pos pos;
    size_t i;

    if (name && c->name && conf_client_name_reserved(c->name)) {
        pos = conf_walk_pos(w, name);
        conf_walk_error(w, &pos, "name",
                        "\"%s\" is reserved: the metrics use it for requests without a client "
                        "(reserved: " CONF_CLIENT_ANONYMOUS ", " CONF_CLIENT_UNAUTHENTICATED
                        ", " CONF_CLIENT_UNKNOWN ")",
                        c->name);
    }
    if (rejected(&client_schema, seen, "key") || rejected(&client_schema, seen, "key_sha256"))
        return;
    if (c->key.val && hash->val) {
        conf_walk_error(w, &hash->pos, "key_sha256",
                        "given with key; give either key (the key itself) or key_sha256 (its "
                        "SHA-256), not both");
    } else if (c->key.val) {
        client_key_finish(w, c);
    } else if (hash->val) {
        if (!conf_sha256_hex_valid(hash->val)) {
            conf_walk_error(w, &hash->pos, "key_sha256",
                            "expected 64 hexadecimal digits (a SHA-256, as printed by "
                            "llmproxy-ctl key hash)");
            return;
        }
        for (i = 0; hash->val[i]; i++)
            c->key_sha256[i] = (char)tolower((unsigned char)hash->val[i]);
        c->key_sha256[i] = '\0';
    } else {
        pos = conf_walk_pos(w, map);
        conf_walk_error(w, &pos, "key",
                        "missing; give key (the key itself, e.g. \"${TEAM_KEY}\") or key_sha256 "
                        "(its SHA-256)");
    }
}

/* ---- top level ------------------------------------------------------------------------ */

static const struct conf_key config_keys[] = {
    MAP_KEY("http_server", 0, http_server_schema),
    LIST_KEY("upstreams", struct config, upstreams, n_upstreams, 0, 0, CONF_MAX_UPSTREAMS,
             upstream_schema),
    LIST_KEY("upstream_groups", struct config, groups, n_groups, 0, 0, CONF_MAX_GROUPS,
             group_schema),
    MAP_KEY("agent", offsetof(struct config, agent), agent_schema),
    MAP_KEY("haproxy", offsetof(struct config, haproxy), haproxy_schema),
    LIST_KEY("clients", struct config, clients, n_clients, 0, 0, CONF_MAX_CLIENTS, client_schema),
};
/* Top-level "x-..." keys are free, as in Compose files: a place to anchor shared blocks. */
const struct conf_schema conf_config_schema = SCHEMA(config_keys, .extensions = true);
