/*
 * The diagnostic list. Each entry owns its strings (the configuration they describe
 * is usually freed before they are shown); one allocation holds path, message and
 * file name together, pointed to by `path`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conf_diag.h"

#define DIAG_MSG_MAX 1024

static int diags_reserve(struct conf_diags *diags)
{
    struct conf_diag *v;
    size_t cap;

    if (diags->n < diags->cap)
        return 0;
    cap = diags->cap ? diags->cap * 2 : 16;
    v = realloc(diags->v, cap * sizeof(*v));
    if (!v)
        return -1;
    diags->v = v;
    diags->cap = cap;
    return 0;
}

int conf_diag_add(struct conf_diags *diags, const struct conf_pos *pos, const char *path,
                  const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = conf_diag_vadd(diags, pos, path, fmt, ap);
    va_end(ap);
    return rc;
}

int conf_diag_vadd(struct conf_diags *diags, const struct conf_pos *pos, const char *path,
                   const char *fmt, va_list ap)
{
    char msg[DIAG_MSG_MAX];
    const char *file = pos && pos->file ? pos->file : "";
    size_t lp, lm, lf;
    struct conf_diag *d;
    char *block;

    if (diags->n >= CONF_MAX_DIAGS) {
        diags->dropped++;
        return 0;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (!path)
        path = "";
    lp = strlen(path) + 1;
    lm = strlen(msg) + 1;
    lf = strlen(file) + 1;
    if (diags_reserve(diags) < 0 || !(block = malloc(lp + lm + lf))) {
        diags->dropped++;
        return -1;
    }
    memcpy(block, path, lp);
    memcpy(block + lp, msg, lm);
    memcpy(block + lp + lm, file, lf);
    d = &diags->v[diags->n++];
    d->path = block;
    d->message = block + lp;
    d->pos.file = block + lp + lm;
    d->pos.line = pos ? pos->line : 0;
    d->pos.col = pos ? pos->col : 0;
    return 0;
}

static int pos_before(const struct conf_pos *a, const struct conf_pos *b)
{
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

/* Insertion sort: stable, and the list is short (CONF_MAX_DIAGS). */
void conf_diags_sort(struct conf_diags *diags)
{
    size_t i, j;

    for (i = 1; i < diags->n; i++) {
        struct conf_diag d = diags->v[i];

        for (j = i; j > 0 && pos_before(&d.pos, &diags->v[j - 1].pos); j--)
            diags->v[j] = diags->v[j - 1];
        diags->v[j] = d;
    }
}

size_t conf_diags_count(const struct conf_diags *diags)
{
    return diags->n + diags->dropped;
}

void conf_diags_print(const struct conf_diags *diags, FILE *out)
{
    size_t i;

    for (i = 0; i < diags->n; i++) {
        const struct conf_diag *d = &diags->v[i];

        fputs(d->pos.file, out);
        if (d->pos.line)
            fprintf(out, ":%u:%u", d->pos.line, d->pos.col);
        fputs(": ", out);
        if (d->path[0])
            fprintf(out, "%s: ", d->path);
        fprintf(out, "%s\n", d->message);
    }
    if (diags->dropped)
        fprintf(out, "%s: %zu more errors not shown\n", diags->n ? diags->v[0].pos.file : "",
                diags->dropped);
}

void conf_diags_free(struct conf_diags *diags)
{
    size_t i;

    for (i = 0; i < diags->n; i++)
        free(diags->v[i].path);
    free(diags->v);
    memset(diags, 0, sizeof(*diags));
}

const char *conf_quote(char *buf, size_t size, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    if (size < CONF_QUOTE_BUF) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (i = 0; i < len && i < CONF_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c == '\r') {
            buf[o++] = '\\';
            buf[o++] = 'r';
        } else if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
