/*
 * llmproxy-ctl check: render into a scratch folder and let HAProxy itself judge the
 * result (`haproxy -c`), so what passes here is what HAProxy will load.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fs_tree.h"
#include "haproxy_check.h"
#include "render.h"

static int check_file(const struct ctl_cmd *cmd, const char *file, bool keep)
{
    char dir[] = "/tmp/llmproxy-check.XXXXXX", cfg_path[sizeof(dir) + 32];
    int rc, hrc;

    if (!mkdtemp(dir)) {
        fprintf(stderr, "llmproxy-ctl check: %s: %s\n", dir, strerror(errno));
        return CTL_EXIT_INVALID;
    }
    rc = ctl_load_and_render(cmd, file, dir, NULL);
    if (rc == CTL_EXIT_OK) {
        snprintf(cfg_path, sizeof(cfg_path), "%s/%s", dir, RENDER_HAPROXY_CFG);
        hrc = haproxy_check("llmproxy-ctl check", cfg_path);
        if (hrc == 0) {
            printf("%s: ok: HAProxy accepts the rendered configuration\n", file);
        } else {
            fprintf(stderr, "%s: HAProxy rejects the rendered configuration\n", file);
            rc = CTL_EXIT_INVALID;
        }
    }
    if (keep)
        printf("rendered files kept in %s\n", dir);
    else
        fs_remove_tree(dir);
    return rc;
}

static int run_check(const struct ctl_cmd *cmd, int argc, char **argv)
{
    struct ctl_options o;
    int rc = ctl_parse_options(cmd, argc, argv, "ck", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    return check_file(cmd, o.file, o.keep);
}

const struct ctl_cmd ctl_cmd_check = {
    .name = "check",
    .summary = "render a configuration and have HAProxy check the result (haproxy -c)",
    .usage = "usage: llmproxy-ctl check -c FILE [--keep]\n"
             "\n"
             "Load and validate FILE, render it into a scratch folder and run\n"
             "'haproxy -c -f <folder>/haproxy.cfg' on it, printing HAProxy's verdict. The\n"
             "HAProxy binary is $HAPROXY, else 'haproxy' on PATH. Environment references\n"
             "(${VAR}) are expanded by HAProxy from this process's environment. Exits 0 when\n"
             "HAProxy accepts the configuration, 1 when the configuration is invalid or\n"
             "HAProxy rejects it (or cannot be run), 2 on a usage error.\n"
             "\n"
             "options:\n"
             "  -c, --config FILE   the configuration to check\n"
             "  -k, --keep          keep the rendered files and print their folder\n"
             "  -h, --help          show this help\n",
    .run = run_check,
};
