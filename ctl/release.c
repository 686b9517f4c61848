/*
 * Versioned configuration folders behind one live symbolic link.
 *
 * Layout, for `-o /etc/llmproxy/live`:
 *
 *     /etc/llmproxy/live -> live.7     the link HAProxy and the agent are started with
 *     /etc/llmproxy/live.7/            the running version
 *     /etc/llmproxy/live.6/            the previous one, kept for rollback
 *     /etc/llmproxy/.live.lock         held while an apply runs
 *
 * Numbers only grow, so a version folder is never reused: its absolute path, which the
 * rendered haproxy.cfg names, always means the same files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_tree.h"
#include "release.h"

/* Suffix of the link written beside LIVE before it is renamed over it. */
#define RELEASE_LINK_TMP ".link.tmp"

unsigned release_parse(const char *base, const char *name)
{
    size_t blen = strlen(base);
    unsigned long v = 0;
    const char *p;

    if (strncmp(name, base, blen) != 0 || name[blen] != '.')
        return 0;
    p = name + blen + 1;
    if (*p < '1' || *p > '9')
        return 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > RELEASE_MAX)
            return 0;
    }
    return (unsigned)v;
}

bool release_prunable(unsigned v, unsigned live, unsigned previous)
{
    return v != 0 && v != live && v != previous;
}

/* The folder itself, for the calls that open it. */
static const char *parent_dir(const struct release_dir *rd)
{
    return rd->parent[0] ? rd->parent : "/";
}

int release_live_path(const struct release_dir *rd, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", rd->parent, rd->base);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int release_path(const struct release_dir *rd, unsigned v, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s.%u", rd->parent, rd->base, v);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int split_path(struct release_dir *rd, const char *path, char *err, size_t err_size)
{
    char parent[PATH_MAX];
    size_t len = strlen(path);
    const char *slash;
    size_t plen, blen;

    while (len > 1 && path[len - 1] == '/')
        len--;
    slash = memrchr(path, '/', len);
    plen = slash ? (size_t)(slash - path) : 0;
    blen = slash ? len - plen - 1 : len;
    if (blen == 0 || (blen == 1 && path[len - 1] == '.') ||
        (blen == 2 && memcmp(path + len - 2, "..", 2) == 0)) {
        snprintf(err, err_size, "%s: name the live folder itself (e.g. /etc/llmproxy/live)", path);
        return -1;
    }
    /* Room for ".<version>" and the temporary link's suffix after the name. */
    if (blen + 16 > sizeof(rd->base) || plen + blen + 32 > sizeof(rd->parent)) {
        snprintf(err, err_size, "%s: path too long", path);
        return -1;
    }
    memcpy(rd->base, path + len - blen, blen);
    rd->base[blen] = '\0';
    if (!slash) {
        strcpy(parent, ".");
    } else if (plen == 0) {
        strcpy(parent, "/");
    } else {
        memcpy(parent, path, plen);
        parent[plen] = '\0';
    }
    /* Absolute, so the instance is named the same from any working folder. */
    if (!realpath(parent, rd->parent)) {
        snprintf(err, err_size, "%s: %s", parent, strerror(errno));
        return -1;
    }
    if (strlen(rd->parent) + blen + 32 > sizeof(rd->parent)) {
        snprintf(err, err_size, "%s: path too long", path);
        return -1;
    }
    if (strcmp(rd->parent, "/") == 0) /* "//live" would name a different instance */
        rd->parent[0] = '\0';
    return 0;
}

int release_scan(struct release_dir *rd, char *err, size_t err_size)
{
    char live_path[RELEASE_PATH_SIZE], target[NAME_MAX + 2];
    struct dirent *de;
    struct stat st;
    ssize_t n;
    DIR *d;

    rd->live = rd->newest = 0;
    release_live_path(rd, live_path, sizeof(live_path));
    if (lstat(live_path, &st) == 0) {
        if (!S_ISLNK(st.st_mode)) {
            snprintf(err, err_size,
                     "%s exists and is not a link made by apply; move it away or choose another "
                     "-o (apply keeps %s as a link to versioned folders %s.<n>)",
                     live_path, live_path, rd->base);
            return -1;
        }
        n = readlink(live_path, target, sizeof(target) - 1);
        if (n < 0) {
            snprintf(err, err_size, "%s: %s", live_path, strerror(errno));
            return -1;
        }
        target[n] = '\0';
        rd->live = release_parse(rd->base, target);
        if (!rd->live) {
            snprintf(err, err_size,
                     "%s links to '%s', not to a version made by apply (%s.<n> beside it)",
                     live_path, target, rd->base);
            return -1;
        }
    } else if (errno != ENOENT) {
        snprintf(err, err_size, "%s: %s", live_path, strerror(errno));
        return -1;
    }
    d = opendir(parent_dir(rd));
    if (!d) {
        snprintf(err, err_size, "%s: %s", parent_dir(rd), strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        unsigned v = release_parse(rd->base, de->d_name);

        if (v > rd->newest)
            rd->newest = v;
    }
    closedir(d);
    if (rd->live > rd->newest) /* the link is dangling: its folder was removed by hand */
        rd->newest = rd->live;
    return 0;
}

int release_open(struct release_dir *rd, const char *live_path, char *err, size_t err_size)
{
    memset(rd, 0, sizeof(*rd));
    return split_path(rd, live_path, err, err_size);
}

int release_lock(const struct release_dir *rd, char *err, size_t err_size)
{
    char path[RELEASE_PATH_SIZE];
    int fd;

    snprintf(path, sizeof(path), "%s/.%s.lock", rd->parent, rd->base);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, err_size, "%s: %s", path,
                 errno == EWOULDBLOCK ? "another apply is running" : strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int release_create(struct release_dir *rd, unsigned *v, char *err, size_t err_size)
{
    char path[RELEASE_PATH_SIZE];

    if (rd->newest >= RELEASE_MAX) {
        snprintf(err, err_size, "%s/%s: no version number left", parent_dir(rd), rd->base);
        return -1;
    }
    *v = rd->newest + 1;
    if (release_path(rd, *v, path, sizeof(path)) < 0) {
        snprintf(err, err_size, "%s/%s: path too long", parent_dir(rd), rd->base);
        return -1;
    }
    /* EEXIST too is an error: a folder we did not see in the scan is not ours to fill. */
    if (mkdir(path, 0755) < 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    rd->newest = *v;
    return 0;
}

/* Make a rename in the parent folder durable before anyone is told about it. */
static void sync_parent(const struct release_dir *rd)
{
    int fd = open(parent_dir(rd), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int release_activate(struct release_dir *rd, unsigned v, char *err, size_t err_size)
{
    char live[RELEASE_PATH_SIZE], tmp[RELEASE_PATH_SIZE + sizeof(RELEASE_LINK_TMP)];
    char target[NAME_MAX + 16];

    release_live_path(rd, live, sizeof(live));
    snprintf(tmp, sizeof(tmp), "%s%s", live, RELEASE_LINK_TMP);
    snprintf(target, sizeof(target), "%s.%u", rd->base, v);
    unlink(tmp); /* left by an apply that died between the two steps */
    if (symlink(target, tmp) < 0) {
        snprintf(err, err_size, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (rename(tmp, live) < 0) {
        snprintf(err, err_size, "%s: %s", live, strerror(errno));
        unlink(tmp);
        return -1;
    }
    sync_parent(rd);
    rd->live = v;
    return 0;
}

int release_remove(const struct release_dir *rd, unsigned v, char *err, size_t err_size)
{
    char path[RELEASE_PATH_SIZE];

    if (release_path(rd, v, path, sizeof(path)) < 0 || fs_remove_tree(path) < 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int release_prune(const struct release_dir *rd, unsigned previous, char *err, size_t err_size)
{
    struct dirent *de;
    int removed = 0;
    DIR *d;

    d = opendir(parent_dir(rd));
    if (!d) {
        snprintf(err, err_size, "%s: %s", parent_dir(rd), strerror(errno));
        return -1;
    }
    /* Removing entries while reading the folder is allowed; an entry seen twice is found
     * gone the second time, which is not an error. */
    while ((de = readdir(d))) {
        unsigned v = release_parse(rd->base, de->d_name);

        if (!release_prunable(v, rd->live, previous))
            continue;
        if (release_remove(rd, v, err, err_size) < 0) {
            removed = -1;
            break;
        }
        removed++;
    }
    closedir(d);
    return removed;
}
