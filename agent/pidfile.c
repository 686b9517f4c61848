/*
 * The agent's pidfile (pidfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_replace.h"
#include "log.h"
#include "pidfile.h"

/* "<pid>\n" of any pid_t, and a byte more to tell a longer file apart. */
#define PIDFILE_MAX 24

int pidfile_write(const char *path, uid_t owner, gid_t group)
{
    struct file_replace fr;
    char line[PIDFILE_MAX];
    int n, fd = file_replace_begin(&fr, path, 0644);

    if (fd < 0)
        return -1;
    n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (write(fd, line, (size_t)n) != n || (owner != (uid_t)-1 && fchown(fd, owner, group) != 0)) {
        int saved = errno ? errno : EIO;

        file_replace_abort(&fr);
        close(fd);
        errno = saved;
        return -1;
    }
    if (close(fd) != 0) {
        file_replace_abort(&fr);
        return -1;
    }
    return file_replace_commit(&fr);
}

void pidfile_remove(const char *path)
{
    char line[PIDFILE_MAX], *end;
    struct stat sb;
    ssize_t n;
    long pid;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        log_warn("pidfile %s: %s; not removed", path, strerror(errno));
        return;
    }
    n = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, line, sizeof(line) - 1) : -1;
    close(fd);
    if (n <= 0) {
        log_warn("pidfile %s: not a file the agent wrote; not removed", path);
        return;
    }
    line[n] = '\0';
    pid = strtol(line, &end, 10);
    if (pid != (long)getpid() || strcmp(end, "\n") != 0) {
        log_warn("pidfile %s: holds another process's PID now; not removed", path);
        return;
    }
    if (unlink(path) != 0)
        log_warn("pidfile %s: cannot remove it: %s (the user the agent runs as needs write "
                 "access to its folder)",
                 path, strerror(errno));
}
