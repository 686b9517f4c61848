/*
 * The agent's /status document: its exact text for a fresh state built from YAML, live
 * values after breaker outcomes, response times and picks (read back with the ctl's JSON
 * reader), JSON string escaping of any bytes, and the output bound.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "buf.h"
#include "json.h"
#include "state.h"
#include "status_json.h"
#include "util/conf_testutil.h"

static const char yaml[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, address: 127.0.0.1, port: 3001, upstream_group: g,\n"
    "       ratelimit: {enabled: true, per_second: 10, burst: 20}}\n"
    "    - {name: side, address: '::1', port: 3002, upstream_group: solo}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1/v1', breaker: {threshold: 0.5, cooldown: 30}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2'}\n"
    "upstream_groups:\n"
    "  - name: g\n"
    "    upstreams: [{name: a, weight: 3}, {name: b}]\n"
    "    balance: {strategy: weighted_roundrobin}\n"
    "  - {name: solo, upstreams: [{name: b}], balance: {strategy: response_aware}}\n";

static const char fresh_doc[] =
    "{\"version\":1,"
    "\"forwards\":["
    "{\"name\":\"main\",\"listen\":\"127.0.0.1:3001\",\"group\":\"g\","
    "\"ratelimit\":{\"per_second\":10,\"burst\":20},\"limited\":0,\"unavailable\":0},"
    "{\"name\":\"side\",\"listen\":\"[::1]:3002\",\"group\":\"solo\",\"ratelimit\":null,"
    "\"limited\":0,\"unavailable\":0}],"
    "\"groups\":["
    "{\"name\":\"g\",\"strategy\":\"weighted_roundrobin\","
    "\"members\":[{\"upstream\":\"a\",\"weight\":3},{\"upstream\":\"b\",\"weight\":1}]},"
    "{\"name\":\"solo\",\"strategy\":\"response_aware\",\"members\":[{\"upstream\":\"b\","
    "\"weight\":1}]}],"
    "\"upstreams\":["
    "{\"name\":\"a\",\"url\":\"http://127.0.0.1:1/v1\",\"breaker\":{\"enabled\":true,"
    "\"state\":\"closed\",\"threshold\":0.5,\"cooldown_s\":30,\"window_attempts\":0,"
    "\"window_failures\":0,\"opened\":0,\"closed\":0,\"half_opened\":0,\"success\":0,"
    "\"failure\":0,\"rejected\":0},\"ema_ms\":null,\"success_rate\":1,\"in_flight\":0,"
    "\"score\":null,\"picks\":0},"
    "{\"name\":\"b\",\"url\":\"http://127.0.0.1:2\",\"breaker\":{\"enabled\":false,"
    "\"state\":\"closed\",\"threshold\":null,\"cooldown_s\":null,\"window_attempts\":0,"
    "\"window_failures\":0,\"opened\":0,\"closed\":0,\"half_opened\":0,\"success\":0,"
    "\"failure\":0,\"rejected\":0},\"ema_ms\":null,\"success_rate\":1,\"in_flight\":0,"
    "\"score\":null,\"picks\":0}]}\n";

static struct agent_state *st;
static struct buf out;

static void setup(void)
{
    char *diags = NULL;
    struct config *cfg = ctu_load(yaml, NULL, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    free(diags);
    st = state_create(cfg, NULL, 7);
    ck_assert_ptr_nonnull(st);
    buf_init(&out, 1 << 20);
}

static void teardown(void)
{
    buf_free(&out);
    state_free(st);
}

/* Render at `now_ms` and parse the result back; the caller frees the document. */
static struct json_doc *render_parsed(uint64_t now_ms)
{
    char err[128];
    struct json_doc *doc;

    buf_reset(&out);
    ck_assert(status_json_render(st, now_ms, &out));
    doc = json_parse(out.data, out.len, 1 << 20, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s in %s", err, out.data);
    return doc;
}

/* The member `key` of the `name`d element of the top-level array `list`. */
static const struct json_value *field(struct json_doc *doc, const char *list, const char *name,
                                      const char *key)
{
    const struct json_value *arr = json_get(json_root(doc), list);

    ck_assert_ptr_nonnull(arr);
    for (const struct json_value *e = arr->child; e; e = e->next) {
        const char *n = json_string(json_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return json_get(e, key);
    }
    ck_abort_msg("%s has no %s", list, name);
    return NULL;
}

static double number_of(const struct json_value *v)
{
    double n = -1;

    ck_assert_msg(json_number(v, &n), "not a number");
    return n;
}

START_TEST(fresh_state_document)
{
    ck_assert(status_json_render(st, 1000, &out));
    ck_assert_str_eq(out.data, fresh_doc);
}
END_TEST

START_TEST(live_values_follow_the_state)
{
    struct upstream_rt *a = state_upstream(st, "a", 1);
    struct upstream_rt *b = state_upstream(st, "b", 1);
    struct forward_rt *main_fwd = state_forward(st, "main", 4);
    const struct json_value *brk;
    struct json_doc *doc;

    /* a: five failures trip its breaker (threshold 0.5), then one request is refused. */
    for (int i = 0; i < BREAKER_MIN_ATTEMPTS; i++)
        breaker_record(&a->breaker, 1000, false);
    breaker_on_reject(&a->breaker);
    /* b: measured at 200 ms, 3 successes and a failure, two picks, 4 busy in HAProxy. */
    b->ema_ms = 200;
    b->measured = true;
    for (int i = 0; i < 3; i++)
        breaker_record(&b->breaker, 1000, true);
    breaker_record(&b->breaker, 1000, false);
    upstream_note_pick(b, 1000);
    upstream_note_pick(b, 1002);
    b->haproxy_in_flight = 4;
    main_fwd->limited = 7;
    main_fwd->unavailable = 2;

    doc = render_parsed(1003);
    brk = field(doc, "upstreams", "a", "breaker");
    ck_assert_str_eq(json_string(json_get(brk, "state")), "open");
    ck_assert_int_eq((int)number_of(json_get(brk, "opened")), 1);
    ck_assert_int_eq((int)number_of(json_get(brk, "failure")), 5);
    ck_assert_int_eq((int)number_of(json_get(brk, "rejected")), 1);
    ck_assert_int_eq((int)number_of(json_get(brk, "window_failures")), 5);
    ck_assert(number_of(field(doc, "upstreams", "a", "success_rate")) == 0.01);
    ck_assert_int_eq(field(doc, "upstreams", "a", "ema_ms")->type, JSON_NULL);

    ck_assert(number_of(field(doc, "upstreams", "b", "ema_ms")) == 200);
    ck_assert(number_of(field(doc, "upstreams", "b", "success_rate")) == 0.75);
    /* 4 counted by HAProxy + 2 picks younger than PICK_SETTLE_MS */
    ck_assert_int_eq((int)number_of(field(doc, "upstreams", "b", "in_flight")), 6);
    ck_assert_int_eq((int)number_of(field(doc, "upstreams", "b", "picks")), 2);
    /* score = ema * (in_flight + 1) / success_rate = 200 * 7 / 0.75 */
    ck_assert_double_eq_tol(number_of(field(doc, "upstreams", "b", "score")), 1866.6667, 1e-3);
    ck_assert_int_eq((int)number_of(field(doc, "forwards", "main", "limited")), 7);
    ck_assert_int_eq((int)number_of(field(doc, "forwards", "main", "unavailable")), 2);
    json_free(doc);

    /* Later the picks have settled and a's cooldown (30 s) is over: half-open. */
    doc = render_parsed(1000 + 31000);
    ck_assert_int_eq((int)number_of(field(doc, "upstreams", "b", "in_flight")), 4);
    brk = field(doc, "upstreams", "a", "breaker");
    ck_assert_str_eq(json_string(json_get(brk, "state")), "half_open");
    ck_assert_int_eq((int)number_of(json_get(brk, "half_opened")), 1);
    ck_assert_int_eq((int)number_of(json_get(brk, "window_attempts")), 0);
    json_free(doc);
}
END_TEST

START_TEST(overflow_is_reported)
{
    struct buf small;

    buf_init(&small, 100);
    ck_assert(!status_json_render(st, 0, &small));
    ck_assert(small.overflow);
    buf_free(&small);
    buf_init(&small, sizeof(fresh_doc) - 1); /* exactly the document: fits */
    ck_assert(status_json_render(st, 1000, &small));
    buf_free(&small);
}
END_TEST

/* ---- escaping ------------------------------------------------------------------------- */

static const char *escaped(const char *s, size_t len)
{
    buf_reset(&out);
    status_json_string(&out, s, len);
    ck_assert(!out.overflow);
    return out.data;
}

START_TEST(escapes_specials_and_controls)
{
    ck_assert_str_eq(escaped("plain", 5), "\"plain\"");
    ck_assert_str_eq(escaped("", 0), "\"\"");
    ck_assert_str_eq(escaped("a\"b\\c/d", 7), "\"a\\\"b\\\\c/d\"");
    ck_assert_str_eq(escaped("\n\r\t\b\f", 5), "\"\\n\\r\\t\\u0008\\u000c\"");
    ck_assert_str_eq(escaped("x\0y", 3), "\"x\\u0000y\"");
    ck_assert_str_eq(escaped("\x1f\x7f", 2), "\"\\u001f\\u007f\"");
}
END_TEST

START_TEST(keeps_utf8_and_replaces_invalid_bytes)
{
    /* é, €, U+1F600: kept as they are */
    ck_assert_str_eq(escaped("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
                     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    ck_assert_str_eq(escaped("\xff", 1), "\"\\ufffd\"");
    ck_assert_str_eq(escaped("\xc0\x80", 2), "\"\\ufffd\\ufffd\"");            /* overlong NUL */
    ck_assert_str_eq(escaped("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    ck_assert_str_eq(escaped("\xe2\x82", 2), "\"\\ufffd\\ufffd\"");            /* cut short */
    ck_assert_str_eq(escaped("\xf4\x90\x80\x80", 4),
                     "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    ck_assert_str_eq(escaped("a\x80z", 3), "\"a\\ufffdz\"");
}
END_TEST

START_TEST(every_byte_string_reads_back)
{
    char raw[256], err[128];
    struct json_doc *doc;
    const char *s;

    /* Every byte value at once (the invalid UTF-8 ones replaced): still valid JSON. */
    for (int i = 0; i < 256; i++)
        raw[i] = (char)i;
    escaped(raw, sizeof(raw));
    doc = json_parse(out.data, out.len, 1 << 16, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    s = json_string(json_root(doc));
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(json_root(doc)->string_len, 128 + 128 * 3); /* ASCII, then U+FFFD each */
    ck_assert_int_eq(memcmp(s, raw, 128), 0);
    json_free(doc);
}
END_TEST

/* A configuration with clients adds their list, with counters and never a secret. */
START_TEST(clients_are_listed_without_secrets)
{
    static const char with_clients[] =
        "http_server:\n"
        "  forwards:\n"
        "    - {name: main, port: 3001, upstream_group: g, client_auth: true}\n"
        "upstreams:\n"
        "  - {name: a, url: 'http://127.0.0.1:1'}\n"
        "upstream_groups:\n"
        "  - {name: g, upstreams: [{name: a}]}\n"
        "clients:\n"
        "  - {name: team-a, key: '${TEAM_A_KEY}', ratelimit: {per_second: 5, burst: 20}}\n"
        "  - {name: team-b,\n"
        "     key_sha256: ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19}\n";
    static const char *const env[] = {"TEAM_A_KEY=sk-alice-0123456789abcdef", NULL};
    /* sha256("sk-alice-0123456789abcdef") */
    static const char *const secrets[] = {
        "sk-alice", "8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f",
        "ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19"};
    char *diags = NULL;
    struct config *cfg = ctu_load(with_clients, env, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    free(diags);
    state_free(st);
    st = state_create(cfg, NULL, 7);
    ck_assert_ptr_nonnull(st);
    state_client(st, "team-a", 6)->picks = 12;
    state_client(st, "team-a", 6)->limited = 3;

    buf_reset(&out);
    ck_assert(status_json_render(st, 1000, &out));
    ck_assert_ptr_nonnull(strstr(
        out.data, ",\"clients\":["
                  "{\"name\":\"team-a\",\"ratelimit\":{\"per_second\":5,\"burst\":20},"
                  "\"requests\":12,\"limited\":3},"
                  "{\"name\":\"team-b\",\"ratelimit\":null,\"requests\":0,\"limited\":0}]}\n"));
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        ck_assert_msg(strstr(out.data, secrets[i]) == NULL, "%s in %s", secrets[i], out.data);
}
END_TEST

static Suite *status_json_suite(void)
{
    Suite *s = suite_create("status_json");
    TCase *doc = tcase_create("document");
    TCase *esc = tcase_create("escaping");

    tcase_add_checked_fixture(doc, setup, teardown);
    tcase_add_test(doc, fresh_state_document);
    tcase_add_test(doc, live_values_follow_the_state);
    tcase_add_test(doc, clients_are_listed_without_secrets);
    tcase_add_test(doc, overflow_is_reported);
    suite_add_tcase(s, doc);
    tcase_add_checked_fixture(esc, setup, teardown);
    tcase_add_test(esc, escapes_specials_and_controls);
    tcase_add_test(esc, keeps_utf8_and_replaces_invalid_bytes);
    tcase_add_test(esc, every_byte_string_reads_back);
    suite_add_tcase(s, esc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(status_json_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
