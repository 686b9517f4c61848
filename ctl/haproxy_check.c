/*
 * Running the HAProxy binary: `haproxy -c` on a rendered configuration, so that what passes
 * is what HAProxy will load, including the environment references it expands itself; and
 * `haproxy -v`, to render for the release that will load the files.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf_haproxy_version.h"
#include "haproxy_check.h"

extern char **environ;

/* The first line of `haproxy -v` is short; the rest (its site and status) is not read. */
#define VERSION_LINE_MAX 256

static const char *haproxy_path(void)
{
    const char *haproxy = getenv("HAPROXY");

    return haproxy && haproxy[0] ? haproxy : "haproxy";
}

/* Read `fd` to its end, so that the writer never blocks on a full pipe, keeping the first
 * out_size - 1 bytes in `out`, NUL-terminated. */
static void read_all(int fd, char *out, size_t out_size)
{
    char chunk[512];
    size_t len = 0, keep;
    ssize_t n;

    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        keep = out_size - 1 - len < (size_t)n ? out_size - 1 - len : (size_t)n;
        memcpy(out + len, chunk, keep);
        len += keep;
    }
    out[len] = '\0';
}

/*
 * Run `<haproxy> <arg1> [<arg2> <arg3>]`. With `out`, its standard output goes there (at
 * most out_size - 1 bytes are kept, NUL-terminated) instead of ours. Returns its exit
 * status, or -1 after saying on stderr why it could not be run.
 */
static int run_haproxy(const char *who, char *arg1, char *arg2, char *arg3, char *out,
                       size_t out_size)
{
    const char *haproxy = haproxy_path();
    char *argv[] = {(char *)haproxy, arg1, arg2, arg3, NULL};
    posix_spawn_file_actions_t actions, *fa = NULL;
    int pipe_fd[2] = {-1, -1}, status, err;
    pid_t pid;

    fflush(stdout); /* our lines before HAProxy's */
    fflush(stderr);
    if (out) {
        if (pipe(pipe_fd) < 0) {
            fprintf(stderr, "%s: pipe: %s\n", who, strerror(errno));
            return -1;
        }
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_fd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, pipe_fd[0]);
        fa = &actions;
    }
    err = posix_spawnp(&pid, haproxy, fa, NULL, argv, environ);
    if (fa) {
        posix_spawn_file_actions_destroy(fa);
        close(pipe_fd[1]);
    }
    if (err) {
        if (out)
            close(pipe_fd[0]);
        fprintf(stderr, "%s: cannot run %s: %s (set HAPROXY to its path)\n", who, haproxy,
                strerror(err));
        return -1;
    }
    if (out) {
        read_all(pipe_fd[0], out, out_size);
        close(pipe_fd[0]);
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
    return WEXITSTATUS(status);
}

int haproxy_check(const char *who, const char *cfg_path)
{
    int rc = run_haproxy(who, "-c", "-f", (char *)cfg_path, NULL, 0);

    return rc < 0 ? -1 : rc == 0 ? 0 : 1;
}

int haproxy_binary_version(const char *who, struct conf_haproxy_version *v)
{
    /* "HAProxy version 3.2.0-e134140d2 2025/05/28 ..."; 2.x wrote "HA-Proxy version". */
    static const char *const prefixes[] = {"HAProxy version ", "HA-Proxy version "};
    char line[VERSION_LINE_MAX];
    int rc = run_haproxy(who, "-v", NULL, NULL, line, sizeof(line));

    if (rc < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);

        if (strncmp(line, prefixes[i], n) == 0 && conf_haproxy_version_parse(line + n, v))
            return 0;
    }
    fprintf(stderr, "%s: %s -v did not print an HAProxy version\n", who, haproxy_path());
    return -1;
}
