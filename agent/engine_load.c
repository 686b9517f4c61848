#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine_load.h"

/* A sample line longer than this is not one of the gauges read here: skipped. */
#define LINE_MAX_READ 4096

enum gauge { GAUGE_RUNNING, GAUGE_WAITING, GAUGE_KV, GAUGE_NONE };

struct gauge_name {
    const char *name;
    enum gauge gauge;
};

static const struct gauge_name vllm_gauges[] = {
    {"vllm:num_requests_running", GAUGE_RUNNING},
    {"vllm:num_requests_waiting", GAUGE_WAITING},
    {"vllm:kv_cache_usage_perc", GAUGE_KV},
    {"vllm:gpu_cache_usage_perc", GAUGE_KV},
    {NULL, GAUGE_NONE},
};

static const struct gauge_name sglang_gauges[] = {
    {"sglang:num_running_reqs", GAUGE_RUNNING},
    {"sglang:num_queue_reqs", GAUGE_WAITING},
    {"sglang:token_usage", GAUGE_KV},
    {NULL, GAUGE_NONE},
};

/* Which gauge the sample line `line` (`len` bytes) is of: its name ends at '{' or a blank. */
static enum gauge gauge_of(const struct gauge_name *names, const char *line, size_t len)
{
    for (; names->name; names++) {
        size_t n = strlen(names->name);

        if (len > n && memcmp(line, names->name, n) == 0 &&
            (line[n] == '{' || line[n] == ' ' || line[n] == '\t'))
            return names->gauge;
    }
    return GAUGE_NONE;
}

/*
 * The value of a sample line: after the name and the label set, if any, before an optional
 * timestamp. A '}' inside a quoted label value does not end the set. False when there is
 * no finite, non-negative number there.
 */
static bool sample_value(const char *line, size_t len, double *out)
{
    char text[64];
    size_t i = 0, start, n;
    bool quoted = false;

    while (i < len && line[i] != '{' && line[i] != ' ' && line[i] != '\t')
        i++;
    if (i < len && line[i] == '{') {
        for (i++; i < len; i++) {
            if (quoted && line[i] == '\\')
                i++;
            else if (line[i] == '"')
                quoted = !quoted;
            else if (!quoted && line[i] == '}')
                break;
        }
        if (i >= len)
            return false;
        i++;
    }
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    start = i;
    while (i < len && line[i] != ' ' && line[i] != '\t')
        i++;
    n = i - start;
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, line + start, n);
    text[n] = '\0';
    /* Decimal only: strtod would also take hexadecimal, "inf" and "nan" spelt many ways. */
    if (strspn(text, "0123456789.eE+-") != n)
        return false;

    char *end;
    double v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static void fold(struct engine_load *load, enum gauge g, double v, bool *seen_running,
                 bool *seen_waiting)
{
    switch (g) {
    case GAUGE_RUNNING:
        load->running = fmin(load->running + v, ENGINE_LOAD_COUNT_MAX);
        *seen_running = true;
        break;
    case GAUGE_WAITING:
        load->waiting = fmin(load->waiting + v, ENGINE_LOAD_COUNT_MAX);
        *seen_waiting = true;
        break;
    case GAUGE_KV:
        load->kv_usage = fmax(load->kv_usage, fmin(v, 1.0));
        load->has_kv = true;
        break;
    case GAUGE_NONE:
        break;
    }
}

void engine_load_parse(enum engine_type type, const char *text, size_t len, struct engine_load *out)
{
    const struct gauge_name *names = type == ENGINE_SGLANG ? sglang_gauges : vllm_gauges;
    bool seen_running = false, seen_waiting = false;
    size_t pos = 0;

    *out = (struct engine_load){0};
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        double v;

        pos += n + (nl ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0 || n > LINE_MAX_READ || line[0] == '#')
            continue;
        enum gauge g = gauge_of(names, line, n);
        if (g != GAUGE_NONE && sample_value(line, n, &v))
            fold(out, g, v, &seen_running, &seen_waiting);
    }
    out->valid = seen_running && seen_waiting;
}
