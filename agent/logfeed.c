/*
 * The log-feed listener (see logfeed.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "config-t.h"
#include "list.h"
#include "log.h"
#include "logfeed.h"
#include "logframe.h"
#include "logline.h"
#include "net.h"
#include "unix_socket.h"

#define READ_CHUNK (64 * 1024)

/*
 * After a read, the connection is left alone this long before the next one, so a busy
 * HAProxy's lines arrive in batches: one wakeup of the agent per batch instead of one per
 * line, and HAProxy's sends meet no waiting reader to wake. Outcomes reach the breakers
 * this much later, far below any breaker window; HAProxy's ring and the socket buffer
 * hold what arrives meanwhile (at 20,000 requests/s, about 8 KiB).
 */
#define BATCH_DELAY_S 0.002

/*
 * HAProxy 2.6's ring forwarder can miss its wakeup: a line written by one thread while the
 * forwarder, on another, is between reading the ring and asking to be woken again waits in
 * the ring until the next line is written, which on a quiet proxy may be much later. Any
 * byte from us wakes the forwarder too (it reads and drops what its server sends, then
 * forwards what the ring holds), so a feed that delivered nothing for this long is sent a
 * newline. A busy feed is never nudged; a quiet one costs a byte per interval.
 */
#define NUDGE_INTERVAL_S 0.25

/* One HAProxy ring connection. */
struct feed_conn {
    ev_io io;
    ev_timer batch;      /* while it runs, io is stopped */
    ev_timer idle;       /* reclaims a slot that delivers nothing (LOGFEED_IDLE_TIMEOUT_S) */
    ev_timer nudge;      /* every NUDGE_INTERVAL_S */
    bool read_since_nudge;
    struct slot_use use; /* proven and last_active: by well-formed lines only */
    int fd;
    struct logfeed *lf;
    struct list link; /* in lf->conns */
    struct logframe frame;
};

struct logfeed {
    struct ev_loop *loop;
    int fd;
    struct acceptor acceptor;
    struct log_every drop_warn[2]; /* one line per interval for streams dropped: 0 bad length,
                                      1 oversize */
    struct log_every connect_info; /* and for connections: anyone may open them in a loop */
    struct unix_socket sock;       /* when listening on a unix socket */
    logfeed_line_fn *fn;
    void *ctx;
    struct list conns; /* of struct feed_conn, newest first */
    struct logfeed_stats st;
};

void logfeed_record(struct logfeed_stats *st, const char *msg, size_t len, logfeed_line_fn *fn,
                    void *ctx)
{
    struct logline line;
    int rc;

    st->lines++;
    rc = logline_parse(msg, len, &line);
    if (rc < 0) {
        st->malformed++;
        st->malformed_by_reason[-rc]++;
        log_debug("logfeed: malformed line (%s): %.*s", logline_error_name(rc),
                  (int)(len < 200 ? len : 200), msg);
        return;
    }
    st->parsed++;
    fn(ctx, &line);
}

static void on_message(void *ctx, const char *msg, size_t len)
{
    struct feed_conn *c = ctx;

    logfeed_record(&c->lf->st, msg, len, c->lf->fn, c->lf->ctx);
}

static void conn_close(struct feed_conn *c)
{
    struct logfeed *lf = c->lf;

    ev_io_stop(lf->loop, &c->io);
    ev_timer_stop(lf->loop, &c->batch);
    ev_timer_stop(lf->loop, &c->idle);
    ev_timer_stop(lf->loop, &c->nudge);
    close(c->fd);
    list_delete(&c->link);
    lf->st.open--;
    free(c);
}

static void conn_batch_over(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct feed_conn *c = w->data;

    (void)revents;
    ev_io_start(loop, &c->io);
}

static void conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct feed_conn *c = (struct feed_conn *)w;
    static char buf[READ_CHUNK];
    ssize_t n;
    int rc;

    uint64_t parsed = c->lf->st.parsed;

    (void)revents;
    n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        log_debug("logfeed: fd %d closed by HAProxy", c->fd);
        conn_close(c);
        return;
    }
    c->read_since_nudge = true;
    rc = logframe_feed(&c->frame, buf, (size_t)n, on_message, c);
    if (rc < 0) {
        if (rc == -LOGFRAME_ERR_OVERSIZE)
            c->lf->st.oversize++;
        else
            c->lf->st.bad_length++;
        log_every_msg(&c->lf->drop_warn[rc == -LOGFRAME_ERR_OVERSIZE], monotonic_ms(), LOG_LVL_WARN,
                      "logfeed: fd %d dropped: bad record (%s)", c->fd, logframe_error_name(rc));
        conn_close(c);
        return;
    }
    if (c->lf->st.parsed != parsed) {
        c->use.proven = true;
        c->use.last_active = ev_now(loop);
    }
    /* A full read may have left more behind: read on at once. */
    if (n < (ssize_t)sizeof(buf)) {
        ev_io_stop(loop, &c->io);
        ev_timer_start(loop, &c->batch);
    }
}

static void conn_nudge(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct feed_conn *c = w->data;
    ssize_t n;

    (void)loop;
    (void)revents;
    if (c->read_since_nudge) {
        c->read_since_nudge = false;
        return;
    }
    /* A full socket or a closed peer: the read side will tell. */
    n = send(c->fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == 1)
        c->lf->st.nudges++;
}

/* Lazily re-armed: a line only stamps last_active; the timer checks when it fires. */
static void conn_idle_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct feed_conn *c = (struct feed_conn *)((char *)w - offsetof(struct feed_conn, idle));
    ev_tstamp idle = ev_now(loop) - c->use.last_active;

    (void)revents;
    if (idle < LOGFEED_IDLE_TIMEOUT_S) {
        ev_timer_set(w, LOGFEED_IDLE_TIMEOUT_S - idle, 0.);
        ev_timer_start(loop, w);
        return;
    }
    c->lf->st.expired++;
    log_debug("logfeed: fd %d delivered nothing for %.0f s: closed", c->fd, idle);
    conn_close(c);
}

/*
 * Every close of a feed connection by the agent, including the kernel's when the agent
 * dies, is a reset rather than a FIN. HAProxy 3.x's ring forwarder notices a FIN only when
 * it next writes (3.2: that write's lines land in the dead socket and are lost) or never
 * (3.0.11: it stops forwarding until HAProxy reloads); a reset fails its write, and it
 * keeps the lines in its ring for the next agent. A unix socket has no reset: 3.0 wants a
 * TCP feed (haproxy/README.md).
 */
static void reset_on_close(int fd)
{
    struct linger reset = {.l_onoff = 1, .l_linger = 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
}

static bool conn_admit(void *ctx, int fd)
{
    struct logfeed *lf = ctx;
    struct feed_conn *c = malloc(sizeof(*c));

    if (!c)
        return false;
    reset_on_close(fd);
    c->fd = fd;
    c->lf = lf;
    list_insert(&lf->conns, &c->link);
    logframe_init(&c->frame);
    c->use = (struct slot_use){.last_active = ev_now(lf->loop)};
    lf->st.accepted++;
    lf->st.open++;
    ev_io_init(&c->io, conn_io, fd, EV_READ);
    ev_timer_init(&c->batch, conn_batch_over, BATCH_DELAY_S, 0.);
    c->batch.data = c;
    ev_timer_init(&c->idle, conn_idle_check, LOGFEED_IDLE_TIMEOUT_S, 0.);
    ev_timer_init(&c->nudge, conn_nudge, NUDGE_INTERVAL_S, NUDGE_INTERVAL_S);
    c->nudge.data = c;
    c->read_since_nudge = false;
    ev_io_start(lf->loop, &c->io);
    ev_timer_start(lf->loop, &c->idle);
    ev_timer_start(lf->loop, &c->nudge);
    log_every_msg(&lf->connect_info, monotonic_ms(), LOG_LVL_INFO,
                  "logfeed: HAProxy connected (fd %d, %llu open)", fd,
                  (unsigned long long)lf->st.open);
    return true;
}

static struct list *conn_list(void *ctx)
{
    return &((struct logfeed *)ctx)->conns;
}

static void evict_conn(void *c)
{
    conn_close(c);
}

/* All slots taken: one that never delivered a well-formed line goes first, then the one
 * idle the longest. */
static const struct acceptor_ops conn_ops = {"logfeed",
                                             conn_admit,
                                             conn_list,
                                             evict_conn,
                                             offsetof(struct feed_conn, link),
                                             offsetof(struct feed_conn, use)};

struct logfeed *logfeed_start(struct ev_loop *loop, const struct conf_listen *listen,
                              const struct unix_owner *owner, logfeed_line_fn *fn, void *ctx)
{
    struct logfeed *lf = calloc(1, sizeof(*lf));

    if (!lf) {
        log_error("logfeed: out of memory");
        return NULL;
    }
    list_init(&lf->conns);
    lf->fd = net_listen_conf(listen, 128, "logfeed", owner, &lf->sock);
    if (lf->fd < 0) {
        free(lf);
        return NULL;
    }
    lf->loop = loop;
    lf->fn = fn;
    lf->ctx = ctx;
    lf->drop_warn[0] = lf->drop_warn[1] = (struct log_every)LOG_EVERY(ACCEPTOR_WARN_INTERVAL_MS);
    lf->connect_info = (struct log_every)LOG_EVERY(ACCEPTOR_WARN_INTERVAL_MS);
    acceptor_start(&lf->acceptor, loop, lf->fd, acceptor_fd_share(LOGFEED_MAX_CONNS, 1),
                   &lf->st.open, &conn_ops, lf);
    return lf;
}

void logfeed_free(struct logfeed *lf)
{
    if (!lf)
        return;
    while (!list_empty(&lf->conns))
        conn_close(list_first_entry(&lf->conns, struct feed_conn, link));
    acceptor_stop(&lf->acceptor);
    unix_socket_unlink(&lf->sock); /* before close: the open socket pins its inode */
    close(lf->fd);
    free(lf);
}

const struct logfeed_stats *logfeed_stats(const struct logfeed *lf)
{
    return &lf->st;
}

const struct acceptor_stats *logfeed_admission(const struct logfeed *lf)
{
    return &lf->acceptor.st;
}
