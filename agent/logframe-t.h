/*
 * Octet-counted framing of HAProxy's log stream (types only; see logframe.h).
 */
#ifndef LLMPROXY_LOGFRAME_T_H
#define LLMPROXY_LOGFRAME_T_H

#include <stddef.h>

#include "logline-t.h"

/* A record longer than any line we accept means the stream is not what we expect. */
#define LOGFRAME_MAX_MSG LOGLINE_MAX_LEN

enum logframe_error {
    LOGFRAME_OK = 0,
    LOGFRAME_ERR_LENGTH,   /* the length is not 1-9 then digits, ended by one space */
    LOGFRAME_ERR_OVERSIZE, /* the length announces more than LOGFRAME_MAX_MSG */
};

enum logframe_phase {
    LOGFRAME_PHASE_LENGTH = 0, /* reading the decimal length */
    LOGFRAME_PHASE_MESSAGE,    /* reading the message's bytes */
};

struct logframe {
    enum logframe_phase phase;
    enum logframe_error error; /* sticky: a broken stream stays broken */
    size_t want;               /* the length, as read so far, or the message's */
    size_t have;               /* message bytes held in buf */
    char buf[LOGFRAME_MAX_MSG];
};

#endif /* LLMPROXY_LOGFRAME_T_H */
