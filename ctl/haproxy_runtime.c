#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "deadline_io.h"
#include "haproxy_runtime.h"

/* Introduces a payload on the command line. */
#define PAYLOAD_MARK " <<\n"

bool haproxy_runtime_word_ok(const char *word)
{
    const unsigned char *p = (const unsigned char *)word;

    if (!*p || *p == '#')
        return false;
    for (; *p; p++) {
        if (*p <= ' ' || *p == ';' || *p == '\\' || *p == 0x7f)
            return false;
    }
    return true;
}

/* A payload HAProxy reads whole: no empty line, which would end it early, and no NUL. */
static bool payload_ok(const char *payload, size_t len)
{
    size_t i;

    if (len == 0 || payload[0] == '\n')
        return false;
    for (i = 0; i < len; i++) {
        if (payload[i] == '\0' || (payload[i] == '\n' && i + 1 < len && payload[i + 1] == '\n'))
            return false;
    }
    return true;
}

char *haproxy_runtime_request(const char *cmd, const char *payload, size_t payload_len, size_t *len,
                              char *err, size_t err_size)
{
    size_t clen = strlen(cmd), n = 0;
    bool ends_line = payload && payload_len && payload[payload_len - 1] == '\n';
    char *out;

    if (clen == 0 || memchr(cmd, '\n', clen) || memchr(cmd, '\r', clen)) {
        snprintf(err, err_size, "a command is one non-empty line");
        return NULL;
    }
    if (payload && !payload_ok(payload, payload_len)) {
        snprintf(err, err_size, "a payload is non-empty lines, none of them empty");
        return NULL;
    }
    /* command, " <<\n", payload, its last newline, the empty line */
    out = malloc(clen + sizeof(PAYLOAD_MARK) + (payload ? payload_len : 0) + 2);
    if (!out) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    memcpy(out, cmd, clen);
    n = clen;
    if (payload) {
        memcpy(out + n, PAYLOAD_MARK, sizeof(PAYLOAD_MARK) - 1);
        n += sizeof(PAYLOAD_MARK) - 1;
        memcpy(out + n, payload, payload_len);
        n += payload_len;
        if (!ends_line)
            out[n++] = '\n';
    }
    out[n++] = '\n';
    *len = n;
    return out;
}

/*
 * A non-blocking stream socket connected to the unix socket `path`, or -1 with `err`. A
 * unix connect completes at once or fails; EAGAIN (HAProxy's backlog full) is retried.
 */
static int dial_unix(const char *path, int64_t deadline, char *err, size_t err_size)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, err_size, "%s: path too long for a unix socket", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_size, "socket: %s", strerror(errno));
        return -1;
    }
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if ((errno != EAGAIN && errno != EINTR) || deadline_now_ms() >= deadline) {
            snprintf(err, err_size, "%s: connect: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        poll(NULL, 0, 10);
    }
    return fd;
}

char *haproxy_runtime_ask(const char *socket_path, const char *cmd, const char *payload,
                          size_t payload_len, size_t max_answer, size_t *len, char *err,
                          size_t err_size)
{
    int64_t deadline = deadline_now_ms() + HAPROXY_RUNTIME_TIMEOUT_MS;
    char *request, *answer = NULL;
    size_t request_len;
    int fd;

    request = haproxy_runtime_request(cmd, payload, payload_len, &request_len, err, err_size);
    if (!request)
        return NULL;
    fd = dial_unix(socket_path, deadline, err, err_size);
    if (fd >= 0 && !(answer = malloc(max_answer + 1)))
        snprintf(err, err_size, "out of memory");
    if (answer && (deadline_send_all(fd, request, request_len, deadline) < 0 ||
                   deadline_recv_all(fd, answer, max_answer, len, deadline) < 0)) {
        if (errno == ETIMEDOUT)
            snprintf(err, err_size, "%s: no answer within %d ms", socket_path,
                     HAPROXY_RUNTIME_TIMEOUT_MS);
        else if (errno == EMSGSIZE)
            snprintf(err, err_size, "%s: answer larger than %zu bytes", socket_path, max_answer);
        else
            snprintf(err, err_size, "%s: %s", socket_path, strerror(errno));
        free(answer);
        answer = NULL;
    }
    if (answer)
        answer[*len] = '\0';
    if (fd >= 0)
        close(fd);
    free(request);
    return answer;
}
