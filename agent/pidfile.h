/*
 * The agent's pidfile (-p): for `llmproxy-ctl apply --agent-pid` and service managers.
 */
#ifndef LLMPROXY_PIDFILE_H
#define LLMPROXY_PIDFILE_H

#include <sys/types.h>

/*
 * Write our PID, one line, mode 0644, replacing whatever is at `path` (a link there is
 * replaced, never followed). When `owner` is not (uid_t)-1 the file is given to it and
 * `group`, so the agent can still remove it after dropping root. Returns 0, or -1 with
 * errno set.
 */
int pidfile_write(const char *path, uid_t owner, gid_t group);

/*
 * Remove `path` if it is a regular file holding our PID: another agent may have been
 * started with the same pidfile since, and its file is not ours to remove.
 */
void pidfile_remove(const char *path);

#endif /* LLMPROXY_PIDFILE_H */
