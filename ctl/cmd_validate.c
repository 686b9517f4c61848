/*
 * llmproxy-ctl validate: load a configuration and report every problem in it.
 */
#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "ctl.h"

static void print_summary(const struct config *cfg)
{
    printf("%s: ok: %zu forward%s, %zu group%s, %zu upstream%s\n", cfg->file, cfg->n_forwards,
           cfg->n_forwards == 1 ? "" : "s", cfg->n_groups, cfg->n_groups == 1 ? "" : "s",
           cfg->n_upstreams, cfg->n_upstreams == 1 ? "" : "s");
}

static int usage_error(const struct ctl_cmd *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "llmproxy-ctl validate: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    ctl_print_usage(cmd, stderr);
    return CTL_EXIT_USAGE;
}

static int run_validate(const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct conf_diags diags = {0};
    const char *file = NULL;
    struct config *cfg;
    size_t n;
    int opt;

    opterr = 0; /* messages are ours, with the usage after them */
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'h':
            ctl_print_usage(cmd, stdout);
            return CTL_EXIT_OK;
        case ':':
            return usage_error(cmd, "option needs a file:", argv[optind - 1]);
        default:
            return usage_error(cmd, "unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(cmd, "unexpected argument", argv[optind]);
    if (!file)
        return usage_error(cmd, "missing -c FILE", NULL);

    cfg = config_load(file, &diags);
    if (cfg) {
        print_summary(cfg);
        config_free(cfg);
        conf_diags_free(&diags);
        return CTL_EXIT_OK;
    }
    conf_diags_print(&diags, stderr);
    n = diags.n + diags.dropped;
    fprintf(stderr, "%s: %zu error%s\n", file, n, n == 1 ? "" : "s");
    conf_diags_free(&diags);
    return CTL_EXIT_INVALID;
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
