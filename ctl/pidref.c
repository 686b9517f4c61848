/*
 * Naming a process to signal by its PID or its pidfile.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pidref.h"

/* Above Linux's PID_MAX_LIMIT (4194304), so any real PID fits and no overflow is possible. */
#define PIDREF_MAX 99999999L

int pidref_parse(const char *text, pid_t *pid)
{
    const char *p = text;
    long v = 0;

    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > PIDREF_MAX)
            return -1;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p || v <= 1)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

/* Read a pidfile into `buf` (NUL-terminated); a longer file is not a pidfile. */
static int read_pidfile(const char *path, char *buf, size_t size)
{
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    if ((size_t)n == size - 1) {
        errno = EFBIG;
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

int pidref_resolve(const char *what, const char *ref, pid_t *pid, char *err, size_t err_size)
{
    char buf[PIDREF_FILE_MAX];
    size_t digits = strspn(ref, "0123456789");

    if (ref[0] && !ref[digits]) {
        if (pidref_parse(ref, pid) < 0) {
            snprintf(err, err_size, "%s PID '%s' is not a process id", what, ref);
            return -1;
        }
    } else {
        if (read_pidfile(ref, buf, sizeof(buf)) < 0) {
            snprintf(err, err_size, "%s pidfile %s: %s", what, ref, strerror(errno));
            return -1;
        }
        if (pidref_parse(buf, pid) < 0) {
            snprintf(err, err_size, "%s pidfile %s does not hold a process id", what, ref);
            return -1;
        }
    }
    if (kill(*pid, 0) < 0) {
        snprintf(err, err_size, "%s process %ld (from %s): %s", what, (long)*pid, ref,
                 errno == ESRCH ? "not running (stale pidfile?)" : strerror(errno));
        return -1;
    }
    return 0;
}
