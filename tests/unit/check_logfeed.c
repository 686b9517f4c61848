/*
 * The log feed: octet-count framing split anywhere, several records per read, bad and
 * oversize lengths; per-record counting; and the listener on loopback with two
 * connections (an old and a new HAProxy worker).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config-t.h"
#include "logfeed.h"
#include "logframe.h"
#include "logline.h"
#include "net.h"
#include "unix_socket.h"

#define MAX_MSGS 16

/* What the decoder delivered. */
struct sink {
    size_t n;
    char msg[MAX_MSGS][LOGFRAME_MAX_MSG + 1];
    size_t len[MAX_MSGS];
};

static void collect(void *ctx, const char *msg, size_t len)
{
    struct sink *s = ctx;

    ck_assert_uint_lt(s->n, MAX_MSGS);
    ck_assert_uint_le(len, LOGFRAME_MAX_MSG);
    memcpy(s->msg[s->n], msg, len);
    s->msg[s->n][len] = '\0';
    s->len[s->n] = len;
    s->n++;
}

static struct logframe *new_frame(void)
{
    struct logframe *f = malloc(sizeof(*f));

    ck_assert_ptr_nonnull(f);
    logframe_init(f);
    return f;
}

static struct sink *new_sink(void)
{
    struct sink *s = calloc(1, sizeof(*s));

    ck_assert_ptr_nonnull(s);
    return s;
}

static int feed_str(struct logframe *f, const char *data, struct sink *s)
{
    return logframe_feed(f, data, strlen(data), collect, s);
}

/* Three records as HAProxy's ring writes them back to back (captured, shortened ids). */
static const char STREAM[] =
    "37 LLMA1 id1 g a 200 0 0 0 104 1049 ----"
    "69 LLMR4 id1 main g - - POST 200 0 0 0 0 104 1049 ---- 0 a grp_g - - \"/\""
    "1 x";

static void assert_stream_messages(const struct sink *s)
{
    ck_assert_uint_eq(s->n, 3);
    ck_assert_str_eq(s->msg[0], "LLMA1 id1 g a 200 0 0 0 104 1049 ----");
    ck_assert_str_eq(s->msg[1],
                     "LLMR4 id1 main g - - POST 200 0 0 0 0 104 1049 ---- 0 a grp_g - - \"/\"");
    ck_assert_str_eq(s->msg[2], "x");
}

START_TEST(test_records_in_one_read)
{
    struct logframe *f = new_frame();
    struct sink *s = new_sink();

    ck_assert_int_eq(feed_str(f, STREAM, s), 0);
    assert_stream_messages(s);
    ck_assert_int_eq(f->phase, LOGFRAME_PHASE_LENGTH);
    free(f);
    free(s);
}
END_TEST

/* Two reads split at every position give the same messages. */
START_TEST(test_split_anywhere)
{
    size_t n = strlen(STREAM);

    for (size_t cut = 0; cut <= n; cut++) {
        struct logframe *f = new_frame();
        struct sink *s = new_sink();

        ck_assert_int_eq(logframe_feed(f, STREAM, cut, collect, s), 0);
        ck_assert_int_eq(logframe_feed(f, STREAM + cut, n - cut, collect, s), 0);
        assert_stream_messages(s);
        free(f);
        free(s);
    }
}
END_TEST

START_TEST(test_byte_by_byte)
{
    struct logframe *f = new_frame();
    struct sink *s = new_sink();

    for (size_t i = 0; STREAM[i]; i++)
        ck_assert_int_eq(logframe_feed(f, STREAM + i, 1, collect, s), 0);
    assert_stream_messages(s);
    /* An empty read changes nothing. */
    ck_assert_int_eq(logframe_feed(f, STREAM, 0, collect, s), 0);
    ck_assert_uint_eq(s->n, 3);
    free(f);
    free(s);
}
END_TEST

struct bad_length {
    const char *data;
    enum logframe_error want;
    size_t delivered; /* messages before the fault */
};

static const struct bad_length bad_lengths[] = {
    {"x", LOGFRAME_ERR_LENGTH, 0},
    {" 5 hello", LOGFRAME_ERR_LENGTH, 0},
    {"0 ", LOGFRAME_ERR_LENGTH, 0},
    {"05 hello", LOGFRAME_ERR_LENGTH, 0},
    {"5\nhello", LOGFRAME_ERR_LENGTH, 0},
    {"-5 hello", LOGFRAME_ERR_LENGTH, 0},
    {"12a", LOGFRAME_ERR_LENGTH, 0},
    {"5  hello", LOGFRAME_ERR_LENGTH, 1}, /* "5  hel" is a message " hell", then "o" */
    {"2 ab3 abcX", LOGFRAME_ERR_LENGTH, 2},
    {"8193 ", LOGFRAME_ERR_OVERSIZE, 0},
    {"99999999999999999999999999", LOGFRAME_ERR_OVERSIZE, 0},
    {"1 a10000", LOGFRAME_ERR_OVERSIZE, 1},
};

START_TEST(test_bad_length)
{
    const struct bad_length *bl = &bad_lengths[_i];
    struct logframe *f = new_frame();
    struct sink *s = new_sink();

    ck_assert_int_eq(feed_str(f, bl->data, s), -(int)bl->want);
    ck_assert_uint_eq(s->n, bl->delivered);
    /* Sticky: nothing more is decoded from a broken stream. */
    ck_assert_int_eq(feed_str(f, "1 a", s), -(int)bl->want);
    ck_assert_uint_eq(s->n, bl->delivered);
    free(f);
    free(s);
}
END_TEST

START_TEST(test_largest_record)
{
    struct logframe *f = new_frame();
    struct sink *s = new_sink();
    char *rec = malloc(LOGFRAME_MAX_MSG + 16);
    int hdr;

    ck_assert_ptr_nonnull(rec);
    hdr = snprintf(rec, 16, "%d ", LOGFRAME_MAX_MSG);
    memset(rec + hdr, 'm', LOGFRAME_MAX_MSG);
    /* Held across reads in the buffer, delivered whole. */
    ck_assert_int_eq(logframe_feed(f, rec, (size_t)hdr + 100, collect, s), 0);
    ck_assert_uint_eq(s->n, 0);
    ck_assert_int_eq(logframe_feed(f, rec + hdr + 100, LOGFRAME_MAX_MSG - 100, collect, s), 0);
    ck_assert_uint_eq(s->n, 1);
    ck_assert_uint_eq(s->len[0], LOGFRAME_MAX_MSG);
    ck_assert_int_eq(s->msg[0][LOGFRAME_MAX_MSG - 1], 'm');
    free(rec);
    free(f);
    free(s);
}
END_TEST

START_TEST(test_error_names)
{
    ck_assert_str_eq(logframe_error_name(-LOGFRAME_ERR_LENGTH), "length");
    ck_assert_str_eq(logframe_error_name(LOGFRAME_ERR_OVERSIZE), "oversize");
    ck_assert_str_eq(logframe_error_name(42), "unknown");
}
END_TEST

/* ---- records to lines ------------------------------------------------------------------ */

struct lines {
    size_t n;
    enum logline_kind kind[MAX_MSGS];
    bool pinned[MAX_MSGS];
};

static void count_line(void *ctx, const struct logline *l)
{
    struct lines *ls = ctx;

    ck_assert_uint_lt(ls->n, MAX_MSGS);
    ls->kind[ls->n] = l->kind;
    ls->pinned[ls->n] = l->pinned;
    ls->n++;
}

static void record_str(struct logfeed_stats *st, const char *msg, struct lines *ls)
{
    logfeed_record(st, msg, strlen(msg), count_line, ls);
}

START_TEST(test_record_counting)
{
    struct logfeed_stats st = {0};
    struct lines ls = {0};

    record_str(&st, "LLMA1 id g a 200 0 0 0 104 1049 ----", &ls);
    record_str(&st, "LLMR4 id main g - - GET 200 0 0 0 0 1 2 ---- 0 a grp_g - - \"/\"", &ls);
    record_str(&st, "LLMA1 id g a 200 0 0 0 104 1049 ", &ls);
    record_str(&st, "LLMA1 id g a 200 0 0 0 104 1049", &ls);
    record_str(&st, "hello", &ls);
    /* A pinned request is one line, delivered once: its attempt is the receiver's view. */
    record_str(&st, "LLMR4 id main g - - GET 200 0 0 0 0 1 2 ---- 0 a pin_g__a - - \"/\"", &ls);
    /* An HAProxy still on the previous configuration: counted, under its reason. */
    record_str(&st, "LLMR1 id main g GET 200 0 0 0 0 1 2 ---- 0 a - - \"/\"", &ls);
    ck_assert_uint_eq(st.lines, 7);
    ck_assert_uint_eq(st.parsed, 3);
    ck_assert_uint_eq(st.malformed, 4);
    ck_assert_uint_eq(st.malformed_by_reason[LOGLINE_ERR_TRUNCATED], 2);
    ck_assert_uint_eq(st.malformed_by_reason[LOGLINE_ERR_TAG], 2);
    ck_assert_uint_eq(ls.n, 3);
    ck_assert_int_eq(ls.kind[0], LOGLINE_ATTEMPT);
    ck_assert_int_eq(ls.kind[1], LOGLINE_REQUEST);
    ck_assert(!ls.pinned[1]);
    ck_assert_int_eq(ls.kind[2], LOGLINE_REQUEST);
    ck_assert(ls.pinned[2]);
}
END_TEST

/* ---- the listener on loopback ---------------------------------------------------------- */

static uint16_t free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int connect_to(uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Run the loop until `cond` holds, at most ~2 s. */
#define RUN_UNTIL(loop, cond)                                                                      \
    do {                                                                                           \
        for (int i_ = 0; i_ < 2000 && !(cond); i_++) {                                             \
            ev_run((loop), EVRUN_NOWAIT);                                                          \
            usleep(1000);                                                                          \
        }                                                                                          \
        ck_assert(cond);                                                                           \
    } while (0)

/* TCP here: the owner only matters to a unix socket listener. */
static const struct unix_owner self_only = {(uid_t)-1, (gid_t)-1, 0600};

START_TEST(test_listener_two_connections)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char addr[] = "127.0.0.1";
    struct conf_listen listen = {.address = addr, .port = free_port()};
    struct lines ls = {0};
    struct logfeed *lf = logfeed_start(loop, &listen, &self_only, count_line, &ls);
    const struct logfeed_stats *st;
    int old_worker, new_worker;

    ck_assert_ptr_nonnull(lf);
    st = logfeed_stats(lf);
    old_worker = connect_to(listen.port);
    new_worker = connect_to(listen.port);
    RUN_UNTIL(loop, st->open == 2);
    /* Half a record from one worker, a whole one from the other, then the rest. */
    send_str(old_worker, "37 LLMA1 id1 g a 200 0 0 0 104 10");
    send_str(new_worker, "37 LLMA1 id2 g b 503 0 0 0 104 1049 ----");
    RUN_UNTIL(loop, ls.n == 1);
    send_str(old_worker, "49 ----");
    RUN_UNTIL(loop, ls.n == 2);
    ck_assert_uint_eq(st->parsed, 2);
    /* A bad length drops only that connection. */
    send_str(old_worker, "x");
    RUN_UNTIL(loop, st->open == 1);
    ck_assert_uint_eq(st->bad_length, 1);
    send_str(new_worker, "9 malformed");
    RUN_UNTIL(loop, st->lines == 3);
    ck_assert_uint_eq(st->malformed_by_reason[LOGLINE_ERR_TAG], 1);
    send_str(new_worker, "9999999 ");
    RUN_UNTIL(loop, st->open == 0);
    ck_assert_uint_eq(st->oversize, 1);
    ck_assert_uint_eq(st->accepted, 2);
    close(old_worker);
    close(new_worker);
    logfeed_free(lf);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_listener_closes_on_eof)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char addr[] = "127.0.0.1";
    struct conf_listen listen = {.address = addr, .port = free_port()};
    struct lines ls = {0};
    struct logfeed *lf = logfeed_start(loop, &listen, &self_only, count_line, &ls);
    const struct logfeed_stats *st = logfeed_stats(lf);
    int fd = connect_to(listen.port);

    RUN_UNTIL(loop, st->open == 1);
    close(fd);
    RUN_UNTIL(loop, st->open == 0);
    /* A connection left open is closed by logfeed_free (ASan checks nothing leaks). */
    fd = connect_to(listen.port);
    RUN_UNTIL(loop, st->open == 1);
    logfeed_free(lf);
    close(fd);
    ev_loop_destroy(loop);
}
END_TEST

static Suite *logfeed_suite(void)
{
    Suite *s = suite_create("logfeed");
    TCase *frame = tcase_create("framing");
    TCase *records = tcase_create("records");
    TCase *listener = tcase_create("listener");

    tcase_add_test(frame, test_records_in_one_read);
    tcase_add_test(frame, test_split_anywhere);
    tcase_add_test(frame, test_byte_by_byte);
    tcase_add_loop_test(frame, test_bad_length, 0,
                        (int)(sizeof(bad_lengths) / sizeof(bad_lengths[0])));
    tcase_add_test(frame, test_largest_record);
    tcase_add_test(frame, test_error_names);
    tcase_add_test(records, test_record_counting);
    tcase_add_test(listener, test_listener_two_connections);
    tcase_add_test(listener, test_listener_closes_on_eof);
    suite_add_tcase(s, frame);
    suite_add_tcase(s, records);
    suite_add_tcase(s, listener);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(logfeed_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
