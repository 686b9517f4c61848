/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012).
 *
 * A keyed hash for tables whose keys come from the network: without the key, nobody
 * can choose inputs that collide, so a flood of crafted keys cannot turn O(1) lookups
 * into long chains. The key must be secret and random (fill it from getrandom(2)).
 * Both the 64-bit and the 128-bit output variants of the paper are provided; the
 * 128-bit one serves as a compact identity for long strings (two colliding ids among
 * a bounded table are practically impossible).
 */
#ifndef LLMPROXY_SIPHASH_H
#define LLMPROXY_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16
#define SIPHASH128_LEN  16

struct siphash_key {
    uint64_t k0;
    uint64_t k1;
};

/* The key as the paper reads it from 16 bytes (two little-endian words). */
struct siphash_key siphash_key_from_bytes(const uint8_t bytes[SIPHASH_KEY_LEN]);

uint64_t siphash(const struct siphash_key *key, const void *data, size_t len);

/* 128-bit output, written as the paper's 16 output bytes. */
void siphash128(const struct siphash_key *key, const void *data, size_t len,
                uint8_t out[SIPHASH128_LEN]);

#endif /* LLMPROXY_SIPHASH_H */
