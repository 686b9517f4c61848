/*
 * The last attempt of recent requests, by request id (see attempt_memo.h).
 */
#include <string.h>

#include "attempt_memo.h"

void attempt_memo_init(struct attempt_memo *m, const struct siphash_key *key)
{
    memset(m, 0, sizeof(*m));
    m->key = *key;
}

/* The slot of `id`, its hash in `hash`; NULL for an id that is not one ("-" or empty). */
static struct attempt_memo_slot *slot_of(struct attempt_memo *m, const struct logline_str *id,
                                         uint8_t hash[SIPHASH128_LEN])
{
    uint32_t index;

    if (id->len == 0 || (id->len == 1 && id->ptr[0] == '-'))
        return NULL;
    siphash128(&m->key, id->ptr, id->len, hash);
    memcpy(&index, hash, sizeof(index));
    return &m->slots[index & (ATTEMPT_MEMO_SLOTS - 1)];
}

void attempt_memo_put(struct attempt_memo *m, const struct logline_str *id, int status,
                      struct outcome outcome)
{
    uint8_t hash[SIPHASH128_LEN];
    struct attempt_memo_slot *s = slot_of(m, id, hash);

    if (!s)
        return;
    memcpy(s->id, hash, sizeof(hash));
    s->used = true;
    s->status = status;
    s->outcome = outcome;
}

/* The slot holding `id`'s attempt, NULL when none does. */
static struct attempt_memo_slot *find(struct attempt_memo *m, const struct logline_str *id)
{
    uint8_t hash[SIPHASH128_LEN];
    struct attempt_memo_slot *s = slot_of(m, id, hash);

    if (!s || !s->used || memcmp(s->id, hash, sizeof(hash)) != 0)
        return NULL;
    return s;
}

/* The slot of `id` with its status and outcome copied out, NULL when none. */
static struct attempt_memo_slot *read_slot(struct attempt_memo *m, const struct logline_str *id,
                                           int *status, struct outcome *outcome)
{
    struct attempt_memo_slot *s = find(m, id);

    if (s) {
        *status = s->status;
        *outcome = s->outcome;
    }
    return s;
}

bool attempt_memo_peek(struct attempt_memo *m, const struct logline_str *id, int *status,
                       struct outcome *outcome)
{
    return read_slot(m, id, status, outcome) != NULL;
}

bool attempt_memo_take(struct attempt_memo *m, const struct logline_str *id, int *status,
                       struct outcome *outcome)
{
    struct attempt_memo_slot *s = read_slot(m, id, status, outcome);

    if (s)
        s->used = false;
    return s != NULL;
}
