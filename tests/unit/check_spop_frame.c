/*
 * SPOP codec: varints, typed data, frame headers, KV and message iterators, and the
 * bounded writer, against byte vectors of HAProxy 2.6.12's own frames (util/spop_vectors.h)
 * and of the SPOP specification's encodings. Inputs are decoded from exact-size heap copies so that
 * ASan would catch any read past their end.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spop_data.h"
#include "spop_frame.h"
#include "spop_varint.h"
#include "spop_writer.h"
#include "util/hexspec.h"
#include "util/spop_vectors.h"

#define BUF_MAX 512

static size_t spec(const char *s, uint8_t *out)
{
    return hexspec(s, out, BUF_MAX);
}

/* An exact-size heap copy of a spec: reading one byte too far is an ASan error. */
static uint8_t *heap_spec(const char *s, size_t *len)
{
    uint8_t tmp[BUF_MAX];
    uint8_t *copy;

    *len = spec(s, tmp);
    copy = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, tmp, *len);
    return copy;
}

static void assert_str(struct spop_str s, const char *expected)
{
    ck_assert_msg(spop_str_eq(s, expected), "got \"%.*s\", expected \"%s\"", (int)s.len, s.ptr,
                  expected);
}

/* ---- varint ---------------------------------------------------------------------------- */

static const struct {
    uint64_t value;
    const char *bytes;
} varint_vectors[] = {
    {0, "00"},
    {239, "ef"},
    {240, "f0 00"},
    {255, "ff 00"},
    {256, "f0 01"},
    {2287, "ff 7f"},
    {2288, "f0 80 00"},
    {264431, "ff ff 7f"},
    {264432, "f0 80 80 00"},
    {16380, "fc f0 06"},
    {UINT32_MAX, "ff f0 fe fe 7e"},
    {(uint64_t)-5, "fb f0 fe fe fe fe fe fe fe 0e"},
    {UINT64_MAX, "ff f0 fe fe fe fe fe fe fe 0e"},
};

START_TEST(test_varint_encode_vectors)
{
    uint8_t expected[BUF_MAX], out[SPOP_VARINT_MAX];
    size_t n = spec(varint_vectors[_i].bytes, expected);

    ck_assert_uint_eq(spop_varint_encode(varint_vectors[_i].value, out, sizeof(out)), n);
    ck_assert_mem_eq(out, expected, n);
    /* One byte short of room: nothing is written, 0 is returned. */
    memset(out, 0xAA, sizeof(out));
    ck_assert_uint_eq(spop_varint_encode(varint_vectors[_i].value, out, n - 1), 0);
    ck_assert_uint_eq(out[0], 0xAA);
}
END_TEST

START_TEST(test_varint_decode_vectors)
{
    size_t n;
    uint8_t *in = heap_spec(varint_vectors[_i].bytes, &n);
    const uint8_t *pos = in;
    uint64_t v = 0;

    ck_assert_int_eq(spop_varint_decode(&pos, in + n, &v), SPOP_ERR_NONE);
    ck_assert(v == varint_vectors[_i].value);
    ck_assert_ptr_eq(pos, in + n);
    free(in);
}
END_TEST

START_TEST(test_varint_signed_is_cast_not_zigzag)
{
    uint8_t out[SPOP_VARINT_MAX], expected[BUF_MAX];
    size_t n = spec("fb f0 fe fe fe fe fe fe fe 0e", expected);
    const uint8_t *pos = out;
    uint64_t v;

    ck_assert_uint_eq(spop_varint_encode((uint64_t)(int64_t)-5, out, sizeof(out)), n);
    ck_assert_mem_eq(out, expected, n);
    ck_assert_int_eq(spop_varint_decode(&pos, out + n, &v), SPOP_ERR_NONE);
    ck_assert(v == UINT64_MAX - 4);
}
END_TEST

START_TEST(test_varint_roundtrip_boundaries)
{
    static const uint64_t values[] = {1,          238,           241,        2286,
                                      2289,       264430,        264433,     33818863,
                                      33818864,   1ull << 32,    1ull << 40, (1ull << 63) - 1,
                                      1ull << 63, UINT64_MAX - 1};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t buf[SPOP_VARINT_MAX];
        size_t n = spop_varint_encode(values[i], buf, sizeof(buf));
        const uint8_t *pos = buf;
        uint64_t v;

        ck_assert_uint_gt(n, 0);
        ck_assert_int_eq(spop_varint_decode(&pos, buf + n, &v), SPOP_ERR_NONE);
        ck_assert(v == values[i]);
        ck_assert_ptr_eq(pos, buf + n);
    }
}
END_TEST

static const struct {
    const char *bytes;
    enum spop_err err;
} bad_varints[] = {
    {"", SPOP_ERR_TRUNCATED},
    {"f0", SPOP_ERR_TRUNCATED},
    {"ff 80", SPOP_ERR_TRUNCATED},
    {"ff f0 fe fe fe fe fe fe fe", SPOP_ERR_TRUNCATED},
    /* 11 bytes: the 10th still announces a continuation */
    {"f0 80 80 80 80 80 80 80 80 80 00", SPOP_ERR_VARINT},
    /* 10 bytes whose last one carries bits above 64 */
    {"ff ff ff ff ff ff ff ff ff 10", SPOP_ERR_VARINT},
    /* UINT64_MAX's encoding with its last byte one higher: wraps past 2^64 */
    {"ff f0 fe fe fe fe fe fe fe 0f", SPOP_ERR_VARINT},
};

START_TEST(test_varint_malformed)
{
    size_t n;
    uint8_t *in = heap_spec(bad_varints[_i].bytes, &n);
    const uint8_t *pos = in;
    uint64_t v = 42;

    ck_assert_int_eq(spop_varint_decode(&pos, in + n, &v), bad_varints[_i].err);
    ck_assert_ptr_eq(pos, in);
    ck_assert(v == 42);
    free(in);
}
END_TEST

/* ---- typed data ------------------------------------------------------------------------ */

static struct spop_data decode_one(const char *bytes, enum spop_err expected_err)
{
    size_t n;
    uint8_t *in = heap_spec(bytes, &n);
    const uint8_t *pos = in;
    struct spop_data d;

    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(spop_data_decode(&pos, in + n, &d), expected_err);
    ck_assert_ptr_eq(pos, expected_err == SPOP_ERR_NONE ? in + n : in);
    free(in);
    /* Views into the freed copy are not used by callers of this helper. */
    d.bytes.ptr = NULL;
    return d;
}

START_TEST(test_data_scalars)
{
    struct spop_data d;

    d = decode_one("00", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_NULL);
    d = decode_one("01", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_BOOL);
    ck_assert(!d.boolean);
    d = decode_one("11", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_BOOL);
    ck_assert(d.boolean);
    d = decode_one("02 05", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_INT32);
    ck_assert_int_eq(d.i64, 5);
    d = decode_one("03 fc f0 06", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_UINT32);
    ck_assert_uint_eq(d.u64, 16380);
    d = decode_one("04 fb f0 fe fe fe fe fe fe fe 0e", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_INT64);
    ck_assert_int_eq(d.i64, -5);
    d = decode_one("05 ff f0 fe fe fe fe fe fe fe 0e", SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_UINT64);
    ck_assert(d.u64 == UINT64_MAX);
    ck_assert_int_eq(d.i64, -1);
    ck_assert(spop_data_is_int(&d));
    d = decode_one("08 00", SPOP_ERR_NONE);
    ck_assert(!spop_data_is_int(&d));
    ck_assert_int_eq(d.type, SPOP_DATA_STRING);
    ck_assert_uint_eq(d.bytes.len, 0);
}
END_TEST

START_TEST(test_data_views_point_into_input)
{
    uint8_t in[BUF_MAX];
    size_t n = spec("06 7f000001 07 20010db8000000000000000000000001 08 03\"GET\" 09 02\"ab\"", in);
    const uint8_t *pos = in, *end = in + n;
    struct spop_data d;

    ck_assert_int_eq(spop_data_decode(&pos, end, &d), SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_IPV4);
    ck_assert_ptr_eq(d.bytes.ptr, (const char *)in + 1);
    ck_assert_uint_eq(d.bytes.len, 4);
    ck_assert_mem_eq(d.bytes.ptr, "\x7f\x00\x00\x01", 4);
    ck_assert_int_eq(spop_data_decode(&pos, end, &d), SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_IPV6);
    ck_assert_uint_eq(d.bytes.len, 16);
    ck_assert_uint_eq((uint8_t)d.bytes.ptr[0], 0x20);
    ck_assert_uint_eq((uint8_t)d.bytes.ptr[15], 0x01);
    ck_assert_int_eq(spop_data_decode(&pos, end, &d), SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_STRING);
    assert_str(d.bytes, "GET");
    ck_assert_ptr_eq(d.bytes.ptr, (const char *)in + 24);
    ck_assert_int_eq(spop_data_decode(&pos, end, &d), SPOP_ERR_NONE);
    ck_assert_int_eq(d.type, SPOP_DATA_BINARY);
    assert_str(d.bytes, "ab");
    ck_assert_ptr_eq(pos, end);
}
END_TEST

START_TEST(test_data_reserved_types)
{
    char bytes[8];

    /* 10..15, with and without flag bits: all refused */
    snprintf(bytes, sizeof(bytes), "%02x 00", 0x0a + _i % 6 + (_i >= 6 ? 0x10 : 0));
    decode_one(bytes, SPOP_ERR_DATA_TYPE);
}
END_TEST

static const struct {
    const char *bytes;
    enum spop_err err;
} bad_data[] = {
    {"", SPOP_ERR_TRUNCATED},
    {"02", SPOP_ERR_TRUNCATED},
    {"04 f0", SPOP_ERR_TRUNCATED},
    {"04 f0 80 80 80 80 80 80 80 80 80 00", SPOP_ERR_VARINT},
    {"06 7f 00 00", SPOP_ERR_TRUNCATED},
    {"07 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", SPOP_ERR_TRUNCATED},
    {"08", SPOP_ERR_TRUNCATED},
    {"08 05\"abcd\"", SPOP_ERR_TRUNCATED},
    {"09 f0", SPOP_ERR_TRUNCATED},
    /* a length of 2^64-1 must not wrap the bounds check */
    {"08 ff f0 fe fe fe fe fe fe fe 0e \"x\"", SPOP_ERR_TRUNCATED},
};

START_TEST(test_data_malformed)
{
    decode_one(bad_data[_i].bytes, bad_data[_i].err);
}
END_TEST

START_TEST(test_data_encode_roundtrip)
{
    static const uint8_t v4[4] = {10, 0, 0, 1};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    const struct spop_data values[] = {
        spop_data_null(),       spop_data_bool(false),        spop_data_bool(true),
        spop_data_int32(-7),    spop_data_uint32(UINT32_MAX), spop_data_int64(INT64_MIN),
        spop_data_uint64(240),  spop_data_ipv4(v4),           spop_data_ipv6(v6),
        spop_data_str("s2", 2), spop_data_bin("\0\1\2", 3),   spop_data_str("", 0),
    };
    uint8_t buf[BUF_MAX];
    struct spop_writer w;
    const uint8_t *pos = buf;
    size_t i;

    spop_writer_init(&w, buf, sizeof(buf));
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        spop_put_data(&w, values[i]);
    ck_assert(!w.failed);
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct spop_data d;

        ck_assert_int_eq(spop_data_decode(&pos, buf + spop_writer_len(&w), &d), SPOP_ERR_NONE);
        ck_assert_int_eq(d.type, values[i].type);
        ck_assert_int_eq(d.boolean, values[i].boolean);
        ck_assert(d.u64 == values[i].u64);
        ck_assert_int_eq(d.i64, values[i].i64);
        ck_assert_uint_eq(d.bytes.len, values[i].bytes.len);
        if (d.bytes.len > 0)
            ck_assert_mem_eq(d.bytes.ptr, values[i].bytes.ptr, d.bytes.len);
    }
    ck_assert_ptr_eq(pos, buf + spop_writer_len(&w));
    ck_assert_int_eq(spop_data_int32(-7).i64, -7);
}
END_TEST

START_TEST(test_data_encoded_bytes)
{
    uint8_t buf[BUF_MAX], expected[BUF_MAX];
    struct spop_writer w;
    size_t n = spec("00 01 11 04 fb f0 fe fe fe fe fe fe fe 0e 03 fc f0 06 08 02\"s2\"", expected);

    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_data(&w, spop_data_null());
    spop_put_data(&w, spop_data_bool(false));
    spop_put_data(&w, spop_data_bool(true));
    spop_put_data(&w, spop_data_int64(-5));
    spop_put_data(&w, spop_data_uint32(16380));
    spop_put_data(&w, spop_data_str("s2", 2));
    ck_assert(!w.failed);
    ck_assert_uint_eq(spop_writer_len(&w), n);
    ck_assert_mem_eq(buf, expected, n);
}
END_TEST

START_TEST(test_data_reserved_type_not_encoded)
{
    uint8_t buf[16];
    struct spop_writer w;
    struct spop_data d = spop_data_null();

    d.type = (enum spop_data_type)12;
    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_data(&w, d);
    ck_assert(w.failed);
}
END_TEST

/* ---- frames ---------------------------------------------------------------------------- */

START_TEST(test_frame_haproxy_hello)
{
    size_t n;
    uint8_t *in = heap_spec(VEC_HAPROXY_HELLO, &n);
    struct spop_frame f;
    struct spop_kv_iter it;
    struct spop_kv kv;

    ck_assert_uint_eq(n, 4 + 129);
    ck_assert_uint_eq(spop_frame_length(in), 129);
    ck_assert_int_eq(spop_frame_decode(in + 4, n - 4, &f), SPOP_ERR_NONE);
    ck_assert_uint_eq(f.type, SPOP_FRAME_HAPROXY_HELLO);
    ck_assert_uint_eq(f.flags, SPOP_FLAG_FIN);
    ck_assert(f.stream_id == 0 && f.frame_id == 0);
    ck_assert_uint_eq(f.payload_len, 129 - 7);

    spop_kv_iter_init(&it, f.payload, f.payload_len);
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "supported-versions");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_STRING);
    assert_str(kv.value.bytes, "2.0");
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "max-frame-size");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_UINT32);
    ck_assert_uint_eq(kv.value.u64, 16380);
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "capabilities");
    assert_str(kv.value.bytes, "pipelining,async");
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "engine-id");
    ck_assert_uint_eq(kv.value.bytes.len, 36);
    assert_str(kv.value.bytes, VEC_ENGINE_ID);
    ck_assert(!spop_kv_next(&it, &kv));
    ck_assert_int_eq(it.err, SPOP_ERR_NONE);
    free(in);
}
END_TEST

/* The generic frame and KV writers reproduce HAProxy's own HELLO bytes exactly. */
START_TEST(test_frame_writer_builds_haproxy_hellos)
{
    uint8_t expected[BUF_MAX], buf[BUF_MAX];
    struct spop_writer w;
    size_t n;

    n = spec(VEC_HAPROXY_HELLO, expected);
    spop_writer_init(&w, buf, sizeof(buf));
    spop_frame_begin(&w, SPOP_FRAME_HAPROXY_HELLO, 0, 0);
    spop_put_kv(&w, "supported-versions", spop_data_str("2.0", 3));
    spop_put_kv(&w, "max-frame-size", spop_data_uint32(16380));
    spop_put_kv(&w, "capabilities", spop_data_str("pipelining,async", 16));
    spop_put_kv(&w, "engine-id", spop_data_str(VEC_ENGINE_ID, 36));
    ck_assert_uint_eq(w.items, 4);
    ck_assert_uint_eq(spop_frame_end(&w), n);
    ck_assert_mem_eq(buf, expected, n);

    n = spec(VEC_HEALTHCHECK_HELLO, expected);
    ck_assert_uint_eq(n, 4 + 78);
    spop_writer_init(&w, buf, sizeof(buf));
    spop_frame_begin(&w, SPOP_FRAME_HAPROXY_HELLO, 0, 0);
    spop_put_kv(&w, "supported-versions", spop_data_str("2.0", 3));
    spop_put_kv(&w, "max-frame-size", spop_data_uint32(16380));
    spop_put_kv(&w, "capabilities", spop_data_str("", 0));
    spop_put_kv(&w, "healthcheck", spop_data_bool(true));
    ck_assert_uint_eq(spop_frame_end(&w), n);
    ck_assert_mem_eq(buf, expected, n);
}
END_TEST

static const struct {
    const char *body;
    enum spop_err err;
} bad_headers[] = {
    {"", SPOP_ERR_TRUNCATED},
    {"03 00 00 00", SPOP_ERR_TRUNCATED},
    {"03 00000001", SPOP_ERR_TRUNCATED},
    {"03 00000001 05", SPOP_ERR_TRUNCATED},
    {"03 00000001 f0 00", SPOP_ERR_TRUNCATED},
    {"03 00000001 f0 80 80 80 80 80 80 80 80 80 00 01", SPOP_ERR_VARINT},
    {"03 00000001 00 ff ff ff ff ff ff ff ff ff 10", SPOP_ERR_VARINT},
};

START_TEST(test_frame_header_malformed)
{
    size_t n;
    uint8_t *in = heap_spec(bad_headers[_i].body, &n);
    struct spop_frame f;

    ck_assert_int_eq(spop_frame_decode(in, n, &f), bad_headers[_i].err);
    free(in);
}
END_TEST

START_TEST(test_frame_header_fields)
{
    size_t n;
    uint8_t *in = heap_spec("03 80000003 f0 80 00 ef 0102", &n);
    struct spop_frame f;

    ck_assert_int_eq(spop_frame_decode(in, n, &f), SPOP_ERR_NONE);
    ck_assert_uint_eq(f.type, SPOP_FRAME_NOTIFY);
    ck_assert_uint_eq(f.flags, 0x80000003u);
    ck_assert(f.stream_id == 2288);
    ck_assert(f.frame_id == 239);
    ck_assert_uint_eq(f.payload_len, 2);
    ck_assert_ptr_eq(f.payload, in + n - 2);
    free(in);
}
END_TEST

/* Cutting a KV-LIST anywhere never reads outside it: a cut between items ends the walk
 * cleanly, a cut inside an item reports it truncated.
 */
START_TEST(test_kv_iter_every_cut)
{
    uint8_t full[BUF_MAX];
    size_t n = spec(VEC_HAPROXY_HELLO, full);
    const uint8_t *payload = full + 4 + 7;
    size_t payload_len = n - 4 - 7;
    size_t boundaries[] = {0, 24, 24 + 19, 24 + 19 + 31, 24 + 19 + 31 + 48};

    ck_assert_uint_eq(boundaries[4], payload_len);
    for (size_t cut = 0; cut <= payload_len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        struct spop_kv_iter it;
        struct spop_kv kv;
        unsigned items = 0;
        bool at_boundary = false;

        memcpy(copy, payload, cut);
        spop_kv_iter_init(&it, copy, cut);
        while (spop_kv_next(&it, &kv))
            items++;
        for (size_t b = 0; b < 5; b++) {
            if (cut == boundaries[b]) {
                at_boundary = true;
                ck_assert_uint_eq(items, b);
            }
        }
        ck_assert_int_eq(it.err, at_boundary ? SPOP_ERR_NONE : SPOP_ERR_TRUNCATED);
        /* once stopped, it stays stopped */
        ck_assert(!spop_kv_next(&it, &kv));
        free(copy);
    }
}
END_TEST

START_TEST(test_kv_iter_reserved_type)
{
    size_t n;
    uint8_t *in = heap_spec("01\"a\" 00 01\"b\" 0b 01\"c\" 00", &n);
    struct spop_kv_iter it;
    struct spop_kv kv;

    spop_kv_iter_init(&it, in, n);
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "a");
    ck_assert(!spop_kv_next(&it, &kv));
    ck_assert_int_eq(it.err, SPOP_ERR_DATA_TYPE);
    free(in);
}
END_TEST

START_TEST(test_msg_iter_appendix_a)
{
    size_t n;
    uint8_t *in = heap_spec(VEC_NOTIFY_PAYLOAD, &n);
    struct spop_msg_iter it;
    struct spop_msg msg;
    struct spop_kv kv;

    spop_msg_iter_init(&it, in, n);
    ck_assert(spop_msg_next(&it, &msg));
    assert_str(msg.name, "pick-msg");
    ck_assert_uint_eq(msg.nb_args, 8);

    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "id");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_STRING);
    assert_str(kv.value.bytes, "7F000001:D0FC:2100");
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "src");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_IPV4);
    ck_assert_mem_eq(kv.value.bytes.ptr, "\x7f\x00\x00\x01", 4);
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "meth");
    assert_str(kv.value.bytes, "GET");
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "s1_conn");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_INT64);
    ck_assert_int_eq(kv.value.i64, 0);
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "s1_up");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_BOOL);
    ck_assert(kv.value.boolean);
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "nullarg");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_NULL);
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "bin");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_BINARY);
    assert_str(kv.value.bytes, "ab");
    ck_assert(spop_kv_next(&msg.args, &kv));
    assert_str(kv.name, "neg");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_INT64);
    ck_assert_int_eq(kv.value.i64, -5);
    ck_assert(kv.value.u64 == UINT64_MAX - 4);
    /* the argument walk stops at the message's end, not at the next message */
    ck_assert(!spop_kv_next(&msg.args, &kv));
    ck_assert_int_eq(msg.args.err, SPOP_ERR_NONE);

    ck_assert(spop_msg_next(&it, &msg));
    assert_str(msg.name, "done");
    ck_assert_uint_eq(msg.nb_args, 0);
    ck_assert(!spop_kv_next(&msg.args, &kv));
    ck_assert(!spop_msg_next(&it, &msg));
    ck_assert_int_eq(it.err, SPOP_ERR_NONE);
    free(in);
}
END_TEST

START_TEST(test_msg_iter_empty_list)
{
    uint8_t dummy = 0;
    struct spop_msg_iter it;
    struct spop_msg msg;

    spop_msg_iter_init(&it, &dummy, 0);
    ck_assert(!spop_msg_next(&it, &msg));
    ck_assert_int_eq(it.err, SPOP_ERR_NONE);
}
END_TEST

static const struct {
    const char *payload;
    enum spop_err err;
} bad_messages[] = {
    {"04\"pick\"", SPOP_ERR_TRUNCATED},                    /* no NB-ARGS */
    {"04 7069", SPOP_ERR_TRUNCATED},                       /* name cut: "pi" */
    {"04\"pick\" 02 01\"a\" 00", SPOP_ERR_TRUNCATED},      /* one argument of two */
    {"04\"pick\" 01 01\"a\"", SPOP_ERR_TRUNCATED},         /* argument without value */
    {"04\"pick\" 01 01\"a\" 06 7f00", SPOP_ERR_TRUNCATED}, /* IPV4 cut */
    {"04\"pick\" 01 01\"a\" 0c", SPOP_ERR_DATA_TYPE},      /* reserved type */
    {"04\"pick\" 01 01\"a\" 04 f0 80 80 80 80 80 80 80 80 80 00", SPOP_ERR_VARINT},
    {"04\"pick\" 00 f0", SPOP_ERR_TRUNCATED}, /* 2nd message name cut */
};

START_TEST(test_msg_iter_malformed)
{
    size_t n;
    uint8_t *in = heap_spec(bad_messages[_i].payload, &n);
    struct spop_msg_iter it;
    struct spop_msg msg;

    spop_msg_iter_init(&it, in, n);
    while (spop_msg_next(&it, &msg))
        ;
    ck_assert_int_eq(it.err, bad_messages[_i].err);
    ck_assert(!spop_msg_next(&it, &msg));
    free(in);
}
END_TEST

/* ---- writer and agent frames ----------------------------------------------------------- */

START_TEST(test_agent_hello_vectors)
{
    uint8_t expected[BUF_MAX], buf[BUF_MAX];
    struct spop_writer w;
    size_t n;

    /* reg-tests/checks/spop-check.vtc's minimal AGENT-HELLO */
    n = spec("00000036 65 00000001 00 00 07\"version\" 08 03\"2.0\" 0e\"max-frame-size\" 03 fc f0 "
             "06 0c\"capabilities\" 08 00",
             expected);
    spop_writer_init(&w, buf, sizeof(buf));
    ck_assert_uint_eq(spop_build_agent_hello(&w, 16380, ""), n);
    ck_assert_mem_eq(buf, expected, n);

    n = spec(VEC_AGENT_HELLO_16380, expected);
    spop_writer_init(&w, buf, sizeof(buf));
    ck_assert_uint_eq(spop_build_agent_hello(&w, 16380, "pipelining"), n);
    ck_assert_mem_eq(buf, expected, n);
}
END_TEST

START_TEST(test_ack_vector)
{
    uint8_t expected[BUF_MAX], buf[BUF_MAX];
    struct spop_writer w;
    size_t n = spec("00000012 67 00000001 05 01 01 03 02 03\"srv\" 08 02\"s2\"", expected);

    spop_writer_init(&w, buf, sizeof(buf));
    spop_frame_begin(&w, SPOP_FRAME_ACK, 5, 1);
    spop_put_set_var(&w, SPOP_SCOPE_TXN, "srv", spop_data_str("s2", 2));
    ck_assert_uint_eq(w.items, 1);
    ck_assert_uint_eq(spop_frame_end(&w), n);
    ck_assert_mem_eq(buf, expected, n);
}
END_TEST

START_TEST(test_ack_actions)
{
    uint8_t expected[BUF_MAX], buf[BUF_MAX];
    struct spop_writer w;
    size_t n = spec("00000022 67 00000001 00 02"
                    "01 03 02 01\"n\" 04 fb f0 fe fe fe fe fe fe fe 0e"
                    "01 03 03 01\"b\" 11"
                    "02 02 04 01\"x\"",
                    expected);

    spop_writer_init(&w, buf, sizeof(buf));
    spop_frame_begin(&w, SPOP_FRAME_ACK, 0, 2);
    spop_put_set_var(&w, SPOP_SCOPE_TXN, "n", spop_data_int64(-5));
    spop_put_set_var(&w, SPOP_SCOPE_REQ, "b", spop_data_bool(true));
    spop_put_unset_var(&w, SPOP_SCOPE_RES, "x");
    ck_assert_uint_eq(w.items, 3);
    ck_assert_uint_eq(spop_frame_end(&w), n);
    ck_assert_mem_eq(buf, expected, n);
}
END_TEST

static void decode_disconnect(const uint8_t *frame, size_t size, uint64_t *status,
                              struct spop_str *message)
{
    struct spop_frame f;
    struct spop_kv_iter it;
    struct spop_kv kv;

    ck_assert_uint_eq(spop_frame_length(frame), size - 4);
    ck_assert_int_eq(spop_frame_decode(frame + 4, size - 4, &f), SPOP_ERR_NONE);
    ck_assert_uint_eq(f.type, SPOP_FRAME_AGENT_DISCONNECT);
    ck_assert_uint_eq(f.flags, SPOP_FLAG_FIN);
    spop_kv_iter_init(&it, f.payload, f.payload_len);
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "status-code");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_UINT32);
    *status = kv.value.u64;
    ck_assert(spop_kv_next(&it, &kv));
    assert_str(kv.name, "message");
    ck_assert_int_eq(kv.value.type, SPOP_DATA_STRING);
    *message = kv.value.bytes;
    ck_assert(!spop_kv_next(&it, &kv));
    ck_assert_int_eq(it.err, SPOP_ERR_NONE);
}

START_TEST(test_agent_disconnect)
{
    uint8_t buf[BUF_MAX];
    char longmsg[400];
    struct spop_writer w;
    struct spop_str msg;
    uint64_t status;
    size_t size;

    spop_writer_init(&w, buf, sizeof(buf));
    size = spop_build_agent_disconnect(&w, 4, "invalid frame", 13);
    ck_assert_uint_gt(size, 0);
    decode_disconnect(buf, size, &status, &msg);
    ck_assert_uint_eq(status, 4);
    assert_str(msg, "invalid frame");

    /* The longest message is cut to 255 bytes, and the largest frame fits the bound the
     * connection reserves for it.
     */
    memset(longmsg, 'm', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    spop_writer_init(&w, buf, sizeof(buf));
    size = spop_build_agent_disconnect(&w, UINT32_MAX, longmsg, strlen(longmsg));
    ck_assert_uint_eq(size, SPOP_DISCONNECT_FRAME_MAX);
    decode_disconnect(buf, size, &status, &msg);
    ck_assert(status == UINT32_MAX);
    ck_assert_uint_eq(msg.len, SPOP_MESSAGE_MAX);
}
END_TEST

/* For every room short of what an AGENT-HELLO needs: no byte beyond the room is touched
 * and the frame is reported failed; with exactly enough room it succeeds.
 */
START_TEST(test_writer_never_overflows)
{
    uint8_t buf[BUF_MAX];
    struct spop_writer w;
    size_t need, room;

    spop_writer_init(&w, buf, sizeof(buf));
    need = spop_build_agent_hello(&w, 65532, "pipelining");
    ck_assert_uint_eq(need, 4 + 0x40);
    for (room = 0; room < need; room++) {
        memset(buf, 0xAA, sizeof(buf));
        spop_writer_init(&w, buf, room);
        ck_assert_uint_eq(spop_build_agent_hello(&w, 65532, "pipelining"), 0);
        ck_assert(w.failed);
        for (size_t i = room; i < sizeof(buf); i++)
            ck_assert_uint_eq(buf[i], 0xAA);
    }
    spop_writer_init(&w, buf, need);
    ck_assert_uint_eq(spop_build_agent_hello(&w, 65532, "pipelining"), need);
}
END_TEST

START_TEST(test_writer_failed_stays_failed)
{
    uint8_t buf[8];
    struct spop_writer w;

    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_str(&w, "0123456789", 10);
    ck_assert(w.failed);
    spop_put_u8(&w, 1);
    ck_assert(w.failed);
    ck_assert_uint_le(spop_writer_len(&w), sizeof(buf));
    /* a frame ended without having begun is refused */
    spop_writer_init(&w, buf, sizeof(buf));
    ck_assert_uint_eq(spop_frame_end(&w), 0);
}
END_TEST

static Suite *spop_frame_suite(void)
{
    Suite *s = suite_create("spop_frame");
    TCase *varint = tcase_create("varint");
    TCase *data = tcase_create("data");
    TCase *frame = tcase_create("frame");
    TCase *writer = tcase_create("writer");
    const int nb_varints = (int)(sizeof(varint_vectors) / sizeof(varint_vectors[0]));

    tcase_add_loop_test(varint, test_varint_encode_vectors, 0, nb_varints);
    tcase_add_loop_test(varint, test_varint_decode_vectors, 0, nb_varints);
    tcase_add_test(varint, test_varint_signed_is_cast_not_zigzag);
    tcase_add_test(varint, test_varint_roundtrip_boundaries);
    tcase_add_loop_test(varint, test_varint_malformed, 0,
                        (int)(sizeof(bad_varints) / sizeof(bad_varints[0])));
    suite_add_tcase(s, varint);

    tcase_add_test(data, test_data_scalars);
    tcase_add_test(data, test_data_views_point_into_input);
    tcase_add_loop_test(data, test_data_reserved_types, 0, 12);
    tcase_add_loop_test(data, test_data_malformed, 0,
                        (int)(sizeof(bad_data) / sizeof(bad_data[0])));
    tcase_add_test(data, test_data_encode_roundtrip);
    tcase_add_test(data, test_data_encoded_bytes);
    tcase_add_test(data, test_data_reserved_type_not_encoded);
    suite_add_tcase(s, data);

    tcase_add_test(frame, test_frame_haproxy_hello);
    tcase_add_test(frame, test_frame_writer_builds_haproxy_hellos);
    tcase_add_loop_test(frame, test_frame_header_malformed, 0,
                        (int)(sizeof(bad_headers) / sizeof(bad_headers[0])));
    tcase_add_test(frame, test_frame_header_fields);
    tcase_add_test(frame, test_kv_iter_every_cut);
    tcase_add_test(frame, test_kv_iter_reserved_type);
    tcase_add_test(frame, test_msg_iter_appendix_a);
    tcase_add_test(frame, test_msg_iter_empty_list);
    tcase_add_loop_test(frame, test_msg_iter_malformed, 0,
                        (int)(sizeof(bad_messages) / sizeof(bad_messages[0])));
    suite_add_tcase(s, frame);

    tcase_add_test(writer, test_agent_hello_vectors);
    tcase_add_test(writer, test_ack_vector);
    tcase_add_test(writer, test_ack_actions);
    tcase_add_test(writer, test_agent_disconnect);
    tcase_add_test(writer, test_writer_never_overflows);
    tcase_add_test(writer, test_writer_failed_stays_failed);
    suite_add_tcase(s, writer);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spop_frame_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
