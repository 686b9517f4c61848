/*
 * llmproxy-ctl apply: put a new configuration into service without dropping a connection.
 *
 *   validate -> render into a new version folder LIVE.<n> -> `haproxy -c` on it
 *   -> swap the LIVE link to it (one rename) -> agent SIGHUP -> HAProxy master SIGUSR2
 *   -> remove versions older than the previous one.
 *
 * Nothing the running processes use changes until the swap, and every check that can fail
 * (the configuration, HAProxy's verdict, the PIDs to signal) runs before it: a refused
 * apply leaves the link, the files and both processes as they were.
 *
 * Each version is rendered in place (-o LIVE.<n>), so the absolute paths haproxy.cfg holds
 * (errorfiles, SPOE files) name that version's own folder and stay valid for as long as
 * the folder exists. HAProxy's master is started with -f LIVE/haproxy.cfg and re-reads
 * that path on SIGUSR2, through the new link. Workers read nothing from the folder after
 * they start, so the old worker finishing its streams does not need its files; the
 * previous version is kept anyway, to roll back to. The internal listeners' unix
 * sockets are named after haproxy.run_dir, not the version's folder, so the new worker
 * takes them over and the old one still reaches them for the requests it is finishing.
 *
 * The agent is told first: a new HAProxy worker may name an upstream the old agent
 * configuration does not know, while an agent ahead of HAProxy only risks a pick the old
 * worker lacks, which `use-server` ignores (HAProxy then balances by itself).
 *
 * Client keys change without a reload. haproxy.cfg names the key maps through the live
 * link (LIVE/maps/...), not the version folder, so every version names them alike. When
 * the new version differs from the live one only in map files (release_diff.h), HAProxy
 * is not reloaded: after the swap, each changed map's new entries are pushed into the
 * running worker through the runtime API (prepare, add, commit: atomic for requests) and
 * read back. A later reload reads the same entries from LIVE/maps, which already holds
 * them. If the runtime API fails, HAProxy is reloaded as for any other change. A version
 * that changes nothing HAProxy reads is reloaded as before: HAProxy then re-reads files
 * outside the version (a renewed CA file), which operators may rely on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "contract/internal_names.h"
#include "ctl.h"
#include "haproxy_check.h"
#include "haproxy_map.h"
#include "haproxy_target.h"
#include "pidref.h"
#include "release.h"
#include "release_diff.h"
#include "render.h"

/* The configuration each version was rendered from; the agent reads LIVE/config.yaml. */
#define APPLY_CONFIG_COPY "config.yaml"

#define APPLY_WHO "llmproxy-ctl apply"

/* The processes apply tells about a new version, in the order it tells them. */
enum apply_who { APPLY_AGENT, APPLY_HAPROXY, APPLY_TARGETS };

/* A process apply signals once the new version is live; pid 0: not named. */
struct apply_target {
    const char *what;
    const char *option; /* the option naming it */
    const char *ref;    /* as given on the command line */
    int sig;
    pid_t pid;
};

/* The whole file, read once: what is validated is exactly what is rendered and copied. */
static char *read_config(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    char *buf;

    if (!f) {
        fprintf(stderr, "%s: %s\n", file, strerror(errno));
        return NULL;
    }
    buf = malloc(CONF_MAX_FILE_SIZE + 1);
    if (!buf) {
        fclose(f);
        fprintf(stderr, "%s: out of memory\n", file);
        return NULL;
    }
    *len = fread(buf, 1, CONF_MAX_FILE_SIZE + 1, f);
    if (ferror(f) || *len > CONF_MAX_FILE_SIZE) {
        fprintf(stderr, "%s: %s\n", file,
                ferror(f) ? strerror(errno) : "larger than the 4 MiB a configuration may be");
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    return buf;
}

/* Keep the configuration next to what was rendered from it (mode 600: it may hold
 * credentials). */
static int write_copy(const char *dir, const char *buf, size_t len)
{
    char path[RELEASE_PATH_SIZE + sizeof(APPLY_CONFIG_COPY) + 1];
    FILE *f;
    int fd, ok;

    snprintf(path, sizeof(path), "%s/%s", dir, APPLY_CONFIG_COPY);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        fprintf(stderr, APPLY_WHO ": %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ok = fwrite(buf, 1, len, f) == len && fflush(f) == 0 && fsync(fd) == 0;
    if (!ok)
        fprintf(stderr, APPLY_WHO ": %s: %s\n", path, strerror(errno));
    if (fclose(f) != 0 && ok) {
        fprintf(stderr, APPLY_WHO ": %s: %s\n", path, strerror(errno));
        ok = 0;
    }
    return ok ? 0 : -1;
}

/*
 * Fill version `v` (config copy, rendered files) and let HAProxy judge it. Returns an exit
 * status; on failure the reason is already printed.
 *
 * The version's haproxy.cfg names its maps through the live link, which still leads to
 * the live version's maps (or nowhere, at the first apply) while this one is checked. So
 * HAProxy checks a render that names this version's own maps, and the version is then
 * rendered again, identical but for those names.
 */
static int build_version(const struct release_dir *rd, unsigned v, const char *file,
                         const char *buf, size_t len, const struct config *cfg)
{
    char dir[RELEASE_PATH_SIZE], live[RELEASE_PATH_SIZE];
    char cfg_path[RELEASE_PATH_SIZE + sizeof(RENDER_HAPROXY_CFG) + 1], err[RENDER_ERR_SIZE];
    struct haproxy_target target = haproxy_target_resolve(cfg, APPLY_WHO);

    release_path(rd, v, dir, sizeof(dir));
    release_live_path(rd, live, sizeof(live));
    if (write_copy(dir, buf, len) < 0)
        return CTL_EXIT_INVALID;
    if (render_to_dir_at(cfg, dir, dir, &target, err, sizeof(err)) < 0) {
        fprintf(stderr, APPLY_WHO ": %s: %s\n", file, err);
        return CTL_EXIT_INVALID;
    }
    snprintf(cfg_path, sizeof(cfg_path), "%s/%s", dir, RENDER_HAPROXY_CFG);
    if (haproxy_check(APPLY_WHO, cfg_path) != 0) {
        fprintf(stderr, "%s: HAProxy rejects the rendered configuration\n", file);
        return CTL_EXIT_INVALID;
    }
    if (render_to_dir_at(cfg, dir, live, &target, err, sizeof(err)) < 0) {
        fprintf(stderr, APPLY_WHO ": %s: %s\n", file, err);
        return CTL_EXIT_INVALID;
    }
    return CTL_EXIT_OK;
}

/*
 * How version `v` differs from the live one for HAProxy; the changed maps in `maps`. A
 * comparison that fails counts as a change: a reload is always correct.
 */
static enum release_change compare_with_live(const struct release_dir *rd, unsigned live,
                                             unsigned v, struct release_maps *maps)
{
    char err[RELEASE_ERR_SIZE];
    int change;

    *maps = (struct release_maps){0};
    if (!live)
        return RELEASE_CHANGED;
    change =
        release_compare(rd, live, v, APPLY_CONFIG_COPY, RENDER_MAPS_DIR, maps, err, sizeof(err));
    if (change < 0) {
        fprintf(stderr, APPLY_WHO ": comparing with the live version: %s; reloading\n", err);
        return RELEASE_CHANGED;
    }
    return (enum release_change)change;
}

/*
 * Put the changed `maps` of live version `v` into the running HAProxy, each under the
 * name it loaded it by (LIVE/<map>), through the runtime socket in `cfg`'s run_dir.
 * Returns 0, or -1 after saying what failed (maps before it stay updated: they hold the
 * new version's entries, which a reload would load anyway).
 */
static int replace_maps(const struct release_dir *rd, unsigned v, const struct config *cfg,
                        const struct release_maps *maps)
{
    char dir[RELEASE_PATH_SIZE], live[RELEASE_PATH_SIZE], err[RELEASE_ERR_SIZE];
    char socket[RELEASE_PATH_SIZE], map[2 * RELEASE_PATH_SIZE];
    size_t i, len;

    release_path(rd, v, dir, sizeof(dir));
    release_live_path(rd, live, sizeof(live));
    snprintf(socket, sizeof(socket), "%s/" HAPI_SOCKET_NAME, cfg->haproxy.run_dir.val);
    for (i = 0; i < maps->n; i++) {
        char *text = release_read_file(dir, maps->path[i], &len);
        int rc;

        if (!text) {
            fprintf(stderr, APPLY_WHO ": %s/%s: %s\n", dir, maps->path[i], strerror(errno));
            return -1;
        }
        snprintf(map, sizeof(map), "%s/%s", live, maps->path[i]);
        rc = haproxy_map_replace(socket, map, text, len, err, sizeof(err));
        free(text);
        if (rc < 0) {
            fprintf(stderr, APPLY_WHO ": updating HAProxy's map in place: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static void print_unchanged(const struct release_dir *rd)
{
    char live[RELEASE_PATH_SIZE];

    release_live_path(rd, live, sizeof(live));
    if (rd->live)
        fprintf(stderr, APPLY_WHO ": not applied; %s still points to %s.%u\n", live, rd->base,
                rd->live);
    else
        fprintf(stderr, APPLY_WHO ": not applied; %s was not created\n", live);
}

/* Signal the process `t` if named; a failure is reported and makes the apply fail. */
static int signal_target(const struct apply_target *t)
{
    if (!t->ref) {
        printf("%s not signalled (no %s): reload it to use the new version\n", t->what, t->option);
        return CTL_EXIT_OK;
    }
    if (kill(t->pid, t->sig) < 0) {
        fprintf(stderr, APPLY_WHO ": %s process %ld: %s; reload it by hand\n", t->what,
                (long)t->pid, strerror(errno));
        return CTL_EXIT_INVALID;
    }
    printf("%s %ld signalled to reload (%s)\n", t->what, (long)t->pid, strsignal(t->sig));
    return CTL_EXIT_OK;
}

static int apply(const struct ctl_options *o, struct apply_target *t)
{
    char err[RELEASE_ERR_SIZE], live[RELEASE_PATH_SIZE];
    enum release_change change = RELEASE_CHANGED;
    struct release_maps maps = {0};
    struct release_dir rd;
    struct config *cfg = NULL;
    char *buf = NULL;
    unsigned v, previous;
    size_t i, len = 0;
    int lock = -1, pruned, rc = CTL_EXIT_INVALID;

    for (i = 0; i < APPLY_TARGETS; i++) {
        if (t[i].ref && pidref_resolve(t[i].what, t[i].ref, &t[i].pid, err, sizeof(err)) < 0) {
            fprintf(stderr, APPLY_WHO ": %s; nothing changed\n", err);
            return CTL_EXIT_INVALID;
        }
    }
    if (release_open(&rd, o->dir, err, sizeof(err)) < 0 ||
        (lock = release_lock(&rd, err, sizeof(err))) < 0 ||
        release_scan(&rd, err, sizeof(err)) < 0) {
        fprintf(stderr, APPLY_WHO ": %s; nothing changed\n", err);
        goto out;
    }
    previous = rd.live;
    buf = read_config(o->file, &len);
    if (!buf || !(cfg = ctl_load_config_buf(o->file, buf, len))) {
        print_unchanged(&rd);
        goto out;
    }
    if (release_create(&rd, &v, err, sizeof(err)) < 0) {
        fprintf(stderr, APPLY_WHO ": %s\n", err);
        print_unchanged(&rd);
        goto out;
    }
    rc = build_version(&rd, v, o->file, buf, len, cfg);
    if (rc == CTL_EXIT_OK)
        change = compare_with_live(&rd, previous, v, &maps);
    if (rc == CTL_EXIT_OK && release_activate(&rd, v, err, sizeof(err)) < 0) {
        fprintf(stderr, APPLY_WHO ": %s\n", err);
        rc = CTL_EXIT_INVALID;
    }
    if (rc != CTL_EXIT_OK) {
        if (release_remove(&rd, v, err, sizeof(err)) < 0)
            fprintf(stderr, APPLY_WHO ": cleaning up: %s\n", err);
        print_unchanged(&rd);
        goto out;
    }
    release_live_path(&rd, live, sizeof(live));
    if (previous)
        printf("%s: applied: %s -> %s.%u (previous: %s.%u)\n", o->file, live, rd.base, v, rd.base,
               previous);
    else
        printf("%s: applied: %s -> %s.%u\n", o->file, live, rd.base, v);
    /* The agent first (see the top of this file), then HAProxy, unless only its maps
     * changed and the runtime API takes them. */
    rc = signal_target(&t[APPLY_AGENT]);
    fflush(stdout); /* before any complaint on stderr, in a log that merges both */
    if (change == RELEASE_MAPS_ONLY && replace_maps(&rd, v, cfg, &maps) == 0) {
        printf("keys updated in place: %zu map%s, no reload\n", maps.n, maps.n == 1 ? "" : "s");
    } else if (change == RELEASE_MAPS_ONLY && !t[APPLY_HAPROXY].ref) {
        /* The old keys stay in force: a revoked key would go on working. */
        fprintf(stderr, APPLY_WHO ": no --haproxy-pid to reload HAProxy instead: the keys "
                                  "change at its next reload\n");
        rc = CTL_EXIT_INVALID;
    } else {
        if (change == RELEASE_MAPS_ONLY)
            fprintf(stderr, APPLY_WHO ": reloading HAProxy instead\n");
        if (signal_target(&t[APPLY_HAPROXY]) != CTL_EXIT_OK)
            rc = CTL_EXIT_INVALID;
    }
    /* Old versions are only disk space: a failure to remove one does not undo the apply. */
    pruned = release_prune(&rd, previous, err, sizeof(err));
    if (pruned < 0)
        fprintf(stderr, APPLY_WHO ": warning: removing old versions: %s\n", err);
out:
    release_maps_free(&maps);
    config_free(cfg);
    free(buf);
    if (lock >= 0)
        close(lock);
    return rc;
}

static int run_apply(const struct ctl_cmd *cmd, int argc, char **argv)
{
    struct ctl_options o;
    int rc = ctl_parse_options(cmd, argc, argv, "coHA", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    struct apply_target targets[APPLY_TARGETS] = {
        [APPLY_AGENT] = {.what = "agent",
                         .option = "--agent-pid",
                         .ref = o.agent_pid,
                         .sig = SIGHUP},
        [APPLY_HAPROXY] = {.what = "HAProxy",
                           .option = "--haproxy-pid",
                           .ref = o.haproxy_pid,
                           .sig = SIGUSR2},
    };
    return apply(&o, targets);
}

const struct ctl_cmd ctl_cmd_apply = {
    .name = "apply",
    .summary = "render a configuration as a new version, switch to it and reload",
    .usage = "usage: llmproxy-ctl apply -c FILE -o LIVE [--haproxy-pid FILE|PID]\n"
             "                          [--agent-pid FILE|PID]\n"
             "\n"
             "Put FILE into service without dropping connections. LIVE is a link to the\n"
             "current version folder LIVE.<n>; start HAProxy with -f LIVE/haproxy.cfg and the\n"
             "agent with -c LIVE/config.yaml. apply:\n"
             "  1. validates FILE and renders it into a new folder LIVE.<n+1>, with a copy of\n"
             "     FILE as config.yaml (mode 600);\n"
             "  2. runs 'haproxy -c' on it ($HAPROXY, else 'haproxy' on PATH);\n"
             "  3. points LIVE at it in one atomic rename (the first apply creates LIVE);\n"
             "  4. sends SIGHUP to the agent, then SIGUSR2 to HAProxy's master (started with -W);\n"
             "     when only client keys changed (the files under LIVE/maps), HAProxy is not\n"
             "     reloaded: the new keys go into the running process through its runtime\n"
             "     socket (haproxy.run_dir), atomically, and are read back; should that fail,\n"
             "     HAProxy is reloaded instead;\n"
             "  5. removes every version but the new one and the previous one (for rollback:\n"
             "     apply LIVE.<n>/config.yaml again).\n"
             "If validation, rendering or HAProxy's check fails, or a PID is not running,\n"
             "nothing changes: LIVE, its folders and both processes stay as they were.\n"
             "Exits 0 when applied and signalled (or keys updated in place), 1 when refused (or\n"
             "a process could not be signalled after the switch), 2 on a usage error.\n"
             "\n"
             "options:\n"
             "  -c, --config FILE          the configuration to apply\n"
             "  -o, --output LIVE          the live link (e.g. /etc/llmproxy/live)\n"
             "      --haproxy-pid FILE|PID HAProxy's master: its pidfile (-p) or PID\n"
             "      --agent-pid FILE|PID   llmproxy-agent: its pidfile or PID\n"
             "  -h, --help                 show this help\n",
    .run = run_apply,
};
