/*
 * Listening unix sockets in haproxy.run_dir (unix_socket.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_socket.h"

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == CONF_SOCKET_PATH_MAX,
               "CONF_SOCKET_PATH_MAX is not the size of sun_path");

/*
 * Clear the way for bind(): nothing at the path, or a socket nobody listens on (a run
 * that died). Never follow a link nor remove another kind of file, and never take over
 * a socket that still answers: that agent is alive and HAProxy talks to it.
 */
static int remove_stale(const struct sockaddr_un *sun)
{
    struct stat sb;
    int fd, rc, saved;

    if (lstat(sun->sun_path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(sb.st_mode)) {
        errno = EEXIST;
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    saved = errno;
    close(fd);
    if (rc == 0 || saved == EAGAIN) { /* EAGAIN: alive, its backlog full */
        errno = EADDRINUSE;
        return -1;
    }
    if (saved != ECONNREFUSED) {
        errno = saved;
        return -1;
    }
    return unlink(sun->sun_path) == 0 || errno == ENOENT ? 0 : -1;
}

/* bind() creates the file and never follows a link at its name (EADDRINUSE). The umask
 * is the only way to give it its mode at creation; nothing else runs now. */
static int bind_with_mode(int fd, const struct sockaddr_un *sun, mode_t mode)
{
    mode_t old_mask = umask(~mode & 0777);
    int rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));

    umask(old_mask);
    return rc;
}

/* The file just bound is ours from now on: remember which it is. */
static int remember_file(struct unix_socket *s)
{
    struct stat sb;

    if (lstat(s->path, &sb) != 0)
        return -1;
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    s->bound = true;
    return 0;
}

int unix_socket_listen(struct unix_socket *s, const char *path, int backlog,
                       const struct unix_owner *owner)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    int saved;

    s->fd = -1;
    s->bound = false;
    if (len >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, len + 1);
    memcpy(s->path, path, len + 1);
    if (remove_stale(&sun) != 0)
        return -1;
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    if (bind_with_mode(s->fd, &sun, owner->mode) != 0 || remember_file(s) != 0 ||
        ((owner->uid != (uid_t)-1 || owner->gid != (gid_t)-1) &&
         lchown(path, owner->uid, owner->gid) != 0) ||
        listen(s->fd, backlog) != 0) {
        saved = errno;
        unix_socket_close(s);
        errno = saved;
        return -1;
    }
    return 0;
}

void unix_socket_unlink(struct unix_socket *s)
{
    struct stat sb;

    if (!s->bound)
        return;
    s->bound = false;
    if (lstat(s->path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == s->dev &&
        sb.st_ino == s->ino)
        unlink(s->path);
}

void unix_socket_close(struct unix_socket *s)
{
    unix_socket_unlink(s); /* first: while the fd is open its inode cannot be reused */
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
