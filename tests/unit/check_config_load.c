/*
 * Configuration loading: the seed README examples with their defaults, the model's
 * contents, anchors, and hostile or broken input (files, sizes, nesting, bombs).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_diag.h"
#include "config.h"
#include "util/conf_testutil.h"

#define DATA "tests/data/config/"

static struct config *load_file(const char *path, char **text)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load(path, &diags);

    *text = ctu_diags_text(&diags);
    conf_diags_free(&diags);
    return cfg;
}

static struct config *load_ok(const char *yaml)
{
    char *text;
    struct config *cfg = ctu_load(yaml, NULL, &text);

    ck_assert_msg(cfg != NULL, "unexpected errors:\n%s", text);
    ck_assert_str_eq(text, "");
    free(text);
    return cfg;
}

/* ---- seed README examples ------------------------------------------------------------- */

START_TEST(seed_full_loads_with_defaults)
{
    char *text;
    struct config *cfg = load_file(DATA "seed-full.yaml", &text);
    const struct conf_forward *f;
    const struct conf_upstream *u;
    const struct conf_group *g;

    ck_assert_msg(cfg != NULL, "%s", text);
    free(text);
    ck_assert_uint_eq(cfg->n_forwards, 1);
    f = &cfg->forwards[0];
    ck_assert_str_eq(f->name, "to_mixgroup");
    ck_assert_uint_eq(f->listen.port, 3000);
    ck_assert_str_eq(f->listen.address, "0.0.0.0");
    ck_assert_uint_eq(f->group, 0);
    ck_assert(f->ratelimit_enabled);
    ck_assert_uint_eq(f->ratelimit_per_second, 100);
    ck_assert_uint_eq(f->ratelimit_burst, 200);
    ck_assert_uint_eq(f->ratelimit_ipv6_prefix, 64);
    ck_assert_uint_eq(f->timeout_connect_s, 10);
    ck_assert_uint_eq(cfg->admin.listen.port, 9000);
    ck_assert_str_eq(cfg->admin.listen.address, "0.0.0.0");
    ck_assert_uint_eq(cfg->admin.timeout_connect_s, 10);

    ck_assert_uint_eq(cfg->n_upstreams, 2);
    u = &cfg->upstreams[0];
    ck_assert_str_eq(u->name, "openai_primary");
    ck_assert_str_eq(u->url.val, "https://api.openai.com/v1");
    ck_assert(u->parsed.tls);
    ck_assert_str_eq(u->parsed.host, "api.openai.com");
    ck_assert_uint_eq(u->parsed.port, 443);
    ck_assert(!u->parsed.port_explicit);
    ck_assert_str_eq(u->parsed.base_path, "/v1");
    ck_assert_int_eq(u->auth, AUTH_BEARER);
    ck_assert_str_eq(u->token.val, "YOUR_API_KEY");
    ck_assert_ptr_null(u->token.tmpl);
    ck_assert_uint_eq(u->n_headers, 1);
    ck_assert_int_eq(u->headers[0].op, HDR_INSERT);
    ck_assert_str_eq(u->headers[0].key.val, "X-Custom-Header");
    ck_assert_str_eq(u->headers[0].value.val, "MyProxyValue");
    ck_assert(u->breaker_enabled);
    ck_assert_double_eq(u->breaker_threshold, 0.5);
    ck_assert_uint_eq(u->breaker_cooldown_s, 30);
    u = &cfg->upstreams[1];
    ck_assert_str_eq(u->name, "anthropic_primary");
    ck_assert_str_eq(u->parsed.base_path, "");
    ck_assert(!u->breaker_enabled);
    ck_assert_str_eq(u->headers[0].key.val, "x-api-key");

    ck_assert_uint_eq(cfg->n_groups, 1);
    g = &cfg->groups[0];
    ck_assert_str_eq(g->name, "mixgroup");
    ck_assert_int_eq(g->strategy, BAL_WEIGHTED_ROUNDROBIN);
    ck_assert_uint_eq(g->n_members, 2);
    ck_assert_uint_eq(g->members[0].upstream, 0);
    ck_assert_uint_eq(g->members[0].weight, 8);
    ck_assert_uint_eq(g->members[1].upstream, 1);
    ck_assert_uint_eq(g->members[1].weight, 2);
    /* No max_in_flight: no limit, no queue. */
    ck_assert_uint_eq(g->members[0].max_in_flight, 0);
    ck_assert_uint_eq(g->client.queue_timeout_s, 5);
    ck_assert_str_eq(g->client.agent.val, "LLMProxy/1.0");
    ck_assert_uint_eq(g->client.keepalive_s, 60);
    ck_assert(g->client.stream);
    ck_assert_uint_eq(g->client.connect_timeout_s, 10);
    ck_assert_uint_eq(g->client.request_timeout_s, 300);
    ck_assert_uint_eq(g->client.idle_timeout_s, 60);
    ck_assert(g->client.retry_enabled);
    ck_assert_uint_eq(g->client.retry_attempts, 3);
    ck_assert_uint_eq(g->client.retry_initial_ms, 500);
    ck_assert(!g->client.proxy_enabled);
    ck_assert_str_eq(g->client.proxy_url.val, "http://user:pass@proxy:8080");
    ck_assert_str_eq(balance_strategy_name(g->strategy), "weighted_roundrobin");
    config_free(cfg);
}
END_TEST

START_TEST(seed_breaker_loads_with_defaults)
{
    char *text;
    struct config *cfg = load_file(DATA "seed-breaker.yaml", &text);
    const struct conf_group *g;

    ck_assert_msg(cfg != NULL, "%s", text);
    free(text);
    ck_assert_uint_eq(cfg->n_forwards, 0);
    ck_assert_uint_eq(cfg->admin.listen.port, 9000);
    ck_assert_uint_eq(cfg->n_upstreams, 2);
    ck_assert(cfg->upstreams[0].breaker_enabled);
    ck_assert_double_eq(cfg->upstreams[0].breaker_threshold, 0.5);
    ck_assert_uint_eq(cfg->upstreams[0].breaker_cooldown_s, 30);
    ck_assert_double_eq(cfg->upstreams[1].breaker_threshold, 0.3);
    ck_assert_uint_eq(cfg->upstreams[1].breaker_cooldown_s, 60);
    ck_assert_int_eq(cfg->upstreams[1].auth, AUTH_NONE);
    g = &cfg->groups[0];
    ck_assert_str_eq(g->name, "llm_services");
    ck_assert_int_eq(g->strategy, BAL_RESPONSE_AWARE);
    ck_assert_uint_eq(g->members[0].weight, 1);
    ck_assert_uint_eq(g->members[1].upstream, 1);
    ck_assert_str_eq(g->client.agent.val, "LLMProxy/1.0");
    ck_assert_uint_eq(g->client.keepalive_s, 60);
    ck_assert(g->client.stream);
    ck_assert_uint_eq(g->client.request_timeout_s, 300);
    ck_assert(!g->client.retry_enabled);
    ck_assert_uint_eq(g->client.retry_attempts, 3);
    /* Without agent.spop / agent.logs: unix sockets in run_dir, no TCP port. */
    ck_assert_ptr_null(cfg->agent.spop.address);
    ck_assert_str_eq(cfg->agent.spop.socket.val, "/run/llmproxy/agent-spop.sock");
    ck_assert_ptr_null(cfg->agent.logs.address);
    ck_assert_str_eq(cfg->agent.logs.socket.val, "/run/llmproxy/agent-logs.sock");
    ck_assert_uint_eq(cfg->agent.ratelimit_max_clients, 1000000);
    ck_assert_uint_eq(cfg->agent.decision_timeout_ms, 50);
    config_free(cfg);
}
END_TEST

START_TEST(docs_example_loads)
{
    static const char *const env[] = {"OPENAI_API_KEY=sk-o", "ANTHROPIC_API_KEY=sk-a", NULL};
    char *text, *yaml = NULL;
    size_t cap = 0, len;
    struct config *cfg;
    FILE *f = fopen(DATA "complete.yaml", "r");

    ck_assert_ptr_nonnull(f);
    len = getdelim(&yaml, &cap, '\0', f);
    fclose(f);
    ck_assert_uint_gt(len, 100);
    cfg = ctu_load(yaml, env, &text);
    ck_assert_msg(cfg != NULL, "%s", text);
    ck_assert_uint_eq(cfg->n_forwards, 2);
    ck_assert_uint_eq(cfg->n_upstreams, 4);
    ck_assert_uint_eq(cfg->n_groups, 2);
    ck_assert_uint_eq(cfg->forwards[1].group, 1);
    ck_assert_str_eq(cfg->upstreams[0].token.val, "sk-o");
    ck_assert_str_eq(cfg->upstreams[0].token.tmpl, "${OPENAI_API_KEY}");
    ck_assert_ptr_null(cfg->upstreams[0].headers[1].value.val);
    ck_assert_str_eq(cfg->upstreams[1].headers[0].value.tmpl, "${ANTHROPIC_API_KEY}");
    ck_assert_str_eq(cfg->upstreams[3].password.val, "change-me");
    ck_assert_uint_eq(cfg->groups[1].client.request_timeout_s, 600);
    config_free(cfg);
    free(text);
    free(yaml);
}
END_TEST

START_TEST(three_errors_reported_together)
{
    char *text;
    struct config *cfg = load_file(DATA "three-errors.yaml", &text);

    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(
        text,
        DATA "three-errors.yaml:7:27: http_server.forwards[0].upstream_group: group \"nope\" is "
             "not defined; defined groups: a, b\n" DATA
             "three-errors.yaml:11:22: http_server.forwards[0].ratelimit.burst: 50 is below "
             "per_second (100); burst must be >= per_second\n" DATA
             "three-errors.yaml:17:11: upstreams[0].breaker.treshold: unknown key \"treshold\"; "
             "did you mean \"threshold\"? (allowed: threshold, cooldown)\n");
    free(text);
}
END_TEST

/* ---- the model ------------------------------------------------------------------------ */

START_TEST(no_forwards_is_valid)
{
    struct config *cfg = load_ok("http_server:\n  admin: {port: 9001, address: 127.0.0.1}\n");

    ck_assert_uint_eq(cfg->n_forwards, 0);
    ck_assert_uint_eq(cfg->n_upstreams, 0);
    ck_assert_ptr_null(cfg->forwards);
    ck_assert_uint_eq(cfg->admin.listen.port, 9001);
    ck_assert_str_eq(cfg->file, CTU_FILE);
    config_free(cfg);
}
END_TEST

START_TEST(agent_block_and_aliases)
{
    struct config *cfg = load_ok("agent:\n"
                                 "  spop: {address: '::1', port: 9200}\n"
                                 "  logs: {port: 9201}\n"
                                 "  ratelimit_max_clients: 5000\n"
                                 "  decision_timeout_ms: 20\n"
                                 "http_server:\n"
                                 "  forwards:\n"
                                 "    - {name: f, default_group: g, port: 3001}\n"
                                 "upstreams:\n"
                                 "  - {name: u, url: 'HTTP://[2001:db8::1]:8080/base/'}\n"
                                 "upstream_groups:\n"
                                 "  - name: g\n"
                                 "    upstreams: [{name: u}]\n"
                                 "    balance: {strategy: failover}\n"
                                 "    http_client: {stream_mode: off, keepalive: 0}\n");

    ck_assert_str_eq(cfg->agent.spop.address, "::1");
    ck_assert_uint_eq(cfg->agent.spop.port, 9200);
    ck_assert_str_eq(cfg->agent.logs.address, "127.0.0.1");
    ck_assert_uint_eq(cfg->agent.logs.port, 9201);
    ck_assert_uint_eq(cfg->agent.ratelimit_max_clients, 5000);
    ck_assert_uint_eq(cfg->agent.decision_timeout_ms, 20);
    ck_assert_str_eq(cfg->forwards[0].group_name.val, "g");
    ck_assert_uint_eq(cfg->forwards[0].group, 0);
    ck_assert(!cfg->upstreams[0].parsed.tls);
    ck_assert_str_eq(cfg->upstreams[0].parsed.host, "2001:db8::1");
    ck_assert_uint_eq(cfg->upstreams[0].parsed.port, 8080);
    ck_assert(cfg->upstreams[0].parsed.port_explicit);
    ck_assert_str_eq(cfg->upstreams[0].parsed.base_path, "/base");
    ck_assert_int_eq(cfg->groups[0].strategy, BAL_FAILOVER);
    ck_assert(!cfg->groups[0].client.stream);
    ck_assert_uint_eq(cfg->groups[0].client.keepalive_s, 0);
    config_free(cfg);
}
END_TEST

START_TEST(positions_recorded)
{
    struct config *cfg = load_ok("upstreams:\n"
                                 "  - name: u\n"
                                 "    url: http://a\n"
                                 "upstream_groups:\n"
                                 "  - name: g\n"
                                 "    upstreams:\n"
                                 "      - weight: 3\n"
                                 "        name: u\n"
                                 "http_server:\n"
                                 "  forwards:\n"
                                 "    - name: f\n"
                                 "      upstream_group: g\n"
                                 "    - name: f2\n"
                                 "      port: 3001\n"
                                 "      upstream_group: g\n");

    ck_assert_uint_eq(cfg->upstreams[0].pos.line, 2);
    ck_assert_uint_eq(cfg->upstreams[0].pos.col, 11);
    ck_assert_str_eq(cfg->upstreams[0].pos.file, CTU_FILE);
    ck_assert_uint_eq(cfg->upstreams[0].url.pos.line, 3);
    ck_assert_uint_eq(cfg->upstreams[0].url.pos.col, 10);
    ck_assert_uint_eq(cfg->groups[0].members[0].pos.line, 8);
    ck_assert_uint_eq(cfg->groups[0].members[0].pos.col, 15);
    ck_assert_uint_eq(cfg->groups[0].members[0].weight, 3);
    /* A listener without port or address is where its forward is. */
    ck_assert_uint_eq(cfg->forwards[0].listen.pos.line, 11);
    ck_assert_uint_eq(cfg->forwards[1].listen.pos.line, 14);
    ck_assert_uint_eq(cfg->forwards[1].listen.pos.col, 13);
    config_free(cfg);
}
END_TEST

START_TEST(queue_keys_load)
{
    struct config *cfg = load_ok("upstreams:\n"
                                 "  - {name: u, url: http://a}\n"
                                 "  - {name: v, url: http://b}\n"
                                 "upstream_groups:\n"
                                 "  - name: g\n"
                                 "    upstreams: [{name: u, max_in_flight: 8}, {name: v}]\n"
                                 "    http_client: {timeout: {queue: 30}}\n");

    ck_assert_uint_eq(cfg->groups[0].members[0].max_in_flight, 8);
    ck_assert_uint_eq(cfg->groups[0].members[1].max_in_flight, 0);
    ck_assert_uint_eq(cfg->groups[0].client.queue_timeout_s, 30);
    config_free(cfg);
}
END_TEST

START_TEST(anchors_and_aliases_work)
{
    struct config *cfg =
        load_ok("x-client: &client\n"
                "  timeout: {request: 900}\n"
                "  retry: {enabled: yes}\n"
                "x-headers: &hdrs\n"
                "  - {op: replace, key: X-Team, value: &team blue}\n"
                "upstreams:\n"
                "  - {name: a, url: 'http://a', headers: *hdrs}\n"
                "  - {name: b, url: 'http://b', headers: *hdrs}\n"
                "  - {name: c, url: 'http://c', auth: {type: bearer, token: *team}}\n"
                "upstream_groups:\n"
                "  - {name: g1, upstreams: [{name: a}], http_client: *client}\n"
                "  - {name: g2, upstreams: [{name: b}], http_client: *client}\n");

    ck_assert_uint_eq(cfg->groups[0].client.request_timeout_s, 900);
    ck_assert_uint_eq(cfg->groups[1].client.request_timeout_s, 900);
    ck_assert(cfg->groups[1].client.retry_enabled);
    ck_assert_uint_eq(cfg->groups[1].client.idle_timeout_s, 60);
    ck_assert_str_eq(cfg->upstreams[1].headers[0].value.val, "blue");
    ck_assert_str_eq(cfg->upstreams[2].token.val, "blue");
    config_free(cfg);
}
END_TEST

START_TEST(merge_keys_refused)
{
    char *text = ctu_errors("x-a: &a {keepalive: 5}\n"
                            "upstream_groups:\n"
                            "  - name: g\n"
                            "    upstreams: [{name: u}]\n"
                            "    http_client: {<<: *a}\n"
                            "upstreams: [{name: u, url: 'http://u'}]\n");

    ck_assert_str_eq(text,
                     "t.yaml:5:19: upstream_groups[0].http_client.<<: merge keys (\"<<\") are "
                     "not supported; use an alias (*name) for the whole block, or write the "
                     "keys out (allowed: agent, keepalive, stream, timeout, retry, proxy)\n");
    free(text);
}
END_TEST

START_TEST(booleans_accept_yaml_words)
{
    static const char *const words[][2] = {
        {"true", "1"},  {"True", "1"}, {"YES", "1"}, {"on", "1"},
        {"false", "0"}, {"No", "0"},   {"OFF", "0"},
    };
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        char yaml[128];
        struct config *cfg;

        snprintf(yaml, sizeof(yaml),
                 "http_server: {forwards: []}\nupstreams: []\nagent: {}\n"
                 "x-b: %s\n",
                 words[i][0]);
        cfg = load_ok(yaml);
        config_free(cfg);
        snprintf(
            yaml, sizeof(yaml),
            "upstreams: [{name: u, url: 'http://u'}]\n"
            "upstream_groups: [{name: g, upstreams: [{name: u}], http_client: {stream: %s}}]\n",
            words[i][0]);
        cfg = load_ok(yaml);
        ck_assert_int_eq(cfg->groups[0].client.stream, words[i][1][0] == '1');
        config_free(cfg);
    }
}
END_TEST

START_TEST(strategy_names)
{
    ck_assert_str_eq(balance_strategy_name(BAL_ROUNDROBIN), "roundrobin");
    ck_assert_str_eq(balance_strategy_name(BAL_RANDOM), "random");
    ck_assert_str_eq(balance_strategy_name(BAL_RESPONSE_AWARE), "response_aware");
    ck_assert_str_eq(balance_strategy_name(BAL_FAILOVER), "failover");
    ck_assert_str_eq(balance_strategy_name((enum balance_strategy)42), "unknown");
}
END_TEST

/* ---- files ---------------------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_config_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *write_tmp(const char *name, const char *data, size_t len)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

/* The one message that loading `path` gives, with the file name replaced by "F". */
static void assert_file_error(const char *path, const char *expected_suffix)
{
    char *text, want[512];
    struct config *cfg = load_file(path, &text);

    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof(want), "%s%s\n", path, expected_suffix);
    ck_assert_str_eq(text, want);
    free(text);
}

START_TEST(missing_file)
{
    assert_file_error("tests/data/config/no-such-file.yaml",
                      ": cannot open: No such file or directory");
}
END_TEST

START_TEST(directory_refused)
{
    assert_file_error("tests/data/config", ": is a directory; expected a YAML file");
}
END_TEST

START_TEST(unreadable_file)
{
    if (geteuid() != 0) {
        const char *p = write_tmp("secret.yaml", "agent: {}\n", 10);

        ck_assert_int_eq(chmod(p, 0), 0);
        assert_file_error(p, ": cannot open: Permission denied");
    } else {
        /* root opens anything; a file that fails on read stands in. */
        assert_file_error("/proc/self/mem", ": cannot read: Input/output error");
    }
}
END_TEST

START_TEST(empty_inputs)
{
    static const char *const inputs[] = {"", "\n\n", "# just a comment\n", "---\n", "~\n"};
    size_t i;

    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        const char *p = write_tmp("empty.yaml", inputs[i], strlen(inputs[i]));

        assert_file_error(p, ": empty configuration; expected a mapping with http_server, "
                             "upstreams, upstream_groups and agent");
    }
}
END_TEST

START_TEST(binary_file)
{
    static const char data[] = "agent: {}\nupstreams: [\0\1\2]\n";
    const char *p = write_tmp("bin.yaml", data, sizeof(data) - 1);

    assert_file_error(p, ":2:13: binary file: a NUL byte at offset 22; expected YAML text");
}
END_TEST

static long max_rss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(huge_file_not_read)
{
    char path[128];
    long before = max_rss_kb();
    int fd;

    snprintf(path, sizeof(path), "%s/huge.yaml", tmpdir);
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    /* Sparse: 50 MB that take no disk, but would take memory if read. */
    ck_assert_int_eq(ftruncate(fd, 50 * 1024 * 1024), 0);
    close(fd);
    assert_file_error(path, ": the file is 52428800 bytes; at most 4194304 allowed");
    ck_assert_int_lt(max_rss_kb() - before, 16 * 1024);
}
END_TEST

START_TEST(oversized_buffer_and_stream)
{
    struct conf_diags diags = {0};
    size_t len = CONF_MAX_FILE_SIZE + 1;
    char *buf = calloc(1, len), *text;

    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_null(config_load_buf("big", buf, len, NULL, NULL, &diags));
    text = ctu_diags_text(&diags);
    ck_assert_str_eq(text, "big: the file is 4194305 bytes; at most 4194304 allowed\n");
    free(text);
    free(buf);
    conf_diags_free(&diags);
    /* A character device has no size: the bound applies while reading. */
    assert_file_error("/dev/zero", ": the file is larger than 4194304 bytes; at most 4194304 "
                                   "allowed");
}
END_TEST

START_TEST(deep_flow_nesting)
{
    size_t n = 100000;
    char *yaml = malloc(n + 2), *text;

    memset(yaml, '[', n);
    yaml[n] = '\n';
    yaml[n + 1] = '\0';
    text = ctu_errors(yaml);
    ck_assert_str_eq(text, "t.yaml:1:65: nesting deeper than 64 levels; a configuration needs "
                           "fewer than 10\n");
    free(text);
    free(yaml);
}
END_TEST

START_TEST(deep_mapping_nesting)
{
    size_t depth = 5000, i, o = 0;
    char *yaml = malloc(depth * 5 + 16), *text;

    o += (size_t)sprintf(yaml, "a: ");
    for (i = 0; i < depth; i++)
        o += (size_t)sprintf(yaml + o, "{a: ");
    o += (size_t)sprintf(yaml + o, "1");
    for (i = 0; i < depth; i++)
        yaml[o++] = '}';
    yaml[o] = '\0';
    text = ctu_errors(yaml);
    ck_assert_str_eq(text, "t.yaml:1:256: nesting deeper than 64 levels; a configuration needs "
                           "fewer than 10\n");
    free(text);
    free(yaml);
}
END_TEST

START_TEST(yaml_syntax_error)
{
    char *text = ctu_errors("http_server:\n  forwards:\n   - name: x\n  - bad\n");

    ck_assert_str_eq(text, "t.yaml:4:3: YAML syntax error: did not find expected key (while "
                           "parsing a block mapping at line 2:3)\n");
    free(text);
}
END_TEST

START_TEST(invalid_utf8)
{
    char *text = ctu_errors("agent: {}\nx-a: \"\xc3\x28\"\n");

    ck_assert_str_eq(text,
                     "t.yaml:2:8: invalid text: invalid trailing UTF-8 octet; the file must be "
                     "UTF-8 YAML\n");
    free(text);
}
END_TEST

START_TEST(several_documents)
{
    char *text = ctu_errors("agent: {}\n---\nagent: {}\n");

    ck_assert_str_eq(text, "t.yaml:2:1: a second YAML document (\"---\"); the configuration must "
                           "be a single document\n");
    free(text);
}
END_TEST

START_TEST(undefined_alias)
{
    char *text = ctu_errors("agent: *nothing\n");

    ck_assert_str_eq(text, "t.yaml:1:8: alias *nothing names no anchor defined before it (and "
                           "not an enclosing one); define &name first\n");
    free(text);
}
END_TEST

START_TEST(recursive_alias)
{
    char *text = ctu_errors("x-a: &a [1, *a]\n");

    ck_assert_str_eq(text, "t.yaml:1:13: alias *a names no anchor defined before it (and not an "
                           "enclosing one); define &name first\n");
    free(text);
}
END_TEST

/* Billion laughs: ten lists of ten aliases of the one before, 10^9 leaves if expanded. */
START_TEST(alias_bomb_stays_small)
{
    char yaml[4096], *text;
    size_t o = 0, i, j;
    long before = max_rss_kb();

    o += (size_t)snprintf(yaml, sizeof(yaml), "x-0: &l0 {name: a, url: 'http://a'}\n");
    for (i = 1; i < 10; i++) {
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "x-%zu: &l%zu [", i, i);
        for (j = 0; j < 10; j++)
            o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s*l%zu", j ? ", " : "", i - 1);
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "]\n");
    }
    snprintf(yaml + o, sizeof(yaml) - o, "upstreams: *l9\n");
    text = ctu_errors(yaml);
    /* The walk goes no deeper than the schema: ten list items that are not mappings,
     * reported where the aliased list is written. */
    ck_assert_ptr_nonnull(strstr(text, "t.yaml:9:6: upstreams[0]: found a list; expected a "
                                       "mapping\n"));
    ck_assert_ptr_nonnull(strstr(text, "upstreams[9]: found a list"));
    ck_assert_ptr_null(strstr(text, "upstreams[10]"));
    ck_assert_int_lt(max_rss_kb() - before, 16 * 1024);
    free(text);
}
END_TEST

/* Aliases multiply long strings: the arena limit stops the copy, not the machine. */
START_TEST(alias_multiplied_strings_hit_memory_limit)
{
    size_t cap = 64 * 1024, o = 0, i;
    char *yaml = malloc(cap), *text;

    o += (size_t)snprintf(yaml, cap, "x-v: &v \"");
    memset(yaml + o, 'B', 4000);
    o += 4000;
    o += (size_t)snprintf(yaml + o, cap - o, "\"\nx-h: &h\n");
    for (i = 0; i < 64; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  - {op: insert, key: X-%zu, value: *v}\n", i);
    o += (size_t)snprintf(yaml + o, cap - o,
                          "x-u: &u {name: a, url: 'http://a', headers: *h}\n"
                          "upstreams: [");
    for (i = 0; i < 4096; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "%s*u", i ? "," : "");
    snprintf(yaml + o, cap - o, "]\n");
    ck_assert_uint_lt(o, cap - 8);
    text = ctu_errors(yaml);
    ck_assert_str_eq(text, "t.yaml: the configuration is too large to load (memory limit "
                           "reached)\n");
    free(text);
    free(yaml);
}
END_TEST

START_TEST(too_many_nodes)
{
    size_t n = 300000, i;
    char *yaml = malloc(n * 2 + 16), *text;
    size_t o = (size_t)sprintf(yaml, "x-a: [");

    for (i = 0; i < n; i++) {
        yaml[o++] = '1';
        yaml[o++] = ',';
    }
    strcpy(yaml + o - 1, "]\n");
    text = ctu_errors(yaml);
    ck_assert_str_eq(text, "t.yaml:1:524289: the document has more than 262144 YAML nodes; a "
                           "configuration needs far fewer\n");
    free(text);
    free(yaml);
}
END_TEST

/* Lists longer than their bound are refused whole (and cost nothing to walk). */
START_TEST(list_caps)
{
    static const struct {
        const char *prefix, *item, *suffix, *expected;
        size_t count;
    } cases[] = {
        {"x-f: &f {name: f, upstream_group: g}\nhttp_server: {forwards: [", "*f", "]}\n",
         "t.yaml:2:25: http_server.forwards: the list has 4097 items; at most 4096 allowed\n",
         4097},
        {"x-u: &u {name: u, url: 'http://u'}\nupstreams: [", "*u", "]\n",
         "t.yaml:2:12: upstreams: the list has 4097 items; at most 4096 allowed\n", 4097},
        {"x-g: &g {name: g, upstreams: [{name: u}]}\nupstream_groups: [", "*g", "]\n",
         "t.yaml:2:18: upstream_groups: the list has 4097 items; at most 4096 allowed\n", 4097},
        {"x-m: &m {name: u}\nupstreams: [{name: u, url: 'http://u'}]\n"
         "upstream_groups: [{name: g, upstreams: [",
         "*m", "]}]\n",
         "t.yaml:3:40: upstream_groups[0].upstreams: the list has 257 items; at most 256 "
         "allowed\n",
         257},
        {"x-h: &h {op: remove, key: X-A}\nupstreams: [{name: u, url: 'http://u', headers: [", "*h",
         "]}]\n", "t.yaml:2:49: upstreams[0].headers: the list has 65 items; at most 64 allowed\n",
         65},
    };
    size_t c, i;

    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t cap = strlen(cases[c].prefix) + cases[c].count * 4 + 16, o;
        char *yaml = malloc(cap), *text;

        o = (size_t)snprintf(yaml, cap, "%s", cases[c].prefix);
        for (i = 0; i < cases[c].count; i++)
            o += (size_t)snprintf(yaml + o, cap - o, "%s%s", i ? "," : "", cases[c].item);
        snprintf(yaml + o, cap - o, "%s", cases[c].suffix);
        text = ctu_errors(yaml);
        ck_assert_str_eq(text, cases[c].expected);
        free(text);
        free(yaml);
    }
}
END_TEST

/* Every error is counted, CONF_MAX_DIAGS are kept and the rest summarised. */
START_TEST(many_errors_bounded)
{
    struct conf_diags diags = {0};
    size_t cap = 300 * 16 + 32, o, i;
    char *yaml = malloc(cap), *text;

    o = (size_t)snprintf(yaml, cap, "agent:\n");
    for (i = 0; i < 300; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  k%zu: 1\n", i);
    ck_assert_ptr_null(config_load_buf("m.yaml", yaml, o, NULL, NULL, &diags));
    ck_assert_uint_eq(diags.n, CONF_MAX_DIAGS);
    ck_assert_uint_eq(diags.dropped, 100);
    ck_assert_uint_eq(conf_diags_count(&diags), 300);
    text = ctu_diags_text(&diags);
    ck_assert_ptr_nonnull(strstr(text, "m.yaml:2:3: agent.k0: unknown key \"k0\"; allowed:"));
    ck_assert_ptr_nonnull(strstr(text, "\nm.yaml: 100 more errors not shown\n"));
    free(text);
    free(yaml);
    conf_diags_free(&diags);
}
END_TEST

static Suite *load_suite(void)
{
    Suite *s = suite_create("config_load");
    TCase *seed = tcase_create("seed"), *model = tcase_create("model");
    TCase *files = tcase_create("files"), *hostile = tcase_create("hostile");

    tcase_add_test(seed, seed_full_loads_with_defaults);
    tcase_add_test(seed, seed_breaker_loads_with_defaults);
    tcase_add_test(seed, docs_example_loads);
    tcase_add_test(seed, three_errors_reported_together);
    suite_add_tcase(s, seed);

    tcase_add_test(model, no_forwards_is_valid);
    tcase_add_test(model, agent_block_and_aliases);
    tcase_add_test(model, positions_recorded);
    tcase_add_test(model, queue_keys_load);
    tcase_add_test(model, anchors_and_aliases_work);
    tcase_add_test(model, merge_keys_refused);
    tcase_add_test(model, booleans_accept_yaml_words);
    tcase_add_test(model, strategy_names);
    suite_add_tcase(s, model);

    tcase_add_checked_fixture(files, make_tmpdir, remove_tmpdir);
    tcase_add_test(files, missing_file);
    tcase_add_test(files, directory_refused);
    tcase_add_test(files, unreadable_file);
    tcase_add_test(files, empty_inputs);
    tcase_add_test(files, binary_file);
    tcase_add_test(files, huge_file_not_read);
    tcase_add_test(files, oversized_buffer_and_stream);
    suite_add_tcase(s, files);

    tcase_set_timeout(hostile, 60);
    tcase_add_test(hostile, deep_flow_nesting);
    tcase_add_test(hostile, deep_mapping_nesting);
    tcase_add_test(hostile, yaml_syntax_error);
    tcase_add_test(hostile, invalid_utf8);
    tcase_add_test(hostile, several_documents);
    tcase_add_test(hostile, undefined_alias);
    tcase_add_test(hostile, recursive_alias);
    tcase_add_test(hostile, alias_bomb_stays_small);
    tcase_add_test(hostile, alias_multiplied_strings_hit_memory_limit);
    tcase_add_test(hostile, too_many_nodes);
    tcase_add_test(hostile, list_caps);
    tcase_add_test(hostile, many_errors_bounded);
    suite_add_tcase(s, hostile);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(load_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
