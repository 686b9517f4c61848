#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "promtext.h"
#include "registry.h"

/* First allocation of a family's series array. */
#define REG_MIN_CAP 16

static const char *type_name(enum reg_type t)
{
    switch (t) {
    case REG_COUNTER:
        return "counter";
    case REG_GAUGE:
        return "gauge";
    case REG_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

void reg_family_init(struct reg_family *f, const struct reg_def *def)
{
    *f = (struct reg_family){.def = def};
}

void reg_family_free(struct reg_family *f)
{
    for (uint32_t i = 0; i < f->n; i++)
        free(f->series[i]);
    free(f->series);
    free(f->slots);
    reg_family_init(f, f->def);
}

/* FNV-1a over the values, each followed by a separator no label value contains. */
static uint32_t hash_values(size_t n, const char *const *values)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;
    }
    return h;
}

/* Lexicographic order over the value tuples: the order of a scrape page. */
static int compare_values(size_t n, const char *const *a, const char *const *b)
{
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a[i], b[i]);
        if (c)
            return c;
    }
    return 0;
}

static void slot_insert(struct reg_series **slots, uint32_t n_slots, struct reg_series *s)
{
    uint32_t i = s->hash & (n_slots - 1);

    while (slots[i])
        i = (i + 1) & (n_slots - 1);
    slots[i] = s;
}

static bool rebuild_slots(struct reg_family *f, uint32_t n_slots)
{
    struct reg_series **slots = calloc(n_slots, sizeof(*slots));

    if (!slots)
        return false;
    for (uint32_t i = 0; i < f->n; i++)
        slot_insert(slots, n_slots, f->series[i]);
    free(f->slots);
    f->slots = slots;
    f->n_slots = n_slots;
    return true;
}

const struct reg_series *reg_series_find(const struct reg_family *f, const char *const *values)
{
    uint32_t h, i;

    if (!f->n_slots)
        return NULL;
    h = hash_values(f->def->n_labels, values);
    for (i = h & (f->n_slots - 1); f->slots[i]; i = (i + 1) & (f->n_slots - 1)) {
        const struct reg_series *s = f->slots[i];
        if (s->hash == h && compare_values(f->def->n_labels, s->values, values) == 0)
            return s;
    }
    return NULL;
}

/* Room for one more series, growing the array and the table together. */
static bool reserve_one(struct reg_family *f)
{
    uint32_t cap;
    struct reg_series **series;

    if (f->n < f->cap)
        return true;
    if (f->n >= f->def->max_series)
        return false;
    cap = f->cap ? f->cap * 2 : REG_MIN_CAP;
    if (cap > f->def->max_series)
        cap = f->def->max_series;
    series = realloc(f->series, cap * sizeof(*series));
    if (!series)
        return false;
    f->series = series;
    uint32_t n_slots = 1;
    while (n_slots < 2 * cap)
        n_slots *= 2;
    if (n_slots != f->n_slots && !rebuild_slots(f, n_slots))
        return false; /* the larger array stays: harmless, cap is only raised on success */
    f->cap = cap;
    return true;
}

static struct reg_series *series_new(const struct reg_def *def, const char *const *values,
                                     uint32_t hash)
{
    size_t lens[REG_MAX_LABELS], size = sizeof(struct reg_series);
    size_t buckets_size = def->type == REG_HISTOGRAM ? def->n_bounds * sizeof(uint64_t) : 0;
    struct reg_series *s;
    char *p;

    for (size_t i = 0; i < def->n_labels; i++) {
        lens[i] = strlen(values[i]);
        size += lens[i] + 1;
    }
    s = calloc(1, size + buckets_size);
    if (!s)
        return NULL;
    s->hash = hash;
    /* Buckets first, right after the struct, so they stay 8-byte aligned. */
    s->buckets = buckets_size ? (uint64_t *)(s + 1) : NULL;
    p = (char *)(s + 1) + buckets_size;
    for (size_t i = 0; i < def->n_labels; i++) {
        memcpy(p, values[i], lens[i] + 1);
        s->values[i] = p;
        p += lens[i] + 1;
    }
    return s;
}

struct reg_series *reg_series_get(struct reg_family *f, const char *const *values)
{
    const struct reg_def *def = f->def;
    struct reg_series *s = (struct reg_series *)reg_series_find(f, values);
    uint32_t lo = 0, hi;

    if (s)
        return s;
    for (size_t i = 0; i < def->n_labels; i++) {
        if (!values[i] || strlen(values[i]) > REG_VALUE_MAX) {
            f->refused++;
            return NULL;
        }
    }
    if (!reserve_one(f) || !(s = series_new(def, values, hash_values(def->n_labels, values)))) {
        f->refused++;
        return NULL;
    }
    /* Binary search of the insertion point keeps the array sorted. */
    hi = f->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (compare_values(def->n_labels, f->series[mid]->values, values) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&f->series[lo + 1], &f->series[lo], (f->n - lo) * sizeof(*f->series));
    f->series[lo] = s;
    f->n++;
    slot_insert(f->slots, f->n_slots, s);
    return s;
}

void reg_add(struct reg_family *f, const char *const *values, double delta)
{
    struct reg_series *s;

    if (isnan(delta) || (f->def->type == REG_COUNTER && delta < 0) ||
        f->def->type == REG_HISTOGRAM) {
        f->refused++;
        return;
    }
    s = reg_series_get(f, values);
    if (s)
        s->value += delta;
}

void reg_set(struct reg_family *f, const char *const *values, double value)
{
    struct reg_series *s;

    if (f->def->type != REG_GAUGE) {
        f->refused++;
        return;
    }
    s = reg_series_get(f, values);
    if (s)
        s->value = value;
}

void reg_observe(struct reg_family *f, const char *const *values, double v)
{
    const struct reg_def *def = f->def;
    struct reg_series *s;
    size_t b = 0;

    if (def->type != REG_HISTOGRAM || isnan(v)) {
        f->refused++;
        return;
    }
    s = reg_series_get(f, values);
    if (!s)
        return;
    while (b < def->n_bounds && v > def->bounds[b])
        b++;
    if (b < def->n_bounds)
        s->buckets[b]++;
    s->count++;
    s->sum += v;
}

void reg_prune(struct reg_family *f, reg_keep_fn *keep, void *ctx)
{
    uint32_t kept = 0;

    for (uint32_t i = 0; i < f->n; i++) {
        if (keep(ctx, f->def, f->series[i]->values))
            f->series[kept++] = f->series[i];
        else
            free(f->series[i]);
    }
    if (kept == f->n)
        return;
    f->n = kept;
    memset(f->slots, 0, f->n_slots * sizeof(*f->slots));
    for (uint32_t i = 0; i < f->n; i++)
        slot_insert(f->slots, f->n_slots, f->series[i]);
}

static void render_histogram(const struct reg_def *def, const struct reg_series *s,
                             const struct prom_labels *labels, struct buf *out)
{
    char le[PROM_NUM_MAX];
    uint64_t cumulative = 0;

    for (size_t b = 0; b < def->n_bounds; b++) {
        cumulative += s->buckets[b];
        prom_format_number(le, def->bounds[b]);
        prom_sample(out, def->name, "_bucket", labels, le, (double)cumulative);
    }
    prom_sample(out, def->name, "_bucket", labels, "+Inf", (double)s->count);
    prom_sample(out, def->name, "_sum", labels, NULL, s->sum);
    prom_sample(out, def->name, "_count", labels, NULL, (double)s->count);
}

void reg_render(const struct reg_family *f, struct buf *out)
{
    const struct reg_def *def = f->def;

    prom_family(out, def->name, def->help, type_name(def->type));
    for (uint32_t i = 0; i < f->n; i++) {
        const struct reg_series *s = f->series[i];
        struct prom_labels labels = {def->labels, s->values, def->n_labels};

        if (def->type == REG_HISTOGRAM)
            render_histogram(def, s, &labels, out);
        else
            prom_sample(out, def->name, "", &labels, NULL, s->value);
    }
}
