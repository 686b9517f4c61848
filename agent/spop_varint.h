/* SPOP varints: HAProxy's "peers" encoding (not LEB128).
 *
 * Values below 240 take one byte. Larger values set the first byte's top four bits and
 * carry 4 bits there, then 7 bits per byte, every byte but the last having its top bit set.
 */
#ifndef LLMPROXY_SPOP_VARINT_H
#define LLMPROXY_SPOP_VARINT_H

#include "spop-t.h"

/* Encodes v into out. Returns the number of bytes written (1 to SPOP_VARINT_MAX), or 0 and
 * writes nothing when it needs more than room bytes.
 */
size_t spop_varint_encode(uint64_t v, uint8_t *out, size_t room);

/* Decodes the varint at *pos, reading no byte at or past end. On success advances *pos and
 * stores the value; on error leaves both untouched and returns SPOP_ERR_TRUNCATED or
 * SPOP_ERR_VARINT (more than 10 bytes, or a value above 64 bits).
 */
enum spop_err spop_varint_decode(const uint8_t **pos, const uint8_t *end, uint64_t *out);

#endif /* LLMPROXY_SPOP_VARINT_H */
