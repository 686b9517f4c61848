/*
 * Client of HAProxy's runtime API (types only; functions are in haproxy_api.h).
 */
#ifndef LLMPROXY_HAPROXY_API_T_H
#define LLMPROXY_HAPROXY_API_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include <ev.h>

/* Longest command, in bytes, without the separator. */
#define HAPI_CMD_MAX 192
/* Most commands that may wait at once, whatever the caller asks for. */
#define HAPI_QUEUE_LIMIT 65536
/* One connection carries at most this many commands, on one line of at most HAPI_LINE_MAX
 * bytes: HAProxy reads the line into one buffer (tune.bufsize, 16 KiB by default). */
#define HAPI_BATCH_MAX 64
#define HAPI_LINE_MAX  8192
/* HAProxy's answers to one batch; `set` commands answer an empty line or one sentence. */
#define HAPI_REPLY_MAX 16384
/* From connect to HAProxy closing the connection. */
#define HAPI_TIMEOUT_MS 2000
/* Pause after a failed connection before the next one: HAProxy may not be started yet. */
#define HAPI_RETRY_MS 1000

/* HAProxy's verdict on one command; `cookie` is the one given to hapi_submit(). */
typedef void hapi_done_fn(void *ctx, uint64_t cookie, bool ok);

/* Part of the answer to command `cookie`, as it arrives (hapi_stream_replies()). */
typedef void hapi_chunk_fn(void *ctx, uint64_t cookie, const char *data, size_t len);

enum hapi_phase {
    HAPI_IDLE = 0,   /* nothing queued, no connection */
    HAPI_SCHEDULED,  /* commands queued, the batch starts in the next loop iteration */
    HAPI_CONNECTING, /* connect() in progress */
    HAPI_SENDING,    /* writing the batch's line */
    HAPI_RECEIVING,  /* reading answers until HAProxy closes */
    HAPI_BACKOFF,    /* the last connection failed: waiting HAPI_RETRY_MS */
};

struct hapi_cmd {
    uint64_t cookie;
    uint16_t len;
    char text[HAPI_CMD_MAX];
};

/* One answer inside HAProxy's reply: empty (len 0) when the command succeeded. */
struct hapi_answer {
    const char *text;
    size_t len;
};

struct haproxy_api {
    struct ev_loop *loop;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    hapi_done_fn *done;
    hapi_chunk_fn *chunk; /* NULL: answers are kept in `reply` and judged (hapi_parse_reply) */
    void *ctx;

    struct hapi_cmd *queue; /* ring of `cap` commands, `n` of them from `head` */
    size_t cap, head, n;
    size_t in_batch; /* the first in_batch queued commands are on the wire */

    enum hapi_phase phase;
    bool failing; /* the last connection failed: logged once, until one succeeds */
    int fd;
    ev_io io;
    ev_timer timer; /* the batch's start, its timeout, or the pause after a failure */
    char line[HAPI_LINE_MAX + 1];
    size_t line_len, line_sent;
    char reply[HAPI_REPLY_MAX];
    size_t reply_len;
};

#endif /* LLMPROXY_HAPROXY_API_T_H */
