/*
 * Loading a configuration for a subcommand, with every problem printed the way
 * `validate` prints them.
 */
#include <stdio.h>

#include "config.h"
#include "ctl.h"

/* Print the problems of a failed load (cfg NULL), or the warnings of a good one, and
 * release the list. */
static struct config *report(const char *file, struct config *cfg, struct conf_diags *diags)
{
    size_t n;

    if (cfg)
        conf_diags_print(&cfg->warnings, stderr);
    if (!cfg) {
        conf_diags_print(diags, stderr);
        n = diags->n + diags->dropped;
        fprintf(stderr, "%s: %zu error%s\n", file, n, n == 1 ? "" : "s");
    }
    conf_diags_free(diags);
    return cfg;
}

struct config *ctl_load_config(const char *file)
{
    struct conf_diags diags = {0};

    return report(file, config_load(file, &diags), &diags);
}

struct config *ctl_load_config_buf(const char *file, const char *buf, size_t len)
{
    struct conf_diags diags = {0};

    return report(file, config_load_buf(file, buf, len, NULL, NULL, &diags), &diags);
}
