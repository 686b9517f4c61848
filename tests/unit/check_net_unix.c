/*
 * The agent's unix socket listeners (net_listen_unix): created with their mode whatever
 * the umask, a stale socket replaced but never a symlink, another kind of file or a live
 * socket, and removed at exit only while the file is still the one bound.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"

static char dir[64], path[96];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_net_unix.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/agent.sock", dir);
}

static void teardown(void)
{
    char other[160];

    snprintf(other, sizeof(other), "%s/target", dir);
    unlink(path);
    unlink(other);
    rmdir(dir);
}

/* A unix socket bound at `p` (listening or not); its fd. */
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

static mode_t mode_of(const char *p)
{
    struct stat sb;

    ck_assert_int_eq(lstat(p, &sb), 0);
    return sb.st_mode;
}

START_TEST(mode_whatever_the_umask)
{
    struct net_unix u;
    mode_t old = umask(0);
    int fd = net_listen_unix(path, NET_UNIX_MODE, 8, &u);
    mode_t after = umask(old);

    ck_assert_uint_eq(after, 0); /* the process umask is back as it was */
    ck_assert_int_ge(fd, 0);
    ck_assert(S_ISSOCK(mode_of(path)));
    ck_assert_uint_eq(mode_of(path) & 07777, 0660);
    net_unix_remove(&u);
    close(fd);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(stale_socket_replaced)
{
    struct net_unix u;
    int fd;

    close(bind_at(path, false)); /* an earlier run that died: the file stays */
    fd = net_listen_unix(path, NET_UNIX_MODE, 8, &u);
    ck_assert_int_ge(fd, 0);
    net_unix_remove(&u);
    close(fd);
}
END_TEST

START_TEST(live_socket_refused)
{
    struct net_unix u;
    int other = bind_at(path, true);

    ck_assert_int_eq(net_listen_unix(path, NET_UNIX_MODE, 8, &u), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    ck_assert(S_ISSOCK(mode_of(path)));
    close(other);
}
END_TEST

START_TEST(symlink_refused)
{
    char target[160];
    struct net_unix u;
    int fd;

    snprintf(target, sizeof(target), "%s/target", dir);
    fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "keep", 4), 4);
    close(fd);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_eq(net_listen_unix(path, NET_UNIX_MODE, 8, &u), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert(S_ISLNK(mode_of(path)));
    ck_assert(S_ISREG(mode_of(target)));
    ck_assert_uint_eq(mode_of(target) & 07777, 0600);
}
END_TEST

START_TEST(other_file_refused)
{
    struct net_unix u;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(net_listen_unix(path, NET_UNIX_MODE, 8, &u), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert(S_ISREG(mode_of(path)));
}
END_TEST

START_TEST(remove_leaves_a_newer_socket)
{
    struct net_unix u;
    int fd = net_listen_unix(path, NET_UNIX_MODE, 8, &u), newer;

    ck_assert_int_ge(fd, 0);
    /* Someone put another socket there while this one still listens. */
    ck_assert_int_eq(unlink(path), 0);
    newer = bind_at(path, true);
    net_unix_remove(&u);
    ck_assert(S_ISSOCK(mode_of(path)));
    close(newer);
    close(fd);
}
END_TEST

START_TEST(too_long_refused)
{
    char longp[CONF_SOCKET_PATH_MAX + 8];
    struct net_unix u;

    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_int_eq(net_listen_unix(longp, NET_UNIX_MODE, 8, &u), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

static Suite *net_unix_suite(void)
{
    Suite *s = suite_create("net_unix");
    TCase *tc = tcase_create("listen");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mode_whatever_the_umask);
    tcase_add_test(tc, stale_socket_replaced);
    tcase_add_test(tc, live_socket_refused);
    tcase_add_test(tc, symlink_refused);
    tcase_add_test(tc, other_file_refused);
    tcase_add_test(tc, remove_leaves_a_newer_socket);
    tcase_add_test(tc, too_long_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_unix_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
