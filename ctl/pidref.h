/*
 * A process named on the command line by its PID or by its pidfile, as in
 * `--haproxy-pid /run/haproxy.pid` or `--agent-pid 4242`.
 */
#ifndef LLMPROXY_PIDREF_H
#define LLMPROXY_PIDREF_H

#include <stddef.h>
#include <sys/types.h>

/* Largest pidfile read: a PID and a newline, with room to spare. */
#define PIDREF_FILE_MAX 64

/*
 * The PID `text` holds: decimal digits, optionally followed by white space (a pidfile's
 * newline), greater than 1 (never init, never "every process"). Returns 0, or -1.
 */
int pidref_parse(const char *text, pid_t *pid);

/*
 * Resolve `ref`: all digits is a PID, anything else a pidfile to read. The process must
 * exist and be ours to signal, so that a stale pidfile is found before anything changes.
 * `what` names the process in the message. Returns 0, or -1 with a message in `err`.
 */
int pidref_resolve(const char *what, const char *ref, pid_t *pid, char *err, size_t err_size);

#endif /* LLMPROXY_PIDREF_H */
