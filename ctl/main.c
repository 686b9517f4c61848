/*
 * llmproxy-ctl entry point: global options and dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* New subcommands (render, check, apply, status) are added here. */
static const struct ctl_cmd *const commands[] = {
    &ctl_cmd_validate, &ctl_cmd_render, &ctl_cmd_check,
    &ctl_cmd_status,   &ctl_cmd_apply,  &ctl_cmd_key,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct ctl_cmd *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void print_main_usage(FILE *out)
{
    size_t i;

    fputs("usage: llmproxy-ctl [--help | --version] COMMAND [OPTIONS]\n"
          "\n"
          "Manage an LLMProxy configuration for HAProxy and llmproxy-agent.\n"
          "\n"
          "commands:\n",
          out);
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n'llmproxy-ctl help COMMAND' or 'llmproxy-ctl COMMAND --help' shows a command's "
          "options.\n",
          out);
}

static int help(int argc, char **argv)
{
    const struct ctl_cmd *cmd;

    if (argc < 3) {
        print_main_usage(stdout);
        return CTL_EXIT_OK;
    }
    cmd = find_command(argv[2]);
    if (!cmd || argc > 3) {
        fprintf(stderr, "llmproxy-ctl: help: unknown command '%s'\n", argv[2]);
        print_main_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    ctl_print_usage(cmd, stdout);
    return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    const struct ctl_cmd *cmd;

    if (argc < 2) {
        print_main_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_main_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("llmproxy-ctl %s\n", LLMPROXY_VERSION); /* the Makefile's VERSION */
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0)
        return help(argc, argv);
    cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "llmproxy-ctl: unknown %s '%s'\n", argv[1][0] == '-' ? "option" : "command",
                argv[1]);
        print_main_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    return cmd->run(cmd, argc - 1, argv + 1);
}
