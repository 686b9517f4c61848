/*
 * Rescuing HAProxy's log ring forwarder when it stops delivering to a restarted agent.
 *
 * HAProxy 3.0's ring forwarder, when the agent's end of the log feed closes without a
 * reset (always the case on a unix socket), keeps its half-closed connection, writes
 * nothing more and never reconnects: the new agent gets no outcome until HAProxy reloads,
 * and a reload loses the lines the old process still holds. Ending that forwarder's stream
 * from HAProxy's runtime API makes it reconnect at once and deliver what it held.
 *
 * So when no feed connection has been open for FEED_RESCUE_SILENT_MS while HAProxy is
 * running (it connects to the SPOP listener), the agent lists HAProxy's long-lived streams
 * (`show sess older`), finds the forwarder of the log ring by its frontend, backend and
 * applet, and asks HAProxy to end it (`shutdown session`). Releases whose forwarder
 * reconnects by itself never get that far.
 */
#ifndef LLMPROXY_FEED_RESCUE_H
#define LLMPROXY_FEED_RESCUE_H

#include <ev.h>

#include "feed_rescue-t.h"

/* Start a scan for the forwarders of ring `ring` (kept, not copied). */
void sess_scan_init(struct sess_scan *s, const char *ring);

/* Read the next `len` bytes of the dump. */
void sess_scan_feed(struct sess_scan *s, const char *data, size_t len);

/* The dump is complete: judge its last block. */
void sess_scan_end(struct sess_scan *s);

/* A clock whose feed counts as last seen at `now_ms`. */
void feed_rescue_clock_init(struct feed_rescue_clock *c, uint64_t now_ms);

/*
 * Whether to look for a stuck forwarder now, given whether a feed connection is open and
 * whether HAProxy was seen running since the last call. A true answer schedules the next
 * look, FEED_RESCUE_GAP_MS later, doubling with each look until a feed connection opens.
 */
bool feed_rescue_due(struct feed_rescue_clock *c, uint64_t now_ms, bool feed_open,
                     bool haproxy_seen);

/*
 * Rescue through HAProxy's runtime API socket `api_path`, for ring `ring` (kept, not
 * copied). false when out of memory or the path does not fit a unix socket address.
 */
bool feed_rescue_init(struct feed_rescue *r, struct ev_loop *loop, const char *api_path,
                      const char *ring, uint64_t now_ms);

/* Called every second or so: looks and rescues when due. */
void feed_rescue_tick(struct feed_rescue *r, uint64_t now_ms, bool feed_open, bool haproxy_seen);

void feed_rescue_free(struct feed_rescue *r);

#endif /* LLMPROXY_FEED_RESCUE_H */
