#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config-t.h"
#include "log.h"
#include "net.h"

/* -1: keep the owner bind() gives (the agent's own user). */
static uid_t unix_uid = (uid_t)-1;
static gid_t unix_gid = (gid_t)-1;

void net_set_unix_owner(uid_t uid, gid_t gid)
{
    unix_uid = uid;
    unix_gid = gid;
}

int net_listen_tcp(const char *address, uint16_t port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, saved;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, address, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        len = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, address, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        len = sizeof(struct sockaddr_in6);
    } else {
        errno = EINVAL;
        return -1;
    }

    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* What is at `path` may be replaced: nothing, or a socket nobody listens on. */
static int unix_path_free(const char *path, const struct sockaddr_un *sun)
{
    struct stat sb;
    int fd, rc, saved;

    if (lstat(path, &sb) < 0)
        return errno == ENOENT ? 0 : -1;
    /* Never follow a symlink nor remove a file of another kind. */
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
    if (rc == 0 || saved == EAGAIN) {
        errno = EADDRINUSE; /* another agent answers there */
        return -1;
    }
    if (saved != ECONNREFUSED) {
        errno = saved;
        return -1;
    }
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int net_listen_unix(const char *path, mode_t mode, int backlog, struct net_unix *u)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat sb;
    mode_t old_mask;
    int fd, rc, saved;

    u->bound = false;
    if (strlen(path) >= sizeof(sun.sun_path) || strlen(path) >= sizeof(u->path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (unix_path_free(path, &sun) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* bind() creates the file with 0777 & ~umask: narrow the umask, there is no window. */
    old_mask = umask(~mode & 0777);
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_mask);
    if (rc < 0 || lstat(path, &sb) < 0)
        goto fail;
    memcpy(u->path, path, strlen(path) + 1);
    u->dev = sb.st_dev;
    u->ino = sb.st_ino;
    u->bound = true;
    if ((unix_uid != (uid_t)-1 || unix_gid != (gid_t)-1) && lchown(path, unix_uid, unix_gid) < 0)
        goto fail;
    if (listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    saved = errno;
    net_unix_remove(u);
    close(fd);
    errno = saved;
    return -1;
}

void net_unix_remove(struct net_unix *u)
{
    struct stat sb;

    if (!u->bound)
        return;
    u->bound = false;
    /* A newer agent may have replaced it already: leave that one alone. */
    if (lstat(u->path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == u->dev &&
        sb.st_ino == u->ino)
        unlink(u->path);
}

int net_listen_conf(const struct conf_listen *l, int backlog, const char *who, struct net_unix *u)
{
    char where[CONF_SOCKET_PATH_MAX + 16];
    int fd;

    u->bound = false;
    if (l->socket.val) {
        snprintf(where, sizeof(where), "unix:%s", l->socket.val);
        fd = net_listen_unix(l->socket.val, NET_UNIX_MODE, backlog, u);
    } else {
        snprintf(where, sizeof(where), strchr(l->address, ':') ? "[%s]:%u" : "%s:%u", l->address,
                 (unsigned)l->port);
        fd = net_listen_tcp(l->address, l->port, backlog);
    }
    if (fd < 0)
        log_error("%s: cannot listen on %s: %s", who, where, strerror(errno));
    else
        log_info("%s: listening on %s", who, where);
    return fd;
}

int net_accept(int listen_fd)
{
    int one = 1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t monotonic_ms(void)
{
    return monotonic_ns() / 1000000;
}
