#include <ctype.h>

#include "conf_haproxy_version.h"

/* 1-3 digits at *s into *out; advances *s. */
static bool read_number(const char **s, unsigned *out)
{
    unsigned n = 0, digits = 0;

    while (isdigit((unsigned char)**s) && digits < 3) {
        n = n * 10 + (unsigned)(**s - '0');
        (*s)++;
        digits++;
    }
    *out = n;
    return digits > 0 && !isdigit((unsigned char)**s);
}

const char *conf_haproxy_version_parse(const char *s, struct conf_haproxy_version *v)
{
    unsigned major, minor;

    if (!read_number(&s, &major) || *s != '.')
        return NULL;
    s++;
    if (!read_number(&s, &minor) || major == 0)
        return NULL;
    v->major = major;
    v->minor = minor;
    return s;
}

int conf_haproxy_version_cmp(struct conf_haproxy_version a, struct conf_haproxy_version b)
{
    if (a.major != b.major)
        return a.major < b.major ? -1 : 1;
    return a.minor < b.minor ? -1 : a.minor > b.minor;
}

bool conf_haproxy_version_known(struct conf_haproxy_version v)
{
    return v.major != 0;
}
