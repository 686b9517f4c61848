#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "conf_sockets.h"
#include "config-t.h"
#include "connect_proxy.h"
#include "contract/internal_names.h"
#include "contract/tunnel_path.h"
#include "io_watch.h"
#include "list.h"
#include "log.h"
#include "resolver.h"
#include "tunnel.h"
#include "unix_socket.h"

/* Bytes held per direction: a TLS record and then some, so a full buffer is rare. */
#define TUNNEL_BUF_SIZE (32 * 1024)
/* Connections per tunnel: bounds memory at 2 * TUNNEL_BUF_SIZE each. */
#define TUNNEL_MAX_CONNS 1024
#define TUNNEL_BACKLOG   128
/* A proxy's name is looked up again after this long, or after a failed connect. */
#define RESOLVE_TTL_S 30.0
/* How long a failure answered to HAProxy waits for HAProxy to close (see conn_fail). */
#define ANSWER_LINGER_S 2.0

enum conn_state {
    CONN_RESOLVING,  /* waiting for the tunnel's lookup of the proxy's name */
    CONN_CONNECTING, /* non-blocking connect to the proxy under way */
    CONN_HANDSHAKE,  /* CONNECT sent or being sent, the answer being read */
    CONN_RELAYING,   /* the tunnel is up: bytes flow both ways */
    CONN_ANSWERING,  /* a failure answered to HAProxy, its request dropped until it closes */
};

/* One direction of a connection: bytes read from one side, not yet written to the other. */
struct pipe_dir {
    char data[TUNNEL_BUF_SIZE];
    size_t off, len; /* pending bytes are data[off, len) */
    bool eof;        /* the source side ended its stream */
    bool shut;       /* the end was passed on (shutdown of the destination's write side) */
};

struct tunnel;

struct tunnel_conn {
    struct tunnel *t;
    struct list link; /* in t->conns */
    enum conn_state state;
    int cfd, pfd; /* HAProxy's side, the proxy's side */
    ev_io cio, pio;
    ev_timer timer;       /* handshake deadline, then relay idleness */
    double last_io;       /* ev_now of the last byte moved, for the idle check */
    struct pipe_dir up;   /* HAProxy -> proxy; first holds the CONNECT request */
    struct pipe_dir down; /* proxy -> HAProxy; first gathers the CONNECT answer */
};

struct tunnel {
    struct tunnels *set;
    char *group, *upstream;
    struct unix_socket sock;
    ev_io accept_io;
    char *proxy_host;
    uint16_t proxy_port;
    struct sockaddr_storage proxy_addr;
    socklen_t proxy_addr_len; /* 0: not resolved */
    double resolved_at;
    struct resolver_lookup *lookup; /* of proxy_host, in flight; NULL when none */
    char request[CONNECT_PROXY_REQUEST_MAX];
    size_t request_len;
    double handshake_s, idle_s;
    bool plain_http;   /* the upstream speaks http://: a failure is answered (see below) */
    struct list conns; /* of struct tunnel_conn, newest first */
    struct tunnel_stats st;
};

struct tunnels {
    struct ev_loop *loop;
    struct resolver *resolver;
    struct tunnel *v;
    size_t n;
};

static const char *const fail_names[TUNNEL_FAIL_COUNT] = {
    [TUNNEL_FAIL_RESOLVE] = "resolve",   [TUNNEL_FAIL_CONNECT] = "connect",
    [TUNNEL_FAIL_REFUSED] = "refused",   [TUNNEL_FAIL_PROTOCOL] = "protocol",
    [TUNNEL_FAIL_CLOSED] = "closed",     [TUNNEL_FAIL_TIMEOUT] = "timeout",
    [TUNNEL_FAIL_RESOURCE] = "resource",
};

const char *tunnel_fail_name(enum tunnel_fail f)
{
    return (unsigned)f < TUNNEL_FAIL_COUNT ? fail_names[f] : "unknown";
}

/* ---- one connection ---- */

static void conn_close(struct tunnel_conn *c)
{
    struct tunnel *t = c->t;
    struct ev_loop *loop = t->set->loop;

    ev_io_stop(loop, &c->cio);
    ev_io_stop(loop, &c->pio);
    ev_timer_stop(loop, &c->timer);
    close(c->cfd);
    if (c->pfd >= 0)
        close(c->pfd);
    list_delete(&c->link);
    t->st.active--;
    free(c);
}

static size_t dir_pending(const struct pipe_dir *d)
{
    return d->len - d->off;
}

static bool dir_has_room(const struct pipe_dir *d)
{
    return d->len < TUNNEL_BUF_SIZE || d->off > 0;
}

/*
 * What each side waits for now. The proxy's side is read while its answer or its bytes
 * have room; HAProxy's side is read only once the tunnel is up (its TLS hello waits in the
 * kernel meanwhile) and only while the proxy's direction has room: backpressure.
 */
static void conn_update(struct tunnel_conn *c)
{
    struct ev_loop *loop = c->t->set->loop;
    int cev = 0, pev = 0;

    switch (c->state) {
    case CONN_RESOLVING:
        break;
    case CONN_CONNECTING:
        pev = EV_WRITE;
        break;
    case CONN_HANDSHAKE:
        pev = EV_READ | (dir_pending(&c->up) ? EV_WRITE : 0);
        break;
    case CONN_RELAYING:
        if (!c->up.eof && dir_has_room(&c->up))
            cev |= EV_READ;
        if (dir_pending(&c->down))
            cev |= EV_WRITE;
        if (!c->down.eof && dir_has_room(&c->down))
            pev |= EV_READ;
        if (dir_pending(&c->up))
            pev |= EV_WRITE;
        break;
    case CONN_ANSWERING: /* the proxy's side is closed */
        cev = EV_READ | (dir_pending(&c->down) ? EV_WRITE : 0);
        break;
    }
    io_watch(loop, &c->cio, c->cfd, cev);
    io_watch(loop, &c->pio, c->pfd, pev);
}

/* Read what `fd` has into `d`. 1 on bytes, 0 when nothing now, -1 on error; end of
 * stream sets d->eof. */
static int dir_fill(struct pipe_dir *d, int fd, size_t *moved)
{
    ssize_t n;

    if (d->off == d->len) {
        d->off = d->len = 0;
    } else if (d->len == TUNNEL_BUF_SIZE) {
        memmove(d->data, d->data + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    n = read(fd, d->data + d->len, TUNNEL_BUF_SIZE - d->len);
    if (n > 0) {
        d->len += (size_t)n;
        *moved += (size_t)n;
        return 1;
    }
    if (n == 0) {
        d->eof = true;
        return 1;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

/* Write what `d` holds to `fd`; -1 on error. */
static int dir_drain(struct pipe_dir *d, int fd, size_t *moved)
{
    while (dir_pending(d)) {
        ssize_t n = send(fd, d->data + d->off, dir_pending(d), MSG_NOSIGNAL);

        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        d->off += (size_t)n;
        *moved += (size_t)n;
    }
    return 0;
}

/*
 * To a TLS upstream HAProxy sends nothing before the handshake, which fails when the
 * tunnel closes: a failed connection. To a plain http one it sends the request at once,
 * so a bare close would read as an upstream that closed without answering. It gets a
 * response head instead, which its listener or pinned backend turns into the 502
 * upstream_unreachable (contract/internal_names.h).
 *
 * The answer may be ready before HAProxy has written its request: a connect to a stopped
 * proxy fails within the accept. Closing then would make HAProxy's write fail (EPIPE) and
 * lose the answer to an error of its own, so the socket stays open, its write side shut
 * after the answer, and whatever HAProxy sends is read and dropped until it closes, for
 * ANSWER_LINGER_S at most.
 */
static void conn_answer(struct tunnel_conn *c)
{
    char sink[4096];
    size_t moved = 0;
    ssize_t n;
    int i;

    for (i = 0; i < 16; i++) {
        n = read(c->cfd, sink, sizeof(sink));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_close(c); /* HAProxy has closed: done */
            return;
        }
        if (n < 0)
            break;
    }
    if (dir_drain(&c->down, c->cfd, &moved) < 0) {
        conn_close(c);
        return;
    }
    if (!dir_pending(&c->down) && !c->down.shut) {
        shutdown(c->cfd, SHUT_WR);
        c->down.shut = true;
    }
    conn_update(c);
}

static void conn_start_answer(struct tunnel_conn *c)
{
    static const char answer[] =
        "HTTP/1.1 502 Bad Gateway\r\n" HAPROXY_TUNNEL_HEADER ": " HAPROXY_TUNNEL_UNREACHABLE "\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n";
    struct ev_loop *loop = c->t->set->loop;

    if (c->pfd >= 0) {
        ev_io_stop(loop, &c->pio);
        close(c->pfd);
        c->pfd = -1;
    }
    c->state = CONN_ANSWERING;
    memcpy(c->down.data, answer, sizeof(answer) - 1);
    c->down.off = 0;
    c->down.len = sizeof(answer) - 1;
    ev_timer_stop(loop, &c->timer);
    ev_timer_set(&c->timer, ANSWER_LINGER_S, 0.);
    ev_timer_start(loop, &c->timer);
    conn_answer(c);
}

/* A connection that never carried the upstream's bytes: counted, logged, and closed or
 * answered, so HAProxy sees a failed connection. */
static void conn_fail(struct tunnel_conn *c, enum tunnel_fail why, const char *detail)
{
    struct tunnel *t = c->t;

    t->st.failed[why]++;
    log_warn("tunnel %s/%s: proxy %s:%u: %s", t->group, t->upstream, t->proxy_host,
             (unsigned)t->proxy_port, detail);
    if (t->plain_http)
        conn_start_answer(c);
    else
        conn_close(c);
}

/* Pass an end of stream on once its bytes are out. Both ends passed on: done. */
static bool conn_pass_eof(struct tunnel_conn *c)
{
    if (c->up.eof && !dir_pending(&c->up) && !c->up.shut) {
        shutdown(c->pfd, SHUT_WR);
        c->up.shut = true;
    }
    if (c->down.eof && !dir_pending(&c->down) && !c->down.shut) {
        shutdown(c->cfd, SHUT_WR);
        c->down.shut = true;
    }
    return c->up.shut && c->down.shut;
}

/* Move whatever can move, in both directions, until nothing does. */
static void conn_relay(struct tunnel_conn *c)
{
    struct tunnel *t = c->t;
    size_t up_in, up_out, down_in, down_out;

    do {
        up_in = up_out = down_in = down_out = 0;
        if ((!c->up.eof && dir_has_room(&c->up) && dir_fill(&c->up, c->cfd, &up_in) < 0) ||
            (!c->down.eof && dir_has_room(&c->down) && dir_fill(&c->down, c->pfd, &down_in) < 0) ||
            dir_drain(&c->up, c->pfd, &up_out) < 0 || dir_drain(&c->down, c->cfd, &down_out) < 0) {
            /* A reset on either side ends both: the other learns it by our close. */
            conn_close(c);
            return;
        }
        t->st.bytes_up += up_out;
        t->st.bytes_down += down_out;
        if (up_out || down_out)
            c->last_io = ev_now(t->set->loop);
    } while (up_in || down_in || up_out || down_out);
    if (conn_pass_eof(c)) {
        conn_close(c);
        return;
    }
    conn_update(c);
}

static void conn_established(struct tunnel_conn *c, size_t head_len)
{
    struct tunnel *t = c->t;

    t->st.established++;
    /* Bytes after the head are the upstream's first bytes: they go to HAProxy. */
    c->down.off = head_len;
    c->state = CONN_RELAYING;
    c->last_io = ev_now(t->set->loop);
    ev_timer_stop(t->set->loop, &c->timer);
    ev_timer_set(&c->timer, t->idle_s, 0.);
    ev_timer_start(t->set->loop, &c->timer);
    conn_relay(c);
}

/* Read the proxy's answer to CONNECT and judge it. */
static void conn_read_answer(struct tunnel_conn *c)
{
    struct connect_proxy_response resp;
    char detail[64];
    size_t moved = 0;
    int r = dir_fill(&c->down, c->pfd, &moved);

    if (r < 0) {
        conn_fail(c, TUNNEL_FAIL_CLOSED, "reset before answering CONNECT");
        return;
    }
    switch (connect_proxy_parse(c->down.data, c->down.len, &resp)) {
    case CONNECT_PROXY_INCOMPLETE:
        if (c->down.eof) {
            conn_fail(c, TUNNEL_FAIL_CLOSED, "closed before answering CONNECT");
            return;
        }
        /* The head bound is below the buffer size: there is always room for more. */
        conn_update(c);
        return;
    case CONNECT_PROXY_MALFORMED:
        conn_fail(c, TUNNEL_FAIL_PROTOCOL, "the answer to CONNECT is not an HTTP/1 head");
        return;
    case CONNECT_PROXY_TOO_LONG:
        conn_fail(c, TUNNEL_FAIL_PROTOCOL, "the answer to CONNECT is longer than 8 KiB");
        return;
    case CONNECT_PROXY_DONE:
        break;
    }
    if (!connect_proxy_established(&resp)) {
        c->t->st.last_status = resp.status;
        snprintf(detail, sizeof(detail), "CONNECT refused with status %d", resp.status);
        conn_fail(c, TUNNEL_FAIL_REFUSED, detail);
        return;
    }
    conn_established(c, resp.head_len);
}

static void on_proxy_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tunnel_conn *c = w->data;
    size_t moved = 0;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)loop;
    switch (c->state) {
    case CONN_RESOLVING: /* no socket to the proxy yet, so never watched */
    case CONN_ANSWERING: /* the socket to the proxy is closed */
        return;
    case CONN_CONNECTING:
        if (getsockopt(c->pfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            c->t->proxy_addr_len = 0; /* look the name up again next time */
            conn_fail(c, TUNNEL_FAIL_CONNECT, strerror(err));
            return;
        }
        /* Connected: the request can go at once. */
        c->state = CONN_HANDSHAKE;
        /* fall through */
    case CONN_HANDSHAKE:
        if (dir_drain(&c->up, c->pfd, &moved) < 0) {
            conn_fail(c, TUNNEL_FAIL_CLOSED, "closed while CONNECT was being sent");
            return;
        }
        if (revents & EV_READ) {
            conn_read_answer(c);
            return;
        }
        conn_update(c);
        return;
    case CONN_RELAYING:
        conn_relay(c);
        return;
    }
}

static void on_client_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tunnel_conn *c = w->data;

    (void)loop;
    (void)revents;
    if (c->state == CONN_ANSWERING)
        conn_answer(c);
    else
        conn_relay(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct tunnel_conn *c = w->data;
    struct tunnel *t = c->t;
    double idle_for;

    (void)revents;
    if (c->state == CONN_ANSWERING) {
        conn_close(c); /* HAProxy kept its side open: it has had the answer's time */
        return;
    }
    if (c->state == CONN_RESOLVING) {
        conn_fail(c, TUNNEL_FAIL_RESOLVE,
                  "the proxy's name not resolved within the connect timeout");
        return;
    }
    if (c->state != CONN_RELAYING) {
        conn_fail(c, TUNNEL_FAIL_TIMEOUT, "no answer to CONNECT within the connect timeout");
        return;
    }
    /* Only a tunnel where nothing moved for idle_s ends: one pass per idle period. */
    idle_for = ev_now(loop) - c->last_io;
    if (idle_for >= t->idle_s) {
        log_debug("tunnel %s/%s: idle for %.0fs, closed", t->group, t->upstream, idle_for);
        conn_close(c);
        return;
    }
    ev_timer_set(w, t->idle_s - idle_for, 0.);
    ev_timer_start(loop, w);
}

/* ---- the proxy's address ---- */

/* Open the connection to the proxy's known address; the handshake timer is running. */
static void conn_connect(struct tunnel_conn *c)
{
    struct tunnel *t = c->t;
    int one = 1;

    c->pfd = socket(t->proxy_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->pfd < 0) {
        conn_fail(c, TUNNEL_FAIL_RESOURCE, strerror(errno));
        return;
    }
    setsockopt(c->pfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->pfd, (struct sockaddr *)&t->proxy_addr, t->proxy_addr_len) < 0 &&
        errno != EINPROGRESS) {
        t->proxy_addr_len = 0;
        conn_fail(c, TUNNEL_FAIL_CONNECT, strerror(errno));
        return;
    }
    c->state = CONN_CONNECTING;
    conn_update(c);
}

/* The lookup of the proxy's name ended: every connection waiting for it goes on or fails. */
static void on_resolved(void *ctx, int err, const struct sockaddr *addr, socklen_t len)
{
    struct tunnel *t = ctx;
    struct list *link, *next;

    t->lookup = NULL;
    if (!err && len <= sizeof(t->proxy_addr)) {
        memcpy(&t->proxy_addr, addr, len);
        t->proxy_addr_len = len;
        t->resolved_at = ev_now(t->set->loop);
    }
    list_for_each_safe (link, next, &t->conns) {
        struct tunnel_conn *c = list_entry(link, struct tunnel_conn, link);

        if (c->state != CONN_RESOLVING)
            continue;
        if (t->proxy_addr_len)
            conn_connect(c);
        else
            conn_fail(c, TUNNEL_FAIL_RESOLVE, err ? gai_strerror(err) : "address too long");
    }
}

/*
 * Connect, or wait for the proxy's name to be looked up: at first, every RESOLVE_TTL_S, and
 * after a failed connect. One lookup per tunnel at a time, off the loop (resolver.h).
 */
static void conn_resolve_or_connect(struct tunnel_conn *c)
{
    struct tunnel *t = c->t;

    if (t->proxy_addr_len && ev_now(t->set->loop) - t->resolved_at < RESOLVE_TTL_S) {
        conn_connect(c);
        return;
    }
    c->state = CONN_RESOLVING;
    if (t->lookup)
        return;
    t->proxy_addr_len = 0;
    t->lookup = resolver_start(t->set->resolver, t->proxy_host, t->proxy_port, on_resolved, t);
    if (!t->lookup)
        conn_fail(c, TUNNEL_FAIL_RESOURCE, "cannot start looking up the proxy's name");
}

/* ---- accepting ---- */

static void conn_start(struct tunnel *t, int cfd)
{
    struct ev_loop *loop = t->set->loop;
    struct tunnel_conn *c;

    t->st.accepted++;
    if (t->st.active >= TUNNEL_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
        t->st.failed[TUNNEL_FAIL_RESOURCE]++;
        log_warn("tunnel %s/%s: connection refused: %s", t->group, t->upstream,
                 t->st.active >= TUNNEL_MAX_CONNS ? "too many connections" : "out of memory");
        close(cfd);
        return;
    }
    c->t = t;
    c->cfd = cfd;
    c->pfd = -1;
    list_insert(&t->conns, &c->link);
    t->st.active++;
    ev_init(&c->cio, on_client_io);
    ev_init(&c->pio, on_proxy_io);
    ev_init(&c->timer, on_timer);
    c->cio.data = c->pio.data = c->timer.data = c;
    memcpy(c->up.data, t->request, t->request_len);
    c->up.len = t->request_len;
    /* The connect timeout covers the name lookup too. */
    ev_timer_set(&c->timer, t->handshake_s, 0.);
    ev_timer_start(loop, &c->timer);
    conn_resolve_or_connect(c);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tunnel *t = w->data;
    int i, fd;

    (void)loop;
    (void)revents;
    /* A bounded batch per wakeup keeps one busy tunnel from starving the loop. */
    for (i = 0; i < 64; i++) {
        fd = accept4(t->sock.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                t->st.failed[TUNNEL_FAIL_RESOURCE]++;
                log_warn("tunnel %s/%s: accept: %s", t->group, t->upstream, strerror(errno));
            }
            return;
        }
        conn_start(t, fd);
    }
}

/* ---- the set ---- */

static int tunnel_init(struct tunnels *ts, struct tunnel *t, const struct config *cfg,
                       const struct conf_group *g, const struct conf_upstream *up,
                       const struct unix_owner *owner)
{
    const struct conf_http_client *hc = &g->client;
    char path[CONF_SOCKET_PATH_MAX];
    const char *why = NULL;
    int n;

    t->set = ts;
    t->sock.fd = -1;
    list_init(&t->conns);
    t->group = strdup(g->name);
    t->upstream = strdup(up->name);
    t->proxy_host = strdup(hc->proxy.host);
    if (!t->group || !t->upstream || !t->proxy_host) {
        log_error("tunnels: out of memory");
        return -1;
    }
    t->proxy_port = hc->proxy.port;
    t->plain_http = !up->parsed.tls;
    t->handshake_s = hc->connect_timeout_s; /* the schema's default when not set */
    /* HAProxy ends idle connections itself; this only reaps tunnels both peers forgot. */
    t->idle_s = (double)hc->request_timeout_s + hc->idle_timeout_s + 60;
    n = connect_proxy_request(up->parsed.host, up->parsed.port, hc->proxy.userinfo, t->request,
                              sizeof(t->request), &why);
    if (n < 0) {
        log_error("tunnel %s/%s: %s", g->name, up->name, why);
        return -1;
    }
    t->request_len = (size_t)n;
    if (tunnel_socket_path(path, sizeof(path), cfg->haproxy.run_dir.val, g->name, up->name) < 0) {
        log_error("tunnel %s/%s: haproxy.run_dir %s is too long for a unix socket path", g->name,
                  up->name, cfg->haproxy.run_dir.val);
        return -1;
    }
    for (size_t i = 0; i < ts->n; i++)
        if (&ts->v[i] != t && strcmp(ts->v[i].sock.path, path) == 0) {
            log_error("tunnel %s/%s: socket %s is also %s/%s's; rename one", g->name, up->name,
                      path, ts->v[i].group, ts->v[i].upstream);
            return -1;
        }
    if (unix_socket_listen(&t->sock, path, TUNNEL_BACKLOG, owner) != 0) {
        log_error("tunnel %s/%s: cannot listen on %s: %s", g->name, up->name, path,
                  strerror(errno));
        return -1;
    }
    ev_io_init(&t->accept_io, on_accept, t->sock.fd, EV_READ);
    t->accept_io.data = t;
    ev_io_start(ts->loop, &t->accept_io);
    log_info("tunnel %s/%s: %s -> proxy %s:%u -> %s:%u", g->name, up->name, path, t->proxy_host,
             (unsigned)t->proxy_port, up->parsed.host, (unsigned)up->parsed.port);
    return 0;
}

struct tunnels *tunnels_start(struct ev_loop *loop, const struct config *cfg,
                              const struct unix_owner *owner)
{
    struct tunnels *ts = calloc(1, sizeof(*ts));
    size_t i, m, want = 0;

    if (!ts) {
        log_error("tunnels: out of memory");
        return NULL;
    }
    ts->loop = loop;
    for (i = 0; i < cfg->n_groups; i++)
        if (cfg->groups[i].client.proxy_enabled)
            want += cfg->groups[i].n_members;
    if (want &&
        (!(ts->v = calloc(want, sizeof(*ts->v))) || !(ts->resolver = resolver_create(loop)))) {
        log_error("tunnels: out of memory");
        tunnels_free(ts);
        return NULL;
    }
    for (i = 0; i < cfg->n_groups; i++) {
        const struct conf_group *g = &cfg->groups[i];

        if (!g->client.proxy_enabled)
            continue;
        for (m = 0; m < g->n_members; m++) {
            /* Counted before init so that tunnels_free releases a half-built one too. */
            ts->n++;
            if (tunnel_init(ts, &ts->v[ts->n - 1], cfg, g, &cfg->upstreams[g->members[m].upstream],
                            owner) < 0) {
                tunnels_free(ts);
                return NULL;
            }
        }
    }
    return ts;
}

void tunnels_free(struct tunnels *ts)
{
    size_t i;

    if (!ts)
        return;
    for (i = 0; i < ts->n; i++) {
        struct tunnel *t = &ts->v[i];

        while (!list_empty(&t->conns))
            conn_close(list_first_entry(&t->conns, struct tunnel_conn, link));
        if (t->lookup)
            resolver_cancel(t->lookup);
        if (t->sock.fd >= 0) {
            ev_io_stop(ts->loop, &t->accept_io);
            unix_socket_close(&t->sock);
        }
        free(t->group);
        free(t->upstream);
        free(t->proxy_host);
    }
    resolver_free(ts->resolver);
    free(ts->v);
    free(ts);
}

size_t tunnels_count(const struct tunnels *ts)
{
    return ts ? ts->n : 0;
}

const char *tunnels_group(const struct tunnels *ts, size_t i)
{
    return ts->v[i].group;
}

const char *tunnels_upstream(const struct tunnels *ts, size_t i)
{
    return ts->v[i].upstream;
}

const char *tunnels_path(const struct tunnels *ts, size_t i)
{
    return ts->v[i].sock.path;
}

const struct tunnel_stats *tunnels_stats(const struct tunnels *ts, size_t i)
{
    return &ts->v[i].st;
}
