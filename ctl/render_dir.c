/*
 * Writing a rendered configuration into its folder.
 *
 * Every file goes to a private temporary file first (file_replace.h) and is renamed over
 * the old one, so HAProxy (or a reload in progress) reads either the previous file or the
 * new one, never half of one, and nothing planted in the folder is written through.
 * haproxy.cfg may hold literal credentials, so it is readable by its owner only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_walk.h"
#include "file_replace.h"
#include "render.h"
#include "render_topology.h"

typedef void (*render_file_fn)(const struct config *cfg, struct render_out *r);

/* What one file holds: a configuration file (fn), an errorfile (error) or a forward's
 * client map (client_map, with forward). */
struct file_content {
    render_file_fn fn;
    const struct render_error *error;
    bool client_map;
    size_t forward;
};

/* Render one file. */
static int write_file(const struct config *cfg, const struct render_opts *o, const char *name,
                      mode_t mode, const struct file_content *c, char *err, size_t err_size)
{
    char path[PATH_MAX];
    struct render_out r = {.opts = o};
    struct file_replace fr;
    int fd, rc = -1;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", o->dir, name) >= sizeof(path)) {
        snprintf(err, err_size, "%s/%s: path too long", o->dir, name);
        return -1;
    }
    /* A fresh file of ours, whatever "<name>.tmp"-like names someone else created. */
    fd = file_replace_begin(&fr, path, mode);
    if (fd < 0 || !(r.f = fdopen(fd, "w"))) {
        snprintf(err, err_size, "%s: %s", fd < 0 ? path : fr.tmp, strerror(errno));
        if (fd >= 0) {
            file_replace_abort(&fr);
            close(fd);
        }
        return -1;
    }
    if (c->error)
        render_errorfile(c->error, &r);
    else if (c->client_map)
        render_client_map(cfg, c->forward, &r);
    else
        c->fn(cfg, &r);
    if (fflush(r.f) != 0 || ferror(r.f)) {
        snprintf(err, err_size, "%s: %s", fr.tmp, strerror(errno));
    } else if (r.failed) {
        snprintf(err, err_size, "%s", r.err);
    } else {
        rc = 0;
    }
    if (fclose(r.f) != 0 && rc == 0) {
        snprintf(err, err_size, "%s: %s", fr.tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && file_replace_commit(&fr) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        file_replace_abort(&fr);
    return rc;
}

static int make_dir(const char *path, char *err, size_t err_size)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    snprintf(err, err_size, "%s: %s", path, strerror(errno));
    return -1;
}

/*
 * The errors folder haproxy.cfg names must be ours: one someone else created (or a link
 * to theirs) would let them change the pages HAProxy serves after the render.
 */
static int own_dir(const char *path, char *err, size_t err_size)
{
    struct stat sb;

    if (lstat(path, &sb) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & S_IWOTH)) {
        snprintf(err, err_size,
                 "%s: not a folder of ours (a link, another user's, or writable by anyone); "
                 "remove it and render again",
                 path);
        return -1;
    }
    return 0;
}

/* An owned sub-folder of the output folder, created if missing. */
static int own_sub_dir(const char *abs, const char *name, char *err, size_t err_size)
{
    char sub[PATH_MAX + 32];

    snprintf(sub, sizeof(sub), "%s/%s", abs, name);
    return make_dir(sub, err, err_size) < 0 || own_dir(sub, err, err_size) < 0 ? -1 : 0;
}

/* Whether `name` is the map of a forward with client_auth in `cfg`. */
static bool current_map(const struct config *cfg, const char *name)
{
    char want[64 + CONF_NAME_MAX];
    size_t f;

    for (f = 0; f < cfg->n_forwards; f++) {
        if (!cfg->forwards[f].client_auth)
            continue;
        snprintf(want, sizeof(want), RENDER_CLIENT_MAP_FMT, cfg->forwards[f].name);
        if (strcmp(name, want) == 0)
            return true;
    }
    return false;
}

/*
 * A map left by an earlier render, for a forward gone or without client_auth now, would
 * suggest keys that nothing checks: removed, like a stale spoe-attempt.conf. Only from a
 * maps folder of ours, opened without following a link: one planted by someone else
 * (or a link to another folder) is not walked, and write_client_maps refuses it.
 */
static void remove_stale_maps(const struct config *cfg, const char *abs)
{
    size_t pre = strlen(RENDER_CLIENT_MAP_PREFIX), suf = strlen(RENDER_CLIENT_MAP_SUFFIX);
    char path[PATH_MAX + 32];
    struct dirent *e;
    struct stat sb;
    DIR *d;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", abs, RENDER_MAPS_DIR);
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &sb) != 0 || sb.st_uid != geteuid() || (sb.st_mode & S_IWOTH) ||
        !(d = fdopendir(fd))) {
        close(fd);
        return;
    }
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);

        if (n > pre + suf && strncmp(e->d_name, RENDER_CLIENT_MAP_PREFIX, pre) == 0 &&
            strcmp(e->d_name + n - suf, RENDER_CLIENT_MAP_SUFFIX) == 0 &&
            !current_map(cfg, e->d_name))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/*
 * One map per forward with client_auth, and its folder only then, so that a configuration
 * without clients renders exactly the files it did before. A map is written even when no
 * client may use the forward: HAProxy refuses to start on a missing one. Mode 0640: hashes
 * are no credential, but no reason to show them to everyone either.
 */
static int write_client_maps(const struct config *cfg, const struct render_opts *o, char *err,
                             size_t err_size)
{
    char name[64 + CONF_NAME_MAX];
    bool any = false;
    size_t f;

    remove_stale_maps(cfg, o->dir);
    for (f = 0; f < cfg->n_forwards; f++)
        any = any || cfg->forwards[f].client_auth;
    if (!any)
        return 0;
    if (own_sub_dir(o->dir, RENDER_MAPS_DIR, err, err_size) < 0)
        return -1;
    for (f = 0; f < cfg->n_forwards; f++) {
        struct file_content map = {.client_map = true, .forward = f};

        if (!cfg->forwards[f].client_auth)
            continue;
        snprintf(name, sizeof(name), "%s/" RENDER_CLIENT_MAP_FMT, RENDER_MAPS_DIR,
                 cfg->forwards[f].name);
        if (write_file(cfg, o, name, 0640, &map, err, err_size) < 0)
            return -1;
    }
    return 0;
}

int render_to_dir(const struct config *cfg, const char *dir, char *err, size_t err_size)
{
    return render_to_dir_at(cfg, dir, NULL, err, err_size);
}

int render_to_dir_at(const struct config *cfg, const char *dir, const char *map_base, char *err,
                     size_t err_size)
{
    struct render_opts o = {0};
    const struct file_content pick = {.fn = render_spoe_pick};
    const struct file_content attempt = {.fn = render_spoe_attempt};
    const struct file_content haproxy = {.fn = render_haproxy_cfg};
    char abs[PATH_MAX], sub[PATH_MAX + 32], name[64];
    size_t i;

    if (make_dir(dir, err, err_size) < 0)
        return -1;
    /* haproxy.cfg names the other files: absolute, so HAProxy's working folder is moot. */
    if (!realpath(dir, abs)) {
        snprintf(err, err_size, "%s: %s", dir, strerror(errno));
        return -1;
    }
    o.dir = abs;
    o.map_base = map_base;
    /* TODO(version table): every version tested needs it (2.6.12, 3.0.11, 3.2.0). */
    o.pin_threads_to_cpus = true;
    if (own_sub_dir(abs, RENDER_ERRORS_DIR, err, err_size) < 0)
        return -1;
    for (i = 0; render_errorfiles[i]; i++) {
        const struct file_content page = {.error = render_errorfiles[i]};

        snprintf(name, sizeof(name), "%s/%s", RENDER_ERRORS_DIR, render_errorfiles[i]->file);
        if (write_file(cfg, &o, name, 0644, &page, err, err_size) < 0)
            return -1;
    }
    if (write_client_maps(cfg, &o, err, err_size) < 0)
        return -1;
    if (write_file(cfg, &o, RENDER_SPOE_PICK, 0644, &pick, err, err_size) < 0)
        return -1;
    if (render_topology(cfg).retries) {
        if (write_file(cfg, &o, RENDER_SPOE_ATTEMPT, 0644, &attempt, err, err_size) < 0)
            return -1;
    } else {
        /* A file left by an earlier render would suggest retries that are not there. */
        snprintf(sub, sizeof(sub), "%s/%s", abs, RENDER_SPOE_ATTEMPT);
        unlink(sub);
    }
    /* Last: a haproxy.cfg exists only once everything it names does. */
    return write_file(cfg, &o, RENDER_HAPROXY_CFG, 0600, &haproxy, err, err_size);
}
