/* Listener admission control, see acceptor.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "acceptor.h"
#include "net.h"

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct acceptor *a = w->data;

    (void)revents;
    ev_io_start(loop, &a->io);
}

/* Stop accepting for a while: the backlog keeps what arrives meanwhile. */
static void pause_accepting(struct acceptor *a)
{
    ev_io_stop(a->loop, &a->io);
    ev_timer_set(&a->resume, ACCEPTOR_PAUSE_S, 0.);
    ev_timer_start(a->loop, &a->resume);
}

/* Out of descriptors and nothing to evict: accept the newcomer on the spare descriptor's
 * slot and close it, so it is told at once rather than left waiting in the backlog. */
static void shed_newcomer(struct acceptor *a)
{
    int fd;

    if (a->spare_fd < 0)
        return;
    close(a->spare_fd);
    fd = net_accept(a->fd);
    if (fd >= 0)
        close(fd);
    a->spare_fd = open_spare();
}

void *acceptor_victim(const struct acceptor *a)
{
    void *victim = NULL;
    const struct slot_use *victim_use = NULL;
    const struct list *head = a->ops->conns(a->ctx), *link;

    list_for_each (link, head) {
        char *c = (char *)link - a->ops->link_off;
        const struct slot_use *use = (const struct slot_use *)(void *)(c + a->ops->use_off);

        if (slot_evict_before(use, victim_use)) {
            victim = c;
            victim_use = use;
        }
    }
    return victim;
}

/* Close the connection eviction picks. False when none may go. */
static bool evict(struct acceptor *a)
{
    void *victim = acceptor_victim(a);

    if (!victim)
        return false;
    a->ops->close(victim);
    a->st.evicted++;
    return true;
}

/* accept() failed with `err`. True when the accept loop may go on. One eviction per
 * callback at most: if the freed descriptor does not let accept() through (ENFILE, another
 * process took it), evicting more would only empty the listener. */
static bool accept_failed(struct acceptor *a, int err, bool *evicted)
{
    switch (err) {
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
        return false;
    case EMFILE:
    case ENFILE:
        if (!*evicted && evict(a)) {
            *evicted = true;
            return true;
        }
        shed_newcomer(a);
        break;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
        return true; /* this one connection failed (or a firewall refused it): next */
    default:
        break; /* ENOBUFS, ENOMEM, or anything unexpected: never retried in a busy loop */
    }
    a->st.refused_fds++;
    log_every_msg(&a->warn, monotonic_ms(), LOG_LVL_WARN,
                  "%s: accept: %s; shedding new connections for %.0f ms (%llu open)", a->ops->name,
                  strerror(err), ACCEPTOR_PAUSE_S * 1000, (unsigned long long)*a->open);
    pause_accepting(a);
    return false;
}

/* At the limit: make room, or refuse the newcomer. True when fd was taken or closed. */
static bool over_limit(struct acceptor *a, int fd)
{
    if (*a->open < a->limit || evict(a))
        return false;
    a->st.refused_limit++;
    log_every_msg(&a->warn, monotonic_ms(), LOG_LVL_WARN,
                  "%s: %llu connections open, the limit: refusing new ones", a->ops->name,
                  (unsigned long long)a->limit);
    close(fd);
    return true;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct acceptor *a = w->data;
    bool evicted = false;

    (void)loop;
    (void)revents;
    for (;;) {
        int fd = net_accept(a->fd);

        if (fd < 0) {
            if (accept_failed(a, errno, &evicted))
                continue;
            return;
        }
        if (over_limit(a, fd))
            continue;
        if (!a->ops->admit(a->ctx, fd)) {
            close(fd);
            a->st.refused_fds++;
            continue;
        }
        a->st.accepted++;
    }
}

void acceptor_start(struct acceptor *a, struct ev_loop *loop, int fd, uint64_t limit,
                    const uint64_t *open, const struct acceptor_ops *ops, void *ctx)
{
    a->loop = loop;
    a->fd = fd;
    a->spare_fd = open_spare();
    a->limit = limit;
    a->open = open;
    a->ops = ops;
    a->ctx = ctx;
    a->warn = (struct log_every)LOG_EVERY(ACCEPTOR_WARN_INTERVAL_MS);
    memset(&a->st, 0, sizeof(a->st));
    ev_io_init(&a->io, on_accept, fd, EV_READ);
    a->io.data = a;
    ev_timer_init(&a->resume, on_resume, ACCEPTOR_PAUSE_S, 0.);
    a->resume.data = a;
    ev_io_start(loop, &a->io);
}

void acceptor_stop(struct acceptor *a)
{
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->resume);
    if (a->spare_fd >= 0)
        close(a->spare_fd);
    a->spare_fd = -1;
}

uint64_t acceptor_fd_share(uint64_t wanted, unsigned share)
{
    struct rlimit rl;
    uint64_t most;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return wanted;
    most = (uint64_t)rl.rlim_cur / 8 * share;
    if (most == 0)
        most = 1;
    return wanted < most ? wanted : most;
}

bool slot_evict_before(const struct slot_use *a, const struct slot_use *b)
{
    if (a->busy)
        return false;
    if (!b)
        return true;
    if (a->proven != b->proven)
        return !a->proven;
    return a->last_active < b->last_active;
}
