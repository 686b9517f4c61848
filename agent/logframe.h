/*
 * Decoder of the octet-counted framing (RFC 6587, section 3.4.1) HAProxy's ring uses with
 * `log-proto octet-count`: records "LEN SP MSG", back to back, where LEN is the decimal
 * byte count of MSG. With `format raw` the message is the bare log line (no syslog
 * header, no newline), as observed on 2.6.12.
 *
 * Incremental and pure: feed whatever a read returned, complete messages come out in
 * order, however the bytes were split. Memory is one message buffer per stream. A bad or
 * oversize length cannot be resynchronised from, so it breaks the stream for good and the
 * caller drops the connection.
 */
#ifndef LLMPROXY_LOGFRAME_H
#define LLMPROXY_LOGFRAME_H

#include "logframe-t.h"

/* One complete message; `msg` is valid only during the call. */
typedef void logframe_msg_fn(void *ctx, const char *msg, size_t len);

void logframe_init(struct logframe *f);

/*
 * Decode `len` bytes, calling `fn` for every message they complete. Returns 0, or
 * -LOGFRAME_ERR_* once the stream is broken (messages before the fault were delivered).
 */
int logframe_feed(struct logframe *f, const char *data, size_t len, logframe_msg_fn *fn, void *ctx);

/* "length", "oversize": a metric label for a LOGFRAME_ERR_* (positive or negated). */
const char *logframe_error_name(int err);

#endif /* LLMPROXY_LOGFRAME_H */
