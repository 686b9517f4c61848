/* SPOP frame codec, see spop_frame.h. */
#include <string.h>

#include "spop_data.h"
#include "spop_frame.h"
#include "spop_varint.h"
#include "spop_writer.h"

#define FLAGS_SIZE 4

/* Every action we send carries a fixed number of arguments. */
#define SET_VAR_NB_ARGS   3 /* scope, name, value */
#define UNSET_VAR_NB_ARGS 2 /* scope, name */

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void set_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t spop_frame_length(const uint8_t prefix[SPOP_LENGTH_SIZE])
{
    return get_be32(prefix);
}

enum spop_err spop_frame_decode(const uint8_t *body, size_t len, struct spop_frame *out)
{
    const uint8_t *end = body + len;
    const uint8_t *p = body;
    struct spop_frame f;
    enum spop_err err;

    if (len < 1 + FLAGS_SIZE)
        return SPOP_ERR_TRUNCATED;
    f.type = *p++;
    f.flags = get_be32(p);
    p += FLAGS_SIZE;
    err = spop_varint_decode(&p, end, &f.stream_id);
    if (err == SPOP_ERR_NONE)
        err = spop_varint_decode(&p, end, &f.frame_id);
    if (err != SPOP_ERR_NONE)
        return err;
    f.payload = p;
    f.payload_len = (size_t)(end - p);
    *out = f;
    return SPOP_ERR_NONE;
}

void spop_kv_iter_init(struct spop_kv_iter *it, const uint8_t *payload, size_t len)
{
    it->pos = payload;
    it->end = payload + len;
    it->err = SPOP_ERR_NONE;
}

bool spop_kv_next(struct spop_kv_iter *it, struct spop_kv *kv)
{
    const uint8_t *p = it->pos;

    if (it->err != SPOP_ERR_NONE || p >= it->end)
        return false;
    it->err = spop_str_decode(&p, it->end, &kv->name);
    if (it->err == SPOP_ERR_NONE)
        it->err = spop_data_decode(&p, it->end, &kv->value);
    if (it->err != SPOP_ERR_NONE)
        return false;
    it->pos = p;
    return true;
}

void spop_msg_iter_init(struct spop_msg_iter *it, const uint8_t *payload, size_t len)
{
    it->pos = payload;
    it->end = payload + len;
    it->err = SPOP_ERR_NONE;
}

bool spop_msg_next(struct spop_msg_iter *it, struct spop_msg *msg)
{
    const uint8_t *p = it->pos;
    const uint8_t *args;
    struct spop_kv_iter walk;
    struct spop_kv kv;
    unsigned nb_args, i;

    if (it->err != SPOP_ERR_NONE || p >= it->end)
        return false;
    it->err = spop_str_decode(&p, it->end, &msg->name);
    if (it->err == SPOP_ERR_NONE && p >= it->end)
        it->err = SPOP_ERR_TRUNCATED;
    if (it->err != SPOP_ERR_NONE)
        return false;
    nb_args = *p++;
    args = p;

    /* The list has no per-message length: the arguments must be walked to find where the
     * next message starts, and a message is only handed out once all of it is valid.
     */
    spop_kv_iter_init(&walk, args, (size_t)(it->end - args));
    for (i = 0; i < nb_args; i++) {
        if (!spop_kv_next(&walk, &kv)) {
            it->err = walk.err != SPOP_ERR_NONE ? walk.err : SPOP_ERR_TRUNCATED;
            return false;
        }
    }
    msg->nb_args = nb_args;
    spop_kv_iter_init(&msg->args, args, (size_t)(walk.pos - args));
    it->pos = walk.pos;
    return true;
}

void spop_frame_begin(struct spop_writer *w, uint8_t type, uint64_t stream_id, uint64_t frame_id)
{
    static const uint8_t length_placeholder[SPOP_LENGTH_SIZE];
    uint8_t flags[FLAGS_SIZE];

    w->frame = w->pos;
    w->items = 0;
    set_be32(flags, SPOP_FLAG_FIN);
    spop_put_bytes(w, length_placeholder, sizeof(length_placeholder));
    spop_put_u8(w, type);
    spop_put_bytes(w, flags, sizeof(flags));
    spop_put_varint(w, stream_id);
    spop_put_varint(w, frame_id);
}

size_t spop_frame_end(struct spop_writer *w)
{
    uint8_t *frame = w->frame;
    size_t size;

    w->frame = NULL;
    if (w->failed || frame == NULL)
        return 0;
    size = (size_t)(w->pos - frame);
    if ((uint64_t)(size - SPOP_LENGTH_SIZE) > UINT32_MAX)
        return 0;
    set_be32(frame, (uint32_t)(size - SPOP_LENGTH_SIZE));
    return size;
}

void spop_put_kv(struct spop_writer *w, const char *name, struct spop_data value)
{
    spop_put_str(w, name, strlen(name));
    spop_put_data(w, value);
    w->items++;
}

/* The arguments common to both actions: type, NB-ARGS, scope (a raw byte) and name. */
static void put_action_head(struct spop_writer *w, enum spop_action_type type, uint8_t nb_args,
                            enum spop_scope scope, const char *name)
{
    spop_put_u8(w, (uint8_t)type);
    spop_put_u8(w, nb_args);
    spop_put_u8(w, (uint8_t)scope);
    spop_put_str(w, name, strlen(name));
    w->items++;
}

void spop_put_set_var(struct spop_writer *w, enum spop_scope scope, const char *name,
                      struct spop_data value)
{
    put_action_head(w, SPOP_ACTION_SET_VAR, SET_VAR_NB_ARGS, scope, name);
    spop_put_data(w, value);
}

void spop_put_unset_var(struct spop_writer *w, enum spop_scope scope, const char *name)
{
    put_action_head(w, SPOP_ACTION_UNSET_VAR, UNSET_VAR_NB_ARGS, scope, name);
}

size_t spop_build_agent_hello(struct spop_writer *w, uint32_t frame_size, const char *capabilities)
{
    spop_frame_begin(w, SPOP_FRAME_AGENT_HELLO, 0, 0);
    spop_put_kv(w, "version", spop_data_str(SPOP_VERSION, strlen(SPOP_VERSION)));
    spop_put_kv(w, "max-frame-size", spop_data_uint32(frame_size));
    spop_put_kv(w, "capabilities", spop_data_str(capabilities, strlen(capabilities)));
    return spop_frame_end(w);
}

size_t spop_build_agent_disconnect(struct spop_writer *w, uint32_t status, const char *message,
                                   size_t len)
{
    if (len > SPOP_MESSAGE_MAX)
        len = SPOP_MESSAGE_MAX;
    spop_frame_begin(w, SPOP_FRAME_AGENT_DISCONNECT, 0, 0);
    spop_put_kv(w, "status-code", spop_data_uint32(status));
    spop_put_kv(w, "message", spop_data_str(message, len));
    return spop_frame_end(w);
}
