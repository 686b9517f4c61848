/*
 * Blocking socket I/O bounded by one deadline, for llmproxy-ctl's short exchanges (the
 * agent's admin endpoint, HAProxy's runtime API): every wait counts against the same
 * point in time, so a slow peer cannot stretch a command beyond its timeout.
 */
#ifndef LLMPROXY_DEADLINE_IO_H
#define LLMPROXY_DEADLINE_IO_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock: deadlines are `deadline_now_ms() + timeout`. */
int64_t deadline_now_ms(void);

/*
 * Wait for `events` (poll(2) flags) on `fd` until `deadline`. Returns 0 when ready, -1
 * with errno (ETIMEDOUT when the deadline passed).
 */
int deadline_wait(int fd, short events, int64_t deadline);

/* Send all of `data` on the non-blocking `fd`. Returns 0, or -1 with errno. */
int deadline_send_all(int fd, const char *data, size_t len, int64_t deadline);

/*
 * Read from the non-blocking `fd` until the peer closes, into `buf` (at most `cap` bytes;
 * EMSGSIZE beyond). Returns 0 with the length in `len`, or -1 with errno.
 */
int deadline_recv_all(int fd, char *buf, size_t cap, size_t *len, int64_t deadline);

#endif /* LLMPROXY_DEADLINE_IO_H */
