#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP 256

void buf_init(struct buf *b, size_t max)
{
    *b = (struct buf){.max = max};
}

void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){.max = b->max};
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->overflow = false;
    if (b->data)
        b->data[0] = '\0';
}

/* Make room for `extra` more bytes plus the NUL, growing geometrically up to the bound. */
static bool buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->overflow || extra > b->max - b->len) {
        b->overflow = true;
        return false;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->data, cap);
    if (!p) {
        b->overflow = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

bool buf_append(struct buf *b, const void *data, size_t len)
{
    if (!buf_reserve(b, len))
        return false;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}

bool buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

bool buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->overflow)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->overflow = true;
        return false;
    }
    /* cap never exceeds max + 1, so what fitted the allocation also fits the bound. */
    if (b->data && (size_t)n < b->cap - b->len) {
        b->len += (size_t)n;
        return true;
    }
    if (!buf_reserve(b, (size_t)n)) {
        if (b->data)
            b->data[b->len] = '\0';
        return false;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}
