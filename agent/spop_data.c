/* SPOP typed data codec, see spop_data.h. */
#include <string.h>

#include "spop_data.h"
#include "spop_varint.h"
#include "spop_writer.h"

#define IPV4_SIZE 4
#define IPV6_SIZE 16

/* The same 64 bits read as signed, without relying on implementation-defined conversion. */
static int64_t bits_as_signed(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return (int64_t)v;
    return -(int64_t)(UINT64_MAX - v) - 1;
}

enum spop_err spop_str_decode(const uint8_t **pos, const uint8_t *end, struct spop_str *out)
{
    const uint8_t *p = *pos;
    uint64_t len;
    enum spop_err err = spop_varint_decode(&p, end, &len);

    if (err != SPOP_ERR_NONE)
        return err;
    if (len > (uint64_t)(end - p))
        return SPOP_ERR_TRUNCATED;
    out->ptr = (const char *)p;
    out->len = (size_t)len;
    *pos = p + len;
    return SPOP_ERR_NONE;
}

/* A fixed-size value (IPV4, IPV6) as a view. */
static enum spop_err fixed_decode(const uint8_t **pos, const uint8_t *end, size_t size,
                                  struct spop_str *out)
{
    if (size > (size_t)(end - *pos))
        return SPOP_ERR_TRUNCATED;
    out->ptr = (const char *)*pos;
    out->len = size;
    *pos += size;
    return SPOP_ERR_NONE;
}

enum spop_err spop_data_decode(const uint8_t **pos, const uint8_t *end, struct spop_data *out)
{
    const uint8_t *p = *pos;
    struct spop_data d = {0};
    enum spop_err err = SPOP_ERR_NONE;
    uint8_t head;

    if (p >= end)
        return SPOP_ERR_TRUNCATED;
    head = *p++;
    d.type = (enum spop_data_type)(head & SPOP_DATA_TYPE_MASK);
    switch (d.type) {
    case SPOP_DATA_NULL:
        break;
    case SPOP_DATA_BOOL:
        d.boolean = (head & SPOP_DATA_FLAG_TRUE) != 0;
        break;
    case SPOP_DATA_INT32:
    case SPOP_DATA_UINT32:
    case SPOP_DATA_INT64:
    case SPOP_DATA_UINT64:
        err = spop_varint_decode(&p, end, &d.u64);
        d.i64 = bits_as_signed(d.u64);
        break;
    case SPOP_DATA_IPV4:
        err = fixed_decode(&p, end, IPV4_SIZE, &d.bytes);
        break;
    case SPOP_DATA_IPV6:
        err = fixed_decode(&p, end, IPV6_SIZE, &d.bytes);
        break;
    case SPOP_DATA_STRING:
    case SPOP_DATA_BINARY:
        err = spop_str_decode(&p, end, &d.bytes);
        break;
    default:
        err = SPOP_ERR_DATA_TYPE;
        break;
    }
    if (err != SPOP_ERR_NONE)
        return err;
    *out = d;
    *pos = p;
    return SPOP_ERR_NONE;
}

void spop_put_data(struct spop_writer *w, struct spop_data d)
{
    uint8_t head = (uint8_t)d.type;

    if (d.type == SPOP_DATA_BOOL && d.boolean)
        head |= SPOP_DATA_FLAG_TRUE;
    spop_put_u8(w, head);
    switch (d.type) {
    case SPOP_DATA_NULL:
    case SPOP_DATA_BOOL:
        break;
    case SPOP_DATA_INT32:
    case SPOP_DATA_UINT32:
    case SPOP_DATA_INT64:
    case SPOP_DATA_UINT64:
        spop_put_varint(w, d.u64);
        break;
    case SPOP_DATA_IPV4:
    case SPOP_DATA_IPV6:
        spop_put_bytes(w, d.bytes.ptr, d.bytes.len);
        break;
    case SPOP_DATA_STRING:
    case SPOP_DATA_BINARY:
        spop_put_str(w, d.bytes.ptr, d.bytes.len);
        break;
    default:
        /* Only the constructors below make values: a reserved type is a caller bug, and
         * writing it would make HAProxy drop the connection.
         */
        w->failed = true;
        break;
    }
}

bool spop_data_is_int(const struct spop_data *d)
{
    return d->type >= SPOP_DATA_INT32 && d->type <= SPOP_DATA_UINT64;
}

bool spop_str_eq(struct spop_str s, const char *cstr)
{
    size_t n = strlen(cstr);

    return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

static struct spop_data typed(enum spop_data_type type)
{
    struct spop_data d = {0};

    d.type = type;
    return d;
}

static struct spop_data integer(enum spop_data_type type, uint64_t bits)
{
    struct spop_data d = typed(type);

    d.u64 = bits;
    d.i64 = bits_as_signed(bits);
    return d;
}

static struct spop_data view(enum spop_data_type type, const void *bytes, size_t len)
{
    struct spop_data d = typed(type);

    d.bytes.ptr = bytes;
    d.bytes.len = len;
    return d;
}

struct spop_data spop_data_null(void)
{
    return typed(SPOP_DATA_NULL);
}

struct spop_data spop_data_bool(bool v)
{
    struct spop_data d = typed(SPOP_DATA_BOOL);

    d.boolean = v;
    return d;
}

/* Signed values travel as their two's complement 64-bit pattern (no zig-zag). */
struct spop_data spop_data_int32(int32_t v)
{
    return integer(SPOP_DATA_INT32, (uint64_t)(int64_t)v);
}

struct spop_data spop_data_uint32(uint32_t v)
{
    return integer(SPOP_DATA_UINT32, v);
}

struct spop_data spop_data_int64(int64_t v)
{
    return integer(SPOP_DATA_INT64, (uint64_t)v);
}

struct spop_data spop_data_uint64(uint64_t v)
{
    return integer(SPOP_DATA_UINT64, v);
}

struct spop_data spop_data_ipv4(const uint8_t addr[4])
{
    return view(SPOP_DATA_IPV4, addr, IPV4_SIZE);
}

struct spop_data spop_data_ipv6(const uint8_t addr[16])
{
    return view(SPOP_DATA_IPV6, addr, IPV6_SIZE);
}

struct spop_data spop_data_str(const char *s, size_t len)
{
    return view(SPOP_DATA_STRING, s, len);
}

struct spop_data spop_data_bin(const void *bytes, size_t len)
{
    return view(SPOP_DATA_BINARY, bytes, len);
}
