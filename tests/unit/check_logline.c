/*
 * logline_parse: lines captured from HAProxy 2.6.12 with the rendered formats, every
 * field, pinned request lines and the attempt they stand for, and malformed or truncated
 * lines refused with the right reason.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_walk.h"
#include "contract/internal_names.h"
#include "logline.h"

/*
 * Captured live (ring -> octet-count TCP), one per situation. %b is what HAProxy 2.6.12
 * logs for each: grp_<group> when the group layer served the request, pin_<g>__<u> when a
 * pinned backend did, the frontend's own name when it answered by itself (<NOSRV>).
 */
static const char REQ_OK[] =
    "LLMR4 7F000001:E810_7F000001:7C9C_6B0B3CD0_0001:058E main g - - GET 200 "
    "0 0 0 0 0 200 ---- 0 a grp_g - - \"/v1/models\"";
static const char REQ_SSE[] =
    "LLMR4 7F000001:B2EA_7F000001:7C9C_6B0B3CF0_001A:058E main g - team-a.1 POST 200 0 0 0 0 1503 "
    "1049 ---- 0 a grp_g pass 3 \"/v1/chat/completions\"";
static const char REQ_BADREQ[] =
    "LLMR4 - main g - - <BADREQ> 400 -1 -1 -1 -1 0 0 PR-- 0 <NOSRV> fwd_main - - \"<BADREQ>\"";
static const char REQ_ABORT[] =
    "LLMR4 7F000001:B2F2_7F000001:7C9C_6B0B3CF2_001C:058E main g - - POST 200 0 0 0 0 601 682 CD-- "
    "0 a grp_g - - \"/v1/chat/completions\"";
/* HAProxy drops a field that does not fit `len` and ends the line there. */
static const char REQ_CUT_BY_HAPROXY[] =
    "LLMR4 7F000001:B98A_7F000001:7C9C_6B0B3CDA_0014:058E main g - - GET 404 0 0 0 0 0 389 ---- 0 "
    "a grp_g - - ";
/* Pinned: the agent chose a, the frontend sent the request straight to a's backend. */
static const char REQ_PINNED_OK[] =
    "LLMR4 7F000001:ECE4_7F000001:99F3_6B0B5635_0002:7C7B main g - - POST 200 0 0 1 12 1503 1049 "
    "---- 0 a pin_g__a pass - \"/v1/chat/completions\"";
static const char REQ_PINNED_REFUSED[] =
    "LLMR4 7F000001:ECE2_7F000001:99F3_6B0B5632_0001:7C7B main g - - POST 503 0 0 -1 -1 3005 217 "
    "SC-- 0 a pin_g__a pass - \"/v1/chat/completions\"";
/* The same outcome as a listener would have logged it in the two-layer path. */
static const char ATT_PINNED_REFUSED[] =
    "LLMA1 7F000001:ECE2_7F000001:99F3_6B0B5632_0001:7C7B g a 503 0 -1 -1 3005 217 SC--";
static const char ATT_OK[] =
    "LLMA1 7F000001:E81C_7F000001:7C9C_6B0B3CD0_0003:058E g a 200 0 0 0 104 1049 ----";
static const char ATT_REFUSED[] =
    "LLMA1 7F000001:E822_7F000001:7C9C_6B0B3CD0_0005:058E g dead 503 0 -1 -1 3004 217 SC--";
static const char ATT_TIMEOUT[] =
    "LLMA1 7F000001:E824_7F000001:7C9C_6B0B3CD3_0007:058E g slow 504 0 0 -1 1001 198 sH--";
static const char ATT_CLOSED[] =
    "LLMA1 7F000001:B2DE_7F000001:7C9C_6B0B3CF0_0016:058E g err 502 0 0 -1 0 209 SH--";
static const char ATT_INVALID[] =
    "LLMA1 7F000001:CA2A_7F000001:7C9C_6B0B3CF8_0001:09CA g err 502 0 0 -1 0 209 PH--";
static const char ATT_5XX[] =
    "LLMA1 7F000001:E82C_7F000001:7C9C_6B0B3CD4_0009:058E g err 503 0 0 0 0 212 ----";

/*
 * Parse from an exact-size heap copy, so a read past `len` trips ASan. The copy lives
 * until the next call, as the parsed strings point into it.
 */
static char *parsed_copy;

static void free_parsed_copy(void)
{
    free(parsed_copy);
    parsed_copy = NULL;
}

static int parse(const char *text, size_t len, struct logline *out)
{
    free_parsed_copy();
    parsed_copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(parsed_copy);
    memcpy(parsed_copy, text, len);
    return logline_parse(parsed_copy, len, out);
}

static int parse_str(const char *text, struct logline *out)
{
    return parse(text, strlen(text), out);
}

static void assert_str(struct logline_str s, const char *want)
{
    ck_assert_msg(s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0, "got '%.*s', want '%s'",
                  (int)s.len, s.ptr, want);
}

START_TEST(test_request_every_field)
{
    struct logline l;
    static const char *const line = REQ_SSE;

    ck_assert_int_eq(logline_parse(line, strlen(line), &l), 0);
    ck_assert_int_eq(l.kind, LOGLINE_REQUEST);
    assert_str(l.id, "7F000001:B2EA_7F000001:7C9C_6B0B3CF0_001A:058E");
    assert_str(l.forward, "main");
    assert_str(l.group, "g");
    assert_str(l.client, "team-a.1");
    assert_str(l.method, "POST");
    ck_assert_int_eq(l.status, 200);
    ck_assert_int_eq(l.t_request, 0);
    ck_assert_int_eq(l.t_queue, 0);
    ck_assert_int_eq(l.t_connect, 0);
    ck_assert_int_eq(l.t_response, 0);
    ck_assert_int_eq(l.t_total, 1503);
    ck_assert_uint_eq(l.bytes_out, 1049);
    ck_assert_str_eq(l.termination, "----");
    ck_assert_uint_eq(l.retries, 0);
    ck_assert(!l.redispatched);
    assert_str(l.upstream, "a");
    assert_str(l.verdict, "pass");
    ck_assert_int_eq(l.spoe_error, 3);
    assert_str(l.path, "/v1/chat/completions");
    ck_assert(!l.pinned); /* grp_g: the listener's line is the attempt */
}
END_TEST

START_TEST(test_request_absent_values)
{
    struct logline l;

    ck_assert_int_eq(parse_str(REQ_OK, &l), 0);
    ck_assert_uint_eq(l.client.len, 0); /* "-": no client, e.g. no client_auth */
    ck_assert_uint_eq(l.verdict.len, 0);
    ck_assert_int_eq(l.spoe_error, 0);
    assert_str(l.path, "/v1/models");

    ck_assert_int_eq(parse_str(REQ_BADREQ, &l), 0);
    ck_assert_uint_eq(l.id.len, 0);
    ck_assert_uint_eq(l.method.len, 0);
    ck_assert_uint_eq(l.upstream.len, 0);
    ck_assert_uint_eq(l.path.len, 0);
    ck_assert_int_eq(l.status, 400);
    ck_assert_int_eq(l.t_request, -1);
    ck_assert_int_eq(l.t_queue, -1);
    ck_assert_int_eq(l.t_connect, -1);
    ck_assert_int_eq(l.t_response, -1);
    ck_assert_int_eq(l.t_total, 0);
    ck_assert_str_eq(l.termination, "PR--");
    ck_assert(!l.pinned);

    ck_assert_int_eq(parse_str(REQ_ABORT, &l), 0);
    ck_assert_str_eq(l.termination, "CD--");
    ck_assert_int_eq(l.t_total, 601);
}
END_TEST

START_TEST(test_request_redispatch_and_limits)
{
    struct logline l;

    ck_assert_int_eq(
        parse_str("LLMR4 id main g - - GET 503 1 2 3 4 2147483647 18446744073709551615 "
                  "sC-- +3 b grp_g unavailable 65535 \"/\"",
                  &l),
        0);
    ck_assert_uint_eq(l.retries, 3);
    ck_assert(l.redispatched);
    ck_assert_int_eq(l.t_request, 1);
    ck_assert_int_eq(l.t_queue, 2);
    ck_assert_int_eq(l.t_connect, 3);
    ck_assert_int_eq(l.t_response, 4);
    ck_assert_int_eq(l.t_total, 2147483647);
    ck_assert_uint_eq(l.bytes_out, UINT64_MAX);
    ck_assert_int_eq(l.spoe_error, 65535);
    assert_str(l.verdict, "unavailable");
    assert_str(l.path, "/");
    /* An empty path and HAProxy's #XX encoding are kept as logged. */
    ck_assert_int_eq(
        parse_str("LLMR4 - main g - - GET -1 0 0 0 0 0 0 CR-- 0 <NOSRV> fwd_main - - \"\"", &l), 0);
    ck_assert_int_eq(l.status, -1);
    ck_assert_uint_eq(l.path.len, 0);
    ck_assert_int_eq(
        parse_str("LLMR4 - main g - - GET 404 0 0 0 0 0 0 ---- 0 a grp_g - - \"/a#22b\\c\"", &l),
        0);
    assert_str(l.path, "/a#22b\\c");
}
END_TEST

/* ---- pinned request lines ---- */

struct pinned_case {
    const char *server;
    const char *backend;
    bool pinned;
};

static const struct pinned_case pinned_cases[] = {
    {"a", "pin_g__a", true},
    {"a", "pin_g__other", true},    /* the name is HAProxy's business: only the prefix counts */
    {"a", "grp_g", false},          /* the group layer, whose listener logs the attempt */
    {"<NOSRV>", "fwd_main", false}, /* the frontend answered itself */
    {"<NOSRV>", "pin_g__a", false}, /* nothing attempted, so no attempt to stand for */
    {"a", "pin_", false},           /* the bare prefix names no upstream */
    {"a", "pin", false},
    {"a", "PIN_g__a", false},
    {"a", "xpin_g__a", false},
};

START_TEST(test_pinned_detection)
{
    const struct pinned_case *pc = &pinned_cases[_i];
    struct logline l;
    char line[256];

    snprintf(line, sizeof(line), "LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 %s %s - - \"/\"",
             pc->server, pc->backend);
    ck_assert_msg(parse_str(line, &l) == 0, "case %d refused: %s", _i, line);
    ck_assert_msg(l.pinned == pc->pinned, "case %d (%s %s): pinned %d, want %d", _i, pc->server,
                  pc->backend, l.pinned, pc->pinned);
}
END_TEST

START_TEST(test_pinned_captured)
{
    struct logline l;

    ck_assert_int_eq(parse_str(REQ_PINNED_OK, &l), 0);
    ck_assert_int_eq(l.kind, LOGLINE_REQUEST);
    ck_assert(l.pinned);
    assert_str(l.upstream, "a");
    assert_str(l.verdict, "pass");
    ck_assert_int_eq(l.t_response, 12);
    ck_assert_int_eq(parse_str(REQ_PINNED_REFUSED, &l), 0);
    ck_assert(l.pinned);
    ck_assert_str_eq(l.termination, "SC--");
    /* Every other captured request line went through the group layer or nowhere. */
    ck_assert_int_eq(parse_str(REQ_OK, &l), 0);
    ck_assert(!l.pinned);
    ck_assert_int_eq(parse_str(REQ_ABORT, &l), 0);
    ck_assert(!l.pinned);
}
END_TEST

/* A pinned backend's first attempt failed and its retry went to b's listener. */
struct retried_case {
    const char *server;
    const char *backend;
    const char *first; /* NULL: the line is refused */
};

static const struct retried_case retried_cases[] = {
    {"retry:b", "pin_g__a", "a"},
    {"retry:b", "pin_g__g__a", "g__a"}, /* names may hold "__": the group is known */
    {"retry:a", "pin_g__a", "a"},       /* a lone member retries on itself */
    {"retry:b", "grp_g", NULL},         /* only pinned backends have retry servers */
    {"retry:b", "pin_h__a", NULL},      /* nor another group's */
    {"retry:b", "pin_gg__a", NULL},
    {"retry:b", "pin_g__", NULL},
    {"retry:b", "pin_g_a", NULL},
    {"retry:", "pin_g__a", NULL},
    {"retry:<NOSRV>", "pin_g__a", NULL},
    {"retry:b:c", "pin_g__a", NULL},
    {"Retry:b", "pin_g__a", NULL},
};

START_TEST(test_retried_first_detection)
{
    const struct retried_case *rc = &retried_cases[_i];
    struct logline l, att;
    char line[256];
    int rc_parse;

    snprintf(line, sizeof(line),
             "LLMR4 id1 main g - - POST 200 0 0 0 5 9 100 ---- +1 %s %s pass - \"/\"",
             rc->server, rc->backend);
    rc_parse = parse_str(line, &l);
    if (!rc->first) {
        ck_assert_msg(rc_parse == -LOGLINE_ERR_NAME, "case %d accepted: %s", _i, line);
        return;
    }
    ck_assert_msg(rc_parse == 0, "case %d refused (%d): %s", _i, rc_parse, line);
    ck_assert(!l.pinned); /* the listeners logged the retries */
    assert_str(l.retried_first, rc->first);
    assert_str(l.upstream, rc->server + strlen(HAPROXY_RETRY_SERVER_PREFIX));
    /* The failed first attempt it stands for has nothing of the request's own. */
    logline_retried_first_attempt(&l, &att);
    ck_assert_int_eq(att.kind, LOGLINE_ATTEMPT);
    assert_str(att.id, "id1");
    assert_str(att.group, "g");
    assert_str(att.upstream, rc->first);
    ck_assert_int_eq(att.status, -1);
    ck_assert(att.t_queue == -1 && att.t_connect == -1 && att.t_response == -1 &&
              att.t_total == -1);
    ck_assert_uint_eq(att.bytes_out, 0);
    ck_assert_uint_eq(att.throttle[0].len, 0);
    ck_assert_uint_eq(att.retried_first.len, 0);
    /* A plain pinned line has none. */
    ck_assert_int_eq(parse_str(REQ_PINNED_OK, &l), 0);
    ck_assert_uint_eq(l.retried_first.len, 0);
}
END_TEST

/* What outcome_apply() and the upstream metrics read from an attempt. */
static void assert_same_attempt(const struct logline *got, const struct logline *want)
{
    ck_assert_int_eq(got->kind, LOGLINE_ATTEMPT);
    ck_assert_uint_eq(got->id.len, want->id.len);
    ck_assert(memcmp(got->id.ptr, want->id.ptr, want->id.len) == 0);
    ck_assert_uint_eq(got->group.len, want->group.len);
    ck_assert(memcmp(got->group.ptr, want->group.ptr, want->group.len) == 0);
    ck_assert_uint_eq(got->upstream.len, want->upstream.len);
    ck_assert(memcmp(got->upstream.ptr, want->upstream.ptr, want->upstream.len) == 0);
    ck_assert_int_eq(got->status, want->status);
    ck_assert_int_eq(got->t_queue, want->t_queue);
    ck_assert_int_eq(got->t_connect, want->t_connect);
    ck_assert_int_eq(got->t_response, want->t_response);
    ck_assert_int_eq(got->t_total, want->t_total);
    ck_assert_uint_eq(got->bytes_out, want->bytes_out);
    ck_assert_str_eq(got->termination, want->termination);
    ck_assert_uint_eq(got->retries, want->retries);
    ck_assert(got->redispatched == want->redispatched);
}

/* A pinned request line is the attempt the listener would have logged, field for field. */
START_TEST(test_pinned_attempt_view)
{
    size_t len = strlen(REQ_PINNED_REFUSED);
    char *line = malloc(len);
    struct logline req, before, att, listener;

    ck_assert_ptr_nonnull(line);
    memcpy(line, REQ_PINNED_REFUSED, len);
    ck_assert_int_eq(logline_parse(line, len, &req), 0);
    memcpy(&before, &req, sizeof(req));
    logline_pinned_attempt(&req, &att);
    ck_assert(memcmp(&before, &req, sizeof(req)) == 0); /* the request is left as it was */

    ck_assert_int_eq(parse_str(ATT_PINNED_REFUSED, &listener), 0);
    assert_same_attempt(&att, &listener);
    ck_assert(att.pinned && !listener.pinned); /* its client side is the real client */
    assert_str(att.group, "g");
    assert_str(att.upstream, "a");
    ck_assert_int_eq(att.status, 503);
    ck_assert_int_eq(att.t_connect, -1);
    ck_assert_int_eq(att.t_total, 3005);
    /* Views into the request's own line, not copies. */
    ck_assert_ptr_eq(att.id.ptr, req.id.ptr);
    ck_assert_ptr_eq(att.upstream.ptr, req.upstream.ptr);
    ck_assert(att.upstream.ptr >= line && att.upstream.ptr + att.upstream.len <= line + len);
    free(line);
}
END_TEST

START_TEST(test_attempt_every_field)
{
    struct logline l;

    ck_assert_int_eq(parse_str(ATT_OK, &l), 0);
    ck_assert_int_eq(l.kind, LOGLINE_ATTEMPT);
    assert_str(l.id, "7F000001:E81C_7F000001:7C9C_6B0B3CD0_0003:058E");
    assert_str(l.group, "g");
    assert_str(l.upstream, "a");
    ck_assert_int_eq(l.status, 200);
    ck_assert_int_eq(l.t_queue, 0);
    ck_assert_int_eq(l.t_connect, 0);
    ck_assert_int_eq(l.t_response, 0);
    ck_assert_int_eq(l.t_total, 104);
    ck_assert_uint_eq(l.bytes_out, 1049);
    ck_assert_str_eq(l.termination, "----");
    /* What an attempt does not carry. */
    ck_assert_int_eq(l.t_request, -1);
    ck_assert_uint_eq(l.forward.len, 0);
    ck_assert_uint_eq(l.method.len, 0);
    ck_assert_uint_eq(l.path.len, 0);
    ck_assert_uint_eq(l.verdict.len, 0);
    ck_assert(!l.pinned);

    ck_assert_int_eq(parse_str(ATT_REFUSED, &l), 0);
    assert_str(l.upstream, "dead");
    ck_assert_int_eq(l.status, 503);
    ck_assert_int_eq(l.t_connect, -1);
    ck_assert_int_eq(l.t_response, -1);
    ck_assert_int_eq(l.t_total, 3004);
    ck_assert_str_eq(l.termination, "SC--");
    ck_assert_int_eq(parse_str(ATT_TIMEOUT, &l), 0);
    ck_assert_str_eq(l.termination, "sH--");
    ck_assert_int_eq(l.status, 504);
    ck_assert_int_eq(parse_str(ATT_CLOSED, &l), 0);
    ck_assert_str_eq(l.termination, "SH--");
    ck_assert_int_eq(parse_str(ATT_INVALID, &l), 0);
    ck_assert_str_eq(l.termination, "PH--");
    ck_assert_int_eq(parse_str(ATT_5XX, &l), 0);
    ck_assert_int_eq(l.status, 503);
    ck_assert_int_eq(l.t_response, 0);
}
END_TEST

/* The THROTTLE fields: absent on an earlier rendering's line, else six hex or "-". */
START_TEST(test_throttle_fields)
{
    struct logline l;

    ck_assert_int_eq(parse_str("LLMA1 - g a 429 0 0 1 1 90 ---- 32 - 30 - 3173 -", &l), 0);
    assert_str(l.throttle[LOGLINE_TH_RETRY_AFTER], "32");
    ck_assert_uint_eq(l.throttle[LOGLINE_TH_RETRY_AFTER_MS].len, 0);
    assert_str(l.throttle[LOGLINE_TH_REMAINING_REQUESTS], "30");
    assert_str(l.throttle[LOGLINE_TH_RESET_REQUESTS], "3173");
    ck_assert_int_eq(parse_str("LLMR4 - main g - - GET 429 0 0 0 1 1 90 ---- 0 a pin_g__a pass - "
                               "\"/v1\" 32 - - - - -",
                               &l),
                     0);
    ck_assert(l.pinned);
    assert_str(l.throttle[LOGLINE_TH_RETRY_AFTER], "32");
    assert_str(l.path, "/v1");
    ck_assert_int_eq(parse_str("LLMA1 - g a 200 0 0 1 1 90 ----", &l), 0);
    for (size_t i = 0; i < LOGLINE_TH_N; i++)
        ck_assert_uint_eq(l.throttle[i].len, 0);
}
END_TEST

/*
 * What an upstream can make HAProxy log: its header's first 64 bytes in hex, whatever they
 * are (spaces, quotes, a line break, 10 KB). One bounded field that forges nothing; the
 * field one byte longer than a logged value can be is refused.
 */
START_TEST(test_throttle_hostile_value)
{
    const char *value = "1 \"LLMA1 - g b 500 0 0 0 0 0 ----\"\n\r\t";
    char hex[2 * LOGLINE_THROTTLE_MAX_BYTES + 3], line[1024];
    size_t n = strlen(value), k;
    struct logline l;

    for (k = 0; k < n && k < LOGLINE_THROTTLE_MAX_BYTES; k++)
        snprintf(hex + 2 * k, 3, "%02X", (unsigned char)value[k]);
    snprintf(line, sizeof(line), "LLMA1 - g a 429 0 0 1 1 90 ---- %s - - - - -", hex);
    ck_assert_int_eq(parse_str(line, &l), 0);
    assert_str(l.upstream, "a");
    ck_assert_int_eq(l.status, 429);
    ck_assert_uint_eq(l.throttle[0].len, 2 * n);
    memset(hex, 'A', 2 * LOGLINE_THROTTLE_MAX_BYTES);
    hex[2 * LOGLINE_THROTTLE_MAX_BYTES] = '\0';
    snprintf(line, sizeof(line), "LLMA1 - g a 429 0 0 1 1 90 ---- %s - - - - -", hex);
    ck_assert_int_eq(parse_str(line, &l), 0);
    strcat(hex, "AA");
    snprintf(line, sizeof(line), "LLMA1 - g a 429 0 0 1 1 90 ---- %s - - - - -", hex);
    ck_assert_int_eq(parse_str(line, &l), -LOGLINE_ERR_THROTTLE);
}
END_TEST

START_TEST(test_trailing_newline_tolerated)
{
    struct logline l;
    char line[256];

    snprintf(line, sizeof(line), "%s\n", ATT_OK);
    ck_assert_int_eq(parse_str(line, &l), 0);
    ck_assert_str_eq(l.termination, "----");
    snprintf(line, sizeof(line), "%s\n\n", ATT_OK);
    ck_assert_int_eq(parse_str(line, &l), -LOGLINE_ERR_TERMINATION);
}
END_TEST

/* Every proper prefix of a valid line is refused, and never read past. */
START_TEST(test_every_prefix_refused)
{
    static const char *const lines[] = {REQ_OK,        REQ_SSE, REQ_BADREQ,
                                        REQ_PINNED_OK, ATT_OK,  ATT_REFUSED};
    struct logline l;

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        size_t n = strlen(lines[i]);

        ck_assert_int_eq(parse(lines[i], n, &l), 0);
        for (size_t cut = 0; cut < n; cut++) {
            int rc = parse(lines[i], cut, &l);

            ck_assert_msg(rc < 0, "prefix %zu of line %zu accepted", cut, i);
        }
    }
}
END_TEST

START_TEST(test_cut_by_haproxy)
{
    struct logline l;

    ck_assert_int_eq(parse_str(REQ_CUT_BY_HAPROXY, &l), -LOGLINE_ERR_TRUNCATED);
    ck_assert_int_eq(parse_str("", &l), -LOGLINE_ERR_TRUNCATED);
    ck_assert_int_eq(
        parse_str("LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/v1/mod", &l),
        -LOGLINE_ERR_TRUNCATED);
}
END_TEST

struct bad_case {
    const char *line;
    enum logline_error want;
};

/* One wrong field at a time; the request line template is REQ_OK's shape. */
static const struct bad_case bad_cases[] = {
    {"LLMX2 - main g GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TAG},
    {"LLMR5 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TAG},
    {"llmr2 - main g GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TAG},
    /* The previous versions' lines, from an HAProxy still running an old configuration. */
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TAG},
    {"LLMR2 - main g GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TAG},
    {"LLMR3 - main g - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TAG},
    /* Their shapes under the new tag are fields short: refused, not read shifted. */
    {"LLMR4 - main g GET 200 0 0 0 0 0 0 ---- 0 a pass - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR4 - main g - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR4  - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_SEPARATOR},
    /* The route: a token of the name charset, bounded; its meaning is the judge's. */
    {"LLMR4 - main g 0/1 - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g 00000000000000000 - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"",
     LOGLINE_ERR_NAME},
    {"LLMR4 - main g \"x\" - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {" LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_SEPARATOR},
    {"LLMR4 a\"b main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_ID},
    {"LLMR4 - ma/in g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g\x01 - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g - te/am GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g - te\"am GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g - - GE(T 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_METHOD},
    {"LLMR4 - main g - - GET 20 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR4 - main g - - GET 099 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR4 - main g - - GET 1000 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR4 - main g - - GET -2 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR4 - main g - - GET 200 -2 0 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR4 - main g - - GET 200 0 x 0 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR4 - main g - - GET 200 0 0 +1 0 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR4 - main g - - GET 200 0 0 0 2147483648 0 0 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR4 - main g - - GET 200 0 0 0 0 99999999999999999999 0 ---- 0 a grp_g - - \"/\"",
     LOGLINE_ERR_TIMER},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 18446744073709551616 ---- 0 a grp_g - - \"/\"",
     LOGLINE_ERR_BYTES},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 -1 ---- 0 a grp_g - - \"/\"", LOGLINE_ERR_BYTES},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 --- 0 a grp_g - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ----- 0 a grp_g - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 XH-- 0 a grp_g - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 SX-- 0 a grp_g - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 --X- 0 a grp_g - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---X 0 a grp_g - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- ++1 a grp_g - - \"/\"", LOGLINE_ERR_RETRIES},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 65536 a grp_g - - \"/\"", LOGLINE_ERR_RETRIES},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- + a grp_g - - \"/\"", LOGLINE_ERR_RETRIES},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a:b grp_g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp/g - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a pin_g__a\" - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a  - - \"/\"", LOGLINE_ERR_SEPARATOR},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g pa$s - \"/\"", LOGLINE_ERR_VERDICT},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - -1 \"/\"", LOGLINE_ERR_SPOE_ERROR},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - 65536 \"/\"", LOGLINE_ERR_SPOE_ERROR},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - /", LOGLINE_ERR_PATH},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/a b\"", LOGLINE_ERR_PATH},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\xc3\xa9\"", LOGLINE_ERR_PATH},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/a\"b\"", LOGLINE_ERR_TRAILING},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\" ", LOGLINE_ERR_TRAILING},
    {"LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/", LOGLINE_ERR_TRUNCATED},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- extra", LOGLINE_ERR_THROTTLE},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- - - - - -", LOGLINE_ERR_TRUNCATED},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- - - - - - - - -", LOGLINE_ERR_TRAILING},
    /* The relayed status: only an upstream's 429, only on the listener's 503. */
    {"LLMA1 - g a 200 0 0 0 0 0 ---- - - - - - - 429", LOGLINE_ERR_STATUS},
    {"LLMA1 - g a 503 0 0 0 0 0 ---- - - - - - - 500", LOGLINE_ERR_STATUS},
    {"LLMA1 - g a 503 0 0 0 0 0 ---- - - - - - - 42", LOGLINE_ERR_STATUS},
    {"LLMA1 - g a 503 0 0 0 0 0 ---- - - - - - - 4290", LOGLINE_ERR_STATUS},
    {"LLMA1 - g a 503 0 0 0 0 0 ---- - - - - - - -1", LOGLINE_ERR_STATUS},
    {"LLMA1 - g a 503 0 0 0 0 0 ---- - - - - - - ", LOGLINE_ERR_TRAILING},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- 3 - - - - -", LOGLINE_ERR_THROTTLE},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- 3G - - - - -", LOGLINE_ERR_THROTTLE},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- \"32\" - - - - -", LOGLINE_ERR_THROTTLE},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- ", LOGLINE_ERR_TRAILING},
    {"LLMA1 - g a 200 0 0 0 0 0", LOGLINE_ERR_TRUNCATED},
    {"LLMA1 - g <NOSRV> 200 0 0 0 0 0 ----", LOGLINE_ERR_NAME},
    {"LLMA1 - g a 2xx 0 0 0 0 0 ----", LOGLINE_ERR_STATUS},
};

START_TEST(test_malformed_field)
{
    const struct bad_case *bc = &bad_cases[_i];
    struct logline l;
    int rc = parse_str(bc->line, &l);

    ck_assert_msg(rc == -(int)bc->want, "case %d: got %s, want %s (%s)", _i, logline_error_name(rc),
                  logline_error_name(bc->want), bc->line);
}
END_TEST

START_TEST(test_bounds)
{
    struct logline l;
    char *line = malloc(LOGLINE_MAX_LEN + 2);
    char id[LOGLINE_ID_MAX + 2];
    char name[300];
    char buf[512];
    size_t n;

    ck_assert_ptr_nonnull(line);
    /* A path filling the line up to the limit is accepted; one byte more is not. */
    n = (size_t)snprintf(line, LOGLINE_MAX_LEN, "LLMA1 - g a 200 0 0 0 0 0 ----");
    ck_assert_int_eq(logline_parse(line, n, &l), 0);
    memset(line, 'a', LOGLINE_MAX_LEN + 1);
    ck_assert_int_eq(logline_parse(line, LOGLINE_MAX_LEN + 1, &l), -LOGLINE_ERR_TOO_LONG);
    n = (size_t)snprintf(line, LOGLINE_MAX_LEN + 2,
                         "LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/");
    memset(line + n, 'p', LOGLINE_MAX_LEN - n - 1);
    line[LOGLINE_MAX_LEN - 1] = '"';
    ck_assert_int_eq(logline_parse(line, LOGLINE_MAX_LEN, &l), 0);
    ck_assert_uint_eq(l.path.len, LOGLINE_MAX_LEN - n); /* the '/' and the 'p's */
    free(line);

    /* A client name as long as the parser takes any name; one byte more is refused. */
    memset(name, 'c', LOGLINE_NAME_MAX);
    name[LOGLINE_NAME_MAX] = '\0';
    snprintf(buf, sizeof(buf), "LLMR4 - main g - %s GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"",
             name);
    ck_assert_int_eq(parse_str(buf, &l), 0);
    ck_assert_uint_eq(l.client.len, LOGLINE_NAME_MAX);
    name[LOGLINE_NAME_MAX] = 'c';
    name[LOGLINE_NAME_MAX + 1] = '\0';
    snprintf(buf, sizeof(buf), "LLMR4 - main g - %s GET 200 0 0 0 0 0 0 ---- 0 a grp_g - - \"/\"",
             name);
    ck_assert_int_eq(parse_str(buf, &l), -LOGLINE_ERR_NAME);

    /* The longest pinned backend the renderer writes, pin_<48>__<48>, is accepted (more
     * than a configuration name may hold); one byte over LOGLINE_BACKEND_MAX is not. */
    memset(name, 'b', sizeof(name));
    memcpy(name, "pin_", 4);
    memcpy(name + 4 + CONF_NAME_MAX, "__", 2);
    name[4 + CONF_NAME_MAX + 2 + CONF_NAME_MAX] = '\0';
    snprintf(buf, sizeof(buf), "LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a %s - - \"/\"",
             name);
    ck_assert_int_eq(parse_str(buf, &l), 0);
    ck_assert(l.pinned);
    memset(name, 'b', sizeof(name));
    memcpy(name, "pin_", 4);
    name[LOGLINE_BACKEND_MAX + 1] = '\0';
    snprintf(buf, sizeof(buf), "LLMR4 - main g - - GET 200 0 0 0 0 0 0 ---- 0 a %s - - \"/\"",
             name);
    ck_assert_int_eq(parse_str(buf, &l), -LOGLINE_ERR_NAME);

    memset(id, 'a', sizeof(id));
    id[LOGLINE_ID_MAX] = '\0';
    snprintf(buf, sizeof(buf), "LLMA1 %s g a 200 0 0 0 0 0 ----", id);
    ck_assert_int_eq(parse_str(buf, &l), 0);
    id[LOGLINE_ID_MAX] = 'a';
    id[LOGLINE_ID_MAX + 1] = '\0';
    snprintf(buf, sizeof(buf), "LLMA1 %s g a 200 0 0 0 0 0 ----", id);
    ck_assert_int_eq(parse_str(buf, &l), -LOGLINE_ERR_ID);
}
END_TEST

START_TEST(test_formats_match_parser)
{
    char fmt[1024];
    int n;

    /* The rendered strings carry the tag the parser expects, the names where given, and
     * put the quoted path last. */
    n = snprintf(fmt, sizeof(fmt), LOGLINE_REQUEST_FORMAT, "fwd", "grp");
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(fmt, "LLMR4 %ID fwd grp %[var(txn.llm_route)] %[var(txn.llm_client)] %HM %ST "
                          "%Tq %Tw %Tc %Tr %Tt "
                          "%B %tsc %rc %s %b %[var(txn.llm.v)] %[var(txn.llm.err)] %{+Q}HPO "
                          "%[var(txn.llm_th0)] %[var(txn.llm_th1)] %[var(txn.llm_th2)] "
                          "%[var(txn.llm_th3)] %[var(txn.llm_th4)] %[var(txn.llm_th5)]");
    n = snprintf(fmt, sizeof(fmt), LOGLINE_ATTEMPT_FORMAT, "grp", "up");
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(fmt, "LLMA1 %[var(txn.rid)] grp up %ST %Tw %Tc %Tr %Tt %B %tsc "
                          "%[var(txn.llm_th0)] %[var(txn.llm_th1)] %[var(txn.llm_th2)] "
                          "%[var(txn.llm_th3)] %[var(txn.llm_th4)] %[var(txn.llm_th5)] "
                          "%[var(txn.llm_relayed)]");
}
END_TEST

/* A listener before HAProxy 3.1 relays an upstream's 429 as a 503 its group retries, and
 * logs the upstream's status last: the agent judges the 429. */
START_TEST(test_attempt_relayed_429)
{
    struct logline l;

    ck_assert_int_eq(parse_str("LLMA1 - g a 503 0 0 1 2 90 ---- 32 - - - - - 429", &l), 0);
    ck_assert_int_eq(l.status, 429);
    ck_assert_uint_eq(l.throttle[LOGLINE_TH_RETRY_AFTER].len, 2);
    ck_assert_int_eq(parse_str("LLMA1 - g a 503 0 0 1 2 90 ---- - - - - - - -", &l), 0);
    ck_assert_int_eq(l.status, 503);
    /* Without the throttle fields (an earlier rendering), nothing was relayed. */
    ck_assert_int_eq(parse_str("LLMA1 - g a 503 0 0 1 2 90 ----", &l), 0);
    ck_assert_int_eq(l.status, 503);
}
END_TEST

START_TEST(test_error_names)
{
    ck_assert_str_eq(logline_error_name(-LOGLINE_ERR_TRUNCATED), "truncated");
    ck_assert_str_eq(logline_error_name(LOGLINE_ERR_PATH), "path");
    ck_assert_str_eq(logline_error_name(0), "ok");
    ck_assert_str_eq(logline_error_name(-LOGLINE_N_ERRORS), "unknown");
    for (int e = 0; e < LOGLINE_N_ERRORS; e++)
        ck_assert_ptr_nonnull(logline_error_name(e));
}
END_TEST

static Suite *logline_suite(void)
{
    Suite *s = suite_create("logline");
    TCase *tc = tcase_create("parse");

    tcase_add_checked_fixture(tc, NULL, free_parsed_copy);
    tcase_add_test(tc, test_request_every_field);
    tcase_add_test(tc, test_request_absent_values);
    tcase_add_test(tc, test_attempt_relayed_429);
    tcase_add_test(tc, test_request_redispatch_and_limits);
    tcase_add_loop_test(tc, test_pinned_detection, 0,
                        (int)(sizeof(pinned_cases) / sizeof(pinned_cases[0])));
    tcase_add_test(tc, test_pinned_captured);
    tcase_add_test(tc, test_pinned_attempt_view);
    tcase_add_loop_test(tc, test_retried_first_detection, 0,
                        (int)(sizeof(retried_cases) / sizeof(retried_cases[0])));
    tcase_add_test(tc, test_attempt_every_field);
    tcase_add_test(tc, test_throttle_fields);
    tcase_add_test(tc, test_throttle_hostile_value);
    tcase_add_test(tc, test_trailing_newline_tolerated);
    tcase_add_test(tc, test_every_prefix_refused);
    tcase_add_test(tc, test_cut_by_haproxy);
    tcase_add_loop_test(tc, test_malformed_field, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_formats_match_parser);
    tcase_add_test(tc, test_error_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(logline_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
