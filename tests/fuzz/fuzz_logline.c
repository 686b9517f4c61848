/*
 * libFuzzer harness: the log stream HAProxy sends the agent.
 *
 * The input is parsed twice: as one log line (logline_parse), and as an octet-counted
 * stream (logframe_feed) whose every message is parsed as a line, as the log feed does.
 * The stream is decoded once whole and once cut into pieces whose sizes follow from the
 * first input byte; both must deliver the same messages and end in the same state.
 * Inputs are plain text, so seeds are real lines and records.
 *
 * A parsed line must satisfy what logline.h promises (views inside the line, values in
 * their ranges), otherwise the harness aborts and libFuzzer reports a crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logframe.h"
#include "logline.h"
#include "util/chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(struct logline_str s, const char *line, size_t len, size_t max)
{
    if (s.len == 0)
        return true;
    return s.len <= max && s.ptr >= line && s.ptr + s.len <= line + len;
}

static bool timer_ok(int32_t t)
{
    return t >= -1;
}

static void check_line(const char *line, size_t len)
{
    struct logline l;
    int rc = logline_parse(line, len, &l);

    if (!logline_error_name(rc))
        abort();
    if (rc != 0) {
        if (rc > 0 || -rc >= LOGLINE_N_ERRORS)
            abort();
        return;
    }
    if (!inside(l.id, line, len, LOGLINE_ID_MAX) ||
        !inside(l.forward, line, len, LOGLINE_NAME_MAX) ||
        !inside(l.group, line, len, LOGLINE_NAME_MAX) ||
        !inside(l.upstream, line, len, LOGLINE_NAME_MAX) ||
        !inside(l.method, line, len, LOGLINE_METHOD_MAX) || !inside(l.path, line, len, len) ||
        !inside(l.verdict, line, len, LOGLINE_VERDICT_MAX))
        abort();
    if (l.status != -1 && (l.status < 100 || l.status > 999))
        abort();
    if (!timer_ok(l.t_request) || !timer_ok(l.t_queue) || !timer_ok(l.t_connect) ||
        !timer_ok(l.t_response) || !timer_ok(l.t_total))
        abort();
    if (strlen(l.termination) != 4 || l.retries > 65535 || l.spoe_error < 0 || l.spoe_error > 65535)
        abort();
    if (l.kind != LOGLINE_REQUEST && l.kind != LOGLINE_ATTEMPT)
        abort();
}

/* What a decode delivered: a count and a running hash of the messages, in order. */
struct delivered {
    size_t count;
    uint64_t hash;
};

static void on_message(void *ctx, const char *msg, size_t len)
{
    struct delivered *d = ctx;
    uint8_t *copy;

    if (len > LOGFRAME_MAX_MSG)
        abort();
    d->count++;
    d->hash = (d->hash ^ len) * 0x100000001b3u;
    for (size_t i = 0; i < len; i++)
        d->hash = (d->hash ^ (uint8_t)msg[i]) * 0x100000001b3u;
    /* An exact-size copy, so a parser read past the message trips ASan. */
    copy = exact_copy((const uint8_t *)msg, len);
    check_line((const char *)copy, len);
    free(copy);
}

static struct logframe whole_frame, split_frame;

static void check_framing(const uint8_t *data, size_t size)
{
    struct delivered whole = {0, 0xcbf29ce484222325u};
    struct delivered split = whole;
    struct chunks pieces;
    const uint8_t *piece;
    int whole_rc, split_rc = 0;
    size_t n;

    logframe_init(&whole_frame);
    whole_rc = logframe_feed(&whole_frame, (const char *)data, size, on_message, &whole);

    logframe_init(&split_frame);
    chunks_init(&pieces, data, size, data[0]);
    while ((n = chunks_next(&pieces, &piece)) > 0) {
        uint8_t *copy = exact_copy(piece, n);

        split_rc = logframe_feed(&split_frame, (const char *)copy, n, on_message, &split);
        free(copy);
        if (split_rc != 0)
            break;
    }
    if (whole_rc != split_rc || whole.count != split.count || whole.hash != split.hash ||
        !logframe_error_name(whole_rc))
        abort();
    /* A broken stream stays broken. */
    if (whole_rc != 0 && logframe_feed(&whole_frame, "1 x", 3, on_message, &whole) != whole_rc)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    check_line((const char *)data, size);
    check_framing(data, size);
    return 0;
}
