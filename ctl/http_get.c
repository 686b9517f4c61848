#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deadline_io.h"
#include "http_get.h"

/* A non-blocking socket connected to host:port, or -1 with `err` set. */
static int dial(const char *host, uint16_t port, int64_t deadline, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res, *ai;
    char service[8];
    int rc, fd = -1, last = 0;

    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_size, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        socklen_t len = sizeof(last);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno != EINPROGRESS)
            last = errno;
        else if (deadline_wait(fd, POLLOUT, deadline) < 0 ||
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &last, &len) < 0)
            last = errno;
        else if (last == 0)
            break; /* connected */
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, err_size, "connect: %s", strerror(last ? last : ECONNREFUSED));
    return fd;
}

/* Split "HTTP/1.x NNN ...\r\n...\r\n\r\nbody" into status and body. */
static int parse_answer(char *raw, size_t len, struct http_answer *out, char *err, size_t err_size)
{
    char *end = memmem(raw, len, "\r\n\r\n", 4);
    const char *cl;
    int status;

    if (len < 12 || memcmp(raw, "HTTP/1.", 7) != 0 || raw[8] != ' ' ||
        sscanf(raw + 9, "%3d", &status) != 1 || status < 100 || !end) {
        snprintf(err, err_size, "not an HTTP answer");
        return -1;
    }
    *end = '\0'; /* the head is now a string: look for a Content-Length in it */
    cl = strcasestr(raw, "\r\nContent-Length:");
    out->status = status;
    out->body_len = len - (size_t)(end + 4 - raw);
    if (cl && strtoull(cl + 17, NULL, 10) != out->body_len) {
        snprintf(err, err_size, "answer cut short (%zu of %s bytes)", out->body_len, cl + 17);
        return -1;
    }
    out->body = malloc(out->body_len + 1);
    if (!out->body) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(out->body, end + 4, out->body_len);
    out->body[out->body_len] = '\0';
    return 0;
}

int http_get(const char *host, uint16_t port, const char *path, const char *bearer, int timeout_ms,
             size_t max_answer, struct http_answer *out, char *err, size_t err_size)
{
    int64_t deadline = deadline_now_ms() + timeout_ms;
    bool v6 = strchr(host, ':') != NULL;
    bool auth = bearer && bearer[0];
    char request[1536];
    char *raw = NULL;
    size_t len = 0;
    int fd, n, rc = -1;

    *out = (struct http_answer){0};
    n = snprintf(request, sizeof(request),
                 "GET %s HTTP/1.0\r\nHost: %s%s%s:%u\r\nUser-Agent: llmproxy-ctl\r\n"
                 "Accept: */*\r\n%s%s%s\r\n",
                 path, v6 ? "[" : "", host, v6 ? "]" : "", port,
                 auth ? "Authorization: Bearer " : "", auth ? bearer : "", auth ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(request)) {
        snprintf(err, err_size, "request too long");
        return -1;
    }
    fd = dial(host, port, deadline, err, err_size);
    if (fd < 0)
        return -1;
    raw = malloc(max_answer);
    if (!raw) {
        snprintf(err, err_size, "out of memory");
    } else if (deadline_send_all(fd, request, (size_t)n, deadline) < 0 ||
               deadline_recv_all(fd, raw, max_answer, &len, deadline) < 0) {
        if (errno == ETIMEDOUT)
            snprintf(err, err_size, "no answer within %d ms", timeout_ms);
        else if (errno == EMSGSIZE)
            snprintf(err, err_size, "answer larger than %zu bytes", max_answer);
        else
            snprintf(err, err_size, "%s", strerror(errno));
    } else {
        rc = parse_answer(raw, len, out, err, err_size);
    }
    free(raw);
    close(fd);
    explicit_bzero(request, sizeof(request)); /* it may hold the token */
    return rc;
}

void http_answer_free(struct http_answer *a)
{
    free(a->body);
    *a = (struct http_answer){0};
}
