#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "acceptor.h"
#include "admin.h"
#include "admin_auth.h"
#include "admin_http.h"
#include "buf.h"
#include "config-t.h"
#include "io_watch.h"
#include "list.h"
#include "log.h"
#include "net.h"

#define HEAD_MAX 256

enum admin_conn_state {
    CONN_READING,  /* waiting for a complete request head, within the timeout */
    CONN_WRITING,  /* a response is being sent */
    CONN_DRAINING, /* response sent, write side shut: discard input until the peer hangs up */
};

struct admin_conn {
    ev_io io;
    ev_timer timer;
    int fd;
    struct admin_server *srv;
    struct list link; /* in srv->conns */
    enum admin_conn_state state;
    bool close_after; /* close once the response is out */
    /* For eviction: proven once a request was answered (then an idle timeout is no error
     * either), last_active is when, busy while a response is being written. */
    struct slot_use use;
    char in[ADMIN_HTTP_MAX_HEAD + 1]; /* one byte more than a head may take, to see it overflow */
    size_t in_len;
    char head[HEAD_MAX];
    size_t head_len;
    struct buf body;
    size_t sent; /* bytes of head then body already written */
};

struct admin_server {
    struct ev_loop *loop;
    int fd;
    uint16_t port;
    struct acceptor acceptor;
    double timeout_s;
    char *token; /* owned copy; NULL: /metrics and /status are open */
    const struct admin_page *pages;
    size_t n_pages;
    void *ctx;
    struct list conns; /* of struct admin_conn, newest first */
    struct admin_stats st;
};

static void conn_close(struct admin_conn *c)
{
    struct admin_server *srv = c->srv;

    ev_io_stop(srv->loop, &c->io);
    ev_timer_stop(srv->loop, &c->timer);
    close(c->fd);
    buf_free(&c->body);
    list_delete(&c->link);
    srv->st.open--;
    free(c);
}

static void conn_events(struct admin_conn *c, int events)
{
    io_watch(c->srv->loop, &c->io, c->fd, events);
}

/* (Re)start the connection's one deadline. */
static void conn_arm(struct admin_conn *c, double timeout_s)
{
    ev_timer_stop(c->srv->loop, &c->timer);
    ev_timer_set(&c->timer, timeout_s, 0.);
    ev_timer_start(c->srv->loop, &c->timer);
}

/* Queue a response whose body is already in c->body. */
static void conn_respond(struct admin_conn *c, int status, const char *content_type,
                         const char *extra_headers)
{
    int n = snprintf(c->head, sizeof(c->head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n%s\r\n",
                     status, admin_http_reason(status), content_type, c->body.len,
                     c->close_after ? "close" : "keep-alive", extra_headers);

    c->head_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
    c->sent = 0;
    c->state = CONN_WRITING;
    c->use.busy = true;
}

static void conn_respond_text(struct admin_conn *c, int status, const char *text,
                              const char *extra_headers)
{
    buf_reset(&c->body);
    buf_puts(&c->body, text);
    buf_puts(&c->body, "\n");
    conn_respond(c, status, "text/plain; charset=utf-8", extra_headers);
}

static bool path_is(const struct admin_request *req, const char *path)
{
    size_t len = strlen(path);

    return req->path_len == len && memcmp(req->path, path, len) == 0;
}

static void conn_respond_page(struct admin_conn *c, const struct admin_page *page)
{
    struct admin_server *srv = c->srv;

    buf_reset(&c->body);
    if (!page->render(srv->ctx, &c->body)) {
        log_warn("admin: the %s page did not fit in %zu bytes", page->path, c->body.max);
        conn_respond_text(c, 500, "page too large", "");
        return;
    }
    conn_respond(c, 200, page->content_type, "");
}

static void conn_respond_unauthorized(struct admin_conn *c)
{
    c->srv->st.unauthorized++;
    buf_reset(&c->body);
    buf_puts(&c->body, "{\"error\":\"unauthorized\",\"message\":\"this page needs "
                       "Authorization: Bearer <http_server.admin.token>\"}\n");
    conn_respond(c, 401, "application/json",
                 "WWW-Authenticate: Bearer realm=\"llmproxy-agent\"\r\n");
}

static void conn_route(struct admin_conn *c, const struct admin_request *req)
{
    struct admin_server *srv = c->srv;

    if (path_is(req, "/health")) {
        conn_respond_text(c, 200, "OK", "");
        return;
    }
    for (size_t i = 0; i < srv->n_pages; i++) {
        if (path_is(req, srv->pages[i].path)) {
            if (admin_auth_ok(req->authorization, req->authorization_len, srv->token))
                conn_respond_page(c, &srv->pages[i]);
            else
                conn_respond_unauthorized(c);
            return;
        }
    }
    conn_respond_text(c, 404, "not found", "");
}

/* Turn the next complete request head in c->in into a response. False when more input
 * is needed first. */
static bool conn_take_request(struct admin_conn *c)
{
    struct admin_request req;

    switch (admin_http_parse(c->in, c->in_len, &req)) {
    case ADMIN_HTTP_INCOMPLETE:
        return false;
    case ADMIN_HTTP_ERROR:
        c->close_after = true; /* the stream cannot be trusted past a bad head */
        conn_respond_text(c, req.status, req.why, req.status == 405 ? "Allow: GET\r\n" : "");
        return true;
    case ADMIN_HTTP_DONE:
        break;
    }
    c->close_after = !req.keep_alive;
    conn_route(c, &req);
    /* Keep what the client pipelined after this head. */
    memmove(c->in, c->in + req.head_len, c->in_len - req.head_len);
    c->in_len -= req.head_len;
    return true;
}

enum flush_result {
    FLUSH_DONE,
    FLUSH_AGAIN, /* the socket is full: wait for EV_WRITE */
    FLUSH_GONE,  /* the client went away */
};

static enum flush_result conn_flush(struct admin_conn *c)
{
    size_t total = c->head_len + c->body.len;

    while (c->sent < total) {
        struct iovec iov[2];
        int n_iov = 0;
        ssize_t n;

        if (c->sent < c->head_len)
            iov[n_iov++] = (struct iovec){c->head + c->sent, c->head_len - c->sent};
        if (c->body.len) {
            size_t off = c->sent > c->head_len ? c->sent - c->head_len : 0;
            iov[n_iov++] = (struct iovec){c->body.data + off, c->body.len - off};
        }
        n = writev(c->fd, iov, n_iov);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return FLUSH_AGAIN;
            return FLUSH_GONE;
        }
        c->sent += (size_t)n;
    }
    return FLUSH_DONE;
}

/* Drive the connection's state machine until it waits for the network. */
static void conn_run(struct admin_conn *c)
{
    double timeout_s = c->srv->timeout_s;

    for (;;) {
        switch (c->state) {
        case CONN_READING:
            /* The deadline runs from the start of the request, not from its last byte,
             * so a client trickling bytes cannot hold the connection. */
            if (!conn_take_request(c)) {
                conn_events(c, EV_READ);
                return;
            }
            break;
        case CONN_WRITING:
            switch (conn_flush(c)) {
            case FLUSH_AGAIN:
                conn_events(c, EV_WRITE);
                conn_arm(c, timeout_s); /* a reader making progress keeps its time */
                return;
            case FLUSH_GONE:
                conn_close(c);
                return;
            case FLUSH_DONE:
                break;
            }
            c->use = (struct slot_use){.last_active = ev_now(c->srv->loop), .proven = true};
            buf_reset(&c->body);
            if (c->close_after) {
                /* Hang up our side, then let the client read everything before the
                 * socket closes: closing with unread input would reset the connection
                 * and could destroy the response in flight. */
                shutdown(c->fd, SHUT_WR);
                c->state = CONN_DRAINING;
                conn_events(c, EV_READ);
                conn_arm(c, ADMIN_LINGER_S);
                return;
            }
            c->state = CONN_READING;
            conn_arm(c, timeout_s);
            break;
        case CONN_DRAINING:
            return;
        }
    }
}

static void conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct admin_conn *c = (struct admin_conn *)w;
    char discard[4096];
    ssize_t n;

    (void)loop;
    if (!(revents & EV_READ) || c->state == CONN_WRITING) {
        conn_run(c);
        return;
    }
    if (c->state == CONN_DRAINING)
        n = recv(c->fd, discard, sizeof(discard), 0);
    else
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c); /* EOF or reset: nothing is owed to a client that left */
        return;
    }
    if (c->state == CONN_READING) {
        c->in_len += (size_t)n;
        conn_run(c);
    }
}

static void conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct admin_conn *c = (struct admin_conn *)((char *)w - offsetof(struct admin_conn, timer));

    (void)loop;
    (void)revents;
    if (c->state == CONN_READING && (c->in_len > 0 || !c->use.proven)) {
        /* No complete request in time (a slowloris, or a silent client): say so. */
        c->close_after = true;
        conn_respond_text(c, 408, "request not received in time", "");
        conn_run(c);
        return;
    }
    /* An idle keep-alive connection, a lingering close, or a client not reading. */
    conn_close(c);
}

static bool conn_admit(void *ctx, int fd)
{
    struct admin_server *srv = ctx;
    struct admin_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return false;
    c->fd = fd;
    c->srv = srv;
    c->state = CONN_READING;
    c->use.last_active = ev_now(srv->loop);
    buf_init(&c->body, ADMIN_MAX_BODY);
    list_insert(&srv->conns, &c->link);
    srv->st.open++;
    ev_io_init(&c->io, conn_io, fd, EV_READ);
    ev_io_start(srv->loop, &c->io);
    ev_timer_init(&c->timer, conn_timeout, srv->timeout_s, 0.);
    ev_timer_start(srv->loop, &c->timer);
    return true;
}

static struct list *conn_list(void *ctx)
{
    return &((struct admin_server *)ctx)->conns;
}

static void evict_conn(void *c)
{
    conn_close(c);
}

/* All slots taken: a connection that never completed a request goes first, then the one
 * idle the longest; one writing a response is left to finish. */
static const struct acceptor_ops conn_ops = {"admin",
                                             conn_admit,
                                             conn_list,
                                             evict_conn,
                                             offsetof(struct admin_conn, link),
                                             offsetof(struct admin_conn, use)};

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct admin_server *admin_start(struct ev_loop *loop, const struct conf_admin *conf,
                                 const struct admin_page *pages, size_t n_pages, void *ctx)
{
    struct admin_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    list_init(&srv->conns);
    srv->fd = net_listen_tcp(conf->listen.address, conf->listen.port, 128);
    if (srv->fd < 0) {
        log_error("admin: cannot listen on %s:%u: %s", conf->listen.address, conf->listen.port,
                  strerror(errno));
        free(srv);
        return NULL;
    }
    srv->loop = loop;
    srv->port = bound_port(srv->fd);
    srv->timeout_s = conf->timeout_connect_s; /* the schema's default when not set */
    srv->pages = pages;
    srv->n_pages = n_pages;
    srv->ctx = ctx;
    if (!admin_set_token(srv, conf->token.val)) {
        log_error("admin: out of memory");
        close(srv->fd);
        free(srv);
        return NULL;
    }
    acceptor_start(&srv->acceptor, loop, srv->fd, acceptor_fd_share(ADMIN_MAX_CONNS, 1),
                   &srv->st.open, &conn_ops, srv);
    log_info("admin: listening on %s:%u%s", conf->listen.address, srv->port,
             srv->token ? " (/metrics and /status need the bearer token)" : "");
    return srv;
}

void admin_free(struct admin_server *srv)
{
    if (!srv)
        return;
    acceptor_stop(&srv->acceptor);
    close(srv->fd);
    while (!list_empty(&srv->conns))
        conn_close(list_first_entry(&srv->conns, struct admin_conn, link));
    admin_set_token(srv, NULL);
    free(srv);
}

bool admin_set_token(struct admin_server *srv, const char *token)
{
    char *copy = NULL;

    if (token && token[0] && !(copy = strdup(token)))
        return false;
    if (srv->token) {
        /* Scrub the secret before giving its memory back. */
        explicit_bzero(srv->token, strlen(srv->token));
        free(srv->token);
    }
    srv->token = copy;
    return true;
}

void admin_stats(const struct admin_server *srv, struct admin_stats *out)
{
    *out = srv->st;
    out->admission = srv->acceptor.st;
}

uint16_t admin_port(const struct admin_server *srv)
{
    return srv->port;
}
