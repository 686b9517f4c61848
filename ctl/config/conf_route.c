/*
 * Routing patterns: model names checked for what haproxy.cfg can carry unquoted, path
 * patterns translated from the original LLMProxy's syntax to one PCRE:
 *   literal text      itself, regex metacharacters escaped
 *   /:name            one non-empty segment, [^/]+ (a ':' elsewhere is literal)
 *   {name:regex}      (?:regex); {regex} likewise; braces inside the regex may nest
 *   *rest             from the first '*' on, a glob over the rest of the path:
 *                     '*' any run of bytes, '?' one byte but '/', [...] a class
 * The whole is anchored: ^...$.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf_route.h"

/*
 * Printable ASCII but space, the quotes, '\' and '#', which haproxy.cfg would read as
 * separators, quoting, escapes or comments.
 */
static bool model_byte_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"'\\#", c);
}

const char *conf_route_model_problem(const char *s, bool prefix)
{
    size_t len = strlen(s), i;

    if (len == 0)
        return "empty; give a model name";
    if (len > CONF_ROUTE_MODEL_MAX)
        return "too long; at most 200 bytes";
    if (prefix && strcmp(s, "*") == 0)
        return "\"*\" alone would take every model; name a prefix before '*' (a request "
               "that no rule takes goes to upstream_group anyway)";
    /* HAProxy would read a leading '-' as a match flag, and a lone brace as the end of
     * the condition. */
    if (s[0] == '-' || strcmp(s, "{") == 0 || strcmp(s, "}") == 0)
        return "cannot start with '-' nor be a lone brace (HAProxy would read it as syntax)";
    for (i = 0; i < len; i++) {
        if (!model_byte_ok((unsigned char)s[i]))
            return "invalid character; allowed: printable ASCII but space, '\"', '\\'', "
                   "'\\\\' and '#', at most 200 bytes";
        if (s[i] == '*' && (!prefix || i + 1 != len))
            return prefix ? "'*' is allowed only at the end (a prefix: \"gpt-4o*\")"
                          : "'*' is not allowed in a model name";
    }
    return NULL;
}

/* The translation's output, and the first problem met. */
struct regex_out {
    char *buf;
    size_t size, len;
    char *why;
    size_t why_size;
    bool failed;
};

static void fail(struct regex_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct regex_out *o, const char *fmt, ...)
{
    va_list ap;

    if (o->failed)
        return;
    o->failed = true;
    va_start(ap, fmt);
    vsnprintf(o->why, o->why_size, fmt, ap);
    va_end(ap);
}

static void put(struct regex_out *o, const char *s, size_t n)
{
    if (o->len + n >= o->size) {
        fail(o, "the pattern translates to a regex too long");
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void put_str(struct regex_out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_literal(struct regex_out *o, char c)
{
    char esc[2] = {'\\', c};

    if (strchr("\\^$.|?*+()[]{}", c))
        put(o, esc, 2);
    else
        put(o, &c, 1);
}

/* Compile `re` (of `len` bytes); on failure say PCRE2's reason, at byte `at` + its offset
 * of the pattern, or of the translation when `whole`. */
static bool regex_compiles(struct regex_out *o, const char *re, size_t len, size_t at, bool whole)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE offset;
    int code;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, len, 0, &code, &offset, NULL);

    if (c) {
        pcre2_code_free(c);
        return true;
    }
    pcre2_get_error_message(code, msg, sizeof(msg));
    if (whole)
        fail(o, "translates to the invalid regex %s: %s at its byte %zu", re, (const char *)msg,
             (size_t)offset);
    else
        fail(o, "invalid regex at byte %zu: %s", at + (size_t)offset, (const char *)msg);
    return false;
}

static bool is_name_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* `{name:regex}` or `{regex}` at p[0] == '{'; returns the bytes consumed, 0 on error. */
static size_t translate_braces(struct regex_out *o, const char *pattern, const char *p)
{
    const char *body = p + 1, *end;
    size_t depth = 0, name;

    for (end = body; *end; end++) {
        if (*end == '\\' && end[1])
            end++;
        else if (*end == '{')
            depth++;
        else if (*end == '}' && depth-- == 0)
            break;
    }
    if (!*end) {
        fail(o, "'{' at byte %zu is never closed by '}'", (size_t)(p - pattern));
        return 0;
    }
    for (name = 0; body + name < end && is_name_byte(body[name]); name++)
        ;
    if (name > 0 && body[name] == ':')
        body += name + 1;
    if (body == end) {
        fail(o, "empty regex in '{...}' at byte %zu", (size_t)(p - pattern));
        return 0;
    }
    /* Alone first: an unbalanced ')' must not escape the group and its anchors. */
    if (!regex_compiles(o, body, (size_t)(end - body), (size_t)(body - pattern), false))
        return 0;
    put_str(o, "(?:");
    put(o, body, (size_t)(end - body));
    put_str(o, ")");
    return (size_t)(end - p) + 1;
}

/* The glob from p to the end of the pattern. */
static void translate_glob(struct regex_out *o, const char *pattern, const char *p)
{
    for (; *p && !o->failed; p++) {
        if (*p == '*') {
            put_str(o, ".*");
        } else if (*p == '?') {
            put_str(o, "[^/]");
        } else if (*p == '[') {
            const char *q = p + 1;

            if (*q == '!' || *q == '^')
                q++;
            if (*q == ']')
                q++;
            q = strchr(q, ']');
            if (!q) {
                fail(o, "'[' at byte %zu is never closed by ']'", (size_t)(p - pattern));
                return;
            }
            put_str(o, "[");
            if (p[1] == '!' || p[1] == '^') {
                put_str(o, "^");
                p++;
            }
            for (p++; p < q; p++) {
                if (*p == '\\' || *p == '[')
                    put_str(o, "\\");
                put(o, p, 1);
            }
            put_str(o, "]");
        } else {
            put_literal(o, *p);
        }
    }
}

static bool path_byte_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"'#", c);
}

int conf_route_path_regex(const char *pattern, char *out, size_t size, char *why, size_t why_size)
{
    struct regex_out o = {out, size, 0, why, why_size, false};
    size_t len = strlen(pattern), i;
    const char *p;

    out[0] = '\0';
    if (len == 0)
        fail(&o, "empty; give a path pattern starting with '/'");
    else if (pattern[0] != '/')
        fail(&o, "does not start with '/'; a path pattern matches the request path");
    else if (len > CONF_ROUTE_PATH_MAX)
        fail(&o, "%zu bytes long; at most %d", len, CONF_ROUTE_PATH_MAX);
    for (i = 0; i < len && !o.failed; i++)
        if (!path_byte_ok((unsigned char)pattern[i]))
            fail(&o,
                 "invalid character at byte %zu; allowed: printable ASCII but space, "
                 "'\"', '\\'' and '#'",
                 i);
    put_str(&o, "^");
    for (p = pattern; *p && !o.failed;) {
        if (*p == '*') {
            translate_glob(&o, pattern, p);
            break;
        } else if (*p == ':' && p > pattern && p[-1] == '/' && is_name_byte(p[1])) {
            put_str(&o, "[^/]+");
            for (p++; is_name_byte(*p); p++)
                ;
        } else if (*p == '{') {
            size_t n = translate_braces(&o, pattern, p);

            if (!n)
                break;
            p += n;
        } else {
            put_literal(&o, *p++);
        }
    }
    put_str(&o, "$");
    if (!o.failed)
        regex_compiles(&o, out, o.len, 0, true);
    if (o.failed) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
