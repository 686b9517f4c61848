/*
 * libFuzzer harness: the YAML configuration (config_load_buf), from the text to either a
 * complete configuration or a list of diagnostics.
 *
 * ${VAR} expansion goes through a stub environment where a few names are set, so the
 * fuzzer can reach both expanded values and the errors of unset variables without touching
 * the process environment. Diagnostics are printed (to /dev/null), as llmproxy-ctl does,
 * and a loaded configuration is built into agent state, as the agent does. Everything is
 * freed, so LeakSanitizer reports any leak on any path.
 *
 * A loaded configuration is also rendered (to /dev/null): whatever validation accepts,
 * render must be able to write, so a render failure aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "render.h"
#include "state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

/* A fixed environment: names the seeds use, plus an empty one for ${X:-default}. */
static const char *stub_getenv(const char *name, void *ctx)
{
    static const char *const env[][2] = {
        {"API_KEY", "sk-fuzz-0123456789"},
        {"UPSTREAM_URL", "http://127.0.0.1:8081"},
        {"PORT", "3000"},
        {"EMPTY", ""},
        {"HOME", "/tmp"},
        {"PCT", "50%off"}, /* refused where HAProxy reads a log-format string */
        {"TAB", "a\tb"},
    };

    (void)ctx;
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
        if (strcmp(name, env[i][0]) == 0)
            return env[i][1];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

/* Every file render writes, each to /dev/null; validation and render must agree. */
static void render_all(const struct config *cfg)
{
    static void (*const files[])(const struct config *, struct render_out *) = {
        render_haproxy_cfg, render_spoe_pick, render_spoe_attempt};
    const struct render_opts opts = {.dir = "/fuzz", .getenv_fn = stub_getenv};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct render_out r = {.f = devnull, .opts = &opts};

        files[i](cfg, &r);
        if (r.failed) {
            fprintf(stderr, "validated but not renderable: %s\n", r.err);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_diags diags = {0};
    struct config *cfg;
    struct agent_state *st;

    if (size > CONF_MAX_FILE_SIZE)
        return 0;
    cfg = config_load_buf("fuzz.yaml", (const char *)data, size, stub_getenv, NULL, &diags);
    conf_diags_print(&diags, devnull);
    if (cfg && diags.n != 0)
        abort(); /* config.h: a returned configuration had no problem */
    if (!cfg && diags.n == 0 && diags.dropped == 0)
        abort(); /* a refused configuration says why */
    conf_diags_free(&diags);
    if (!cfg)
        return 0;
    render_all(cfg);
    st = state_create(cfg, NULL, 1);
    if (st)
        state_free(st);
    else
        config_free(cfg);
    return 0;
}
