/*
 * llmproxy-ctl: the table of subcommands. Each subcommand parses its own options
 * and returns the process exit status.
 */
#ifndef LLMPROXY_CTL_H
#define LLMPROXY_CTL_H

#include <stdbool.h>
#include <stdio.h>

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
extern const struct ctl_cmd ctl_cmd_status;
extern const struct ctl_cmd ctl_cmd_apply;
extern const struct ctl_cmd ctl_cmd_key;

struct config;
struct conf_haproxy_version;

/*
 * Load FILE; NULL after printing each problem and their count to stderr, as `validate`
 * does (ctl_load.c).
 */
struct config *ctl_load_config(const char *file);

/* The same for a configuration already read into memory; `file` names it in messages. */
struct config *ctl_load_config_buf(const char *file, const char *buf, size_t len);

/*
 * Load FILE and render it into DIR (cmd_render.c) for the HAProxy release it names or that
 * `haproxy -v` reports, printing problems to stderr as `validate` does. Returns an exit
 * status; the release rendered for in `rendered_for` unless NULL.
 */
int ctl_load_and_render(const struct ctl_cmd *cmd, const char *file, const char *dir,
                        struct conf_haproxy_version *rendered_for);

/*
 * Options shared by the subcommands: -c FILE, -o DIR, -k (keep), -j (json), -h, and the
 * long-only --haproxy-pid and --agent-pid (letters 'H' and 'A' in `accepted`).
 */
struct ctl_options {
    const char *file;
    const char *dir;
    bool keep;
    bool json;
    const char *haproxy_pid; /* pidfile or PID of HAProxy's master */
    const char *agent_pid;   /* pidfile or PID of llmproxy-agent */
};

/* ctl_parse_options() result meaning "go on": every other value is an exit status. */
#define CTL_OPTIONS_OK (-1)

/*
 * Parse argv for `cmd`, which takes the option letters in `accepted` (among "cokjHA"; -c is
 * always required, -o too when accepted). Returns CTL_OPTIONS_OK, or the exit status after
 * printing help (-h) or a usage error.
 */
int ctl_parse_options(const struct ctl_cmd *cmd, int argc, char **argv, const char *accepted,
                      struct ctl_options *o);

/* Report a bad command line for `cmd` ("what 'arg'"), then its usage. Returns 2. */
int ctl_usage_error(const struct ctl_cmd *cmd, const char *what, const char *arg);

/* Print a command's help text. */
void ctl_print_usage(const struct ctl_cmd *cmd, FILE *out);

#endif /* LLMPROXY_CTL_H */
