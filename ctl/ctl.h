/*
 * llmproxy-ctl: the table of subcommands. Each subcommand parses its own options
 * and returns the process exit status.
 */
#ifndef LLMPROXY_CTL_H
#define LLMPROXY_CTL_H

#include <stdio.h>

#define CTL_VERSION "0.1.0"

/* Exit statuses shared by every subcommand. */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_INVALID = 1, /* the configuration (or the operation) failed */
    CTL_EXIT_USAGE = 2,   /* bad command line */
};

struct ctl_cmd {
    const char *name;
    const char *summary; /* one line for the command list */
    const char *usage;   /* full help text, starting with the synopsis */
    int (*run)(const struct ctl_cmd *cmd, int argc, char **argv); /* argv[0] is the name */
};

extern const struct ctl_cmd ctl_cmd_validate;
extern const struct ctl_cmd ctl_cmd_render;
extern const struct ctl_cmd ctl_cmd_check;

/*
 * Load FILE and render it into DIR (cmd_render.c), printing problems to stderr as
 * `validate` does. Returns an exit status.
 */
int ctl_load_and_render(const struct ctl_cmd *cmd, const char *file, const char *dir);

/* Report a bad command line for `cmd` ("what 'arg'"), then its usage. Returns 2. */
int ctl_usage_error(const struct ctl_cmd *cmd, const char *what, const char *arg);

/* Print a command's help text. */
void ctl_print_usage(const struct ctl_cmd *cmd, FILE *out);

#endif /* LLMPROXY_CTL_H */
