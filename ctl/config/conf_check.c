/*
 * Whole-configuration rules. Values the walk rejected are NULL (names) or 0 (ports)
 * here and are skipped: their problem is already reported.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf_arena.h"
#include "conf_check.h"
#include "conf_diag.h"
#include "conf_engine.h"
#include "conf_map.h"
#include "conf_sockets.h"
#include "conf_suggest.h"
#include "conf_url.h"
#include "config.h"

/* Names shown in "defined groups: ..." before the list is cut short. */
#define LIST_NAMES_SHOWN 10

/* One kind of named object: an array of structs, each with a name and a position. */
struct named_list {
    const char *path;  /* "upstreams" */
    const char *noun;  /* "upstream" */
    const char *nouns; /* "upstreams" */
    const void *base;
    size_t n, stride, name_off, pos_off;
    struct conf_map index; /* name -> first object of that name */
    const char **names;    /* for suggestions and listings */
};

#define NAMED_LIST(path_, noun_, nouns_, arr, count, type)                                         \
    {                                                                                              \
        .path = path_, .noun = noun_, .nouns = nouns_, .base = arr, .n = count,                    \
        .stride = sizeof(type), .name_off = offsetof(type, name), .pos_off = offsetof(type, pos)   \
    }

static const char *item_name(const struct named_list *l, size_t i)
{
    return *(const char *const *)((const char *)l->base + i * l->stride + l->name_off);
}

static const struct conf_pos *item_pos(const struct named_list *l, size_t i)
{
    return (const struct conf_pos *)((const char *)l->base + i * l->stride + l->pos_off);
}

/* Index every name; a name seen before is a duplicate, reported where it repeats. */
static int index_names(struct named_list *l, struct conf_arena *arena, struct conf_diags *diags)
{
    size_t i;

    conf_map_init(&l->index, arena);
    l->names = conf_arena_calloc(arena, l->n ? l->n : 1, sizeof(*l->names));
    if (!l->names)
        return -1;
    for (i = 0; i < l->n; i++) {
        const char *name = item_name(l, i);
        const struct conf_pos *first;
        char path[64];
        int err = 0;

        if (!name)
            continue;
        first = conf_map_add(&l->index, name, strlen(name), (void *)item_pos(l, i), &err);
        if (err)
            return -1;
        if (!first) {
            l->names[i] = name;
            continue;
        }
        snprintf(path, sizeof(path), "%s[%zu].name", l->path, i);
        conf_diag_add(diags, item_pos(l, i), path,
                      "duplicate %s name \"%s\"; it is first defined at line %u:%u", l->noun, name,
                      first->line, first->col);
    }
    return 0;
}

/* Index of the object named `name`, or SIZE_MAX. */
static size_t lookup(const struct named_list *l, const char *name)
{
    const struct conf_pos *p = conf_map_get(&l->index, name, strlen(name));

    return p ? (size_t)((const char *)p - l->pos_off - (const char *)l->base) / l->stride
             : SIZE_MAX;
}

/* "; did you mean "x"? defined groups: a, b, ..." */
static void describe_defined(char *buf, size_t size, const struct named_list *l, const char *name)
{
    const char *hint = conf_suggest(name, strlen(name), l->names, l->n);
    size_t o = 0, shown = 0, i;

    buf[0] = '\0';
    if (hint)
        o += (size_t)snprintf(buf, size, "did you mean \"%s\"? ", hint);
    if (o < size)
        o += (size_t)snprintf(buf + o, size - o, "defined %s:", l->nouns);
    for (i = 0; i < l->n && o < size; i++) {
        if (!l->names[i])
            continue;
        if (shown++ == LIST_NAMES_SHOWN) {
            o += (size_t)snprintf(buf + o, size - o, ", ...");
            break;
        }
        o += (size_t)snprintf(buf + o, size - o, "%s %s", shown > 1 ? "," : "", l->names[i]);
    }
    if (!shown && o < size)
        snprintf(buf + o, size - o, " none");
}

static void undefined(struct conf_diags *diags, const struct conf_str *ref, const char *path,
                      const struct named_list *l)
{
    char q[CONF_QUOTE_BUF], defined[1024];

    describe_defined(defined, sizeof(defined), l, ref->val);
    conf_diag_add(diags, &ref->pos, path, "%s %s is not defined; %s", l->noun,
                  conf_quote(q, sizeof(q), ref->val, strlen(ref->val)), defined);
}

static void resolve_forwards(struct config *cfg, const struct named_list *groups,
                             struct conf_diags *diags)
{
    size_t i;

    for (i = 0; i < cfg->n_forwards; i++) {
        struct conf_forward *f = &cfg->forwards[i];
        char path[96];

        for (size_t r = 0; r < f->n_routes; r++) {
            struct conf_route *route = &f->routes[r];

            if (!route->group_name.val)
                continue;
            route->group = lookup(groups, route->group_name.val);
            if (route->group != SIZE_MAX)
                continue;
            snprintf(path, sizeof(path), "http_server.forwards[%zu].routing[%zu].target_group", i,
                     r);
            undefined(diags, &route->group_name, path, groups);
        }
        if (!f->group_name.val)
            continue;
        f->group = lookup(groups, f->group_name.val);
        if (f->group != SIZE_MAX)
            continue;
        snprintf(path, sizeof(path), "http_server.forwards[%zu].upstream_group", i);
        undefined(diags, &f->group_name, path, groups);
    }
}

/* Members name upstreams, each at most once per group. */
static int resolve_members(struct config *cfg, struct conf_arena *arena,
                           const struct named_list *upstreams, struct conf_diags *diags)
{
    /* For each upstream, the group (+1) and member that last listed it: O(1) duplicates. */
    size_t *last_group = conf_arena_calloc(arena, cfg->n_upstreams + 1, sizeof(size_t));
    size_t *last_member = conf_arena_calloc(arena, cfg->n_upstreams + 1, sizeof(size_t));
    size_t g, m;

    if (!last_group || !last_member)
        return -1;
    for (g = 0; g < cfg->n_groups; g++) {
        struct conf_group *grp = &cfg->groups[g];

        for (m = 0; m < grp->n_members; m++) {
            struct conf_member *mb = &grp->members[m];
            const struct conf_pos *first;
            char path[96];
            size_t u;

            if (!mb->name.val)
                continue;
            snprintf(path, sizeof(path), "upstream_groups[%zu].upstreams[%zu].name", g, m);
            u = mb->upstream = lookup(upstreams, mb->name.val);
            if (u == SIZE_MAX) {
                undefined(diags, &mb->name, path, upstreams);
                continue;
            }
            if (last_group[u] == g + 1) {
                first = &grp->members[last_member[u]].name.pos;
                conf_diag_add(diags, &mb->name.pos, path,
                              "upstream \"%s\" is listed twice in group \"%s\"; it is first "
                              "listed at line %u:%u",
                              mb->name.val, grp->name ? grp->name : "", first->line, first->col);
                continue;
            }
            last_group[u] = g + 1;
            last_member[u] = m;
        }
    }
    return 0;
}

/* ---- clients -------------------------------------------------------------------------- */

/* The forwards a client names, as forward_allowed[]; absent: every forward. */
static int resolve_client_forwards(struct config *cfg, struct conf_arena *arena,
                                   const struct named_list *forwards, struct conf_diags *diags)
{
    size_t c, i, f;

    for (c = 0; c < cfg->n_clients; c++) {
        struct conf_client *cl = &cfg->clients[c];

        cl->forward_allowed = conf_arena_calloc(arena, cfg->n_forwards + 1, sizeof(bool));
        if (!cl->forward_allowed)
            return -1;
        for (f = 0; f < cfg->n_forwards && !cl->forwards_given; f++)
            cl->forward_allowed[f] = true;
        for (i = 0; i < cl->n_forward_names; i++) {
            const struct conf_str *ref = &cl->forward_names[i];
            char path[64];

            if (!ref->val)
                continue;
            snprintf(path, sizeof(path), "clients[%zu].forwards[%zu]", c, i);
            f = lookup(forwards, ref->val);
            if (f == SIZE_MAX) {
                undefined(diags, ref, path, forwards);
            } else if (cl->forward_allowed[f]) {
                conf_diag_add(diags, &ref->pos, path, "forward \"%s\" is listed twice", ref->val);
            } else {
                cl->forward_allowed[f] = true;
                if (!cfg->forwards[f].client_auth)
                    conf_diag_add(&cfg->warnings, &ref->pos, path,
                                  "warning: forward \"%s\" has no client_auth: it takes "
                                  "requests without a key, this client's included; add "
                                  "client_auth: true to that forward",
                                  ref->val);
            }
        }
    }
    return 0;
}

/* Two clients with one key could not be told apart: HAProxy finds a client by its key. */
static int check_client_keys(struct config *cfg, struct conf_arena *arena, struct conf_diags *diags)
{
    struct conf_map by_hash;
    size_t c;

    conf_map_init(&by_hash, arena);
    for (c = 0; c < cfg->n_clients; c++) {
        struct conf_client *cl = &cfg->clients[c];
        const struct conf_str *given = cl->key.val ? &cl->key : &cl->key_sha256_written;
        const struct conf_client *first;
        char path[64];
        int err = 0;

        if (!cl->key_sha256[0])
            continue;
        first = conf_map_add(&by_hash, cl->key_sha256, strlen(cl->key_sha256), cl, &err);
        if (err)
            return -1;
        if (!first)
            continue;
        snprintf(path, sizeof(path), "clients[%zu].%s", c, cl->key.val ? "key" : "key_sha256");
        conf_diag_add(diags, &given->pos, path,
                      "the same key as client \"%s\" (line %u:%u); every client needs its own "
                      "key",
                      first->name ? first->name : "", first->pos.line, first->pos.col);
    }
    return 0;
}

/* What loads but makes every request of a forward a 401, or gives keys nobody checks. */
static void warn_unused_clients(struct config *cfg)
{
    bool any_auth = false;
    size_t f, c;

    for (f = 0; f < cfg->n_forwards; f++) {
        struct conf_forward *fw = &cfg->forwards[f];
        char path[64];

        if (!fw->client_auth)
            continue;
        any_auth = true;
        for (c = 0; c < cfg->n_clients; c++)
            if (conf_client_allowed(cfg, c, f))
                break;
        if (c < cfg->n_clients)
            continue;
        snprintf(path, sizeof(path), "http_server.forwards[%zu].client_auth", f);
        conf_diag_add(&cfg->warnings, &fw->pos, path,
                      "warning: no client may use forward \"%s\": every request to it gets 401; "
                      "add clients (top-level clients) allowed on it",
                      fw->name ? fw->name : "");
    }
    if (cfg->n_clients && !any_auth)
        conf_diag_add(&cfg->warnings, &cfg->clients[0].pos, "clients",
                      "warning: no forward has client_auth: true, so no key is checked and "
                      "anyone may use every forward; add client_auth: true to the forwards "
                      "that need a key");
}

/* ---- listeners ------------------------------------------------------------------------ */

struct listener {
    struct conf_listen *l;
    char owner[48]; /* "http_server.forwards[3]" */
    struct conf_ip ip;
};

static bool pos_after(const struct conf_pos *a, const struct conf_pos *b)
{
    return a->line > b->line || (a->line == b->line && a->col > b->col);
}

static const char *format_endpoint(char *buf, size_t size, const struct conf_listen *l)
{
    snprintf(buf, size, strchr(l->address, ':') ? "[%s]:%u" : "%s:%u", l->address, l->port);
    return buf;
}

static void report_clash(struct conf_diags *diags, const struct listener *dup,
                         const struct listener *taken)
{
    char path[64], a[64], b[64], where[64];

    snprintf(path, sizeof(path), "%s.port", dup->owner);
    if (taken->l->pos.line)
        snprintf(where, sizeof(where), "at line %u:%u", taken->l->pos.line, taken->l->pos.col);
    else
        snprintf(where, sizeof(where), "by default");
    conf_diag_add(diags, &dup->l->pos, path,
                  "%s clashes with %s (%s, %s); every listener needs its own address:port",
                  format_endpoint(a, sizeof(a), dup->l), taken->owner,
                  format_endpoint(b, sizeof(b), taken->l), where);
}

static void add_listener(struct listener *v, size_t *n, struct conf_listen *l,
                         const struct conf_pos *fallback, const char *owner)
{
    struct listener *x = &v[*n];

    if (!l->address || !l->port || !conf_ip_parse(l->address, &x->ip))
        return;
    x->l = l;
    snprintf(x->owner, sizeof(x->owner), "%s", owner);
    /* A listener written without port or address is where its block is. */
    if (!l->pos.line && fallback)
        l->pos = *fallback;
    (*n)++;
}

static int check_listeners(struct config *cfg, struct conf_arena *arena, struct conf_diags *diags)
{
    struct listener *v = conf_arena_calloc(arena, cfg->n_forwards + 3, sizeof(*v));
    bool *reported = conf_arena_calloc(arena, cfg->n_forwards + 3, sizeof(*reported));
    size_t n = 0, i, j;

    if (!v || !reported)
        return -1;
    for (i = 0; i < cfg->n_forwards; i++) {
        char owner[48];

        snprintf(owner, sizeof(owner), "http_server.forwards[%zu]", i);
        add_listener(v, &n, &cfg->forwards[i].listen, &cfg->forwards[i].pos, owner);
    }
    add_listener(v, &n, &cfg->admin.listen, NULL, "http_server.admin");
    add_listener(v, &n, &cfg->agent.spop, NULL, "agent.spop");
    add_listener(v, &n, &cfg->agent.logs, NULL, "agent.logs");
    /* Quadratic, but over at most CONF_MAX_FORWARDS + 3 listeners of a few bytes each. */
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            size_t late, early;

            if (v[i].l->port != v[j].l->port || !conf_ip_overlap(&v[i].ip, &v[j].ip))
                continue;
            /* Blame the one written later in the file: the first one was there before. */
            late = pos_after(&v[i].l->pos, &v[j].l->pos) ? i : j;
            early = late == i ? j : i;
            if (reported[late])
                continue;
            reported[late] = true;
            report_clash(diags, &v[late], &v[early]);
        }
    }
    return 0;
}

/* ---- the agent's unix sockets ---------------------------------------------------------- */

/* agent.spop / agent.logs without address, port or socket: a unix socket in run_dir. */
static int default_agent_socket(const struct config *cfg, struct conf_arena *arena,
                                struct conf_listen *l, const char *name)
{
    const char *run_dir = cfg->haproxy.run_dir.val;
    char *path;
    size_t n;

    if (l->address || l->socket.val || !run_dir)
        return 0;
    n = strlen(run_dir) + 1 + strlen(name) + 1;
    if (!(path = conf_arena_alloc(arena, n)))
        return -1;
    snprintf(path, n, "%s/%s", run_dir, name);
    l->socket.val = path;
    return 0;
}

static int check_agent_sockets(struct config *cfg, struct conf_arena *arena,
                               struct conf_diags *diags)
{
    struct conf_listen *spop = &cfg->agent.spop, *logs = &cfg->agent.logs;

    if (default_agent_socket(cfg, arena, spop, CONF_SPOP_SOCKET_NAME) < 0 ||
        default_agent_socket(cfg, arena, logs, CONF_LOGS_SOCKET_NAME) < 0)
        return -1;
    if (spop->socket.val && logs->socket.val && strcmp(spop->socket.val, logs->socket.val) == 0)
        conf_diag_add(diags, logs->socket.pos.line ? &logs->socket.pos : &spop->socket.pos,
                      logs->socket.pos.line ? "agent.logs.socket" : "agent.spop.socket",
                      "\"%s\" is both agent.spop's and agent.logs' socket; each needs its own",
                      logs->socket.val);
    return 0;
}

/*
 * The agent trusts whatever reaches its SPOP and log-feed listeners (forged picks and log
 * lines steer rate limits and breakers). A unix socket is reachable by its group only; TCP
 * on anything but loopback is reachable by the network, so say so.
 */
static void warn_exposed(struct config *cfg, const struct conf_listen *l, const char *key)
{
    struct conf_ip ip;

    if (l->socket.val || !l->address || !conf_ip_parse(l->address, &ip) || conf_ip_is_loopback(&ip))
        return;
    conf_diag_add(&cfg->warnings, &l->pos, key,
                  "warning: %s is not a loopback address; whoever reaches this port can forge "
                  "the agent's input: prefer the unix socket (leave address and port out), or "
                  "firewall it to HAProxy's host",
                  l->address);
}

int conf_check(struct config *cfg, struct conf_diags *diags)
{
    struct named_list forwards = NAMED_LIST("http_server.forwards", "forward", "forwards",
                                            cfg->forwards, cfg->n_forwards, struct conf_forward);
    struct named_list upstreams = NAMED_LIST("upstreams", "upstream", "upstreams", cfg->upstreams,
                                             cfg->n_upstreams, struct conf_upstream);
    struct named_list groups = NAMED_LIST("upstream_groups", "group", "groups", cfg->groups,
                                          cfg->n_groups, struct conf_group);
    struct named_list clients = NAMED_LIST("clients", "client", "clients", cfg->clients,
                                           cfg->n_clients, struct conf_client);
    struct conf_arena *arena = cfg->arena;

    if (index_names(&forwards, arena, diags) < 0 || index_names(&upstreams, arena, diags) < 0 ||
        index_names(&groups, arena, diags) < 0 || index_names(&clients, arena, diags) < 0 ||
        resolve_members(cfg, arena, &upstreams, diags) < 0 ||
        resolve_client_forwards(cfg, arena, &forwards, diags) < 0 ||
        check_client_keys(cfg, arena, diags) < 0 || check_listeners(cfg, arena, diags) < 0 ||
        check_agent_sockets(cfg, arena, diags) < 0) {
        struct conf_pos pos = {cfg->file, 0, 0};

        conf_diag_add(diags, &pos, NULL, "the configuration is too large to check (out of memory)");
        return -1;
    }
    resolve_forwards(cfg, &groups, diags);
    warn_exposed(cfg, &cfg->agent.spop, "agent.spop");
    warn_exposed(cfg, &cfg->agent.logs, "agent.logs");
    warn_unused_clients(cfg);
    conf_engine_check(cfg, diags);
    return 0;
}
