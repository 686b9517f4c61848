#include <stdio.h>
#include <string.h>

#include "feed_rescue.h"
#include "haproxy_api.h"
#include "log.h"

/* HAProxy's ring forwarder applets: <SINKFWD> and <SINKFWDOC> (octet-counted framing). */
#define FORWARDER_APPLET "applet=<SINKFWD"

void sess_scan_init(struct sess_scan *s, const char *ring)
{
    memset(s, 0, sizeof(*s));
    s->ring = ring;
}

/* The stream address a block of the detailed dump starts with ("0x55d5e0c9ac00: [..."):
 * its length, 0 when the line is not a block's first. */
static size_t stream_address(const char *line, size_t len)
{
    size_t n = 2;

    if (len < 3 || line[0] != '0' || line[1] != 'x')
        return 0;
    while (n < len && n < SESS_PTR_MAX &&
           ((line[n] >= '0' && line[n] <= '9') || (line[n] >= 'a' && line[n] <= 'f')))
        n++;
    return n > 2 && n < len && line[n] == ':' ? n : 0;
}

/* "<indent>frontend=<ring> (id=...": the line names the ring in field `field`. */
static bool names_ring(const char *line, const char *field, const char *ring)
{
    size_t f = strlen(field), r = strlen(ring);

    return strncmp(line, field, f) == 0 && strncmp(line + f, ring, r) == 0 &&
           strncmp(line + f + r, " (", 2) == 0;
}

static void judge_block(struct sess_scan *s)
{
    if (s->stream[0] && s->is_frontend && s->is_backend && s->is_forwarder &&
        s->n_found < FEED_RESCUE_MAX_STUCK)
        memcpy(s->found[s->n_found++], s->stream, sizeof(s->stream));
    s->stream[0] = '\0';
    s->is_frontend = s->is_backend = s->is_forwarder = false;
}

static void end_line(struct sess_scan *s)
{
    size_t address;

    s->line[s->line_len] = '\0';
    address = stream_address(s->line, s->line_len);
    if (address) {
        judge_block(s);
        memcpy(s->stream, s->line, address);
        s->stream[address] = '\0';
    } else if (s->stream[0]) {
        s->is_frontend |= names_ring(s->line, "  frontend=", s->ring);
        s->is_backend |= names_ring(s->line, "  backend=", s->ring);
        s->is_forwarder |= strstr(s->line, FORWARDER_APPLET) != NULL;
    }
    s->line_len = 0;
}

void sess_scan_feed(struct sess_scan *s, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n')
            end_line(s);
        else if (s->line_len < sizeof(s->line) - 1)
            s->line[s->line_len++] = data[i];
    }
}

void sess_scan_end(struct sess_scan *s)
{
    if (s->line_len)
        end_line(s);
    judge_block(s);
}

void feed_rescue_clock_init(struct feed_rescue_clock *c, uint64_t now_ms)
{
    c->silent_since_ms = now_ms;
    c->next_look_ms = 0;
    c->gap_ms = FEED_RESCUE_GAP_MS;
}

bool feed_rescue_due(struct feed_rescue_clock *c, uint64_t now_ms, bool feed_open,
                     bool haproxy_seen)
{
    if (feed_open) {
        feed_rescue_clock_init(c, now_ms);
        return false;
    }
    if (!haproxy_seen || now_ms - c->silent_since_ms < FEED_RESCUE_SILENT_MS ||
        now_ms < c->next_look_ms)
        return false;
    c->next_look_ms = now_ms + c->gap_ms;
    c->gap_ms = c->gap_ms * 2 > FEED_RESCUE_GAP_MAX_MS ? FEED_RESCUE_GAP_MAX_MS : c->gap_ms * 2;
    return true;
}

/* Cookies of the runtime API's commands: the listing, or the found stream's index. */
#define COOKIE_LISTING UINT64_MAX

static void on_answer(void *ctx, uint64_t cookie, const char *data, size_t len)
{
    struct feed_rescue *r = ctx;

    if (cookie == COOKIE_LISTING)
        sess_scan_feed(&r->scan, data, len);
    else /* `shutdown session` answers nothing but the empty line when it ended the stream */
        for (size_t i = 0; i < len; i++)
            r->refused |= data[i] != '\n';
}

static void end_found(struct feed_rescue *r)
{
    char cmd[64];

    r->phase = RESCUE_ENDING;
    r->ending = 0;
    for (size_t i = 0; i < r->scan.n_found; i++) {
        snprintf(cmd, sizeof(cmd), "shutdown session %s", r->scan.found[i]);
        r->ending += hapi_submit(r->api, cmd, i);
    }
    if (!r->ending)
        r->phase = RESCUE_WATCHING;
}

static void on_done(void *ctx, uint64_t cookie, bool ok)
{
    struct feed_rescue *r = ctx;

    if (cookie == COOKIE_LISTING) {
        sess_scan_end(&r->scan);
        r->phase = RESCUE_WATCHING;
        if (!ok)
            return; /* haproxy_api.c said why */
        if (!r->scan.n_found) {
            log_info("log feed: no stuck ring forwarder in HAProxy");
            return;
        }
        log_warn(
            "log feed: ending %zu stuck ring forwarder stream(s) in HAProxy so that they reconnect",
            r->scan.n_found);
        end_found(r);
        return;
    }
    if (ok && !r->refused) {
        r->stats.rescued++;
        log_info("log feed: HAProxy ended stream %s", r->scan.found[cookie]);
    }
    r->refused = false;
    if (--r->ending == 0)
        r->phase = RESCUE_WATCHING;
}

bool feed_rescue_init(struct feed_rescue *r, struct ev_loop *loop, const char *api_path,
                      const char *ring, uint64_t now_ms)
{
    memset(r, 0, sizeof(*r));
    sess_scan_init(&r->scan, ring);
    feed_rescue_clock_init(&r->clock, now_ms);
    r->api = hapi_create(loop, api_path, FEED_RESCUE_MAX_STUCK + 1, on_done, r);
    if (!r->api)
        return false;
    hapi_stream_replies(r->api, on_answer);
    return true;
}

void feed_rescue_tick(struct feed_rescue *r, uint64_t now_ms, bool feed_open, bool haproxy_seen)
{
    char cmd[32];

    if (!feed_rescue_due(&r->clock, now_ms, feed_open, haproxy_seen) || r->phase != RESCUE_WATCHING)
        return;
    log_info("log feed: no connection from HAProxy for %llu s while it runs; looking for a stuck "
             "ring forwarder",
             (unsigned long long)((now_ms - r->clock.silent_since_ms) / 1000));
    sess_scan_init(&r->scan, r->scan.ring);
    snprintf(cmd, sizeof(cmd), "show sess older %d", FEED_RESCUE_MIN_AGE_S);
    if (hapi_submit(r->api, cmd, COOKIE_LISTING))
        r->phase = RESCUE_LISTING;
}

void feed_rescue_free(struct feed_rescue *r)
{
    hapi_free(r->api);
    r->api = NULL;
}
