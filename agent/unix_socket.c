/*
 * Listening unix sockets in haproxy.run_dir (unix_socket.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_socket.h"

/* Replace a socket left by an earlier run, never any other kind of file. */
static int remove_stale(const char *path)
{
    struct stat sb;

    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(sb.st_mode)) {
        errno = EEXIST;
        return -1;
    }
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int bind_owned(int fd, const char *path, const struct unix_owner *owner)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    mode_t old_mask;
    int rc;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    /* bind() creates the file and never follows a link at its name (EADDRINUSE). The
     * umask is the only way to give it its mode at creation; nothing else runs now. */
    old_mask = umask(~owner->mode & 0777);
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_mask);
    if (rc != 0)
        return -1;
    if ((owner->uid != (uid_t)-1 || owner->gid != (gid_t)-1) &&
        fchownat(AT_FDCWD, path, owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) != 0) {
        int saved = errno;

        unlink(path);
        errno = saved;
        return -1;
    }
    return 0;
}

int unix_socket_listen(struct unix_socket *s, const char *path, int backlog,
                       const struct unix_owner *owner)
{
    struct stat sb;
    int saved;

    s->fd = -1;
    if (remove_stale(path) != 0)
        return -1;
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    if (bind_owned(s->fd, path, owner) != 0)
        goto fail;
    if (lstat(path, &sb) != 0 || listen(s->fd, backlog) != 0) {
        saved = errno;
        unlink(path);
        errno = saved;
        goto fail;
    }
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    return 0;
fail:
    saved = errno;
    close(s->fd);
    s->fd = -1;
    errno = saved;
    return -1;
}

void unix_socket_close(struct unix_socket *s, const char *path)
{
    struct stat sb;

    if (s->fd < 0)
        return;
    close(s->fd);
    s->fd = -1;
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == s->dev && sb.st_ino == s->ino)
        unlink(path);
}
