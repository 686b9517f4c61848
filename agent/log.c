#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum log_level current_level = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

__attribute__((format(printf, 3, 0))) static void
log_line(enum log_level level, uint64_t suppressed, const char *fmt, va_list ap)
{
    char line[1024];
    int n;

    n = snprintf(line, sizeof(line), "%s: ", level_names[level]);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (suppressed > 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n, " (%llu similar suppressed)",
                 (unsigned long long)suppressed);
    /* One write per line so concurrent writers (HAProxy, tests) never interleave it. */
    fprintf(stderr, "%s\n", line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level > current_level)
        return;
    va_start(ap, fmt);
    log_line(level, 0, fmt, ap);
    va_end(ap);
}

bool log_every_due(struct log_every *r, uint64_t now_ms, uint64_t *suppressed)
{
    if (now_ms < r->next_ms) {
        r->suppressed++;
        return false;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->next_ms = now_ms + r->interval_ms;
    return true;
}

void log_every_msg(struct log_every *r, uint64_t now_ms, enum log_level level, const char *fmt, ...)
{
    uint64_t suppressed;
    va_list ap;

    if (level > current_level || !log_every_due(r, now_ms, &suppressed))
        return;
    va_start(ap, fmt);
    log_line(level, suppressed, fmt, ap);
    va_end(ap);
}
