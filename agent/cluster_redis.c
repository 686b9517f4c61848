/*
 * hiredis on the agent's loop. The one rule: nothing here waits. The host name is looked
 * up by the resolver's thread (resolver.h), hiredis connects non-blocking, and a batch
 * that is late is abandoned with its connection, not waited for.
 *
 * One batch is in flight at a time: a Redis that cannot answer one within timeout_ms is
 * treated as down, rather than queueing batch after batch behind it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cluster_key.h"
#include "cluster_link.h"
#include "cluster_redis.h"
#include "cluster_reply.h"
#include "cluster_table.h"
#include "log.h"
#include "net.h"
#include "resolver.h"

/*
 * Adds each bucket's spend (ARGV: spend, per_second, burst per key, in tokens) to the
 * shared bucket refilled by Redis' own clock, so that the agents' clocks never meet, and
 * answers each level in millitokens. The level may go down to -capacity: the debt of an
 * overshoot is repaid, not forgiven. An idle key expires once it would be full again.
 */
static const char sync_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local spend = tonumber(ARGV[3 * i - 2]) * 1000\n"
    "  local rate = tonumber(ARGV[3 * i - 1])\n"
    "  local cap = tonumber(ARGV[3 * i]) * 1000\n"
    "  local v = redis.call('HMGET', KEYS[i], 'l', 't')\n"
    "  local level, at = tonumber(v[1]), tonumber(v[2])\n"
    "  if not level or not at then level, at = cap, now end\n"
    "  if now > at then level = level + (now - at) * rate end\n"
    "  level = math.max(-cap, math.min(cap, level) - spend)\n"
    "  redis.call('HSET', KEYS[i], 'l', level, 't', now)\n"
    "  redis.call('PEXPIRE', KEYS[i], math.ceil(2 * cap / rate) + 1000)\n"
    "  out[i] = level\n"
    "end\n"
    "return out\n";

/* Connecting (lookup, TCP, AUTH, SELECT, SCRIPT LOAD) may take this much longer than a
 * batch: decisions are local meanwhile, so patience costs nothing. */
#define CONNECT_GRACE_MS 1000u
#define NUM_LEN          11 /* a uint32_t in decimal, and the NUL */

enum phase {
    PHASE_IDLE = 0,  /* no connection: waiting for the backoff */
    PHASE_RESOLVING, /* looking the host up */
    PHASE_SETUP,     /* connected or connecting: AUTH, SELECT, SCRIPT LOAD in flight */
    PHASE_READY,     /* batches flow */
};

struct cluster_redis {
    struct ev_loop *loop;
    struct cluster_table *table;
    char *host, *password, *prefix;
    uint16_t port;
    uint32_t db, timeout_ms, interval_ms;
    char endpoint[300];

    struct resolver *resolver;
    struct resolver_lookup *lookup;
    redisAsyncContext *ac;
    enum phase phase;
    uint64_t phase_since_ms;
    char sha[41];

    bool in_flight;
    uint64_t sent_ms;
    size_t n_items;
    int64_t limit_mt; /* the largest capacity in the batch in flight */
    struct cluster_batch_item *items;
    int64_t *levels;
    char (*keys)[CLUSTER_REDIS_KEY_MAX];
    char (*nums)[NUM_LEN];
    const char **argv;
    size_t *argvlen;

    struct cluster_redis_stats stats;
    ev_timer tick;
};

static void set_phase(struct cluster_redis *c, enum phase p, uint64_t now_ms)
{
    c->phase = p;
    c->phase_since_ms = now_ms;
}

/*
 * The link failed: decisions are local from now on. `ac_too` frees the connection (not
 * from inside a hiredis callback: there hiredis frees it, or is asked to by disconnect).
 */
static void link_lost(struct cluster_redis *c, const char *why, bool timeout, bool in_callback)
{
    uint64_t now = monotonic_ms();
    redisAsyncContext *ac = c->ac;

    if (c->in_flight)
        c->stats.batch_errors++;
    c->in_flight = false;
    cluster_table_batch_lost(c->table);
    cluster_table_set_sharing(c->table, false);
    if (cluster_link_failed(&c->stats.link, now, timeout))
        log_warn("cluster: Redis %s: %s; deciding on local buckets until it answers again",
                 c->endpoint, why);
    else
        log_debug("cluster: Redis %s: %s (failure %u)", c->endpoint, why, c->stats.link.failures);
    c->ac = NULL;
    if (c->lookup) {
        resolver_cancel(c->lookup);
        c->lookup = NULL;
    }
    set_phase(c, PHASE_IDLE, now);
    if (ac) {
        if (in_callback)
            redisAsyncDisconnect(ac);
        else
            redisAsyncFree(ac);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct cluster_redis *c = ac->data;

    (void)status;
    if (c && ac == c->ac) {
        c->ac = NULL; /* hiredis frees it */
        link_lost(c, "connection closed", false, true);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct cluster_redis *c = ac->data;

    if (status != REDIS_OK && c && ac == c->ac) {
        c->ac = NULL; /* hiredis frees it */
        link_lost(c, ac->errstr[0] ? ac->errstr : "connect failed", false, true);
    }
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cluster_redis *c = ac->data;
    bool is_script = privdata != NULL;
    char err[160];

    if (!c || ac != c->ac)
        return;
    if (cluster_reply_ok(reply, is_script ? c->sha : NULL, err, sizeof(err)) < 0) {
        link_lost(c, reply ? err : "no reply", false, true);
        return;
    }
    if (!is_script)
        return;
    set_phase(c, PHASE_READY, monotonic_ms());
    cluster_table_set_sharing(c->table, true);
    if (cluster_link_up(&c->stats.link, monotonic_ms()))
        log_info("cluster: Redis %s answers: token buckets are shared", c->endpoint);
}

static void send_setup(struct cluster_redis *c)
{
    char db[NUM_LEN];

    /* A password travels only to Redis: never in a log line, never in /status. */
    if (c->password)
        redisAsyncCommand(c->ac, on_setup_reply, NULL, "AUTH %s", c->password);
    if (c->db) {
        snprintf(db, sizeof(db), "%u", c->db);
        redisAsyncCommand(c->ac, on_setup_reply, NULL, "SELECT %s", db);
    }
    redisAsyncCommand(c->ac, on_setup_reply, c, "SCRIPT LOAD %s", sync_script);
}

static void on_resolved(void *ctx, int err, const struct sockaddr *addr, socklen_t len)
{
    struct cluster_redis *c = ctx;
    char ip[INET6_ADDRSTRLEN] = "";
    redisAsyncContext *ac;

    (void)len;
    c->lookup = NULL;
    if (err || !addr) {
        link_lost(c, "host name lookup failed", false, false);
        return;
    }
    if (addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, ip,
                  sizeof(ip));
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, ip,
                  sizeof(ip));
    ac = redisAsyncConnect(ip, c->port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        link_lost(c, "cannot open a connection", false, false);
        return;
    }
    ac->data = c;
    c->ac = ac;
    cluster_reply_cap_arrays(ac->c.reader);
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    set_phase(c, PHASE_SETUP, monotonic_ms());
    send_setup(c);
}

static void on_batch_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cluster_redis *c = ac->data;
    uint64_t now = monotonic_ms();
    char err[160];

    (void)privdata;
    if (!c || ac != c->ac || !c->in_flight)
        return;
    if (cluster_reply_levels(reply, c->n_items, c->limit_mt, c->levels, err, sizeof(err)) < 0) {
        /* A NOSCRIPT (Redis restarted or flushed) heals by reconnecting: that loads it. */
        link_lost(c, reply ? err : "no reply", false, true);
        return;
    }
    c->in_flight = false;
    cluster_table_batch_done(c->table, c->levels, c->n_items, now);
    c->stats.batches++;
    c->stats.last_rtt_us = (now - c->sent_ms) * 1000;
    if (c->stats.last_rtt_us > c->stats.max_rtt_us)
        c->stats.max_rtt_us = c->stats.last_rtt_us;
}

static void send_batch(struct cluster_redis *c, uint64_t now)
{
    size_t n = cluster_table_batch_begin(c->table, c->items), argc = 3;

    if (n == 0)
        return;
    c->argv[0] = "EVALSHA";
    c->argv[1] = c->sha;
    snprintf(c->nums[0], NUM_LEN, "%u", (unsigned)n); /* n <= max_keys_per_sync */
    c->argv[2] = c->nums[0];
    c->limit_mt = 0;
    for (size_t i = 0; i < n; i++) {
        cluster_key_redis(c->keys[i], c->prefix, &c->items[i].key);
        c->argv[argc++] = c->keys[i];
        if ((int64_t)c->items[i].burst * 1000 > c->limit_mt)
            c->limit_mt = (int64_t)c->items[i].burst * 1000;
    }
    for (size_t i = 0; i < n; i++) {
        const uint32_t fields[3] = {c->items[i].spend, c->items[i].per_second, c->items[i].burst};

        for (size_t f = 0; f < 3; f++) {
            snprintf(c->nums[1 + 3 * i + f], NUM_LEN, "%u", fields[f]);
            c->argv[argc++] = c->nums[1 + 3 * i + f];
        }
    }
    for (size_t i = 0; i < argc; i++)
        c->argvlen[i] = strlen(c->argv[i]);
    c->n_items = n;
    c->sent_ms = now;
    c->in_flight = true;
    if (redisAsyncCommandArgv(c->ac, on_batch_reply, NULL, (int)argc, c->argv, c->argvlen) !=
        REDIS_OK)
        link_lost(c, "cannot send a batch", false, false);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cluster_redis *c = w->data;
    uint64_t now = monotonic_ms();

    (void)loop;
    (void)revents;
    switch (c->phase) {
    case PHASE_IDLE:
        if (!cluster_link_may_connect(&c->stats.link, now))
            break;
        set_phase(c, PHASE_RESOLVING, now);
        c->lookup = resolver_start(c->resolver, c->host, c->port, on_resolved, c);
        if (!c->lookup)
            link_lost(c, "cannot start a host name lookup", false, false);
        break;
    case PHASE_RESOLVING:
    case PHASE_SETUP:
        if (now - c->phase_since_ms >= c->timeout_ms + CONNECT_GRACE_MS)
            link_lost(c, "connecting took too long", true, false);
        break;
    case PHASE_READY:
        if (c->in_flight) {
            if (now - c->sent_ms >= c->timeout_ms)
                link_lost(c, "a sync batch was not answered in time", true, false);
        } else {
            send_batch(c, now);
        }
        break;
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct cluster_redis *cluster_redis_start(struct ev_loop *loop, const struct conf_cluster *conf,
                                          struct cluster_table *table)
{
    struct cluster_redis *c = calloc(1, sizeof(*c));
    size_t max = table->max_batch;

    if (!c)
        return NULL;
    c->loop = loop;
    c->table = table;
    c->host = dup_or_null(conf->host);
    c->password = dup_or_null(conf->password.val);
    c->prefix = strdup(conf->key_prefix.val ? conf->key_prefix.val : "");
    c->port = conf->port;
    c->db = conf->db;
    c->timeout_ms = conf->timeout_ms;
    c->interval_ms = conf->sync_interval_ms;
    snprintf(c->endpoint, sizeof(c->endpoint), strchr(conf->host, ':') ? "[%s]:%u" : "%s:%u",
             conf->host, conf->port);
    c->resolver = resolver_create(loop);
    c->items = calloc(max, sizeof(*c->items));
    c->levels = calloc(max, sizeof(*c->levels));
    c->keys = calloc(max, sizeof(*c->keys));
    c->nums = calloc(1 + 3 * max, sizeof(*c->nums));
    c->argv = calloc(3 + 4 * max, sizeof(*c->argv));
    c->argvlen = calloc(3 + 4 * max, sizeof(*c->argvlen));
    if (!c->host || (conf->password.val && !c->password) || !c->prefix || !c->resolver ||
        !c->items || !c->levels || !c->keys || !c->nums || !c->argv || !c->argvlen) {
        cluster_redis_stop(c);
        return NULL;
    }
    cluster_link_init(&c->stats.link, monotonic_ms());
    ev_timer_init(&c->tick, on_tick, 0, c->interval_ms / 1000.0);
    c->tick.data = c;
    ev_timer_start(loop, &c->tick);
    log_info("cluster: sharing token buckets through Redis %s, synced every %u ms", c->endpoint,
             c->interval_ms);
    return c;
}

void cluster_redis_stop(struct cluster_redis *c)
{
    if (!c)
        return;
    if (c->loop)
        ev_timer_stop(c->loop, &c->tick);
    if (c->lookup)
        resolver_cancel(c->lookup);
    if (c->ac) {
        redisAsyncContext *ac = c->ac;

        c->ac = NULL;
        redisAsyncFree(ac);
    }
    resolver_free(c->resolver);
    if (c->password) /* a secret: not left in freed memory */
        explicit_bzero(c->password, strlen(c->password));
    free(c->password);
    free(c->host);
    free(c->prefix);
    free(c->items);
    free(c->levels);
    free(c->keys);
    free(c->nums);
    free(c->argv);
    free(c->argvlen);
    free(c);
}

void cluster_redis_stats(const struct cluster_redis *c, struct cluster_redis_stats *out)
{
    *out = c->stats;
}

const char *cluster_redis_endpoint(const struct cluster_redis *c)
{
    return c->endpoint;
}
