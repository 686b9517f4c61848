/*
 * unix_socket.h, the one listener of the agent's unix sockets (SPOP, log feed, tunnels):
 * the file bound has its mode and owner from the start whatever the umask, a stale socket
 * is replaced but never a symlink, another kind of file or a socket still listened on,
 * and only our own file is ever removed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_socket.h"

static char dir[64], path[96], victim[96];
static const struct unix_owner self_only = {(uid_t)-1, (gid_t)-1, 0600};

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_unix_socket.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
}

static void teardown(void)
{
    unlink(path);
    unlink(victim);
    rmdir(dir);
}

static struct stat stat_of(const char *p)
{
    struct stat sb;

    ck_assert_int_eq(lstat(p, &sb), 0);
    return sb;
}

static mode_t mode_of(const char *p)
{
    return stat_of(p).st_mode;
}

/* A socket bound at `p` by someone else (listening or not); its fd. */
static int bind_at(const char *p, bool listening)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", p);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    if (listening)
        ck_assert_int_eq(listen(fd, 1), 0);
    return fd;
}

/* A regular file with known content and mode at `p`. */
static void make_file(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    ck_assert_int_eq(write(fd, "keep", 4), 4);
    close(fd);
}

START_TEST(mode_is_set_whatever_the_umask)
{
    static const mode_t modes[] = {0600, 0660};
    struct unix_owner o = self_only;
    struct unix_socket s;
    mode_t old = umask(0);

    for (size_t i = 0; i < 2; i++) {
        o.mode = modes[i];
        ck_assert_int_eq(unix_socket_listen(&s, path, 4, &o), 0);
        ck_assert(S_ISSOCK(mode_of(path)));
        ck_assert_uint_eq(mode_of(path) & 07777, modes[i]);
        unix_socket_close(&s);
        ck_assert_int_eq(s.fd, -1);
        ck_assert_int_eq(access(path, F_OK), -1);
    }
    ck_assert_uint_eq(umask(old), 0); /* and the umask is given back */
}
END_TEST

START_TEST(owner_is_set)
{
    /* As root (the agent started with -u), another user and group; as anyone else, our
     * own ids, given explicitly, still go through the chown. */
    uid_t uid = geteuid() == 0 ? 65534 : geteuid();
    gid_t gid = geteuid() == 0 ? 65534 : getegid();
    struct unix_owner o = {uid, gid, 0660};
    struct unix_socket s;

    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &o), 0);
    ck_assert_uint_eq(stat_of(path).st_uid, uid);
    ck_assert_uint_eq(stat_of(path).st_gid, gid);
    ck_assert_uint_eq(mode_of(path) & 07777, 0660);
    unix_socket_close(&s);
}
END_TEST

START_TEST(stale_socket_is_replaced)
{
    struct unix_socket a, b;

    ck_assert_int_eq(unix_socket_listen(&a, path, 4, &self_only), 0);
    close(a.fd); /* a crashed run: the file stays, nobody listens */
    ck_assert_int_eq(unix_socket_listen(&b, path, 4, &self_only), 0);
    ck_assert_uint_eq(stat_of(path).st_ino, b.ino);
    unix_socket_close(&b);
    close(bind_at(path, false)); /* a socket never listened on */
    ck_assert_int_eq(unix_socket_listen(&b, path, 4, &self_only), 0);
    unix_socket_close(&b);
}
END_TEST

START_TEST(live_socket_is_refused)
{
    struct unix_socket s;
    int other = bind_at(path, true);
    ino_t ino = stat_of(path).st_ino;

    /* Another agent still answers there (HAProxy talks to it): never take it over. */
    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &self_only), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    ck_assert_int_eq(s.fd, -1);
    ck_assert_uint_eq(stat_of(path).st_ino, ino);
    unix_socket_close(&s); /* a failed listen leaves nothing to remove */
    ck_assert(S_ISSOCK(mode_of(path)));
    close(other);
}
END_TEST

START_TEST(link_or_file_is_left_alone)
{
    struct unix_socket s;

    make_file(victim);
    ck_assert_int_eq(symlink(victim, path), 0);
    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &self_only), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert(S_ISLNK(mode_of(path)));
    ck_assert(S_ISREG(mode_of(victim)));
    ck_assert_uint_eq(mode_of(victim) & 07777, 0644);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rename(victim, path), 0); /* a regular file at the path itself */
    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &self_only), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert(S_ISREG(mode_of(path)));
}
END_TEST

START_TEST(newer_socket_is_not_removed)
{
    struct unix_socket s;
    int newer;

    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &self_only), 0);
    /* A newer agent took the path over while this one still listens. */
    ck_assert_int_eq(unlink(path), 0);
    newer = bind_at(path, true);
    unix_socket_unlink(&s);
    ck_assert(S_ISSOCK(mode_of(path)));
    unix_socket_close(&s);
    ck_assert(S_ISSOCK(mode_of(path)));
    close(newer);
}
END_TEST

START_TEST(unlink_then_close)
{
    struct unix_socket s;

    /* The SPOP and log-feed acceptors close the fd themselves: unlink alone, and again. */
    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &self_only), 0);
    unix_socket_unlink(&s);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_ge(fcntl(s.fd, F_GETFD), 0); /* the fd is left to its owner */
    unix_socket_unlink(&s);
    unix_socket_close(&s);
    ck_assert_int_eq(s.fd, -1);
    unix_socket_close(&s);
}
END_TEST

START_TEST(too_long_path_is_refused)
{
    char longp[CONF_SOCKET_PATH_MAX + 1];
    struct unix_socket s;

    /* One byte too many: sun_path has no room left for its NUL. */
    memset(longp, 'a', CONF_SOCKET_PATH_MAX);
    longp[0] = '/';
    longp[CONF_SOCKET_PATH_MAX] = '\0';
    ck_assert_int_eq(unix_socket_listen(&s, longp, 4, &self_only), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
    ck_assert_int_eq(s.fd, -1);
}
END_TEST

static Suite *unix_socket_suite(void)
{
    Suite *s = suite_create("unix_socket");
    TCase *tc = tcase_create("unix_socket");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mode_is_set_whatever_the_umask);
    tcase_add_test(tc, owner_is_set);
    tcase_add_test(tc, stale_socket_is_replaced);
    tcase_add_test(tc, live_socket_is_refused);
    tcase_add_test(tc, link_or_file_is_left_alone);
    tcase_add_test(tc, newer_socket_is_not_removed);
    tcase_add_test(tc, unlink_then_close);
    tcase_add_test(tc, too_long_path_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(unix_socket_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
