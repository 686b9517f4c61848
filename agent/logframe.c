/*
 * Octet-counted framing decoder (see logframe.h).
 */
#include <string.h>

#include "logframe.h"

void logframe_init(struct logframe *f)
{
    f->phase = LOGFRAME_PHASE_LENGTH;
    f->error = LOGFRAME_OK;
    f->want = 0;
    f->have = 0;
}

static int broken(struct logframe *f, enum logframe_error err)
{
    f->error = err;
    return -(int)err;
}

/* One byte of the length. A message is never empty, so the length has no leading zero. */
static int length_byte(struct logframe *f, char c)
{
    if (c == ' ') {
        if (f->want == 0)
            return broken(f, LOGFRAME_ERR_LENGTH);
        f->phase = LOGFRAME_PHASE_MESSAGE;
        f->have = 0;
        return 0;
    }
    if (c < '0' || c > '9' || (f->want == 0 && c == '0'))
        return broken(f, LOGFRAME_ERR_LENGTH);
    f->want = f->want * 10 + (size_t)(c - '0');
    /* Refused as soon as it is too big: no unbounded run of digits is read. */
    if (f->want > LOGFRAME_MAX_MSG)
        return broken(f, LOGFRAME_ERR_OVERSIZE);
    return 0;
}

int logframe_feed(struct logframe *f, const char *data, size_t len, logframe_msg_fn *fn, void *ctx)
{
    const char *p = data, *end = data + len;

    if (f->error != LOGFRAME_OK)
        return -(int)f->error;
    while (p < end) {
        size_t need, take;

        if (f->phase == LOGFRAME_PHASE_LENGTH) {
            int rc = length_byte(f, *p++);

            if (rc < 0)
                return rc;
            continue;
        }
        need = f->want - f->have;
        if (f->have == 0 && (size_t)(end - p) >= need) {
            /* The whole message is in this read: no copy. */
            fn(ctx, p, need);
            p += need;
        } else {
            take = (size_t)(end - p) < need ? (size_t)(end - p) : need;
            memcpy(f->buf + f->have, p, take);
            f->have += take;
            p += take;
            if (f->have < f->want)
                break;
            fn(ctx, f->buf, f->want);
        }
        f->phase = LOGFRAME_PHASE_LENGTH;
        f->want = 0;
        f->have = 0;
    }
    return 0;
}

const char *logframe_error_name(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case LOGFRAME_OK:
        return "ok";
    case LOGFRAME_ERR_LENGTH:
        return "length";
    case LOGFRAME_ERR_OVERSIZE:
        return "oversize";
    default:
        return "unknown";
    }
}
