/* SPOP frames: <LENGTH:4 BE> <TYPE:1> <FLAGS:4 BE> <STREAM-ID:varint> <FRAME-ID:varint>
 * <PAYLOAD>, and their payloads (KV-LIST, LIST-OF-MESSAGES, LIST-OF-ACTIONS).
 *
 * Decoding works on one complete frame held in memory and yields views into it. Building
 * goes through a struct spop_writer: a frame is one contiguous block whose length prefix is
 * reserved at spop_frame_begin() and filled by spop_frame_end().
 */
#ifndef LLMPROXY_SPOP_FRAME_H
#define LLMPROXY_SPOP_FRAME_H

#include "spop-t.h"

/* The frame length announced by a 4-byte prefix. */
uint32_t spop_frame_length(const uint8_t prefix[SPOP_LENGTH_SIZE]);

/* Decodes the fixed part of the frame body (the len bytes after the length prefix); the
 * payload is what remains. Returns SPOP_ERR_TRUNCATED or SPOP_ERR_VARINT when the header
 * does not fit or a varint is malformed.
 */
enum spop_err spop_frame_decode(const uint8_t *body, size_t len, struct spop_frame *out);

/* KV-LIST walk (HELLO, DISCONNECT payloads). spop_kv_next() returns false at the end of the
 * list or on a malformed item, which it reports in it->err.
 */
void spop_kv_iter_init(struct spop_kv_iter *it, const uint8_t *payload, size_t len);
bool spop_kv_next(struct spop_kv_iter *it, struct spop_kv *kv);

/* LIST-OF-MESSAGES walk (NOTIFY payload). Each message is checked whole, arguments
 * included, before it is returned: msg->args then walks exactly its nb_args arguments.
 * Returns false at the end of the list or on a malformed message, reported in it->err.
 */
void spop_msg_iter_init(struct spop_msg_iter *it, const uint8_t *payload, size_t len);
bool spop_msg_next(struct spop_msg_iter *it, struct spop_msg *msg);

/* Starts a frame with the FIN flag (we never fragment): reserves the length prefix, writes
 * type, flags and ids, and resets w->items.
 */
void spop_frame_begin(struct spop_writer *w, uint8_t type, uint64_t stream_id, uint64_t frame_id);

/* Fills the length prefix of the frame begun on w. Returns the frame's size including the
 * prefix, or 0 when anything in it did not fit (the bytes must then be discarded).
 */
size_t spop_frame_end(struct spop_writer *w);

/* One KV-LIST item: name (a C string, written without type byte) and typed value. */
void spop_put_kv(struct spop_writer *w, const char *name, struct spop_data value);

/* ACK actions. HAProxy stores the variable as <scope>.<var-prefix>.<name>; a NULL value
 * unsets it.
 */
void spop_put_set_var(struct spop_writer *w, enum spop_scope scope, const char *name,
                      struct spop_data value);
void spop_put_unset_var(struct spop_writer *w, enum spop_scope scope, const char *name);

/* Whole frames. AGENT-HELLO announces SPOP_VERSION, frame_size and capabilities (a
 * comma-separated list, possibly empty). AGENT-DISCONNECT carries status and the first len
 * bytes of message, cut to SPOP_MESSAGE_MAX. Both return as spop_frame_end().
 */
size_t spop_build_agent_hello(struct spop_writer *w, uint32_t frame_size, const char *capabilities);
size_t spop_build_agent_disconnect(struct spop_writer *w, uint32_t status, const char *message,
                                   size_t len);

/* Largest AGENT-DISCONNECT spop_build_agent_disconnect() can produce, prefix included:
 * the 7-byte header (stream-id and frame-id are 0), then "status-code" (1 + 11) as UINT32
 * (1 + 5) and "message" (1 + 7) as STRING (1 + 2 + 255).
 */
#define SPOP_DISCONNECT_FRAME_MAX (SPOP_LENGTH_SIZE + SPOP_FRAME_MIN_SIZE + 12 + 6 + 8 + 258)

/* Bytes of an AGENT-DISCONNECT other than its length prefix and message text. */
#define SPOP_DISCONNECT_OVERHEAD (SPOP_DISCONNECT_FRAME_MAX - SPOP_LENGTH_SIZE - SPOP_MESSAGE_MAX)

#endif /* LLMPROXY_SPOP_FRAME_H */
