/*
 * config_load(): from a path or a buffer to a checked struct config.
 *
 * Input is refused before parsing when it cannot be a configuration (a directory,
 * too large, binary). The YAML tree lives in its own arena, dropped once the walk
 * has copied what the model needs into the configuration's arena.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_arena.h"
#include "conf_check.h"
#include "conf_diag.h"
#include "conf_schema.h"
#include "conf_walk.h"
#include "conf_yaml.h"
#include "config.h"

/* Each arena's ceiling: a 4 MiB file's tree and model need a small fraction of it. */
#define CONF_ARENA_LIMIT (64u * 1024 * 1024)

static const char *process_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

static void file_error(struct conf_diags *diags, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void file_error(struct conf_diags *diags, const char *file, const char *fmt, ...)
{
    struct conf_pos pos = {file, 0, 0};
    va_list ap;

    va_start(ap, fmt);
    conf_diag_vadd(diags, &pos, NULL, fmt, ap);
    va_end(ap);
}

/* Refuse what cannot be YAML text before handing it to the parser. */
static int precheck(const char *name, const char *buf, size_t len, struct conf_diags *diags)
{
    const char *nul;

    if (len > CONF_MAX_FILE_SIZE) {
        file_error(diags, name, "the file is %zu bytes; at most %u allowed", len,
                   CONF_MAX_FILE_SIZE);
        return -1;
    }
    nul = memchr(buf, '\0', len);
    if (nul) {
        struct conf_pos pos = {name, 1, 1};
        const char *p;

        for (p = buf; p < nul; p++) {
            if (*p == '\n') {
                pos.line++;
                pos.col = 1;
            } else {
                pos.col++;
            }
        }
        conf_diag_add(diags, &pos, NULL,
                      "binary file: a NUL byte at offset %zu; expected YAML text",
                      (size_t)(nul - buf));
        return -1;
    }
    return 0;
}

static struct config *config_new(const char *name)
{
    struct conf_arena *arena = conf_arena_new(CONF_ARENA_LIMIT);
    struct config *cfg = arena ? conf_arena_alloc(arena, sizeof(*cfg)) : NULL;

    if (!cfg || !(cfg->file = conf_arena_strdup(arena, name))) {
        conf_arena_free(arena);
        return NULL;
    }
    cfg->arena = arena;
    return cfg;
}

/* Walk the tree into cfg and check it; problems go to diags. */
static void config_build(struct config *cfg, const struct conf_node *root, conf_getenv_fn getenv_fn,
                         void *getenv_ctx, struct conf_diags *diags)
{
    struct conf_walk w;

    memset(&w, 0, sizeof(w));
    w.arena = cfg->arena;
    w.diags = diags;
    w.warnings = &cfg->warnings;
    w.file = cfg->file;
    w.getenv_fn = getenv_fn ? getenv_fn : process_getenv;
    w.getenv_ctx = getenv_ctx;
    conf_walk_defaults(&w, &conf_config_schema, cfg);
    if (!root || conf_node_is_null(root)) {
        file_error(diags, cfg->file,
                   "empty configuration; expected a mapping with http_server, upstreams, "
                   "upstream_groups and agent");
        return;
    }
    conf_walk_map(&w, &conf_config_schema, cfg, root);
    if (!w.out_of_memory)
        conf_check(cfg, diags);
}

struct config *config_load_buf(const char *name, const char *buf, size_t len,
                               conf_getenv_fn getenv_fn, void *getenv_ctx, struct conf_diags *diags)
{
    size_t before = conf_diags_count(diags);
    const struct conf_node *root;
    struct conf_arena *tree;
    struct config *cfg;

    if (precheck(name, buf, len, diags) < 0)
        return NULL;
    cfg = config_new(name);
    tree = conf_arena_new(CONF_ARENA_LIMIT);
    if (!cfg || !tree) {
        file_error(diags, name, "out of memory");
    } else if (conf_yaml_parse(tree, cfg->file, buf, len, &root, diags) == 0) {
        config_build(cfg, root, getenv_fn, getenv_ctx, diags);
    }
    conf_arena_free(tree);
    if (conf_diags_count(diags) == before) {
        conf_diags_sort(&cfg->warnings);
        return cfg;
    }
    conf_diags_sort(diags);
    config_free(cfg);
    return NULL;
}

/*
 * Read a whole file, at most CONF_MAX_FILE_SIZE bytes: the size is checked before
 * reading where the file has one, and while reading for pipes and devices.
 */
static char *read_file(const char *path, size_t *len, struct conf_diags *diags)
{
    size_t cap, n = 0;
    struct stat st;
    char *buf = NULL;
    int fd, flags;

    /* O_NONBLOCK: opening a FIFO nobody writes to must not hang; cleared below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        file_error(diags, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        file_error(diags, path, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        file_error(diags, path, "is a directory; expected a YAML file");
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > CONF_MAX_FILE_SIZE) {
        file_error(diags, path, "the file is %jd bytes; at most %u allowed", (intmax_t)st.st_size,
                   CONF_MAX_FILE_SIZE);
        goto out;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 64 * 1024;
    for (;;) {
        ssize_t r;

        if (n == cap) {
            char *bigger;

            if (cap > CONF_MAX_FILE_SIZE) {
                file_error(diags, path, "the file is larger than %u bytes; at most %u allowed",
                           CONF_MAX_FILE_SIZE, CONF_MAX_FILE_SIZE);
                goto fail;
            }
            cap = cap * 2 > CONF_MAX_FILE_SIZE + 1 ? CONF_MAX_FILE_SIZE + 1 : cap * 2;
            if (!(bigger = realloc(buf, cap))) {
                file_error(diags, path, "out of memory");
                goto fail;
            }
            buf = bigger;
        } else if (!buf && !(buf = malloc(cap))) {
            file_error(diags, path, "out of memory");
            goto out;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            file_error(diags, path, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    close(fd);
    return buf;
fail:
    free(buf);
    buf = NULL;
out:
    close(fd);
    return NULL;
}

struct config *config_load(const char *path, struct conf_diags *diags)
{
    struct config *cfg;
    size_t len = 0;
    char *buf = read_file(path, &len, diags);

    if (!buf)
        return NULL;
    cfg = config_load_buf(path, buf, len, NULL, NULL, diags);
    free(buf);
    return cfg;
}

void config_free(struct config *cfg)
{
    if (cfg) {
        conf_diags_free(&cfg->warnings);
        conf_arena_free(cfg->arena);
    }
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

const char *config_summary(const struct config *cfg, char buf[CONF_SUMMARY_MAX])
{
    int n = snprintf(buf, CONF_SUMMARY_MAX, "%zu forward%s, %zu group%s, %zu upstream%s",
                     cfg->n_forwards, plural(cfg->n_forwards), cfg->n_groups, plural(cfg->n_groups),
                     cfg->n_upstreams, plural(cfg->n_upstreams));

    if (cfg->n_clients && n > 0 && n < CONF_SUMMARY_MAX)
        snprintf(buf + n, CONF_SUMMARY_MAX - (size_t)n, ", %zu client%s", cfg->n_clients,
                 plural(cfg->n_clients));
    return buf;
}

bool conf_client_allowed(const struct config *cfg, size_t client, size_t forward)
{
    return cfg->forwards[forward].client_auth && cfg->clients[client].forward_allowed &&
           cfg->clients[client].forward_allowed[forward];
}

bool conf_same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

const char *balance_strategy_name(enum balance_strategy s)
{
    switch (s) {
    case BAL_ROUNDROBIN:
        return "roundrobin";
    case BAL_WEIGHTED_ROUNDROBIN:
        return "weighted_roundrobin";
    case BAL_RANDOM:
        return "random";
    case BAL_RESPONSE_AWARE:
        return "response_aware";
    case BAL_FAILOVER:
        return "failover";
    case BAL_AFFINITY:
        return "affinity";
    case BAL_LEAST_LOAD:
        return "least_load";
    }
    return "unknown";
}
