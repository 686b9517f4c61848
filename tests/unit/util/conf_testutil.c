#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_testutil.h"

const char *ctu_getenv(const char *name, void *ctx)
{
    const char *const *env = ctx;
    size_t n = strlen(name);

    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

char *ctu_diags_text(const struct conf_diags *diags)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        abort();
    conf_diags_print(diags, f);
    fclose(f);
    return text;
}

struct config *ctu_load(const char *yaml, const char *const *env, char **diags_text)
{
    struct conf_diags diags = {0};
    struct config *cfg;

    cfg = config_load_buf(CTU_FILE, yaml, strlen(yaml), ctu_getenv, (void *)env, &diags);
    *diags_text = ctu_diags_text(&diags);
    conf_diags_free(&diags);
    return cfg;
}

char *ctu_errors_env(const char *yaml, const char *const *env)
{
    char *text;

    config_free(ctu_load(yaml, env, &text));
    return text;
}

char *ctu_errors(const char *yaml)
{
    return ctu_errors_env(yaml, NULL);
}

void ctu_assert_errors(const char *yaml, const char *expected)
{
    char *got = ctu_errors(yaml);

    ck_assert_msg(strcmp(got, expected) == 0, "\n got: %s\nwant: %s", got, expected);
    free(got);
}

struct config *ctu_load_env_ok(const char *yaml, const char *const *env)
{
    char *diags;
    struct config *cfg = ctu_load(yaml, env, &diags);

    ck_assert_msg(cfg != NULL, "does not load:\n%s", diags);
    free(diags);
    return cfg;
}

struct config *ctu_load_ok(const char *yaml)
{
    return ctu_load_env_ok(yaml, NULL);
}

char *ctu_warnings(const char *yaml)
{
    struct config *cfg = ctu_load_ok(yaml);
    char *text = ctu_diags_text(&cfg->warnings);

    config_free(cfg);
    return text;
}
