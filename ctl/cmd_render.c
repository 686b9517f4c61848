/*
 * llmproxy-ctl render: write HAProxy's configuration for a configuration file.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "conf_diag.h"
#include "config.h"
#include "ctl.h"
#include "haproxy_target.h"
#include "render.h"

/*
 * HAProxy creates its stats socket, and the agent its sockets, in haproxy.run_dir but not
 * the folder itself: without it `haproxy -f` stops at startup. The packaged service
 * creates it when it starts, so its absence here is only a warning (this may be a build
 * machine), written where someone trying the rendered files by hand will see it.
 */
static void warn_missing_run_dir(const struct config *cfg)
{
    const struct conf_str *run_dir = &cfg->haproxy.run_dir;
    struct conf_pos pos = run_dir->pos.line ? run_dir->pos : (struct conf_pos){cfg->file, 0, 0};
    struct conf_diags warning = {0};
    struct stat st;

    if (stat(run_dir->val, &st) == 0 && S_ISDIR(st.st_mode))
        return;
    conf_diag_add(&warning, &pos, "haproxy.run_dir",
                  "warning: %s does not exist on this machine: HAProxy and the agent create "
                  "their sockets there and stop without it; create it (mkdir -p -m 750 \"%s\"; the "
                  "packaged service creates it when it starts) or set haproxy.run_dir",
                  run_dir->val, run_dir->val);
    conf_diags_print(&warning, stderr);
    conf_diags_free(&warning);
}

int ctl_load_and_render(const struct ctl_cmd *cmd, const char *file, const char *dir,
                        struct conf_haproxy_version *rendered_for)
{
    char err[RENDER_ERR_SIZE], who[64];
    struct config *cfg = ctl_load_config(file);
    struct haproxy_target target;
    int rc;

    if (!cfg)
        return CTL_EXIT_INVALID;
    warn_missing_run_dir(cfg);
    snprintf(who, sizeof(who), "llmproxy-ctl %s", cmd->name);
    target = haproxy_target_resolve(cfg, who);
    if (rendered_for)
        *rendered_for = target.version;
    rc = render_to_dir(cfg, dir, &target, err, sizeof(err));
    config_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "llmproxy-ctl %s: %s: %s\n", cmd->name, file, err);
        return CTL_EXIT_INVALID;
    }
    return CTL_EXIT_OK;
}

static int run_render(const struct ctl_cmd *cmd, int argc, char **argv)
{
    struct ctl_options o;
    struct conf_haproxy_version v;
    int rc = ctl_parse_options(cmd, argc, argv, "co", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    rc = ctl_load_and_render(cmd, o.file, o.dir, &v);
    if (rc == CTL_EXIT_OK)
        printf("%s: rendered into %s for HAProxy %u.%u\n", o.file, o.dir, v.major, v.minor);
    return rc;
}

const struct ctl_cmd ctl_cmd_render = {
    .name = "render",
    .summary = "write haproxy.cfg and the SPOE and error files for a configuration",
    .usage = "usage: llmproxy-ctl render -c FILE -o DIR\n"
             "\n"
             "Load and validate FILE, then write into DIR (created if missing):\n"
             "  haproxy.cfg         the HAProxy data path (mode 600: it may hold credentials)\n"
             "  spoe-pick.conf      the agent's per-request decision, one engine per forward\n"
             "  spoe-attempt.conf   retry backoff and breaker gate (only if a group retries)\n"
             "  errors/*.http       the JSON error responses\n"
             "  maps/clients_*.map  the SHA-256 of each client key a forward with client_auth\n"
             "                      accepts (hashes only, never a key)\n"
             "Secrets given as ${VAR} are written as HAProxy environment references, never\n"
             "their values. Exits 0 on success, 1 if the configuration is invalid or cannot\n"
             "be rendered, 2 on a usage error.\n"
             "\n"
             "options:\n"
             "  -c, --config FILE   the configuration to render\n"
             "  -o, --output DIR    the folder to write into\n"
             "  -h, --help          show this help\n",
    .run = run_render,
};
