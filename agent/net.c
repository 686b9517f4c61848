#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf_sockets.h"
#include "config-t.h"
#include "log.h"
#include "net.h"
#include "unix_socket.h"

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

int net_listen_conf(const struct conf_listen *l, int backlog, const char *who,
                    const struct unix_owner *owner, struct unix_socket *u)
{
    char where[CONF_SOCKET_PATH_MAX + 16];
    int fd;

    u->fd = -1;
    u->bound = false;
    if (l->socket.val) {
        snprintf(where, sizeof(where), "unix:%s", l->socket.val);
        fd = unix_socket_listen(u, l->socket.val, backlog, owner) == 0 ? u->fd : -1;
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

int64_t wall_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
