/*
 * Leveled logging to stderr: "LEVEL message". The agent runs under systemd or a
 * supervisor that timestamps lines itself, so no timestamp is added.
 */
#ifndef LLMPROXY_LOG_H
#define LLMPROXY_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; returns -1 when unknown. */
int log_level_parse(const char *name);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_LVL_DEBUG)                                                      \
            log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                                   \
    } while (0)

/*
 * At most one line per interval for a message that a peer can make the agent repeat at will
 * (a connection flood, fd exhaustion): the rest are counted, and the next line says how
 * many were held back. Initialise with LOG_EVERY(interval_ms); the clock is the caller's.
 */
struct log_every {
    uint64_t interval_ms;
    uint64_t next_ms;    /* no line before this time */
    uint64_t suppressed; /* lines held back since the last one written */
};

#define LOG_EVERY(ms)                                                                              \
    {                                                                                              \
        .interval_ms = (ms), .next_ms = 0, .suppressed = 0                                         \
    }

/* True when a line may be written at now_ms; *suppressed then gets how many were held back
 * since the last one (and the count restarts). False counts one more held-back line. */
bool log_every_due(struct log_every *r, uint64_t now_ms, uint64_t *suppressed);

/* log_msg() through `r`: the line ends with "(N similar suppressed)" when N > 0. */
void log_every_msg(struct log_every *r, uint64_t now_ms, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* LLMPROXY_LOG_H */
