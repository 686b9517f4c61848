/*
 * The breaker mirror (types only; functions are in mirror.h).
 *
 * Every (group, upstream) pair of the configuration is one server `grp_<group>/<upstream>`
 * in HAProxy; in a group whose pinned backends retry, also `retry:<upstream>` in each other
 * member's `pin_<group>__<member>`, where retries are redispatched. The mirror remembers, per pair, which weight it last sent and whether HAProxy
 * confirmed it, so that only differences travel, and so that a failed or forgotten command
 * is sent again.
 */
#ifndef LLMPROXY_MIRROR_T_H
#define LLMPROXY_MIRROR_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct upstream_rt;

/* How often drained servers are asserted again even when nothing changed. */
#define MIRROR_RECONCILE_MS 5000u

/* Longest runtime-API command the mirror writes: names are at most 48 bytes each. */
#define MIRROR_CMD_MAX 256

/* What the mirror knows of one pair's weight inside HAProxy. */
enum mirror_sync {
    MIRROR_UNKNOWN = 0, /* never sent, failed, or HAProxy may have forgotten it */
    MIRROR_PENDING,     /* sent, waiting for HAProxy's answer */
    MIRROR_CONFIRMED,   /* HAProxy applied it */
};

struct mirror_pair {
    const char *group;            /* the group's name, in the state's configuration */
    const struct upstream_rt *up; /* its breaker decides the weight */
    const char *via;              /* NULL: in the group backend; else in this member's pinned one */
    size_t group_first;           /* index of the first pair of the same group */
    size_t group_len;             /* how many pairs the group has */
    bool drained;                 /* the weight last sent: 0 (true) or the configured one */
    bool unsafe;                  /* a name a runtime-API command cannot carry: never sent */
    enum mirror_sync sync;
    uint32_t seq; /* the last command sent for this pair; 0: none outstanding */
};

struct mirror_stats {
    uint64_t confirmed; /* applied by HAProxy */
    uint64_t failed;    /* refused by HAProxy, or never delivered: sent again later */
};

struct mirror {
    struct mirror_pair *pairs;
    size_t n;
    uint32_t next_seq;
    uint64_t next_reconcile_ms;
    struct mirror_stats stats;
};

#endif /* LLMPROXY_MIRROR_T_H */
