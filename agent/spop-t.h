/* SPOP (HAProxy Stream Processing Offload Protocol, version 2.0) wire types.
 *
 * Everything here describes bytes on the wire or views into them. Decoded strings are
 * never copied: a struct spop_str points into the buffer that was decoded and is only
 * valid as long as that buffer is.
 */
#ifndef LLMPROXY_SPOP_T_H
#define LLMPROXY_SPOP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A varint holds at most 64 bits: 4 in the first byte, 7 in each of up to 9 more. */
#define SPOP_VARINT_MAX 10

/* Every frame is preceded by its length as 4 bytes in network order. */
#define SPOP_LENGTH_SIZE 4

/* type(1) + flags(4) + stream-id(1) + frame-id(1): nothing shorter is a frame. */
#define SPOP_FRAME_MIN_SIZE 7

/* HAProxy refuses a max-frame-size below this in HELLO (status 9). */
#define SPOP_FRAME_SIZE_MIN 256

/* HAProxy rejects a DISCONNECT message longer than this. */
#define SPOP_MESSAGE_MAX 255

/* The only SPOP version that HAProxy 2.6 through 3.x speaks. */
#define SPOP_VERSION "2.0"

enum spop_frame_type {
    SPOP_FRAME_UNSET = 0, /* fragment continuation: only with fragmentation */
    SPOP_FRAME_HAPROXY_HELLO = 1,
    SPOP_FRAME_HAPROXY_DISCONNECT = 2,
    SPOP_FRAME_NOTIFY = 3,
    SPOP_FRAME_AGENT_HELLO = 101,
    SPOP_FRAME_AGENT_DISCONNECT = 102,
    SPOP_FRAME_ACK = 103,
};

#define SPOP_FLAG_FIN   0x00000001u
#define SPOP_FLAG_ABORT 0x00000002u

/* Low nibble of a typed-data byte; the high nibble holds flags. */
enum spop_data_type {
    SPOP_DATA_NULL = 0,
    SPOP_DATA_BOOL = 1,
    SPOP_DATA_INT32 = 2,
    SPOP_DATA_UINT32 = 3,
    SPOP_DATA_INT64 = 4,
    SPOP_DATA_UINT64 = 5,
    SPOP_DATA_IPV4 = 6,
    SPOP_DATA_IPV6 = 7,
    SPOP_DATA_STRING = 8,
    SPOP_DATA_BINARY = 9,
    /* 10 to 15 are reserved and refused */
};

#define SPOP_DATA_TYPE_MASK 0x0f
#define SPOP_DATA_FLAG_TRUE 0x10 /* BOOL's value */

/* Variable scopes of SET-VAR / UNSET-VAR. */
enum spop_scope {
    SPOP_SCOPE_PROC = 0,
    SPOP_SCOPE_SESS = 1,
    SPOP_SCOPE_TXN = 2,
    SPOP_SCOPE_REQ = 3,
    SPOP_SCOPE_RES = 4,
};

enum spop_action_type {
    SPOP_ACTION_SET_VAR = 1,
    SPOP_ACTION_UNSET_VAR = 2,
};

/* DISCONNECT status codes (doc/SPOE.txt section 3.5). */
enum spop_status {
    SPOP_STATUS_NORMAL = 0,
    SPOP_STATUS_IO = 1,
    SPOP_STATUS_TIMEOUT = 2,
    SPOP_STATUS_TOO_BIG = 3,
    SPOP_STATUS_INVALID = 4,
    SPOP_STATUS_NO_VERSION = 5,
    SPOP_STATUS_NO_FRAME_SIZE = 6,
    SPOP_STATUS_NO_CAPABILITIES = 7,
    SPOP_STATUS_BAD_VERSION = 8,
    SPOP_STATUS_BAD_FRAME_SIZE = 9,
    SPOP_STATUS_FRAG_NOT_SUPPORTED = 10,
    SPOP_STATUS_INTERLACED = 11,
    SPOP_STATUS_FRAME_ID_NOT_FOUND = 12,
    SPOP_STATUS_RESOURCE = 13,
    SPOP_STATUS_UNKNOWN = 99,
};

/* Why a decode or encode step failed. Decoding never reads past the end it is given. */
enum spop_err {
    SPOP_ERR_NONE = 0,
    SPOP_ERR_TRUNCATED, /* the item runs past the end of its frame */
    SPOP_ERR_VARINT,    /* varint longer than 10 bytes or above 64 bits */
    SPOP_ERR_DATA_TYPE, /* reserved typed-data type 10..15 */
};

/* A byte range inside a decoded buffer (not NUL-terminated). */
struct spop_str {
    const char *ptr;
    size_t len;
};

/* One typed value. Integers keep the raw 64 bits of the varint in u64, and the same bits
 * read as signed in i64 (SPOP does not zig-zag: -5 travels as 2^64-5). IPV4, IPV6, STRING
 * and BINARY are views in bytes (4, 16 or any length).
 */
struct spop_data {
    enum spop_data_type type;
    bool boolean;
    uint64_t u64;
    int64_t i64;
    struct spop_str bytes;
};

/* The fixed part of a frame, decoded from the bytes after the length prefix. */
struct spop_frame {
    uint8_t type;
    uint32_t flags;
    uint64_t stream_id;
    uint64_t frame_id;
    const uint8_t *payload;
    size_t payload_len;
};

/* One item of a KV-LIST: a name (no type byte) and a typed value. */
struct spop_kv {
    struct spop_str name;
    struct spop_data value;
};

/* Walks a KV-LIST. err is set when a malformed item stops the walk. */
struct spop_kv_iter {
    const uint8_t *pos;
    const uint8_t *end;
    enum spop_err err;
};

/* One message of a NOTIFY: its name and an iterator over exactly its nb_args arguments. */
struct spop_msg {
    struct spop_str name;
    unsigned nb_args;
    struct spop_kv_iter args;
};

/* Walks a LIST-OF-MESSAGES. err is set when a malformed message stops the walk. */
struct spop_msg_iter {
    const uint8_t *pos;
    const uint8_t *end;
    enum spop_err err;
};

/* Appends to a caller-provided buffer and can never overflow it: once an item does not fit,
 * failed is set, nothing more is written and the result must be discarded. frame marks the
 * length prefix of the frame being built, filled in when the frame ends; items counts the
 * KV items or actions put in that frame.
 */
struct spop_writer {
    uint8_t *start;
    uint8_t *pos;
    uint8_t *end;
    uint8_t *frame;
    unsigned items;
    bool failed;
};

#endif /* LLMPROXY_SPOP_T_H */
