/*
 * Networks are parsed with inet_pton: dotted quads of decimal numbers only (no 10.1, no
 * octal, no hex) and IPv6 without zones, so that no entry can be read two ways; what is
 * rendered is the canonical form, not the text as written.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "conf_cidr.h"

/* Clear the bits of `addr` (len bytes) beyond the first `prefix`; whether any was set. */
static bool clear_host_bits(unsigned char *addr, size_t len, unsigned prefix)
{
    bool set = false;

    for (size_t i = 0; i < len; i++) {
        unsigned left = prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
        unsigned char keep = left >= 8 ? 0xff : (unsigned char)(0xff00u >> left);

        set = set || (addr[i] & ~keep);
        addr[i] &= keep;
    }
    return set;
}

/* A prefix length: 1 to 3 decimal digits, at most `max`. */
static bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
    size_t n = strspn(s, "0123456789");
    unsigned v = 0;

    if (n == 0 || n > 3 || s[n] != '\0')
        return false;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    *out = v;
    return v <= max;
}

const char *conf_cidr_parse(const char *text, char out[CONF_CIDR_SIZE], unsigned *prefix)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char host[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t host_len = slash ? (size_t)(slash - text) : strlen(text);
    bool host_bits;
    int family;
    unsigned max, len;

    out[0] = '\0';
    if (!*text)
        return "empty; expected an IPv4 or IPv6 network such as 10.0.0.0/8 or 2001:db8::/32, "
               "or one address";
    if (host_len == 0 || host_len >= sizeof(host))
        return "not an IPv4 or IPv6 address before the '/'";
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET, host, addr) == 1) {
        family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, addr) == 1) {
        family = AF_INET6;
        max = 128;
    } else {
        return "not an IPv4 or IPv6 address (expected e.g. 10.0.0.0/8, 192.0.2.7 or "
               "2001:db8::/32; no names, zones or spaces)";
    }
    len = max;
    if (slash && !parse_prefix(slash + 1, max, &len))
        return family == AF_INET ? "bad prefix length; an IPv4 network takes /0 to /32"
                                 : "bad prefix length; an IPv6 network takes /0 to /128";
    *prefix = len;
    host_bits = clear_host_bits(addr, family == AF_INET ? 4 : 16, len);
    inet_ntop(family, addr, canon, sizeof(canon));
    snprintf(out, CONF_CIDR_SIZE, "%s/%u", canon, len);
    return host_bits ? "has bits set beyond its prefix length" : NULL;
}
