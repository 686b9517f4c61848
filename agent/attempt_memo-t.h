/*
 * The last attempt of recent requests, by request id (types only; see attempt_memo.h).
 */
#ifndef LLMPROXY_ATTEMPT_MEMO_T_H
#define LLMPROXY_ATTEMPT_MEMO_T_H

#include <stdbool.h>
#include <stdint.h>

#include "outcome-t.h"
#include "siphash.h"

/* Slots of the memo, a power of two: far more than the requests in flight at once. */
#define ATTEMPT_MEMO_SLOTS 4096u

struct attempt_memo_slot {
    uint8_t id[SIPHASH128_LEN]; /* the request id's keyed 128-bit hash */
    bool used;
    int status;             /* the status the attempt sent back to the group layer */
    struct outcome outcome; /* how the attempt ended */
};

struct attempt_memo {
    struct siphash_key key;
    struct attempt_memo_slot slots[ATTEMPT_MEMO_SLOTS];
};

#endif /* LLMPROXY_ATTEMPT_MEMO_T_H */
