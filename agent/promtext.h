/*
 * Prometheus text exposition format 0.0.4: the lines of a scrape page.
 *
 * A family is a "# HELP" and a "# TYPE" line followed by its samples. Help text escapes
 * backslash and newline; label values escape backslash, double quote and newline, as the
 * format requires. Values print in their shortest exact decimal form ("1", "0.005"),
 * and non-finite values as "NaN", "+Inf", "-Inf".
 */
#ifndef LLMPROXY_PROMTEXT_H
#define LLMPROXY_PROMTEXT_H

#include <stddef.h>

#include "buf-t.h"

/* The Content-Type of a page in this format. */
#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A label set: `n` names with their values (NUL-terminated), in output order. */
struct prom_labels {
    const char *const *names;
    const char *const *values;
    size_t n;
};

/* "# HELP name help\n# TYPE name type\n"; type is "counter", "gauge" or "histogram". */
void prom_family(struct buf *out, const char *name, const char *help, const char *type);

/*
 * One sample line: name + suffix (e.g. "_bucket", or "") + {labels[, le="..."]} + value.
 * `le` is the extra histogram bucket bound, NULL for none.
 */
void prom_sample(struct buf *out, const char *name, const char *suffix,
                 const struct prom_labels *labels, const char *le, double value);

/* A number as the format writes it, into `dst` (at least PROM_NUM_MAX bytes). */
#define PROM_NUM_MAX 32
void prom_format_number(char *dst, double v);

/* Append `s` with backslash, double quote and newline escaped (label value rules). */
void prom_escape_label(struct buf *out, const char *s);

#endif /* LLMPROXY_PROMTEXT_H */
