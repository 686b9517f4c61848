/*
 * The command-line options every llmproxy-ctl subcommand shares, parsed in one place so
 * that each subcommand only names the ones it takes.
 */
#include <getopt.h>
#include <string.h>

#include "ctl.h"

void ctl_print_usage(const struct ctl_cmd *cmd, FILE *out)
{
    fputs(cmd->usage, out);
}

int ctl_usage_error(const struct ctl_cmd *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "llmproxy-ctl %s: %s%s%s%s\n", cmd->name, what, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    ctl_print_usage(cmd, stderr);
    return CTL_EXIT_USAGE;
}

int ctl_parse_options(const struct ctl_cmd *cmd, int argc, char **argv, const char *accepted,
                      struct ctl_options *o)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'},
        {"keep", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"haproxy-pid", required_argument, NULL, 'H'},
        {"agent-pid", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, li = -1;

    memset(o, 0, sizeof(*o));
    opterr = 0; /* messages are ours, with the usage after them */
    optind = 1;
    /* --haproxy-pid and --agent-pid are long only: their letters are not in this string. */
    while ((opt = getopt_long(argc, argv, ":c:o:kjh", options, &li)) != -1) {
        if (opt != 'h' && opt != ':' && opt != '?' && !strchr(accepted, opt)) {
            char name[32];

            /* A long option is named as given: its letter is only internal. */
            if (li >= 0)
                snprintf(name, sizeof(name), "--%s", options[li].name);
            else
                snprintf(name, sizeof(name), "-%c", opt);
            return ctl_usage_error(cmd, "unknown option", name);
        }
        li = -1;
        switch (opt) {
        case 'c':
            o->file = optarg;
            break;
        case 'o':
            o->dir = optarg;
            break;
        case 'k':
            o->keep = true;
            break;
        case 'j':
            o->json = true;
            break;
        case 'H':
            o->haproxy_pid = optarg;
            break;
        case 'A':
            o->agent_pid = optarg;
            break;
        case 'h':
            ctl_print_usage(cmd, stdout);
            return CTL_EXIT_OK;
        case ':':
            return ctl_usage_error(cmd, "option needs an argument:", argv[optind - 1]);
        default:
            return ctl_usage_error(cmd, "unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument", argv[optind]);
    if (!o->file)
        return ctl_usage_error(cmd, "missing -c FILE", NULL);
    if (strchr(accepted, 'o') && !o->dir)
        return ctl_usage_error(cmd, "missing -o DIR", NULL);
    return CTL_OPTIONS_OK;
}
