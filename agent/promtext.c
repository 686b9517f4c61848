#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "promtext.h"

/* Append `s`, escaping backslash and newline, and double quote when `quote` is set. */
static void escape(struct buf *out, const char *s, int quote)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = NULL;

        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && quote)
            rep = "\\\"";
        if (!rep)
            continue;
        buf_append(out, run, (size_t)(s - run));
        buf_puts(out, rep);
        run = s + 1;
    }
    buf_append(out, run, (size_t)(s - run));
}

void prom_escape_label(struct buf *out, const char *s)
{
    escape(out, s, 1);
}

void prom_family(struct buf *out, const char *name, const char *help, const char *type)
{
    buf_printf(out, "# HELP %s ", name);
    escape(out, help, 0);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

void prom_format_number(char *dst, double v)
{
    if (isnan(v)) {
        strcpy(dst, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(dst, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Integers up to 2^53 are exact in a double: print them without exponent. */
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(dst, PROM_NUM_MAX, "%.0f", v);
        return;
    }
    /* The shortest precision that reads back to the same double. */
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(dst, PROM_NUM_MAX, "%.*g", prec, v);
        if (strtod(dst, NULL) == v)
            return;
    }
}

void prom_sample(struct buf *out, const char *name, const char *suffix,
                 const struct prom_labels *labels, const char *le, double value)
{
    char num[PROM_NUM_MAX];
    size_t n = labels ? labels->n : 0;

    buf_puts(out, name);
    buf_puts(out, suffix);
    if (n || le) {
        buf_puts(out, "{");
        for (size_t i = 0; i < n; i++) {
            buf_printf(out, "%s%s=\"", i ? "," : "", labels->names[i]);
            prom_escape_label(out, labels->values[i]);
            buf_puts(out, "\"");
        }
        if (le)
            buf_printf(out, "%sle=\"%s\"", n ? "," : "", le);
        buf_puts(out, "}");
    }
    prom_format_number(num, value);
    buf_printf(out, " %s\n", num);
}
