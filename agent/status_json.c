#include <math.h>
#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "breaker.h"
#include "buf.h"
#include "config.h"
#include "promtext.h"
#include "state.h"
#include "cluster_link.h"
#include "status_json.h"

/* ---- JSON text ------------------------------------------------------------------------ */

/*
 * Length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when the bytes there are not one.
 */
static size_t utf8_sequence(const unsigned char *p, size_t left)
{
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

void status_json_string(struct buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    buf_puts(out, "\"");
    while (i < len) {
        size_t run = i, n;

        /* Copy plain bytes in runs; stop at anything that needs a second look. */
        while (run < len && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '"' && p[run] != '\\')
            run++;
        buf_append(out, p + i, run - i);
        if ((i = run) == len)
            break;
        switch (p[i]) {
        case '"':
            buf_puts(out, "\\\"");
            break;
        case '\\':
            buf_puts(out, "\\\\");
            break;
        case '\n':
            buf_puts(out, "\\n");
            break;
        case '\r':
            buf_puts(out, "\\r");
            break;
        case '\t':
            buf_puts(out, "\\t");
            break;
        default:
            if (p[i] < 0x80) { /* other controls and DEL */
                buf_printf(out, "\\u%04x", p[i]);
                break;
            }
            n = utf8_sequence(p + i, len - i);
            if (n == 0) {
                buf_puts(out, "\\ufffd");
                break;
            }
            buf_append(out, p + i, n);
            i += n;
            continue;
        }
        i++;
    }
    buf_puts(out, "\"");
}

static void json_key(struct buf *out, const char *key)
{
    buf_printf(out, "\"%s\":", key); /* keys are our own literals: nothing to escape */
}

static void json_str_field(struct buf *out, const char *key, const char *value)
{
    json_key(out, key);
    status_json_string(out, value, strlen(value));
}

static void json_u64_field(struct buf *out, const char *key, uint64_t value)
{
    json_key(out, key);
    buf_printf(out, "%llu", (unsigned long long)value);
}

/* JSON has no NaN or infinity: such a value, or one not `present`, is null. */
static void json_num_field(struct buf *out, const char *key, double value, bool present)
{
    char num[PROM_NUM_MAX];

    json_key(out, key);
    if (!present || !isfinite(value)) {
        buf_puts(out, "null");
        return;
    }
    prom_format_number(num, value);
    buf_puts(out, num);
}

static void json_bool_field(struct buf *out, const char *key, bool value)
{
    json_key(out, key);
    buf_puts(out, value ? "true" : "false");
}

/* ---- the document --------------------------------------------------------------------- */

static void render_listen(struct buf *out, const struct conf_listen *l)
{
    char text[128];
    bool v6 = strchr(l->address, ':') != NULL;

    snprintf(text, sizeof(text), "%s%s%s:%u", v6 ? "[" : "", l->address, v6 ? "]" : "", l->port);
    json_str_field(out, "listen", text);
}

static void render_ratelimit(struct buf *out, bool enabled, uint32_t per_second, uint32_t burst)
{
    json_key(out, "ratelimit");
    if (enabled) {
        buf_puts(out, "{");
        json_u64_field(out, "per_second", per_second);
        buf_puts(out, ",");
        json_u64_field(out, "burst", burst);
        buf_puts(out, "}");
    } else {
        buf_puts(out, "null");
    }
}

/* Names and counters only: a client's key and its hash never leave the configuration. */
static void render_client(struct buf *out, const struct client_rt *cl)
{
    const struct conf_client *conf = cl->conf;

    buf_puts(out, "{");
    json_str_field(out, "name", conf->name);
    buf_puts(out, ",");
    render_ratelimit(out, conf->ratelimit_enabled, conf->ratelimit_per_second,
                     conf->ratelimit_burst);
    buf_puts(out, ",");
    json_u64_field(out, "requests", cl->picks);
    buf_puts(out, ",");
    json_u64_field(out, "limited", cl->limited);
    buf_puts(out, "}");
}

static const char *route_kind_name(enum route_kind k)
{
    switch (k) {
    case ROUTE_MODEL:
        return "model";
    case ROUTE_MODEL_PREFIX:
        return "model_prefix";
    case ROUTE_PATH:
        break;
    }
    return "path";
}

/* A forward with routing lists its rules in order: the index is the log lines' <route>. */
static void render_routes(struct buf *out, const struct agent_state *st,
                          const struct conf_forward *conf)
{
    buf_puts(out, ",\"routes\":[");
    for (size_t r = 0; r < conf->n_routes; r++) {
        const struct conf_route *route = &conf->routes[r];

        buf_puts(out, r ? ",{" : "{");
        json_u64_field(out, "index", r);
        buf_puts(out, ",");
        json_str_field(out, "kind", route_kind_name(route->kind));
        buf_puts(out, ",");
        json_str_field(out, "pattern", route->pattern.val ? route->pattern.val : "");
        buf_puts(out, ",");
        json_str_field(out, "group", st->cfg->groups[route->group].name);
        buf_puts(out, "}");
    }
    buf_puts(out, "]");
}

static void render_forward(struct buf *out, const struct agent_state *st,
                           const struct forward_rt *fwd)
{
    const struct conf_forward *conf = fwd->conf;

    buf_puts(out, "{");
    json_str_field(out, "name", conf->name);
    buf_puts(out, ",");
    render_listen(out, &conf->listen);
    buf_puts(out, ",");
    json_str_field(out, "group", st->cfg->groups[conf->group].name);
    buf_puts(out, ",");
    render_ratelimit(out, conf->ratelimit_enabled, conf->ratelimit_per_second,
                     conf->ratelimit_burst);
    buf_puts(out, ",");
    json_u64_field(out, "limited", fwd->limited);
    buf_puts(out, ",");
    json_u64_field(out, "unavailable", fwd->unavailable);
    if (conf->n_routes > 0)
        render_routes(out, st, conf);
    buf_puts(out, "}");
}

static void render_group(struct buf *out, const struct group_rt *grp)
{
    const struct conf_group *conf = grp->conf;

    buf_puts(out, "{");
    json_str_field(out, "name", conf->name);
    buf_puts(out, ",");
    json_str_field(out, "strategy", balance_strategy_name(conf->strategy));
    buf_puts(out, ",\"members\":[");
    for (size_t k = 0; k < conf->n_members; k++) {
        buf_puts(out, k ? ",{" : "{");
        json_str_field(out, "upstream", grp->members[k]->conf->name);
        buf_puts(out, ",");
        json_u64_field(out, "weight", conf->members[k].weight);
        if (grp->affinity) {
            buf_puts(out, ",");
            json_u64_field(out, "sessions", grp->affinity->sessions[k]);
        }
        buf_puts(out, "}");
    }
    buf_puts(out, "]");
    if (grp->affinity) {
        buf_puts(out, ",");
        json_u64_field(out, "sessions", grp->affinity->held);
    }
    buf_puts(out, "}");
}

static void render_breaker(struct buf *out, struct breaker *b, uint64_t now_ms)
{
    const struct breaker_counters *c = breaker_counters(b);
    uint64_t attempts, failures;

    breaker_window_counts(b, now_ms, &attempts, &failures);
    buf_puts(out, "{");
    json_bool_field(out, "enabled", b->enabled);
    buf_puts(out, ",");
    json_str_field(out, "state", breaker_state_name(breaker_state(b, now_ms)));
    buf_puts(out, ",");
    json_num_field(out, "threshold", b->threshold, b->enabled);
    buf_puts(out, ",");
    json_num_field(out, "cooldown_s", (double)b->cooldown_ms / 1000.0, b->enabled);
    buf_puts(out, ",");
    json_u64_field(out, "window_attempts", attempts);
    buf_puts(out, ",");
    json_u64_field(out, "window_failures", failures);
    buf_puts(out, ",");
    json_u64_field(out, "opened", c->opened);
    buf_puts(out, ",");
    json_u64_field(out, "closed", c->closed);
    buf_puts(out, ",");
    json_u64_field(out, "half_opened", c->half_opened);
    buf_puts(out, ",");
    json_u64_field(out, "success", c->success);
    buf_puts(out, ",");
    json_u64_field(out, "failure", c->failure);
    buf_puts(out, ",");
    json_u64_field(out, "rejected", c->rejected);
    buf_puts(out, "}");
}

static void render_upstream(struct buf *out, struct upstream_rt *up, uint64_t now_ms)
{
    /* The same input response_aware's pick sees, so the score shown is the one it uses. */
    struct bal_candidate c = upstream_candidate(up, true, now_ms);

    buf_puts(out, "{");
    json_str_field(out, "name", up->conf->name);
    buf_puts(out, ",");
    json_str_field(out, "url", up->conf->url.val);
    buf_puts(out, ",\"breaker\":");
    render_breaker(out, &up->breaker, now_ms);
    buf_puts(out, ",");
    json_num_field(out, "ema_ms", up->ema_ms, up->measured);
    buf_puts(out, ",");
    json_num_field(out, "success_rate", c.success_rate, true);
    buf_puts(out, ",");
    json_u64_field(out, "in_flight", c.in_flight);
    buf_puts(out, ",");
    json_num_field(out, "score", balancer_score(&c), up->measured);
    buf_puts(out, ",");
    json_u64_field(out, "picks", up->picks);
    buf_puts(out, "}");
}

static void render_cluster(struct buf *out, const struct status_cluster *c, uint64_t now_ms)
{
    const struct cluster_link *l = &c->redis->link;
    const struct {
        const char *key;
        uint64_t value;
    } counts[] = {
        {"since_ms", now_ms - l->since_ms}, {"fallbacks", l->fallbacks},
        {"recoveries", l->recoveries},      {"errors", l->errors},
        {"timeouts", l->timeouts},          {"batches", c->redis->batches},
        {"buckets", c->table->entries},     {"keys_deferred", c->table->keys_deferred},
    };

    buf_puts(out, ",\"cluster\":{");
    json_str_field(out, "redis", c->endpoint);
    buf_puts(out, ",");
    json_str_field(out, "state", cluster_link_state_name(l->state));
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        buf_puts(out, ",");
        json_u64_field(out, counts[i].key, counts[i].value);
    }
    buf_puts(out, ",");
    json_num_field(out, "batch_rtt_ms", (double)c->redis->last_rtt_us / 1000.0,
                   c->redis->batches > 0);
    buf_puts(out, "}");
}

bool status_json_render(struct agent_state *st, uint64_t now_ms, struct buf *out)
{
    return status_json_render_cluster(st, NULL, now_ms, out);
}

bool status_json_render_cluster(struct agent_state *st, const struct status_cluster *cluster,
                                uint64_t now_ms, struct buf *out)
{
    const struct config *cfg = st->cfg;

    buf_puts(out, "{");
    json_u64_field(out, "version", STATUS_JSON_VERSION);
    buf_puts(out, ",\"forwards\":[");
    for (size_t i = 0; i < cfg->n_forwards; i++) {
        if (i)
            buf_puts(out, ",");
        render_forward(out, st, &st->forwards[i]);
    }
    buf_puts(out, "],\"groups\":[");
    for (size_t i = 0; i < cfg->n_groups; i++) {
        if (i)
            buf_puts(out, ",");
        render_group(out, &st->groups[i]);
    }
    buf_puts(out, "],\"upstreams\":[");
    for (size_t i = 0; i < cfg->n_upstreams; i++) {
        if (i)
            buf_puts(out, ",");
        render_upstream(out, &st->upstreams[i], now_ms);
    }
    buf_puts(out, "]");
    /* Only where clients exist, so that a configuration without has the document it had. */
    if (state_has_clients(st)) {
        buf_puts(out, ",\"clients\":[");
        for (size_t i = 0; i < cfg->n_clients; i++) {
            if (i)
                buf_puts(out, ",");
            render_client(out, &st->clients[i]);
        }
        buf_puts(out, "]");
    }
    if (cluster)
        render_cluster(out, cluster, now_ms);
    buf_puts(out, "}\n");
    return !out->overflow;
}
