#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "config-t.h"
#include "decide.h"
#include "io_watch.h"
#include "list.h"
#include "log.h"
#include "net.h"
#include "spop_conn.h"
#include "spop_server.h"
#include "unix_socket.h"

/* An answer waiting for its retry backoff. */
struct held {
    ev_timer timer;
    struct client *client;
    struct list link; /* in the client's held list */
    uint64_t stream_id, frame_id;
    struct answer answer;
};

/* One HAProxy connection. */
struct client {
    ev_io io;
    ev_timer deadline; /* HELLO, then idle, then linger: see client_deadline() */
    /* For eviction and the idle deadline: last_active is when bytes last came in, busy once
     * past HELLO (HAProxy's connections are never evicted). */
    struct slot_use use;
    int fd;
    struct spop_conn *conn;
    struct spop_server *srv;
    struct list link; /* in srv->clients */
    struct list held; /* of struct held: answers waiting for their backoff */
};

struct spop_server {
    struct ev_loop *loop;
    int fd;
    struct acceptor acceptor;
    /* One line per interval and fault for connections ended by a fault (and out of memory). */
    struct log_every fault_warn[SPOP_FAULT_COUNT];
    struct log_every disconnect_info; /* and for HAProxy's own DISCONNECTs: anyone can send one */
    struct unix_socket sock;          /* when listening on a unix socket */
    struct decider *decider;
    spop_decided_fn *on_decided; /* told each decision's latency, NULL when not measured */
    void *decided_ctx;
    /* Of struct client, newest first. */
    struct list clients;
    struct spop_stats closed; /* counters of connections already freed */
    struct spop_server_stats st;
};

#define READ_CHUNK (64 * 1024)

/*
 * HAProxy closes idle SPOP connections (status 2, its `timeout idle`) and says goodbye on
 * reloads (status 0) all day long: routine, so debug. Any other status means HAProxy found
 * something wrong with us.
 */
static enum log_level disconnect_level(int64_t status)
{
    return status == SPOP_STATUS_NORMAL || status == SPOP_STATUS_TIMEOUT ? LOG_LVL_DEBUG
                                                                         : LOG_LVL_WARN;
}

static void client_close(struct client *c)
{
    struct spop_server *srv = c->srv;

    while (!list_empty(&c->held)) {
        struct held *h = list_first_entry(&c->held, struct held, link);
        ev_timer_stop(srv->loop, &h->timer);
        list_delete(&h->link);
        free(h);
        srv->st.held--;
        srv->st.held_dropped++;
    }
    ev_io_stop(srv->loop, &c->io);
    ev_timer_stop(srv->loop, &c->deadline);
    close(c->fd);
    if (c->conn->fault != SPOP_FAULT_NONE)
        log_every_msg(&srv->fault_warn[c->conn->fault], monotonic_ms(), LOG_LVL_WARN,
                      "spop: fd %d closed after %s", c->fd, spop_fault_name(c->conn->fault));
    else if (c->conn->peer_status >= 0)
        log_every_msg(&srv->disconnect_info, monotonic_ms(), disconnect_level(c->conn->peer_status),
                      "spop: haproxy disconnect (status %lld: %s), engine %s",
                      (long long)c->conn->peer_status, c->conn->peer_message, c->conn->engine_id);
    spop_stats_add(&srv->closed, &c->conn->stats);
    spop_conn_free(c->conn);
    list_delete(&c->link);
    srv->st.open--;
    free(c);
}

static void client_watch(struct client *c, int events)
{
    io_watch(c->srv->loop, &c->io, c->fd, events);
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

/* Queue a held answer on its connection; the caller flushes. */
static void held_send(struct held *h)
{
    struct client *c = h->client;

    ev_timer_stop(c->srv->loop, &h->timer);
    list_delete(&h->link);
    c->srv->st.held--;
    answer_write(c->conn, h->stream_id, h->frame_id, &h->answer);
    free(h);
}

static void held_fire(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct client *c = ((struct held *)t)->client;

    (void)loop;
    (void)revents;
    held_send((struct held *)t);
    client_flush(c);
}

void spop_server_release(struct spop_server *srv, const char *id, size_t len)
{
    struct list *cl, *cl_next, *hl, *hl_next;

    if (srv->st.held == 0 || len == 0)
        return;
    /* Few answers are ever held, and an upstream's 429 is the rare line that looks. */
    list_for_each_safe (cl, cl_next, &srv->clients) {
        struct client *c = list_entry(cl, struct client, link);
        bool sent = false;

        list_for_each_safe (hl, hl_next, &c->held) {
            struct held *h = list_entry(hl, struct held, link);

            if (h->answer.attempt_id_len == len && memcmp(h->answer.attempt_id, id, len) == 0) {
                srv->st.held_released++;
                held_send(h);
                sent = true;
            }
        }
        if (sent)
            client_flush(c); /* may close c, which the walk has left */
    }
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
    list_insert(&c->held, &h->link);
    ev_timer_init(&h->timer, held_fire, delay_ms / 1000.0, 0.);
    ev_timer_start(srv->loop, &h->timer);
    srv->st.held++;
}

static void on_notify(struct spop_conn *conn, uint64_t sid, uint64_t fid,
                      struct spop_msg_iter *msgs, void *user)
{
    struct client *c = user;
    struct answer a;
    uint32_t delay_ms;
    uint64_t start_ns = monotonic_ns();

    delay_ms = dispatch_notify(c->srv->decider, msgs, start_ns / 1000000, &a, &c->srv->st.dispatch);
    if (c->srv->on_decided)
        c->srv->on_decided(c->srv->decided_ctx, monotonic_ns() - start_ns);
    if (delay_ms == 0)
        answer_write(conn, sid, fid, &a);
    else
        hold_answer(c, sid, fid, &a, delay_ms);
}

static void client_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = (struct client *)w;
    static uint8_t buf[READ_CHUNK];

    if (revents & EV_READ) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            c->use.last_active = ev_now(loop);
            spop_conn_feed(c->conn, buf, (size_t)n);
            c->use.busy = c->conn->state == SPOP_CONN_READY;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            spop_conn_eof(c->conn); /* EOF or RST: a normal close for HAProxy 3.x */
        }
    }
    client_flush(c);
}

static void deadline_in(struct client *c, ev_tstamp after_s)
{
    ev_timer_set(&c->deadline, after_s, 0.);
    ev_timer_start(c->srv->loop, &c->deadline);
}

/*
 * One timer per connection, checked lazily: receiving only stamps last_active, and the
 * timer, when it fires, either closes the connection or waits for what is left.
 */
static void client_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct client *c = (struct client *)((char *)t - offsetof(struct client, deadline));
    struct spop_server *srv = c->srv;
    ev_tstamp idle = ev_now(loop) - c->use.last_active;
    bool holding = !list_empty(&c->held);

    (void)revents;
    switch (c->conn->state) {
    case SPOP_CONN_WAIT_HELLO:
        srv->st.expired_hello++;
        client_close(c);
        return;
    case SPOP_CONN_READY:
        if (holding || idle < SPOP_IDLE_TIMEOUT_S) {
            deadline_in(c, holding ? SPOP_IDLE_TIMEOUT_S : SPOP_IDLE_TIMEOUT_S - idle);
            return;
        }
        srv->st.expired_idle++;
        spop_conn_disconnect(c->conn, SPOP_STATUS_NORMAL, "idle timeout");
        if (client_flush(c))
            deadline_in(c, SPOP_LINGER_S);
        return;
    case SPOP_CONN_CLOSING:
    case SPOP_CONN_CLOSED:
        client_close(c); /* its last frame did not go out in time: the peer is not reading */
        return;
    }
}

static bool client_admit(void *ctx, int fd)
{
    struct spop_server *srv = ctx;
    struct spop_conn_cfg cfg = {.on_notify = on_notify};
    struct client *c = calloc(1, sizeof(*c));

    cfg.user = c;
    if (!c || !(c->conn = spop_conn_new(&cfg))) {
        log_every_msg(&srv->fault_warn[SPOP_FAULT_NONE], monotonic_ms(), LOG_LVL_ERROR,
                      "spop: out of memory, refusing a connection");
        free(c);
        return false;
    }
    c->fd = fd;
    c->srv = srv;
    list_init(&c->held);
    list_insert(&srv->clients, &c->link);
    srv->st.accepted++;
    srv->st.open++;
    c->use.last_active = ev_now(srv->loop);
    ev_io_init(&c->io, client_io, fd, EV_READ);
    ev_io_start(srv->loop, &c->io);
    ev_timer_init(&c->deadline, client_deadline, SPOP_HELLO_TIMEOUT_S, 0.);
    ev_timer_start(srv->loop, &c->deadline);
    return true;
}

static struct list *client_list(void *ctx)
{
    return &((struct spop_server *)ctx)->clients;
}

static void evict_client(void *c)
{
    client_close(c);
}

/* Only a connection still waiting for HELLO (or closing) may be evicted: HAProxy's never are. */
static const struct acceptor_ops client_ops = {"spop",
                                               client_admit,
                                               client_list,
                                               evict_client,
                                               offsetof(struct client, link),
                                               offsetof(struct client, use)};

struct spop_server *spop_server_start(struct ev_loop *loop, const struct conf_listen *listen,
                                      const struct unix_owner *owner, struct decider *decider)
{
    struct spop_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    list_init(&srv->clients);
    /* A reloading HAProxy opens a burst of connections at once: keep a deep backlog. */
    srv->fd = net_listen_conf(listen, 4096, "spop", owner, &srv->sock);
    if (srv->fd < 0) {
        free(srv);
        return NULL;
    }
    srv->loop = loop;
    srv->decider = decider;
    for (size_t i = 0; i < SPOP_FAULT_COUNT; i++)
        srv->fault_warn[i] = (struct log_every)LOG_EVERY(ACCEPTOR_WARN_INTERVAL_MS);
    srv->disconnect_info = (struct log_every)LOG_EVERY(ACCEPTOR_WARN_INTERVAL_MS);
    acceptor_start(&srv->acceptor, loop, srv->fd, acceptor_fd_share(SPOP_MAX_CONNS, 4),
                   &srv->st.open, &client_ops, srv);
    /* net_listen_conf() said where: a unix socket has no address nor port to print. */
    log_info("spop: at most %llu connections", (unsigned long long)srv->acceptor.limit);
    return srv;
}

void spop_server_shutdown(struct spop_server *srv)
{
    struct list *link, *next;

    if (srv->fd >= 0) {
        acceptor_stop(&srv->acceptor);
        unix_socket_unlink(&srv->sock); /* before close: the open socket pins its inode */
        close(srv->fd);
        srv->fd = -1;
    }
    list_for_each_safe (link, next, &srv->clients) {
        struct client *c = list_entry(link, struct client, link);

        spop_conn_disconnect(c->conn, SPOP_STATUS_NORMAL, "agent stopping");
        if (client_flush(c))
            client_close(c);
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
    const struct list *link;

    *out = srv->st;
    out->admission = srv->acceptor.st;
    out->conns = srv->closed;
    list_for_each (link, &srv->clients)
        spop_stats_add(&out->conns, &list_entry(link, const struct client, link)->conn->stats);
}

void spop_server_on_decided(struct spop_server *srv, spop_decided_fn *fn, void *ctx)
{
    srv->on_decided = fn;
    srv->decided_ctx = ctx;
}
