/*
 * Small socket helpers shared by the agent's listeners (SPOP, log feed, admin).
 */
#ifndef LLMPROXY_NET_H
#define LLMPROXY_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf_sockets.h"

struct conf_listen;

/* A unix socket the agent bound, removed at exit only while it is still the same file. */
struct net_unix {
    char path[CONF_SOCKET_PATH_MAX];
    dev_t dev;
    ino_t ino;
    bool bound;
};

/* The mode of the agent's unix sockets: HAProxy may run as another user of its group. */
#define NET_UNIX_MODE 0660

/* A non-blocking, close-on-exec TCP listener on an IPv4 or IPv6 literal. Returns the fd,
 * or -1 with errno set. */
int net_listen_tcp(const char *address, uint16_t port, int backlog);

/*
 * A non-blocking, close-on-exec unix socket listener at `path`, created with `mode` (the
 * umask is narrowed around bind(), so the socket never exists with a wider one) and, when
 * net_set_unix_owner() was called, that owner. A socket left by an earlier run is
 * replaced; anything else at `path` (a file, a symlink, a live socket) is left alone and
 * refused (EEXIST, EADDRINUSE). Fills `u` for net_unix_remove(). Returns the fd, or -1
 * with errno set.
 */
int net_listen_unix(const char *path, mode_t mode, int backlog, struct net_unix *u);

/*
 * Remove the socket `u` names if the file there is still the one we bound. Call it before
 * closing the listener: while it is open its inode cannot be reused by another socket.
 */
void net_unix_remove(struct net_unix *u);

/*
 * The owner of the unix sockets bound from now on (llmproxy-agent -u USER binds as root
 * and then becomes USER, who must still own them). Process-wide; call before listening.
 */
void net_set_unix_owner(uid_t uid, gid_t gid);

/*
 * Listen where a configured listener says: TCP on address:port, or its unix socket (mode
 * NET_UNIX_MODE, `u` filled). Logs the outcome as "<who>: listening on ..." or why not.
 */
int net_listen_conf(const struct conf_listen *l, int backlog, const char *who, struct net_unix *u);

/* accept4() a non-blocking, close-on-exec connection and set TCP_NODELAY; -1 as accept. */
int net_accept(int listen_fd);

/* The monotonic clock every decision is made with, in nanoseconds and milliseconds. */
uint64_t monotonic_ns(void);
uint64_t monotonic_ms(void);

#endif /* LLMPROXY_NET_H */
