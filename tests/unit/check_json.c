/*
 * llmproxy-ctl's JSON reader: values and look-ups, string escapes and surrogate pairs,
 * strict refusal of malformed documents with the byte position, and its bounds (depth,
 * memory).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char err[128];

static struct json_doc *parse(const char *text)
{
    return json_parse(text, strlen(text), 1 << 20, err, sizeof(err));
}

START_TEST(reads_values_and_looks_them_up)
{
    struct json_doc *doc = parse(" {\"n\": -1.5e2, \"s\": \"x\", \"t\": true, \"f\": false,"
                                 " \"z\": null, \"a\": [1, [], {}], \"o\": {\"k\": 0}}\n");
    const struct json_value *root, *a;
    double n;

    ck_assert_msg(doc != NULL, "%s", err);
    root = json_root(doc);
    ck_assert_int_eq(root->type, JSON_OBJECT);
    ck_assert(json_number(json_get(root, "n"), &n));
    ck_assert(n == -150);
    ck_assert_str_eq(json_string(json_get(root, "s")), "x");
    ck_assert(json_get(root, "t")->boolean);
    ck_assert_int_eq(json_get(root, "f")->type, JSON_BOOL);
    ck_assert(!json_get(root, "f")->boolean);
    ck_assert_int_eq(json_get(root, "z")->type, JSON_NULL);
    a = json_get(root, "a");
    ck_assert_int_eq(a->type, JSON_ARRAY);
    ck_assert(json_number(a->child, &n) && n == 1);
    ck_assert_int_eq(a->child->next->type, JSON_ARRAY);
    ck_assert_ptr_null(a->child->next->child);
    ck_assert_int_eq(a->child->next->next->type, JSON_OBJECT);
    ck_assert_ptr_null(a->child->next->next->next);
    ck_assert(json_number(json_get(json_get(root, "o"), "k"), &n) && n == 0);
    /* Missing members and wrong types answer NULL / false, never crash. */
    ck_assert_ptr_null(json_get(root, "missing"));
    ck_assert_ptr_null(json_get(a, "k"));
    ck_assert_ptr_null(json_get(NULL, "k"));
    ck_assert_ptr_null(json_string(json_get(root, "n")));
    ck_assert(!json_number(json_get(root, "s"), &n));
    ck_assert(!json_number(NULL, &n));
    json_free(doc);
}
END_TEST

START_TEST(decodes_escapes)
{
    struct json_doc *doc =
        parse("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\u20ac \\ud83d\\ude00 \\u0000!\"");
    const struct json_value *v;
    static const char expect[] = "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
                                 "\0!";

    ck_assert_msg(doc != NULL, "%s", err);
    v = json_root(doc);
    ck_assert_uint_eq(v->string_len, sizeof(expect) - 1);
    ck_assert_int_eq(memcmp(v->string, expect, sizeof(expect) - 1), 0);
    json_free(doc);
}
END_TEST

START_TEST(refuses_malformed_documents)
{
    static const struct {
        const char *text;
        const char *err;
    } bad[] = {
        {"", "byte 0: unexpected end of document"},
        {"{\"a\":1,}", "byte 7: expected a member name"},
        {"[1,]", "byte 3: unexpected character"},
        {"[1 2]", "byte 3: expected ']'"},
        {"{\"a\" 1}", "byte 5: expected ':'"},
        {"{a:1}", "byte 1: expected a member name"},
        {"01", "byte 1: unexpected data after the document"},
        {"1.", "byte 0: digit expected after '.'"},
        {"1e+", "byte 0: digit expected in exponent"},
        {"-", "byte 0: unexpected character"},
        {"tru", "byte 0: unexpected character"},
        {"\"abc", "byte 0: unterminated string"},
        {"\"a\nb\"", "byte 3: control character in string"},
        {"\"\\x\"", "byte 3: bad escape"},
        {"\"\\u12g4\"", "byte 3: bad \\u escape"},
        {"\"\\udc00\"", "byte 7: lone low surrogate"},
        {"\"\\ud800x\"", "byte 7: high surrogate without its low half"},
        {"\"\\ud800\\u0041\"", "byte 13: high surrogate without its low half"},
        {"{} {}", "byte 3: unexpected data after the document"},
        {"NaN", "byte 0: unexpected character"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_doc *doc = parse(bad[i].text);
        ck_assert_msg(doc == NULL, "accepted %s", bad[i].text);
        ck_assert_msg(strcmp(err, bad[i].err) == 0, "%s: got '%s', want '%s'", bad[i].text, err,
                      bad[i].err);
    }
}
END_TEST

START_TEST(reads_only_the_given_length)
{
    /* The text continues past `len`: what lies beyond is never looked at. */
    struct json_doc *doc = json_parse("[1]garbage", 3, 1 << 20, err, sizeof(err));

    ck_assert_msg(doc != NULL, "%s", err);
    json_free(doc);
    ck_assert_ptr_null(json_parse("\"abc\"", 4, 1 << 20, err, sizeof(err)));
    ck_assert_str_eq(err, "byte 0: unterminated string");
}
END_TEST

START_TEST(bounds_depth_and_memory)
{
    char deep[2 * JSON_MAX_DEPTH + 3];
    size_t n = 0;
    struct json_doc *doc;
    char *big;

    /* JSON_MAX_DEPTH nested arrays are fine, one more is refused. */
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        deep[n++] = ']';
    doc = json_parse(deep, n, 1 << 20, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    json_free(doc);
    memmove(deep + 1, deep, n);
    deep[0] = '[';
    deep[++n] = ']';
    ck_assert_ptr_null(json_parse(deep, n + 1, 1 << 20, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "nested deeper than 64"));

    /* 100000 elements do not fit a 64 KiB tree. */
    big = malloc(200002);
    ck_assert_ptr_nonnull(big);
    big[0] = '[';
    for (n = 1; n < 200000; n += 2)
        memcpy(big + n, "0,", 2);
    big[n - 1] = ']';
    ck_assert_ptr_null(json_parse(big, n, 64 * 1024, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "document too large"));
    doc = json_parse(big, n, 64 << 20, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    json_free(doc);
    free(big);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("reader");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, reads_values_and_looks_them_up);
    tcase_add_test(tc, decodes_escapes);
    tcase_add_test(tc, refuses_malformed_documents);
    tcase_add_test(tc, reads_only_the_given_length);
    tcase_add_test(tc, bounds_depth_and_memory);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
