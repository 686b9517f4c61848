#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin-t.h"
#include "balance.h"
#include "breaker.h"
#include "buf.h"
#include "decide-t.h"
#include "metrics.h"
#include "outcome.h"
#include "promtext.h"
#include "ratelimit-t.h"
#include "registry.h"
#include "spop_conn.h"
#include "spop_server.h"
#include "state.h"

/* Series caps: forwards x methods x (paths + other) for HTTP, groups x upstreams x kinds
 * for upstreams. Generous for any real configuration, small enough to bound memory. */
#define HTTP_MAX_SERIES     16384
#define UPSTREAM_MAX_SERIES 4096

const double metrics_duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                          2.5,   5,    10,    20,   30,  60,   120, 300};
const size_t metrics_n_duration_bounds =
    sizeof(metrics_duration_bounds) / sizeof(metrics_duration_bounds[0]);

/* Decisions take microseconds: 5 us to 10 ms. */
static const double decision_bounds[] = {0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                         0.0005,   0.001,   0.0025,   0.005,   0.01};

#define N_BOUNDS(a) (sizeof(a) / sizeof((a)[0]))

static const struct reg_def family_defs[MF_COUNT] = {
    [MF_UPSTREAM_REQUESTS] = {"llmproxy_upstream_requests_total",
                              "Attempts sent to an upstream (one per try, retries included).",
                              REG_COUNTER,
                              2,
                              {"group", "upstream"},
                              NULL,
                              0,
                              UPSTREAM_MAX_SERIES},
    [MF_UPSTREAM_DURATION] = {"llmproxy_upstream_duration_seconds",
                              "Duration of an attempt on an upstream, until its last byte.",
                              REG_HISTOGRAM,
                              2,
                              {"group", "upstream"},
                              metrics_duration_bounds,
                              N_BOUNDS(metrics_duration_bounds),
                              UPSTREAM_MAX_SERIES},
    [MF_UPSTREAM_TTFB] = {"llmproxy_upstream_time_to_first_byte_seconds",
                          "Time from connecting to an upstream to its response headers.",
                          REG_HISTOGRAM,
                          2,
                          {"group", "upstream"},
                          metrics_duration_bounds,
                          N_BOUNDS(metrics_duration_bounds),
                          UPSTREAM_MAX_SERIES},
    [MF_UPSTREAM_ERRORS] = {"llmproxy_upstream_errors_total",
                            "Failed attempts on an upstream, by kind of failure.",
                            REG_COUNTER,
                            3,
                            {"error", "group", "upstream"},
                            NULL,
                            0,
                            UPSTREAM_MAX_SERIES},
    [MF_HTTP_REQUESTS] = {"llmproxy_http_requests_total",
                          "Client requests received.",
                          REG_COUNTER,
                          3,
                          {"forward", "method", "path"},
                          NULL,
                          0,
                          HTTP_MAX_SERIES},
    [MF_HTTP_DURATION] = {"llmproxy_http_request_duration_seconds",
                          "Duration of a client request, until its last byte (SSE included).",
                          REG_HISTOGRAM,
                          3,
                          {"forward", "method", "path"},
                          metrics_duration_bounds,
                          N_BOUNDS(metrics_duration_bounds),
                          HTTP_MAX_SERIES},
    [MF_HTTP_ERRORS] = {"llmproxy_http_request_errors_total",
                        "Client requests that failed, by cause and status sent.",
                        REG_COUNTER,
                        3,
                        {"forward", "error", "status"},
                        NULL,
                        0,
                        HTTP_MAX_SERIES},
    [MF_RATELIMIT] = {"llmproxy_ratelimit_total",
                      "Client requests refused with 429 by rate limiting.",
                      REG_COUNTER,
                      1,
                      {"forward"},
                      NULL,
                      0,
                      UPSTREAM_MAX_SERIES},
    [MF_DECISION_DURATION] = {"llmproxy_agent_decision_duration_seconds",
                              "Time the agent took to decide one SPOP NOTIFY.",
                              REG_HISTOGRAM,
                              0,
                              {NULL},
                              decision_bounds,
                              N_BOUNDS(decision_bounds),
                              1},
};

struct metrics *metrics_create(void)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    for (size_t i = 0; i < MF_COUNT; i++)
        reg_family_init(&m->fam[i], &family_defs[i]);
    /* The unlabelled histogram exists from the start, so dashboards see zeros. */
    if (!reg_series_get(&m->fam[MF_DECISION_DURATION], NULL)) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

static void free_paths(struct metrics_paths *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (unsigned p = 0; p < paths[i].n; p++)
            free(paths[i].path[p]);
    free(paths);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < MF_COUNT; i++)
        reg_family_free(&m->fam[i]);
    free_paths(m->paths, m->n_paths);
    free(m);
}

/* ---- label values --------------------------------------------------------------------- */

static bool view_is(const struct logline_str *v, const char *s)
{
    size_t len = strlen(s);
    return v->len == len && memcmp(v->ptr, s, len) == 0;
}

const char *metrics_method_label(const char *method, size_t len)
{
    static const char *const known[] = {"GET",  "POST",    "PUT",     "DELETE", "PATCH",
                                        "HEAD", "OPTIONS", "CONNECT", "TRACE"};

    for (size_t i = 0; i < N_BOUNDS(known); i++)
        if (strlen(known[i]) == len && memcmp(known[i], method, len) == 0)
            return known[i];
    return "OTHER";
}

void metrics_status_label(int status, char dst[4])
{
    if (status < 100 || status > 599)
        status = 0;
    dst[0] = (char)('0' + status / 100);
    dst[1] = (char)('0' + status / 10 % 10);
    dst[2] = (char)('0' + status % 10);
    dst[3] = '\0';
}

/* The error kind of a request the client caused, by who ended it, then by the status sent. */
static const char *client_error_kind(const struct logline *ll, enum outcome_ender by)
{
    if (by == OUTCOME_BY_CLIENT_TIMEOUT)
        return "request_timeout";
    if (by == OUTCOME_BY_CLIENT)
        return "client_aborted";
    switch (ll->status) {
    case 400:
        return "bad_request";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 413:
    case 414:
    case 431:
        return "request_too_large";
    default:
        return "client_error";
    }
}

const char *metrics_request_error(const struct logline *ll, struct outcome o)
{
    if (view_is(&ll->verdict, "limited"))
        return "rate_limit_exceeded";
    if (view_is(&ll->verdict, "unavailable"))
        return "no_upstream_available";
    /* Who ended the stream decides, as for the upstreams' breakers (outcome.h). */
    switch (o.cls) {
    case OUTCOME_CLIENT:
        return client_error_kind(ll, o.by);
    case OUTCOME_CONNECT:
        return "upstream_unreachable";
    case OUTCOME_TIMEOUT:
        return "upstream_timeout";
    case OUTCOME_EMPTY_RESPONSE:
    case OUTCOME_INVALID_RESPONSE:
        return "bad_upstream_response";
    default:
        break;
    }
    switch (o.by) {
    case OUTCOME_BY_SERVER_TIMEOUT:
        return "upstream_timeout"; /* in the queue */
    case OUTCOME_BY_SERVER:
        return "bad_upstream_response";
    case OUTCOME_BY_PROXY:
        return "proxy_error";
    case OUTCOME_BY_RESOURCE:
        return "resource_exhausted";
    case OUTCOME_BY_INTERNAL:
        return "internal_error";
    case OUTCOME_BY_NONE:
        break;
    default:
        return "aborted"; /* killed or cut by HAProxy, a rule or an operator */
    }
    if (ll->status >= 400 || ll->status < 0)
        return "upstream_error"; /* an upstream's own error, relayed unchanged */
    return NULL;
}

static bool path_is_printable(const struct logline_str *p)
{
    if (p->len == 0 || p->len > METRICS_PATH_MAX)
        return false;
    for (size_t i = 0; i < p->len; i++)
        if ((unsigned char)p->ptr[i] <= 0x20 || (unsigned char)p->ptr[i] >= 0x7f)
            return false;
    return true;
}

/*
 * The paths of the OpenAI-compatible API, labelled from their first request whatever its
 * outcome (an upstream down since the agent started still shows them failing). Their
 * slots are reserved: no number of other paths takes them.
 */
static const char *const api_paths[] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings",         "/v1/models",
    "/v1/responses",        "/v1/moderations", "/v1/images/generations", "/v1/audio/transcriptions",
    "/v1/audio/speech",
};
_Static_assert(N_BOUNDS(api_paths) == METRICS_API_PATHS, "METRICS_API_PATHS counts api_paths");

static const char *api_path_label(const struct logline_str *p)
{
    for (size_t i = 0; i < METRICS_API_PATHS; i++)
        if (view_is(p, api_paths[i]))
            return api_paths[i];
    return NULL;
}

/*
 * Whether an upstream served the request's path: a server was chosen, its response
 * headers came back and said 2xx or 3xx. Anything a client can get without that (a 429 or
 * 503 from the agent, a 400 or 408 from HAProxy, an upstream's 404 for a made-up path,
 * since HAProxy adds the upstream's credentials to any request) teaches no path.
 */
static bool upstream_served(const struct logline *ll)
{
    return ll->upstream.len > 0 && ll->t_response >= 0 && ll->status >= 200 && ll->status < 400;
}

/*
 * The path's label on forward number `fi`: a known API path, or a path already learned,
 * is itself. Another path is learned, and takes one of the forward's slots, only when an
 * upstream served it, so that requests a client can make up cannot fill the slots before
 * the real paths come. Everything else, and any path unfit as a label, is "other".
 */
static const char *path_label(struct metrics *m, size_t fi, const struct logline *ll)
{
    const struct logline_str *p = &ll->path;
    struct metrics_paths *set;
    const char *api;
    char *copy;

    if (fi >= m->n_paths || !path_is_printable(p))
        return "other";
    if ((api = api_path_label(p)))
        return api;
    set = &m->paths[fi];
    for (unsigned i = 0; i < set->n; i++)
        if (strlen(set->path[i]) == p->len && memcmp(set->path[i], p->ptr, p->len) == 0)
            return set->path[i];
    if (!upstream_served(ll) || set->n >= METRICS_LEARNED_PATHS ||
        !(copy = strndup(p->ptr, p->len)))
        return "other";
    set->path[set->n++] = copy;
    return copy;
}

/* ---- recording ------------------------------------------------------------------------ */

static double ms_to_s(int32_t ms)
{
    return (double)ms / 1000.0;
}

static void record_request(struct metrics *m, const struct judged_request *r)
{
    const struct logline *ll = r->line;
    const char *labels[3];
    const char *error;
    char status[4];

    if (!r->forward || !m->state) {
        m->unmatched++;
        return;
    }
    labels[0] = r->forward->conf->name;
    labels[1] = metrics_method_label(ll->method.ptr, ll->method.len);
    labels[2] = path_label(m, (size_t)(r->forward - m->state->forwards), ll);
    reg_add(&m->fam[MF_HTTP_REQUESTS], labels, 1);
    if (ll->t_total >= 0)
        reg_observe(&m->fam[MF_HTTP_DURATION], labels, ms_to_s(ll->t_total));

    error = metrics_request_error(ll, r->outcome);
    if (error) {
        metrics_status_label(ll->status, status);
        reg_add(&m->fam[MF_HTTP_ERRORS], (const char *[]){labels[0], error, status}, 1);
    }
    if (view_is(&ll->verdict, "limited"))
        reg_add(&m->fam[MF_RATELIMIT], labels, 1);
}

static void record_attempt(struct metrics *m, const struct judged_attempt *a)
{
    const struct logline *ll = &a->line;
    const char *labels[2];

    if (!a->group || !a->upstream) {
        m->unmatched++;
        return;
    }
    /* A client's fault is a client error of the request metrics, never an upstream's. */
    if (a->outcome.cls == OUTCOME_CLIENT)
        return;
    labels[0] = a->group->conf->name;
    labels[1] = a->upstream->conf->name;
    reg_add(&m->fam[MF_UPSTREAM_REQUESTS], labels, 1);
    if (ll->t_total >= 0)
        reg_observe(&m->fam[MF_UPSTREAM_DURATION], labels, ms_to_s(ll->t_total));
    if (ll->t_response >= 0)
        reg_observe(&m->fam[MF_UPSTREAM_TTFB], labels,
                    ms_to_s(ll->t_response) + (ll->t_connect > 0 ? ms_to_s(ll->t_connect) : 0));
    if (outcome_is_failure(a->outcome.cls))
        reg_add(&m->fam[MF_UPSTREAM_ERRORS],
                (const char *[]){outcome_class_name(a->outcome.cls), labels[0], labels[1]}, 1);
}

void metrics_record_line(struct metrics *m, const struct judged_line *j)
{
    if (j->is_request)
        record_request(m, &j->request);
    if (j->has_attempt)
        record_attempt(m, &j->attempt);
}

void metrics_observe_decision(struct metrics *m, uint64_t elapsed_ns)
{
    if (m)
        reg_observe(&m->fam[MF_DECISION_DURATION], NULL, (double)elapsed_ns / 1e9);
}

/* ---- reload --------------------------------------------------------------------------- */

/* Whether every forward, group and upstream label of a series still names something. */
static bool names_exist(void *ctx, const struct reg_def *def, const char *const *values)
{
    struct agent_state *st = ctx;

    for (size_t i = 0; i < def->n_labels; i++) {
        const char *label = def->labels[i], *v = values[i];
        size_t len = strlen(v);

        if ((strcmp(label, "forward") == 0 && !state_forward(st, v, len)) ||
            (strcmp(label, "group") == 0 && !state_group(st, v, len)) ||
            (strcmp(label, "upstream") == 0 && !state_upstream(st, v, len)))
            return false;
    }
    return true;
}

bool metrics_use_state(struct metrics *m, struct agent_state *st)
{
    size_t n = st->cfg->n_forwards;
    struct metrics_paths *paths = calloc(n ? n : 1, sizeof(*paths));

    if (!paths)
        return false;
    /* A forward that stays keeps its admitted paths, so its series keep their labels. */
    for (size_t i = 0; i < n; i++) {
        const char *name = st->forwards[i].conf->name;
        for (size_t o = 0; m->state && o < m->n_paths; o++) {
            if (strcmp(m->state->forwards[o].conf->name, name) == 0) {
                paths[i] = m->paths[o];
                m->paths[o].n = 0; /* moved */
                break;
            }
        }
    }
    free_paths(m->paths, m->n_paths);
    m->paths = paths;
    m->n_paths = n;
    m->state = st;
    for (size_t i = 0; i < MF_COUNT; i++)
        reg_prune(&m->fam[i], names_exist, st);
    return true;
}

/* ---- scrape page: live numbers -------------------------------------------------------- */

/* One labelled counter of the breaker of every (group, member) pair. */
struct breaker_sample {
    const char *value; /* of the family's extra label, NULL when it has none */
    size_t offset;     /* of the count in struct breaker_counters */
};

static void render_breaker_family(struct buf *out, struct agent_state *st, const char *name,
                                  const char *help, const char *extra,
                                  const struct breaker_sample *samples, size_t n)
{
    const char *names[4] = {"group", "upstream", "url", extra};
    const struct config *cfg = st->cfg;

    prom_family(out, name, help, "counter");
    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct group_rt *grp = &st->groups[g];
        for (size_t k = 0; k < grp->conf->n_members; k++) {
            const struct upstream_rt *up = grp->members[k];
            const struct breaker_counters *c = breaker_counters(&up->breaker);
            for (size_t i = 0; i < n; i++) {
                const char *values[4] = {grp->conf->name, up->conf->name, up->conf->url.val,
                                         samples[i].value};
                struct prom_labels labels = {names, values, extra ? 4 : 3};
                uint64_t count = *(const uint64_t *)((const char *)c + samples[i].offset);
                prom_sample(out, name, "", &labels, NULL, (double)count);
            }
        }
    }
}

#define BC(field) offsetof(struct breaker_counters, field)

static void render_breakers(struct buf *out, struct agent_state *st)
{
    static const struct breaker_sample changes[] = {
        {"closed", BC(closed)}, {"half_open", BC(half_opened)}, {"open", BC(opened)}};
    static const struct breaker_sample calls[] = {
        {"failure", BC(failure)}, {"rejected", BC(rejected)}, {"success", BC(success)}};
    static const struct breaker_sample opened = {NULL, BC(opened)};
    static const struct breaker_sample closed = {NULL, BC(closed)};
    static const struct breaker_sample half_opened = {NULL, BC(half_opened)};

    /* A breaker belongs to its upstream: an upstream listed in two groups shows the same
     * counts under both group labels. */
    render_breaker_family(out, st, "llmproxy_circuitbreaker_state_changes_total",
                          "Circuit breaker transitions, by the state entered.", "state", changes,
                          N_BOUNDS(changes));
    render_breaker_family(out, st, "llmproxy_circuitbreaker_calls_total",
                          "Attempt outcomes judged by the breaker, and requests it rejected.",
                          "result", calls, N_BOUNDS(calls));
    render_breaker_family(out, st, "llmproxy_circuitbreaker_opened_total",
                          "Circuit breaker transitions to open.", NULL, &opened, 1);
    render_breaker_family(out, st, "llmproxy_circuitbreaker_closed_total",
                          "Circuit breaker transitions to closed.", NULL, &closed, 1);
    render_breaker_family(out, st, "llmproxy_circuitbreaker_half_opened_total",
                          "Circuit breaker transitions to half-open.", NULL, &half_opened, 1);
}

/* A per-upstream gauge; `get` returns false when the upstream has no value yet. */
struct upstream_gauge {
    const char *name;
    const char *help;
    bool (*get)(struct upstream_rt *up, uint64_t now_ms, double *v);
};

static bool get_in_flight(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    *v = upstream_in_flight(up, now_ms);
    return true;
}

static bool get_ema(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = up->ema_ms / 1000.0;
    return up->measured;
}

static bool get_success_rate(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    *v = breaker_success_rate(&up->breaker, now_ms);
    return true;
}

static bool get_breaker_state(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    switch (breaker_state(&up->breaker, now_ms)) {
    case BREAKER_CLOSED:
        *v = 0;
        break;
    case BREAKER_OPEN:
        *v = 1;
        break;
    case BREAKER_HALF_OPEN:
        *v = 2;
        break;
    }
    return true;
}

static bool get_score(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    struct bal_candidate c = upstream_candidate(up, true, now_ms);

    *v = balancer_score(&c);
    return up->measured;
}

static void render_upstreams(struct buf *out, struct agent_state *st, uint64_t now_ms)
{
    static const struct upstream_gauge gauges[] = {
        {"llmproxy_upstream_in_flight",
         "Requests on the upstream: HAProxy's srv_conn + srv_queue from the latest pick, plus "
         "picks HAProxy had not counted yet.",
         get_in_flight},
        {"llmproxy_upstream_response_time_ema_seconds",
         "Response-time moving average (factor 0.15) used by response_aware; absent until "
         "the first measurement.",
         get_ema},
        {"llmproxy_upstream_success_rate",
         "Share of successful attempts over the breaker's 10 s window (1 when empty, floor "
         "0.01).",
         get_success_rate},
        {"llmproxy_upstream_breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
         get_breaker_state},
        {"llmproxy_upstream_score",
         "response_aware score, ema_ms * (in_flight + 1) / success_rate: lowest wins; absent "
         "until the first measurement.",
         get_score},
    };
    static const char *const names[] = {"upstream"};

    for (size_t g = 0; g < N_BOUNDS(gauges); g++) {
        prom_family(out, gauges[g].name, gauges[g].help, "gauge");
        for (size_t u = 0; u < st->cfg->n_upstreams; u++) {
            struct upstream_rt *up = &st->upstreams[u];
            const char *value = up->conf->name;
            struct prom_labels labels = {names, &value, 1};
            double v;
            if (gauges[g].get(up, now_ms, &v))
                prom_sample(out, gauges[g].name, "", &labels, NULL, v);
        }
    }
    prom_family(out, "llmproxy_upstream_picks_total", "Times the agent chose the upstream.",
                "counter");
    for (size_t u = 0; u < st->cfg->n_upstreams; u++) {
        const char *value = st->upstreams[u].conf->name;
        struct prom_labels labels = {names, &value, 1};
        prom_sample(out, "llmproxy_upstream_picks_total", "", &labels, NULL,
                    (double)st->upstreams[u].picks);
    }
}

/* A family of plain numbers with one label: `n` samples of (label value, number). */
struct labelled {
    const char *value;
    double number;
};

static void render_labelled(struct buf *out, const char *name, const char *help, const char *type,
                            const char *label, const struct labelled *s, size_t n)
{
    const char *names[1] = {label};

    prom_family(out, name, help, type);
    for (size_t i = 0; i < n; i++) {
        struct prom_labels labels = {names, &s[i].value, label ? 1 : 0};
        prom_sample(out, name, "", &labels, NULL, s[i].number);
    }
}

static void render_one(struct buf *out, const char *name, const char *help, const char *type,
                       double v)
{
    struct labelled s = {NULL, v};
    render_labelled(out, name, help, type, NULL, &s, 1);
}

static void render_decisions(struct buf *out, const struct decide_stats *d)
{
    const struct labelled picks[] = {
        {"limited", (double)d->picks_limited},
        {"pass", (double)d->picks_pass},
        {"unavailable", (double)d->picks_unavailable},
        {"unknown_forward", (double)d->picks_unknown_forward},
    };
    const struct labelled attempts[] = {
        {"fail", (double)d->attempts_failed_fast},
        {"go", (double)(d->attempts - d->attempts_failed_fast)},
    };

    render_labelled(out, "llmproxy_agent_pick_decisions_total",
                    "pick decisions, by verdict (unknown_forward is answered pass).", "counter",
                    "verdict", picks, N_BOUNDS(picks));
    render_labelled(out, "llmproxy_agent_attempt_decisions_total",
                    "attempt decisions, by verdict (fail: the breaker is open, fail fast).",
                    "counter", "verdict", attempts, N_BOUNDS(attempts));
    render_one(out, "llmproxy_agent_attempt_retries_total",
               "attempt decisions that were a retry of an earlier attempt.", "counter",
               (double)d->attempts_retried);
    render_one(out, "llmproxy_agent_attempt_unknown_upstream_total",
               "attempt decisions naming an upstream the configuration lacks (answered go).",
               "counter", (double)d->attempts_unknown_upstream);
}

/* A listener's refused and evicted connections, as <prefix>_connections_*_total. */
static void render_admission(struct buf *out, const char *prefix, const char *what,
                             const struct acceptor_stats *a)
{
    const struct labelled refused[] = {
        {"fds", (double)a->refused_fds},
        {"limit", (double)a->refused_limit},
    };
    char name[96], help[192];

    snprintf(name, sizeof(name), "%s_connections_refused_total", prefix);
    snprintf(help, sizeof(help),
             "%s connections refused: at the connection limit, or out of descriptors or memory.",
             what);
    render_labelled(out, name, help, "counter", "reason", refused, N_BOUNDS(refused));
    snprintf(name, sizeof(name), "%s_connections_evicted_total", prefix);
    snprintf(help, sizeof(help), "%s connections closed to make room for a new one.", what);
    render_one(out, name, help, "counter", (double)a->evicted);
}

static void render_spop(struct buf *out, const struct spop_server_stats *s)
{
    struct labelled faults[SPOP_FAULT_COUNT];
    const struct labelled bad[] = {
        {"bad_args", (double)s->dispatch.bad_args},
        {"unknown_message", (double)s->dispatch.unknown_messages},
    };
    const struct labelled expired[] = {
        {"hello", (double)s->expired_hello},
        {"idle", (double)s->expired_idle},
    };
    size_t n = 0;

    render_one(out, "llmproxy_spop_connections_total", "SPOP connections accepted from HAProxy.",
               "counter", (double)s->accepted);
    render_one(out, "llmproxy_spop_connections", "SPOP connections open now.", "gauge",
               (double)s->open);
    render_one(out, "llmproxy_spop_notifies_total", "SPOP NOTIFY frames received.", "counter",
               (double)s->conns.notifies);
    for (int f = SPOP_FAULT_NONE + 1; f < SPOP_FAULT_COUNT; f++)
        faults[n++] =
            (struct labelled){spop_fault_name((enum spop_fault)f), (double)s->conns.faults[f]};
    render_labelled(out, "llmproxy_spop_errors_total",
                    "SPOP connections the agent ended because of a protocol fault, by fault.",
                    "counter", "fault", faults, n);
    render_labelled(out, "llmproxy_spop_bad_messages_total",
                    "SPOP messages ignored: unknown, or with a missing or mistyped argument.",
                    "counter", "reason", bad, N_BOUNDS(bad));
    render_one(out, "llmproxy_spop_held_answers", "Answers waiting for their retry backoff now.",
               "gauge", (double)s->held);
    render_labelled(out, "llmproxy_spop_connections_expired_total",
                    "SPOP connections closed by a deadline: no HELLO in time, or idle too long.",
                    "counter", "deadline", expired, N_BOUNDS(expired));
    render_admission(out, "llmproxy_spop", "SPOP", &s->admission);
}

static void render_ratelimit(struct buf *out, const struct ratelimit_stats *r)
{
    render_one(out, "llmproxy_ratelimit_clients", "Client token buckets held now.", "gauge",
               (double)r->entries);
    render_one(out, "llmproxy_ratelimit_clients_max", "Bound of the token-bucket table.", "gauge",
               (double)r->capacity);
    render_one(out, "llmproxy_ratelimit_evictions_total",
               "Token buckets evicted because the table was full.", "counter",
               (double)r->evictions);
    render_one(out, "llmproxy_ratelimit_evictions_busy_total",
               "Evicted token buckets that were not full again (a client's debt forgotten).",
               "counter", (double)r->evictions_busy);
}

static void render_logs(struct buf *out, const struct metrics_log_stats *l)
{
    render_one(out, "llmproxy_log_lines_received_total", "HAProxy log lines received.", "counter",
               (double)l->received);
    render_one(out, "llmproxy_log_lines_dropped_total",
               "HAProxy log lines lost (over a size bound, or a queue full).", "counter",
               (double)l->dropped);
    render_one(out, "llmproxy_log_lines_malformed_total",
               "HAProxy log lines that did not parse, counted and ignored.", "counter",
               (double)l->malformed);
    render_one(out, "llmproxy_log_connections_expired_total",
               "Log-feed connections closed after delivering no well-formed line for 10 minutes.",
               "counter", (double)l->expired);
    render_admission(out, "llmproxy_log", "Log-feed", &l->admission);
}

static void render_admin(struct buf *out, const struct admin_stats *a)
{
    render_one(out, "llmproxy_admin_unauthorized_total",
               "Admin requests answered 401: bearer token missing or wrong.", "counter",
               (double)a->unauthorized);
    render_admission(out, "llmproxy_admin", "Admin endpoint", &a->admission);
}

bool metrics_render(struct metrics *m, const struct metrics_sources *src, uint64_t now_ms,
                    struct buf *out)
{
    uint64_t refused = 0;

    for (size_t i = 0; i < MF_COUNT; i++) {
        reg_render(&m->fam[i], out);
        refused += m->fam[i].refused;
    }
    if (src->state) {
        render_breakers(out, src->state);
        render_upstreams(out, src->state, now_ms);
    }
    if (src->decide)
        render_decisions(out, src->decide);
    if (src->spop)
        render_spop(out, src->spop);
    if (src->ratelimit)
        render_ratelimit(out, src->ratelimit);
    if (src->logs)
        render_logs(out, src->logs);
    if (src->admin)
        render_admin(out, src->admin);
    render_one(out, "llmproxy_log_lines_unmatched_total",
               "Log lines naming a forward, group or upstream the configuration lacks.", "counter",
               (double)m->unmatched);
    render_one(out, "llmproxy_metrics_refused_samples_total",
               "Samples not recorded because a series bound was reached or a value was unfit.",
               "counter", (double)refused);
    return !out->overflow;
}
