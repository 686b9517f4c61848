/*
 * resolver: lookups finish on the loop, with the address or the error, exactly once;
 * cancelled lookups never call back; nothing leaks, even when the resolver goes first.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#include <ev.h>

#include "resolver.h"

struct outcome {
    int calls;
    int err;
    struct sockaddr_storage addr;
    socklen_t len;
};

static void on_done(void *ctx, int err, const struct sockaddr *addr, socklen_t len)
{
    struct outcome *o = ctx;

    o->calls++;
    o->err = err;
    o->len = len;
    if (addr)
        memcpy(&o->addr, addr, len);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until `r` has nothing in flight, at most 10 s. */
static void run_until_idle(struct ev_loop *loop, struct resolver *r)
{
    ev_timer deadline;
    ev_tstamp until = ev_time() + 10;

    ev_timer_init(&deadline, on_deadline, 0.01, 0.01);
    ev_timer_start(loop, &deadline);
    while (resolver_pending(r) && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &deadline);
}

START_TEST(literal_resolves_on_the_loop)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct resolver *r = resolver_create(loop);
    struct outcome o = {0};
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&o.addr;

    ck_assert_ptr_nonnull(resolver_start(r, "127.0.0.1", 3128, on_done, &o));
    ck_assert_uint_eq(resolver_pending(r), 1);
    ck_assert_int_eq(o.calls, 0); /* never from inside resolver_start */
    run_until_idle(loop, r);
    ck_assert_int_eq(o.calls, 1);
    ck_assert_int_eq(o.err, 0);
    ck_assert_uint_eq(o.len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(ntohs(sin->sin_port), 3128);
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    resolver_free(r);
    ev_loop_destroy(loop);
}
END_TEST

/* An empty label is refused by the stub resolver itself: no network needed. */
START_TEST(bad_name_reports_the_error)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct resolver *r = resolver_create(loop);
    struct outcome o = {0}, v6 = {0};

    ck_assert_ptr_nonnull(resolver_start(r, "bad..name", 80, on_done, &o));
    ck_assert_ptr_nonnull(resolver_start(r, "::1", 443, on_done, &v6));
    run_until_idle(loop, r);
    ck_assert_int_eq(o.calls, 1);
    ck_assert_int_ne(o.err, 0);
    ck_assert_uint_eq(o.len, 0);
    ck_assert_int_eq(v6.calls, 1);
    ck_assert_int_eq(v6.err, 0);
    ck_assert_int_eq(((struct sockaddr_in6 *)&v6.addr)->sin6_family, AF_INET6);
    resolver_free(r);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(cancelled_lookup_never_calls_back)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct resolver *r = resolver_create(loop);
    struct outcome o = {0}, kept = {0};
    struct resolver_lookup *l = resolver_start(r, "127.0.0.1", 80, on_done, &o);

    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(resolver_start(r, "127.0.0.2", 80, on_done, &kept));
    resolver_cancel(l);
    run_until_idle(loop, r);
    ck_assert_int_eq(o.calls, 0);
    ck_assert_int_eq(kept.calls, 1);
    ck_assert_uint_eq(resolver_pending(r), 0);
    resolver_free(r);
    ev_loop_destroy(loop);
}
END_TEST

/* Freed with lookups in flight: they are waited for and released (ASan checks the rest). */
START_TEST(free_with_lookups_in_flight)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct resolver *r = resolver_create(loop);
    struct outcome o = {0};

    for (int i = 0; i < 8; i++)
        ck_assert_ptr_nonnull(resolver_start(r, "127.0.0.1", (uint16_t)(80 + i), on_done, &o));
    ck_assert_uint_eq(resolver_pending(r), 8);
    resolver_free(r);
    ck_assert_int_eq(o.calls, 0);
    ev_loop_destroy(loop);
}
END_TEST

static Suite *resolver_suite(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = tcase_create("lookups");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, literal_resolves_on_the_loop);
    tcase_add_test(tc, bad_name_reports_the_error);
    tcase_add_test(tc, cancelled_lookup_never_calls_back);
    tcase_add_test(tc, free_with_lookups_in_flight);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(resolver_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
