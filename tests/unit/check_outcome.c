/*
 * outcome: ATTEMPT lines into breaker outcomes and EMA samples, on an injected clock:
 * the classification table, EMA, unknown names, a breaker tripped and recovered through
 * judge_line and outcome_apply alone, and a pinned request's line standing for its attempt.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_memo.h"
#include "breaker.h"
#include "config.h"
#include "judge.h"
#include "logline.h"
#include "outcome.h"
#include "state.h"
#include "throttle.h"

static const char yaml[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3001, upstream_group: g}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1', breaker: {threshold: 0.5, cooldown: 2}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2'}\n"
    "  - {name: lone, url: 'http://127.0.0.1:3'}\n"
    "upstream_groups:\n"
    "  - name: g\n"
    "    upstreams: [{name: a}, {name: b}]\n"
    "  - name: h\n"
    "    upstreams: [{name: lone}]\n";

static struct agent_state *st;

static struct agent_state *new_state(void)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load_buf("t.yaml", yaml, strlen(yaml), NULL, NULL, &diags);
    struct agent_state *s;

    if (!cfg)
        conf_diags_print(&diags, stderr);
    conf_diags_free(&diags);
    ck_assert_ptr_nonnull(cfg);
    s = state_create(cfg, NULL, 1);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void setup(void)
{
    st = new_state();
}

static void teardown(void)
{
    state_free(st);
    st = NULL;
}

/*
 * What the agent does with a line: judged against `s`, and its attempt, if it has one,
 * applied at `now_ms`. `cls` (may be NULL) receives the attempt's class. A request
 * without an attempt changes nothing.
 */
static enum outcome_result apply(struct agent_state *s, const struct logline *l, uint64_t now_ms,
                                 enum outcome_class *cls)
{
    struct judged_line j;

    judge_line(s, l, &j);
    if (!j.has_attempt)
        return OUTCOME_IGNORED;
    if (cls)
        *cls = j.attempt.outcome.cls;
    return outcome_apply(&j.attempt, now_ms);
}

/* An ATTEMPT line of `up` in group `g` with the given status, Tr and termination state. */
static void attempt(struct logline *l, char *buf, size_t size, const char *g, const char *up,
                    int status, int tr, const char *tsc)
{
    int n = snprintf(buf, size, "LLMA1 id %s %s %d 0 %d %d 500 100 %s", g, up, status,
                     tr < 0 ? -1 : 0, tr, tsc);

    ck_assert_int_gt(n, 0);
    ck_assert_msg(logline_parse(buf, (size_t)n, l) == 0, "bad fixture %s", buf);
}

struct class_case {
    int status;
    int tr;
    const char *tsc;
    enum outcome_class want;
};

static const struct class_case class_cases[] = {
    {200, 12, "----", OUTCOME_SUCCESS},
    {404, 3, "----", OUTCOME_SUCCESS},           /* 4xx is the client's problem */
    {429, 3, "----", OUTCOME_THROTTLED},         /* the upstream's own 429 */
    {200, 12, "CD--", OUTCOME_CLIENT},           /* client left mid-stream */
    {200, 12, "cD--", OUTCOME_CLIENT},           /* client stopped reading a stream */
    {503, -1, "SC--", OUTCOME_CONNECT},          /* refused (captured) */
    {503, -1, "sC--", OUTCOME_CONNECT},          /* connect timeout */
    {504, -1, "sH--", OUTCOME_TIMEOUT},          /* timeout server before headers (captured) */
    {200, 40, "sD--", OUTCOME_TIMEOUT},          /* silence in a stream */
    {502, -1, "SH--", OUTCOME_EMPTY_RESPONSE},   /* closed before headers (captured) */
    {502, -1, "PH--", OUTCOME_INVALID_RESPONSE}, /* invalid response (captured) */
    {200, 40, "SD--", OUTCOME_INVALID_RESPONSE}, /* upstream cut the stream */
    {200, 40, "PD--", OUTCOME_INVALID_RESPONSE}, /* bad chunk in a stream (listener only) */
    {404, 3, "PL--", OUTCOME_INVALID_RESPONSE},  /* ... or in its last block */
    {500, 5, "----", OUTCOME_STATUS_5XX},
    {503, 0, "----", OUTCOME_STATUS_5XX}, /* the upstream's own 503 (captured) */
    {599, 5, "----", OUTCOME_STATUS_5XX},
    {600, 5, "----", OUTCOME_SUCCESS},
    {-1, -1, "CH--", OUTCOME_CLIENT}, /* the client (or the group layer) gave up first */
    {-1, -1, "CC--", OUTCOME_CLIENT},
    {-1, -1, "CR--", OUTCOME_CLIENT},   /* body shorter than its Content-Length (captured) */
    {-1, -1, "CD--", OUTCOME_CLIENT},   /* client closed mid-body, pinned (captured) */
    {400, -1, "PH--", OUTCOME_CLIENT},  /* broken chunking after connect, pinned (captured) */
    {408, -1, "cR--", OUTCOME_CLIENT},  /* body too slow (captured) */
    {400, -1, "PR--", OUTCOME_CLIENT},  /* bad syntax, head too large (captured) */
    {405, -1, "LR--", OUTCOME_CLIENT},  /* method refused by a rule */
    {502, -1, "LH--", OUTCOME_CONNECT}, /* the proxy tunnel reached no http upstream (2.6) */
    {502, 1, "LH--", OUTCOME_CONNECT},  /* ... (3.2 logs the tunnel's head as a response) */
    {503, -1, "LH--", OUTCOME_NEUTRAL}, /* no rule of ours answers so */
    {413, -1, "PR--", OUTCOME_CLIENT},  /* body too large */
    {431, -1, "PR--", OUTCOME_CLIENT},
    {429, -1, "PR--", OUTCOME_NEUTRAL},       /* the agent's rate limit: never sent */
    {503, -1, "PR--", OUTCOME_NEUTRAL},       /* the agent's fast-fail: never sent */
    {500, -1, "PH--", OUTCOME_NEUTRAL},       /* an http-response rule failed: ours */
    {503, -1, "sQ--", OUTCOME_QUEUE_TIMEOUT}, /* queue timeout: busy, not failing */
    {503, -1, "SQ--", OUTCOME_NEUTRAL},       /* the server went away while queued */
    {500, -1, "IR--", OUTCOME_NEUTRAL},
    {503, -1, "----", OUTCOME_NEUTRAL}, /* HAProxy's own reply, no upstream answer */
};

START_TEST(test_classify)
{
    const struct class_case *cc = &class_cases[_i];
    struct logline l;
    char buf[128];

    attempt(&l, buf, sizeof(buf), "g", "a", cc->status, cc->tr, cc->tsc);
    ck_assert_msg(outcome_classify(&l).cls == cc->want, "case %d (%d %d %s): got %s, want %s", _i,
                  cc->status, cc->tr, cc->tsc, outcome_class_name(outcome_classify(&l).cls),
                  outcome_class_name(cc->want));
}
END_TEST

START_TEST(test_class_names)
{
    ck_assert_str_eq(outcome_class_name(OUTCOME_CONNECT), "connect");
    ck_assert_str_eq(outcome_class_name(OUTCOME_STATUS_5XX), "status_5xx");
    ck_assert_str_eq(outcome_class_name(OUTCOME_N_CLASSES), "unknown");
    ck_assert(!outcome_is_failure(OUTCOME_SUCCESS));
    ck_assert(!outcome_is_failure(OUTCOME_NEUTRAL));
    ck_assert(!outcome_is_failure(OUTCOME_QUEUE_TIMEOUT));
    ck_assert_str_eq(outcome_class_name(OUTCOME_QUEUE_TIMEOUT), "queue_timeout");
    for (int c = OUTCOME_CONNECT; c <= OUTCOME_STATUS_5XX; c++)
        ck_assert(outcome_is_failure((enum outcome_class)c));
    ck_assert(!outcome_is_failure(OUTCOME_THROTTLED));
    ck_assert_str_eq(outcome_class_name(OUTCOME_THROTTLED), "throttled");
}
END_TEST

START_TEST(test_ema_from_tr)
{
    struct upstream_rt *a = state_upstream(st, "a", 1);
    enum outcome_class cls;
    struct logline l;
    char buf[128];

    ck_assert(!a->measured);
    attempt(&l, buf, sizeof(buf), "g", "a", 200, 100, "----");
    ck_assert_int_eq(apply(st, &l, 1000, &cls), OUTCOME_APPLIED);
    ck_assert_int_eq(cls, OUTCOME_SUCCESS);
    ck_assert(a->measured);
    ck_assert(fabs(a->ema_ms - 100.0) < 1e-9);
    attempt(&l, buf, sizeof(buf), "g", "a", 200, 200, "----");
    apply(st, &l, 1000, NULL);
    ck_assert(fabs(a->ema_ms - (100.0 + 0.15 * 100.0)) < 1e-9);
    /* No headers, no sample. */
    attempt(&l, buf, sizeof(buf), "g", "a", 504, -1, "sH--");
    ck_assert_int_eq(apply(st, &l, 1000, &cls), OUTCOME_APPLIED);
    ck_assert_int_eq(cls, OUTCOME_TIMEOUT);
    ck_assert(fabs(a->ema_ms - 115.0) < 1e-9);
    /* The upstream's own 5xx still measured how fast it answered. */
    attempt(&l, buf, sizeof(buf), "g", "a", 503, 15, "----");
    apply(st, &l, 1000, NULL);
    ck_assert(fabs(a->ema_ms - (115.0 + 0.15 * (15.0 - 115.0))) < 1e-9);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->success, 2);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->failure, 2);
}
END_TEST

/* A probe's answer replaces the stale average; the answers after it move it as usual. */
START_TEST(test_probe_restarts_ema)
{
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct logline l;
    char buf[128];

    attempt(&l, buf, sizeof(buf), "g", "a", 200, 300, "----");
    apply(st, &l, 1000, NULL);
    a->ema_stale = true;
    /* A client's fault measures nothing, so the next real answer still restarts it. */
    attempt(&l, buf, sizeof(buf), "g", "a", -1, -1, "CH--");
    apply(st, &l, 1000, NULL);
    ck_assert(a->ema_stale);
    attempt(&l, buf, sizeof(buf), "g", "a", 200, 1, "----");
    apply(st, &l, 1000, NULL);
    ck_assert(a->measured && !a->ema_stale);
    ck_assert(fabs(a->ema_ms - 1.0) < 1e-9);
    attempt(&l, buf, sizeof(buf), "g", "a", 200, 101, "----");
    apply(st, &l, 1000, NULL);
    ck_assert(fabs(a->ema_ms - 16.0) < 1e-9);
}
END_TEST

START_TEST(test_unknown_names_dropped)
{
    struct logline l;
    char buf[128];

    attempt(&l, buf, sizeof(buf), "nogroup", "a", 503, 1, "----");
    ck_assert_int_eq(apply(st, &l, 0, NULL), OUTCOME_UNKNOWN_GROUP);
    attempt(&l, buf, sizeof(buf), "g", "nobody", 503, 1, "----");
    ck_assert_int_eq(apply(st, &l, 0, NULL), OUTCOME_UNKNOWN_UPSTREAM);
    /* An upstream that exists, but not in that group. */
    attempt(&l, buf, sizeof(buf), "g", "lone", 503, 1, "----");
    ck_assert_int_eq(apply(st, &l, 0, NULL), OUTCOME_UNKNOWN_UPSTREAM);
    ck_assert_uint_eq(breaker_counters(&state_upstream(st, "lone", 4)->breaker)->failure, 0);
    attempt(&l, buf, sizeof(buf), "h", "lone", 503, 1, "----");
    ck_assert_int_eq(apply(st, &l, 0, NULL), OUTCOME_APPLIED);
    ck_assert_uint_eq(breaker_counters(&state_upstream(st, "lone", 4)->breaker)->failure, 1);
}
END_TEST

START_TEST(test_request_and_neutral_change_nothing)
{
    static const char req[] =
        "LLMR4 id main g - - POST 503 0 0 -1 -1 3004 217 SC-- 0 a grp_g pass - "
        "\"/v1/chat/completions\"";
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct logline l;
    char buf[128];

    ck_assert_int_eq(logline_parse(req, strlen(req), &l), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(apply(st, &l, 0, NULL), OUTCOME_IGNORED);
    attempt(&l, buf, sizeof(buf), "g", "a", 503, -1, "sQ--");
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(apply(st, &l, 0, NULL), OUTCOME_IGNORED);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->success, 0);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->failure, 0);
    ck_assert_int_eq(breaker_state(&a->breaker, 0), BREAKER_CLOSED);
    ck_assert(!a->measured);
}
END_TEST

/*
 * Every termination state HAProxy 2.6 and 3.x can log (first letter: who ended the stream;
 * second: the phase), with every kind of status, with and without response headers, seen
 * from a listener and from the frontend (pinned). The rules that keep a client from
 * tripping a breaker hold on each combination.
 */
START_TEST(test_every_termination_state)
{
    static const char who[] = "-CcSsPLRIDKU";
    static const char phase[] = "-RQCHDLT";
    static const int statuses[] = {-1,  200, 204, 301, 400, 401, 403, 404, 405, 408, 413,
                                   414, 429, 431, 499, 500, 501, 502, 503, 504, 599};
    static const int trs[] = {-1, 0, 7};
    unsigned combos = 0;

    for (const char *w = who; *w; w++)
        for (const char *p = phase; *p; p++)
            for (size_t si = 0; si < sizeof(statuses) / sizeof(statuses[0]); si++)
                for (size_t ti = 0; ti < sizeof(trs) / sizeof(trs[0]); ti++)
                    for (int pinned = 0; pinned <= 1; pinned++) {
                        struct logline l = {.kind = LOGLINE_ATTEMPT,
                                            .status = statuses[si],
                                            .t_response = trs[ti],
                                            .pinned = pinned,
                                            .termination = {*w, *p, '-', '-', '\0'}};
                        enum outcome_class cls = outcome_classify(&l).cls;
                        bool client_refused = (*w == 'P' || *w == 'L') && l.status >= 400 &&
                                              l.status <= 499 && l.status != 429 &&
                                              l.t_response < 0;
                        bool by_client = *w == 'C' || *w == 'c' || client_refused;

                        combos++;
                        ck_assert_msg((cls == OUTCOME_CLIENT) == by_client, "%s %d Tr %d: %s",
                                      l.termination, l.status, l.t_response,
                                      outcome_class_name(cls));
                        if (!outcome_is_failure(cls))
                            continue;
                        /* A failure is only ever the upstream's doing: its own, or
                         * the proxy tunnel's answer that it could not be reached (LH 502,
                         * the one rule that answers a response). */
                        ck_assert_msg(strchr("SsP-", *w) ||
                                          (*w == 'L' && *p == 'H' && l.status == 502),
                                      "%s: %s", l.termination, outcome_class_name(cls));
                        if (*w == '-')
                            ck_assert(l.t_response >= 0 && l.status >= 500 && l.status <= 599);
                        if (*w == 'P')
                            ck_assert_msg((*p == 'H' && l.status == 502) ||
                                              ((*p == 'D' || *p == 'L') && !pinned),
                                          "%s %d pinned %d", l.termination, l.status, pinned);
                    }
    ck_assert_uint_eq(combos, 12 * 8 * 21 * 3 * 2);
}
END_TEST

/* Five 503s open a's breaker; after the 2 s cooldown one good probe closes it. */
START_TEST(test_breaker_trips_and_recovers)
{
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct upstream_rt *b = state_upstream(st, "b", 1);
    struct logline l;
    char buf[128];
    uint64_t t = 10000;

    attempt(&l, buf, sizeof(buf), "g", "a", 503, 2, "----");
    for (int i = 0; i < BREAKER_MIN_ATTEMPTS - 1; i++) {
        apply(st, &l, t, NULL);
        ck_assert_int_eq(breaker_state(&a->breaker, t), BREAKER_CLOSED);
    }
    apply(st, &l, t, NULL);
    ck_assert_int_eq(breaker_state(&a->breaker, t), BREAKER_OPEN);
    ck_assert(!breaker_available(&a->breaker, t + 1999));
    /* b had no breaker block: it never opens. */
    attempt(&l, buf, sizeof(buf), "g", "b", -1, -1, "SC--");
    for (int i = 0; i < 10; i++)
        apply(st, &l, t, NULL);
    ck_assert_int_eq(breaker_state(&b->breaker, t), BREAKER_CLOSED);

    t += 2000;
    ck_assert_int_eq(breaker_state(&a->breaker, t), BREAKER_HALF_OPEN);
    ck_assert(breaker_available(&a->breaker, t));
    breaker_on_pick(&a->breaker, t);
    attempt(&l, buf, sizeof(buf), "g", "a", 200, 30, "----");
    ck_assert_int_eq(apply(st, &l, t + 30, NULL), OUTCOME_APPLIED);
    ck_assert_int_eq(breaker_state(&a->breaker, t + 30), BREAKER_CLOSED);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->opened, 1);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->closed, 1);
}
END_TEST

/* A failed probe (a connect error) opens it again for a fresh cooldown. */
START_TEST(test_failed_probe_reopens)
{
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct logline l;
    char buf[128];

    attempt(&l, buf, sizeof(buf), "g", "a", 502, -1, "SH--");
    for (int i = 0; i < BREAKER_MIN_ATTEMPTS; i++)
        apply(st, &l, 0, NULL);
    ck_assert_int_eq(breaker_state(&a->breaker, 0), BREAKER_OPEN);
    ck_assert_int_eq(breaker_state(&a->breaker, 2000), BREAKER_HALF_OPEN);
    breaker_on_pick(&a->breaker, 2000);
    attempt(&l, buf, sizeof(buf), "g", "a", 503, -1, "SC--");
    apply(st, &l, 2001, NULL);
    ck_assert_int_eq(breaker_state(&a->breaker, 2001), BREAKER_OPEN);
    ck_assert_int_eq(breaker_state(&a->breaker, 4000), BREAKER_OPEN);
    ck_assert_int_eq(breaker_state(&a->breaker, 4001), BREAKER_HALF_OPEN);
}
END_TEST

/* ---- pinned requests: the request line is the attempt (logline_pinned_attempt) ---- */

/* A REQUEST line of forward main (group g) served by `backend`, with the attempt's values. */
static void request(struct logline *l, char *buf, size_t size, const char *up, const char *backend,
                    int status, int tr, const char *tsc)
{
    int n =
        snprintf(buf, size, "LLMR4 id main g - - POST %d 0 0 %d %d 500 100 %s 0 %s %s pass - \"/\"",
                 status, tr < 0 ? -1 : 0, tr, tsc, up, backend);

    ck_assert_int_gt(n, 0);
    ck_assert_msg(logline_parse(buf, (size_t)n, l) == 0, "bad fixture %s", buf);
}

/* What a row means seen from the frontend: a pinned request's PD/PL may be the client's
 * broken chunk as well as the upstream's, so it proves nothing. */
static enum outcome_class pinned_want(const struct class_case *cc)
{
    bool mid_body = cc->tsc[0] == 'P' && (cc->tsc[1] == 'D' || cc->tsc[1] == 'L');

    return mid_body ? OUTCOME_NEUTRAL : cc->want;
}

/* Every row of the table classifies the same from a pinned request line as from an LLMA1,
 * but for a broken body mid-stream (pinned_want()). */
START_TEST(test_pinned_classify_like_attempt)
{
    const struct class_case *cc = &class_cases[_i];
    struct logline req, att;
    char buf[160];

    request(&req, buf, sizeof(buf), "a", "pin_g__a", cc->status, cc->tr, cc->tsc);
    ck_assert(req.pinned);
    logline_pinned_attempt(&req, &att);
    ck_assert_msg(outcome_classify(&att).cls == pinned_want(cc),
                  "case %d (%d %d %s): got %s, want %s", _i, cc->status, cc->tr, cc->tsc,
                  outcome_class_name(outcome_classify(&att).cls),
                  outcome_class_name(pinned_want(cc)));
}
END_TEST

/*
 * Refused connections on a pinned backend trip a's breaker exactly as the listener's
 * LLMA1 lines do (test_breaker_trips_and_recovers), and a good pinned probe closes it.
 * The request line, judged once, is both the forward's request and a's attempt.
 */
START_TEST(test_pinned_request_trips_and_recovers)
{
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct judged_line j;
    struct logline req, att;
    enum outcome_class cls;
    char buf[160];
    uint64_t t = 10000;

    request(&req, buf, sizeof(buf), "a", "pin_g__a", 503, -1, "SC--");
    judge_line(st, &req, &j);
    ck_assert(j.is_request && j.has_attempt);
    ck_assert_ptr_eq(j.request.forward, state_forward(st, "main", 4));
    ck_assert_ptr_eq(j.attempt.upstream, a);
    ck_assert_int_eq(j.request.outcome.cls, OUTCOME_CONNECT);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->failure, 0); /* judging changes nothing */
    for (int i = 0; i < BREAKER_MIN_ATTEMPTS - 1; i++) {
        ck_assert_int_eq(apply(st, &req, t, &cls), OUTCOME_APPLIED);
        ck_assert_int_eq(cls, OUTCOME_CONNECT);
        ck_assert_int_eq(breaker_state(&a->breaker, t), BREAKER_CLOSED);
    }
    apply(st, &req, t, NULL);
    ck_assert_int_eq(breaker_state(&a->breaker, t), BREAKER_OPEN);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->failure, BREAKER_MIN_ATTEMPTS);
    ck_assert(!a->measured); /* no response headers, no time sample */

    t += 2000;
    ck_assert_int_eq(breaker_state(&a->breaker, t), BREAKER_HALF_OPEN);
    breaker_on_pick(&a->breaker, t);
    request(&req, buf, sizeof(buf), "a", "pin_g__a", 200, 30, "----");
    logline_pinned_attempt(&req, &att);
    ck_assert_int_eq(apply(st, &att, t + 30, &cls), OUTCOME_APPLIED);
    ck_assert_int_eq(cls, OUTCOME_SUCCESS);
    ck_assert_int_eq(breaker_state(&a->breaker, t + 30), BREAKER_CLOSED);
    ck_assert(a->measured);
    ck_assert(fabs(a->ema_ms - 30.0) < 1e-9);
}
END_TEST

/*
 * The same outcomes, once as pinned request lines and once as the listener's LLMA1 lines,
 * each into its own state: a ends up the same in both.
 */
START_TEST(test_pinned_same_state_as_attempt)
{
    static const struct class_case seq[] = {
        {200, 40, "----", OUTCOME_SUCCESS},      {503, 7, "----", OUTCOME_STATUS_5XX},
        {504, -1, "sH--", OUTCOME_TIMEOUT},      {502, -1, "SH--", OUTCOME_EMPTY_RESPONSE},
        {-1, -1, "sQ--", OUTCOME_QUEUE_TIMEOUT}, {200, 90, "CD--", OUTCOME_CLIENT},
        {503, -1, "SC--", OUTCOME_CONNECT},
    };
    struct agent_state *st2 = new_state();
    struct upstream_rt *pin = state_upstream(st, "a", 1);
    struct upstream_rt *lis = state_upstream(st2, "a", 1);
    struct logline req, att;
    char buf[160];

    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        uint64_t t = 1000 + 10 * i;
        enum outcome_class via_pin, via_listener;

        request(&req, buf, sizeof(buf), "a", "pin_g__a", seq[i].status, seq[i].tr, seq[i].tsc);
        apply(st, &req, t, &via_pin);
        attempt(&att, buf, sizeof(buf), "g", "a", seq[i].status, seq[i].tr, seq[i].tsc);
        apply(st2, &att, t, &via_listener);
        ck_assert_int_eq(via_pin, seq[i].want);
        ck_assert_int_eq(via_listener, seq[i].want);
    }
    ck_assert_uint_eq(breaker_counters(&pin->breaker)->success,
                      breaker_counters(&lis->breaker)->success);
    ck_assert_uint_eq(breaker_counters(&pin->breaker)->failure,
                      breaker_counters(&lis->breaker)->failure);
    ck_assert_uint_eq(breaker_counters(&pin->breaker)->failure, 4);
    /* Over a's threshold of 0.5 by the fifth counted attempt: open in both. */
    ck_assert_int_eq(breaker_state(&pin->breaker, 2000), BREAKER_OPEN);
    ck_assert_int_eq(breaker_state(&lis->breaker, 2000), BREAKER_OPEN);
    ck_assert(pin->measured && lis->measured);
    ck_assert(fabs(pin->ema_ms - lis->ema_ms) < 1e-9);
    state_free(st2);
}
END_TEST

/*
 * Ten of each client fault, as HAProxy 2.6.12 logged them on a pinned backend, against an
 * upstream whose breaker opens at a 0.5 failure rate: no breaker outcome, no response-time
 * sample, whatever the count.
 */
START_TEST(test_client_faults_change_nothing)
{
    static const struct class_case faults[] = {
        {400, -1, "PH--", OUTCOME_CLIENT}, /* broken chunk after the connection was made */
        {-1, -1, "CD--", OUTCOME_CLIENT},  /* client closed mid-body */
        {200, 25, "CD--", OUTCOME_CLIENT}, /* ... or mid-stream */
        {408, -1, "cR--", OUTCOME_CLIENT}, /* body too slow */
        {-1, -1, "CR--", OUTCOME_CLIENT},  /* body shorter than announced */
        {413, -1, "PR--", OUTCOME_CLIENT}, /* too large */
    };
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct logline req;
    enum outcome_class cls;
    char buf[160];

    for (size_t f = 0; f < sizeof(faults) / sizeof(faults[0]); f++)
        for (int i = 0; i < 10; i++) {
            request(&req, buf, sizeof(buf), "a", "pin_g__a", faults[f].status, faults[f].tr,
                    faults[f].tsc);
            ck_assert_int_eq(apply(st, &req, 1000 + (uint64_t)i, &cls), OUTCOME_IGNORED);
            ck_assert_int_eq(cls, OUTCOME_CLIENT);
        }
    ck_assert_uint_eq(breaker_counters(&a->breaker)->failure, 0);
    ck_assert_uint_eq(breaker_counters(&a->breaker)->success, 0);
    ck_assert_int_eq(breaker_state(&a->breaker, 2000), BREAKER_CLOSED);
    ck_assert(!a->measured);
}
END_TEST

/* The attempt's group is the forward's: a server outside it is dropped, not misfiled. */
START_TEST(test_pinned_unknown_upstream_dropped)
{
    struct logline req, att;
    char buf[160];

    request(&req, buf, sizeof(buf), "lone", "pin_g__lone", 503, -1, "SC--");
    logline_pinned_attempt(&req, &att);
    ck_assert_int_eq(apply(st, &att, 0, NULL), OUTCOME_UNKNOWN_UPSTREAM);
    ck_assert_uint_eq(breaker_counters(&state_upstream(st, "lone", 4)->breaker)->failure, 0);
}
END_TEST

/* ---- a group layer's request, judged by the last attempt it relayed (attempt_memo.h) ---- */

/* A line of request `rid`: through group g's layer (not pinned) with `status` and `tsc`
 * when `request`, else an ATTEMPT line of it on g/a. */
static void rid_line(struct logline *l, char *buf, size_t size, bool request, const char *rid,
                     int status, const char *tsc)
{
    int n = request ? snprintf(buf, size,
                               "LLMR4 %s main g - - POST %d 0 0 0 5 9 100 %s 1 a grp_g "
                               "pass - \"/\"",
                               rid, status, tsc)
                    : snprintf(buf, size, "LLMA1 %s g a %d 0 -1 -1 1000 100 %s", rid, status, tsc);

    ck_assert_int_gt(n, 0);
    ck_assert_msg(logline_parse(buf, (size_t)n, l) == 0, "bad fixture %s", buf);
}

/* judge `line`; the request's outcome. */
static struct outcome request_outcome(const struct logline *l)
{
    struct judged_line j;

    judge_line(st, l, &j);
    ck_assert(j.is_request);
    return j.request.outcome;
}

/* An attempt, then the group layer's line of the same request, and how that is judged. */
struct relay_case {
    int attempt_status;
    const char *attempt_tsc;
    int request_status;
    const char *request_tsc;
    enum outcome_class want;
};

static const struct relay_case relay_cases[] = {
    /* Unreachable: HAProxy's 503 on the listener, sent as the 502 of its errorfile. */
    {503, "SC--", 502, "----", OUTCOME_CONNECT},
    {503, "sC--", 502, "----", OUTCOME_CONNECT}, /* connect timeout */
    {504, "sH--", 504, "----", OUTCOME_TIMEOUT},
    {502, "SH--", 502, "----", OUTCOME_EMPTY_RESPONSE},
    /* The client left: its fault, whatever the attempt. */
    {503, "SC--", 502, "CD--", OUTCOME_CLIENT},
    /* Another status than the attempt's answer was not relayed from it. */
    {504, "sH--", 503, "----", OUTCOME_STATUS_5XX},
    /* A 5xx or successful attempt changes nothing: the request says as much. */
    {500, "----", 500, "----", OUTCOME_STATUS_5XX},
    {200, "----", 200, "----", OUTCOME_SUCCESS},
};

START_TEST(test_group_request_relays_attempt)
{
    const struct relay_case *rc = &relay_cases[_i];
    static struct attempt_memo memo;
    char abuf[160], rbuf[160];
    struct logline att, req;
    struct judged_line j;

    attempt_memo_init(&memo, &(struct siphash_key){3, 4});
    st->attempts = &memo;
    rid_line(&att, abuf, sizeof(abuf), false, "r1", rc->attempt_status, rc->attempt_tsc);
    judge_line(st, &att, &j);
    rid_line(&req, rbuf, sizeof(rbuf), true, "r1", rc->request_status, rc->request_tsc);
    ck_assert_int_eq(request_outcome(&req).cls, rc->want);
    /* Taken once: the same line again is judged on its own. */
    ck_assert_int_eq(request_outcome(&req).cls, outcome_classify(&req).cls);

    /* Without a memo (tests, or out of memory at start) the line is judged alone. */
    st->attempts = NULL;
    judge_line(st, &att, &j);
    ck_assert_int_eq(request_outcome(&req).cls, outcome_classify(&req).cls);
}
END_TEST

/*
 * A request line whose pinned first attempt on a was retried on b: a is booked a
 * first_attempt_retried, no breaker outcome however many come, and takes the group layer
 * until an attempt there succeeds; the request itself is judged by b's attempt.
 */
START_TEST(test_retried_first_attempt)
{
    const char *line = "LLMR4 r1 main g - - POST 200 0 0 0 5 9 100 ---- +1 retry:b pin_g__a pass - "
                       "\"/\" 3130 - - - - -";
    const char *ok = "LLMA1 r2 g a 200 0 0 3 10 90 ----";
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct judged_line j;
    struct logline l;

    ck_assert_int_eq(logline_parse(line, strlen(line), &l), 0);
    for (int i = 0; i < 8; i++) {
        judge_line(st, &l, &j);
        ck_assert(j.is_request && j.has_attempt);
        ck_assert_int_eq(j.request.outcome.cls, OUTCOME_SUCCESS);
        ck_assert_ptr_eq(j.attempt.upstream, a);
        ck_assert_int_eq(j.attempt.outcome.cls, OUTCOME_FIRST_RETRIED);
        ck_assert_int_eq(outcome_apply(&j.attempt, 1000), OUTCOME_IGNORED);
        outcome_note_throttle(&j.attempt, 1000, 0);
    }
    ck_assert_str_eq(outcome_class_name(OUTCOME_FIRST_RETRIED), "first_attempt_retried");
    ck_assert(outcome_is_failure(OUTCOME_FIRST_RETRIED));
    ck_assert_int_eq(breaker_state(&a->breaker, 1000), BREAKER_CLOSED);
    ck_assert(!a->measured);
    ck_assert_uint_eq(a->throttle.throttled, 0); /* b's response headers are not a's */
    ck_assert(a->retried_first);
    ck_assert_uint_eq(state_upstream(st, "b", 1)->throttle.throttled, 0);

    ck_assert_int_eq(logline_parse(ok, strlen(ok), &l), 0);
    judge_line(st, &l, &j);
    ck_assert_int_eq(outcome_apply(&j.attempt, 1000), OUTCOME_APPLIED);
    ck_assert(!a->retried_first);
}
END_TEST

/*
 * An upstream's 429 is no breaker outcome however many come (a's breaker would open at 5
 * failures of 5), cools the member down for its Retry-After ("32" is "2" in hex), and only
 * a response the upstream itself sent counts: not one HAProxy or a rule made (an L, no
 * headers), nor one of a group that does not have the member.
 */
START_TEST(test_throttled_cools_without_failing)
{
    const char *line = "LLMA1 id g a 429 0 0 3 10 90 ---- 32 - 30 - - -";
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct judged_line j;
    struct logline l;

    ck_assert_int_eq(logline_parse(line, strlen(line), &l), 0);
    for (int i = 0; i < 8; i++) {
        judge_line(st, &l, &j);
        ck_assert_int_eq(j.attempt.outcome.cls, OUTCOME_THROTTLED);
        ck_assert_int_eq(outcome_apply(&j.attempt, 1000), OUTCOME_IGNORED);
        outcome_note_throttle(&j.attempt, 1000, 0);
    }
    ck_assert_int_eq(breaker_state(&a->breaker, 1000), BREAKER_CLOSED);
    ck_assert(!a->measured); /* no response-time sample either */
    ck_assert_uint_eq(a->throttle.throttled, 8);
    ck_assert(throttle_cooling(&a->throttle, 2999) && !throttle_cooling(&a->throttle, 3000));
    ck_assert(a->throttle.has_remaining_requests && a->throttle.remaining_requests == 0);

    /* Our own answer with those headers would be an L without response headers. */
    line = "LLMA1 id g b 429 0 -1 -1 10 90 LR-- 32 - - - - -";
    ck_assert_int_eq(logline_parse(line, strlen(line), &l), 0);
    judge_line(st, &l, &j);
    outcome_note_throttle(&j.attempt, 1000, 0);
    ck_assert_uint_eq(state_upstream(st, "b", 1)->throttle.throttled, 0);
    /* A member named under a group it is not in. */
    line = "LLMA1 id h b 429 0 0 3 10 90 ---- 32 - - - - -";
    ck_assert_int_eq(logline_parse(line, strlen(line), &l), 0);
    judge_line(st, &l, &j);
    outcome_note_throttle(&j.attempt, 1000, 0);
    ck_assert_uint_eq(state_upstream(st, "b", 1)->throttle.throttled, 0);
}
END_TEST

static Suite *outcome_suite(void)
{
    Suite *s = suite_create("outcome");
    TCase *cls = tcase_create("classify");
    TCase *apply = tcase_create("apply");

    tcase_add_loop_test(cls, test_classify, 0, (int)(sizeof(class_cases) / sizeof(class_cases[0])));
    tcase_add_test(cls, test_class_names);
    tcase_add_test(cls, test_every_termination_state);
    tcase_add_checked_fixture(cls, setup, teardown);
    tcase_add_checked_fixture(apply, setup, teardown);
    tcase_add_test(apply, test_ema_from_tr);
    tcase_add_test(apply, test_probe_restarts_ema);
    tcase_add_test(apply, test_unknown_names_dropped);
    tcase_add_test(apply, test_request_and_neutral_change_nothing);
    tcase_add_test(apply, test_breaker_trips_and_recovers);
    tcase_add_test(apply, test_failed_probe_reopens);
    tcase_add_loop_test(cls, test_pinned_classify_like_attempt, 0,
                        (int)(sizeof(class_cases) / sizeof(class_cases[0])));
    tcase_add_test(apply, test_pinned_request_trips_and_recovers);
    tcase_add_test(apply, test_pinned_same_state_as_attempt);
    tcase_add_test(apply, test_pinned_unknown_upstream_dropped);
    tcase_add_test(apply, test_client_faults_change_nothing);
    tcase_add_test(apply, test_throttled_cools_without_failing);
    tcase_add_test(apply, test_retried_first_attempt);
    tcase_add_loop_test(apply, test_group_request_relays_attempt, 0,
                        (int)(sizeof(relay_cases) / sizeof(relay_cases[0])));
    suite_add_tcase(s, cls);
    suite_add_tcase(s, apply);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(outcome_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
