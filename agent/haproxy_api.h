/*
 * A non-blocking client of HAProxy's runtime API (the `stats socket`, described in the
 * "Unix Socket commands" chapter of HAProxy's management guide) on the agent's libev loop.
 *
 * Commands are queued (bounded) and sent in batches: one connection per batch, its
 * commands joined by ';' on one line. Without `prompt`, HAProxy 2.6 answers each command
 * in turn, ends every answer with an empty line (a successful `set server` answers the
 * empty line alone) and closes the connection. Every queued command completes exactly
 * once through the done callback: applied, refused by HAProxy, or undelivered (socket
 * absent, refused, timed out). After a failed connection the client pauses HAPI_RETRY_MS
 * and goes on with what is still queued. Nothing here ever blocks the loop.
 */
#ifndef LLMPROXY_HAPROXY_API_H
#define LLMPROXY_HAPROXY_API_H

#include "contract/internal_names.h" /* HAPI_SOCKET_NAME: where llmproxy-ctl renders it */
#include "haproxy_api-t.h"

/*
 * A client of the unix socket `path`, holding at most `queue_max` commands (clamped to
 * [1, HAPI_QUEUE_LIMIT]). `done` may be NULL. NULL when `path` does not fit a unix socket
 * address or memory is short. No connection is made until a command is submitted.
 */
struct haproxy_api *hapi_create(struct ev_loop *loop, const char *path, size_t queue_max,
                                hapi_done_fn *done, void *ctx);

/*
 * Hand every answer to `chunk` as it arrives instead of keeping it, for commands whose
 * answer has no size bound (`show sess`): each connection then carries one command, which
 * is ok once HAProxy has closed the connection, whatever it answered. Call before the
 * first hapi_submit().
 */
void hapi_stream_replies(struct haproxy_api *h, hapi_chunk_fn *chunk);

/* Stop and release; commands still queued are dropped without their callback. */
void hapi_free(struct haproxy_api *h);

/*
 * Queue one command (no newline, no ';': one command only). Returns false, without a
 * callback, when the queue is full or the command is empty, longer than HAPI_CMD_MAX - 1
 * bytes or holds a control byte or ';'.
 */
bool hapi_submit(struct haproxy_api *h, const char *cmd, uint64_t cookie);

/* Commands queued or on the wire. */
size_t hapi_pending(const struct haproxy_api *h);

/*
 * Split HAProxy's reply to `n` ';'-separated commands into `out` (n entries). Returns how
 * many answers were complete; commands past that got no answer.
 */
size_t hapi_parse_reply(const char *reply, size_t len, size_t n, struct hapi_answer *out);

#endif /* LLMPROXY_HAPROXY_API_H */
