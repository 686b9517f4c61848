/*
 * llmproxy-agent: answers HAProxy over SPOP with every per-request decision.
 *
 * One libev loop owns all state. SIGHUP reloads the configuration (unchanged upstreams
 * keep their breaker and statistics), SIGTERM / SIGINT stop gracefully.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "admin.h"
#include "attempt_memo.h"
#include "cluster_key.h"
#include "cluster_redis.h"
#include "cluster_table.h"
#include "config.h"
#include "decide.h"
#include "engine_fleet.h"
#include "feed_rescue.h"
#include "haproxy_api.h"
#include "judge.h"
#include "log.h"
#include "logline.h"
#include "logfeed.h"
#include "metrics.h"
#include "metrics_page.h"
#include "mirror.h"
#include "net.h"
#include "outcome.h"
#include "pidfile.h"
#include "ratelimit.h"
#include "retry.h"
#include "siphash.h"
#include "promtext.h"
#include "spop_server.h"
#include "state.h"
#include "status_json.h"
#include "tunnel.h"
#include "unix_socket.h"

/* Retry bookkeeping: ids are forgotten after the longest request could have lasted. */
#define ATTEMPTS_MAX    262144
#define ATTEMPTS_TTL_MS (3600u * 1000)
/* Housekeeping: how often, and how much work each round may do. */
#define HOUSEKEEPING_S 1.0
#define EXPIRE_WORK    4096

struct agent {
    struct ev_loop *loop;
    const char *config_path;
    const char *run_as; /* -u USER, NULL: keep the user we were started as */
    uid_t run_uid;      /* run_as's ids, looked up before anything is bound */
    gid_t run_gid;
    struct decider decider;
    struct spop_server *spop;
    struct logfeed *logfeed;
    struct metrics *metrics;
    struct admin_server *admin;
    struct haproxy_api *hapi;     /* NULL: breakers are not mirrored into HAProxy */
    struct tunnels *tunnels;      /* CONNECT tunnels of proxied groups (often none) */
    struct engine_fleet *engines; /* least_load groups' metrics pages (often none) */
    /* Lent to every state, so a reload forgets nothing: see attempt_memo.h. */
    struct attempt_memo *attempt_memo;
    struct mirror mirror;
    uint64_t logfeed_conns_seen; /* a new log-feed connection is a new HAProxy process */
    struct feed_rescue rescue;   /* its api NULL: the log feed is not watched */
    uint64_t spop_conns_seen;    /* HAProxy runs while SPOP connections (health checks too) come */
    ev_signal sighup, sigterm, sigint;
    ev_timer housekeeping;
    /* agent.cluster.redis: the buckets' link to Redis, and the key prefix, kept as started
     * (a reload does not change them); NULL and "" without it. */
    struct cluster_redis *cluster;
    char cluster_prefix[CLUSTER_KEY_PREFIX_MAX + 1];
};

static void usage(FILE *out)
{
    fprintf(out, "usage: llmproxy-agent -c FILE [-t] [-l LEVEL] [-p PIDFILE] [-u USER]\n"
                 "\n"
                 "Answers HAProxy's SPOP decisions for LLMProxy.\n"
                 "\n"
                 "  -c, --config FILE   LLMProxy YAML configuration (required)\n"
                 "  -t, --test          check the configuration and exit\n"
                 "  -l, --log-level L   error, warn, info (default) or debug\n"
                 "  -p, --pidfile FILE  write the agent's PID there (removed at exit)\n"
                 "  -u, --user USER     once every listener is bound, switch to USER and its\n"
                 "                      groups (needs root; without it, root is kept); the\n"
                 "                      agent's unix sockets (SPOP, log feed, tunnels) are\n"
                 "                      given to USER, mode 0600 (0660 with the group\n"
                 "                      haproxy.socket_group when set)\n"
                 "  -h, --help          this help\n"
                 "  -V, --version       print the version\n"
                 "\n"
                 "Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop.\n");
}

/* The -u user's ids, looked up before anything is bound so that a typo fails at once. */
static int lookup_user(struct agent *ag)
{
    const struct passwd *pw = getpwnam(ag->run_as);

    if (!pw) {
        log_error("-u %s: no such user", ag->run_as);
        return -1;
    }
    if (pw->pw_uid != geteuid() && geteuid() != 0) {
        log_error("-u %s: only root can switch to another user", ag->run_as);
        return -1;
    }
    ag->run_uid = pw->pw_uid;
    ag->run_gid = pw->pw_gid;
    return 0;
}

/*
 * Give up root for good once the listeners are bound (ports below 1024 need it only to
 * bind). Groups first, then the group, then the user: after setuid nothing else may be
 * changed. A process that could get root back has not dropped it, so that is checked.
 */
static int drop_privileges(const struct agent *ag)
{
    if (geteuid() == ag->run_uid && getegid() == ag->run_gid)
        return 0;
    if (initgroups(ag->run_as, ag->run_gid) != 0 || setgid(ag->run_gid) != 0 ||
        setuid(ag->run_uid) != 0) {
        log_error("cannot switch to user %s: %s", ag->run_as, strerror(errno));
        return -1;
    }
    if (ag->run_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        log_error("switched to user %s but root could be regained: refusing to run", ag->run_as);
        return -1;
    }
    log_info("running as user %s (uid %ld, gid %ld)", ag->run_as, (long)ag->run_uid,
             (long)ag->run_gid);
    return 0;
}

static struct config *load_config(const char *path)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load(path, &diags);

    if (cfg)
        conf_diags_print(&cfg->warnings, stderr);
    else {
        conf_diags_print(&diags, stderr);
        log_error("%s: %zu error%s", path, diags.n, diags.n == 1 ? "" : "s");
    }
    conf_diags_free(&diags);
    return cfg;
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;

    /* Keyed hashing and seeds only defend against crafted floods: if the kernel's
     * generator fails, a clock-derived value still works. */
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = monotonic_ms() * 0x9e3779b97f4a7c15ull;
    return v;
}

static struct siphash_key random_key(void)
{
    return (struct siphash_key){.k0 = random_u64(), .k1 = random_u64()};
}

/*
 * Open breakers mirrored into HAProxy's weights (mirror.h) through its runtime API. Most
 * commands a round may queue; the rest are sent again by the next round.
 */
#define MIRROR_QUEUE 1024

static bool mirror_emit(void *ctx, const char *cmd, uint64_t cookie)
{
    struct agent *ag = ctx;

    return hapi_submit(ag->hapi, cmd, cookie);
}

static void mirror_push(struct agent *ag)
{
    if (ag->hapi)
        mirror_sync(&ag->mirror, monotonic_ms(), mirror_emit, ag);
}

static void on_hapi_done(void *ctx, uint64_t cookie, bool ok)
{
    struct agent *ag = ctx;

    mirror_done(&ag->mirror, cookie, ok);
}

static void on_breaker_transition(void *ctx, const struct upstream_rt *up, enum breaker_state from,
                                  enum breaker_state to)
{
    (void)up;
    (void)from;
    (void)to;
    mirror_push(ctx);
}

/* Where llmproxy-ctl renders HAProxy's runtime API socket. */
static void api_socket_path(const struct agent *ag, char *path, size_t size)
{
    snprintf(path, size, "%s/" HAPI_SOCKET_NAME, ag->decider.state->cfg->haproxy.run_dir.val);
}

static void mirror_start(struct agent *ag)
{
    char path[4096];

    mirror_init(&ag->mirror);
    api_socket_path(ag, path, sizeof(path));
    ag->hapi = hapi_create(ag->loop, path, MIRROR_QUEUE, on_hapi_done, ag);
    if (!ag->hapi || !mirror_use_state(&ag->mirror, ag->decider.state)) {
        log_error("not mirroring breakers into HAProxy: %s",
                  ag->hapi ? "out of memory" : "haproxy.run_dir too long for a unix socket");
        hapi_free(ag->hapi);
        ag->hapi = NULL;
        return;
    }
    ag->decider.state->on_transition = on_breaker_transition;
    ag->decider.state->transition_ctx = ag;
}

/* HAProxy's log ring connects once per process: a new connection is a new worker, which
 * started from its configuration file and knows nothing of the weights pushed so far. */
static void mirror_housekeeping(struct agent *ag)
{
    if (ag->logfeed && logfeed_stats(ag->logfeed)->accepted != ag->logfeed_conns_seen) {
        ag->logfeed_conns_seen = logfeed_stats(ag->logfeed)->accepted;
        log_info("HAProxy log feed connected: asserting every server weight again");
        mirror_forget(&ag->mirror);
    }
    mirror_push(ag);
}

static void rescue_start(struct agent *ag)
{
    char path[4096];

    if (!ag->logfeed)
        return;
    api_socket_path(ag, path, sizeof(path));
    if (!feed_rescue_init(&ag->rescue, ag->loop, path, HAPROXY_LOG_RING, monotonic_ms()))
        log_error("not watching for a stuck log ring forwarder: %s",
                  "out of memory or haproxy.run_dir too long for a unix socket");
}

/* Whether HAProxy's log ring reaches the agent; feed_rescue.h says what is done when not. */
static void rescue_housekeeping(struct agent *ag, uint64_t now)
{
    struct spop_server_stats spop;
    bool haproxy_seen;

    if (!ag->rescue.api)
        return;
    spop_server_stats(ag->spop, &spop);
    haproxy_seen = spop.open > 0 || spop.accepted != ag->spop_conns_seen;
    ag->spop_conns_seen = spop.accepted;
    feed_rescue_tick(&ag->rescue, now, logfeed_stats(ag->logfeed)->open > 0, haproxy_seen);
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct agent *ag = w->data;
    struct config *cfg;
    struct agent_state *st;
    char summary[CONF_SUMMARY_MAX];

    (void)loop;
    (void)revents;
    log_info("reloading %s", ag->config_path);
    cfg = load_config(ag->config_path);
    if (!cfg) {
        log_error("reload refused: keeping the running configuration");
        return;
    }
    st = state_create(cfg, ag->decider.state, random_u64());
    if (!st) {
        config_free(cfg);
        log_error("reload failed: out of memory; keeping the running configuration");
        return;
    }
    /* Listener addresses are bound once; a changed agent.spop needs a restart. */
    if (!metrics_use_state(ag->metrics, st))
        log_warn("reload: out of memory for the metrics' path lists; paths reset");
    if (ag->hapi && !mirror_use_state(&ag->mirror, st))
        log_warn("reload: out of memory for the breaker mirror; HAProxy's weights not updated");
    if (ag->admin && !admin_set_token(ag->admin, cfg->admin.token.val))
        log_warn("reload: out of memory for the admin token; the previous one still applies");
    engine_fleet_detach(ag->engines, ag->decider.state);
    state_free(ag->decider.state);
    ag->decider.state = st;
    if (!engine_fleet_attach(ag->engines, st))
        log_warn("reload: some engines are not scraped (out of memory)");
    mirror_push(ag);
    log_info("reloaded: %s", config_summary(cfg, summary));
}

/*
 * One line of HAProxy's log feed, judged once (judge.h): an attempt is an outcome for its
 * upstream's breaker and response-time EMA (breaker changes are logged by the state's
 * transition callback), and the whole line feeds the metrics.
 */
_Static_assert(ANSWER_ID_MAX >= LOGLINE_ID_MAX, "a held answer keeps any id a log line carries");

static void on_log_line(void *ctx, const struct logline *line)
{
    struct agent *ag = ctx;
    struct judged_line judged;

    judge_line(ag->decider.state, line, &judged);
    /* The request is over: its attempts need no more remembering. Without this every
     * request of a group with retries held a slot for the entry's whole lifetime. */
    if (judged.is_request)
        retry_forget(ag->decider.attempts, line->id.ptr, line->id.len);
    if (judged.has_attempt) {
        uint64_t now = monotonic_ms();
        outcome_apply(&judged.attempt, now);
        outcome_note_throttle(&judged.attempt, now, wall_clock_ms());
        /* A retry of this request may already wait out a backoff this 429 does not ask. */
        if (judged.attempt.outcome.cls == OUTCOME_THROTTLED && ag->spop)
            spop_server_release(ag->spop, line->id.ptr, line->id.len);
    }
    metrics_record_line(ag->metrics, &judged);
}

/* Every SPOP decision's latency, into its histogram. */
static void on_decided(void *ctx, uint64_t elapsed_ns)
{
    struct agent *ag = ctx;

    metrics_observe_decision(ag->metrics, elapsed_ns);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    log_info("stopping on signal %d", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void on_housekeeping(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct agent *ag = w->data;
    uint64_t now = monotonic_ms();

    (void)loop;
    (void)revents;
    ratelimit_expire(ag->decider.ratelimit, now, EXPIRE_WORK);
    if (ag->decider.cluster)
        cluster_table_expire(ag->decider.cluster, now, EXPIRE_WORK);
    retry_expire(ag->decider.attempts, now, EXPIRE_WORK);
    mirror_housekeeping(ag);
    rescue_housekeeping(ag, now);
}

/* The /metrics page: the recorded series plus every part's live numbers, read now. */
static bool render_metrics(void *ctx, struct buf *out)
{
    struct agent *ag = ctx;
    struct spop_server_stats spop;
    struct ratelimit_stats rl;
    struct retry_stats retry;
    struct admin_stats admin;
    struct cluster_table_stats cluster_table;
    struct cluster_redis_stats cluster;
    struct metrics_page_sources src = {.recorded = ag->metrics,
                                       .state = ag->decider.state,
                                       .decide = &ag->decider.stats,
                                       .retry = &retry,
                                       .mirror = ag->hapi ? &ag->mirror.stats : NULL,
                                       .spop = &spop,
                                       .ratelimit = &rl,
                                       .admin = &admin,
                                       .tunnels = ag->tunnels};

    spop_server_stats(ag->spop, &spop);
    admin_stats(ag->admin, &admin);
    ratelimit_stats(ag->decider.ratelimit, &rl);
    retry_stats(ag->decider.attempts, &retry);
    if (ag->cluster) {
        cluster_table_stats(ag->decider.cluster, &cluster_table);
        cluster_redis_stats(ag->cluster, &cluster);
        src.cluster_table = &cluster_table;
        src.cluster = &cluster;
    }
    if (ag->logfeed) {
        src.logs = logfeed_stats(ag->logfeed);
        src.log_admission = *logfeed_admission(ag->logfeed);
        src.log_rescue = ag->rescue.api ? &ag->rescue.stats : NULL;
    }
    return metrics_page_render(&src, monotonic_ms(), out);
}

/* The /status document: forwards, groups and upstreams as the decisions see them now. */
static bool render_status(void *ctx, struct buf *out)
{
    struct agent *ag = ctx;

    struct cluster_table_stats table;
    struct cluster_redis_stats redis;
    struct status_cluster cluster = {.redis = &redis, .table = &table};

    if (!ag->cluster)
        return status_json_render(ag->decider.state, monotonic_ms(), out);
    cluster.endpoint = cluster_redis_endpoint(ag->cluster);
    cluster_table_stats(ag->decider.cluster, &table);
    cluster_redis_stats(ag->cluster, &redis);
    return status_json_render_cluster(ag->decider.state, &cluster, monotonic_ms(), out);
}

static const struct admin_page admin_pages[] = {
    {"/metrics", PROMTEXT_CONTENT_TYPE, render_metrics},
    {"/status", STATUS_JSON_CONTENT_TYPE, render_status},
};

/*
 * Who may connect to the agent's unix sockets in run_dir: the user it runs as (HAProxy
 * running as the same user, as packaged), and haproxy.socket_group when given (HAProxy
 * running as another user of that group). Nobody else: connecting needs write access.
 */
static int socket_owner(const struct agent *ag, const struct config *cfg, struct unix_owner *o)
{
    const char *group = cfg->haproxy.socket_group.val;
    const struct group *gr;

    o->uid = ag->run_as ? ag->run_uid : (uid_t)-1;
    o->gid = ag->run_as ? ag->run_gid : (gid_t)-1;
    o->mode = 0600;
    if (!group)
        return 0;
    gr = getgrnam(group);
    if (!gr) {
        log_error("haproxy.socket_group %s: no such group", group);
        return -1;
    }
    o->gid = gr->gr_gid;
    o->mode = 0660;
    return 0;
}

/* agent.cluster.redis: every rate-limit bucket is shared through Redis (cluster_redis.h). */
static int cluster_start(struct agent *ag, const struct conf_agent *conf)
{
    struct siphash_key key = random_key();

    if (!conf->cluster.redis_enabled)
        return 0;
    snprintf(ag->cluster_prefix, sizeof(ag->cluster_prefix), "%s",
             conf->cluster.key_prefix.val ? conf->cluster.key_prefix.val : "");
    ag->decider.cluster_prefix = ag->cluster_prefix;
    ag->decider.cluster =
        cluster_table_create(conf->ratelimit_max_clients, conf->cluster.max_keys_per_sync, &key);
    if (ag->decider.cluster)
        ag->cluster = cluster_redis_start(ag->loop, &conf->cluster, ag->decider.cluster);
    if (!ag->cluster) {
        log_error("out of memory creating the shared rate-limit tables");
        return -1;
    }
    return 0;
}

static int run(struct agent *ag)
{
    const struct config *cfg = ag->decider.state->cfg;
    struct siphash_key key = random_key();
    struct unix_owner owner;
    char summary[CONF_SUMMARY_MAX];

    ag->decider.ratelimit = ratelimit_create(cfg->agent.ratelimit_max_clients, &key);
    key = random_key();
    ag->decider.attempts = retry_create(ATTEMPTS_MAX, ATTEMPTS_TTL_MS, &key);
    ag->metrics = metrics_create();
    ag->attempt_memo = malloc(sizeof(*ag->attempt_memo));
    if (ag->attempt_memo) {
        key = random_key();
        attempt_memo_init(ag->attempt_memo, &key);
        ag->decider.state->attempts = ag->attempt_memo;
    }
    if (!ag->decider.ratelimit || !ag->decider.attempts || !ag->metrics || !ag->attempt_memo ||
        !metrics_use_state(ag->metrics, ag->decider.state)) {
        log_error("out of memory creating the decision tables");
        return 1;
    }
    ag->loop = ev_default_loop(EVFLAG_AUTO);
    if (cluster_start(ag, &cfg->agent) != 0)
        return 1;
    /* One owner for every unix socket: tunnels, SPOP and log feed. */
    if (socket_owner(ag, cfg, &owner) != 0)
        return 1;
    /* Without its tunnel a proxied upstream is unreachable: refuse to start. */
    ag->tunnels = tunnels_start(ag->loop, cfg, &owner);
    if (!ag->tunnels)
        return 1;
    ag->engines = engine_fleet_create(ag->loop);
    if (!ag->engines) {
        log_error("out of memory creating the engine scrapers");
        return 1;
    }
    engine_fleet_attach(ag->engines, ag->decider.state);
    ag->spop = spop_server_start(ag->loop, &cfg->agent.spop, &owner, &ag->decider);
    if (!ag->spop)
        return 1;
    spop_server_on_decided(ag->spop, on_decided, ag);
    /* Decisions matter more than feedback: without the feed the agent still answers. */
    ag->logfeed = logfeed_start(ag->loop, &cfg->agent.logs, &owner, on_log_line, ag);
    if (!ag->logfeed)
        log_error("running without the log feed: breakers and response times will not learn");
    ag->admin = admin_start(ag->loop, &cfg->admin, admin_pages,
                            sizeof(admin_pages) / sizeof(admin_pages[0]), ag);
    if (!ag->admin)
        log_error("running without the admin endpoint: no /health, /metrics, /status");

    if (ag->run_as && drop_privileges(ag) != 0)
        return 1;
    if (geteuid() == 0)
        log_warn("running as root: give -u USER to drop privileges once the listeners are bound");
    mirror_start(ag);
    rescue_start(ag);

    ev_signal_init(&ag->sighup, on_reload, SIGHUP);
    ev_signal_init(&ag->sigterm, on_stop, SIGTERM);
    ev_signal_init(&ag->sigint, on_stop, SIGINT);
    ag->sighup.data = ag;
    ev_signal_start(ag->loop, &ag->sighup);
    ev_signal_start(ag->loop, &ag->sigterm);
    ev_signal_start(ag->loop, &ag->sigint);
    ev_timer_init(&ag->housekeeping, on_housekeeping, HOUSEKEEPING_S, HOUSEKEEPING_S);
    ag->housekeeping.data = ag;
    ev_timer_start(ag->loop, &ag->housekeeping);

    log_info("llmproxy-agent %s running: %s", LLMPROXY_VERSION, config_summary(cfg, summary));
    ev_run(ag->loop, 0);

    cluster_redis_stop(ag->cluster);
    spop_server_free(ag->spop);
    logfeed_free(ag->logfeed);
    admin_free(ag->admin);
    tunnels_free(ag->tunnels);
    engine_fleet_detach(ag->engines, ag->decider.state);
    engine_fleet_free(ag->engines);
    hapi_free(ag->hapi);
    mirror_release(&ag->mirror);
    feed_rescue_free(&ag->rescue);
    ev_timer_stop(ag->loop, &ag->housekeeping);
    ev_signal_stop(ag->loop, &ag->sighup);
    ev_signal_stop(ag->loop, &ag->sigterm);
    ev_signal_stop(ag->loop, &ag->sigint);
    ev_loop_destroy(ag->loop);
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},    {"test", no_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {"pidfile", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},      {NULL, 0, NULL, 0},
    };
    struct agent ag = {0};
    char summary[CONF_SUMMARY_MAX];
    bool test_only = false;
    const char *pidfile = NULL;
    struct config *cfg;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "c:tl:hVp:u:", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ag.config_path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'p':
            pidfile = optarg;
            break;
        case 'u':
            ag.run_as = optarg;
            break;
        case 'l':
            if (log_level_parse(optarg) < 0) {
                fprintf(stderr, "llmproxy-agent: unknown log level '%s'\n", optarg);
                return 2;
            }
            log_set_level((enum log_level)log_level_parse(optarg));
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("llmproxy-agent %s\n", LLMPROXY_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!ag.config_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (ag.run_as && lookup_user(&ag) != 0)
        return 1;

    cfg = load_config(ag.config_path);
    if (!cfg)
        return 1;
    if (test_only) {
        printf("%s: ok: %s\n", ag.config_path, config_summary(cfg, summary));
        config_free(cfg);
        return 0;
    }
    ag.decider.state = state_create(cfg, NULL, random_u64());
    if (!ag.decider.state) {
        config_free(cfg);
        log_error("out of memory");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (pidfile && pidfile_write(pidfile, ag.run_as ? ag.run_uid : (uid_t)-1, ag.run_gid) != 0) {
        log_error("cannot write the pidfile %s: %s", pidfile, strerror(errno));
        state_free(ag.decider.state);
        return 1;
    }
    rc = run(&ag);
    if (pidfile)
        pidfile_remove(pidfile);
    state_free(ag.decider.state);
    ratelimit_destroy(ag.decider.ratelimit);
    cluster_table_destroy(ag.decider.cluster);
    retry_destroy(ag.decider.attempts);
    metrics_free(ag.metrics);
    free(ag.attempt_memo);
    return rc;
}
