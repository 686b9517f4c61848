/*
 * Admission control shared by the agent's listeners (SPOP, log feed, admin): accepts on a
 * listening socket, holds the listener to a connection limit, and survives running out of
 * file descriptors without spinning.
 *
 * A listening socket is level-triggered: while a connection waits in the backlog, libev
 * calls back at once. If accept() then fails for lack of descriptors (EMFILE, ENFILE) or
 * kernel memory (ENOBUFS, ENOMEM), retrying on the next callback is a busy loop. So:
 *   1. at the limit, or out of descriptors, the owner is first asked to evict one of its
 *      connections (the one least likely to be a real peer, see slot_evict_before());
 *   2. if it has none to give, the newcomer is shed: out of descriptors, a spare one kept
 *      open for this is closed so the connection can be accepted and closed at once (it
 *      sees a prompt close instead of hanging in the backlog), then reopened;
 *   3. out of descriptors or memory, accepting pauses for ACCEPTOR_PAUSE_S.
 * Every refusal is counted; warnings are rate-limited (log_every).
 */
#ifndef LLMPROXY_ACCEPTOR_H
#define LLMPROXY_ACCEPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "acceptor-t.h"
#include "list.h"
#include "log.h"

/* How long accepting stops after the process ran out of descriptors or memory. */
#define ACCEPTOR_PAUSE_S 0.1
/* At most one warning per listener in this interval; the rest are counted in it. */
#define ACCEPTOR_WARN_INTERVAL_MS 10000

/*
 * A listener's owner: how to admit a connection, and where its connections are, so the
 * acceptor can pick one to evict (each keeps a struct slot_use, see below) and close it.
 * The owner's connections are one struct list; the acceptor only walks it. The offsets say
 * where, inside the owner's connection type, its link in that list and its slot_use are:
 * the acceptor serves owners of different connection types.
 */
struct acceptor_ops {
    const char *name; /* for logs: "spop", "logfeed", "admin" */
    /* Take the new connection; false when it could not (the acceptor closes fd). */
    bool (*admit)(void *ctx, int fd);
    struct list *(*conns)(void *ctx); /* the head of the owner's list of connections */
    void (*close)(void *conn);        /* close an evicted connection */
    size_t link_off;                  /* offsetof(connection, struct list link in that list) */
    size_t use_off;                   /* offsetof(connection, struct slot_use) */
};

struct acceptor {
    struct ev_loop *loop;
    ev_io io;
    ev_timer resume;
    int fd;       /* the listening socket, owned by the caller */
    int spare_fd; /* /dev/null, given up to shed a connection when out of descriptors */
    uint64_t limit;
    const uint64_t *open; /* the owner's count of open connections */
    const struct acceptor_ops *ops;
    void *ctx;
    struct log_every warn;
    struct acceptor_stats st;
};

/* Start accepting on `fd` with at most `limit` connections open (`*open` of them now).
 * `ops` must outlive the acceptor. */
void acceptor_start(struct acceptor *a, struct ev_loop *loop, int fd, uint64_t limit,
                    const uint64_t *open, const struct acceptor_ops *ops, void *ctx);

/* Stop accepting and release the spare descriptor (the listening socket stays open). */
void acceptor_stop(struct acceptor *a);

/*
 * A listener's connection limit: `wanted`, but at most `share` parts in 8 of the process's
 * descriptor limit, so that one listener's peers can never take every descriptor.
 */
uint64_t acceptor_fd_share(uint64_t wanted, unsigned share);

/*
 * How a connection looks to eviction. Eviction prefers, in order: one that never proved to
 * be a real peer (no valid request, line or handshake yet), then the one idle the longest.
 * A busy connection (mid-answer) is never evicted.
 */
struct slot_use {
    double last_active; /* when it last delivered something valid, or was accepted */
    bool proven;        /* delivered something valid at least once */
    bool busy;
};

/* True when `a` should be evicted before `b` (b NULL: whether a may be evicted at all). */
bool slot_evict_before(const struct slot_use *a, const struct slot_use *b);

/* The owner's connection eviction would pick now, NULL when none may go. */
void *acceptor_victim(const struct acceptor *a);

#endif /* LLMPROXY_ACCEPTOR_H */
