#include <stdio.h>
#include <string.h>

#include "conf_diag.h"
#include "conf_expand.h"

#define VAR_NAME_MAX 128

static bool name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* Append to out, refusing to pass CONF_MAX_STRING. */
static int emit(char *out, size_t *o, const char *s, size_t n)
{
    if (n > CONF_MAX_STRING - *o)
        return -1;
    memcpy(out + *o, s, n);
    *o += n;
    return 0;
}

int conf_expand(const char *in, size_t len, conf_getenv_fn getenv_fn, void *getenv_ctx, char *out,
                size_t *out_len, bool *used_var, char *err, size_t err_size)
{
    char q[CONF_QUOTE_BUF];
    size_t i = 0, o = 0;

    *used_var = false;
    while (i < len) {
        const char *close, *colon, *val;
        char name[VAR_NAME_MAX + 1];
        size_t start = i, nlen;

        if (in[i] != '$' || i + 1 >= len || (in[i + 1] != '$' && in[i + 1] != '{')) {
            if (emit(out, &o, in + i, 1) < 0)
                goto too_long;
            i++;
            continue;
        }
        if (in[i + 1] == '$') {
            if (emit(out, &o, "$", 1) < 0)
                goto too_long;
            i += 2;
            continue;
        }
        close = memchr(in + i + 2, '}', len - i - 2);
        if (!close) {
            snprintf(err, err_size,
                     "unterminated \"${\" at character %zu of %s; write ${NAME}, "
                     "${NAME:-default} or $$ for a literal '$'",
                     start + 1, conf_quote(q, sizeof(q), in, len));
            return -1;
        }
        i += 2;
        colon = memchr(in + i, ':', (size_t)(close - (in + i)));
        nlen = (size_t)((colon ? colon : close) - (in + i));
        if (nlen == 0 || nlen > VAR_NAME_MAX || !name_start(in[i]) ||
            (colon && (colon + 1 >= close || colon[1] != '-')))
            goto bad_name;
        for (size_t k = 1; k < nlen; k++)
            if (!name_char(in[i + k]))
                goto bad_name;
        memcpy(name, in + i, nlen);
        name[nlen] = '\0';
        val = getenv_fn(name, getenv_ctx);
        if (!val || (colon && !val[0])) {
            if (!colon) {
                snprintf(err, err_size,
                         "environment variable %s is not set; set it, or give a default with "
                         "${%s:-default}",
                         name, name);
                return -1;
            }
            val = colon + 2;
            if (emit(out, &o, val, (size_t)(close - val)) < 0)
                goto too_long;
        } else if (emit(out, &o, val, strlen(val)) < 0) {
            goto too_long;
        }
        *used_var = true;
        i = (size_t)(close - in) + 1;
        continue;
    bad_name:
        snprintf(err, err_size,
                 "bad variable reference %s; expected ${NAME} or ${NAME:-default} with NAME "
                 "made of letters, digits and '_' (not starting with a digit)",
                 conf_quote(q, sizeof(q), in + start, (size_t)(close - (in + start)) + 1));
        return -1;
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
too_long:
    snprintf(err, err_size, "the value is longer than %u bytes after expansion; at most %u allowed",
             CONF_MAX_STRING, CONF_MAX_STRING);
    return -1;
}
