/*
 * Recording the series fed by log lines and decisions, with bounded labels (metrics.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conf_client_key.h"
#include "contract/logformat.h"
#include "contract/spop_names.h"
#include "metrics.h"
#include "outcome.h"
#include "registry.h"
#include "state.h"

/* Series caps: forwards x methods x (paths + other) for HTTP, groups x upstreams x kinds
 * for upstreams. Generous for any real configuration, small enough to bound memory. */
#define HTTP_MAX_SERIES     16384
#define UPSTREAM_MAX_SERIES 4096
/* clients x forwards x (status classes or error kinds) */
#define CLIENT_MAX_SERIES 16384
/* forwards x (groups x routes, or (model rules + other) x status classes) */
#define ROUTE_MAX_SERIES 16384

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
    [MF_UPSTREAM_QUEUE_WAIT] = {"llmproxy_upstream_queue_wait_seconds",
                                "Time requests waited in HAProxy's queue for a member at its "
                                "max_in_flight (timed out ones included).",
                                REG_HISTOGRAM,
                                2,
                                {"group", "upstream"},
                                metrics_duration_bounds,
                                N_BOUNDS(metrics_duration_bounds),
                                UPSTREAM_MAX_SERIES},
    [MF_UPSTREAM_QUEUE_TIMEOUTS] = {"llmproxy_upstream_queue_timeouts_total",
                                    "Requests answered 503 upstream_saturated after waiting "
                                    "http_client.timeout.queue for a member.",
                                    REG_COUNTER,
                                    2,
                                    {"group", "upstream"},
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
    [MF_CLIENT_REQUESTS] = {"llmproxy_client_requests_total",
                            "Client requests received, by client and class of status sent.",
                            REG_COUNTER,
                            3,
                            {"client", "forward", "status_class"},
                            NULL,
                            0,
                            CLIENT_MAX_SERIES},
    [MF_CLIENT_DURATION] = {"llmproxy_client_request_duration_seconds",
                            "Duration of a client request by client, until its last byte.",
                            REG_HISTOGRAM,
                            2,
                            {"client", "forward"},
                            metrics_duration_bounds,
                            N_BOUNDS(metrics_duration_bounds),
                            CLIENT_MAX_SERIES},
    [MF_CLIENT_ERRORS] = {"llmproxy_client_request_errors_total",
                          "Client requests that failed, by client and cause.",
                          REG_COUNTER,
                          3,
                          {"client", "forward", "error"},
                          NULL,
                          0,
                          CLIENT_MAX_SERIES},
    [MF_CLIENT_RATELIMIT] = {"llmproxy_client_ratelimited_total",
                             "Client requests refused with 429 by rate limiting, by client.",
                             REG_COUNTER,
                             2,
                             {"client", "forward"},
                             NULL,
                             0,
                             CLIENT_MAX_SERIES},
    [MF_ROUTE_REQUESTS] = {"llmproxy_route_requests_total",
                           "Requests of a forward with routing, by group and how it was chosen.",
                           REG_COUNTER,
                           3,
                           {"forward", "group", "route"},
                           NULL,
                           0,
                           ROUTE_MAX_SERIES},
    [MF_MODEL_REQUESTS] = {"llmproxy_model_requests_total",
                           "Requests of a forward with routing, by model rule and status class.",
                           REG_COUNTER,
                           3,
                           {"forward", "model", "status_class"},
                           NULL,
                           0,
                           ROUTE_MAX_SERIES},
    [MF_MODEL_DURATION] = {"llmproxy_model_request_duration_seconds",
                           "Duration of a request of a forward with routing, by model rule.",
                           REG_HISTOGRAM,
                           2,
                           {"forward", "model"},
                           metrics_duration_bounds,
                           N_BOUNDS(metrics_duration_bounds),
                           ROUTE_MAX_SERIES},
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
    if (view_is(&ll->verdict, SPOP_VERDICT_LIMITED))
        return "rate_limit_exceeded";
    if (view_is(&ll->verdict, SPOP_VERDICT_UNAVAILABLE))
        return "no_upstream_available";
    if (view_is(&ll->verdict, SPOP_VERDICT_THROTTLED))
        return "upstreams_throttled";
    /* Who ended the stream decides, as for the upstreams' breakers (outcome.h). */
    switch (o.cls) {
    case OUTCOME_CLIENT:
        return client_error_kind(ll, o.by);
    case OUTCOME_QUEUE_TIMEOUT:
        return "upstream_saturated";
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

const char *metrics_client_label(const struct judged_request *r)
{
    if (r->client)
        return r->client->conf->name;
    if (r->line->client.len > 0)
        return CONF_CLIENT_UNKNOWN;
    if (r->forward && r->forward->conf->client_auth)
        return CONF_CLIENT_UNAUTHENTICATED;
    return CONF_CLIENT_ANONYMOUS;
}

/* "2xx" for 200..299, ..., "0xx" when no status was sent. */
static void status_class_label(int status, char dst[4])
{
    metrics_status_label(status, dst);
    dst[1] = dst[2] = 'x';
}

bool metrics_family_shown(const struct metrics *m, enum metrics_family f)
{
    if (f >= MF_CLIENT_REQUESTS && f <= MF_CLIENT_RATELIMIT)
        return m->state && state_has_clients(m->state);
    if (f >= MF_ROUTE_REQUESTS && f <= MF_MODEL_DURATION)
        return m->state && state_has_routing(m->state);
    return true;
}

const char *metrics_route_label(const struct judged_request *r)
{
    switch (r->route) {
    case JUDGED_ROUTE_RULE:
        return "rule";
    case JUDGED_ROUTE_NO_MODEL:
        return LOGLINE_ROUTE_NO_MODEL;
    case JUDGED_ROUTE_TRUNCATED:
        return LOGLINE_ROUTE_TRUNCATED;
    case JUDGED_ROUTE_UNMATCHED:
    case JUDGED_ROUTE_NONE:
        break;
    }
    return LOGLINE_ROUTE_UNMATCHED;
}

static bool is_model_rule(const struct conf_route *route)
{
    return route->kind == ROUTE_MODEL || route->kind == ROUTE_MODEL_PREFIX;
}

const char *metrics_model_label(const struct judged_request *r)
{
    const struct conf_route *route;

    if (r->route != JUDGED_ROUTE_RULE || r->rule >= r->forward->conf->n_routes)
        return "other";
    route = &r->forward->conf->routes[r->rule];
    return is_model_rule(route) ? route->pattern.val : "other";
}

/* ---- recording ------------------------------------------------------------------------ */

static double ms_to_s(int32_t ms)
{
    return (double)ms / 1000.0;
}

/* The request again, by client: its own families, so the forward's series keep their
 * labels whether or not clients are configured. */
static void record_client_request(struct metrics *m, const struct judged_request *r,
                                  const char *error)
{
    const struct logline *ll = r->line;
    const char *labels[3] = {metrics_client_label(r), r->forward->conf->name, NULL};
    char status_class[4];

    status_class_label(ll->status, status_class);
    labels[2] = status_class;
    reg_add(&m->fam[MF_CLIENT_REQUESTS], labels, 1);
    if (ll->t_total >= 0)
        reg_observe(&m->fam[MF_CLIENT_DURATION], labels, ms_to_s(ll->t_total));
    if (error) {
        labels[2] = error;
        reg_add(&m->fam[MF_CLIENT_ERRORS], labels, 1);
    }
    if (view_is(&ll->verdict, SPOP_VERDICT_LIMITED))
        reg_add(&m->fam[MF_CLIENT_RATELIMIT], labels, 1);
}

/* The request again, by route and by model rule: a forward with routing only. */
static void record_routed_request(struct metrics *m, const struct judged_request *r)
{
    const struct logline *ll = r->line;
    const char *forward = r->forward->conf->name, *model = metrics_model_label(r);
    char status_class[4];

    reg_add(&m->fam[MF_ROUTE_REQUESTS],
            (const char *[]){forward, r->group->conf->name, metrics_route_label(r)}, 1);
    status_class_label(ll->status, status_class);
    reg_add(&m->fam[MF_MODEL_REQUESTS], (const char *[]){forward, model, status_class}, 1);
    if (ll->t_total >= 0)
        reg_observe(&m->fam[MF_MODEL_DURATION], (const char *[]){forward, model},
                    ms_to_s(ll->t_total));
}

/*
 * A request the group backend held in its queue: the line names the member it waited for
 * (a queue timeout of a request HAProxy balanced itself, the agent being down, names none
 * and is only a request error). %Tw is 0 for a request that found room.
 */
static void record_queue(struct metrics *m, const struct judged_request *r)
{
    const struct logline *ll = r->line;
    bool timed_out = r->outcome.cls == OUTCOME_QUEUE_TIMEOUT;
    const char *labels[2];

    if (!r->group || ll->pinned || ll->upstream.len == 0 || (ll->t_queue <= 0 && !timed_out))
        return;
    for (size_t i = 0; i < r->group->conf->n_members; i++) {
        const char *name = r->group->members[i]->conf->name;

        if (!view_is(&ll->upstream, name))
            continue;
        labels[0] = r->group->conf->name;
        labels[1] = name;
        reg_observe(&m->fam[MF_UPSTREAM_QUEUE_WAIT], labels,
                    ms_to_s(ll->t_queue > 0 ? ll->t_queue : 0));
        if (timed_out)
            reg_add(&m->fam[MF_UPSTREAM_QUEUE_TIMEOUTS], labels, 1);
        return;
    }
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
    if (view_is(&ll->verdict, SPOP_VERDICT_LIMITED))
        reg_add(&m->fam[MF_RATELIMIT], labels, 1);
    if (metrics_family_shown(m, MF_CLIENT_REQUESTS))
        record_client_request(m, r, error);
    if (r->forward->conf->n_routes > 0 && r->group)
        record_routed_request(m, r);
    record_queue(m, r);
}

static void record_attempt(struct metrics *m, const struct outcome_attempt *a)
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

static bool client_label_exists(struct agent_state *st, const char *v)
{
    if (!state_has_clients(st))
        return false; /* the families are no longer shown: drop what they held */
    return conf_client_name_reserved(v) || state_client(st, v, strlen(v));
}

/* Whether `model` is "other" or a model rule's pattern of forward `forward`. */
static bool model_label_exists(struct agent_state *st, const char *forward, const char *model)
{
    const struct forward_rt *fwd = state_forward(st, forward, strlen(forward));

    if (!fwd || fwd->conf->n_routes == 0)
        return false;
    if (strcmp(model, "other") == 0)
        return true;
    for (size_t i = 0; i < fwd->conf->n_routes; i++)
        if (is_model_rule(&fwd->conf->routes[i]) &&
            strcmp(fwd->conf->routes[i].pattern.val, model) == 0)
            return true;
    return false;
}

/* Whether every forward, group, upstream, client and model label of a series still names
 * something. */
static bool names_exist(void *ctx, const struct reg_def *def, const char *const *values)
{
    struct agent_state *st = ctx;

    for (size_t i = 0; i < def->n_labels; i++) {
        const char *label = def->labels[i], *v = values[i];
        size_t len = strlen(v);

        if ((strcmp(label, "forward") == 0 && !state_forward(st, v, len)) ||
            (strcmp(label, "group") == 0 && !state_group(st, v, len)) ||
            (strcmp(label, "upstream") == 0 && !state_upstream(st, v, len)) ||
            (strcmp(label, "client") == 0 && !client_label_exists(st, v)) ||
            (strcmp(label, "model") == 0 && !model_label_exists(st, values[0], v)))
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
