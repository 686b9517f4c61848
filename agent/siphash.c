/*
 * SipHash-2-4, written from the algorithm description in the paper: the state is four
 * 64-bit words, each 8-byte little-endian message word is absorbed with two rounds,
 * the final word carries the message length in its top byte, and finalization runs
 * four rounds (twice, for the 128-bit variant).
 */
#include "siphash.h"

#define SIP_C_ROUNDS 2
#define SIP_D_ROUNDS 4

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static inline uint64_t rotl64(uint64_t x, unsigned n)
{
    return (x << n) | (x >> (64 - n));
}

/* Little-endian load regardless of host byte order and alignment. */
static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t w = 0;

    for (unsigned i = 0; i < 8; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

static inline void store_le64(uint8_t *p, uint64_t w)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(w >> (8 * i));
}

static inline void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static inline void sip_rounds(struct sip_state *s, unsigned n)
{
    while (n--)
        sip_round(s);
}

static inline void sip_absorb(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_rounds(s, SIP_C_ROUNDS);
    s->v0 ^= m;
}

static inline uint64_t sip_fold(const struct sip_state *s)
{
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/*
 * Initialization and compression, shared by both output sizes; `wide` selects the
 * 128-bit variant, which differs in one initialization constant.
 */
static void sip_compress(struct sip_state *s, const struct siphash_key *key, const uint8_t *in,
                         size_t len, int wide)
{
    size_t whole = len & ~(size_t)7;
    uint64_t last = (uint64_t)len << 56;

    s->v0 = key->k0 ^ 0x736f6d6570736575ULL;
    s->v1 = key->k1 ^ 0x646f72616e646f6dULL;
    s->v2 = key->k0 ^ 0x6c7967656e657261ULL;
    s->v3 = key->k1 ^ 0x7465646279746573ULL;
    if (wide)
        s->v1 ^= 0xee;

    /* Indexes rather than pointer arithmetic: `in` may be NULL when len is 0. */
    for (size_t i = 0; i < whole; i += 8)
        sip_absorb(s, load_le64(in + i));
    for (size_t i = whole; i < len; i++)
        last |= (uint64_t)in[i] << (8 * (i - whole));
    sip_absorb(s, last);
}

struct siphash_key siphash_key_from_bytes(const uint8_t bytes[SIPHASH_KEY_LEN])
{
    struct siphash_key key = {load_le64(bytes), load_le64(bytes + 8)};

    return key;
}

uint64_t siphash(const struct siphash_key *key, const void *data, size_t len)
{
    struct sip_state s;

    sip_compress(&s, key, data, len, 0);
    s.v2 ^= 0xff;
    sip_rounds(&s, SIP_D_ROUNDS);
    return sip_fold(&s);
}

void siphash128(const struct siphash_key *key, const void *data, size_t len,
                uint8_t out[SIPHASH128_LEN])
{
    struct sip_state s;

    sip_compress(&s, key, data, len, 1);
    s.v2 ^= 0xee;
    sip_rounds(&s, SIP_D_ROUNDS);
    store_le64(out, sip_fold(&s));
    s.v1 ^= 0xdd;
    sip_rounds(&s, SIP_D_ROUNDS);
    store_le64(out + 8, sip_fold(&s));
}
