/*
 * llmproxy-ctl validate: load a configuration and report every problem in it.
 */
#include <stdio.h>

#include "conf_url.h"
#include "config.h"
#include "ctl.h"

/*
 * The agent trusts whatever reaches its SPOP and log-feed listeners (forged picks and log
 * lines steer rate limits and breakers). A unix socket is reachable by its group only; TCP
 * on anything but loopback is reachable by the network, so say so.
 */
static void warn_exposed(const struct config *cfg, const struct conf_listen *l, const char *key)
{
    struct conf_ip ip;

    if (l->socket.val || !l->address || !conf_ip_parse(l->address, &ip) || conf_ip_is_loopback(&ip))
        return;
    fprintf(stderr,
            "%s:%u:%u: %s: warning: %s is not a loopback address; whoever reaches this port can "
            "forge the agent's input: prefer the unix socket (leave address and port out), or "
            "firewall it to HAProxy's host\n",
            cfg->file, l->pos.line, l->pos.col, key, l->address);
}

static void print_summary(const struct config *cfg)
{
    printf("%s: ok: %zu forward%s, %zu group%s, %zu upstream%s\n", cfg->file, cfg->n_forwards,
           cfg->n_forwards == 1 ? "" : "s", cfg->n_groups, cfg->n_groups == 1 ? "" : "s",
           cfg->n_upstreams, cfg->n_upstreams == 1 ? "" : "s");
}

static int run_validate(const struct ctl_cmd *cmd, int argc, char **argv)
{
    struct ctl_options o;
    struct config *cfg;
    int rc = ctl_parse_options(cmd, argc, argv, "c", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    cfg = ctl_load_config(o.file);
    if (!cfg)
        return CTL_EXIT_INVALID;
    warn_exposed(cfg, &cfg->agent.spop, "agent.spop");
    warn_exposed(cfg, &cfg->agent.logs, "agent.logs");
    print_summary(cfg);
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
