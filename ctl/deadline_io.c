#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "deadline_io.h"

int64_t deadline_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int deadline_wait(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int64_t left = deadline - deadline_now_ms();
        int n;

        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

int deadline_send_all(int fd, const char *data, size_t len, int64_t deadline)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return -1;
        } else if (deadline_wait(fd, POLLOUT, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}

int deadline_recv_all(int fd, char *buf, size_t cap, size_t *len, int64_t deadline)
{
    *len = 0;
    for (;;) {
        ssize_t n;

        if (*len == cap) {
            errno = EMSGSIZE;
            return -1;
        }
        n = recv(fd, buf + *len, cap - *len, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            *len += (size_t)n;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        else if (deadline_wait(fd, POLLIN, deadline) < 0)
            return -1;
    }
}
