#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config-t.h"
#include "decide.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "spop_conn.h"
#include "spop_server.h"

/* An answer waiting for its retry backoff. */
struct held {
    ev_timer timer;
    struct client *client;
    struct held *prev, *next; /* the client's list */
    uint64_t stream_id, frame_id;
    struct answer answer;
};

/* One HAProxy connection. */
struct client {
    ev_io io;
    int fd;
    struct spop_conn *conn;
    struct spop_server *srv;
    struct client *prev, *next;
    struct held *held;
};

struct spop_server {
    struct ev_loop *loop;
    int fd;
    struct net_unix sock; /* when listening on a unix socket */
    ev_io accept_io;
    struct decider *decider;
    struct metrics *metrics; /* decision latency, NULL when not measured */
    struct client *clients;
    struct spop_stats closed; /* counters of connections already freed */
    struct spop_server_stats st;
};

#define READ_CHUNK (64 * 1024)

static void client_close(struct client *c)
{
    struct spop_server *srv = c->srv;

    while (c->held) {
        struct held *h = c->held;
        ev_timer_stop(srv->loop, &h->timer);
        c->held = h->next;
        free(h);
        srv->st.held--;
        srv->st.held_dropped++;
    }
    ev_io_stop(srv->loop, &c->io);
    close(c->fd);
    if (c->conn->fault != SPOP_FAULT_NONE)
        log_warn("spop: fd %d closed after %s", c->fd, spop_fault_name(c->conn->fault));
    else if (c->conn->peer_status >= 0)
        log_info("spop: haproxy disconnect (status %lld: %s), engine %s",
                 (long long)c->conn->peer_status, c->conn->peer_message, c->conn->engine_id);
    spop_stats_add(&srv->closed, &c->conn->stats);
    spop_conn_free(c->conn);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->st.open--;
    free(c);
}

static void client_watch(struct client *c, int events)
{
    if (c->io.events == events)
        return;
    ev_io_stop(c->srv->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->srv->loop, &c->io);
}

/* Send what is queued. Returns false when the client was closed (do not touch it). */
static bool client_flush(struct client *c)
{
    const uint8_t *data;
    size_t len;

    while ((len = spop_conn_output(c->conn, &data)) > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                client_watch(c, EV_READ | EV_WRITE);
                return true;
            }
            spop_conn_eof(c->conn); /* EPIPE, ECONNRESET: HAProxy went away */
            break;
        }
        spop_conn_consumed(c->conn, (size_t)n);
    }
    if (spop_conn_wants_close(c->conn)) {
        client_close(c);
        return false;
    }
    client_watch(c, EV_READ);
    return true;
}

static void held_fire(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct held *h = (struct held *)t;
    struct client *c = h->client;

    (void)loop;
    (void)revents;
    if (h->prev)
        h->prev->next = h->next;
    else
        c->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    c->srv->st.held--;
    answer_write(c->conn, h->stream_id, h->frame_id, &h->answer);
    free(h);
    client_flush(c);
}

static void hold_answer(struct client *c, uint64_t sid, uint64_t fid, const struct answer *a,
                        uint32_t delay_ms)
{
    struct spop_server *srv = c->srv;
    struct held *h = NULL;

    if (srv->st.held < SPOP_MAX_HELD)
        h = malloc(sizeof(*h));
    if (!h) {
        /* Better a retry without its backoff than no answer at all. */
        srv->st.held_overflow++;
        answer_write(c->conn, sid, fid, a);
        return;
    }
    h->client = c;
    h->stream_id = sid;
    h->frame_id = fid;
    h->answer = *a;
    h->prev = NULL;
    h->next = c->held;
    if (c->held)
        c->held->prev = h;
    c->held = h;
    ev_timer_init(&h->timer, held_fire, delay_ms / 1000.0, 0.);
    ev_timer_start(srv->loop, &h->timer);
    srv->st.held++;
    srv->st.held_total++;
}

static void on_notify(struct spop_conn *conn, uint64_t sid, uint64_t fid,
                      struct spop_msg_iter *msgs, void *user)
{
    struct client *c = user;
    struct answer a;
    uint32_t delay_ms;
    uint64_t start_ns = monotonic_ns();

    delay_ms = dispatch_notify(c->srv->decider, msgs, start_ns / 1000000, &a, &c->srv->st.dispatch);
    metrics_observe_decision(c->srv->metrics, monotonic_ns() - start_ns);
    if (delay_ms == 0)
        answer_write(conn, sid, fid, &a);
    else
        hold_answer(c, sid, fid, &a, delay_ms);
}

static void client_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = (struct client *)w;
    static uint8_t buf[READ_CHUNK];

    (void)loop;
    if (revents & EV_READ) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            spop_conn_feed(c->conn, buf, (size_t)n);
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            spop_conn_eof(c->conn); /* EOF or RST: a normal close for HAProxy 3.x */
        }
    }
    client_flush(c);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct spop_server *srv = w->data;
    struct spop_conn_cfg cfg = {.on_notify = on_notify};
    int fd;

    (void)revents;
    while ((fd = net_accept(srv->fd)) >= 0) {
        struct client *c = calloc(1, sizeof(*c));

        cfg.user = c;
        if (!c || !(c->conn = spop_conn_new(&cfg))) {
            log_error("spop: out of memory, refusing a connection");
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->srv = srv;
        c->next = srv->clients;
        if (srv->clients)
            srv->clients->prev = c;
        srv->clients = c;
        srv->st.accepted++;
        srv->st.open++;
        ev_io_init(&c->io, client_io, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log_warn("spop: accept: %s", strerror(errno)); /* EMFILE: retried on next event */
}

struct spop_server *spop_server_start(struct ev_loop *loop, const struct conf_listen *listen,
                                      struct decider *decider)
{
    struct spop_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    /* A reloading HAProxy opens a burst of connections at once: keep a deep backlog. */
    srv->fd = net_listen_conf(listen, 4096, "spop", &srv->sock);
    if (srv->fd < 0) {
        free(srv);
        return NULL;
    }
    srv->loop = loop;
    srv->decider = decider;
    ev_io_init(&srv->accept_io, on_accept, srv->fd, EV_READ);
    srv->accept_io.data = srv;
    ev_io_start(loop, &srv->accept_io);
    return srv;
}

void spop_server_shutdown(struct spop_server *srv)
{
    struct client *c = srv->clients;

    if (srv->fd >= 0) {
        ev_io_stop(srv->loop, &srv->accept_io);
        net_unix_remove(&srv->sock); /* before close: the open socket pins its inode */
        close(srv->fd);
        srv->fd = -1;
    }
    while (c) {
        struct client *next = c->next;
        spop_conn_disconnect(c->conn, SPOP_STATUS_NORMAL, "agent stopping");
        if (client_flush(c))
            client_close(c);
        c = next;
    }
}

void spop_server_free(struct spop_server *srv)
{
    if (!srv)
        return;
    spop_server_shutdown(srv);
    free(srv);
}

void spop_server_stats(const struct spop_server *srv, struct spop_server_stats *out)
{
    *out = srv->st;
    out->conns = srv->closed;
    for (const struct client *c = srv->clients; c; c = c->next)
        spop_stats_add(&out->conns, &c->conn->stats);
}

void spop_server_set_metrics(struct spop_server *srv, struct metrics *m)
{
    srv->metrics = m;
}
