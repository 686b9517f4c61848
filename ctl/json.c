#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_arena.h"
#include "json.h"

/* Longest number literal accepted; JSON allows more, but no document of ours needs it. */
#define NUMBER_MAX 64

struct json_doc {
    struct conf_arena *arena;
    struct json_value *root;
};

struct parser {
    const char *p;
    size_t len;
    size_t pos;
    struct conf_arena *arena;
    char *err;
    size_t err_size;
    bool failed;
};

static bool fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error only: later ones are consequences of it. */
static bool fail(struct parser *ps, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ps->failed)
        return false;
    ps->failed = true;
    n = snprintf(ps->err, ps->err_size, "byte %zu: ", ps->pos);
    if (n >= 0 && (size_t)n < ps->err_size) {
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static void skip_space(struct parser *ps)
{
    while (ps->pos < ps->len && (ps->p[ps->pos] == ' ' || ps->p[ps->pos] == '\t' ||
                                 ps->p[ps->pos] == '\n' || ps->p[ps->pos] == '\r'))
        ps->pos++;
}

static bool at(const struct parser *ps, char c)
{
    return ps->pos < ps->len && ps->p[ps->pos] == c;
}

static bool expect(struct parser *ps, char c)
{
    skip_space(ps);
    if (!at(ps, c))
        return fail(ps, "expected '%c'", c);
    ps->pos++;
    return true;
}

static bool literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);

    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, word, n) != 0)
        return fail(ps, "unexpected character");
    ps->pos += n;
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u"; -1 when malformed. */
static long read_hex4(struct parser *ps)
{
    long v = 0;

    if (ps->len - ps->pos < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(ps->p[ps->pos + (size_t)i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    ps->pos += 4;
    return v;
}

static size_t put_utf8(char *dst, unsigned long cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape (the "\u" already consumed), a surrogate pair included, as a code point. */
static bool read_unicode_escape(struct parser *ps, unsigned long *cp)
{
    long hi = read_hex4(ps), lo;

    if (hi < 0)
        return fail(ps, "bad \\u escape");
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return fail(ps, "lone low surrogate");
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = (unsigned long)hi;
        return true;
    }
    if (ps->len - ps->pos < 2 || ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u')
        return fail(ps, "high surrogate without its low half");
    ps->pos += 2;
    lo = read_hex4(ps);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return fail(ps, "high surrogate without its low half");
    *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
    return true;
}

/*
 * A string at the opening quote. Decoded text is never longer than its source, so one
 * allocation of the source's length suffices.
 */
static bool read_string(struct parser *ps, const char **out, size_t *out_len)
{
    size_t start = ps->pos + 1, end = start, n = 0;
    char *dst;

    while (end < ps->len && ps->p[end] != '"')
        end += ps->p[end] == '\\' ? 2 : 1;
    if (end >= ps->len)
        return fail(ps, "unterminated string"); /* reported at its opening quote */
    dst = conf_arena_alloc(ps->arena, end - start + 1);
    if (!dst)
        return fail(ps, "document too large");
    ps->pos = start;
    while (ps->pos < end) {
        unsigned char c = (unsigned char)ps->p[ps->pos++];
        unsigned long cp = 0;

        if (c < 0x20)
            return fail(ps, "control character in string");
        if (c != '\\') {
            dst[n++] = (char)c;
            continue;
        }
        switch (ps->p[ps->pos++]) {
        case '"':
            dst[n++] = '"';
            break;
        case '\\':
            dst[n++] = '\\';
            break;
        case '/':
            dst[n++] = '/';
            break;
        case 'b':
            dst[n++] = '\b';
            break;
        case 'f':
            dst[n++] = '\f';
            break;
        case 'n':
            dst[n++] = '\n';
            break;
        case 'r':
            dst[n++] = '\r';
            break;
        case 't':
            dst[n++] = '\t';
            break;
        case 'u':
            /* 6 or 12 source bytes give at most 3 or 4 decoded ones. */
            if (!read_unicode_escape(ps, &cp))
                return false;
            if (ps->pos > end)
                return fail(ps, "bad \\u escape");
            n += put_utf8(dst + n, cp);
            break;
        default:
            return fail(ps, "bad escape");
        }
    }
    ps->pos = end + 1;
    dst[n] = '\0';
    *out = dst;
    *out_len = n;
    return true;
}

static size_t skip_digits(const struct parser *ps, size_t i)
{
    while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
        i++;
    return i;
}

/* The number grammar of RFC 8259, checked strictly before strtod reads it. */
static bool read_number(struct parser *ps, double *out)
{
    size_t i = ps->pos, digits;
    char text[NUMBER_MAX + 1];

    if (i < ps->len && ps->p[i] == '-')
        i++;
    digits = i;
    if (i < ps->len && ps->p[i] == '0')
        i++;
    else
        i = skip_digits(ps, i);
    if (i == digits)
        return fail(ps, "unexpected character");
    if (i < ps->len && ps->p[i] == '.') {
        digits = ++i;
        if ((i = skip_digits(ps, i)) == digits)
            return fail(ps, "digit expected after '.'");
    }
    if (i < ps->len && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        i++;
        if (i < ps->len && (ps->p[i] == '+' || ps->p[i] == '-'))
            i++;
        digits = i;
        if ((i = skip_digits(ps, i)) == digits)
            return fail(ps, "digit expected in exponent");
    }
    if (i - ps->pos > NUMBER_MAX)
        return fail(ps, "number longer than %d characters", NUMBER_MAX);
    memcpy(text, ps->p + ps->pos, i - ps->pos);
    text[i - ps->pos] = '\0';
    *out = strtod(text, NULL);
    ps->pos = i;
    return true;
}

static struct json_value *read_value(struct parser *ps, unsigned depth);

/* The members or elements of a container, at its opening bracket. */
static bool read_container(struct parser *ps, struct json_value *v, unsigned depth)
{
    bool object = v->type == JSON_OBJECT;
    char close = object ? '}' : ']';
    struct json_value **tail = &v->child;

    if (depth >= JSON_MAX_DEPTH)
        return fail(ps, "nested deeper than %d", JSON_MAX_DEPTH);
    ps->pos++;
    skip_space(ps);
    if (at(ps, close)) {
        ps->pos++;
        return true;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len;
        struct json_value *item;

        if (object) {
            skip_space(ps);
            if (!at(ps, '"'))
                return fail(ps, "expected a member name");
            if (!read_string(ps, &key, &key_len) || !expect(ps, ':'))
                return false;
        }
        item = read_value(ps, depth + 1);
        if (!item)
            return false;
        item->key = key;
        *tail = item;
        tail = &item->next;
        skip_space(ps);
        if (at(ps, ',')) {
            ps->pos++;
            continue;
        }
        return expect(ps, close);
    }
}

static struct json_value *read_value(struct parser *ps, unsigned depth)
{
    struct json_value *v;
    bool ok;

    skip_space(ps);
    if (ps->pos >= ps->len) {
        fail(ps, "unexpected end of document");
        return NULL;
    }
    v = conf_arena_calloc(ps->arena, 1, sizeof(*v));
    if (!v) {
        fail(ps, "document too large");
        return NULL;
    }
    switch (ps->p[ps->pos]) {
    case '{':
        v->type = JSON_OBJECT;
        ok = read_container(ps, v, depth);
        break;
    case '[':
        v->type = JSON_ARRAY;
        ok = read_container(ps, v, depth);
        break;
    case '"':
        v->type = JSON_STRING;
        ok = read_string(ps, &v->string, &v->string_len);
        break;
    case 't':
        v->type = JSON_BOOL;
        v->boolean = true;
        ok = literal(ps, "true");
        break;
    case 'f':
        v->type = JSON_BOOL;
        ok = literal(ps, "false");
        break;
    case 'n':
        v->type = JSON_NULL;
        ok = literal(ps, "null");
        break;
    default:
        v->type = JSON_NUMBER;
        ok = read_number(ps, &v->number);
        break;
    }
    return ok ? v : NULL;
}

struct json_doc *json_parse(const char *text, size_t len, size_t mem_limit, char *err,
                            size_t err_size)
{
    struct parser ps = {.p = text, .len = len, .err = err, .err_size = err_size};
    struct json_doc *doc = calloc(1, sizeof(*doc));

    if (err_size)
        err[0] = '\0';
    if (doc)
        doc->arena = conf_arena_new(mem_limit);
    if (!doc || !doc->arena) {
        snprintf(err, err_size, "out of memory");
        json_free(doc);
        return NULL;
    }
    ps.arena = doc->arena;
    doc->root = read_value(&ps, 0);
    if (doc->root) {
        skip_space(&ps);
        if (ps.pos < ps.len)
            fail(&ps, "unexpected data after the document");
    }
    if (ps.failed) {
        json_free(doc);
        return NULL;
    }
    return doc;
}

void json_free(struct json_doc *doc)
{
    if (!doc)
        return;
    conf_arena_free(doc->arena);
    free(doc);
}

const struct json_value *json_root(const struct json_doc *doc)
{
    return doc->root;
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (const struct json_value *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

const char *json_string(const struct json_value *v)
{
    return v && v->type == JSON_STRING ? v->string : NULL;
}

bool json_number(const struct json_value *v, double *out)
{
    if (!v || v->type != JSON_NUMBER)
        return false;
    *out = v->number;
    return true;
}
