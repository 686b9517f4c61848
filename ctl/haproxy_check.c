/*
 * Running `haproxy -c` on a rendered configuration, so that what passes is what HAProxy
 * will load, including the environment references it expands itself.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "haproxy_check.h"

extern char **environ;

int haproxy_check(const char *who, const char *cfg_path)
{
    const char *haproxy = getenv("HAPROXY");
    char *argv[] = {NULL, "-c", "-f", (char *)cfg_path, NULL};
    pid_t pid;
    int status, err;

    if (!haproxy || !haproxy[0])
        haproxy = "haproxy";
    argv[0] = (char *)haproxy;
    fflush(stdout); /* our lines before HAProxy's */
    fflush(stderr);
    err = posix_spawnp(&pid, haproxy, NULL, NULL, argv, environ);
    if (err) {
        fprintf(stderr, "%s: cannot run %s: %s (set HAPROXY to its path)\n", who, haproxy,
                strerror(err));
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: waiting for %s: %s\n", who, haproxy, strerror(errno));
            return -1;
        }
    }
    if (!WIFEXITED(status)) {
        fprintf(stderr, "%s: %s was killed by signal %d\n", who, haproxy, WTERMSIG(status));
        return -1;
    }
    return WEXITSTATUS(status) == 0 ? 0 : 1;
}
