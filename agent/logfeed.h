/*
 * The log-feed listener: HAProxy's rings connect here (`server ... log-proto
 * octet-count`) and stream every per-stream log line. Each line is framed, parsed
 * and handed to the consumer; malformed lines and broken streams are counted, never
 * trusted. Several connections are served at once, so an old worker finishing its streams
 * after a reload keeps reporting next to the new one.
 */
#ifndef LLMPROXY_LOGFEED_H
#define LLMPROXY_LOGFEED_H

#include <ev.h>

#include "logfeed-t.h"
#include "logline-t.h"

struct acceptor_stats;
struct conf_listen;
struct logfeed;
struct unix_owner;

/* A well-formed line; its strings are valid only during the call. */
typedef void logfeed_line_fn(void *ctx, const struct logline *line);

/* Bind and listen on `listen` (a unix socket with `owner`'s ids and mode, unix_socket.h);
 * NULL (with a message logged) on failure. */
struct logfeed *logfeed_start(struct ev_loop *loop, const struct conf_listen *listen,
                              const struct unix_owner *owner, logfeed_line_fn *fn, void *ctx);

/* Close every connection and the listener. NULL is a no-op. */
void logfeed_free(struct logfeed *lf);

const struct logfeed_stats *logfeed_stats(const struct logfeed *lf);
/* Connections refused or evicted by the listener's admission control. */
const struct acceptor_stats *logfeed_admission(const struct logfeed *lf);

/*
 * One framed record: counted, parsed, handed to `fn` when well-formed. Exposed for tests;
 * the listener calls it for every record.
 */
void logfeed_record(struct logfeed_stats *st, const char *msg, size_t len, logfeed_line_fn *fn,
                    void *ctx);

#endif /* LLMPROXY_LOGFEED_H */
