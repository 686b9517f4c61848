/*
 * Replacing a file in one step, without trusting anything already at its name.
 *
 * The new content goes to a private temporary file created beside the target with
 * O_EXCL (mkostemp), so a symbolic link or a file someone planted at a predictable name
 * is never opened, and its owner or mode never carried over. rename() then swaps the
 * temporary file in: it replaces the directory entry, never what a link there points to.
 * Both llmproxy-ctl (rendered files) and the agent (its pidfile) write files this way.
 */
#ifndef LLMPROXY_FILE_REPLACE_H
#define LLMPROXY_FILE_REPLACE_H

#include <limits.h>
#include <sys/types.h>

struct file_replace {
    char path[PATH_MAX];
    char tmp[PATH_MAX];
    int fd;
};

/*
 * Create the temporary file for `path` with mode `mode` exactly (whatever the umask).
 * Returns its descriptor (also in fr->fd; the caller closes it), or -1 with errno set.
 */
int file_replace_begin(struct file_replace *fr, const char *path, mode_t mode);

/* Rename the temporary file over the target. Returns 0, or -1 with errno set. */
int file_replace_commit(struct file_replace *fr);

/* Remove the temporary file of an abandoned replacement (errno is kept). */
void file_replace_abort(struct file_replace *fr);

#endif /* LLMPROXY_FILE_REPLACE_H */
