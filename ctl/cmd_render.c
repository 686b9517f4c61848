/*
 * llmproxy-ctl render: write HAProxy's configuration for a configuration file.
 */
#include <stdio.h>

#include "config.h"
#include "ctl.h"
#include "render.h"

int ctl_load_and_render(const struct ctl_cmd *cmd, const char *file, const char *dir)
{
    char err[RENDER_ERR_SIZE];
    struct config *cfg = ctl_load_config(file);
    int rc;

    if (!cfg)
        return CTL_EXIT_INVALID;
    rc = render_to_dir(cfg, dir, err, sizeof(err));
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
    int rc = ctl_parse_options(cmd, argc, argv, "co", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    rc = ctl_load_and_render(cmd, o.file, o.dir);
    if (rc == CTL_EXIT_OK)
        printf("%s: rendered into %s\n", o.file, o.dir);
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
