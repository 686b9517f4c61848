/* Bounded byte sink, see spop_writer.h. */
#include <string.h>

#include "spop_varint.h"
#include "spop_writer.h"

void spop_writer_init(struct spop_writer *w, uint8_t *buf, size_t room)
{
    w->start = buf;
    w->pos = buf;
    w->end = buf + room;
    w->frame = NULL;
    w->items = 0;
    w->failed = false;
}

size_t spop_writer_len(const struct spop_writer *w)
{
    return (size_t)(w->pos - w->start);
}

void spop_put_bytes(struct spop_writer *w, const void *bytes, size_t len)
{
    if (w->failed)
        return;
    if (len > (size_t)(w->end - w->pos)) {
        w->failed = true;
        return;
    }
    if (len > 0)
        memcpy(w->pos, bytes, len);
    w->pos += len;
}

void spop_put_u8(struct spop_writer *w, uint8_t byte)
{
    spop_put_bytes(w, &byte, 1);
}

void spop_put_varint(struct spop_writer *w, uint64_t v)
{
    size_t n;

    if (w->failed)
        return;
    n = spop_varint_encode(v, w->pos, (size_t)(w->end - w->pos));
    if (n == 0)
        w->failed = true;
    w->pos += n;
}

void spop_put_str(struct spop_writer *w, const char *s, size_t len)
{
    spop_put_varint(w, len);
    spop_put_bytes(w, s, len);
}
