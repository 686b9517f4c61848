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

/*
 * A kind of per-forward file, <folder>/<prefix><forward><suffix>, written by `render` for
 * the forwards that `has` it.
 */
struct forward_file {
    const char *folder; /* under the output folder; "." for the folder itself */
    const char *prefix, *suffix;
    bool (*has)(const struct conf_forward *f);
    void (*render)(const struct config *cfg, size_t forward, struct render_out *r);
};

/* What one file holds: a configuration file (fn), an errorfile (error) or a forward's
 * client map or trusted proxies (forward_file, with forward). */
struct file_content {
    render_file_fn fn;
    const struct render_error *error;
    const struct forward_file *forward_file;
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
    else if (c->forward_file)
        c->forward_file->render(cfg, c->forward, &r);
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

static bool has_client_auth(const struct conf_forward *f)
{
    return f->client_auth;
}

static bool has_trusted_proxies(const struct conf_forward *f)
{
    return f->n_trusted_proxies > 0;
}

static const struct forward_file client_maps = {RENDER_MAPS_DIR, RENDER_CLIENT_MAP_PREFIX,
                                                RENDER_CLIENT_MAP_SUFFIX, has_client_auth,
                                                render_client_map};
static const struct forward_file trusted_acls = {".", RENDER_TRUSTED_ACL_PREFIX,
                                                 RENDER_TRUSTED_ACL_SUFFIX, has_trusted_proxies,
                                                 render_trusted_acl};

static const struct forward_file model_lists = {".", RENDER_MODELS_PREFIX, RENDER_MODELS_SUFFIX,
                                                render_has_model_rules, render_models_list};

/* Whether `name` is the file of kind `k` of a forward in `cfg`. */
static bool current_file(const struct config *cfg, const struct forward_file *k, const char *name)
{
    char want[64 + CONF_NAME_MAX];
    size_t f;

    for (f = 0; f < cfg->n_forwards; f++) {
        if (!k->has(&cfg->forwards[f]))
            continue;
        snprintf(want, sizeof(want), "%s%s%s", k->prefix, cfg->forwards[f].name, k->suffix);
        if (strcmp(name, want) == 0)
            return true;
    }
    return false;
}

/*
 * A file left by an earlier render, for a forward gone or without the setting now, would
 * suggest keys that nothing checks or proxies that nobody trusts: removed, like a stale
 * spoe-attempt.conf. Only from a folder of ours, opened without following a link: one
 * planted by someone else (or a link to another folder) is not walked, and
 * write_forward_files refuses it.
 */
static void remove_stale_files(const struct config *cfg, const char *abs,
                               const struct forward_file *k)
{
    size_t pre = strlen(k->prefix), suf = strlen(k->suffix);
    char path[PATH_MAX + 32];
    struct dirent *e;
    struct stat sb;
    DIR *d;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", abs, k->folder);
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

        if (n > pre + suf && strncmp(e->d_name, k->prefix, pre) == 0 &&
            strcmp(e->d_name + n - suf, k->suffix) == 0 && !current_file(cfg, k, e->d_name))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/*
 * One file of kind `k` per forward that has it, and a sub-folder for them only then, so
 * that a configuration without them renders exactly the files it did before. A client map
 * is written even when no client may use the forward: HAProxy refuses to start on a
 * missing one.
 */
static int write_forward_files(const struct config *cfg, const struct render_opts *o,
                               const struct forward_file *k, mode_t mode, char *err,
                               size_t err_size)
{
    char name[64 + CONF_NAME_MAX];
    bool any = false;
    size_t f;

    remove_stale_files(cfg, o->dir, k);
    for (f = 0; f < cfg->n_forwards; f++)
        any = any || k->has(&cfg->forwards[f]);
    if (!any)
        return 0;
    if (strcmp(k->folder, ".") != 0 && own_sub_dir(o->dir, k->folder, err, err_size) < 0)
        return -1;
    for (f = 0; f < cfg->n_forwards; f++) {
        struct file_content c = {.forward_file = k, .forward = f};

        if (!k->has(&cfg->forwards[f]))
            continue;
        snprintf(name, sizeof(name), "%s/%s%s%s", k->folder, k->prefix, cfg->forwards[f].name,
                 k->suffix);
        if (write_file(cfg, o, name, mode, &c, err, err_size) < 0)
            return -1;
    }
    return 0;
}

int render_to_dir(const struct config *cfg, const char *dir, const struct haproxy_target *target,
                  char *err, size_t err_size)
{
    return render_to_dir_at(cfg, dir, NULL, target, err, err_size);
}

int render_to_dir_at(const struct config *cfg, const char *dir, const char *map_base,
                     const struct haproxy_target *target, char *err, size_t err_size)
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
    if (target)
        o.haproxy = *target;
    if (own_sub_dir(abs, RENDER_ERRORS_DIR, err, err_size) < 0)
        return -1;
    for (i = 0; render_errorfiles[i]; i++) {
        const struct file_content page = {.error = render_errorfiles[i]};

        snprintf(name, sizeof(name), "%s/%s", RENDER_ERRORS_DIR, render_errorfiles[i]->file);
        if (write_file(cfg, &o, name, 0644, &page, err, err_size) < 0)
            return -1;
    }
    /* Mode 0640: hashes are no credential, but no reason to show them to everyone either. */
    if (write_forward_files(cfg, &o, &client_maps, 0640, err, err_size) < 0 ||
        write_forward_files(cfg, &o, &trusted_acls, 0644, err, err_size) < 0 ||
        write_forward_files(cfg, &o, &model_lists, 0644, err, err_size) < 0)
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
