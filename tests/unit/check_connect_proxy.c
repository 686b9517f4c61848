/*
 * The CONNECT exchange with a forward proxy: the request we build, how the proxy's answer
 * is judged (never reading past the bytes given), and where each tunnel's socket lives.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect_proxy.h"
#include "conf_sockets.h"
#include "contract/tunnel_path.h"

/* Parse a copy of `text` in a buffer of exactly its size, so ASan sees any overread. */
static enum connect_proxy_head parse_n(const char *text, size_t len,
                                       struct connect_proxy_response *resp)
{
    char *copy = malloc(len ? len : 1);
    enum connect_proxy_head r;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    r = connect_proxy_parse(copy, len, resp);
    free(copy);
    return r;
}

static enum connect_proxy_head parse(const char *text, struct connect_proxy_response *resp)
{
    return parse_n(text, strlen(text), resp);
}

/* ---- the request ---- */

START_TEST(request_without_credentials)
{
    char out[CONNECT_PROXY_REQUEST_MAX];
    const char *why = NULL;
    const char *want = "CONNECT api.openai.com:443 HTTP/1.1\r\n"
                       "Host: api.openai.com:443\r\n"
                       "\r\n";
    int n = connect_proxy_request("api.openai.com", 443, NULL, out, sizeof(out), &why);

    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(request_with_credentials)
{
    char out[CONNECT_PROXY_REQUEST_MAX];
    const char *why = NULL;
    /* base64("alice:secret") */
    const char *want = "CONNECT llm.internal:8443 HTTP/1.1\r\n"
                       "Host: llm.internal:8443\r\n"
                       "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n"
                       "\r\n";
    int n = connect_proxy_request("llm.internal", 8443, "alice:secret", out, sizeof(out), &why);

    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(credentials_are_percent_decoded)
{
    char out[CONNECT_PROXY_REQUEST_MAX];
    const char *why = NULL;

    /* "u@corp:p:w%" is base64 dUBjb3JwOnA6dyU= */
    ck_assert_int_gt(connect_proxy_request("h", 443, "u%40corp:p%3aw%25", out, sizeof(out), &why),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "Proxy-Authorization: Basic dUBjb3JwOnA6dyU=\r\n"));
}
END_TEST

START_TEST(ipv6_target_is_bracketed)
{
    char out[CONNECT_PROXY_REQUEST_MAX];
    const char *why = NULL;

    ck_assert_int_gt(connect_proxy_request("2001:db8::1", 443, NULL, out, sizeof(out), &why), 0);
    ck_assert_str_eq(out, "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
}
END_TEST

START_TEST(bad_credentials_are_refused)
{
    static const char *const bad[] = {"u:%", "u:%4", "u:%zz", "u:%00x"};
    char out[CONNECT_PROXY_REQUEST_MAX];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;

        ck_assert_int_eq(connect_proxy_request("h", 443, bad[i], out, sizeof(out), &why), -1);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(unsafe_host_is_refused)
{
    static const char *const bad[] = {"", "a b", "a\r\nX-Evil: 1", "a/b", "u@h"};
    char out[CONNECT_PROXY_REQUEST_MAX];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;

        ck_assert_int_eq(connect_proxy_request(bad[i], 443, NULL, out, sizeof(out), &why), -1);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(request_never_overflows)
{
    /* A credential as long as the request buffer, and every output size up to the
     * request's own: each either fits whole (NUL included) or is refused. */
    char cred[CONNECT_PROXY_REQUEST_MAX + 1], full[CONNECT_PROXY_REQUEST_MAX];
    const char *why = NULL;
    int whole;
    size_t size;

    memset(cred, 'x', sizeof(cred) - 1);
    cred[sizeof(cred) - 1] = '\0';
    ck_assert_int_eq(connect_proxy_request("h", 443, cred, full, sizeof(full), &why), -1);

    whole = connect_proxy_request("host.example", 443, "a:b", full, sizeof(full), &why);
    ck_assert_int_gt(whole, 0);
    for (size = 1; size <= (size_t)whole + 2; size++) {
        char *out = malloc(size);
        int n;

        ck_assert_ptr_nonnull(out);
        n = connect_proxy_request("host.example", 443, "a:b", out, size, &why);
        if ((size_t)whole < size) {
            ck_assert_int_eq(n, whole);
            ck_assert_str_eq(out, full);
        } else {
            ck_assert_int_eq(n, -1);
        }
        free(out);
    }
}
END_TEST

/* ---- the answer ---- */

START_TEST(established_head)
{
    struct connect_proxy_response resp;
    const char *head = "HTTP/1.1 200 Connection established\r\n"
                       "Proxy-agent: tinyproxy/1.11.1\r\n"
                       "\r\n";

    ck_assert_int_eq(parse(head, &resp), CONNECT_PROXY_DONE);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_uint_eq(resp.head_len, strlen(head));
    ck_assert(connect_proxy_established(&resp));
}
END_TEST

START_TEST(bytes_after_head_are_not_head)
{
    struct connect_proxy_response resp;

    /* The upstream's first TLS bytes may arrive in the same read as the answer. */
    ck_assert_int_eq(parse("HTTP/1.0 200 OK\r\n\r\n\x16\x03\x01", &resp), CONNECT_PROXY_DONE);
    ck_assert_uint_eq(resp.head_len, 19);
}
END_TEST

/* Found by fuzz_connect_proxy: a NUL in the tunnel's data after a complete head made the
 * same answer MALFORMED or DONE depending on how the bytes were split. */
START_TEST(nul_after_head_is_tunnel_data)
{
    static const char answer[] = "HTTP/1.1 200 OK\r\n\r\nxxxx\0\x17\x03";
    static const char nul_in_head[] = "HTTP/1.1 200 OK\r\nX-A: b\0c\r\n\r\n";
    static const char nul_in_partial_head[] = "HTTP/1.1 200 OK\r\nX-A: \0";
    struct connect_proxy_response resp;

    ck_assert_int_eq(parse_n(answer, sizeof(answer) - 1, &resp), CONNECT_PROXY_DONE);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_uint_eq(resp.head_len, 19);
    ck_assert_int_eq(parse_n(nul_in_head, sizeof(nul_in_head) - 1, &resp), CONNECT_PROXY_MALFORMED);
    ck_assert_int_eq(parse_n(nul_in_partial_head, sizeof(nul_in_partial_head) - 1, &resp),
                     CONNECT_PROXY_MALFORMED);
}
END_TEST

START_TEST(status_without_reason_and_bare_lf)
{
    struct connect_proxy_response resp;

    ck_assert_int_eq(parse("HTTP/1.1 204\r\n\r\n", &resp), CONNECT_PROXY_DONE);
    ck_assert_int_eq(resp.status, 204);
    ck_assert(connect_proxy_established(&resp));
    ck_assert_int_eq(parse("HTTP/1.1 200 OK\nVia: x\n\n", &resp), CONNECT_PROXY_DONE);
    ck_assert_uint_eq(resp.head_len, 24);
}
END_TEST

START_TEST(refusals_are_not_established)
{
    static const int codes[] = {100, 199, 300, 403, 407, 502, 999};
    struct connect_proxy_response resp;
    char head[64];
    size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        snprintf(head, sizeof(head), "HTTP/1.1 %d Nope\r\nContent-Length: 0\r\n\r\n", codes[i]);
        ck_assert_int_eq(parse(head, &resp), CONNECT_PROXY_DONE);
        ck_assert_int_eq(resp.status, codes[i]);
        ck_assert(!connect_proxy_established(&resp));
    }
}
END_TEST

START_TEST(every_prefix_is_incomplete)
{
    struct connect_proxy_response resp;
    const char *head = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                       "Proxy-Authenticate: Basic realm=\"corp\"\r\n"
                       "\r\n";
    size_t len = strlen(head), n;

    for (n = 0; n < len; n++)
        ck_assert_msg(parse_n(head, n, &resp) == CONNECT_PROXY_INCOMPLETE, "prefix %zu", n);
    ck_assert_int_eq(parse_n(head, len, &resp), CONNECT_PROXY_DONE);
    ck_assert_int_eq(resp.status, 407);
}
END_TEST

START_TEST(non_http_is_malformed_early)
{
#define CASE(lit)                                                                                  \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        CASE("SSH-2.0-OpenSSH_9.2\r\n"),
        CASE("\x15\x03\x03"),
        CASE("HTTP/2 200\r\n\r\n"),
        CASE("HTTP/1.1 20x OK\r\n\r\n"),
        CASE("HTTP/1.1 2000 OK\r\n\r\n"),
        CASE("HTTP/1.1 099 Low\r\n\r\n"),
        CASE("\r\n\r\n"),
        CASE("HTTP/1.1 200\0\r\n\r\n"),
        CASE("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"),
    };
#undef CASE
    struct connect_proxy_response resp;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse_n(bad[i].s, bad[i].len, &resp) == CONNECT_PROXY_MALFORMED, "case %zu",
                      i);
    /* Refused on the first wrong byte, not after a whole head. */
    ck_assert_int_eq(parse("X", &resp), CONNECT_PROXY_MALFORMED);
    ck_assert_int_eq(parse("HTTP/1.1 2", &resp), CONNECT_PROXY_INCOMPLETE);
}
END_TEST

START_TEST(head_is_bounded)
{
    struct connect_proxy_response resp;
    size_t len = CONNECT_PROXY_HEAD_MAX + 100;
    char *big = malloc(len);
    const char *start = "HTTP/1.1 200 OK\r\nX-Pad: ";

    ck_assert_ptr_nonnull(big);
    memset(big, 'a', len);
    memcpy(big, start, strlen(start));
    ck_assert_int_eq(parse_n(big, CONNECT_PROXY_HEAD_MAX - 1, &resp), CONNECT_PROXY_INCOMPLETE);
    ck_assert_int_eq(parse_n(big, CONNECT_PROXY_HEAD_MAX, &resp), CONNECT_PROXY_TOO_LONG);
    /* A head that ends only past the bound is refused even when it is all there. */
    memcpy(big + CONNECT_PROXY_HEAD_MAX + 10, "\r\n\r\n", 4);
    ck_assert_int_eq(parse_n(big, len, &resp), CONNECT_PROXY_TOO_LONG);
    /* One that ends exactly at the bound is fine. */
    memcpy(big + CONNECT_PROXY_HEAD_MAX - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(parse_n(big, CONNECT_PROXY_HEAD_MAX, &resp), CONNECT_PROXY_DONE);
    ck_assert_uint_eq(resp.head_len, CONNECT_PROXY_HEAD_MAX);
    free(big);
}
END_TEST

/* ---- the socket path ---- */

START_TEST(path_is_readable_when_it_fits)
{
    char path[CONF_SOCKET_PATH_MAX];

    ck_assert_int_eq(tunnel_socket_path(path, sizeof(path), "/run/llmproxy", "cloud", "openai"), 0);
    ck_assert_str_eq(path, "/run/llmproxy/tunnel_cloud__openai.sock");
}
END_TEST

START_TEST(long_path_falls_back_to_a_hash)
{
    char a[CONF_SOCKET_PATH_MAX], b[CONF_SOCKET_PATH_MAX], c[CONF_SOCKET_PATH_MAX], dir[70];
    char name[64];

    memset(dir, 'd', sizeof(dir) - 1);
    dir[0] = '/';
    dir[sizeof(dir) - 1] = '\0';
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(tunnel_socket_path(a, sizeof(a), dir, name, "u1"), 0);
    ck_assert_int_eq(tunnel_socket_path(b, sizeof(b), dir, name, "u2"), 0);
    ck_assert_int_eq(tunnel_socket_path(c, sizeof(c), dir, name, "u1"), 0);
    ck_assert_uint_eq(strlen(a), strlen(dir) + strlen("/tunnel_") + 16 + strlen(".sock"));
    ck_assert_uint_lt(strlen(a), CONF_SOCKET_PATH_MAX);
    ck_assert_str_ne(a, b);
    ck_assert_str_eq(a, c);
    /* The names are hashed apart: ("ab", "c") is not ("a", "bc"). */
    ck_assert_int_eq(tunnel_socket_path(a, sizeof(a), dir, "ab", name), 0);
    ck_assert_int_eq(tunnel_socket_path(b, sizeof(b), dir, "a", name + 1), 0);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(run_dir_too_long_is_refused)
{
    char path[CONF_SOCKET_PATH_MAX], dir[CONF_SOCKET_PATH_MAX];

    memset(dir, 'd', sizeof(dir) - 1);
    dir[0] = '/';
    dir[sizeof(dir) - 1] = '\0';
    ck_assert_int_eq(tunnel_socket_path(path, sizeof(path), dir, "g", "u"), -1);
}
END_TEST

static Suite *connect_proxy_suite(void)
{
    Suite *s = suite_create("connect_proxy");
    TCase *req = tcase_create("request"), *ans = tcase_create("answer"),
          *path = tcase_create("path");

    tcase_add_test(req, request_without_credentials);
    tcase_add_test(req, request_with_credentials);
    tcase_add_test(req, credentials_are_percent_decoded);
    tcase_add_test(req, ipv6_target_is_bracketed);
    tcase_add_test(req, bad_credentials_are_refused);
    tcase_add_test(req, unsafe_host_is_refused);
    tcase_add_test(req, request_never_overflows);
    suite_add_tcase(s, req);
    tcase_add_test(ans, established_head);
    tcase_add_test(ans, bytes_after_head_are_not_head);
    tcase_add_test(ans, nul_after_head_is_tunnel_data);
    tcase_add_test(ans, status_without_reason_and_bare_lf);
    tcase_add_test(ans, refusals_are_not_established);
    tcase_add_test(ans, every_prefix_is_incomplete);
    tcase_add_test(ans, non_http_is_malformed_early);
    tcase_add_test(ans, head_is_bounded);
    suite_add_tcase(s, ans);
    tcase_add_test(path, path_is_readable_when_it_fits);
    tcase_add_test(path, long_path_falls_back_to_a_hash);
    tcase_add_test(path, run_dir_too_long_is_refused);
    suite_add_tcase(s, path);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(connect_proxy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
