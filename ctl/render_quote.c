/*
 * Writing to a rendered file, and quoting user strings for haproxy.cfg.
 *
 * HAProxy reads a double-quoted word with three special characters: '\' escapes, '"'
 * ends the word, and '$' starts an environment expansion ("$NAME" as well as "${NAME}").
 * Log-format strings (set-header values, for instance) add a fourth, '%', which starts
 * a sample or a tag and is written '%%' for itself. A tab is written "\t"; other control
 * characters cannot be carried at all (a newline would end the line), so they are refused
 * (the configuration's validation refuses them first).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

void render_printf(struct render_out *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(r->f, fmt, ap);
    va_end(ap);
}

void render_fail(struct render_out *r, const char *fmt, ...)
{
    va_list ap;

    if (r->failed)
        return;
    r->failed = true;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

/* What no quoting carries: control characters but the tab, which is written "\t". */
static bool is_control(char c)
{
    return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;
}

/* Write `n` bytes of `s` escaped for a double-quoted word. */
static void quote_bytes(struct render_out *r, const char *s, size_t n, bool log_format,
                        const char *what)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (is_control(c)) {
            render_fail(r,
                        "%s contains a control character (0x%02x); it cannot be written "
                        "into haproxy.cfg",
                        what, (unsigned char)c);
            return;
        }
        if (c == '\t') {
            fputs("\\t", r->f);
            continue;
        }
        if (c == '\\' || c == '"' || c == '$')
            fputc('\\', r->f);
        else if (c == '%' && log_format)
            fputc('%', r->f);
        fputc(c, r->f);
    }
}

void render_quoted_text(struct render_out *r, const char *s, bool log_format, const char *what)
{
    quote_bytes(r, s, strlen(s), log_format, what);
}

void render_quoted(struct render_out *r, const char *s, bool log_format, const char *what)
{
    fputc('"', r->f);
    render_quoted_text(r, s, log_format, what);
    fputc('"', r->f);
}

static const char *lookup_env(const struct render_opts *o, const char *name)
{
    if (o->getenv_fn)
        return o->getenv_fn(name, o->getenv_ctx);
    return getenv(name);
}

/*
 * The reference ${NAME}: HAProxy substitutes the value at parse time, then reads it as
 * part of the word, so the value must be one it reads literally.
 */
static void env_reference(struct render_out *r, const char *name, const char *value,
                          bool log_format, const char *what)
{
    const char *c;

    for (c = value; *c; c++) {
        if (is_control(*c) || (log_format && *c == '%')) {
            render_fail(r,
                        "%s: environment variable %s contains %s, which HAProxy would not "
                        "read literally",
                        what, name, is_control(*c) ? "a control character" : "'%'");
            return;
        }
    }
    render_printf(r, "${%s}", name);
}

/* Length of a variable name at `s` ([A-Za-z_][A-Za-z0-9_]*), 0 if there is none. */
static size_t name_len(const char *s)
{
    size_t n = 0;

    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
        n++;
    return n;
}

/*
 * Walk a template in the syntax of conf_expand.h. HAProxy 2.6 has no ${NAME:-default},
 * so that form is decided here: the reference when NAME is set and not empty, else the
 * default, which is written in the configuration and so no secret.
 */
static void render_template(struct render_out *r, const char *t, bool log_format, const char *what)
{
    char name[256];
    const char *value, *end;
    size_t n;

    while (*t) {
        if (t[0] != '$' || (t[1] != '$' && t[1] != '{')) {
            n = strcspn(t + 1, "$") + 1;
            quote_bytes(r, t, n, log_format, what);
            t += n;
            continue;
        }
        if (t[1] == '$') { /* $$: a literal '$' */
            quote_bytes(r, "$", 1, log_format, what);
            t += 2;
            continue;
        }
        n = name_len(t + 2);
        end = strchr(t + 2, '}');
        if (!n || n >= sizeof(name) || !end) { /* not a reference: conf_expand kept it */
            quote_bytes(r, t, 1, log_format, what);
            t++;
            continue;
        }
        memcpy(name, t + 2, n);
        name[n] = '\0';
        value = lookup_env(r->opts, name);
        if (t[2 + n] == '}') {
            env_reference(r, name, value ? value : "", log_format, what);
        } else if (value && value[0]) {
            env_reference(r, name, value, log_format, what);
        } else {
            /* ":-" then the default up to the brace */
            quote_bytes(r, t + 2 + n + 2, (size_t)(end - (t + 2 + n + 2)), log_format, what);
        }
        t = end + 1;
    }
}

void render_conf_str(struct render_out *r, const struct conf_str *s, bool log_format,
                     const char *what)
{
    if (s->tmpl)
        render_template(r, s->tmpl, log_format, what);
    else
        render_quoted_text(r, s->val, log_format, what);
}
