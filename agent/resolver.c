/*
 * Asynchronous name lookups on getaddrinfo_a (see resolver.h).
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resolver.h"

/* How often the loop checks lookups in flight: a lookup's result waits at most this long. */
#define POLL_S 0.005
/* How long resolver_free waits for lookups glibc is still running. */
#define RESOLVER_DRAIN_S 2

struct resolver_lookup {
    struct gaicb cb; /* first: glibc's request, pointed to while in flight */
    struct addrinfo hints;
    char port[8];
    char *host;
    resolver_done_fn *done; /* NULL once cancelled */
    void *ctx;
    struct resolver_lookup *next;
};

struct resolver {
    struct ev_loop *loop;
    ev_timer poll;
    struct resolver_lookup *inflight;
    size_t n_inflight;
};

static void lookup_free(struct resolver_lookup *l)
{
    if (l->cb.ar_result)
        freeaddrinfo(l->cb.ar_result);
    free(l->host);
    free(l);
}

/* Hand every finished lookup to its caller; stop polling when none is left. */
static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct resolver *r = w->data;
    struct resolver_lookup **p = &r->inflight;

    (void)revents;
    while (*p) {
        struct resolver_lookup *l = *p;
        int err = gai_error(&l->cb);

        if (err == EAI_INPROGRESS) {
            p = &l->next;
            continue;
        }
        *p = l->next;
        r->n_inflight--;
        if (l->done) {
            const struct addrinfo *ai = err == 0 ? l->cb.ar_result : NULL;

            if (err == 0 && !ai)
                err = EAI_NONAME;
            l->done(l->ctx, err, ai ? ai->ai_addr : NULL, ai ? ai->ai_addrlen : 0);
        }
        lookup_free(l);
    }
    if (!r->inflight)
        ev_timer_stop(loop, w);
}

struct resolver *resolver_create(struct ev_loop *loop)
{
    struct resolver *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->loop = loop;
    ev_timer_init(&r->poll, on_poll, POLL_S, POLL_S);
    r->poll.data = r;
    return r;
}

struct resolver_lookup *resolver_start(struct resolver *r, const char *host, uint16_t port,
                                       resolver_done_fn *done, void *ctx)
{
    struct resolver_lookup *l = calloc(1, sizeof(*l));
    struct gaicb *list[1];

    if (!l || !(l->host = strdup(host))) {
        free(l);
        return NULL;
    }
    snprintf(l->port, sizeof(l->port), "%u", (unsigned)port);
    l->hints.ai_socktype = SOCK_STREAM;
    l->cb.ar_name = l->host;
    l->cb.ar_service = l->port;
    l->cb.ar_request = &l->hints;
    l->done = done;
    l->ctx = ctx;
    list[0] = &l->cb;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
        lookup_free(l);
        return NULL;
    }
    l->next = r->inflight;
    r->inflight = l;
    r->n_inflight++;
    ev_timer_again(r->loop, &r->poll);
    return l;
}

void resolver_cancel(struct resolver_lookup *l)
{
    l->done = NULL;
    gai_cancel(&l->cb);
}

size_t resolver_pending(const struct resolver *r)
{
    return r->n_inflight;
}

void resolver_free(struct resolver *r)
{
    struct timespec deadline, now;

    if (!r)
        return;
    ev_timer_stop(r->loop, &r->poll);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += RESOLVER_DRAIN_S;
    while (r->inflight) {
        struct resolver_lookup *l = r->inflight;
        const struct gaicb *list[1] = {&l->cb};
        struct timespec left;

        if (gai_cancel(&l->cb) != EAI_CANCELED && gai_error(&l->cb) == EAI_INPROGRESS) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            left.tv_sec = deadline.tv_sec - now.tv_sec;
            left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
            if (left.tv_nsec < 0) {
                left.tv_sec--;
                left.tv_nsec += 1000000000L;
            }
            if (left.tv_sec < 0 ||
                (gai_suspend(list, 1, &left) != 0 && gai_error(&l->cb) == EAI_INPROGRESS))
                break; /* still running: glibc owns it, and so the process does */
        }
        r->inflight = l->next;
        lookup_free(l);
    }
    free(r);
}
