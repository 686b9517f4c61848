/*
 * Collecting problems found in a configuration.
 *
 * Every message has the shape "file:line:col: key.path: what was found; what is
 * allowed". Loading goes on after a problem so that one run reports all of them;
 * the list is sorted by position before it is shown.
 */
#ifndef LLMPROXY_CONF_DIAG_H
#define LLMPROXY_CONF_DIAG_H

#include <stdarg.h>
#include <stddef.h>

#include "config-t.h"

/* At most this many diagnostics are kept; later ones are only counted (diags->dropped). */
#define CONF_MAX_DIAGS 200

/* Longest piece of user text quoted in a message; the rest becomes "...". */
#define CONF_QUOTE_MAX 64

/*
 * Record one problem. `pos` NULL or with line 0 means "the file as a whole";
 * `path` NULL or "" means no key path. Returns 0, or -1 when memory ran out.
 */
int conf_diag_add(struct conf_diags *diags, const struct conf_pos *pos, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int conf_diag_vadd(struct conf_diags *diags, const struct conf_pos *pos, const char *path,
                   const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Order by line then column, keeping the order of equal positions (stable). */
void conf_diags_sort(struct conf_diags *diags);

/* Problems recorded, including those beyond CONF_MAX_DIAGS that were not kept. */
size_t conf_diags_count(const struct conf_diags *diags);

/*
 * Write `s` (`len` bytes) into `buf` as a double-quoted, printable string: control
 * bytes are escaped and text past CONF_QUOTE_MAX bytes is cut with "...". Returns buf.
 */
const char *conf_quote(char *buf, size_t size, const char *s, size_t len);

/* Enough room for any conf_quote() result. */
#define CONF_QUOTE_BUF (CONF_QUOTE_MAX * 4 + 8)

#endif /* LLMPROXY_CONF_DIAG_H */
