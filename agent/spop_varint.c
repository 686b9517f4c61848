/* SPOP varint codec, see spop_varint.h. */
#include <string.h>

#include "spop_varint.h"

/* The first byte's values 240..255 announce continuation bytes. */
#define VARINT_FIRST_LIMIT 240
#define VARINT_FIRST_BITS  4
#define VARINT_CONT_LIMIT  128
#define VARINT_CONT_BITS   7

size_t spop_varint_encode(uint64_t v, uint8_t *out, size_t room)
{
    uint8_t tmp[SPOP_VARINT_MAX];
    size_t n = 0;

    if (v < VARINT_FIRST_LIMIT) {
        tmp[n++] = (uint8_t)v;
    } else {
        tmp[n++] = (uint8_t)(v | VARINT_FIRST_LIMIT);
        v = (v - VARINT_FIRST_LIMIT) >> VARINT_FIRST_BITS;
        while (v >= VARINT_CONT_LIMIT) {
            tmp[n++] = (uint8_t)(v | VARINT_CONT_LIMIT);
            v = (v - VARINT_CONT_LIMIT) >> VARINT_CONT_BITS;
        }
        tmp[n++] = (uint8_t)v;
    }
    if (n > room)
        return 0;
    memcpy(out, tmp, n);
    return n;
}

enum spop_err spop_varint_decode(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pos;
    unsigned shift = VARINT_FIRST_BITS;
    uint64_t v;
    uint8_t byte;

    if (p >= end)
        return SPOP_ERR_TRUNCATED;
    v = *p++;
    if (v >= VARINT_FIRST_LIMIT) {
        do {
            uint64_t add;

            if (p >= end)
                return SPOP_ERR_TRUNCATED;
            byte = *p++;
            add = (uint64_t)byte << shift;
            /* Refuse bits above 64, where HAProxy's decoder would silently wrap. This also
             * bounds the length: the 10th byte lands at shift 60, so only a value below 16,
             * which ends the varint, passes; an 11th byte is never read.
             */
            if ((add >> shift) != byte || v + add < v)
                return SPOP_ERR_VARINT;
            v += add;
            shift += VARINT_CONT_BITS;
        } while (byte >= VARINT_CONT_LIMIT);
    }
    *out = v;
    *pos = p;
    return SPOP_ERR_NONE;
}
