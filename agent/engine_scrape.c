#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_load.h"
#include "engine_reply.h"
#include "engine_scrape.h"
#include "io_watch.h"
#include "resolver.h"

/* Bytes read per wake-up at most, so that a fast sender cannot hold the loop. */
#define READ_STEP (64 * 1024)

static void scrape_close(struct engine_probe *p)
{
    ev_io_stop(p->loop, &p->io);
    ev_timer_stop(p->loop, &p->deadline);
    if (p->lookup) {
        resolver_cancel(p->lookup);
        p->lookup = NULL;
    }
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    free(p->reply);
    p->reply = NULL;
    p->reply_len = p->reply_cap = 0;
    p->phase = SCRAPE_IDLE;
}

static void scrape_fail(struct engine_probe *p, const char *why)
{
    /* The address may be what failed: look the name up again next time. */
    if (p->phase == SCRAPE_CONNECTING)
        p->addr_len = 0;
    scrape_close(p);
    p->done(p->ctx, NULL, why);
}

/* The whole reply is in (the engine closed, as asked): read the page off it. */
static void scrape_finish(struct engine_probe *p)
{
    struct engine_load load;
    const char *why = NULL;
    char *body;
    size_t body_len;

    if (!engine_reply_body(p->reply, p->reply_len, true, &body, &body_len, &why)) {
        scrape_fail(p, why);
        return;
    }
    engine_load_parse(p->type, body, body_len, &load);
    scrape_close(p);
    if (load.valid)
        p->done(p->ctx, &load, NULL);
    else
        p->done(p->ctx, NULL, "the page has no running and waiting gauges of that engine");
}

static void scrape_receive(struct engine_probe *p)
{
    size_t budget = READ_STEP;

    while (budget > 0) {
        if (p->reply_len == p->reply_cap) {
            size_t cap = p->reply_cap ? p->reply_cap * 2 : 16384;
            char *r;

            if (p->reply_cap >= ENGINE_PAGE_MAX) {
                scrape_fail(p, "the page is larger than the agent reads");
                return;
            }
            if (cap > ENGINE_PAGE_MAX)
                cap = ENGINE_PAGE_MAX;
            if (!(r = realloc(p->reply, cap))) {
                scrape_fail(p, "out of memory");
                return;
            }
            p->reply = r;
            p->reply_cap = cap;
        }
        size_t want = p->reply_cap - p->reply_len;
        if (want > budget)
            want = budget;
        ssize_t n = read(p->fd, p->reply + p->reply_len, want);
        if (n > 0) {
            p->reply_len += (size_t)n;
            budget -= (size_t)n;
        } else if (n == 0) {
            scrape_finish(p);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            scrape_fail(p, strerror(errno));
            return;
        }
    }
}

static void scrape_send(struct engine_probe *p)
{
    while (p->sent < p->request_len) {
        ssize_t n = send(p->fd, p->request + p->sent, p->request_len - p->sent, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            scrape_fail(p, strerror(errno));
            return;
        }
        p->sent += (size_t)n;
    }
    p->phase = SCRAPE_RECEIVING;
    io_watch(p->loop, &p->io, p->fd, EV_READ);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct engine_probe *p = w->data;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)loop;
    (void)revents;
    if (p->phase == SCRAPE_CONNECTING) {
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            scrape_fail(p, strerror(err));
            return;
        }
        p->phase = SCRAPE_SENDING;
    }
    if (p->phase == SCRAPE_SENDING)
        scrape_send(p);
    /* Also right after the GET went out: the reply may be there already. */
    if (p->phase == SCRAPE_RECEIVING)
        scrape_receive(p);
}

static void scrape_connect(struct engine_probe *p)
{
    p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        scrape_fail(p, strerror(errno));
        return;
    }
    p->phase = SCRAPE_CONNECTING;
    if (connect(p->fd, (struct sockaddr *)&p->addr, p->addr_len) < 0 && errno != EINPROGRESS) {
        scrape_fail(p, strerror(errno));
        return;
    }
    p->sent = 0;
    io_watch(p->loop, &p->io, p->fd, EV_WRITE);
}

static void on_resolved(void *ctx, int err, const struct sockaddr *addr, socklen_t len)
{
    struct engine_probe *p = ctx;

    p->lookup = NULL;
    if (err || len > sizeof(p->addr)) {
        scrape_fail(p, err ? gai_strerror(err) : "the address is too long");
        return;
    }
    memcpy(&p->addr, addr, len);
    p->addr_len = len;
    p->resolved_at = ev_now(p->loop);
    scrape_connect(p);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    scrape_fail(w->data, "timed out");
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct engine_probe *p = w->data;

    (void)revents;
    if (p->phase != SCRAPE_IDLE)
        return; /* the last one still runs: its deadline ends it */
    ev_timer_again(loop, &p->deadline);
    if (p->addr_len && (ev_now(loop) - p->resolved_at) * 1000 < ENGINE_RESOLVE_TTL_MS) {
        scrape_connect(p);
        return;
    }
    p->phase = SCRAPE_RESOLVING;
    p->lookup = resolver_start(p->resolver, p->host, p->port, on_resolved, p);
    if (!p->lookup)
        scrape_fail(p, "cannot start looking up the name");
}

struct engine_probe *engine_probe_start(struct ev_loop *loop, struct resolver *resolver,
                                        const char *host, uint16_t port, const char *path,
                                        enum engine_type type, uint32_t interval_ms,
                                        uint32_t timeout_ms, engine_scrape_fn *done, void *ctx)
{
    struct engine_probe *p;
    int n;

    if (strlen(host) >= ENGINE_HOST_MAX || !(p = calloc(1, sizeof(*p))))
        return NULL;
    n = engine_reply_request(host, port, path, p->request, sizeof(p->request));
    if (n < 0) {
        free(p);
        return NULL;
    }
    p->request_len = (size_t)n;
    p->loop = loop;
    p->resolver = resolver;
    p->done = done;
    p->ctx = ctx;
    p->type = type;
    p->port = port;
    p->fd = -1;
    memcpy(p->host, host, strlen(host) + 1);
    ev_init(&p->io, on_io);
    p->io.data = p;
    ev_init(&p->deadline, on_deadline);
    p->deadline.repeat = timeout_ms / 1000.0;
    p->deadline.data = p;
    ev_timer_init(&p->tick, on_tick, 0., interval_ms / 1000.0);
    p->tick.data = p;
    ev_timer_start(loop, &p->tick);
    return p;
}

void engine_probe_free(struct engine_probe *p)
{
    if (!p)
        return;
    scrape_close(p);
    ev_timer_stop(p->loop, &p->tick);
    free(p);
}
