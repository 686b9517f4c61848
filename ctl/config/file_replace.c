/*
 * Replacing a file in one step, without trusting anything already at its name
 * (file_replace.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_replace.h"

int file_replace_begin(struct file_replace *fr, const char *path, mode_t mode)
{
    int n;

    fr->fd = -1;
    n = snprintf(fr->path, sizeof(fr->path), "%s", path);
    if (n < 0 || (size_t)n >= sizeof(fr->path) ||
        (size_t)snprintf(fr->tmp, sizeof(fr->tmp), "%s.XXXXXX", path) >= sizeof(fr->tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fr->fd = mkostemp(fr->tmp, O_CLOEXEC);
    if (fr->fd < 0)
        return -1;
    /* mkostemp makes it 0600; the mode asked for is set exactly, the umask aside. */
    if (fchmod(fr->fd, mode) != 0) {
        int saved = errno;

        unlink(fr->tmp);
        close(fr->fd);
        fr->fd = -1;
        errno = saved;
        return -1;
    }
    return fr->fd;
}

int file_replace_commit(struct file_replace *fr)
{
    if (rename(fr->tmp, fr->path) != 0) {
        file_replace_abort(fr);
        return -1;
    }
    return 0;
}

void file_replace_abort(struct file_replace *fr)
{
    int saved = errno;

    unlink(fr->tmp);
    errno = saved;
}
