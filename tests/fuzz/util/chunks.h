/*
 * Fuzzing helper: cut one input into the pieces a socket might have delivered it in.
 *
 * Parsers that are fed incrementally must give the same answer however the bytes were
 * split, so the split itself is part of what is fuzzed: a seed byte taken from the input
 * picks the piece sizes, and the same input always yields the same pieces.
 */
#ifndef LLMPROXY_FUZZ_CHUNKS_H
#define LLMPROXY_FUZZ_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

struct chunks {
    const uint8_t *pos;
    const uint8_t *end;
    uint32_t rng;    /* xorshift32 state, never 0 */
    size_t max_size; /* largest piece; 0 means the whole input as one piece */
};

/* Seed 0 yields the whole input at once; seed n > 0 yields pieces of 1 to n bytes. */
void chunks_init(struct chunks *c, const uint8_t *data, size_t len, uint8_t seed);

/* The next piece: sets *piece and returns its length, or returns 0 once all is cut. */
size_t chunks_next(struct chunks *c, const uint8_t **piece);

/* A heap copy of exactly len bytes (at least one allocated), so ASan traps any read past
 * len; aborts when out of memory, which the fuzzer then reports.
 */
uint8_t *exact_copy(const uint8_t *data, size_t len);

#endif /* LLMPROXY_FUZZ_CHUNKS_H */
