/*
 * logline_parse: lines captured from HAProxy 2.6.12 with the rendered formats, every
 * field, and malformed or truncated lines refused with the right reason.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline.h"

/* Captured live (ring -> octet-count TCP), one per situation. */
static const char REQ_OK[] = "LLMR1 7F000001:E810_7F000001:7C9C_6B0B3CD0_0001:058E main g GET 200 "
                             "0 0 0 0 0 200 ---- 0 a - - \"/v1/models\"";
static const char REQ_SSE[] =
    "LLMR1 7F000001:B2EA_7F000001:7C9C_6B0B3CF0_001A:058E main g POST 200 0 0 0 0 1503 1049 "
    "---- 0 a pass 3 \"/v1/chat/completions\"";
static const char REQ_BADREQ[] =
    "LLMR1 - main g <BADREQ> 400 -1 -1 -1 -1 0 0 PR-- 0 <NOSRV> - - \"<BADREQ>\"";
static const char REQ_ABORT[] =
    "LLMR1 7F000001:B2F2_7F000001:7C9C_6B0B3CF2_001C:058E main g POST 200 0 0 0 0 601 682 CD-- "
    "0 a - - \"/v1/chat/completions\"";
/* HAProxy drops a field that does not fit `len` and ends the line there. */
static const char REQ_CUT_BY_HAPROXY[] =
    "LLMR1 7F000001:B98A_7F000001:7C9C_6B0B3CDA_0014:058E main g GET 404 0 0 0 0 0 389 ---- 0 "
    "a - - ";
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
}
END_TEST

START_TEST(test_request_absent_values)
{
    struct logline l;

    ck_assert_int_eq(parse_str(REQ_OK, &l), 0);
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

    ck_assert_int_eq(parse_str(REQ_ABORT, &l), 0);
    ck_assert_str_eq(l.termination, "CD--");
    ck_assert_int_eq(l.t_total, 601);
}
END_TEST

START_TEST(test_request_redispatch_and_limits)
{
    struct logline l;

    ck_assert_int_eq(parse_str("LLMR1 id main g GET 503 1 2 3 4 2147483647 18446744073709551615 "
                               "sC-- +3 b unavailable 65535 \"/\"",
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
    ck_assert_int_eq(parse_str("LLMR1 - main g GET -1 0 0 0 0 0 0 CR-- 0 <NOSRV> - - \"\"", &l), 0);
    ck_assert_int_eq(l.status, -1);
    ck_assert_uint_eq(l.path.len, 0);
    ck_assert_int_eq(parse_str("LLMR1 - main g GET 404 0 0 0 0 0 0 ---- 0 a - - \"/a#22b\\c\"", &l),
                     0);
    assert_str(l.path, "/a#22b\\c");
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
    static const char *const lines[] = {REQ_OK, REQ_SSE, REQ_BADREQ, ATT_OK, ATT_REFUSED};
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
    ck_assert_int_eq(parse_str("LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/v1/mod", &l),
                     -LOGLINE_ERR_TRUNCATED);
}
END_TEST

struct bad_case {
    const char *line;
    enum logline_error want;
};

/* One wrong field at a time; the request line template is REQ_OK's shape. */
static const struct bad_case bad_cases[] = {
    {"LLMX1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TAG},
    {"LLMR2 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TAG},
    {"llmr1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TAG},
    {"LLMR1  - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_SEPARATOR},
    {" LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_SEPARATOR},
    {"LLMR1 a\"b main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_ID},
    {"LLMR1 - ma/in g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR1 - main g\x01 GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR1 - main g GE(T 200 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_METHOD},
    {"LLMR1 - main g GET 20 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR1 - main g GET 099 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR1 - main g GET 1000 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR1 - main g GET -2 0 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_STATUS},
    {"LLMR1 - main g GET 200 -2 0 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR1 - main g GET 200 0 x 0 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR1 - main g GET 200 0 0 +1 0 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR1 - main g GET 200 0 0 0 2147483648 0 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR1 - main g GET 200 0 0 0 0 99999999999999999999 0 ---- 0 a - - \"/\"", LOGLINE_ERR_TIMER},
    {"LLMR1 - main g GET 200 0 0 0 0 0 18446744073709551616 ---- 0 a - - \"/\"", LOGLINE_ERR_BYTES},
    {"LLMR1 - main g GET 200 0 0 0 0 0 -1 ---- 0 a - - \"/\"", LOGLINE_ERR_BYTES},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 --- 0 a - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ----- 0 a - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 XH-- 0 a - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 SX-- 0 a - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 --X- 0 a - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---X 0 a - - \"/\"", LOGLINE_ERR_TERMINATION},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- ++1 a - - \"/\"", LOGLINE_ERR_RETRIES},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 65536 a - - \"/\"", LOGLINE_ERR_RETRIES},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- + a - - \"/\"", LOGLINE_ERR_RETRIES},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a:b - - \"/\"", LOGLINE_ERR_NAME},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a pa$s - \"/\"", LOGLINE_ERR_VERDICT},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - -1 \"/\"", LOGLINE_ERR_SPOE_ERROR},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - 65536 \"/\"", LOGLINE_ERR_SPOE_ERROR},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - /", LOGLINE_ERR_PATH},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/a b\"", LOGLINE_ERR_PATH},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\xc3\xa9\"", LOGLINE_ERR_PATH},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/a\"b\"", LOGLINE_ERR_TRAILING},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/\" ", LOGLINE_ERR_TRAILING},
    {"LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/", LOGLINE_ERR_TRUNCATED},
    {"LLMA1 - g a 200 0 0 0 0 0 ---- extra", LOGLINE_ERR_TRAILING},
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
    char buf[512];
    size_t n;

    ck_assert_ptr_nonnull(line);
    /* A path filling the line up to the limit is accepted; one byte more is not. */
    n = (size_t)snprintf(line, LOGLINE_MAX_LEN, "LLMA1 - g a 200 0 0 0 0 0 ----");
    ck_assert_int_eq(logline_parse(line, n, &l), 0);
    memset(line, 'a', LOGLINE_MAX_LEN + 1);
    ck_assert_int_eq(logline_parse(line, LOGLINE_MAX_LEN + 1, &l), -LOGLINE_ERR_TOO_LONG);
    n = (size_t)snprintf(line, LOGLINE_MAX_LEN + 2,
                         "LLMR1 - main g GET 200 0 0 0 0 0 0 ---- 0 a - - \"/");
    memset(line + n, 'p', LOGLINE_MAX_LEN - n - 1);
    line[LOGLINE_MAX_LEN - 1] = '"';
    ck_assert_int_eq(logline_parse(line, LOGLINE_MAX_LEN, &l), 0);
    ck_assert_uint_eq(l.path.len, LOGLINE_MAX_LEN - n); /* the '/' and the 'p's */
    free(line);

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
    char fmt[512];
    int n;

    /* The rendered strings carry the tag the parser expects, the names where given, and
     * put the quoted path last. */
    n = snprintf(fmt, sizeof(fmt), LOGLINE_REQUEST_FORMAT, "fwd", "grp");
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(fmt, "LLMR1 %ID fwd grp %HM %ST %Tq %Tw %Tc %Tr %Tt %B %tsc %rc %s "
                          "%[var(txn.llm.v)] %[var(txn.llm.err)] %{+Q}HPO");
    n = snprintf(fmt, sizeof(fmt), LOGLINE_ATTEMPT_FORMAT, "grp", "up");
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(fmt, "LLMA1 %[var(txn.rid)] grp up %ST %Tw %Tc %Tr %Tt %B %tsc");
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
    tcase_add_test(tc, test_request_redispatch_and_limits);
    tcase_add_test(tc, test_attempt_every_field);
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
