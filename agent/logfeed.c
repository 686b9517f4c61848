/*
 * The log-feed listener (see logfeed.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config-t.h"
#include "log.h"
#include "logfeed.h"
#include "logframe.h"
#include "logline.h"
#include "net.h"

#define READ_CHUNK (64 * 1024)

/*
 * After a read, the connection is left alone this long before the next one, so a busy
 * HAProxy's lines arrive in batches: one wakeup of the agent per batch instead of one per
 * line, and HAProxy's sends meet no waiting reader to wake. Outcomes reach the breakers
 * this much later, far below any breaker window; HAProxy's ring and the socket buffer
 * hold what arrives meanwhile (at 20,000 requests/s, about 8 KiB).
 */
#define BATCH_DELAY_S 0.002

/* One HAProxy ring connection. */
struct feed_conn {
    ev_io io;
    ev_timer batch; /* while it runs, io is stopped */
    int fd;
    struct logfeed *lf;
    struct feed_conn *prev, *next;
    struct logframe frame;
};

struct logfeed {
    struct ev_loop *loop;
    int fd;
    struct net_unix sock; /* when listening on a unix socket */
    ev_io accept_io;
    logfeed_line_fn *fn;
    void *ctx;
    struct feed_conn *conns;
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
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        lf->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
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

    (void)revents;
    n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        log_debug("logfeed: fd %d closed by HAProxy", c->fd);
        conn_close(c);
        return;
    }
    rc = logframe_feed(&c->frame, buf, (size_t)n, on_message, c);
    if (rc < 0) {
        if (rc == -LOGFRAME_ERR_OVERSIZE)
            c->lf->st.oversize++;
        else
            c->lf->st.bad_length++;
        log_warn("logfeed: fd %d dropped: bad record (%s)", c->fd, logframe_error_name(rc));
        conn_close(c);
        return;
    }
    /* A full read may have left more behind: read on at once. */
    if (n < (ssize_t)sizeof(buf)) {
        ev_io_stop(loop, &c->io);
        ev_timer_start(loop, &c->batch);
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct logfeed *lf = w->data;
    int fd;

    (void)revents;
    while ((fd = net_accept(lf->fd)) >= 0) {
        struct feed_conn *c = NULL;

        if (lf->st.open < LOGFEED_MAX_CONNS)
            c = malloc(sizeof(*c));
        if (!c) {
            lf->st.refused++;
            log_warn("logfeed: refusing a connection (%llu open)", (unsigned long long)lf->st.open);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->lf = lf;
        c->prev = NULL;
        c->next = lf->conns;
        if (lf->conns)
            lf->conns->prev = c;
        lf->conns = c;
        logframe_init(&c->frame);
        lf->st.accepted++;
        lf->st.open++;
        ev_io_init(&c->io, conn_io, fd, EV_READ);
        ev_timer_init(&c->batch, conn_batch_over, BATCH_DELAY_S, 0.);
        c->batch.data = c;
        ev_io_start(loop, &c->io);
        log_info("logfeed: HAProxy connected (fd %d, %llu open)", fd,
                 (unsigned long long)lf->st.open);
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_warn("logfeed: accept: %s", strerror(errno));
}

struct logfeed *logfeed_start(struct ev_loop *loop, const struct conf_listen *listen,
                              logfeed_line_fn *fn, void *ctx)
{
    struct logfeed *lf = calloc(1, sizeof(*lf));

    if (!lf) {
        log_error("logfeed: out of memory");
        return NULL;
    }
    lf->fd = net_listen_conf(listen, 128, "logfeed", &lf->sock);
    if (lf->fd < 0) {
        free(lf);
        return NULL;
    }
    lf->loop = loop;
    lf->fn = fn;
    lf->ctx = ctx;
    ev_io_init(&lf->accept_io, on_accept, lf->fd, EV_READ);
    lf->accept_io.data = lf;
    ev_io_start(loop, &lf->accept_io);
    return lf;
}

void logfeed_free(struct logfeed *lf)
{
    if (!lf)
        return;
    while (lf->conns)
        conn_close(lf->conns);
    ev_io_stop(lf->loop, &lf->accept_io);
    net_unix_remove(&lf->sock); /* before close: the open socket pins its inode */
    close(lf->fd);
    free(lf);
}

const struct logfeed_stats *logfeed_stats(const struct logfeed *lf)
{
    return &lf->st;
}
