/*
 * Reading an engine's load off its metrics page: vLLM's and SGLang's names, several series
 * summed, the fullest KV-cache share, and pages an upstream could send to confuse it.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_load.h"

static struct engine_load parse(enum engine_type type, const char *page)
{
    struct engine_load load;

    engine_load_parse(type, page, strlen(page), &load);
    return load;
}

/* A page as vLLM 0.x (V1 engine) serves it, trimmed to what matters and a neighbour. */
static const char vllm_page[] =
    "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B\"} 7.0\n"
    "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
    "# TYPE vllm:num_requests_waiting gauge\n"
    "vllm:num_requests_waiting{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B\"} 3.0\n"
    "# TYPE vllm:num_requests_waiting_by_reason gauge\n"
    "vllm:num_requests_waiting_by_reason{reason=\"capacity\"} 99.0\n"
    "# TYPE vllm:kv_cache_usage_perc gauge\n"
    "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B\"} 0.42\n";

START_TEST(vllm_v1_page)
{
    struct engine_load l = parse(ENGINE_VLLM, vllm_page);

    ck_assert(l.valid);
    ck_assert_double_eq(l.running, 7);
    ck_assert_double_eq(l.waiting, 3); /* not the _by_reason family that shares the prefix */
    ck_assert(l.has_kv);
    ck_assert_double_eq_tol(l.kv_usage, 0.42, 1e-9);
}
END_TEST

START_TEST(vllm_v0_cache_name_and_crlf)
{
    struct engine_load l = parse(ENGINE_VLLM, "vllm:num_requests_running 1\r\n"
                                              "vllm:num_requests_waiting 0 1700000000000\r\n"
                                              "vllm:gpu_cache_usage_perc 0.9\r\n");

    ck_assert(l.valid);
    ck_assert_double_eq(l.running, 1);
    ck_assert_double_eq(l.waiting, 0); /* a timestamp after the value is allowed */
    ck_assert_double_eq_tol(l.kv_usage, 0.9, 1e-9);
}
END_TEST

START_TEST(sglang_page)
{
    struct engine_load l = parse(ENGINE_SGLANG, "sglang:num_running_reqs{model_name=\"q\"} 12\n"
                                                "sglang:num_queue_reqs{model_name=\"q\"} 5\n"
                                                "sglang:token_usage{model_name=\"q\"} 0.75\n"
                                                "vllm:num_requests_waiting 100\n");

    ck_assert(l.valid);
    ck_assert_double_eq(l.running, 12);
    ck_assert_double_eq(l.waiting, 5);
    ck_assert_double_eq_tol(l.kv_usage, 0.75, 1e-9);
    /* The other engine's names are not read. */
    ck_assert(!parse(ENGINE_VLLM, "sglang:num_running_reqs 1\nsglang:num_queue_reqs 1\n").valid);
}
END_TEST

START_TEST(several_series_sum_counts_and_keep_the_fullest_cache)
{
    struct engine_load l = parse(ENGINE_VLLM, "vllm:num_requests_running{engine=\"0\"} 2\n"
                                              "vllm:num_requests_running{engine=\"1\"} 3\n"
                                              "vllm:num_requests_waiting{engine=\"0\"} 1\n"
                                              "vllm:num_requests_waiting{engine=\"1\"} 4\n"
                                              "vllm:kv_cache_usage_perc{engine=\"0\"} 0.2\n"
                                              "vllm:kv_cache_usage_perc{engine=\"1\"} 0.7\n");

    ck_assert_double_eq(l.running, 5);
    ck_assert_double_eq(l.waiting, 5);
    ck_assert_double_eq_tol(l.kv_usage, 0.7, 1e-9);
}
END_TEST

START_TEST(a_page_without_both_counts_is_not_valid)
{
    ck_assert(!parse(ENGINE_VLLM, "").valid);
    ck_assert(!parse(ENGINE_VLLM, "vllm:num_requests_running 1\n").valid);
    ck_assert(!parse(ENGINE_VLLM, "<html>502 Bad Gateway</html>").valid);
    struct engine_load l = parse(ENGINE_VLLM, "vllm:num_requests_running 1\n"
                                              "vllm:num_requests_waiting 0\n");
    ck_assert(l.valid);
    ck_assert(!l.has_kv);
}
END_TEST

START_TEST(hostile_values_are_skipped_or_capped)
{
    /* Not numbers, not finite, negative: skipped, so the gauge is missing. */
    const char *bad[] = {"NaN", "+Inf", "-Inf", "-1", "1e", "0x10", "", "12abc", "1e999"};
    char page[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(page, sizeof(page), "vllm:num_requests_running %s\nvllm:num_requests_waiting 0\n",
                 bad[i]);
        struct engine_load l = parse(ENGINE_VLLM, page);
        ck_assert_msg(!l.valid, "value '%s' was taken", bad[i]);
    }
    /* Huge counts are capped, shares above 1 read as 1: no score can overflow. */
    struct engine_load l = parse(ENGINE_VLLM, "vllm:num_requests_running 1e300\n"
                                              "vllm:num_requests_running 1e300\n"
                                              "vllm:num_requests_waiting 5e9\n"
                                              "vllm:kv_cache_usage_perc 7\n");
    ck_assert(l.valid);
    ck_assert_double_eq(l.running, ENGINE_LOAD_COUNT_MAX);
    ck_assert_double_eq(l.waiting, ENGINE_LOAD_COUNT_MAX);
    ck_assert_double_eq(l.kv_usage, 1.0);
}
END_TEST

START_TEST(labels_with_braces_quotes_and_no_end)
{
    struct engine_load l =
        parse(ENGINE_VLLM, "vllm:num_requests_running{model_name=\"a}b\\\"c\"} 4\n"
                           "vllm:num_requests_waiting{model_name=\"unterminated 9\n"
                           "vllm:num_requests_waiting{x=\"1\"} 2\n");

    ck_assert(l.valid);
    ck_assert_double_eq(l.running, 4);
    ck_assert_double_eq(l.waiting, 2); /* the line whose label never ends is skipped */
}
END_TEST

START_TEST(long_lines_nul_bytes_and_a_cut_page)
{
    size_t n = 1 << 20;
    char *page = malloc(n + 64);

    ck_assert_ptr_nonnull(page);
    memset(page, 'x', n);
    memcpy(page, "vllm:num_requests_running{a=\"", 29); /* a 1 MiB line: skipped */
    memcpy(page + n - 2, "1\n", 2);
    strcpy(page + n, "vllm:num_requests_waiting 1\nvllm:num_requests_running 2");
    struct engine_load l;
    engine_load_parse(ENGINE_VLLM, page, strlen(page), &l);
    ck_assert(l.valid);
    ck_assert_double_eq(l.running, 2); /* the last line has no newline: still read */
    ck_assert_double_eq(l.waiting, 1);

    /* A NUL inside a value makes it no number; lines after it are still read. */
    static const char with_nul[] = "vllm:num_requests_running 3\0 9\nvllm:num_requests_waiting 1\n"
                                   "vllm:kv_cache_usage_perc 0.5\n";
    engine_load_parse(ENGINE_VLLM, with_nul, sizeof(with_nul) - 1, &l);
    ck_assert(!l.valid);
    ck_assert_double_eq(l.waiting, 1);
    ck_assert_double_eq(l.kv_usage, 0.5);
    free(page);
}
END_TEST

static Suite *engine_load_suite(void)
{
    Suite *s = suite_create("engine_load");
    TCase *tc = tcase_create("engine_load");

    tcase_add_test(tc, vllm_v1_page);
    tcase_add_test(tc, vllm_v0_cache_name_and_crlf);
    tcase_add_test(tc, sglang_page);
    tcase_add_test(tc, several_series_sum_counts_and_keep_the_fullest_cache);
    tcase_add_test(tc, a_page_without_both_counts_is_not_valid);
    tcase_add_test(tc, hostile_values_are_skipped_or_capped);
    tcase_add_test(tc, labels_with_braces_quotes_and_no_end);
    tcase_add_test(tc, long_lines_nul_bytes_and_a_cut_page);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(engine_load_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
