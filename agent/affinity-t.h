/*
 * Session affinity of `balance.strategy: affinity` groups (types only; see affinity.h).
 */
#ifndef LLMPROXY_AFFINITY_T_H
#define LLMPROXY_AFFINITY_T_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

/*
 * Sessions remembered for the whole agent, every affinity group together. A session is
 * 40 bytes of table slot, so the table stays under 3 MiB whatever clients send; beyond,
 * the least recently used session is forgotten (its next request is a new session, which
 * rendezvous hashing most often sends to the same member again).
 */
#define AFFINITY_MAX_SESSIONS 65536

/*
 * A member with fewer requests than this in flight (this one included) is never overloaded.
 * Below it the mean is noise: with 8 sessions active on 4 members, 4 on one is common and
 * ceil(1.25 x 9 / 4) = 3 would spill them, each spilled turn losing its prefix cache for
 * no load worth the name (an engine batches far more). Above it the load bound applies.
 */
#define AFFINITY_LOAD_FLOOR 8

/* What a pick did with its session; the label of llmproxy_affinity_picks_total. */
enum affinity_outcome {
    AFFINITY_HOME = 0, /* a known session, sent to its member */
    AFFINITY_NEW,      /* a session seen first: assigned a member, sent there */
    AFFINITY_SPILLED,  /* its member was over the load bound: sent to the next in its order */
    AFFINITY_MOVED,    /* its member was unavailable: assigned another for good, sent there */
    AFFINITY_NO_KEY,   /* no session key arrived: least in flight (balance.h) */
    AFFINITY_N_OUTCOMES
};

/* One affinity group: its members' identities in the hashing, and who holds how many. */
struct affinity_group {
    uint32_t index;        /* the group's number in the table's keys */
    size_t n;              /* members */
    uint64_t *member_hash; /* n: keyed hash of each member's upstream name */
    double *weight;        /* n: the members' weights */
    uint32_t *sessions;    /* n: sessions assigned to each member, exact */
    uint32_t held;         /* sessions of the group in the table: the sum of `sessions` */
    uint64_t picks[AFFINITY_N_OUTCOMES];
};

struct affinity {
    struct lrutab *table; /* (group, key) -> member */
    struct siphash_key key;
    struct affinity_group *groups; /* n_groups, indexed as the configuration's groups */
    size_t n_groups;
};

#endif /* LLMPROXY_AFFINITY_T_H */
