/*
 * Listening unix sockets in haproxy.run_dir (SPOP, log feed, CONNECT tunnels), made for
 * HAProxy and nobody else.
 *
 * Connecting to a unix socket needs write permission on its file, so the file's owner,
 * group and mode decide who may talk to the agent there. They are right from the
 * moment the file exists: the mode through the umask at bind(), the owner before
 * listen(), when no connection can be accepted yet.
 */
#ifndef LLMPROXY_UNIX_SOCKET_H
#define LLMPROXY_UNIX_SOCKET_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf_sockets.h"

/* Who may connect: the owner always, the group when mode is 0660. */
struct unix_owner {
    uid_t uid; /* (uid_t)-1: whoever binds */
    gid_t gid; /* (gid_t)-1: the binder's group */
    mode_t mode;
};

/* A socket file bound, to remove it at exit only if it is still the same file. */
struct unix_socket {
    int fd; /* -1 when not listening */
    char path[CONF_SOCKET_PATH_MAX];
    dev_t dev;
    ino_t ino;
    bool bound; /* the file at `path` is ours to remove */
};

/*
 * Bind and listen on `path` (nonblocking, close-on-exec), with `owner`'s ids and mode.
 * A socket file left by an earlier run is replaced; anything else at `path` is left
 * alone and the call fails: a file or a symbolic link (EEXIST), a socket something still
 * listens on (EADDRINUSE: another agent is serving there), a path too long
 * (ENAMETOOLONG). Returns 0, or -1 with errno set and `s->fd` -1.
 */
int unix_socket_listen(struct unix_socket *s, const char *path, int backlog,
                       const struct unix_owner *owner);

/*
 * Remove the file at `s->path` if it is still the socket bound (not a newer agent's).
 * Idempotent. Call it while the fd is still open, when the fd is closed elsewhere (by an
 * acceptor): an open socket pins its inode, so no other socket can have the same one.
 */
void unix_socket_unlink(struct unix_socket *s);

/* unix_socket_unlink(), then close the fd. Idempotent. */
void unix_socket_close(struct unix_socket *s);

#endif /* LLMPROXY_UNIX_SOCKET_H */
