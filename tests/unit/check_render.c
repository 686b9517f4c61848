/*
 * llmproxy-ctl render: golden files, secrets, determinism, quoting, error files, pinned
 * backends for groups without retries, the haproxy block's global settings and the output
 * folder.
 *
 * Golden files live in tests/data/render/<fixture>.<file>; LLMPROXY_UPDATE_GOLDEN=1
 * rewrites them from the current renderer (review the diff before committing).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_sockets.h"
#include "config.h"
#include "render.h"
#include "render_topology.h"
#include "util/conf_testutil.h"

#define RENDER_DATA "tests/data/render/"
#define FIXED_DIR   "/etc/llmproxy/rendered"

/* The environment of rich.yaml: every value here is a secret that must not leak. */
static const char *const rich_env[] = {
    "RICH_OPENAI_KEY=sk-rich-secret-0001",
    "RICH_USER=svc-user-0003",
    "RICH_PASS=svc-secret-0002",
    NULL,
};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static struct config *load_fixture(const char *path, const char *const *env)
{
    struct conf_diags diags = {0};
    struct config *cfg;
    size_t len;
    char *yaml = read_all(path, &len), *text;

    ck_assert_msg(yaml != NULL, "cannot read %s", path);
    cfg = config_load_buf(path, yaml, len, ctu_getenv, (void *)env, &diags);
    text = ctu_diags_text(&diags);
    ck_assert_msg(cfg != NULL, "%s does not load:\n%s", path, text);
    free(text);
    conf_diags_free(&diags);
    free(yaml);
    return cfg;
}

typedef void (*render_fn)(const struct config *cfg, struct render_out *r);

/* Render into memory with these options; the text is malloc'd. */
static char *render_mem_opts(const struct config *cfg, render_fn fn, const struct render_opts *o,
                             char *err)
{
    struct render_out r = {.opts = o};
    char *text = NULL;
    size_t len = 0;

    r.f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(r.f);
    fn(cfg, &r);
    fclose(r.f);
    if (err)
        strcpy(err, r.failed ? r.err : "");
    else
        ck_assert_msg(!r.failed, "render failed: %s", r.err);
    return text;
}

/* Render into memory; the text is malloc'd. `err` (may be NULL) gets a failure. */
static char *render_mem(const struct config *cfg, render_fn fn, const char *const *env, char *err)
{
    struct render_opts o = {.dir = FIXED_DIR, .getenv_fn = ctu_getenv, .getenv_ctx = (void *)env};

    return render_mem_opts(cfg, fn, &o, err);
}

/*
 * Where two texts first differ, as "line N: got '...', want '...'" (each line cut short):
 * the whole text would not fit in a Check message.
 */
static void first_difference(const char *got, const char *want, char *out, size_t size)
{
    size_t i, line = 1, from = 0, got_len, want_len;

    for (i = 0; got[i] && got[i] == want[i]; i++) {
        if (got[i] == '\n') {
            line++;
            from = i + 1;
        }
    }
    got += from;
    want += from;
    got_len = strcspn(got, "\n");
    want_len = strcspn(want, "\n");
    snprintf(out, size, "line %zu: got '%.*s', want '%.*s'", line,
             (int)(got_len > 200 ? 200 : got_len), got, (int)(want_len > 200 ? 200 : want_len),
             want);
}

static void assert_golden(const char *fixture, const char *file, const char *got)
{
    char path[256], diff[512] = "";
    char *want;

    snprintf(path, sizeof(path), RENDER_DATA "%s.%s", fixture, file);
    if (getenv("LLMPROXY_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");

        ck_assert_ptr_nonnull(f);
        fputs(got, f);
        fclose(f);
    }
    want = read_all(path, NULL);
    ck_assert_msg(want != NULL, "missing golden file %s (LLMPROXY_UPDATE_GOLDEN=1 writes it)",
                  path);
    if (strcmp(got, want) != 0)
        first_difference(got, want, diff, sizeof(diff));
    ck_assert_msg(strcmp(got, want) == 0, "%s differs from the rendered text, %s", path, diff);
    free(want);
}

static void golden_case(const char *yaml, const char *fixture, const char *const *env)
{
    struct config *cfg = load_fixture(yaml, env);
    char *text;

    text = render_mem(cfg, render_haproxy_cfg, env, NULL);
    assert_golden(fixture, RENDER_HAPROXY_CFG, text);
    free(text);
    text = render_mem(cfg, render_spoe_pick, env, NULL);
    assert_golden(fixture, RENDER_SPOE_PICK, text);
    free(text);
    if (render_topology(cfg).retries) {
        text = render_mem(cfg, render_spoe_attempt, env, NULL);
        assert_golden(fixture, RENDER_SPOE_ATTEMPT, text);
        free(text);
    }
    config_free(cfg);
}

START_TEST(golden_seed_full)
{
    golden_case("tests/data/config/seed-full.yaml", "seed-full", NULL);
}
END_TEST

START_TEST(golden_rich)
{
    golden_case(RENDER_DATA "rich.yaml", "rich", rich_env);
}
END_TEST

START_TEST(golden_client_address)
{
    golden_case(RENDER_DATA "client-address.yaml", "client-address", NULL);
}
END_TEST

START_TEST(golden_routing)
{
    golden_case(RENDER_DATA "routing.yaml", "routing", NULL);
}
END_TEST

/* GET /v1/models: exact model rules, then the models of the groups the forward reaches,
 * each once; a forward without model rules has no list. */
START_TEST(routing_model_list)
{
    struct config *cfg = load_fixture(RENDER_DATA "routing.yaml", NULL);
    struct render_opts o = {.dir = FIXED_DIR};
    struct render_out r = {.opts = &o};
    char *text = NULL;
    size_t len = 0;

    r.f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(r.f);
    render_models_list(cfg, 0, &r);
    fclose(r.f);
    ck_assert(!r.failed);

    ck_assert_str_eq(text, "{\"object\":\"list\",\"data\":["
                           "{\"id\":\"llama-3.1-70b\",\"object\":\"model\",\"created\":0,"
                           "\"owned_by\":\"vllm\"},"
                           "{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":0,"
                           "\"owned_by\":\"openai\"},"
                           "{\"id\":\"llama-3.1-8b\",\"object\":\"model\",\"created\":0,"
                           "\"owned_by\":\"vllm\"}]}\n");
    ck_assert(render_has_model_rules(&cfg->forwards[0]));
    ck_assert(!render_has_model_rules(&cfg->forwards[1]));
    free(text);
    config_free(cfg);
}
END_TEST

START_TEST(secrets_from_env_never_written)
{
    struct config *cfg = load_fixture(RENDER_DATA "rich.yaml", rich_env);
    render_fn fns[] = {render_haproxy_cfg, render_spoe_pick, render_spoe_attempt};
    size_t i, k;

    for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        char *text = render_mem(cfg, fns[i], rich_env, NULL);

        for (k = 0; rich_env[k]; k++) {
            const char *secret = strchr(rich_env[k], '=') + 1;

            ck_assert_msg(strstr(text, secret) == NULL, "secret %s written", secret);
        }
        free(text);
    }
    /* ...and they are referenced instead. */
    {
        char *text = render_mem(cfg, render_haproxy_cfg, rich_env, NULL);

        ck_assert_ptr_nonnull(strstr(text, "\"Bearer ${RICH_OPENAI_KEY}\""));
        ck_assert_ptr_nonnull(strstr(text, "\"${RICH_USER}:${RICH_PASS}\""));
        free(text);
    }
    config_free(cfg);
}
END_TEST

START_TEST(render_is_deterministic)
{
    struct config *a = load_fixture(RENDER_DATA "rich.yaml", rich_env);
    struct config *b = load_fixture(RENDER_DATA "rich.yaml", rich_env);
    char *ta = render_mem(a, render_haproxy_cfg, rich_env, NULL);
    char *tb = render_mem(b, render_haproxy_cfg, rich_env, NULL);
    char *tc = render_mem(a, render_haproxy_cfg, rich_env, NULL);

    ck_assert_str_eq(ta, tb);
    ck_assert_str_eq(ta, tc);
    free(ta);
    free(tb);
    free(tc);
    config_free(a);
    config_free(b);
}
END_TEST

/* ---- quoting ---- */

struct quote_case {
    const char *in;
    bool log_format;
    const char *out;
};

static const struct quote_case quote_cases[] = {
    {"plain", false, "\"plain\""},
    {"a\"b", false, "\"a\\\"b\""},
    {"a\\b", false, "\"a\\\\b\""},
    {"$HOME ${X}", false, "\"\\$HOME \\${X}\""},
    {"50%", false, "\"50%\""},
    {"50% %[src]", true, "\"50%% %%[src]\""},
    {"# not a comment 'x'", true, "\"# not a comment 'x'\""},
    {"", false, "\"\""},
};

START_TEST(quoting)
{
    const struct quote_case *c = &quote_cases[_i];
    struct render_opts o = {.dir = FIXED_DIR};
    struct render_out r = {.opts = &o};
    char *text = NULL;
    size_t len = 0;

    r.f = open_memstream(&text, &len);
    render_quoted(&r, c->in, c->log_format, "value");
    fclose(r.f);
    ck_assert(!r.failed);
    ck_assert_str_eq(text, c->out);
    free(text);
}
END_TEST

static char *quote_str(const struct conf_str *s, bool log_format, const char *const *env, char *err)
{
    struct render_opts o = {.dir = FIXED_DIR, .getenv_fn = ctu_getenv, .getenv_ctx = (void *)env};
    struct render_out r = {.opts = &o};
    char *text = NULL;
    size_t len = 0;

    r.f = open_memstream(&text, &len);
    render_conf_str(&r, s, log_format, "value");
    fclose(r.f);
    strcpy(err, r.failed ? r.err : "");
    return text;
}

START_TEST(control_characters_refused)
{
    struct conf_str s = {.val = "a\r\nX-Injected: 1"};
    char err[RENDER_ERR_SIZE];
    char *text = quote_str(&s, true, NULL, err);

    ck_assert_ptr_nonnull(strstr(err, "value contains a control character (0x0d)"));
    free(text);
}
END_TEST

/* HTTP allows a tab in a field value; HAProxy's parser reads "\t" inside double quotes. */
START_TEST(tab_written_escaped)
{
    struct conf_str s = {.val = "a\tb"};
    char err[RENDER_ERR_SIZE];
    char *text = quote_str(&s, true, NULL, err);

    ck_assert_str_eq(err, "");
    ck_assert_str_eq(text, "a\\tb");
    free(text);
}
END_TEST

START_TEST(templates)
{
    static const char *const env[] = {"SET=v", "EMPTY=", "PCT=50%off", NULL};
    char err[RENDER_ERR_SIZE];
    struct conf_str s = {.val = "ignored"};
    char *text;

    s.tmpl = "k-${SET}-${SET:-d}-${UNSET:-d$f}-${EMPTY:-e}-$$-$x";
    text = quote_str(&s, true, env, err);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(text, "k-${SET}-${SET}-d\\$f-e-\\$-\\$x");
    free(text);

    /* A value HAProxy would read as a log-format tag is refused where it matters only. */
    s.tmpl = "${PCT}";
    text = quote_str(&s, true, env, err);
    ck_assert_ptr_nonnull(strstr(err, "environment variable PCT contains '%'"));
    free(text);
    text = quote_str(&s, false, env, err);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(text, "${PCT}");
    free(text);
}
END_TEST

/* ---- pieces ---- */

START_TEST(errorfiles_are_complete_responses)
{
    size_t i;

    for (i = 0; render_errorfiles[i]; i++) {
        const struct render_error *e = render_errorfiles[i];
        struct render_out r = {0};
        char *text = NULL, *body, *cl, status[16];
        size_t len = 0;

        r.f = open_memstream(&text, &len);
        render_errorfile(e, &r);
        fclose(r.f);
        snprintf(status, sizeof(status), "HTTP/1.1 %d ", e->status);
        ck_assert_msg(strncmp(text, status, strlen(status)) == 0, "%s", text);
        ck_assert_ptr_nonnull(strstr(text, "\r\nContent-Type: application/json\r\n"));
        body = strstr(text, "\r\n\r\n");
        cl = strstr(text, "Content-Length: ");
        ck_assert_ptr_nonnull(body);
        ck_assert_ptr_nonnull(cl);
        body += 4;
        ck_assert_uint_eq(strtoul(cl + 16, NULL, 10), strlen(body));
        ck_assert_ptr_nonnull(strstr(body, e->code));
        free(text);
    }
}
END_TEST

START_TEST(base64_of_literal_basic_auth)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"a", "YQ=="},
             {"ab:", "YWI6"},
             {"a:b", "YTpi"},
             {"alice:p@ss:w$rd", "YWxpY2U6cEBzczp3JHJk"}};
    char out[64];
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        render_base64((const unsigned char *)v[i].in, strlen(v[i].in), out);
        ck_assert_str_eq(out, v[i].out);
    }
}
END_TEST

/* A proxied group's members go through the agent's tunnel socket, TLS still end to end,
 * and the proxy's credentials stay with the agent. */
START_TEST(outbound_proxy_through_tunnel)
{
    static const char yaml[] =
        "upstreams: [{name: u, url: 'https://api.example.com/v1'}, {name: ip, url: "
        "'https://10.0.0.9'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: u}, {name: ip}], http_client: {proxy: "
        "{enabled: true, url: 'http://corp:hunter2@proxy:3128'}}}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g}]}\n"
        "haproxy: {run_dir: '/run/llm'}\n";
    char *diags, *text, err[RENDER_ERR_SIZE];
    struct config *cfg = ctu_load(yaml, NULL, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    text = render_mem(cfg, render_haproxy_cfg, NULL, err);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(strstr(text, "    server u \"unix@/run/llm/tunnel_g__u.sock\" ssl verify "
                                       "required ca-file @system-ca sni str(api.example.com) "
                                       "alpn http/1.1 pool-purge-delay 30000ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "    server ip \"unix@/run/llm/tunnel_g__ip.sock\" ssl "
                                       "verify required ca-file @system-ca verifyhost 10.0.0.9 "
                                       "alpn http/1.1 pool-purge-delay 30000ms\n"));
    ck_assert_ptr_null(strstr(text, "hunter2"));
    ck_assert_ptr_null(strstr(text, "proxy:3128"));
    free(text);
    free(diags);
    config_free(cfg);
}
END_TEST

/* The internal hops: HAProxy's listeners and, by default, the agent on unix sockets in
 * run_dir (the listeners mode 600); address/port keep the agent on TCP. */
START_TEST(internal_hops_on_unix_sockets)
{
    static const char yaml[] = "upstreams: [{name: u, url: 'http://u'}]\n"
                               "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
                               "haproxy: {run_dir: '/run/llm'}\n";
    char *diags, *text, err[RENDER_ERR_SIZE], listener[CONF_SOCKET_PATH_MAX], want[256];
    struct config *cfg = ctu_load(yaml, NULL, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    text = render_mem(cfg, render_haproxy_cfg, NULL, err);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(conf_listener_socket(listener, "/run/llm", "g", "u"), 0);
    snprintf(want, sizeof(want), "    server u \"unix@%s\" weight 1\n", listener);
    ck_assert_ptr_nonnull(strstr(text, want));
    snprintf(want, sizeof(want), "    bind \"unix@%s\" mode 600\n", listener);
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_nonnull(strstr(text, "    server logfeed \"unix@/run/llm/agent-logs.sock\" "
                                       "log-proto octet-count\n"));
    ck_assert_ptr_nonnull(strstr(text, "    server agent \"unix@/run/llm/agent-spop.sock\" check"));
    ck_assert_ptr_null(strstr(text, "abns@"));
    free(text);
    free(diags);
    config_free(cfg);

    cfg =
        ctu_load("agent: {spop: {address: '::1', port: 9200}, logs: {port: 9201}}\n", NULL, &diags);
    ck_assert_msg(cfg != NULL, "%s", diags);
    text = render_mem(cfg, render_haproxy_cfg, NULL, err);
    ck_assert_ptr_nonnull(strstr(text, "    server logfeed \"127.0.0.1:9201\" log-proto"));
    ck_assert_ptr_nonnull(strstr(text, "    server agent \"[::1]:9200\" check"));
    free(text);
    free(diags);
    config_free(cfg);
}
END_TEST

START_TEST(weights_scaled_to_haproxy_range)
{
    static const char yaml[] =
        "upstreams: [{name: a, url: 'http://a'}, {name: b, url: 'http://b'}, "
        "{name: c, url: 'http://c'}]\n"
        "upstream_groups: [{name: g, balance: {strategy: weighted_roundrobin}, upstreams: "
        "[{name: a, weight: 65535}, {name: b, weight: 1000}, {name: c, weight: 1}]}]\n";
    char *diags, *text, err[RENDER_ERR_SIZE];
    struct config *cfg = ctu_load(yaml, NULL, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    text = render_mem(cfg, render_haproxy_cfg, NULL, err);
    ck_assert_str_eq(err, "");
    /* HAProxy takes 1..256: proportions kept, never 0. */
    ck_assert_ptr_nonnull(strstr(text, "    server a "));
    ck_assert_ptr_nonnull(strstr(strstr(text, "    server a "), " weight 256\n"));
    ck_assert_ptr_nonnull(strstr(strstr(text, "    server b "), " weight 4\n"));
    ck_assert_ptr_nonnull(strstr(strstr(text, "    server c "), " weight 1\n"));
    free(text);
    free(diags);
    config_free(cfg);
}
END_TEST

/* haproxy.cfg rendered from `yaml`, which must load and render cleanly; the caller frees it. */
static char *rendered_cfg(const char *yaml)
{
    char *diags, *text, err[RENDER_ERR_SIZE];
    struct config *cfg = ctu_load(yaml, NULL, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    text = render_mem(cfg, render_haproxy_cfg, NULL, err);
    ck_assert_str_eq(err, "");
    free(diags);
    config_free(cfg);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* A plain http member of a proxied group, in its listener and its pinned backend, turns
 * the tunnel's marked answer into the JSON 502 upstream_unreachable; a TLS member's
 * handshake fails by itself, and a group without a proxy has no such rule. */
START_TEST(proxy_tunnel_answer_for_plain_http)
{
    static const char yaml[] =
        "upstreams: [{name: tls, url: 'https://api.example.com/v1'}, {name: plain, url: "
        "'http://10.0.0.9:8000'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: tls}, {name: plain}], http_client: "
        "{proxy: {enabled: true, url: 'http://proxy:3128'}}},\n"
        "  {name: d, upstreams: [{name: plain}]}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g}, {name: e, port: 3001, "
        "upstream_group: d}]}\n"
        "haproxy: {run_dir: '/run/llm'}\n";
    static const char rule[] =
        "    http-response return status 502 content-type application/json string "
        "\"{\\\"error\\\":{\\\"message\\\":\\\"upstream unreachable\\\",\\\"type\\\":"
        "\\\"server_error\\\",\\\"code\\\":\\\"upstream_unreachable\\\"}}\" "
        "if { res.hdr(x-llmproxy-tunnel) -m str unreachable }\n"
        "    server plain \"unix@/run/llm/tunnel_g__plain.sock\"";
    char *text = rendered_cfg(yaml);

    ck_assert_msg(count_of(text, rule) == 2, "%s", text);
    /* Elsewhere only each frontend's removal of an upstream's own header. */
    ck_assert_uint_eq(count_of(text, "    http-response del-header x-llmproxy-tunnel\n"), 2);
    ck_assert_uint_eq(count_of(text, "x-llmproxy-tunnel"), 4);
    free(text);
}
END_TEST

/* max_in_flight: the member's server line in the group backend has maxconn, the group
 * backend a queue timeout and its own 503; the group has no pinned backends. */
START_TEST(queued_group_backend)
{
    static const char yaml[] =
        "upstreams: [{name: a, url: 'http://a:8000'}, {name: b, url: 'http://b:8000'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: a, max_in_flight: 3}, {name: b}]}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g}]}\n"
        "haproxy: {run_dir: '/run/llm'}\n";
    char *text = rendered_cfg(yaml);

    ck_assert_ptr_nonnull(strstr(text,
                                 "    timeout queue 5s\n"
                                 "    http-error status 503 content-type application/json "
                                 "string \"{\\\"error\\\":{\\\"message\\\":\\\"upstream "
                                 "saturated\\\",\\\"type\\\":\\\"server_error\\\",\\\"code\\\":"
                                 "\\\"upstream_saturated\\\"}}\" hdr Retry-After \"1\"\n"));
    ck_assert_ptr_nonnull(strstr(text, ".sock\" weight 1 maxconn 3\n"));
    ck_assert_uint_eq(count_of(text, "maxconn"), 1);
    ck_assert_ptr_null(strstr(text, "backend pin_g__"));
    ck_assert_ptr_null(strstr(text, "use_backend pin_"));
    free(text);
}
END_TEST

/* Each group's idle timeout reaches its upstreams' servers as half a purge delay; the
 * shortest also reaches every other server, so HAProxy's one purge task runs that often.
 * Idle timeouts of 10 s and more purge no more often than HAProxy's default 5 s. */
START_TEST(idle_timeout_purges_server_pools)
{
    static const char yaml[] =
        "upstreams: [{name: a, url: 'http://10.0.0.1'}, {name: b, url: 'http://10.0.0.2'}]\n"
        "upstream_groups:\n"
        "  - {name: g1, upstreams: [{name: a}], http_client: {timeout: {idle: 3}}}\n"
        "  - {name: g2, upstreams: [{name: b}]}\n"
        "http_server: {forwards: [{name: f1, upstream_group: g1, port: 3001},\n"
        "                         {name: f2, upstream_group: g2, port: 3002}]}\n";
    static const char long_idle[] =
        "upstreams: [{name: a, url: 'http://10.0.0.1'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: a}], http_client: {timeout: {idle: "
        "10}}}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g}]}\n";
    char *text = rendered_cfg(yaml);

    ck_assert_ptr_nonnull(strstr(text, "    server a \"10.0.0.1:80\" pool-purge-delay 1500ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "    server b \"10.0.0.2:80\" pool-purge-delay 30000ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "defaults\n"));
    ck_assert_ptr_nonnull(
        strstr(strstr(text, "defaults\n"), "    default-server pool-purge-delay 1500ms\n"));
    free(text);
    text = rendered_cfg(long_idle);
    ck_assert_ptr_nonnull(strstr(text, " pool-purge-delay 5000ms\n"));
    ck_assert_ptr_null(strstr(text, "default-server"));
    free(text);
}
END_TEST

START_TEST(outbound_proxy_run_dir_too_long)
{
    char yaml[512], dir[120], *diags;
    struct config *cfg;

    /* The internal listeners' sockets need less room than the tunnels': the configuration
     * refuses such a run_dir before anything is rendered. */
    memset(dir, 'd', sizeof(dir) - 1);
    dir[0] = '/';
    dir[sizeof(dir) - 1] = '\0';
    snprintf(yaml, sizeof(yaml),
             "upstreams: [{name: u, url: 'https://u'}]\n"
             "upstream_groups: [{name: g, upstreams: [{name: u}], http_client: {proxy: "
             "{enabled: true, url: 'http://proxy:3128'}}}]\n"
             "http_server: {forwards: [{name: f, upstream_group: g}]}\n"
             "haproxy: {run_dir: '%s'}\n",
             dir);
    /* Refused before render, which could not write the tunnel's address. */
    cfg = ctu_load(yaml, NULL, &diags);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(diags, "t.yaml:4:20: haproxy.run_dir: 119 bytes long; at most 70, so that the "
                            "unix sockets under it fit the 107-byte socket address limit\n");
    free(diags);
}
END_TEST

/* ---- pinned backends: one layer for groups without retries ---- */

/* Group g retries nothing, so the agent's choice is final; group r retries. */
static const char pinned_yaml[] =
    "upstreams: [{name: a, url: 'https://a.example/v1'}, {name: b, url: 'http://b:8080'}]\n"
    "upstream_groups:\n"
    "  - {name: g, upstreams: [{name: a}, {name: b}]}\n"
    "  - {name: r, upstreams: [{name: a}, {name: b}], http_client: {retry: {enabled: true}}}\n"
    "http_server: {forwards: [{name: f, port: 3000, upstream_group: g}, {name: fr, port: 3001, "
    "upstream_group: r}]}\n";

/* The section of `text` that starts with the line `header`, up to its blank line. */
static char *section(const char *text, const char *header)
{
    size_t n = strlen(header);
    const char *p = text, *end;
    char *out;

    while ((p = strstr(p, header)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            break;
        p += n;
    }
    ck_assert_msg(p != NULL, "no section '%s'", header);
    end = strstr(p, "\n\n");
    ck_assert_ptr_nonnull(end);
    out = strndup(p, (size_t)(end - p) + 1);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* An SPOE engine's scope of spoe-pick.conf, "[name]" up to the next scope. */
static char *spoe_scope(const char *text, const char *name)
{
    char head[80];
    const char *p, *end;
    char *out;

    snprintf(head, sizeof(head), "[%s]\n", name);
    p = strstr(text, head);
    ck_assert_msg(p != NULL, "no scope %s", head);
    end = strstr(p + 1, "\n[");
    out = end ? strndup(p, (size_t)(end - p) + 1) : strdup(p);
    ck_assert_ptr_nonnull(out);
    return out;
}

static void assert_has(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "'%s' not in:\n%.1500s", want, text);
}

static void assert_lacks(const char *text, const char *unwanted)
{
    ck_assert_msg(strstr(text, unwanted) == NULL, "'%s' in:\n%.1500s", unwanted, text);
}

/* Both in `text`, `first` earlier: HAProxy applies rules in their order. */
static void assert_before(const char *text, const char *first, const char *second)
{
    const char *a = strstr(text, first), *b = strstr(text, second);

    ck_assert_msg(a != NULL && b != NULL && a < b, "'%s' not before '%s' in:\n%.1500s", first,
                  second, text);
}

START_TEST(pinned_group_layout)
{
    struct config *cfg = ctu_load_ok(pinned_yaml);
    char *text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    char *front = section(text, "frontend fwd_f");
    char *grp = section(text, "backend grp_g");
    char *pin_a = section(text, "backend pin_g__a");
    char *pin_b = section(text, "backend pin_g__b");
    const char *use = "    use_backend pin_g__%[var(txn.llm.up)] if { var(txn.llm.up) -m found }\n";

    ck_assert(render_group_topology(cfg, &cfg->groups[0]).pinned);
    /* The agent's choice goes straight to its member's backend; anything else (no choice,
     * the agent down) to the group layer's balance. */
    assert_has(front, use);
    assert_has(front, "    default_backend grp_g\n");
    assert_before(front, use, "    default_backend grp_g\n");
    assert_before(front, "if { var(txn.llm.v) -m str unavailable }", use);
    assert_has(front, " %rc %s %b %[var(txn.llm.v)] ");
    /* Only the group layer's listeners need the id header. */
    assert_lacks(front, "x-llmproxy-id");
    assert_has(grp, "    http-request set-header x-llmproxy-id %[unique-id]\n");
    assert_has(grp, "    retries 0\n");

    /* Each pinned backend: the member's rewrites, then the real server, and no log. */
    assert_has(pin_a, "    http-request set-header Host \"a.example\"\n");
    assert_has(pin_a, "    http-request set-path \"/v1%[path]\"");
    assert_has(pin_a, "    http-request del-header x-llmproxy-id\n");
    assert_has(pin_a, "    server a \"a.example:443\" ssl verify required ca-file @system-ca "
                      "sni str(a.example) alpn http/1.1");
    assert_has(pin_a, "    retries 0\n");
    assert_lacks(pin_a, "log");
    assert_lacks(pin_a, "bind");
    assert_lacks(pin_a, "spoe");
    assert_before(pin_a, "set-header Host", "    server a ");
    assert_has(pin_b, "    http-request set-header Host \"b:8080\"\n");
    assert_has(pin_b, "    server b \"b:8080\" resolvers");
    assert_lacks(pin_b, "a.example");
    /* The fail-open path keeps its listeners. */
    assert_has(text, "\nlisten up_g__a\n");
    assert_has(text, "\nlisten up_g__b\n");
    free(front);
    free(grp);
    free(pin_a);
    free(pin_b);
    free(text);

    text = render_mem(cfg, render_spoe_pick, NULL, NULL);
    front = spoe_scope(text, "pick_f");
    /* The agent reads the load of the servers its choices go through. */
    assert_has(front, " c0=srv_conn(pin_g__a/a) q0=srv_queue(pin_g__a/a) u0=srv_is_up(pin_g__a/a)"
                      " c1=srv_conn(pin_g__b/b) q1=srv_queue(pin_g__b/b) u1=srv_is_up(pin_g__b/b)"
                      "\n");
    assert_lacks(front, "grp_g/");
    free(front);
    free(text);
    config_free(cfg);
}
END_TEST

/*
 * A group with retries whose members rewrite alike: the agent's choice goes to the
 * member's pinned backend, which makes the first attempt and retries through the other
 * members' listeners, and the agent can still send a request through the group layer.
 */
static const char pinned_retry_yaml[] =
    "upstreams: [{name: a, url: 'http://a:8080/v1', auth: {type: bearer, token: ta}},\n"
    "            {name: b, url: 'http://b:8080/v1', auth: {type: bearer, token: tb}},\n"
    "            {name: c, url: 'http://c:8080/v1', auth: {type: bearer, token: tc}}]\n"
    "upstream_groups:\n"
    "  - {name: g, upstreams: [{name: a, weight: 2}, {name: b}, {name: c}],\n"
    "     balance: {strategy: weighted_roundrobin},\n"
    "     http_client: {retry: {enabled: true, attempts: 2}}}\n"
    "http_server: {forwards: [{name: f, port: 3000, upstream_group: g}]}\n";

START_TEST(retry_group_pinned_layout)
{
    struct config *cfg = ctu_load_ok(pinned_retry_yaml);
    char *text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    char *front = section(text, "frontend fwd_f");
    char *pin_a = section(text, "backend pin_g__a");
    char *lis_b = section(text, "listen up_g__b");
    char listener[CONF_SOCKET_PATH_MAX], retry[CONF_SOCKET_PATH_MAX], line[256];

    ck_assert(render_group_topology(cfg, &cfg->groups[0]).pinned);
    assert_has(front, "    use_backend pin_g__%[var(txn.llm.up)] if { var(txn.llm.up) -m found } "
                      "!{ var(txn.llm.lay) -m found }\n");
    assert_has(front, "    default_backend grp_g\n");

    /* The first attempt: forced onto the real server, which balancing never takes. */
    assert_has(pin_a, "    balance roundrobin\n");
    assert_has(pin_a, "    retries 2\n    option redispatch 1\n");
    assert_has(pin_a, "    option http-buffer-request\n");
    assert_has(pin_a, "    use-server a if TRUE\n");
    assert_has(pin_a, "    server a \"a:8080\" ");
    assert_has(pin_a, " weight 0 pool-purge-delay ");
    assert_before(pin_a, "set-header Authorization \"Bearer ta\"", "    use-server a if TRUE\n");
    assert_lacks(pin_a, "retries 0");
    /* Retries: every other member's listener by weight, the request's id in PROXY v2. */
    ck_assert_int_eq(conf_retry_socket(retry, cfg->haproxy.run_dir.val, "g", "b"), 0);
    snprintf(line, sizeof(line),
             "    server retry:b \"unix@%s\" send-proxy-v2 proxy-v2-options unique-id weight 1\n",
             retry);
    assert_has(pin_a, line);
    assert_has(pin_a, "    server retry:c ");
    assert_lacks(pin_a, "retry:a");
    assert_lacks(pin_a, "tb");
    free(pin_a);
    pin_a = section(text, "backend pin_g__b");
    assert_has(pin_a, "    server retry:a ");
    assert_has(pin_a, " unique-id weight 2\n");
    free(pin_a);

    /* The listener takes them on a second socket, mode 600, the id from the PROXY header,
     * and tells the agent one try came before. */
    ck_assert_int_eq(conf_listener_socket(listener, cfg->haproxy.run_dir.val, "g", "b"), 0);
    snprintf(line, sizeof(line), "    bind \"unix@%s\" mode 600\n", listener);
    assert_has(lis_b, line);
    snprintf(line, sizeof(line), "    bind \"unix@%s\" mode 600 accept-proxy\n", retry);
    assert_has(lis_b, line);
    assert_has(lis_b, "    http-request set-var(txn.rid) fc_pp_unique_id if { fc_pp_unique_id -m "
                      "found }\n");
    assert_has(lis_b,
               "    http-request set-var(txn.llm_prior) int(1) if { fc_pp_unique_id -m found }\n");
    assert_before(lis_b, "set-var(txn.llm_prior)", "send-spoe-group attempt");
    assert_has(lis_b, "    http-request send-spoe-group attempt attempt if { var(txn.rid) -m found }\n");
    assert_has(lis_b, "    http-request set-header Authorization \"Bearer tb\"\n");
    free(lis_b);
    free(front);
    free(text);

    text = render_mem(cfg, render_spoe_attempt, NULL, NULL);
    assert_has(text, "    args id=var(txn.rid) u=var(txn.upn) g=var(txn.grp) p=var(txn.llm_prior)\n");
    free(text);
    text = render_mem(cfg, render_spoe_pick, NULL, NULL);
    assert_has(text, "    register-var-names up v ra lay\n");
    free(text);
    config_free(cfg);

    /* Retries go to the other members as the group's own balance would: failover takes
     * the next one in order. */
    cfg = ctu_load_ok("upstreams: [{name: a, url: 'http://a:1'}, {name: b, url: 'http://b:1'},\n"
                      "            {name: c, url: 'http://c:1'}]\n"
                      "upstream_groups:\n"
                      "  - {name: g, upstreams: [{name: a}, {name: b}, {name: c}],\n"
                      "     balance: {strategy: failover}, http_client: {retry: {enabled: true}}}\n"
                      "http_server: {forwards: [{name: f, port: 3000, upstream_group: g}]}\n");
    text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    pin_a = section(text, "backend pin_g__a");
    assert_has(pin_a, "    balance first\n");
    assert_before(pin_a, "    server retry:b ", "    server retry:c ");
    free(pin_a);
    free(text);
    config_free(cfg);
}
END_TEST

/* A group with retries whose members rewrite differently (here, their base paths) keeps
 * the two layers only: a retry may go to another member. */
START_TEST(retry_group_layout)
{
    struct config *cfg = ctu_load_ok(pinned_yaml);
    char *text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    char *front = section(text, "frontend fwd_fr");
    char *grp = section(text, "backend grp_r");

    ck_assert(!render_group_topology(cfg, &cfg->groups[1]).pinned);
    assert_lacks(text, "backend pin_r__");
    assert_lacks(front, "use_backend");
    assert_lacks(front, "x-llmproxy-id");
    assert_has(front, "    default_backend grp_r\n");
    assert_has(grp, "    http-request set-header x-llmproxy-id %[unique-id]\n");
    assert_has(grp, "    option redispatch 1\n");
    assert_has(text, "\nlisten up_r__a\n");
    free(front);
    free(grp);
    free(text);

    text = render_mem(cfg, render_spoe_pick, NULL, NULL);
    front = spoe_scope(text, "pick_fr");
    assert_has(front, " c0=srv_conn(grp_r/a) q0=srv_queue(grp_r/a) u0=srv_is_up(grp_r/a)"
                      " c1=srv_conn(grp_r/b) q1=srv_queue(grp_r/b) u1=srv_is_up(grp_r/b)\n");
    assert_lacks(front, "pin_");
    free(front);
    free(text);
    config_free(cfg);
}
END_TEST

/* ---- haproxy.access_log and haproxy.nbthread ---- */

struct global_case {
    const char *haproxy; /* the haproxy block */
    bool access_log;
    const char *nbthread; /* the expected line, NULL for none */
};

static const struct global_case global_cases[] = {
    {"{}", false, NULL},
    {"{access_log: false, nbthread: 0}", false, NULL},
    {"{access_log: true}", true, NULL},
    {"{nbthread: 4}", false, "    nbthread 4\n"},
    {"{access_log: true, nbthread: 4096}", true, "    nbthread 4096\n"},
};

/* One forward to one upstream, with this `haproxy:` block. */
static struct config *load_with_haproxy(const char *haproxy)
{
    char yaml[512];

    snprintf(yaml, sizeof(yaml),
             "upstreams: [{name: u, url: 'http://u'}]\n"
             "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
             "http_server: {forwards: [{name: f, upstream_group: g}]}\n"
             "haproxy: %s\n",
             haproxy);
    return ctu_load_ok(yaml);
}

START_TEST(global_settings)
{
    const struct global_case *c = &global_cases[_i];
    char *text, *global, *defaults;
    struct config *cfg = load_with_haproxy(c->haproxy);

    text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    global = section(text, "global");
    defaults = section(text, "defaults");
    if (c->access_log) {
        assert_has(global, "    log stdout format raw local0 info\n");
        assert_has(defaults, "    log global\n");
    } else {
        assert_lacks(text, "log stdout");
        assert_lacks(text, "log global\n");
    }
    if (c->nbthread)
        assert_has(global, c->nbthread);
    else
        assert_lacks(text, "nbthread");
    /* Either way the agent gets every line from its ring. */
    assert_has(text, "    log ring@");
    assert_has(defaults, "    option httplog\n");
    free(global);
    free(defaults);
    free(text);
    config_free(cfg);
}
END_TEST

/*
 * Where the log ring's lock would let one thread spin while another holds it, each thread
 * gets a CPU of its own: as many as nbthread names, else up to cpu-map's 64 (HAProxy
 * ignores the threads it does not start). One thread has nothing to spin against.
 */
static const struct {
    const char *haproxy;
    const char *cpu_map; /* NULL: none */
} pin_cases[] = {
    {"{}", "\n    cpu-map auto:1/1-64 0-63\n"},
    {"{nbthread: 2}", "\n    cpu-map auto:1/1-2 0-1\n"},
    {"{nbthread: 64}", "\n    cpu-map auto:1/1-64 0-63\n"},
    {"{nbthread: 4096}", "\n    cpu-map auto:1/1-64 0-63\n"},
    {"{nbthread: 1}", NULL},
    {"{bind_threads: false}", NULL},
    {"{nbthread: 8, bind_threads: false}", NULL},
};

START_TEST(threads_pinned_one_per_cpu)
{
    struct render_opts o = {.dir = FIXED_DIR, .haproxy = {.bind_threads_to_cpus = true}};
    struct config *cfg = load_with_haproxy(pin_cases[_i].haproxy);
    char *text, *global;

    text = render_mem_opts(cfg, render_haproxy_cfg, &o, NULL);
    global = section(text, "global");
    if (pin_cases[_i].cpu_map) {
        assert_has(global, pin_cases[_i].cpu_map);
        ck_assert_ptr_null(strstr(strstr(text, "cpu-map") + 1, "cpu-map")); /* once */
    } else {
        assert_lacks(text, "cpu-map");
    }
    free(global);
    free(text);
    /* For a release that does not need it (all-zero options), none. */
    text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    assert_lacks(text, "cpu-map");
    free(text);
    config_free(cfg);
}
END_TEST

/* A group with retries raises the buffers to 64 KiB; from 3.0 the per-thread pool cache
 * grows with them (4 x 512 KiB), so that as many buffers stay hot as by default. */
START_TEST(retry_buffers_stay_hot)
{
    struct render_opts o = {.dir = FIXED_DIR, .haproxy = {.memory_hot_size = true}};
    struct config *cfg = ctu_load_ok(pinned_retry_yaml);
    char *text = render_mem_opts(cfg, render_haproxy_cfg, &o, NULL);
    char *global = section(text, "global");

    assert_has(global, "    tune.bufsize 65536\n    tune.memory.hot-size 2097152\n");
    free(global);
    free(text);
    /* 2.6 (all-zero options) knows no such keyword. */
    text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    assert_has(text, "    tune.bufsize 65536\n");
    assert_lacks(text, "hot-size");
    free(text);
    config_free(cfg);
    /* Without retries neither is rendered. */
    cfg = ctu_load_ok("upstreams: [{name: a, url: 'http://a:1'}]\n"
                      "upstream_groups: [{name: g, upstreams: [{name: a}]}]\n"
                      "http_server: {forwards: [{name: f, port: 3000, upstream_group: g}]}\n");
    text = render_mem_opts(cfg, render_haproxy_cfg, &o, NULL);
    assert_lacks(text, "tune.");
    free(text);
    config_free(cfg);
}
END_TEST

/* ---- the output folder ---- */

static bool exists(const char *dir, const char *name, mode_t *mode)
{
    char path[1024];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) != 0)
        return false;
    if (mode)
        *mode = st.st_mode & 0777;
    return true;
}

/* 64 KiB buffers only where a retried request must fit one; HAProxy's default otherwise. */
START_TEST(bufsize_only_with_retries)
{
    static const char *const yaml[2] = {
        "upstreams: [{name: u, url: 'http://u'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n",
        "upstreams: [{name: u, url: 'http://u'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: u}]},\n"
        "  {name: r, upstreams: [{name: u}], http_client: {retry: {enabled: true}}}]\n",
    };

    for (size_t i = 0; i < 2; i++) {
        struct config *cfg = ctu_load_ok(yaml[i]);
        char *text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);

        if (i == 0)
            assert_lacks(text, "tune.bufsize");
        else
            assert_has(text, "\n    tune.bufsize 65536\n");
        free(text);
        config_free(cfg);
    }
}
END_TEST

START_TEST(render_into_folder)
{
    static const char no_retry[] = "upstreams: [{name: u, url: 'http://u'}]\n"
                                   "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
                                   "http_server: {forwards: [{name: f, upstream_group: g}]}\n";
    char dir[] = "/tmp/check_render.XXXXXX", out[128], err[RENDER_ERR_SIZE], *diags;
    struct config *cfg = load_fixture("tests/data/config/seed-full.yaml", NULL);
    mode_t mode;
    size_t i;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/out", dir);
    ck_assert_msg(render_to_dir(cfg, out, NULL, err, sizeof(err)) == 0, "%s", err);
    config_free(cfg);
    ck_assert(exists(out, RENDER_HAPROXY_CFG, &mode));
    ck_assert_uint_eq(mode, 0600);
    ck_assert(exists(out, RENDER_SPOE_PICK, NULL));
    ck_assert(exists(out, RENDER_SPOE_ATTEMPT, NULL)); /* seed-full retries */
    for (i = 0; render_errorfiles[i]; i++) {
        snprintf(err, sizeof(err), "%s/%s", RENDER_ERRORS_DIR, render_errorfiles[i]->file);
        ck_assert_msg(exists(out, err, NULL), "%s missing", err);
    }

    /* Rendering a configuration without retries again removes the stale attempt file. */
    cfg = ctu_load(no_retry, NULL, &diags);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(render_to_dir(cfg, out, NULL, err, sizeof(err)), 0);
    ck_assert(!exists(out, RENDER_SPOE_ATTEMPT, NULL));
    ck_assert(!exists(out, RENDER_HAPROXY_CFG ".tmp", NULL));
    /* A folder whose parent is missing is an error, not a crash. */
    snprintf(out, sizeof(out), "%s/no/such", dir);
    ck_assert_int_eq(render_to_dir(cfg, out, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
    config_free(cfg);
    free(diags);

    snprintf(out, sizeof(out), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(out), 0);
}
END_TEST

/*
 * What the frontend refuses before the agent is asked (rules above send-spoe-group), for
 * both paths into a group: methods with Allow, climbing paths, bodies over max_body, and a
 * bounded wait for the body; the errorfiles every layer can fall back to.
 */
START_TEST(client_request_rules)
{
    struct config *cfg = ctu_load_ok(
        "upstreams: [{name: a, url: 'http://a/v1'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: a}]}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g, timeout: {connect: 7}}, {name: "
        "m, port: 3001, upstream_group: g, methods: [POST, PUT], max_body: 1KiB}]}\n");
    char *text = render_mem(cfg, render_haproxy_cfg, NULL, NULL);
    char *f = section(text, "frontend fwd_f"), *m = section(text, "frontend fwd_m");
    char *front_errors = section(text, "http-errors llm_front");
    const char *spoe = "    http-request send-spoe-group pick_f pick\n";
    const char *methods = "string \"{\\\"error\\\":{\\\"message\\\":\\\"method not allowed\\\","
                          "\\\"type\\\":\\\"invalid_request_error\\\",\\\"code\\\":"
                          "\\\"method_not_allowed\\\"}}\" hdr Allow \"GET, HEAD, POST, DELETE, "
                          "OPTIONS\" if !{ method GET HEAD POST DELETE OPTIONS }\n";
    const char *merge =
        "    http-request set-path \"%[path,regsub(/+,/,g)]\" if { path -m sub // }\n";
    const char *climb = "if !{ path -m beg / } || { path_reg -i "
                        "'%2e|(^|[/\\\\]|%2f|%5c)\\.{1,2}([/\\\\;]|%2f|%5c|$)' }\n";
    const char *size = "if { req.hdr(content-length) -m int gt 33554432 } || "
                       "{ req.hdr(content-length),length gt 10 }\n";
    const char *wait = "    http-request wait-for-body time 7s\n";

    assert_has(f, "    http-request deny deny_status 405 content-type application/json ");
    assert_has(f, methods);
    assert_has(f, merge);
    assert_has(f, climb);
    assert_has(f, size);
    assert_has(f, wait);
    assert_has(f, "    http-request deny deny_status 413 content-type application/json string "
                  "\"{\\\"error\\\":{\\\"message\\\":\\\"request body too large\\\"");
    assert_has(f, " if { req.body_len gt 33554432 }\n");
    /* In this order, and all before the agent is asked: nothing refused costs a decision. */
    assert_before(f, methods, merge);
    assert_before(f, merge, climb);
    assert_before(f, climb, size);
    assert_before(f, size, wait);
    assert_before(f, wait, " if { req.body_len gt 33554432 }\n");
    assert_before(f, " if { req.body_len gt 33554432 }\n", spoe);
    /* Per forward: its own list and limit. */
    assert_has(m, "hdr Allow \"POST, PUT\" if !{ method POST PUT }\n");
    assert_has(m, "{ req.hdr(content-length) -m int gt 1024 }");
    assert_has(m, " if { req.body_len gt 1024 }\n");
    assert_has(m, "    http-request wait-for-body time 10s\n");
    /* Errors any layer may raise fall back to the frontend's JSON ones. */
    assert_has(front_errors, "    errorfile 405 \"" FIXED_DIR "/errors/405.http\"\n");
    assert_has(front_errors, "    errorfile 413 \"" FIXED_DIR "/errors/413.http\"\n");
    assert_has(front_errors, "    errorfile 422 \"" FIXED_DIR "/errors/422.http\"\n");
    assert_has(front_errors, "    errorfile 500 \"" FIXED_DIR "/errors/500.http\"\n");
    assert_has(front_errors, "    errorfile 501 \"" FIXED_DIR "/errors/501.http\"\n");
    free(front_errors);
    free(m);
    free(f);
    free(text);
    config_free(cfg);
}
END_TEST

/* The trusted list is a file per forward that has one, and goes when the list does. */
START_TEST(trusted_proxies_file)
{
    static const char *const yaml[2] = {
        "upstreams: [{name: u, url: 'http://u'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g,\n"
        "  trusted_proxies: [10.0.0.0/8, '2001:DB8:0::1']}, {name: h, port: 1, upstream_group: "
        "g}]}\n",
        "upstreams: [{name: u, url: 'http://u'}]\n"
        "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
        "http_server: {forwards: [{name: f, upstream_group: g}]}\n",
    };
    char dir[] = "/tmp/check_render.XXXXXX", out[128], err[RENDER_ERR_SIZE], path[256];
    char *text;
    mode_t mode;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/out", dir);
    for (size_t i = 0; i < 2; i++) {
        struct config *cfg = ctu_load_ok(yaml[i]);

        ck_assert_msg(render_to_dir(cfg, out, NULL, err, sizeof(err)) == 0, "%s", err);
        config_free(cfg);
        if (i == 0) {
            ck_assert(exists(out, "trusted_f.acl", &mode));
            ck_assert_uint_eq(mode, 0644);
            ck_assert(!exists(out, "trusted_h.acl", NULL));
            snprintf(path, sizeof(path), "%s/trusted_f.acl", out);
            text = read_all(path, NULL);
            ck_assert_str_eq(text, "10.0.0.0/8\n2001:db8::1/128\n");
            free(text);
            snprintf(path, sizeof(path), "%s/" RENDER_HAPROXY_CFG, out);
            text = read_all(path, NULL);
            assert_has(text, "{ src -f \"");
            assert_has(text, "/out/trusted_f.acl\" }");
            free(text);
        }
    }
    ck_assert(!exists(out, "trusted_f.acl", NULL));
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(path), 0);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("render");

    tcase_add_test(tc, golden_seed_full);
    tcase_add_test(tc, golden_rich);
    tcase_add_test(tc, golden_routing);
    tcase_add_test(tc, routing_model_list);
    tcase_add_test(tc, golden_client_address);
    tcase_add_test(tc, secrets_from_env_never_written);
    tcase_add_test(tc, render_is_deterministic);
    tcase_add_loop_test(tc, quoting, 0, (int)(sizeof(quote_cases) / sizeof(quote_cases[0])));
    tcase_add_test(tc, control_characters_refused);
    tcase_add_test(tc, tab_written_escaped);
    tcase_add_test(tc, templates);
    tcase_add_test(tc, errorfiles_are_complete_responses);
    tcase_add_test(tc, base64_of_literal_basic_auth);
    tcase_add_test(tc, outbound_proxy_through_tunnel);
    tcase_add_test(tc, proxy_tunnel_answer_for_plain_http);
    tcase_add_test(tc, queued_group_backend);
    tcase_add_test(tc, outbound_proxy_run_dir_too_long);
    tcase_add_test(tc, idle_timeout_purges_server_pools);
    tcase_add_test(tc, internal_hops_on_unix_sockets);
    tcase_add_test(tc, weights_scaled_to_haproxy_range);
    tcase_add_test(tc, pinned_group_layout);
    tcase_add_test(tc, retry_group_layout);
    tcase_add_test(tc, retry_group_pinned_layout);
    tcase_add_test(tc, retry_buffers_stay_hot);
    tcase_add_loop_test(tc, global_settings, 0,
                        (int)(sizeof(global_cases) / sizeof(global_cases[0])));
    tcase_add_test(tc, bufsize_only_with_retries);
    tcase_add_loop_test(tc, threads_pinned_one_per_cpu, 0,
                        sizeof(pin_cases) / sizeof(pin_cases[0]));
    tcase_add_test(tc, client_request_rules);
    tcase_add_test(tc, render_into_folder);
    tcase_add_test(tc, trusted_proxies_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(render_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
