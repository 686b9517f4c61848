/*
 * Prometheus metric families with bounded series (see registry-t.h).
 *
 * Label values are passed as an array of def->n_labels NUL-terminated strings. A value
 * longer than REG_VALUE_MAX, a new series beyond def->max_series, a negative counter
 * increment, a NaN, or a failed allocation refuses the sample: it is counted in
 * `refused` and nothing else changes.
 */
#ifndef LLMPROXY_REGISTRY_H
#define LLMPROXY_REGISTRY_H

#include <stdbool.h>

#include "buf-t.h"
#include "registry-t.h"

void reg_family_init(struct reg_family *f, const struct reg_def *def);
void reg_family_free(struct reg_family *f);

/* The series of `values`, created if new; NULL when refused. */
struct reg_series *reg_series_get(struct reg_family *f, const char *const *values);

/* The series of `values` if it exists, never creating it. */
const struct reg_series *reg_series_find(const struct reg_family *f, const char *const *values);

/* Counter or gauge: add `delta` (a counter refuses a negative one). */
void reg_add(struct reg_family *f, const char *const *values, double delta);

/* Gauge: set the value. */
void reg_set(struct reg_family *f, const char *const *values, double value);

/* Histogram: count `v` in the first bucket whose bound is >= v, and in sum and count. */
void reg_observe(struct reg_family *f, const char *const *values, double v);

/* Drop every series for which `keep` returns false (e.g. names gone after a reload). */
typedef bool reg_keep_fn(void *ctx, const struct reg_def *def, const char *const *values);
void reg_prune(struct reg_family *f, reg_keep_fn *keep, void *ctx);

/* The family's HELP and TYPE lines and every series, in label order. */
void reg_render(const struct reg_family *f, struct buf *out);

#endif /* LLMPROXY_REGISTRY_H */
