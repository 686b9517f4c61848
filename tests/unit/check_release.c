/*
 * llmproxy-ctl apply's building blocks: version folder names, the live link and its swap,
 * pruning, comparing two versions, and naming a process by PID or pidfile.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_tree.h"
#include "pidref.h"
#include "release.h"
#include "release_diff.h"

static char tmp[] = "/tmp/check_release.XXXXXX";
static char live[PATH_MAX];

static void setup(void)
{
    strcpy(tmp, "/tmp/check_release.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(live, sizeof(live), "%s/live", tmp);
}

static void teardown(void)
{
    fs_remove_tree(tmp);
}

static bool exists(const char *name)
{
    char path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    return access(path, F_OK) == 0;
}

static const char *link_target(void)
{
    static char target[PATH_MAX];
    ssize_t n = readlink(live, target, sizeof(target) - 1);

    if (n < 0)
        return "";
    target[n] = '\0';
    return target;
}

/* One apply's worth of steps: open, scan, create, activate; returns the new version. */
static unsigned make_version(struct release_dir *rd)
{
    char err[RELEASE_ERR_SIZE];
    unsigned v = 0;

    ck_assert_msg(release_open(rd, live, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(release_scan(rd, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(release_create(rd, &v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(release_activate(rd, v, err, sizeof(err)) == 0, "%s", err);
    return v;
}

START_TEST(parse_accepts_only_canonical_versions)
{
    ck_assert_uint_eq(release_parse("live", "live.1"), 1);
    ck_assert_uint_eq(release_parse("live", "live.42"), 42);
    ck_assert_uint_eq(release_parse("live", "live.999999999"), RELEASE_MAX);
    ck_assert_uint_eq(release_parse("live", "live"), 0);
    ck_assert_uint_eq(release_parse("live", "live."), 0);
    ck_assert_uint_eq(release_parse("live", "live.0"), 0);
    ck_assert_uint_eq(release_parse("live", "live.07"), 0);
    ck_assert_uint_eq(release_parse("live", "live.-1"), 0);
    ck_assert_uint_eq(release_parse("live", "live.1x"), 0);
    ck_assert_uint_eq(release_parse("live", "live.1000000000"), 0);
    ck_assert_uint_eq(release_parse("live", "live.link.tmp"), 0);
    ck_assert_uint_eq(release_parse("live", "lively.3"), 0);
    ck_assert_uint_eq(release_parse("live", "other.3"), 0);
    ck_assert_uint_eq(release_parse("a.b", "a.b.3"), 3);
}
END_TEST

START_TEST(prunable_keeps_live_and_previous)
{
    ck_assert(!release_prunable(0, 5, 4));
    ck_assert(!release_prunable(5, 5, 4));
    ck_assert(!release_prunable(4, 5, 4));
    ck_assert(release_prunable(3, 5, 4));
    ck_assert(release_prunable(6, 5, 4)); /* a leftover of a failed apply */
    ck_assert(release_prunable(4, 5, 0)); /* first apply: nothing to keep */
}
END_TEST

START_TEST(open_splits_and_makes_absolute)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE], path[RELEASE_PATH_SIZE], cwd[PATH_MAX];

    ck_assert_msg(release_open(&rd, live, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(rd.base, "live");
    ck_assert_str_eq(rd.parent, tmp);
    ck_assert_int_eq(release_path(&rd, 3, path, sizeof(path)), 0);
    ck_assert_str_eq(path + strlen(tmp), "/live.3");

    /* Relative and with trailing slashes: the same instance. */
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(tmp), 0);
    ck_assert_msg(release_open(&rd, "live//", err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(release_live_path(&rd, path, sizeof(path)), 0);
    ck_assert_str_eq(path, live);

    ck_assert_int_eq(release_open(&rd, "/tmp/..", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "name the live folder"));
    ck_assert_int_eq(release_open(&rd, "/nonexistent-parent/live", err, sizeof(err)), -1);
}
END_TEST

START_TEST(first_apply_creates_the_link)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE];

    ck_assert_int_eq(release_open(&rd, live, err, sizeof(err)), 0);
    ck_assert_int_eq(release_scan(&rd, err, sizeof(err)), 0);
    ck_assert_uint_eq(rd.live, 0);
    ck_assert_uint_eq(make_version(&rd), 1);
    ck_assert_str_eq(link_target(), "live.1");
    ck_assert(exists("live.1"));
    ck_assert(!exists("live.link.tmp"));
}
END_TEST

START_TEST(versions_grow_and_prune_to_two)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE];
    unsigned previous;

    make_version(&rd);
    make_version(&rd);
    ck_assert_int_eq(mkdir(strcat(strcpy(err, tmp), "/live.notours"), 0755), 0);
    ck_assert_int_eq(release_open(&rd, live, err, sizeof(err)), 0);
    ck_assert_int_eq(release_scan(&rd, err, sizeof(err)), 0);
    ck_assert_uint_eq(rd.live, 2);
    ck_assert_uint_eq(rd.newest, 2);
    previous = rd.live;
    ck_assert_uint_eq(make_version(&rd), 3);
    ck_assert_str_eq(link_target(), "live.3");
    ck_assert_int_eq(release_prune(&rd, previous, err, sizeof(err)), 1);
    ck_assert(!exists("live.1"));
    ck_assert(exists("live.2"));
    ck_assert(exists("live.3"));
    ck_assert(exists("live.notours"));
}
END_TEST

START_TEST(a_failed_version_is_skipped_not_reused)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE];
    unsigned v;

    make_version(&rd);
    ck_assert_int_eq(release_create(&rd, &v, err, sizeof(err)), 0);
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(release_remove(&rd, v, err, sizeof(err)), 0);
    ck_assert(!exists("live.2"));
    ck_assert_str_eq(link_target(), "live.1");
    /* A leftover folder (an apply that died) is never filled again. */
    ck_assert_int_eq(mkdir(strcat(strcpy(err, tmp), "/live.7"), 0755), 0);
    ck_assert_uint_eq(make_version(&rd), 8);
}
END_TEST

START_TEST(foreign_live_paths_are_refused)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE];

    ck_assert_int_eq(mkdir(live, 0755), 0); /* what `render -o live` leaves */
    ck_assert_int_eq(release_open(&rd, live, err, sizeof(err)), 0);
    ck_assert_int_eq(release_scan(&rd, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is not a link made by apply"));
    ck_assert_int_eq(rmdir(live), 0);

    ck_assert_int_eq(symlink("/etc", live), 0);
    ck_assert_int_eq(release_scan(&rd, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not to a version made by apply"));
}
END_TEST

START_TEST(the_lock_is_exclusive)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE];
    int fd, fd2;

    ck_assert_int_eq(release_open(&rd, live, err, sizeof(err)), 0);
    fd = release_lock(&rd, err, sizeof(err));
    ck_assert_int_ge(fd, 0);
    fd2 = release_lock(&rd, err, sizeof(err));
    ck_assert_int_eq(fd2, -1);
    ck_assert_ptr_nonnull(strstr(err, "another apply is running"));
    close(fd);
    fd2 = release_lock(&rd, err, sizeof(err));
    ck_assert_int_ge(fd2, 0);
    close(fd2);
}
END_TEST

START_TEST(pid_text_is_strict)
{
    pid_t pid = 0;

    ck_assert_int_eq(pidref_parse("1234", &pid), 0);
    ck_assert_int_eq(pid, 1234);
    ck_assert_int_eq(pidref_parse("4321\n", &pid), 0);
    ck_assert_int_eq(pid, 4321);
    ck_assert_int_eq(pidref_parse("", &pid), -1);
    ck_assert_int_eq(pidref_parse("0", &pid), -1);
    ck_assert_int_eq(pidref_parse("1", &pid), -1);
    ck_assert_int_eq(pidref_parse("-5", &pid), -1);
    ck_assert_int_eq(pidref_parse("12 34", &pid), -1);
    ck_assert_int_eq(pidref_parse("123abc", &pid), -1);
    ck_assert_int_eq(pidref_parse("99999999999999999999", &pid), -1);
}
END_TEST

START_TEST(pid_refs_resolve_to_running_processes)
{
    char err[256], path[PATH_MAX + 16], arg[32];
    pid_t pid = 0;
    FILE *f;

    snprintf(arg, sizeof(arg), "%ld", (long)getpid());
    ck_assert_msg(pidref_resolve("test", arg, &pid, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(pid, getpid());

    snprintf(path, sizeof(path), "%s/x.pid", tmp);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    pid = 0;
    ck_assert_msg(pidref_resolve("test", path, &pid, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(pid, getpid());

    ck_assert_int_eq(pidref_resolve("HAProxy", "/nonexistent.pid", &pid, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "HAProxy pidfile /nonexistent.pid"));

    f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    ck_assert_int_eq(pidref_resolve("test", path, &pid, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "does not hold a process id"));

    /* Above PID_MAX_LIMIT: no such process can exist. */
    ck_assert_int_eq(pidref_resolve("agent", "4194305", &pid, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not running"));
}
END_TEST

static bool same(const char *a, const char *a_dir, const char *b, const char *b_dir)
{
    return release_same_text(a, strlen(a), a_dir, b, strlen(b), b_dir);
}

START_TEST(same_text_reads_each_versions_folder_as_one_word)
{
    ck_assert(same("", "/x/live.1", "", "/x/live.2"));
    ck_assert(same("errorfile 503 \"/x/live.1/errors/503.http\"\n", "/x/live.1",
                   "errorfile 503 \"/x/live.12/errors/503.http\"\n", "/x/live.12"));
    ck_assert(same("/x/live.1/a /x/live.1/b", "/x/live.1", "/x/live.2/a /x/live.2/b", "/x/live.2"));
    /* The live link's path is the same in both, and not a version folder. */
    ck_assert(same("map(/x/live/maps/c.map)", "/x/live.1", "map(/x/live/maps/c.map)", "/x/live.2"));
    ck_assert(
        !same("/x/live.1/errors/503.http", "/x/live.1", "/x/live.2/errors/504.http", "/x/live.2"));
    /* Only the folder followed by '/' is its name: "live.12" is not "live.1" + "2". */
    ck_assert(!same("/x/live.12/e", "/x/live.1", "/x/live.22/e", "/x/live.2"));
    ck_assert(!same("/x/live.1", "/x/live.1", "/x/live.2", "/x/live.2"));
    ck_assert(!same("/x/live.1/e", "/x/live.1", "/x/live.1/e", "/x/live.2"));
    ck_assert(!same("abc", "/x/live.1", "abcd", "/x/live.2"));
    ck_assert(!same("abcd", "/x/live.1", "abc", "/x/live.2"));
}
END_TEST

/* Write `text` to `<tmp>/live.<v>/<rel>`, creating the folders. */
static void put(unsigned v, const char *rel, const char *text)
{
    char path[PATH_MAX + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/live.%u", tmp, v);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/live.%u/maps", tmp, v);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/live.%u/%s", tmp, v, rel);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Two versions alike: haproxy.cfg naming its own folder, a map, the config copy. */
static void put_version(unsigned v, const char *map, const char *config)
{
    char cfg[PATH_MAX + 128];

    snprintf(cfg, sizeof(cfg), "errorfile 503 \"%s/live.%u/errors/503.http\"\nmap(%s/live/%s)\n",
             tmp, v, tmp, "maps/clients_main.map");
    put(v, "haproxy.cfg", cfg);
    put(v, "maps/clients_main.map", map);
    put(v, "config.yaml", config);
}

static int compare(unsigned from, unsigned to, struct release_maps *maps)
{
    struct release_dir rd;
    char err[RELEASE_ERR_SIZE];
    int rc;

    ck_assert_msg(release_open(&rd, live, err, sizeof(err)) == 0, "%s", err);
    rc = release_compare(&rd, from, to, "config.yaml", "maps", maps, err, sizeof(err));
    ck_assert_msg(rc >= 0, "%s", err);
    return rc;
}

START_TEST(compare_tells_maps_only_from_other_changes)
{
    struct release_maps maps;

    put_version(1, "aaa alice\n", "a: 1\n");
    put_version(2, "aaa alice\n", "a: 2\n"); /* only the agent's copy differs */
    ck_assert_int_eq(compare(1, 2, &maps), RELEASE_SAME);
    ck_assert_uint_eq(maps.n, 0);

    put_version(3, "bbb bob\n", "a: 3\n");
    ck_assert_int_eq(compare(2, 3, &maps), RELEASE_MAPS_ONLY);
    ck_assert_uint_eq(maps.n, 1);
    ck_assert_str_eq(maps.path[0], "maps/clients_main.map");
    release_maps_free(&maps);
    ck_assert_ptr_null(maps.path);

    /* A map more (a forward gained client_auth) changes haproxy.cfg too, but on its own
     * it is a change as well: the running HAProxy does not know that map. */
    put_version(4, "bbb bob\n", "a: 4\n");
    put(4, "maps/clients_other.map", "ccc carol\n");
    ck_assert_int_eq(compare(3, 4, &maps), RELEASE_CHANGED);
    ck_assert_uint_eq(maps.n, 0);

    put_version(5, "ccc carol\n", "a: 5\n");
    put(5, "haproxy.cfg", "something else\n");
    ck_assert_int_eq(compare(3, 5, &maps), RELEASE_CHANGED);
    ck_assert_uint_eq(maps.n, 0);
}
END_TEST

static Suite *release_suite(void)
{
    Suite *s = suite_create("release");
    TCase *names = tcase_create("names");
    TCase *dirs = tcase_create("folders");
    TCase *pids = tcase_create("pids");

    tcase_add_test(names, parse_accepts_only_canonical_versions);
    tcase_add_test(names, prunable_keeps_live_and_previous);
    tcase_add_test(names, same_text_reads_each_versions_folder_as_one_word);
    tcase_add_checked_fixture(dirs, setup, teardown);
    tcase_add_test(dirs, open_splits_and_makes_absolute);
    tcase_add_test(dirs, first_apply_creates_the_link);
    tcase_add_test(dirs, versions_grow_and_prune_to_two);
    tcase_add_test(dirs, a_failed_version_is_skipped_not_reused);
    tcase_add_test(dirs, foreign_live_paths_are_refused);
    tcase_add_test(dirs, the_lock_is_exclusive);
    tcase_add_test(dirs, compare_tells_maps_only_from_other_changes);
    tcase_add_checked_fixture(pids, setup, teardown);
    tcase_add_test(pids, pid_text_is_strict);
    tcase_add_test(pids, pid_refs_resolve_to_running_processes);
    suite_add_tcase(s, names);
    suite_add_tcase(s, dirs);
    suite_add_tcase(s, pids);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(release_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
