/*
 * agent.cluster: the Redis URL (hostile spellings included), the password from ${VAR},
 * ranges and defaults, and unknown keys with their position.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf_cluster.h"
#include "config.h"
#include "util/conf_testutil.h"

static int parse(const char *url, struct conf_redis_url *out, char *err)
{
    return conf_redis_url_parse(url, out, err, 512);
}

START_TEST(urls_that_parse)
{
    struct conf_redis_url u;
    char err[512];

    ck_assert_int_eq(parse("redis://redis", &u, err), 0);
    ck_assert_str_eq(u.host, "redis");
    ck_assert_uint_eq(u.port, 6379);
    ck_assert_uint_eq(u.db, 0);
    ck_assert_int_eq(parse("REDIS://10.0.0.7:6380/2", &u, err), 0);
    ck_assert_str_eq(u.host, "10.0.0.7");
    ck_assert_uint_eq(u.port, 6380);
    ck_assert_uint_eq(u.db, 2);
    ck_assert_int_eq(parse("redis://[::1]:7000/", &u, err), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_uint_eq(u.port, 7000);
    ck_assert_int_eq(parse("redis://redis.llm.svc.cluster.local/255", &u, err), 0);
    ck_assert_uint_eq(u.db, 255);
}
END_TEST

START_TEST(hostile_urls_are_refused)
{
    static const char *const bad[] = {
        "",
        "redis://",
        "redis://:6379",
        "http://redis:6379",
        "redis://u:secret@redis",
        "redis://:secret@redis",
        "redis://redis:0",
        "redis://redis:65536",
        "redis://redis:99999999999",
        "redis://redis:-1",
        "redis://redis:63 79",
        "redis://redis/256",
        "redis://redis/1x",
        "redis://redis/0/1",
        "redis://redis?db=1",
        "redis://redis#x",
        "redis://[::1",
        "redis://[zz::1]",
        "redis://red is",
        "redis://redis\n:6379",
        "redis:///tmp/redis.sock",
    };
    struct conf_redis_url u;
    char err[512], host[300];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(parse(bad[i], &u, err) == -1, "accepted %s", bad[i]);
        ck_assert_msg(strstr(err, "allowed") != NULL, "%s: no 'allowed' in %s", bad[i], err);
    }
    /* A host name longer than DNS allows. */
    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    memcpy(host, "redis://", 8);
    ck_assert_int_eq(parse(host, &u, err), -1);
}
END_TEST

START_TEST(tls_is_refused_with_the_reason)
{
    struct conf_redis_url u;
    char err[512];

    ck_assert_int_eq(parse("rediss://redis:6380", &u, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no TLS"));
}
END_TEST

START_TEST(keys_load_with_defaults)
{
    static const char *const env[] = {"RPW=s3cret", NULL};
    struct config *cfg = ctu_load_env_ok(
        "agent:\n  cluster:\n    redis: {url: \"redis://r:7000/4\", password: \"${RPW}\"}\n", env);
    const struct conf_cluster *c = &cfg->agent.cluster;

    ck_assert(c->redis_enabled);
    ck_assert_str_eq(c->host, "r");
    ck_assert_uint_eq(c->port, 7000);
    ck_assert_uint_eq(c->db, 4);
    ck_assert_str_eq(c->password.val, "s3cret");
    ck_assert_uint_eq(c->timeout_ms, 5);
    ck_assert_str_eq(c->key_prefix.val, "");
    ck_assert_uint_eq(c->sync_interval_ms, 5);
    ck_assert_uint_eq(c->max_keys_per_sync, 1000);
    config_free(cfg);

    cfg = ctu_load_ok("agent: {}\n");
    ck_assert(!cfg->agent.cluster.redis_enabled);
    config_free(cfg);
}
END_TEST

START_TEST(errors_name_the_place_and_what_is_allowed)
{
    ctu_assert_errors("agent:\n  cluster:\n    redis: {password: x}\n",
                      "t.yaml:3:12: agent.cluster.redis.url: missing; required: "
                      "redis://HOST[:PORT][/DB]\n");
    ctu_assert_errors("agent:\n  cluster:\n    redis: {url: \"redis://r\"}\n    sync: 5\n",
                      "t.yaml:4:5: agent.cluster.sync: unknown key \"sync\"; allowed: redis, "
                      "sync_interval_ms, max_keys_per_sync\n");
    ctu_assert_errors("agent:\n  cluster:\n    redis: {url: \"redis://r\", key_prefix: \"a b\"}\n",
                      "t.yaml:3:43: agent.cluster.redis.key_prefix: \"a b\" is not allowed; at "
                      "most 64 letters, digits, '.', '_', ':' or '-'\n");
}
END_TEST

START_TEST(an_empty_password_is_refused_without_quoting_it)
{
    static const char *const env[] = {"RPW=", NULL};
    char *text = ctu_errors_env(
        "agent:\n  cluster:\n    redis: {url: \"redis://r\", password: \"${RPW}\"}\n", env);

    ck_assert_ptr_nonnull(strstr(text, "agent.cluster.redis.password: 0 bytes"));
    free(text);
}
END_TEST

static Suite *config_cluster_suite(void)
{
    Suite *s = suite_create("config_cluster");
    TCase *tc = tcase_create("cluster");

    tcase_add_test(tc, urls_that_parse);
    tcase_add_test(tc, hostile_urls_are_refused);
    tcase_add_test(tc, tls_is_refused_with_the_reason);
    tcase_add_test(tc, keys_load_with_defaults);
    tcase_add_test(tc, errors_name_the_place_and_what_is_allowed);
    tcase_add_test(tc, an_empty_password_is_refused_without_quoting_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_cluster_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
