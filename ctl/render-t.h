/*
 * Rendering the configuration model into HAProxy's files (types only; functions are in
 * render.h).
 */
#ifndef LLMPROXY_RENDER_T_H
#define LLMPROXY_RENDER_T_H

#include <stdbool.h>
#include <stdio.h>

#include "config-t.h"

/* Longest error message a render reports. */
#define RENDER_ERR_SIZE 512

/* Where the rendered files live and how ${NAME:-default} templates are resolved. */
struct render_opts {
    const char *dir;          /* absolute folder of haproxy.cfg; the other files are named in it */
    const char *map_base;     /* folder whose RENDER_MAPS_DIR haproxy.cfg names; NULL: dir */
    conf_getenv_fn getenv_fn; /* NULL: the process environment */
    void *getenv_ctx;
    /*
     * Bind each HAProxy thread to its own CPU (cpu-map). HAProxy (2.6 to 3.2 at least)
     * wakes the log ring's forwarder while it holds a lock the forwarder takes first; the
     * woken thread, pulled onto the writer's CPU, spins on it until the writer runs again,
     * which on a small or busy host adds milliseconds to the next request. One thread per
     * CPU cannot preempt another. Off only for a version that wakes after unlocking;
     * docs/benchmarks.md has the measurements.
     */
    bool pin_threads_to_cpus;
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
