#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "haproxy_api.h"
#include "io_watch.h"
#include "log.h"

static void start_batch(struct haproxy_api *h);
static void on_start(struct ev_loop *loop, ev_timer *w, int revents);

size_t hapi_parse_reply(const char *reply, size_t len, size_t n, struct hapi_answer *out)
{
    size_t pos = 0;

    for (size_t i = 0; i < n; i++) {
        size_t start = pos;

        for (;;) {
            const char *nl = memchr(reply + pos, '\n', len - pos);
            size_t line_start = pos;

            if (!nl)
                return i; /* cut short: this answer and the next ones are missing */
            pos = (size_t)(nl - reply) + 1;
            if (nl == reply + line_start) { /* the empty line that ends an answer */
                out[i].text = reply + start;
                out[i].len = line_start > start ? line_start - start - 1 : 0;
                break;
            }
        }
    }
    return n;
}

struct haproxy_api *hapi_create(struct ev_loop *loop, const char *path, size_t queue_max,
                                hapi_done_fn *done, void *ctx)
{
    struct haproxy_api *h;

    if (strlen(path) >= sizeof(h->path))
        return NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->cap = queue_max < 1 ? 1 : queue_max > HAPI_QUEUE_LIMIT ? HAPI_QUEUE_LIMIT : queue_max;
    h->queue = calloc(h->cap, sizeof(*h->queue));
    if (!h->queue) {
        free(h);
        return NULL;
    }
    h->loop = loop;
    strcpy(h->path, path);
    h->done = done;
    h->ctx = ctx;
    h->fd = -1;
    ev_init(&h->io, NULL);
    ev_init(&h->timer, NULL);
    h->io.data = h;
    h->timer.data = h;
    return h;
}

static void close_conn(struct haproxy_api *h)
{
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}

void hapi_stream_replies(struct haproxy_api *h, hapi_chunk_fn *chunk)
{
    h->chunk = chunk;
}

void hapi_free(struct haproxy_api *h)
{
    if (!h)
        return;
    close_conn(h);
    free(h->queue);
    free(h);
}

size_t hapi_pending(const struct haproxy_api *h)
{
    return h->n;
}

static bool command_is_valid(const char *cmd, size_t len)
{
    if (len == 0 || len >= HAPI_CMD_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)cmd[i] < 0x20 || cmd[i] == 0x7f || cmd[i] == ';')
            return false;
    return true;
}

bool hapi_submit(struct haproxy_api *h, const char *cmd, uint64_t cookie)
{
    size_t len = strnlen(cmd, HAPI_CMD_MAX);
    struct hapi_cmd *c;

    if (h->n == h->cap || !command_is_valid(cmd, len))
        return false;
    c = &h->queue[(h->head + h->n) % h->cap];
    c->cookie = cookie;
    c->len = (uint16_t)len;
    memcpy(c->text, cmd, len);
    h->n++;
    if (h->phase == HAPI_IDLE) {
        /* Not at once: whatever else is submitted in this loop iteration joins the batch,
         * and the callback never runs inside hapi_submit(). */
        h->phase = HAPI_SCHEDULED;
        ev_timer_init(&h->timer, on_start, 0., 0.);
        ev_timer_start(h->loop, &h->timer);
    }
    return true;
}

/* Take the batch's first command off the queue and report it; the callback may submit. */
static void complete_one(struct haproxy_api *h, bool ok, const struct hapi_answer *a)
{
    struct hapi_cmd *c = &h->queue[h->head];
    uint64_t cookie = c->cookie;

    if (!ok && a)
        log_warn("runtime API: '%.*s' refused: %.*s", (int)c->len, c->text,
                 (int)(a->len > 200 ? 200 : a->len), a->text);
    h->head = (h->head + 1) % h->cap;
    h->n--;
    h->in_batch--;
    if (h->done)
        h->done(h->ctx, cookie, ok);
}

static void on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct haproxy_api *h = w->data;

    (void)loop;
    (void)revents;
    start_batch(h);
}

/* The connection failed: its commands are undelivered; pause before the next batch. */
static void fail_batch(struct haproxy_api *h, const char *why)
{
    close_conn(h);
    if (!h->failing)
        log_warn("runtime API %s: %s; retrying every %u ms", h->path, why, HAPI_RETRY_MS);
    h->failing = true;
    h->phase = HAPI_BACKOFF; /* submits from the callbacks only queue */
    while (h->in_batch)
        complete_one(h, false, NULL);
    ev_timer_init(&h->timer, on_start, HAPI_RETRY_MS / 1000.0, 0.);
    ev_timer_start(h->loop, &h->timer);
}

/* HAProxy closed the connection: every answer is in. */
static void finish_batch(struct haproxy_api *h)
{
    struct hapi_answer answers[HAPI_BATCH_MAX];
    size_t n_answers;

    if (h->chunk) { /* the answer went to the caller, who judges it: the command is done */
        answers[0] = (struct hapi_answer){"", 0};
        n_answers = 1;
    } else {
        n_answers = hapi_parse_reply(h->reply, h->reply_len, h->in_batch, answers);
    }

    close_conn(h);
    if (h->failing)
        log_info("runtime API %s: reachable again", h->path);
    h->failing = false;
    for (size_t i = 0; h->in_batch; i++)
        if (i < n_answers)
            complete_one(h, answers[i].len == 0, &answers[i]);
        else
            complete_one(h, false, &(struct hapi_answer){"no answer", 9});
    start_batch(h);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct haproxy_api *h = w->data;

    (void)loop;
    (void)revents;
    fail_batch(h, "no complete answer in time");
}

static void receive(struct haproxy_api *h)
{
    for (;;) {
        ssize_t r;

        if (h->reply_len == sizeof(h->reply)) {
            fail_batch(h, "answer too long");
            return;
        }
        r = read(h->fd, h->reply + h->reply_len, sizeof(h->reply) - h->reply_len);
        if (r > 0 && h->chunk) {
            h->chunk(h->ctx, h->queue[h->head].cookie, h->reply, (size_t)r);
        } else if (r > 0) {
            h->reply_len += (size_t)r;
        } else if (r == 0) {
            finish_batch(h);
            return;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else if (errno != EINTR) {
            fail_batch(h, strerror(errno));
            return;
        }
    }
}

static void send_line(struct haproxy_api *h)
{
    while (h->line_sent < h->line_len) {
        ssize_t w = send(h->fd, h->line + h->line_sent, h->line_len - h->line_sent, MSG_NOSIGNAL);

        if (w > 0) {
            h->line_sent += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            fail_batch(h, w < 0 ? strerror(errno) : "connection closed");
            return;
        }
    }
    h->phase = HAPI_RECEIVING;
    io_watch(h->loop, &h->io, h->fd, EV_READ);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct haproxy_api *h = w->data;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)loop;
    (void)revents;
    switch (h->phase) {
    case HAPI_CONNECTING:
        if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            fail_batch(h, strerror(err));
            return;
        }
        h->phase = HAPI_SENDING;
        send_line(h);
        return;
    case HAPI_SENDING:
        send_line(h);
        return;
    case HAPI_RECEIVING:
        receive(h);
        return;
    case HAPI_IDLE:
    case HAPI_SCHEDULED:
    case HAPI_BACKOFF:
        break;
    }
}

/* Join as many queued commands as fit one line, from the head of the queue. */
static void build_line(struct haproxy_api *h)
{
    size_t len = 0, k = 0;

    while (k < h->n && k < (h->chunk ? 1 : HAPI_BATCH_MAX)) {
        const struct hapi_cmd *c = &h->queue[(h->head + k) % h->cap];

        if (len + c->len + 1 > HAPI_LINE_MAX) /* + ';' or the final '\n' */
            break;
        memcpy(h->line + len, c->text, c->len);
        len += c->len;
        h->line[len++] = ';';
        k++;
    }
    h->line[len - 1] = '\n';
    h->line_len = len;
    h->line_sent = 0;
    h->in_batch = k;
    h->reply_len = 0;
}

static void start_batch(struct haproxy_api *h)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    h->phase = HAPI_IDLE;
    if (h->n == 0)
        return;
    build_line(h);
    h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->fd < 0) {
        fail_batch(h, strerror(errno));
        return;
    }
    memcpy(sa.sun_path, h->path, strlen(h->path) + 1);
    ev_timer_init(&h->timer, on_timeout, HAPI_TIMEOUT_MS / 1000.0, 0.);
    ev_timer_start(h->loop, &h->timer);
    ev_io_init(&h->io, on_io, h->fd, EV_WRITE);
    if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        h->phase = HAPI_SENDING;
    } else if (errno == EINPROGRESS) {
        h->phase = HAPI_CONNECTING;
    } else {
        fail_batch(h, strerror(errno));
        return;
    }
    ev_io_start(h->loop, &h->io);
}
