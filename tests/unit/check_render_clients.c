/*
 * Rendering client keys: a forward with client_auth checks the key itself (hash, map,
 * 401, the three headers removed) before the agent is asked; its map lists the hashes of
 * the clients allowed on it; `pick` carries the client's name; nothing rendered holds a
 * key, and a configuration without client_auth renders no map at all.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "render.h"
#include "util/conf_testutil.h"

#define ALICE_KEY  "sk-alice-0123456789abcdef"
#define ALICE_HASH "8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f"
#define BOB_HASH   "ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19"

/* `main` checks keys, `open` does not; alice may use every such forward, bob only `main`,
 * carol none. */
static const char clients_yaml[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3000, upstream_group: g, client_auth: true}\n"
    "    - {name: open, port: 3001, upstream_group: g}\n"
    "    - {name: side, port: 3002, upstream_group: g, client_auth: true}\n"
    "upstreams: [{name: u, url: 'http://127.0.0.1:8001', auth: {type: bearer, token: up}}]\n"
    "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
    "clients:\n"
    "  - {name: alice, key: " ALICE_KEY "}\n"
    "  - {name: bob, key_sha256: " BOB_HASH ", forwards: [main]}\n"
    "  - {name: carol, key: abcdefghijklmnopq, forwards: []}\n";

static char dir[] = "/tmp/check_render_clients.XXXXXX";

static void make_tmp(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_tmp(void)
{
    char cmd[64];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The rendered file `name` (malloc'd), NULL if it does not exist. */
static char *rendered(const char *name)
{
    char path[256], *text = NULL;
    size_t cap = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/out/%s", dir, name);
    if (!(f = fopen(path, "r")))
        return NULL;
    /* The whole file (none holds a NUL); an empty one reads as -1 with no error. */
    if (getdelim(&text, &cap, '\0', f) < 0) {
        ck_assert(!ferror(f));
        free(text);
        text = strdup("");
    }
    fclose(f);
    return text;
}

static void render_yaml(const char *yaml, const char *map_base)
{
    struct config *cfg = ctu_load_ok(yaml);
    char out[128], err[RENDER_ERR_SIZE];

    snprintf(out, sizeof(out), "%s/out", dir);
    ck_assert_msg(render_to_dir_at(cfg, out, map_base, NULL, err, sizeof(err)) == 0, "%s", err);
    config_free(cfg);
}

/* The text of a proxy section, from its header line to the blank line after it. */
static char *section(const char *text, const char *header)
{
    const char *from = strstr(text, header), *to;

    ck_assert_msg(from != NULL, "no section %s", header);
    to = strstr(from, "\n\n");
    return strndup(from, to ? (size_t)(to - from) + 1 : strlen(from));
}

/* Where `needle` is in `hay`, failing when it is not. */
static const char *at(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);

    ck_assert_msg(p != NULL, "missing: %s", needle);
    return p;
}

START_TEST(frontend_checks_the_key_first)
{
    char *cfg, *main_fe, *open_fe;
    const char *rules[] = {
        "    http-request deny deny_status 405 ",
        "    http-request set-var(txn.llm_key) req.fhdr(api-key) if { req.fhdr_cnt(api-key) eq 1 "
        "}\n",
        "    http-request set-var(txn.llm_key) req.fhdr(x-api-key) if { req.fhdr_cnt(x-api-key) eq "
        "1 }\n",
        "    http-request set-var(txn.llm_key) req.fhdr(authorization),regsub(\"^[Bb][Ee][Aa][Rr]"
        "[Ee][Rr] +\",\"\") if { req.fhdr_cnt(authorization) eq 1 } { req.fhdr(authorization) -m "
        "reg -i \"^bearer +[^ ]\" }\n",
        "    http-request set-var(txn.llm_client) var(txn.llm_key),sha2(256),hex,lower,map(\"",
        "/out/maps/clients_main.map\")\n",
        "    http-request unset-var(txn.llm_key)\n",
        "    http-request deny deny_status 401 content-type application/json string "
        "\"{\\\"error\\\":{\\\"message\\\":\\\"missing or invalid API key\\\",\\\"type\\\":"
        "\\\"invalid_request_error\\\",\\\"param\\\":null,\\\"code\\\":\\\"invalid_api_key\\\"}}\" "
        "hdr WWW-Authenticate \"Bearer\" if !{ var(txn.llm_client) -m found }\n",
        "    http-request del-header api-key\n",
        "    http-request del-header x-api-key\n",
        "    http-request del-header authorization\n",
        "    http-request set-path ",
        "    http-request wait-for-body ",
        "    http-request send-spoe-group pick_main pick\n",
    };
    const char *prev;

    make_tmp();
    render_yaml(clients_yaml, NULL);
    cfg = rendered(RENDER_HAPROXY_CFG);
    main_fe = section(cfg, "frontend fwd_main\n");
    open_fe = section(cfg, "frontend fwd_open\n");
    prev = main_fe;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *p = at(main_fe, rules[i]);

        ck_assert_msg(p >= prev, "out of order: %s", rules[i]);
        prev = p;
    }
    /* The map is named under the output folder by default. */
    ck_assert_ptr_nonnull(strstr(main_fe, dir));
    ck_assert_ptr_null(strstr(open_fe, "txn.llm_key"));
    ck_assert_ptr_null(strstr(open_fe, "401"));
    ck_assert_ptr_null(strstr(open_fe, "http-request del-header"));
    free(main_fe);
    free(open_fe);
    free(cfg);
    remove_tmp();
}
END_TEST

START_TEST(maps_hold_the_allowed_hashes)
{
    struct stat st;
    char path[256], *map;

    make_tmp();
    render_yaml(clients_yaml, NULL);
    map = rendered("maps/clients_main.map");
    ck_assert_str_eq(map, ALICE_HASH " alice\n" BOB_HASH " bob\n");
    free(map);
    map = rendered("maps/clients_side.map");
    ck_assert_str_eq(map, ALICE_HASH " alice\n");
    free(map);
    ck_assert_ptr_null(rendered("maps/clients_open.map"));
    snprintf(path, sizeof(path), "%s/out/maps/clients_main.map", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640);
    remove_tmp();
}
END_TEST

/* HAProxy does not start on a missing map: a forward nobody may use gets an empty one. */
START_TEST(a_forward_without_clients_gets_an_empty_map)
{
    char *map;

    make_tmp();
    render_yaml("http_server: {forwards: [{name: f, upstream_group: g, client_auth: true}]}\n"
                "upstreams: [{name: u, url: 'http://127.0.0.1:8001'}]\n"
                "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n",
                NULL);
    map = rendered("maps/clients_f.map");
    ck_assert_str_eq(map, "");
    free(map);
    remove_tmp();
}
END_TEST

START_TEST(no_client_auth_no_maps)
{
    char path[256];
    struct stat st;

    make_tmp();
    render_yaml("http_server: {forwards: [{name: f, upstream_group: g}]}\n"
                "upstreams: [{name: u, url: 'http://127.0.0.1:8001'}]\n"
                "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
                "clients: [{name: a, key: " ALICE_KEY "}]\n",
                NULL);
    snprintf(path, sizeof(path), "%s/out/" RENDER_MAPS_DIR, dir);
    ck_assert_int_ne(stat(path, &st), 0);
    remove_tmp();
}
END_TEST

/* A later render without the forward (or its client_auth) takes its map away. */
START_TEST(stale_maps_are_removed)
{
    char *map;

    make_tmp();
    render_yaml(clients_yaml, NULL);
    render_yaml("http_server: {forwards: [{name: main, upstream_group: g, client_auth: true}]}\n"
                "upstreams: [{name: u, url: 'http://127.0.0.1:8001'}]\n"
                "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n",
                NULL);
    ck_assert_ptr_null(rendered("maps/clients_side.map"));
    map = rendered("maps/clients_main.map");
    ck_assert_str_eq(map, "");
    free(map);
    render_yaml("http_server: {forwards: [{name: main, upstream_group: g}]}\n"
                "upstreams: [{name: u, url: 'http://127.0.0.1:8001'}]\n"
                "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n",
                NULL);
    ck_assert_ptr_null(rendered("maps/clients_main.map"));
    remove_tmp();
}
END_TEST

START_TEST(pick_names_the_client_on_client_auth_forwards)
{
    char *spoe;

    make_tmp();
    render_yaml(clients_yaml, NULL);
    spoe = rendered(RENDER_SPOE_PICK);
    at(spoe, "args f=str(main) src=src id=unique-id cl=var(txn.llm_client) c0=");
    at(spoe, "args f=str(open) src=src id=unique-id c0=");
    at(spoe, "args f=str(side) src=src id=unique-id cl=var(txn.llm_client) c0=");
    free(spoe);
    remove_tmp();
}
END_TEST

START_TEST(map_base_names_a_stable_folder)
{
    struct config *cfg;
    char out[128], err[RENDER_ERR_SIZE], *text;

    make_tmp();
    render_yaml(clients_yaml, "/run/llmproxy/live");
    text = rendered(RENDER_HAPROXY_CFG);
    at(text, "map(\"/run/llmproxy/live/maps/clients_main.map\")\n");
    free(text);
    /* The maps themselves are still written into the output folder. */
    text = rendered("maps/clients_main.map");
    ck_assert_ptr_nonnull(text);
    free(text);
    /* A character that would end the map's sample argument is refused, not written. */
    cfg = ctu_load_ok(clients_yaml);
    snprintf(out, sizeof(out), "%s/out", dir);
    ck_assert_int_eq(render_to_dir_at(cfg, out, "/run/a,b", NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot take in a map path"));
    config_free(cfg);
    remove_tmp();
}
END_TEST

/* Only hashes leave the configuration: no rendered file holds a client's key. */
START_TEST(no_key_in_any_rendered_file)
{
    static const char *const files[] = {RENDER_HAPROXY_CFG, RENDER_SPOE_PICK,
                                        "maps/clients_main.map", "maps/clients_side.map"};

    make_tmp();
    render_yaml(clients_yaml, NULL);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *text = rendered(files[i]);

        ck_assert_ptr_nonnull(text);
        ck_assert_msg(strstr(text, ALICE_KEY) == NULL, "%s holds alice's key", files[i]);
        ck_assert_msg(strstr(text, "abcdefghijklmnopq") == NULL, "%s holds carol's key", files[i]);
        free(text);
    }
    remove_tmp();
}
END_TEST

static Suite *render_clients_suite(void)
{
    Suite *s = suite_create("render_clients");
    TCase *tc = tcase_create("clients");

    tcase_add_test(tc, frontend_checks_the_key_first);
    tcase_add_test(tc, maps_hold_the_allowed_hashes);
    tcase_add_test(tc, a_forward_without_clients_gets_an_empty_map);
    tcase_add_test(tc, no_client_auth_no_maps);
    tcase_add_test(tc, stale_maps_are_removed);
    tcase_add_test(tc, pick_names_the_client_on_client_auth_forwards);
    tcase_add_test(tc, map_base_names_a_stable_folder);
    tcase_add_test(tc, no_key_in_any_rendered_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(render_clients_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
