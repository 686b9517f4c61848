/*
 * unix_socket.h: the file bound has its mode from the start, a stale socket is replaced,
 * anything else at the path is left alone, and only our own file is removed at close.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unix_socket.h"

static char dir[64], path[128], victim[128];

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

static mode_t mode_of(const char *p)
{
    struct stat sb;

    ck_assert_int_eq(lstat(p, &sb), 0);
    return sb.st_mode;
}

START_TEST(mode_is_set_whatever_the_umask)
{
    static const mode_t modes[] = {0600, 0660};
    struct unix_owner o = {(uid_t)-1, (gid_t)-1, 0};
    struct unix_socket s;
    mode_t old = umask(0);

    for (size_t i = 0; i < 2; i++) {
        o.mode = modes[i];
        ck_assert_int_eq(unix_socket_listen(&s, path, 4, &o), 0);
        ck_assert(S_ISSOCK(mode_of(path)));
        ck_assert_uint_eq(mode_of(path) & 07777, modes[i]);
        unix_socket_close(&s, path);
        ck_assert_int_eq(access(path, F_OK), -1);
    }
    ck_assert_uint_eq(umask(old), 0); /* and the umask is given back */
}
END_TEST

START_TEST(stale_socket_is_replaced)
{
    struct unix_owner o = {(uid_t)-1, (gid_t)-1, 0600};
    struct unix_socket a, b;

    ck_assert_int_eq(unix_socket_listen(&a, path, 4, &o), 0);
    close(a.fd); /* a crashed run: the file stays */
    ck_assert_int_eq(unix_socket_listen(&b, path, 4, &o), 0);
    unix_socket_close(&b, path);
}
END_TEST

START_TEST(link_or_file_is_left_alone)
{
    struct unix_owner o = {(uid_t)-1, (gid_t)-1, 0600};
    struct unix_socket s;
    int fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "keep", 4), 4);
    close(fd);
    ck_assert_int_eq(symlink(victim, path), 0);
    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &o), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert(S_ISLNK(mode_of(path)));
    ck_assert(S_ISREG(mode_of(victim)));
    ck_assert_uint_eq(mode_of(victim) & 07777, 0644);
    unlink(path);
    ck_assert_int_eq(rename(victim, path), 0); /* a regular file at the path itself */
    ck_assert_int_eq(unix_socket_listen(&s, path, 4, &o), -1);
    ck_assert(S_ISREG(mode_of(path)));
}
END_TEST

START_TEST(close_removes_only_our_file)
{
    struct unix_owner o = {(uid_t)-1, (gid_t)-1, 0600};
    struct unix_socket a, b;

    ck_assert_int_eq(unix_socket_listen(&a, path, 4, &o), 0);
    /* Another process took the path over since: its socket is not ours to remove. */
    ck_assert_int_eq(unix_socket_listen(&b, path, 4, &o), 0);
    unix_socket_close(&a, path);
    ck_assert(S_ISSOCK(mode_of(path)));
    unix_socket_close(&b, path);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

static Suite *unix_socket_suite(void)
{
    Suite *s = suite_create("unix_socket");
    TCase *tc = tcase_create("unix_socket");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mode_is_set_whatever_the_umask);
    tcase_add_test(tc, stale_socket_is_replaced);
    tcase_add_test(tc, link_or_file_is_left_alone);
    tcase_add_test(tc, close_removes_only_our_file);
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
