/*
 * Rendering the configuration model into HAProxy's files (types only; functions are in
 * render.h).
 */
#ifndef LLMPROXY_RENDER_T_H
#define LLMPROXY_RENDER_T_H

#include <stdbool.h>
#include <stdio.h>

#include "config-t.h"
#include "haproxy_target-t.h"

/* Longest error message a render reports. */
#define RENDER_ERR_SIZE 512

/* Where the rendered files live and how ${NAME:-default} templates are resolved. */
struct render_opts {
    const char *dir;      /* absolute folder of haproxy.cfg; the other files are named in it */
    const char *map_base; /* folder whose RENDER_MAPS_DIR haproxy.cfg names; NULL: dir */
    struct haproxy_target haproxy; /* the release the files are for */
    conf_getenv_fn getenv_fn;      /* NULL: the process environment */
    void *getenv_ctx;
};

/*
 * One output stream being written. The first problem (a value no quoting can carry, an
 * unsupported setting) is kept in `err` and stops nothing: writers go on, and the caller
 * looks at `failed` once at the end.
 */
struct render_out {
    FILE *f;
    const struct render_opts *opts;
    bool failed;
    char err[RENDER_ERR_SIZE];
};

/* An error response LLMProxy itself sends, in the OpenAI error shape. */
struct render_error {
    const char *file;    /* errorfile name under <dir>/errors/, NULL if only returned inline */
    int status;          /* the status the client sees */
    const char *reason;  /* its reason phrase */
    const char *message; /* error.message */
    const char *type;    /* error.type */
    const char *code;    /* error.code */
};

#endif /* LLMPROXY_RENDER_T_H */
