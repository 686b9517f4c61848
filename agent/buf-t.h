/*
 * A growable byte buffer with a hard size bound (types only; functions are in buf.h).
 *
 * Used for responses built in one go (the /metrics page): the writer appends freely and
 * checks once at the end whether everything fitted, instead of checking every append.
 */
#ifndef LLMPROXY_BUF_T_H
#define LLMPROXY_BUF_T_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data; /* len bytes, followed by a NUL when cap > 0 */
    size_t len;
    size_t cap;    /* allocated bytes, NUL included */
    size_t max;    /* bound of len: the buffer never holds more */
    bool overflow; /* an append did not fit (bound or memory): later appends are ignored */
};

#endif /* LLMPROXY_BUF_T_H */
