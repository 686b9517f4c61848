/*
 * Metrics: the bounded buffer, the Prometheus text writer, the registry (series bounds,
 * order, histogram buckets, pruning) and the agent's metrics recorded from log lines and
 * read live from the decision state.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "buf.h"
#include "util/conf_testutil.h"
#include "decide-t.h"
#include "judge.h"
#include "admin-t.h"
#include "logfeed-t.h"
#include "metrics.h"
#include "metrics_page.h"
#include "mirror-t.h"
#include "outcome.h"
#include "promtext.h"
#include "registry.h"
#include "retry-t.h"
#include "spop_server.h"
#include "state.h"

/* ---- buf ------------------------------------------------------------------------------ */

START_TEST(buf_stops_at_its_bound)
{
    struct buf b;

    buf_init(&b, 10);
    ck_assert(buf_puts(&b, "12345678"));
    ck_assert(!buf_puts(&b, "abc"));
    ck_assert(b.overflow);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_str_eq(b.data, "12345678");
    ck_assert(!buf_puts(&b, "x")); /* sticky: a later small append does not sneak in */
    ck_assert(!buf_printf(&b, "%d", 1));
    ck_assert_uint_eq(b.len, 8);
    buf_reset(&b);
    ck_assert(!b.overflow);
    ck_assert(buf_printf(&b, "%s-%d", "ab", 12345));
    ck_assert_str_eq(b.data, "ab-12345");
    ck_assert(!buf_printf(&b, "%s", "toolong"));
    ck_assert_str_eq(b.data, "ab-12345");
    buf_free(&b);
}
END_TEST

START_TEST(buf_printf_grows)
{
    struct buf b;
    char expect[16];

    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        ck_assert(buf_printf(&b, "%05d,", i));
    ck_assert_uint_eq(b.len, 60000);
    snprintf(expect, sizeof(expect), "%05d,", 7777);
    ck_assert_int_eq(memcmp(b.data + 7777 * 6, expect, 6), 0);
    ck_assert_uint_eq(strlen(b.data), b.len);
    buf_free(&b);
}
END_TEST

/* ---- promtext ------------------------------------------------------------------------- */

START_TEST(prom_escapes_labels_and_help)
{
    struct buf b;
    static const char *const names[] = {"k"};
    static const char *const values[] = {"a\"b\\c\nd"};
    struct prom_labels labels = {names, values, 1};

    buf_init(&b, 4096);
    prom_family(&b, "m_total", "say \"hi\"\\ now\nplease", "counter");
    prom_sample(&b, "m_total", "", &labels, NULL, 3);
    ck_assert_str_eq(b.data, "# HELP m_total say \"hi\"\\\\ now\\nplease\n"
                             "# TYPE m_total counter\n"
                             "m_total{k=\"a\\\"b\\\\c\\nd\"} 3\n");
    buf_free(&b);
}
END_TEST

START_TEST(prom_formats_numbers)
{
    char s[PROM_NUM_MAX];

    prom_format_number(s, 1);
    ck_assert_str_eq(s, "1");
    prom_format_number(s, 0.005);
    ck_assert_str_eq(s, "0.005");
    prom_format_number(s, 0.000005);
    ck_assert_str_eq(s, "5e-06");
    prom_format_number(s, 300);
    ck_assert_str_eq(s, "300");
    prom_format_number(s, -2.5);
    ck_assert_str_eq(s, "-2.5");
    prom_format_number(s, 0.1 + 0.2);
    ck_assert_str_eq(s, "0.30000000000000004");
    prom_format_number(s, 18446744073709551615.0);
    ck_assert_double_eq(strtod(s, NULL), 18446744073709551615.0);
    prom_format_number(s, NAN);
    ck_assert_str_eq(s, "NaN");
    prom_format_number(s, INFINITY);
    ck_assert_str_eq(s, "+Inf");
    prom_format_number(s, -INFINITY);
    ck_assert_str_eq(s, "-Inf");
}
END_TEST

START_TEST(prom_sample_without_labels_and_with_le)
{
    struct buf b;
    static const char *const names[] = {"a", "b"};
    static const char *const values[] = {"x", "y"};
    struct prom_labels labels = {names, values, 2};

    buf_init(&b, 4096);
    prom_sample(&b, "h", "_bucket", &labels, "0.5", 7);
    prom_sample(&b, "h", "_bucket", NULL, "+Inf", 8);
    prom_sample(&b, "g", "", NULL, NULL, 0.25);
    ck_assert_str_eq(b.data, "h_bucket{a=\"x\",b=\"y\",le=\"0.5\"} 7\n"
                             "h_bucket{le=\"+Inf\"} 8\n"
                             "g 0.25\n");
    buf_free(&b);
}
END_TEST

/* ---- registry ------------------------------------------------------------------------- */

static const struct reg_def counter_def = {"c_total",  "A counter.", REG_COUNTER, 2,
                                           {"x", "y"}, NULL,         0,           3};

static const double two_bounds[] = {1, 2};
static const struct reg_def histo_def = {
    "h_seconds", "A histogram.", REG_HISTOGRAM, 1, {"k"}, two_bounds, 2, 10};

static char *render_family(const struct reg_family *f)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    reg_render(f, &b);
    ck_assert(!b.overflow);
    return b.data;
}

START_TEST(registry_orders_series_by_labels)
{
    struct reg_family f;
    char *text;

    reg_family_init(&f, &counter_def);
    reg_add(&f, (const char *[]){"b", "1"}, 1);
    reg_add(&f, (const char *[]){"a", "2"}, 2);
    reg_add(&f, (const char *[]){"a", "1"}, 1);
    reg_add(&f, (const char *[]){"b", "1"}, 4);
    text = render_family(&f);
    ck_assert_str_eq(text, "# HELP c_total A counter.\n"
                           "# TYPE c_total counter\n"
                           "c_total{x=\"a\",y=\"1\"} 1\n"
                           "c_total{x=\"a\",y=\"2\"} 2\n"
                           "c_total{x=\"b\",y=\"1\"} 5\n");
    free(text);
    reg_family_free(&f);
}
END_TEST

START_TEST(registry_bounds_series)
{
    struct reg_family f;
    char name[16];

    reg_family_init(&f, &counter_def); /* at most 3 series */
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        reg_add(&f, (const char *[]){name, "z"}, 1);
    }
    ck_assert_uint_eq(f.n, 3);
    ck_assert_uint_eq(f.refused, 2);
    reg_add(&f, (const char *[]){"v0", "z"}, 1); /* existing series still count */
    ck_assert_double_eq(reg_series_find(&f, (const char *[]){"v0", "z"})->value, 2);
    ck_assert_ptr_null(reg_series_find(&f, (const char *[]){"v4", "z"}));
    reg_family_free(&f);
}
END_TEST

START_TEST(registry_refuses_bad_samples)
{
    struct reg_family f, h;
    char longv[REG_VALUE_MAX + 2];

    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    reg_family_init(&f, &counter_def);
    reg_family_init(&h, &histo_def);
    reg_add(&f, (const char *[]){"a", "b"}, -1);
    reg_add(&f, (const char *[]){"a", "b"}, NAN);
    reg_add(&f, (const char *[]){longv, "b"}, 1);
    reg_set(&f, (const char *[]){"a", "b"}, 1); /* not a gauge */
    reg_observe(&h, (const char *[]){"k"}, NAN);
    ck_assert_uint_eq(f.refused, 4);
    ck_assert_uint_eq(f.n, 0);
    ck_assert_uint_eq(h.refused, 1);
    ck_assert_uint_eq(h.n, 0);
    longv[REG_VALUE_MAX] = '\0'; /* exactly the bound is fine */
    reg_add(&f, (const char *[]){longv, "b"}, 1);
    ck_assert_uint_eq(f.n, 1);
    reg_family_free(&f);
    reg_family_free(&h);
}
END_TEST

START_TEST(registry_histogram_buckets)
{
    struct reg_family h;
    char *text;

    reg_family_init(&h, &histo_def);
    reg_observe(&h, (const char *[]){"k1"}, 0.5);
    reg_observe(&h, (const char *[]){"k1"}, 1); /* a bound is inclusive (le) */
    reg_observe(&h, (const char *[]){"k1"}, 1.5);
    reg_observe(&h, (const char *[]){"k1"}, 5);
    text = render_family(&h);
    ck_assert_str_eq(text, "# HELP h_seconds A histogram.\n"
                           "# TYPE h_seconds histogram\n"
                           "h_seconds_bucket{k=\"k1\",le=\"1\"} 2\n"
                           "h_seconds_bucket{k=\"k1\",le=\"2\"} 3\n"
                           "h_seconds_bucket{k=\"k1\",le=\"+Inf\"} 4\n"
                           "h_seconds_sum{k=\"k1\"} 8\n"
                           "h_seconds_count{k=\"k1\"} 4\n");
    free(text);
    reg_family_free(&h);
}
END_TEST

static const struct reg_def big_def = {"big_total", "Many series.", REG_COUNTER, 1,
                                       {"n"},       NULL,           0,           5000};

START_TEST(registry_finds_series_after_growth)
{
    struct reg_family f;
    char name[16];

    reg_family_init(&f, &big_def);
    for (int round = 1; round <= 2; round++)
        for (int i = 0; i < 4000; i++) {
            snprintf(name, sizeof(name), "s%d", (i * 7919) % 4000);
            reg_add(&f, (const char *[]){name}, 1);
        }
    ck_assert_uint_eq(f.n, 4000);
    ck_assert_uint_eq(f.refused, 0);
    for (int i = 0; i < 4000; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        ck_assert_double_eq(reg_series_find(&f, (const char *[]){name})->value, 2);
    }
    for (uint32_t i = 1; i < f.n; i++) /* still sorted */
        ck_assert_int_lt(strcmp(f.series[i - 1]->values[0], f.series[i]->values[0]), 0);
    reg_family_free(&f);
}
END_TEST

static bool keep_not_b(void *ctx, const struct reg_def *def, const char *const *values)
{
    (void)ctx;
    (void)def;
    return strcmp(values[0], "b") != 0;
}

START_TEST(registry_prunes)
{
    struct reg_family f;

    reg_family_init(&f, &counter_def);
    reg_add(&f, (const char *[]){"a", "1"}, 1);
    reg_add(&f, (const char *[]){"b", "1"}, 1);
    reg_add(&f, (const char *[]){"c", "1"}, 3);
    reg_prune(&f, keep_not_b, NULL);
    ck_assert_uint_eq(f.n, 2);
    ck_assert_ptr_null(reg_series_find(&f, (const char *[]){"b", "1"}));
    ck_assert_double_eq(reg_series_find(&f, (const char *[]){"c", "1"})->value, 3);
    reg_add(&f, (const char *[]){"d", "1"}, 1); /* the freed room is usable again */
    ck_assert_uint_eq(f.n, 3);
    ck_assert_uint_eq(f.refused, 0);
    reg_family_free(&f);
}
END_TEST

/* ---- the agent's metrics -------------------------------------------------------------- */

static const char yaml_v1[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3001, upstream_group: g}\n"
    "    - {name: side, port: 3002, upstream_group: g}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1/v1', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2'}\n"
    "upstream_groups:\n"
    "  - name: g\n"
    "    upstreams: [{name: a}, {name: b}]\n";

/* side is gone, b is gone, c is new. */
static const char yaml_v2[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3001, upstream_group: g}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1/v1', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: c, url: 'http://127.0.0.1:3'}\n"
    "upstream_groups:\n"
    "  - name: g\n"
    "    upstreams: [{name: a}, {name: c}]\n";

static struct agent_state *st;
static struct metrics *m;

static struct agent_state *load_state(const char *yaml, const struct agent_state *old)
{
    char *diags = NULL;
    struct config *cfg = ctu_load(yaml, NULL, &diags);
    struct agent_state *s;

    ck_assert_msg(cfg != NULL, "%s", diags);
    free(diags);
    s = state_create(cfg, old, 7);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void setup(void)
{
    st = load_state(yaml_v1, NULL);
    m = metrics_create();
    ck_assert_ptr_nonnull(m);
    ck_assert(metrics_use_state(m, st));
}

static void teardown(void)
{
    metrics_free(m);
    state_free(st);
}

/* A line as the agent records it: judged against the state once, then recorded. */
static void record(const struct logline *ll)
{
    struct judged_line j;

    judge_line(st, ll, &j);
    metrics_record_line(m, &j);
}

static struct logline_str view(const char *s)
{
    return (struct logline_str){s, s ? strlen(s) : 0};
}

static struct logline request_line(const char *forward, const char *method, const char *path,
                                   int status, int32_t t_total)
{
    struct logline ll = {.kind = LOGLINE_REQUEST,
                         .status = status,
                         .t_total = t_total,
                         .t_response = -1,
                         .t_connect = -1,
                         .termination = "----"};

    ll.forward = view(forward);
    ll.group = view("g");
    ll.method = view(method);
    ll.path = view(path);
    return ll;
}

/* A request line whose answer came from upstream `a` of group g after 5 ms. */
static struct logline served_line(const char *forward, const char *method, const char *path,
                                  int status)
{
    struct logline ll = request_line(forward, method, path, status, 10);

    ll.upstream = view("a");
    ll.verdict = view("pass");
    ll.t_connect = 0;
    ll.t_response = 5;
    return ll;
}

static struct logline attempt_line(const char *group, const char *upstream, int status,
                                   int32_t t_connect, int32_t t_response, int32_t t_total)
{
    struct logline ll = {.kind = LOGLINE_ATTEMPT,
                         .status = status,
                         .t_total = t_total,
                         .t_response = t_response,
                         .t_connect = t_connect,
                         .termination = "----"};

    ll.group = view(group);
    ll.upstream = view(upstream);
    return ll;
}

static double counter(enum metrics_family f, const char *const *values)
{
    const struct reg_series *s = reg_series_find(&m->fam[f], values);
    return s ? s->value : -1;
}

static char *render_all(struct metrics_page_sources *src)
{
    struct buf b;

    src->recorded = m;
    buf_init(&b, 1 << 22);
    ck_assert(metrics_page_render(src, 1000, &b));
    return b.data;
}

START_TEST(labels_are_bounded)
{
    char status[4];

    ck_assert_str_eq(metrics_method_label("GET", 3), "GET");
    ck_assert_str_eq(metrics_method_label("POSTX", 4), "POST");
    ck_assert_str_eq(metrics_method_label("BREW", 4), "OTHER");
    ck_assert_str_eq(metrics_method_label("get", 3), "OTHER");
    ck_assert_str_eq(metrics_method_label("", 0), "OTHER");
    metrics_status_label(200, status);
    ck_assert_str_eq(status, "200");
    metrics_status_label(-1, status);
    ck_assert_str_eq(status, "000");
    metrics_status_label(1000, status);
    ck_assert_str_eq(status, "000");
}
END_TEST

START_TEST(request_errors_are_classified)
{
    static const struct {
        const char *verdict;
        const char *term;
        int status;
        const char *error;
    } cases[] = {
        {"pass", "----", 200, NULL},
        {"pass", "----", 404, "upstream_error"},
        {"pass", "----", 503, "upstream_error"},
        {"limited", "PR--", 429, "rate_limit_exceeded"},
        {"unavailable", "PR--", 503, "no_upstream_available"},
        {"pass", "cR--", 408, "request_timeout"},
        {"pass", "CD--", 200, "client_aborted"},
        {"pass", "sH--", 504, "upstream_timeout"},
        {"pass", "SC--", 503, "upstream_unreachable"},
        {"pass", "SH--", 502, "bad_upstream_response"},
        {"pass", "PR--", 400, "bad_request"},
        {"pass", "PR--", 403, "client_error"},
        {"pass", "PR--", 503, "proxy_error"},
        {"pass", "PH--", 400, "bad_request"}, /* broken chunking after connect */
        {"pass", "LR--", 405, "method_not_allowed"},
        {"pass", "PR--", 413, "request_too_large"},
        {"pass", "PH--", 502, "bad_upstream_response"},
        {"pass", "RC--", 500, "resource_exhausted"},
        {"pass", "IH--", 500, "internal_error"},
        {"pass", "KD--", 200, "aborted"},
        {"pass", "sQ--", 503, "upstream_saturated"},   /* queue timeout (max_in_flight) */
        {"pass", "LH--", 502, "upstream_unreachable"}, /* the proxy tunnel's answer */
        {"", "----", -1, "upstream_error"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct logline ll = request_line("main", "GET", "/", cases[i].status, 1);
        const char *got;

        ll.verdict = view(cases[i].verdict);
        memcpy(ll.termination, cases[i].term, 5);
        got = metrics_request_error(&ll, outcome_classify(&ll));
        if (!cases[i].error)
            ck_assert_msg(got == NULL, "case %zu: got %s", i, got);
        else
            ck_assert_msg(got && strcmp(got, cases[i].error) == 0, "case %zu: got %s", i,
                          got ? got : "(null)");
    }
}
END_TEST

START_TEST(request_line_is_recorded)
{
    struct logline ll = request_line("main", "POST", "/v1/chat/completions", 200, 1500);
    const struct reg_series *h;

    record(&ll);
    ll = request_line("main", "BREW", "/v1/chat/completions", 503, 20);
    record(&ll);
    ck_assert_double_eq(
        counter(MF_HTTP_REQUESTS, (const char *[]){"main", "POST", "/v1/chat/completions"}), 1);
    ck_assert_double_eq(
        counter(MF_HTTP_REQUESTS, (const char *[]){"main", "OTHER", "/v1/chat/completions"}), 1);
    h = reg_series_find(&m->fam[MF_HTTP_DURATION],
                        (const char *[]){"main", "POST", "/v1/chat/completions"});
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(h->count, 1);
    ck_assert_double_eq_tol(h->sum, 1.5, 1e-9);
    ck_assert_double_eq(counter(MF_HTTP_ERRORS, (const char *[]){"main", "upstream_error", "503"}),
                        1);
    ck_assert_uint_eq(m->fam[MF_HTTP_ERRORS].n, 1);

    /* A line without a total time counts the request, not a duration. */
    ll = request_line("main", "GET", "/v1/models", -1, -1);
    memcpy(ll.termination, "CR--", 5);
    record(&ll);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", "/v1/models"}),
                        1);
    ck_assert_ptr_null(
        reg_series_find(&m->fam[MF_HTTP_DURATION], (const char *[]){"main", "GET", "/v1/models"}));
    ck_assert_double_eq(counter(MF_HTTP_ERRORS, (const char *[]){"main", "client_aborted", "000"}),
                        1);
}
END_TEST

/*
 * A group backend's request line that waited in a member's queue (%Tw) is a queue wait of
 * that member; one that timed out there is also a queue timeout, not an upstream error.
 * A line that found room, a pinned one, and one naming no server record no wait.
 */
START_TEST(queue_waits_are_recorded)
{
    const char *ga[] = {"g", "a"};
    const struct reg_series *h;
    struct logline ll = served_line("main", "POST", "/v1/chat/completions", 200);
    char *text;
    struct metrics_page_sources src = {.state = st};

    ll.t_queue = 300;
    record(&ll);
    ll.t_queue = 0;
    record(&ll);
    ll = request_line("main", "POST", "/v1/chat/completions", 503, 1002);
    ll.upstream = view("a");
    ll.verdict = view("pass");
    ll.t_queue = 1001;
    memcpy(ll.termination, "sQ--", 5);
    record(&ll);
    ll.upstream = view(""); /* <NOSRV>: HAProxy balanced it, the agent being down */
    record(&ll);
    h = reg_series_find(&m->fam[MF_UPSTREAM_QUEUE_WAIT], ga);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(h->count, 2);
    ck_assert_double_eq_tol(h->sum, 1.301, 1e-9);
    ck_assert_double_eq(counter(MF_UPSTREAM_QUEUE_TIMEOUTS, ga), 1);
    ck_assert_double_eq(
        counter(MF_HTTP_ERRORS, (const char *[]){"main", "upstream_saturated", "503"}), 2);
    ck_assert_uint_eq(m->fam[MF_UPSTREAM_ERRORS].n, 0);

    st->upstreams[0].haproxy_queued = 3;
    text = render_all(&src);
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_upstream_queued{upstream=\"a\"} 3\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_upstream_queue_timeouts_total{group=\"g\",upstream=\"a\"} 1\n"));
    free(text);
}
END_TEST

START_TEST(rate_limited_requests_are_counted)
{
    struct logline ll = request_line("side", "GET", "/", 429, 0);

    ll.verdict = view("limited");
    memcpy(ll.termination, "PR--", 5);
    record(&ll);
    record(&ll);
    ck_assert_double_eq(counter(MF_RATELIMIT, (const char *[]){"side"}), 2);
    ck_assert_double_eq(
        counter(MF_HTTP_ERRORS, (const char *[]){"side", "rate_limit_exceeded", "429"}), 2);
}
END_TEST

START_TEST(paths_are_capped_per_forward)
{
    char path[32];
    struct logline ll;
    char longpath[METRICS_PATH_MAX + 2];

    char last[32], first_refused[32];

    for (int i = 0; i < METRICS_LEARNED_PATHS + 10; i++) {
        snprintf(path, sizeof(path), "/p%d", i);
        ll = served_line("main", "GET", path, 200);
        record(&ll);
    }
    snprintf(last, sizeof(last), "/p%d", METRICS_LEARNED_PATHS - 1);
    snprintf(first_refused, sizeof(first_refused), "/p%d", METRICS_LEARNED_PATHS);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", last}), 1);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", first_refused}),
                        -1);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", "other"}), 10);
    /* An admitted path stays itself after the cap is reached, whatever its outcome. */
    ll = served_line("main", "GET", "/p0", 200);
    record(&ll);
    ll = request_line("main", "GET", "/p0", 503, 1);
    record(&ll);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", "/p0"}), 3);
    /* The known API paths keep their own slots after the cap is reached. */
    ll = request_line("main", "POST", "/v1/embeddings", 503, 1);
    record(&ll);
    ck_assert_double_eq(
        counter(MF_HTTP_REQUESTS, (const char *[]){"main", "POST", "/v1/embeddings"}), 1);
    /* Another forward has its own share. */
    ll = served_line("side", "GET", "/p70", 200);
    record(&ll);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"side", "GET", "/p70"}), 1);
    /* Unfit paths never take a slot. */
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    ll = served_line("side", "GET", longpath, 200);
    record(&ll);
    ll = served_line("side", "GET", "/a b", 200);
    record(&ll);
    ll = served_line("side", "GET", "/caf\xc3\xa9", 200);
    record(&ll);
    ll = served_line("side", "GET", "", 200);
    record(&ll);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"side", "GET", "other"}), 4);
    ck_assert_uint_eq(m->paths[1].n, 1);
}
END_TEST

/*
 * A client cannot squat the path slots: 1000 made-up paths that no upstream served (the
 * agent's 429 and 503, HAProxy's own 400 and 408, an upstream's 404, a client gone before
 * any answer) all land in "other", and a real path still gets its own label afterwards.
 */
START_TEST(paths_no_upstream_served_take_no_slot)
{
    static const struct {
        const char *verdict;
        const char *term;
        int status;
        bool upstream;
    } fates[] = {
        {"limited", "PR--", 429, false}, {"unavailable", "PR--", 503, false},
        {"", "PR--", 400, false},        {"pass", "cR--", 408, false},
        {"pass", "----", 404, true},     {"pass", "----", 405, true},
        {"pass", "SC--", 503, true},     {"pass", "CR--", -1, false},
        {"pass", "sH--", 504, true},     {"pass", "----", 200, false}, /* no server */
    };
    const size_t n_fates = sizeof(fates) / sizeof(fates[0]);
    char path[32];
    struct logline ll;

    for (int i = 0; i < 1000; i++) {
        size_t f = (size_t)i % n_fates;

        snprintf(path, sizeof(path), "/junk-%d", i);
        ll = fates[f].upstream ? served_line("main", "POST", path, fates[f].status)
                               : request_line("main", "POST", path, fates[f].status, 1);
        ll.verdict = view(fates[f].verdict);
        memcpy(ll.termination, fates[f].term, 5);
        if (f == 8) /* the upstream never answered: no response time */
            ll.t_response = -1;
        record(&ll);
    }
    ck_assert_uint_eq(m->paths[0].n, 0);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "POST", "other"}), 1000);
    ck_assert_uint_eq(m->fam[MF_HTTP_REQUESTS].n, 1);

    /* A real path an upstream served gets its own label, and keeps it when it fails. */
    ll = served_line("main", "POST", "/v1/rerank", 200);
    record(&ll);
    ll = request_line("main", "POST", "/v1/rerank", 503, 1);
    ll.verdict = view("unavailable");
    record(&ll);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "POST", "/v1/rerank"}),
                        2);
    /* A known API path is its own label from its first request, even one that failed. */
    ll = request_line("main", "POST", "/v1/chat/completions", 429, 1);
    ll.verdict = view("limited");
    record(&ll);
    ck_assert_double_eq(
        counter(MF_HTTP_REQUESTS, (const char *[]){"main", "POST", "/v1/chat/completions"}), 1);
    ck_assert_uint_eq(m->paths[0].n, 1);
    ck_assert_uint_eq(m->fam[MF_HTTP_REQUESTS].n, 3);
}
END_TEST

START_TEST(memory_is_bounded_under_a_path_flood)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "X1", "X2"};
    char path[32];

    for (int i = 0; i < 50000; i++) {
        snprintf(path, sizeof(path), "/flood/%d", i);
        struct logline ll = served_line(i % 2 ? "main" : "side", methods[i % 5], path, 200);
        record(&ll);
    }
    /* 2 forwards x 4 method labels (GET POST PUT OTHER) x (64 paths + other). */
    ck_assert_uint_le(m->fam[MF_HTTP_REQUESTS].n, 2 * 4 * (METRICS_PATHS_PER_FORWARD + 1));
    ck_assert_uint_eq(m->paths[0].n, METRICS_LEARNED_PATHS);
    ck_assert_uint_eq(m->paths[1].n, METRICS_LEARNED_PATHS);
}
END_TEST

START_TEST(unknown_names_are_not_labels)
{
    struct logline ll = request_line("nosuch", "GET", "/", 200, 1);

    record(&ll);
    ll = attempt_line("g", "zz", 200, 1, 2, 3);
    record(&ll);
    ll = attempt_line("nogroup", "a", 200, 1, 2, 3);
    record(&ll);
    ck_assert_uint_eq(m->unmatched, 3);
    ck_assert_uint_eq(m->fam[MF_HTTP_REQUESTS].n, 0);
    ck_assert_uint_eq(m->fam[MF_UPSTREAM_REQUESTS].n, 0);
    /* An attempt line is no request. */
    ll = attempt_line("g", "a", 200, 1, 2, 3);
    record(&ll);
    ck_assert_uint_eq(m->fam[MF_HTTP_REQUESTS].n, 0);
}
END_TEST

START_TEST(attempt_line_is_recorded)
{
    struct logline ll = attempt_line("g", "a", 200, 5, 245, 4000);
    const struct reg_series *ttfb, *dur;

    record(&ll);
    ll = attempt_line("g", "a", 503, 1, 10, 11);
    record(&ll);
    /* b never answered: refused, then timed out twice, its error kind the breaker's class. */
    ll = attempt_line("g", "b", -1, -1, -1, 3000);
    memcpy(ll.termination, "SC--", 5);
    record(&ll);
    memcpy(ll.termination, "sH--", 5);
    record(&ll);
    memcpy(ll.termination, "SH--", 5);
    record(&ll);
    ck_assert_double_eq(counter(MF_UPSTREAM_REQUESTS, (const char *[]){"g", "a"}), 2);
    ck_assert_double_eq(counter(MF_UPSTREAM_REQUESTS, (const char *[]){"g", "b"}), 3);
    ck_assert_double_eq(counter(MF_UPSTREAM_ERRORS, (const char *[]){"status_5xx", "g", "a"}), 1);
    ck_assert_double_eq(counter(MF_UPSTREAM_ERRORS, (const char *[]){"connect", "g", "b"}), 1);
    ck_assert_double_eq(counter(MF_UPSTREAM_ERRORS, (const char *[]){"timeout", "g", "b"}), 1);
    ck_assert_double_eq(counter(MF_UPSTREAM_ERRORS, (const char *[]){"empty_response", "g", "b"}),
                        1);
    /* A client's fault is no upstream attempt at all. */
    memcpy(ll.termination, "CD--", 5);
    record(&ll);
    ck_assert_double_eq(counter(MF_UPSTREAM_REQUESTS, (const char *[]){"g", "b"}), 3);
    ttfb = reg_series_find(&m->fam[MF_UPSTREAM_TTFB], (const char *[]){"g", "a"});
    ck_assert_uint_eq(ttfb->count, 2);
    ck_assert_double_eq_tol(ttfb->sum, 0.25 + 0.011, 1e-9);
    /* b never answered: a duration, no time to first byte. */
    ck_assert_ptr_null(reg_series_find(&m->fam[MF_UPSTREAM_TTFB], (const char *[]){"g", "b"}));
    dur = reg_series_find(&m->fam[MF_UPSTREAM_DURATION], (const char *[]){"g", "b"});
    ck_assert_uint_eq(dur->count, 3);
}
END_TEST

START_TEST(decision_latency_histogram)
{
    const struct reg_series *s;

    metrics_observe_decision(m, 3000);     /* 3 us */
    metrics_observe_decision(m, 2000000);  /* 2 ms */
    metrics_observe_decision(m, 50000000); /* 50 ms: beyond the last bucket */
    metrics_observe_decision(NULL, 1);     /* not measured: no crash */
    s = reg_series_find(&m->fam[MF_DECISION_DURATION], NULL);
    ck_assert_uint_eq(s->count, 3);
    ck_assert_uint_eq(s->buckets[0], 1);
    ck_assert_uint_eq(s->buckets[8], 1); /* le 0.0025 */
}
END_TEST

START_TEST(render_has_every_family)
{
    static const char *const types[] = {
        "# TYPE llmproxy_upstream_requests_total counter\n",
        "# TYPE llmproxy_upstream_duration_seconds histogram\n",
        "# TYPE llmproxy_upstream_errors_total counter\n",
        "# TYPE llmproxy_http_requests_total counter\n",
        "# TYPE llmproxy_http_request_duration_seconds histogram\n",
        "# TYPE llmproxy_http_request_errors_total counter\n",
        "# TYPE llmproxy_ratelimit_total counter\n",
        "# TYPE llmproxy_circuitbreaker_state_changes_total counter\n",
        "# TYPE llmproxy_circuitbreaker_calls_total counter\n",
        "# TYPE llmproxy_circuitbreaker_opened_total counter\n",
        "# TYPE llmproxy_circuitbreaker_closed_total counter\n",
        "# TYPE llmproxy_circuitbreaker_half_opened_total counter\n",
        "# TYPE llmproxy_upstream_in_flight gauge\n",
        "# TYPE llmproxy_upstream_response_time_ema_seconds gauge\n",
        "# TYPE llmproxy_upstream_success_rate gauge\n",
        "# TYPE llmproxy_upstream_breaker_state gauge\n",
        "# TYPE llmproxy_upstream_score gauge\n",
        "# TYPE llmproxy_upstream_time_to_first_byte_seconds histogram\n",
        "# TYPE llmproxy_agent_pick_decisions_total counter\n",
        "# TYPE llmproxy_agent_decision_duration_seconds histogram\n",
        "# TYPE llmproxy_spop_connections_total counter\n",
        "# TYPE llmproxy_spop_errors_total counter\n",
        "# TYPE llmproxy_log_lines_received_total counter\n",
        "# TYPE llmproxy_log_lines_dropped_total counter\n",
        "# TYPE llmproxy_log_lines_malformed_total counter\n",
        "# TYPE llmproxy_ratelimit_clients gauge\n",
        "# TYPE llmproxy_spop_connections_expired_total counter\n",
        "# TYPE llmproxy_spop_connections_refused_total counter\n",
        "# TYPE llmproxy_spop_connections_evicted_total counter\n",
        "# TYPE llmproxy_log_connections_expired_total counter\n",
        "# TYPE llmproxy_log_connections_refused_total counter\n",
        "# TYPE llmproxy_log_connections_evicted_total counter\n",
        "# TYPE llmproxy_admin_unauthorized_total counter\n",
        "# TYPE llmproxy_admin_connections_refused_total counter\n",
        "# TYPE llmproxy_admin_connections_evicted_total counter\n",
    };
    struct decide_stats ds = {
        .picks = 10, .picks_pass = 7, .picks_limited = 2, .picks_unavailable = 1};
    struct spop_server_stats ss = {.accepted = 3,
                                   .open = 1,
                                   .expired_hello = 5,
                                   .admission = {.refused_fds = 6, .evicted = 8}};
    struct ratelimit_stats rs = {.entries = 5, .capacity = 100};
    struct logfeed_stats ls = {.lines = 9, .oversize = 1, .malformed = 2};
    struct admin_stats as = {.unauthorized = 4, .admission = {.evicted = 7}};
    struct metrics_page_sources src = {.state = st,
                                       .decide = &ds,
                                       .spop = &ss,
                                       .ratelimit = &rs,
                                       .logs = &ls,
                                       .log_admission = {.refused_limit = 3},
                                       .admin = &as};
    char *text;

    ss.conns.faults[SPOP_FAULT_TOO_BIG] = 4;
    text = render_all(&src);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        ck_assert_msg(strstr(text, types[i]) != NULL, "missing %s", types[i]);
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_agent_pick_decisions_total{verdict=\"pass\"} 7\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_spop_errors_total{fault=\"frame_too_big\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_log_lines_malformed_total 2\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_spop_connections_expired_total{deadline=\"hello\"} 5\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_spop_connections_refused_total{reason=\"fds\"} 6\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_spop_connections_evicted_total 8\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_log_connections_refused_total{reason=\"limit\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_admin_unauthorized_total 4\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_admin_connections_evicted_total 7\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_agent_decision_duration_seconds_bucket{le=\"5e-06\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_upstream_breaker_state{upstream=\"a\"} 0\n"));
    /* Unmeasured upstreams have no EMA or score yet. */
    ck_assert_ptr_null(strstr(text, "llmproxy_upstream_response_time_ema_seconds{"));
    free(text);

    /* Without optional sources their families are left out, the rest still renders. */
    src = (struct metrics_page_sources){.state = st};
    text = render_all(&src);
    ck_assert_ptr_null(strstr(text, "llmproxy_spop_connections_total"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE llmproxy_http_requests_total counter\n"));
    free(text);
}
END_TEST

/* The counters an operator needs to see a retry lose its backoff or a breaker mirror fail. */
START_TEST(render_exports_lost_backoffs_and_mirror_failures)
{
    static const char *const lines[] = {
        "# TYPE llmproxy_spop_held_answers_overflow_total counter\n",
        "llmproxy_spop_held_answers_overflow_total 3\n",
        "# TYPE llmproxy_spop_held_answers_dropped_total counter\n",
        "llmproxy_spop_held_answers_dropped_total 2\n",
        "# TYPE llmproxy_agent_retry_evictions_total counter\n",
        "llmproxy_agent_retry_evictions_total 11\n",
        "# TYPE llmproxy_agent_breaker_mirror_commands_total counter\n",
        "llmproxy_agent_breaker_mirror_commands_total{result=\"applied\"} 5\n",
        "llmproxy_agent_breaker_mirror_commands_total{result=\"failed\"} 4\n",
    };
    struct spop_server_stats ss = {.held = 1, .held_overflow = 3, .held_dropped = 2};
    struct retry_stats rs = {.evictions = 11};
    struct mirror_stats ms = {.confirmed = 5, .failed = 4};
    struct metrics_page_sources src = {.state = st, .spop = &ss, .retry = &rs, .mirror = &ms};
    char *text = render_all(&src);

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        ck_assert_msg(strstr(text, lines[i]) != NULL, "missing %s", lines[i]);
    free(text);
    /* Without a mirror (the runtime API client could not start) its family is left out. */
    src.mirror = NULL;
    text = render_all(&src);
    ck_assert_ptr_null(strstr(text, "llmproxy_agent_breaker_mirror_commands_total"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_agent_retry_evictions_total 11\n"));
    free(text);
}
END_TEST

START_TEST(render_reads_breakers_and_gauges_live)
{
    struct metrics_page_sources src = {.state = st};
    struct upstream_rt *a = state_upstream(st, "a", 1);
    char *text;

    for (int i = 0; i < BREAKER_MIN_ATTEMPTS; i++)
        breaker_record(&a->breaker, 1000, false);
    a->ema_ms = 250;
    a->measured = true;
    text = render_all(&src);
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_upstream_breaker_state{upstream=\"a\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_circuitbreaker_opened_total{group=\"g\","
                                       "upstream=\"a\",url=\"http://127.0.0.1:1/v1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_circuitbreaker_state_changes_total{group=\"g\","
                                       "upstream=\"a\",url=\"http://127.0.0.1:1/v1\","
                                       "state=\"open\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_circuitbreaker_calls_total{group=\"g\","
                                       "upstream=\"a\",url=\"http://127.0.0.1:1/v1\","
                                       "result=\"failure\"} 5\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "llmproxy_upstream_response_time_ema_seconds{upstream=\"a\"} 0.25\n"));
    /* success rate floored at 0.01: score = 250 * 1 / 0.01 */
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_upstream_success_rate{upstream=\"a\"} 0.01\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_upstream_score{upstream=\"a\"} 25000\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_upstream_success_rate{upstream=\"b\"} 1\n"));
    free(text);
}
END_TEST

START_TEST(render_reports_overflow)
{
    struct metrics_page_sources src = {.state = st};
    struct buf b;

    buf_init(&b, 100);
    src.recorded = m;
    ck_assert(!metrics_page_render(&src, 0, &b));
    buf_free(&b);
}
END_TEST

START_TEST(reload_keeps_unchanged_names)
{
    struct logline ll = served_line("main", "GET", "/keep", 200);
    struct agent_state *st2;

    record(&ll);
    ll = served_line("side", "GET", "/gone", 200);
    record(&ll);
    ll = attempt_line("g", "a", 200, 1, 1, 1);
    record(&ll);
    ll = attempt_line("g", "b", 200, 1, 1, 1);
    record(&ll);

    st2 = load_state(yaml_v2, st);
    ck_assert(metrics_use_state(m, st2));
    state_free(st);
    st = st2;

    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", "/keep"}), 1);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"side", "GET", "/gone"}), -1);
    ck_assert_double_eq(counter(MF_UPSTREAM_REQUESTS, (const char *[]){"g", "a"}), 1);
    ck_assert_double_eq(counter(MF_UPSTREAM_REQUESTS, (const char *[]){"g", "b"}), -1);
    ck_assert_uint_eq(m->n_paths, 1);
    ck_assert_uint_eq(m->paths[0].n, 1);
    ck_assert_str_eq(m->paths[0].path[0], "/keep");

    /* Counting goes on under the new configuration. */
    ll = served_line("main", "GET", "/keep", 200);
    record(&ll);
    ck_assert_double_eq(counter(MF_HTTP_REQUESTS, (const char *[]){"main", "GET", "/keep"}), 2);
    ll = attempt_line("g", "c", 200, 1, 1, 1);
    record(&ll);
    ck_assert_double_eq(counter(MF_UPSTREAM_REQUESTS, (const char *[]){"g", "c"}), 1);
    ll = request_line("side", "GET", "/", 200, 1);
    record(&ll);
    ck_assert_uint_eq(m->unmatched, 1);
}
END_TEST

/* ---- by client ----------------------------------------------------------------------- */

/* `keyed` checks keys, `open` does not; team-b is gone from the second version. */
#define CLIENTS_YAML(clients)                                                                      \
    "http_server:\n"                                                                               \
    "  forwards:\n"                                                                                \
    "    - {name: keyed, port: 3001, upstream_group: g, client_auth: true}\n"                      \
    "    - {name: open, port: 3002, upstream_group: g}\n"                                          \
    "upstreams:\n"                                                                                 \
    "  - {name: a, url: 'http://127.0.0.1:1/v1'}\n"                                                \
    "upstream_groups:\n"                                                                           \
    "  - {name: g, upstreams: [{name: a}]}\n"                                                      \
    "clients:\n" clients
#define TEAM_A                                                                                     \
    "  - {name: team-a, ratelimit: {per_second: 1, burst: 1},\n"                                   \
    "     key_sha256: 8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f}\n"
#define TEAM_B                                                                                     \
    "  - {name: team-b,\n"                                                                         \
    "     key_sha256: ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19}\n"

static void setup_clients(void)
{
    st = load_state(CLIENTS_YAML(TEAM_A TEAM_B), NULL);
    m = metrics_create();
    ck_assert_ptr_nonnull(m);
    ck_assert(metrics_use_state(m, st));
}

/* A request line of `client` ("-" as none) on `forward`, served with `status`. */
static void record_client(const char *forward, const char *client, int status)
{
    struct logline ll = served_line(forward, "POST", "/v1/chat/completions", status);

    ll.client = view(strcmp(client, "-") == 0 ? NULL : client);
    if (status == 429) {
        ll.verdict = view("limited");
        ll.upstream = view(NULL);
        memcpy(ll.termination, "PR--", 5);
    }
    record(&ll);
}

START_TEST(requests_are_counted_by_client)
{
    const struct reg_series *h;
    char *text;
    struct metrics_page_sources src = {.state = st};

    record_client("keyed", "team-a", 200);
    record_client("keyed", "team-a", 429);
    record_client("keyed", "team-b", 503);
    record_client("keyed", "-", 401);     /* no key matched */
    record_client("keyed", "ghost", 200); /* a name the agent's configuration lacks */
    record_client("open", "-", 200);      /* no client_auth */

    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"team-a", "keyed", "2xx"}), 1);
    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"team-a", "keyed", "4xx"}), 1);
    ck_assert_double_eq(counter(MF_CLIENT_RATELIMIT, (const char *[]){"team-a", "keyed"}), 1);
    ck_assert_double_eq(
        counter(MF_CLIENT_ERRORS, (const char *[]){"team-a", "keyed", "rate_limit_exceeded"}), 1);
    ck_assert_double_eq(
        counter(MF_CLIENT_ERRORS, (const char *[]){"team-b", "keyed", "upstream_error"}), 1);
    ck_assert_double_eq(
        counter(MF_CLIENT_REQUESTS, (const char *[]){"unauthenticated", "keyed", "4xx"}), 1);
    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"unknown", "keyed", "2xx"}),
                        1);
    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"anonymous", "open", "2xx"}),
                        1);
    ck_assert_uint_eq(m->fam[MF_CLIENT_REQUESTS].n, 6);
    h = reg_series_find(&m->fam[MF_CLIENT_DURATION], (const char *[]){"team-a", "keyed"});
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(h->count, 2);
    /* The forward's own series keep their labels. */
    ck_assert_double_eq(
        counter(MF_HTTP_REQUESTS, (const char *[]){"keyed", "POST", "/v1/chat/completions"}), 5);

    text = render_all(&src);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE llmproxy_client_requests_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_client_requests_total{client=\"team-a\","
                                       "forward=\"keyed\",status_class=\"2xx\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "llmproxy_client_ratelimited_total{client=\"team-a\","
                                       "forward=\"keyed\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "# TYPE llmproxy_client_request_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE llmproxy_client_request_errors_total counter\n"));
    free(text);
}
END_TEST

START_TEST(no_client_families_without_clients)
{
    struct metrics_page_sources src = {.state = st};
    struct logline ll = served_line("main", "GET", "/v1/models", 200);
    char *text;

    record(&ll);
    for (size_t f = MF_CLIENT_REQUESTS; f <= MF_CLIENT_RATELIMIT; f++)
        ck_assert_uint_eq(m->fam[f].n, 0);
    text = render_all(&src);
    ck_assert_ptr_null(strstr(text, "llmproxy_client_"));
    free(text);
}
END_TEST

START_TEST(reload_drops_the_series_of_removed_clients)
{
    struct agent_state *st2;

    record_client("keyed", "team-a", 200);
    record_client("keyed", "team-b", 200);
    record_client("open", "-", 200);
    st2 = load_state(CLIENTS_YAML(TEAM_A), st);
    ck_assert(metrics_use_state(m, st2));
    state_free(st);
    st = st2;
    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"team-a", "keyed", "2xx"}), 1);
    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"team-b", "keyed", "2xx"}),
                        -1);
    ck_assert_double_eq(counter(MF_CLIENT_REQUESTS, (const char *[]){"anonymous", "open", "2xx"}),
                        1);

    /* Without clients at all, the client families are emptied, not left frozen. */
    st2 = load_state(yaml_v1, st);
    ck_assert(metrics_use_state(m, st2));
    state_free(st);
    st = st2;
    for (size_t f = MF_CLIENT_REQUESTS; f <= MF_CLIENT_RATELIMIT; f++)
        ck_assert_uint_eq(m->fam[f].n, 0);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc;

    tc = tcase_create("buf");
    tcase_add_test(tc, buf_stops_at_its_bound);
    tcase_add_test(tc, buf_printf_grows);
    suite_add_tcase(s, tc);

    tc = tcase_create("promtext");
    tcase_add_test(tc, prom_escapes_labels_and_help);
    tcase_add_test(tc, prom_formats_numbers);
    tcase_add_test(tc, prom_sample_without_labels_and_with_le);
    suite_add_tcase(s, tc);

    tc = tcase_create("registry");
    tcase_add_test(tc, registry_orders_series_by_labels);
    tcase_add_test(tc, registry_bounds_series);
    tcase_add_test(tc, registry_refuses_bad_samples);
    tcase_add_test(tc, registry_histogram_buckets);
    tcase_add_test(tc, registry_finds_series_after_growth);
    tcase_add_test(tc, registry_prunes);
    suite_add_tcase(s, tc);

    tc = tcase_create("agent");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, labels_are_bounded);
    tcase_add_test(tc, request_errors_are_classified);
    tcase_add_test(tc, request_line_is_recorded);
    tcase_add_test(tc, queue_waits_are_recorded);
    tcase_add_test(tc, rate_limited_requests_are_counted);
    tcase_add_test(tc, paths_are_capped_per_forward);
    tcase_add_test(tc, paths_no_upstream_served_take_no_slot);
    tcase_add_test(tc, memory_is_bounded_under_a_path_flood);
    tcase_add_test(tc, unknown_names_are_not_labels);
    tcase_add_test(tc, attempt_line_is_recorded);
    tcase_add_test(tc, decision_latency_histogram);
    tcase_add_test(tc, render_has_every_family);
    tcase_add_test(tc, render_exports_lost_backoffs_and_mirror_failures);
    tcase_add_test(tc, render_reads_breakers_and_gauges_live);
    tcase_add_test(tc, render_reports_overflow);
    tcase_add_test(tc, reload_keeps_unchanged_names);
    tcase_add_test(tc, no_client_families_without_clients);
    suite_add_tcase(s, tc);

    tc = tcase_create("clients");
    tcase_add_checked_fixture(tc, setup_clients, teardown);
    tcase_add_test(tc, requests_are_counted_by_client);
    tcase_add_test(tc, reload_drops_the_series_of_removed_clients);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
