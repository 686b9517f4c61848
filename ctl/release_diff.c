#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "release.h"
#include "release_diff.h"

/* Largest file compared: haproxy.cfg of thousands of upstreams stays far below. */
#define DIFF_FILE_MAX (64u << 20)

/* The relative paths of the files in a version folder, sorted. */
struct file_list {
    char **path;
    size_t n, cap;
    bool odd; /* something neither a file nor a folder: never taken as unchanged */
};

static void list_free(struct file_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->path[i]);
    free(l->path);
    *l = (struct file_list){0};
}

static int list_add(struct file_list *l, const char *rel)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **grown = realloc(l->path, cap * sizeof(*grown));

        if (!grown)
            return -1;
        l->path = grown;
        l->cap = cap;
    }
    if (!(l->path[l->n] = strdup(rel)))
        return -1;
    l->n++;
    return 0;
}

/* Add every file under `root`/`rel` ("" for root itself), depth first. */
static int walk(const char *root, const char *rel, struct file_list *l)
{
    char path[RELEASE_PATH_SIZE], sub[RELEASE_PATH_SIZE];
    struct dirent *de;
    struct stat st;
    int rc = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
    if (!(d = opendir(path)))
        return -1;
    while (rc == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
                sizeof(sub) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", root, sub) >= sizeof(path)) {
            errno = ENAMETOOLONG;
            rc = -1;
        } else if (lstat(path, &st) < 0)
            rc = -1;
        else if (S_ISDIR(st.st_mode))
            rc = walk(root, sub, l);
        else if (S_ISREG(st.st_mode))
            rc = list_add(l, sub);
        else
            l->odd = true;
    }
    closedir(d);
    return rc;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *release_read_file(const char *root, const char *rel, size_t *len)
{
    char path[RELEASE_PATH_SIZE];
    struct stat st;
    char *buf = NULL;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0) {
        /* errno says why */
    } else if ((size_t)st.st_size > DIFF_FILE_MAX) {
        errno = EFBIG;
    } else if ((buf = malloc((size_t)st.st_size + 1))) {
        *len = 0;
        while (buf && *len < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + *len, (size_t)st.st_size - *len);

            if (n <= 0) { /* shrank while read, or failed: not a file to trust */
                errno = n == 0 ? EIO : errno;
                free(buf);
                buf = NULL;
            } else {
                *len += (size_t)n;
            }
        }
    }
    close(fd);
    return buf;
}

bool release_same_text(const char *a, size_t a_len, const char *a_dir, const char *b, size_t b_len,
                       const char *b_dir)
{
    size_t adl = strlen(a_dir), bdl = strlen(b_dir), i = 0, j = 0;

    while (i < a_len && j < b_len) {
        if (a[i] == '/' || b[j] == '/') { /* both folders are absolute */
            bool at_a = a_len - i > adl && memcmp(a + i, a_dir, adl) == 0 && a[i + adl] == '/';
            bool at_b = b_len - j > bdl && memcmp(b + j, b_dir, bdl) == 0 && b[j + bdl] == '/';

            if (at_a != at_b) /* a version's own folder on one side only */
                return false;
            if (at_a) {
                i += adl;
                j += bdl;
                continue;
            }
        }
        if (a[i] != b[j])
            return false;
        i++;
        j++;
    }
    return i == a_len && j == b_len;
}

/* Whether `rel` lies in the folder `dir` (a name in the version folder). */
static bool under(const char *rel, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(rel, dir, n) == 0 && rel[n] == '/';
}

static int maps_add(struct release_maps *maps, const char *rel)
{
    char **grown = realloc(maps->path, (maps->n + 1) * sizeof(*grown));

    if (!grown)
        return -1;
    maps->path = grown;
    if (!(maps->path[maps->n] = strdup(rel)))
        return -1;
    maps->n++;
    return 0;
}

/* Compare one file present in both versions; adds it to `maps` if a changed map. */
static int compare_file(const char *from_dir, const char *to_dir, const char *rel,
                        const char *maps_dir, struct release_maps *maps, char *err, size_t err_size)
{
    size_t a_len = 0, b_len = 0;
    char *a = release_read_file(from_dir, rel, &a_len);
    char *b = a ? release_read_file(to_dir, rel, &b_len) : NULL;
    int rc = RELEASE_SAME;

    if (!a || !b) {
        snprintf(err, err_size, "%s/%s: %s", a ? to_dir : from_dir, rel, strerror(errno));
        rc = -1;
    } else if (under(rel, maps_dir)) {
        if (a_len != b_len || memcmp(a, b, a_len) != 0)
            rc = maps_add(maps, rel) < 0 ? -1 : RELEASE_MAPS_ONLY;
        if (rc < 0)
            snprintf(err, err_size, "out of memory");
    } else if (!release_same_text(a, a_len, from_dir, b, b_len, to_dir)) {
        rc = RELEASE_CHANGED;
    }
    free(a);
    free(b);
    return rc;
}

int release_compare(const struct release_dir *rd, unsigned from, unsigned to, const char *skip,
                    const char *maps_dir, struct release_maps *maps, char *err, size_t err_size)
{
    char from_dir[RELEASE_PATH_SIZE], to_dir[RELEASE_PATH_SIZE];
    struct file_list a = {0}, b = {0};
    int rc = RELEASE_SAME;
    size_t i;

    *maps = (struct release_maps){0};
    release_path(rd, from, from_dir, sizeof(from_dir));
    release_path(rd, to, to_dir, sizeof(to_dir));
    if (walk(from_dir, "", &a) < 0 || walk(to_dir, "", &b) < 0) {
        snprintf(err, err_size, "reading %s and %s: %s", from_dir, to_dir, strerror(errno));
        rc = -1;
        goto out;
    }
    qsort(a.path, a.n, sizeof(*a.path), path_cmp);
    qsort(b.path, b.n, sizeof(*b.path), path_cmp);
    if (a.odd || b.odd || a.n != b.n) {
        rc = RELEASE_CHANGED;
        goto out;
    }
    for (i = 0; i < a.n && rc != RELEASE_CHANGED && rc >= 0; i++) {
        int one;

        if (strcmp(a.path[i], b.path[i]) != 0) {
            rc = RELEASE_CHANGED;
        } else if (strcmp(a.path[i], skip) != 0) {
            one = compare_file(from_dir, to_dir, a.path[i], maps_dir, maps, err, err_size);
            if (one < 0 || one == RELEASE_CHANGED || rc == RELEASE_SAME)
                rc = one;
        }
    }
out:
    list_free(&a);
    list_free(&b);
    if (rc != RELEASE_MAPS_ONLY)
        release_maps_free(maps);
    return rc;
}

void release_maps_free(struct release_maps *maps)
{
    size_t i;

    for (i = 0; i < maps->n; i++)
        free(maps->path[i]);
    free(maps->path);
    *maps = (struct release_maps){0};
}
