/* Test helper: a stand-in for HAProxy's runtime API socket on a libev loop.
 *
 * It listens on a unix socket in a fresh temporary folder, reads each connection's command
 * line, answers it (or not) as the test says, and closes the connection, as HAProxy does
 * without `prompt`. Every line received is kept, in order.
 */
#ifndef LLMPROXY_TEST_FAKE_HAPI_H
#define LLMPROXY_TEST_FAKE_HAPI_H

#include <stddef.h>

#include <ev.h>

#define FAKE_HAPI_REPLIES 8

enum fake_hapi_mode {
    FAKE_HAPI_ANSWER, /* write the reply, then close */
    FAKE_HAPI_SILENT, /* keep the connection open, answer nothing */
};

struct fake_hapi {
    struct ev_loop *loop;
    char dir[64], path[108];
    int lfd, cfd;
    ev_io accept_w, conn_w;
    enum fake_hapi_mode mode;
    /* The answer to the Nth connection (from 0); reply[0] for those not set. */
    const char *reply[FAKE_HAPI_REPLIES];
    char got[4096]; /* the lines received, one after the other */
    size_t got_len;
    size_t line_start; /* where the current connection's line starts in `got` */
    int connections;
};

/* A folder and a socket path; nothing listens until fake_hapi_listen(). */
void fake_hapi_init(struct fake_hapi *f, struct ev_loop *loop);
void fake_hapi_listen(struct fake_hapi *f);
/* Stop, close, and remove the socket and its folder. */
void fake_hapi_free(struct fake_hapi *f);

#endif /* LLMPROXY_TEST_FAKE_HAPI_H */
