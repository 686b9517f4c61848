/*
 * Listener admission control: which connection eviction picks, the descriptor share, and
 * on a real loopback listener, the limit, eviction, and running out of descriptors without
 * spinning (the newcomer is shed on the spare descriptor and accepting pauses).
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "list.h"
#include "net.h"

START_TEST(eviction_order)
{
    struct slot_use fresh_unproven = {.last_active = 100, .proven = false};
    struct slot_use old_unproven = {.last_active = 10, .proven = false};
    struct slot_use old_proven = {.last_active = 1, .proven = true};
    struct slot_use newer_proven = {.last_active = 50, .proven = true};
    struct slot_use busy = {.last_active = 0, .proven = false, .busy = true};

    /* Anything not busy may go; a busy one never, not even alone. */
    ck_assert(slot_evict_before(&fresh_unproven, NULL));
    ck_assert(!slot_evict_before(&busy, NULL));
    ck_assert(!slot_evict_before(&busy, &newer_proven));
    /* Never proven goes before proven, however long the proven one has been idle. */
    ck_assert(slot_evict_before(&fresh_unproven, &old_proven));
    ck_assert(!slot_evict_before(&old_proven, &fresh_unproven));
    /* Among equals, the one idle longest. */
    ck_assert(slot_evict_before(&old_unproven, &fresh_unproven));
    ck_assert(!slot_evict_before(&fresh_unproven, &old_unproven));
    ck_assert(slot_evict_before(&old_proven, &newer_proven));
    ck_assert(!slot_evict_before(&old_proven, &old_proven));
}
END_TEST

START_TEST(descriptor_share)
{
    struct rlimit saved, rl;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    rl.rlim_cur = 256;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(acceptor_fd_share(4096, 4), 128);
    ck_assert_uint_eq(acceptor_fd_share(64, 1), 32);
    ck_assert_uint_eq(acceptor_fd_share(10, 4), 10);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
}
END_TEST

/* ---- a real listener --------------------------------------------------------------- */

/* A listener's owner as the agent's listeners are: a list of connections, each with its
 * slot_use; the first admitted is the oldest. */
struct held_conn {
    int fd;
    struct owner *owner;
    struct list link;
    struct slot_use use;
};

struct owner {
    struct list conns; /* newest first */
    uint64_t open;
    double clock; /* a fake last_active: later admitted, later active */
    bool busy;    /* connections admitted busy: never evicted */
};

static bool own_admit(void *ctx, int fd)
{
    struct owner *o = ctx;
    struct held_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return false;
    *c = (struct held_conn){fd, o, {NULL, NULL}, {.last_active = ++o->clock, .busy = o->busy}};
    list_insert(&o->conns, &c->link);
    o->open++;
    return true;
}

static struct list *own_conns(void *ctx)
{
    return &((struct owner *)ctx)->conns;
}

static void own_close(void *conn)
{
    struct held_conn *c = conn;

    list_delete(&c->link);
    c->owner->open--;
    close(c->fd);
    free(c);
}

static void own_free(struct owner *o)
{
    while (!list_empty(&o->conns))
        own_close(list_first_entry(&o->conns, struct held_conn, link));
}

static const struct acceptor_ops own_ops = {"test",
                                            own_admit,
                                            own_conns,
                                            own_close,
                                            offsetof(struct held_conn, link),
                                            offsetof(struct held_conn, use)};

static int listen_fd;
static uint16_t listen_port;

static void setup_listener(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    listen_fd = net_listen_tcp("127.0.0.1", 0, 64);
    ck_assert_int_ge(listen_fd, 0);
    ck_assert_int_eq(getsockname(listen_fd, (struct sockaddr *)&sa, &len), 0);
    listen_port = ntohs(sa.sin_port);
}

static int dial(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(listen_port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Closed by the other side: EOF or reset, at once (the socket is made non-blocking). */
static bool closed_by_peer(int fd)
{
    char c;
    ssize_t n;

    fcntl(fd, F_SETFL, O_NONBLOCK);
    n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

START_TEST(limit_then_eviction)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct owner o = {.busy = true};
    struct acceptor a;
    struct list *link;
    int c[4];

    list_init(&o.conns);
    setup_listener();
    acceptor_start(&a, loop, listen_fd, 2, &o.open, &own_ops, &o);
    for (int i = 0; i < 3; i++)
        c[i] = dial();
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_uint_eq(a.st.accepted, 2);
    ck_assert_uint_eq(a.st.refused_limit, 1);
    ck_assert(closed_by_peer(c[2])); /* the newcomer is told at once */
    ck_assert(!closed_by_peer(c[0]));

    list_for_each (link, &o.conns)
        list_entry(link, struct held_conn, link)->use.busy = false;
    c[3] = dial();
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_uint_eq(a.st.accepted, 3);
    ck_assert_uint_eq(a.st.evicted, 1);
    ck_assert(closed_by_peer(c[0])); /* the oldest made room */
    ck_assert(!closed_by_peer(c[3]));

    acceptor_stop(&a);
    for (int i = 0; i < 4; i++)
        close(c[i]);
    own_free(&o);
    close(listen_fd);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(out_of_descriptors_sheds_and_pauses)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct owner o = {.busy = true}; /* nothing to evict: the newcomer must be shed */
    struct acceptor a;
    struct rlimit saved, rl;
    int c[2], fillers[64], n_fillers = 0, fd;

    list_init(&o.conns);
    setup_listener();
    acceptor_start(&a, loop, listen_fd, 100, &o.open, &own_ops, &o);
    c[0] = dial();
    c[1] = dial();
    /* Take every descriptor left under a lowered limit. */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    rl.rlim_cur = (rlim_t)c[1] + 8;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    while (n_fillers < 64 && (fd = open("/dev/null", O_RDONLY)) >= 0)
        fillers[n_fillers++] = fd;
    ck_assert_int_eq(errno, EMFILE);

    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_uint_eq(a.st.accepted, 0);
    ck_assert_uint_eq(a.st.refused_fds, 1);
    ck_assert(closed_by_peer(c[0]));    /* shed on the spare descriptor */
    ck_assert(!ev_is_active(&a.io));    /* no busy loop: accepting paused... */
    ck_assert(ev_is_active(&a.resume)); /* ...for a while */
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_uint_eq(a.st.refused_fds, 1);

    /* Descriptors come back: after the pause the waiting connection is accepted. */
    for (int i = 0; i < n_fillers; i++)
        close(fillers[i]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ev_run(loop, EVRUN_ONCE); /* the resume timer */
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_uint_eq(a.st.accepted, 1);
    ck_assert(!closed_by_peer(c[1]));

    acceptor_stop(&a);
    close(c[0]);
    close(c[1]);
    own_free(&o);
    close(listen_fd);
    ev_loop_destroy(loop);
}
END_TEST

static Suite *acceptor_suite(void)
{
    Suite *s = suite_create("acceptor");
    TCase *tc = tcase_create("choice");

    tcase_add_test(tc, eviction_order);
    tcase_add_test(tc, descriptor_share);
    suite_add_tcase(s, tc);
    tc = tcase_create("listener");
    tcase_add_test(tc, limit_then_eviction);
    tcase_add_test(tc, out_of_descriptors_sheds_and_pauses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(acceptor_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
