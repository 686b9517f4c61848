/*
 * A metric family of the Prometheus registry (types only; functions are in registry.h).
 *
 * A family has a fixed label set and holds one series per distinct tuple of label values,
 * created on first use. Series are found through an open-addressing hash table and kept
 * sorted by their label values, so a scrape page comes out in the same order whatever
 * the order the traffic created them in. The number of series is capped per family: the
 * memory of a family is bounded whatever the traffic, and samples beyond the cap are
 * counted as refused instead of stored.
 */
#ifndef LLMPROXY_REGISTRY_T_H
#define LLMPROXY_REGISTRY_T_H

#include <stddef.h>
#include <stdint.h>

#define REG_MAX_LABELS 4
#define REG_MAX_BOUNDS 24
/* Longest label value a series accepts, in bytes. */
#define REG_VALUE_MAX 256

enum reg_type {
    REG_COUNTER = 0,
    REG_GAUGE,
    REG_HISTOGRAM,
};

/* What a family is: static, shared by every registry that uses it. */
struct reg_def {
    const char *name;
    const char *help;
    enum reg_type type;
    size_t n_labels;
    const char *labels[REG_MAX_LABELS];
    const double *bounds; /* histogram: ascending finite upper bounds; +Inf is implied */
    size_t n_bounds;
    uint32_t max_series;
};

/* One series. The label values and the bucket counts live in the same allocation. */
struct reg_series {
    uint32_t hash;
    double value;      /* counter, gauge */
    double sum;        /* histogram: sum of observations */
    uint64_t count;    /* histogram: number of observations */
    uint64_t *buckets; /* histogram: n_bounds counts, each for its own bucket only */
    const char *values[REG_MAX_LABELS];
};

struct reg_family {
    const struct reg_def *def;
    struct reg_series **series; /* n entries sorted by label values, room for cap */
    uint32_t n, cap;
    struct reg_series **slots; /* hash table: n_slots entries, NULL when free */
    uint32_t n_slots;          /* a power of two, at least twice cap */
    uint64_t refused;          /* samples not stored: cap reached, bad value, no memory */
};

#endif /* LLMPROXY_REGISTRY_T_H */
