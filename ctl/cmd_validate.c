/*
 * llmproxy-ctl validate: load a configuration and report every problem in it.
 */
#include <stdio.h>

#include "config.h"
#include "ctl.h"

static int run_validate(const struct ctl_cmd *cmd, int argc, char **argv)
{
    struct ctl_options o;
    struct config *cfg;
    char summary[CONF_SUMMARY_MAX];
    int rc = ctl_parse_options(cmd, argc, argv, "c", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    cfg = ctl_load_config(o.file);
    if (!cfg)
        return CTL_EXIT_INVALID;
    printf("%s: ok: %s\n", cfg->file, config_summary(cfg, summary));
    config_free(cfg);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_cmd_validate = {
    .name = "validate",
    .summary = "check a configuration file and report every problem in it",
    .usage = "usage: llmproxy-ctl validate -c FILE\n"
             "\n"
             "Load FILE (YAML), fill in defaults, expand ${VAR} references and check every\n"
             "rule. Prints a one-line summary and exits 0 when the configuration is valid;\n"
             "otherwise prints each problem as 'file:line:column: key.path: message' and\n"
             "exits 1. Exits 2 on a usage error.\n"
             "\n"
             "options:\n"
             "  -c, --config FILE   the configuration to check\n"
             "  -h, --help          show this help\n",
    .run = run_validate,
};
