/*
 * Bounded growable byte buffer. Appends past the bound or on a failed allocation set
 * `overflow` and leave the content as it was before that append, so a half-written
 * response is never mistaken for a whole one.
 */
#ifndef LLMPROXY_BUF_H
#define LLMPROXY_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "buf-t.h"

/* An empty buffer that will hold at most `max` bytes. Allocates nothing yet. */
void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);

/* Empty the buffer (keeping its memory) and clear `overflow`. */
void buf_reset(struct buf *b);

/* Append; false (and `overflow` set) when it does not fit or after an earlier overflow. */
bool buf_append(struct buf *b, const void *data, size_t len);
bool buf_puts(struct buf *b, const char *s);
bool buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* LLMPROXY_BUF_H */
