/*
 * The stuck log forwarder's rescue: finding the ring forwarder's stream in HAProxy's
 * detailed `show sess` dump (as 3.0.11 and 3.2.0 print it), whatever the dump's cuts and
 * whatever else it holds; when to look; and the rescue on a loop against a runtime API
 * socket served by the test (answering, refusing, absent).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "feed_rescue.h"
#include "util/fake_hapi.h"

#define RING "llm_logs"

/* A ring forwarder's block, as HAProxy 3.0.11 printed it for a forwarder stuck on a closed
 * agent, with `address` in place of its stream's. */
#define FORWARDER(address)                                                                         \
    address ": [05/Dec/2026:05:32:39.003749] id=0 proto=?\n"                                       \
            "  flags=0x42, conn_retries=0, conn_exp=<NEVER> conn_et=0x000 "                        \
            "srv_conn=0x55bcafe1e900, pend_pos=(nil) waiting=0 epoch=0\n"                          \
            "  frontend=llm_logs (id=7 mode=tcp), listener=? (id=0)\n"                             \
            "  backend=llm_logs (id=7 mode=tcp) addr=unix\n"                                       \
            "  server=logfeed (id=1) addr=unix\n"                                                  \
            "  task=0x55bcb004ba20 (state=0x00 nice=0 calls=2 rate=0 exp=<NEVER> tid=0(1/0) "      \
            "age=6s)\n"                                                                            \
            "  scf=0x55bcaff8bbe0 flags=0x00020040 ioto=0s state=EST "                             \
            "endp=APPCTX,0x55bcafe14590,0x50100402 sub=0 rex=<NEVER> wex=<NEVER> rto=? "           \
            "wto=<NEVER>\n"                                                                        \
            "    iobuf.flags=0x00000000 .pipe=0 .buf=0@(nil)+0/0\n"                                \
            "      app0=0x55bcafe14590 st0=0 st1=0 applet=<SINKFWDOC> tid=0 nice=0 calls=11 "      \
            "rate=0\n"                                                                             \
            "  scb=0x55bcaff55280 flags=0x0004004b ioto=10s state=EST "                            \
            "endp=CONN,0x55bcb004fbd0,0x1060c001 sub=0 rex=<NEVER> wex=<NEVER> rto=4s "            \
            "wto=<NEVER>\n"                                                                        \
            "      co1=0x55bcaff9c2b0 ctrl=unix_stream xprt=RAW mux=PASS data=STRM "               \
            "target=SERVER:0x55bcafe1e900\n"                                                       \
            "  req=0x55bcafee4468 (f=0x848000 an=0x0 tofwd=-1 total=417)\n"

/* The SPOE applet's stream of the same dump: an applet too, on another frontend. */
#define SPOE_STREAM(address)                                                                       \
    address ": [05/Dec/2026:05:32:43.079770] id=12 proto=?\n"                                      \
            "  frontend=pick_main (id=4294967295 mode=tcp), listener=? (id=0)\n"                   \
            "  backend=llm_agent (id=6 mode=tcp) addr=unix\n"                                      \
            "  server=agent (id=1) addr=unix\n"                                                    \
            "      app0=0x55bcb00542e0 st0=2 st1=0 applet=<SPOE> tid=0 nice=0 calls=3 rate=0\n"

static struct sess_scan scan_all(const char *dump, size_t step)
{
    struct sess_scan s;
    size_t len = strlen(dump);

    sess_scan_init(&s, RING);
    for (size_t at = 0; at < len; at += step)
        sess_scan_feed(&s, dump + at, len - at < step ? len - at : step);
    sess_scan_end(&s);
    return s;
}

START_TEST(test_finds_the_forwarder_among_other_streams)
{
    static const char dump[] =
        SPOE_STREAM("0x55bcb005de60") FORWARDER("0x55bcafee4440") SPOE_STREAM("0x7f0fd005b2b0");
    /* Whole, byte by byte, and in cuts that fall anywhere in a line. */
    static const size_t steps[] = {sizeof(dump), 1, 7, 160, 161};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct sess_scan s = scan_all(dump, steps[i]);

        ck_assert_uint_eq(s.n_found, 1);
        ck_assert_str_eq(s.found[0], "0x55bcafee4440");
    }
}
END_TEST

START_TEST(test_last_block_without_final_newline)
{
    static const char dump[] = FORWARDER("0x7f859c0530e0");
    struct sess_scan s = scan_all(dump, sizeof(dump));

    ck_assert_uint_eq(s.n_found, 1);
    ck_assert_str_eq(s.found[0], "0x7f859c0530e0");
}
END_TEST

START_TEST(test_nothing_in_a_dump_without_forwarder)
{
    ck_assert_uint_eq(scan_all(SPOE_STREAM("0x55bcb005de60"), 5).n_found, 0);
    ck_assert_uint_eq(scan_all("", 1).n_found, 0);
    /* HAProxy 2.6 reads `older` as a stream address: one line, no stream. */
    ck_assert_uint_eq(scan_all("Session not found.\n", 3).n_found, 0);
}
END_TEST

/* What a stream must show to be ended: the ring as frontend and backend, and the forwarder
 * applet, in its own block. Anything less is some other stream, and stays. */
START_TEST(test_every_mark_is_needed)
{
    static const char *const not_forwarders[] = {
        /* another ring whose name starts with ours */
        "0x1a: x\n  frontend=llm_logs2 (id=7)\n  backend=llm_logs2 (id=7)\n applet=<SINKFWD>\n",
        /* our ring's name, another applet */
        "0x1b: x\n  frontend=llm_logs (id=7)\n  backend=llm_logs (id=7)\n applet=<SPOE>\n",
        /* the forwarder applet on another frontend */
        "0x1c: x\n  frontend=fwd_main (id=2)\n  backend=llm_logs (id=7)\n applet=<SINKFWD>\n",
        /* the marks split over two blocks */
        "0x1d: x\n  frontend=llm_logs (id=7)\n  backend=llm_logs (id=7)\n"
        "0x1e: x\n applet=<SINKFWD>\n",
        /* marks before any block */
        "  frontend=llm_logs (id=7)\n  backend=llm_logs (id=7)\n applet=<SINKFWD>\n",
        /* an address longer than a pointer, or without its colon, starts no block */
        "0x123456789abcdef012: x\n  frontend=llm_logs (id=7)\n  backend=llm_logs (id=7)\n"
        " applet=<SINKFWD>\n",
        "0x1f x\n  frontend=llm_logs (id=7)\n  backend=llm_logs (id=7)\n applet=<SINKFWD>\n",
        /* a mark inside another field's value, not at the line's start */
        "0x20: x\n  uri=  frontend=llm_logs (\n  backend=llm_logs (id=7)\n applet=<SINKFWD>\n",
    };

    for (size_t i = 0; i < sizeof(not_forwarders) / sizeof(not_forwarders[0]); i++)
        ck_assert_msg(scan_all(not_forwarders[i], 3).n_found == 0, "case %zu", i);
    ck_assert_uint_eq(
        scan_all(
            "0x21: x\n  frontend=llm_logs (id=7)\n  backend=llm_logs (id=7)\n applet=<SINKFWD>\n",
            3)
            .n_found,
        1);
}
END_TEST

START_TEST(test_long_lines_and_many_forwarders_stay_bounded)
{
    size_t len = 0, cap = 64 * 1024 + 8 * 2048;
    char *dump = malloc(cap);
    static const char fwd[] = FORWARDER("0x55bcafee4440");
    struct sess_scan s;

    ck_assert_ptr_nonnull(dump);
    /* A 64 KiB line first: skipped past its kept prefix, no block. */
    memset(dump, 'A', 64 * 1024);
    len = 64 * 1024;
    dump[len++] = '\n';
    for (int i = 0; i < FEED_RESCUE_MAX_STUCK + 3; i++) {
        memcpy(dump + len, fwd, strlen(fwd));
        len += strlen(fwd);
    }
    dump[len] = '\0';
    s = scan_all(dump, 4096);
    ck_assert_uint_eq(s.n_found, FEED_RESCUE_MAX_STUCK);
    free(dump);
}
END_TEST

/* ---- when to look ---- */

START_TEST(test_looks_only_when_silent_long_enough_while_haproxy_runs)
{
    struct feed_rescue_clock c;

    feed_rescue_clock_init(&c, 1000);
    ck_assert(!feed_rescue_due(&c, 1000 + FEED_RESCUE_SILENT_MS - 1, false, true));
    /* HAProxy not seen running: no look, however long the silence. */
    ck_assert(!feed_rescue_due(&c, 1000 + FEED_RESCUE_SILENT_MS, false, false));
    ck_assert(feed_rescue_due(&c, 1000 + FEED_RESCUE_SILENT_MS, false, true));
    /* A feed connection open: the silence starts again from there. */
    ck_assert(!feed_rescue_due(&c, 9000, true, true));
    ck_assert(!feed_rescue_due(&c, 9000 + FEED_RESCUE_SILENT_MS - 1, false, true));
    ck_assert(feed_rescue_due(&c, 9000 + FEED_RESCUE_SILENT_MS, false, true));
}
END_TEST

START_TEST(test_fruitless_looks_back_off)
{
    struct feed_rescue_clock c;
    uint64_t now = FEED_RESCUE_SILENT_MS, gap = FEED_RESCUE_GAP_MS;

    feed_rescue_clock_init(&c, 0);
    ck_assert(feed_rescue_due(&c, now, false, true));
    for (int i = 0; i < 12; i++) {
        ck_assert(!feed_rescue_due(&c, now + gap - 1, false, true));
        ck_assert(feed_rescue_due(&c, now + gap, false, true));
        now += gap;
        gap = gap * 2 > FEED_RESCUE_GAP_MAX_MS ? FEED_RESCUE_GAP_MAX_MS : gap * 2;
    }
    ck_assert_uint_eq(gap, FEED_RESCUE_GAP_MAX_MS);
    /* The feed comes back: the next silence is looked at after the first gap again. */
    ck_assert(!feed_rescue_due(&c, now + 1, true, true));
    now += 1 + FEED_RESCUE_SILENT_MS;
    ck_assert(feed_rescue_due(&c, now, false, true));
    ck_assert(!feed_rescue_due(&c, now + FEED_RESCUE_GAP_MS - 1, false, true));
    ck_assert(feed_rescue_due(&c, now + FEED_RESCUE_GAP_MS, false, true));
}
END_TEST

/* ---- the rescue on a loop ---- */

static struct ev_loop *test_loop;
static struct fake_hapi fk;
static struct feed_rescue rescue;

static void setup(void)
{
    test_loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(test_loop);
    fake_hapi_init(&fk, test_loop);
    ck_assert(feed_rescue_init(&rescue, test_loop, fk.path, RING, 0));
}

static void teardown(void)
{
    feed_rescue_free(&rescue);
    fake_hapi_free(&fk);
    ev_loop_destroy(test_loop);
}

static void on_iteration(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)w;
    (void)revents;
    if (rescue.phase == RESCUE_WATCHING)
        ev_break(loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* The feed has been absent past the silence bound while HAProxy runs: one tick looks, and
 * the loop runs until the look and what it asked for are answered. */
static void look_once(void)
{
    ev_check check;
    ev_timer guard;

    feed_rescue_tick(&rescue, FEED_RESCUE_SILENT_MS, false, true);
    ck_assert_int_eq(rescue.phase, RESCUE_LISTING);
    ev_check_init(&check, on_iteration);
    ev_timer_init(&guard, on_guard, 3., 0.);
    ev_check_start(test_loop, &check);
    ev_timer_start(test_loop, &guard);
    ev_run(test_loop, 0);
    ev_check_stop(test_loop, &check);
    ev_timer_stop(test_loop, &guard);
    ck_assert_int_eq(rescue.phase, RESCUE_WATCHING);
}

/* HAProxy answers the listing with `listing`, a `shutdown session` with `ended`. */
static void rescue_with(const char *listing, const char *ended)
{
    fk.reply[0] = listing;
    fk.reply[1] = ended;
    fake_hapi_listen(&fk);
    look_once();
}

START_TEST(test_ends_the_forwarder_the_listing_names)
{
    rescue_with(SPOE_STREAM("0x55bcb005de60") FORWARDER("0x55bcafee4440") "\n", "\n");
    ck_assert_str_eq(fk.got, "show sess older 2\nshutdown session 0x55bcafee4440\n");
    ck_assert_uint_eq(rescue.stats.rescued, 1);
}
END_TEST

START_TEST(test_a_refused_shutdown_is_not_a_rescue)
{
    rescue_with(FORWARDER("0x55bcafee4440") "\n", "No such session (use 'show sess').\n\n");
    ck_assert_str_eq(fk.got, "show sess older 2\nshutdown session 0x55bcafee4440\n");
    ck_assert_uint_eq(rescue.stats.rescued, 0);
}
END_TEST

START_TEST(test_a_listing_without_forwarder_ends_nothing)
{
    rescue_with(SPOE_STREAM("0x55bcb005de60") "\n", NULL);
    ck_assert_str_eq(fk.got, "show sess older 2\n");
    ck_assert_uint_eq(rescue.stats.rescued, 0);
}
END_TEST

START_TEST(test_an_absent_haproxy_is_looked_at_later)
{
    look_once(); /* nobody listens: the listing fails */
    ck_assert_uint_eq(rescue.stats.rescued, 0);
    feed_rescue_tick(&rescue, FEED_RESCUE_SILENT_MS + FEED_RESCUE_GAP_MS - 1, false, true);
    ck_assert_int_eq(rescue.phase, RESCUE_WATCHING);
    feed_rescue_tick(&rescue, FEED_RESCUE_SILENT_MS + FEED_RESCUE_GAP_MS, false, true);
    ck_assert_int_eq(rescue.phase, RESCUE_LISTING);
}
END_TEST

static Suite *feed_rescue_suite(void)
{
    Suite *s = suite_create("feed_rescue");
    TCase *scan = tcase_create("scan");
    TCase *clock = tcase_create("clock");
    TCase *live = tcase_create("rescue");

    tcase_add_test(scan, test_finds_the_forwarder_among_other_streams);
    tcase_add_test(scan, test_last_block_without_final_newline);
    tcase_add_test(scan, test_nothing_in_a_dump_without_forwarder);
    tcase_add_test(scan, test_every_mark_is_needed);
    tcase_add_test(scan, test_long_lines_and_many_forwarders_stay_bounded);
    suite_add_tcase(s, scan);
    tcase_add_test(clock, test_looks_only_when_silent_long_enough_while_haproxy_runs);
    tcase_add_test(clock, test_fruitless_looks_back_off);
    suite_add_tcase(s, clock);
    tcase_add_checked_fixture(live, setup, teardown);
    tcase_set_timeout(live, 15);
    tcase_add_test(live, test_ends_the_forwarder_the_listing_names);
    tcase_add_test(live, test_a_refused_shutdown_is_not_a_rescue);
    tcase_add_test(live, test_a_listing_without_forwarder_ends_nothing);
    tcase_add_test(live, test_an_absent_haproxy_is_looked_at_later);
    suite_add_tcase(s, live);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(feed_rescue_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
