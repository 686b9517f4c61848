/*
 * The CONNECT tunnel on real sockets: the agent's loop runs in a thread, the test plays
 * both HAProxy (a unix-socket client) and the forward proxy (a loopback listener) with
 * blocking sockets, and the loop is stopped before its counters are read.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "metrics.h"
#include "metrics_page.h"
#include "util/conf_testutil.h"
#include "tunnel.h"
#include "unix_socket.h"

#define BIG_LEN (1024 * 1024)

/* Sockets for whoever runs the test, as an agent started without -u makes them. */
static const struct unix_owner self_only = {(uid_t)-1, (gid_t)-1, 0600};

/* One tunnel set on its own loop, run by a thread until stopped. */
struct fixture {
    char dir[64];
    struct config *cfg;
    struct ev_loop *loop;
    struct tunnels *ts;
    ev_async stop;
    pthread_t thread;
    int proxy_fd; /* the fake proxy's listener, -1 when the test wants none */
    uint16_t proxy_port;
};

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *run_loop(void *arg)
{
    struct fixture *fx = arg;

    ev_run(fx->loop, 0);
    return NULL;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = 5};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int listen_loopback(uint16_t *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Start a tunnel set whose proxy is `host` at the fake proxy's port (a closed port with
 * with_proxy false). */
static void fixture_start_at(struct fixture *fx, bool with_proxy, const char *userinfo,
                             const char *host)
{
    char yaml[1024], *diags;

    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/check_tunnel.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx->dir));
    fx->proxy_fd = listen_loopback(&fx->proxy_port);
    if (!with_proxy) {
        close(fx->proxy_fd);
        fx->proxy_fd = -1;
    }
    snprintf(yaml, sizeof(yaml),
             "upstreams: [{name: api, url: 'https://api.example.com/v1'}]\n"
             "upstream_groups:\n"
             "  - name: cloud\n"
             "    upstreams: [{name: api}]\n"
             "    http_client:\n"
             "      timeout: {connect: 1}\n"
             "      proxy: {enabled: true, url: 'http://%s%s%s:%u'}\n"
             "haproxy: {run_dir: '%s'}\n",
             userinfo ? userinfo : "", userinfo ? "@" : "", host, (unsigned)fx->proxy_port,
             fx->dir);
    fx->cfg = ctu_load(yaml, NULL, &diags);
    ck_assert_msg(fx->cfg != NULL, "%s", diags);
    free(diags);
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    fx->ts = tunnels_start(fx->loop, fx->cfg, &self_only);
    ck_assert_ptr_nonnull(fx->ts);
    /* The tunnel copies what it needs: the configuration may go. */
    config_free(fx->cfg);
    fx->cfg = NULL;
    ev_async_init(&fx->stop, on_stop);
    ev_async_start(fx->loop, &fx->stop);
    ck_assert_int_eq(pthread_create(&fx->thread, NULL, run_loop, fx), 0);
}

/* The same with the proxy at 127.0.0.1. */
static void fixture_start(struct fixture *fx, bool with_proxy, const char *userinfo)
{
    fixture_start_at(fx, with_proxy, userinfo, "127.0.0.1");
}

/* Stop the loop; the counters are then safe to read. */
static void fixture_stop(struct fixture *fx)
{
    ev_async_send(fx->loop, &fx->stop);
    ck_assert_int_eq(pthread_join(fx->thread, NULL), 0);
}

static void fixture_free(struct fixture *fx)
{
    char path[128];
    struct stat sb;

    snprintf(path, sizeof(path), "%s", tunnels_path(fx->ts, 0));
    tunnels_free(fx->ts);
    /* The socket file goes with the tunnel. */
    ck_assert_int_ne(stat(path, &sb), 0);
    ev_async_stop(fx->loop, &fx->stop);
    ev_loop_destroy(fx->loop);
    if (fx->proxy_fd >= 0)
        close(fx->proxy_fd);
    ck_assert_int_eq(rmdir(fx->dir), 0);
}

/* HAProxy's side: a connection to the tunnel's socket. */
static int client_connect(struct fixture *fx)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tunnels_path(fx->ts, 0));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    set_timeouts(fd);
    return fd;
}

static int proxy_accept(struct fixture *fx)
{
    int fd = accept(fx->proxy_fd, NULL, NULL);

    ck_assert_int_ge(fd, 0);
    set_timeouts(fd);
    return fd;
}

/* Read up to and including the empty line, one byte at a time (never past the head). */
static void read_head(int fd, char *out, size_t size)
{
    size_t n = 0;

    while (n < 4 || memcmp(out + n - 4, "\r\n\r\n", 4) != 0) {
        ck_assert_uint_lt(n + 1, size);
        ck_assert_int_eq(read(fd, out + n, 1), 1);
        n++;
    }
    out[n] = '\0';
}

static void read_exact(int fd, char *out, size_t len)
{
    size_t n = 0;

    while (n < len) {
        ssize_t r = read(fd, out + n, len - n);

        ck_assert_int_gt(r, 0);
        n += (size_t)r;
    }
}

static void write_all(int fd, const void *data, size_t len)
{
    ck_assert_int_eq(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* The peer ended its stream (0 from read), within the socket timeout. */
static void expect_eof(int fd)
{
    char c;
    ssize_t r = read(fd, &c, 1);

    ck_assert_msg(r == 0 || (r < 0 && errno == ECONNRESET), "read %zd (errno %d)", r, errno);
}

static char pattern_at(size_t i)
{
    return (char)('a' + (i * 7) % 26);
}

struct sender {
    int fd;
    size_t len;
};

static void *send_big(void *arg)
{
    struct sender *s = arg;
    char chunk[8192];
    size_t off = 0, n, i;

    while (off < s->len) {
        n = s->len - off < sizeof(chunk) ? s->len - off : sizeof(chunk);
        for (i = 0; i < n; i++)
            chunk[i] = pattern_at(off + i);
        if (send(s->fd, chunk, n, MSG_NOSIGNAL) != (ssize_t)n)
            return (void *)1;
        off += n;
    }
    close(s->fd);
    return NULL;
}

START_TEST(relays_both_ways_with_half_close)
{
    struct fixture fx;
    const struct tunnel_stats *st;
    struct sender snd;
    pthread_t th;
    void *th_rc;
    char head[1024], buf[16], *big;
    int cfd, pfd;

    fixture_start(&fx, true, "alice:s%40cret");
    cfd = client_connect(&fx);
    /* HAProxy talks first (a TLS hello): held until the proxy has answered. */
    write_all(cfd, "hello", 5);
    pfd = proxy_accept(&fx);
    read_head(pfd, head, sizeof(head));
    /* base64("alice:s@cret") */
    ck_assert_str_eq(head, "CONNECT api.example.com:443 HTTP/1.1\r\n"
                           "Host: api.example.com:443\r\n"
                           "Proxy-Authorization: Basic YWxpY2U6c0BjcmV0\r\n"
                           "\r\n");
    /* The answer and the upstream's first bytes in one segment. */
    write_all(pfd, "HTTP/1.1 200 Connection established\r\n\r\nEARLY", 44);
    read_exact(cfd, buf, 5);
    ck_assert_int_eq(memcmp(buf, "EARLY", 5), 0);
    read_exact(pfd, buf, 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

    /* HAProxy's end of request reaches the proxy; the other way stays open. */
    ck_assert_int_eq(shutdown(cfd, SHUT_WR), 0);
    expect_eof(pfd);

    /* A megabyte while HAProxy does not read: the tunnel must hold back, not drop. */
    snd.fd = pfd;
    snd.len = BIG_LEN;
    ck_assert_int_eq(pthread_create(&th, NULL, send_big, &snd), 0);
    usleep(200 * 1000);
    big = malloc(BIG_LEN);
    ck_assert_ptr_nonnull(big);
    read_exact(cfd, big, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        if (big[i] != pattern_at(i))
            ck_abort_msg("byte %zu differs", i);
    free(big);
    expect_eof(cfd);
    ck_assert_int_eq(pthread_join(th, &th_rc), 0);
    ck_assert_ptr_null(th_rc);
    close(cfd);

    fixture_stop(&fx);
    st = tunnels_stats(fx.ts, 0);
    ck_assert_uint_eq(st->accepted, 1);
    ck_assert_uint_eq(st->established, 1);
    ck_assert_uint_eq(st->active, 0);
    ck_assert_uint_eq(st->bytes_up, 5);
    ck_assert_uint_eq(st->bytes_down, 5 + BIG_LEN);
    for (int f = 0; f < TUNNEL_FAIL_COUNT; f++)
        ck_assert_uint_eq(st->failed[f], 0);
    fixture_free(&fx);
}
END_TEST

/* One connection whose proxy answers `answer` (NULL: says nothing and hangs up; "":
 * says nothing and stays): HAProxy's side must be closed with no byte sent. */
static void expect_refusal(const char *answer, enum tunnel_fail why)
{
    struct fixture fx;
    const struct tunnel_stats *st;
    char head[1024];
    int cfd, pfd;

    fixture_start(&fx, true, NULL);
    cfd = client_connect(&fx);
    write_all(cfd, "\x16\x03\x01", 3);
    pfd = proxy_accept(&fx);
    read_head(pfd, head, sizeof(head));
    ck_assert_ptr_null(strstr(head, "Proxy-Authorization"));
    if (!answer)
        close(pfd);
    else if (*answer)
        write_all(pfd, answer, strlen(answer));
    expect_eof(cfd);
    close(cfd);
    if (answer)
        close(pfd);
    fixture_stop(&fx);
    st = tunnels_stats(fx.ts, 0);
    ck_assert_uint_eq(st->accepted, 1);
    ck_assert_uint_eq(st->established, 0);
    ck_assert_uint_eq(st->failed[why], 1);
    ck_assert_uint_eq(st->active, 0);
    ck_assert_uint_eq(st->bytes_up, 0);
    ck_assert_uint_eq(st->bytes_down, 0);
    fixture_free(&fx);
}

START_TEST(non_2xx_closes_haproxy_side)
{
    expect_refusal("HTTP/1.1 407 Proxy Authentication Required\r\n"
                   "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n",
                   TUNNEL_FAIL_REFUSED);
}
END_TEST

START_TEST(non_http_answer_is_a_protocol_failure)
{
    expect_refusal("SSH-2.0-OpenSSH_9.2\r\n", TUNNEL_FAIL_PROTOCOL);
}
END_TEST

START_TEST(proxy_hanging_up_is_closed)
{
    expect_refusal(NULL, TUNNEL_FAIL_CLOSED);
}
END_TEST

START_TEST(silent_proxy_times_out)
{
    /* The group's connect timeout is 1 s; the client's read waits up to 5. */
    expect_refusal("", TUNNEL_FAIL_TIMEOUT);
}
END_TEST

START_TEST(unreachable_proxy_is_a_connect_failure)
{
    struct fixture fx;
    const struct tunnel_stats *st;
    int cfd;

    fixture_start(&fx, false, NULL);
    cfd = client_connect(&fx);
    expect_eof(cfd);
    close(cfd);
    fixture_stop(&fx);
    st = tunnels_stats(fx.ts, 0);
    ck_assert_uint_eq(st->failed[TUNNEL_FAIL_CONNECT], 1);
    ck_assert_uint_eq(st->active, 0);
    fixture_free(&fx);
}
END_TEST

/* A proxy name that does not resolve fails the connection (as a lookup failure, whether
 * the DNS says so or the connect timeout ends the wait) without stopping the loop. */
START_TEST(unresolvable_proxy_is_a_resolve_failure)
{
    struct fixture fx;
    const struct tunnel_stats *st;
    int cfd;

    fixture_start_at(&fx, true, NULL, "no-such-proxy.invalid");
    cfd = client_connect(&fx);
    expect_eof(cfd);
    close(cfd);
    /* The loop still serves: a second connection is accepted and fails the same way. */
    cfd = client_connect(&fx);
    expect_eof(cfd);
    close(cfd);
    fixture_stop(&fx);
    st = tunnels_stats(fx.ts, 0);
    ck_assert_uint_eq(st->accepted, 2);
    ck_assert_uint_eq(st->failed[TUNNEL_FAIL_RESOLVE], 2);
    ck_assert_uint_eq(st->failed[TUNNEL_FAIL_CONNECT], 0);
    ck_assert_uint_eq(st->active, 0);
    fixture_free(&fx);
}
END_TEST

/* The /metrics page with the tunnels as its only live source. */
static void render_page(const struct tunnels *ts, struct buf *out)
{
    struct metrics *m = metrics_create();
    struct metrics_page_sources src = {.recorded = m, .tunnels = ts};

    ck_assert_ptr_nonnull(m);
    metrics_page_render(&src, 0, out);
    metrics_free(m);
}

START_TEST(metrics_name_every_reason)
{
    struct fixture fx;
    struct buf out;

    fixture_start(&fx, true, NULL);
    fixture_stop(&fx);
    buf_init(&out, 1 << 20);
    render_page(fx.ts, &out);
    ck_assert(!out.overflow);
    ck_assert_ptr_nonnull(strstr(
        out.data, "llmproxy_tunnel_connections_total{group=\"cloud\",upstream=\"api\"} 0\n"));
    for (int f = 0; f < TUNNEL_FAIL_COUNT; f++) {
        char line[160];

        snprintf(line, sizeof(line),
                 "llmproxy_tunnel_failures_total{group=\"cloud\",upstream=\"api\",reason=\"%s\"} 0",
                 tunnel_fail_name((enum tunnel_fail)f));
        ck_assert_msg(strstr(out.data, line), "%s", line);
    }
    ck_assert_ptr_nonnull(strstr(out.data, "direction=\"down\"} 0\n"));
    buf_free(&out);
    fixture_free(&fx);
}
END_TEST

START_TEST(no_proxy_no_tunnels)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char *diags;
    struct config *cfg = ctu_load("upstreams: [{name: a, url: 'http://a'}]\n"
                                  "upstream_groups: [{name: g, upstreams: [{name: a}]}]\n",
                                  NULL, &diags);
    struct tunnels *ts;
    struct buf out;

    ck_assert_msg(cfg != NULL, "%s", diags);
    free(diags);
    ts = tunnels_start(loop, cfg, &self_only);
    ck_assert_ptr_nonnull(ts);
    ck_assert_uint_eq(tunnels_count(ts), 0);
    buf_init(&out, 1 << 20);
    render_page(ts, &out);
    ck_assert(!out.overflow);
    ck_assert_ptr_null(strstr(out.data, "llmproxy_tunnel"));
    buf_free(&out);
    tunnels_free(ts);
    config_free(cfg);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(unbindable_socket_fails_start)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char *diags;
    struct config *cfg =
        ctu_load("upstreams: [{name: a, url: 'https://a'}]\n"
                 "upstream_groups:\n"
                 "  - {name: g, upstreams: [{name: a}],\n"
                 "     http_client: {proxy: {enabled: true, url: 'http://127.0.0.1:1'}}}\n"
                 "haproxy: {run_dir: '/nonexistent/llmproxy-check'}\n",
                 NULL, &diags);

    ck_assert_msg(cfg != NULL, "%s", diags);
    free(diags);
    ck_assert_ptr_null(tunnels_start(loop, cfg, &self_only));
    config_free(cfg);
    ev_loop_destroy(loop);
}
END_TEST

static Suite *tunnel_suite(void)
{
    Suite *s = suite_create("tunnel");
    TCase *tc = tcase_create("tunnel");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, relays_both_ways_with_half_close);
    tcase_add_test(tc, non_2xx_closes_haproxy_side);
    tcase_add_test(tc, non_http_answer_is_a_protocol_failure);
    tcase_add_test(tc, proxy_hanging_up_is_closed);
    tcase_add_test(tc, silent_proxy_times_out);
    tcase_add_test(tc, unreachable_proxy_is_a_connect_failure);
    tcase_add_test(tc, unresolvable_proxy_is_a_resolve_failure);
    tcase_add_test(tc, metrics_name_every_reason);
    tcase_add_test(tc, no_proxy_no_tunnels);
    tcase_add_test(tc, unbindable_socket_fails_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tunnel_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
