/* A byte sink over a caller-provided buffer that can never overflow it.
 *
 * A put that does not fit sets w->failed; from then on every put is a no-op and what was
 * written must be discarded. Callers build a whole frame and check the outcome once at the
 * end instead of after every item.
 */
#ifndef LLMPROXY_SPOP_WRITER_H
#define LLMPROXY_SPOP_WRITER_H

#include "spop-t.h"

/* Starts writing at buf, never past buf + room. */
void spop_writer_init(struct spop_writer *w, uint8_t *buf, size_t room);

/* Bytes written since init. */
size_t spop_writer_len(const struct spop_writer *w);

void spop_put_u8(struct spop_writer *w, uint8_t byte);
void spop_put_bytes(struct spop_writer *w, const void *bytes, size_t len);
void spop_put_varint(struct spop_writer *w, uint64_t v);

/* A STRING without its type byte: varint length, then the bytes (KV names, var names). */
void spop_put_str(struct spop_writer *w, const char *s, size_t len);

#endif /* LLMPROXY_SPOP_WRITER_H */
