/* Test helper, see hexspec.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "hexspec.h"

static void spec_error(const char *spec, const char *why)
{
    fprintf(stderr, "hexspec: %s in \"%s\"\n", why, spec);
    abort();
}

static int nibble(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

size_t hexspec(const char *spec, uint8_t *out, size_t cap)
{
    const char *p = spec;
    size_t n = 0;

    while (*p != '\0') {
        if (isspace((unsigned char)*p)) {
            p++;
        } else if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0')
                    spec_error(spec, "unterminated quote");
                if (n == cap)
                    spec_error(spec, "output too small");
                out[n++] = (uint8_t)*p;
            }
            p++;
        } else {
            int hi = nibble((unsigned char)p[0]);
            int lo = hi < 0 ? -1 : nibble((unsigned char)p[1]);

            if (lo < 0)
                spec_error(spec, "bad hex pair");
            if (n == cap)
                spec_error(spec, "output too small");
            out[n++] = (uint8_t)(hi << 4 | lo);
            p += 2;
        }
    }
    return n;
}
