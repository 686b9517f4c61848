/*
 * Listening unix sockets in haproxy.run_dir, made for HAProxy and nobody else.
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

/* Who may connect: the owner always, the group when mode is 0660. */
struct unix_owner {
    uid_t uid; /* (uid_t)-1: whoever binds */
    gid_t gid; /* (gid_t)-1: the binder's group */
    mode_t mode;
};

/* The socket file bound, to remove it at exit only if it is still the same file. */
struct unix_socket {
    int fd;
    dev_t dev;
    ino_t ino;
};

/*
 * Bind and listen on `path` (nonblocking, close-on-exec). A socket file left by an
 * earlier run is replaced; anything else at `path` (a file, a symbolic link) is left
 * alone and the call fails with EEXIST. Returns 0, or -1 with errno set.
 */
int unix_socket_listen(struct unix_socket *s, const char *path, int backlog,
                       const struct unix_owner *owner);

/* Close the socket and remove `path` if it is still the file bound (not a replacement). */
void unix_socket_close(struct unix_socket *s, const char *path);

#endif /* LLMPROXY_UNIX_SOCKET_H */
