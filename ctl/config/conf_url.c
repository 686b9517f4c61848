/*
 * A deliberately small URL grammar: what an LLM API base URL or an HTTP proxy URL
 * needs, and nothing the renderer could not express in haproxy.cfg.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf_arena.h"
#include "conf_diag.h"
#include "conf_url.h"

#define HOST_MAX 253

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar minus '%' (checked apart) plus '/'. */
static bool path_char(char c)
{
    return is_alnum(c) || (c && strchr("-._~!$&'()*+,;=:@/", c));
}

static int url_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Messages name the faulty part only: a proxy URL may carry a password. */
static int url_error(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_port(const char *p, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    size_t i;

    if (n == 0 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* A DNS name or an IPv4 literal: letters, digits, '-', '.', '_'. */
/* A DNS name or an IPv4 literal: letters, digits, '-', '.', '_'. */
static bool valid_reg_name(const char *h, size_t n)
{
    char ip[INET_ADDRSTRLEN];
    bool digits_and_dots = true;
    struct in_addr a4;
    size_t i;

    if (n == 0 || n > HOST_MAX || h[0] == '.' || h[0] == '-')
        return false;
    for (i = 0; i < n; i++) {
        if (!is_alnum(h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
            return false;
        if (!(h[i] >= '0' && h[i] <= '9') && h[i] != '.')
            digits_and_dots = false;
    }
    if (!digits_and_dots)
        return true;
    /* All digits and dots looks like an IPv4 address: it must be a valid one. */
    if (n >= sizeof(ip))
        return false;
    memcpy(ip, h, n);
    ip[n] = '\0';
    return inet_pton(AF_INET, ip, &a4) == 1;
}

static int parse_host(struct conf_arena *arena, const char *h, size_t n, struct conf_url *out,
                      char *err, size_t err_size)
{
    char q[CONF_QUOTE_BUF];

    if (n && h[0] == '[') {
        char ip[INET6_ADDRSTRLEN];
        struct in6_addr a6;

        if (n < 3 || h[n - 1] != ']' || n - 2 >= sizeof(ip))
            return url_error(err, err_size, "malformed IPv6 host %s; expected [address]",
                             conf_quote(q, sizeof(q), h, n));
        memcpy(ip, h + 1, n - 2);
        ip[n - 2] = '\0';
        if (inet_pton(AF_INET6, ip, &a6) != 1)
            return url_error(err, err_size, "invalid IPv6 address %s",
                             conf_quote(q, sizeof(q), h, n));
        out->host = conf_arena_strdup(arena, ip);
    } else {
        if (n == 0)
            return url_error(err, err_size, "the URL has no host; expected scheme://host");
        if (!valid_reg_name(h, n))
            return url_error(err, err_size,
                             "invalid host %s; expected a DNS name, an IPv4 address or "
                             "[IPv6 address]",
                             conf_quote(q, sizeof(q), h, n));
        out->host = conf_arena_strndup(arena, h, n);
    }
    return out->host ? 0 : url_error(err, err_size, "out of memory");
}

static int parse_path(struct conf_arena *arena, const char *p, struct conf_url *out, char *err,
                      size_t err_size)
{
    size_t n = strlen(p), i;
    char q[CONF_QUOTE_BUF];

    for (i = 0; i < n; i++) {
        if (p[i] == '?')
            return url_error(err, err_size,
                             "a query string (\"?...\") is not allowed; give the base URL only");
        if (p[i] == '#')
            return url_error(err, err_size, "a fragment (\"#...\") is not allowed");
        if (p[i] == '%') {
            if (i + 2 >= n || !is_hex(p[i + 1]) || !is_hex(p[i + 2]))
                return url_error(err, err_size, "bad percent-encoding in the path; expected %%XX");
            i += 2;
            continue;
        }
        if (!path_char(p[i]))
            return url_error(err, err_size,
                             "the character %s is not allowed in a URL path; percent-encode it",
                             conf_quote(q, sizeof(q), p + i, 1));
    }
    while (n > 0 && p[n - 1] == '/')
        n--;
    out->base_path = conf_arena_strndup(arena, p, n);
    return out->base_path ? 0 : url_error(err, err_size, "out of memory");
}

/* Where the port's ':' is in the authority, after any ']' of an IPv6 literal; or NULL. */
static const char *port_colon(const char *host, const char *end)
{
    const char *c;

    for (c = end; c > host; c--) {
        if (c[-1] == ']')
            return NULL;
        if (c[-1] == ':')
            return c - 1;
    }
    return NULL;
}

int conf_url_parse(struct conf_arena *arena, const char *s, enum conf_url_kind kind,
                   struct conf_url *out, char *err, size_t err_size)
{
    const char *sep = strstr(s, "://"), *auth, *end, *at, *host, *colon;
    bool proxy = kind == CONF_URL_PROXY;
    char q[CONF_QUOTE_BUF];
    size_t scheme_len;

    memset(out, 0, sizeof(*out));
    if (!sep)
        return url_error(err, err_size, "not a URL; expected %s",
                         proxy ? "http://host:port" : "http(s)://host[:port][/base/path]");
    scheme_len = (size_t)(sep - s);
    if (!proxy && scheme_len == 5 && strncasecmp(s, "https", 5) == 0)
        out->tls = true;
    else if (!(scheme_len == 4 && strncasecmp(s, "http", 4) == 0))
        return url_error(err, err_size, "unsupported scheme %s; %s",
                         conf_quote(q, sizeof(q), s, scheme_len),
                         proxy ? "a proxy URL must be http://host:port" : "allowed: http, https");
    auth = sep + 3;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at && !proxy)
        return url_error(err, err_size,
                         "credentials (\"user@\") are not allowed in the URL; use auth with "
                         "type bearer or basic");
    if (at) {
        if (at == auth)
            return url_error(err, err_size, "empty credentials before '@'; expected user:pass@");
        if (!(out->userinfo = conf_arena_strndup(arena, auth, (size_t)(at - auth))))
            return url_error(err, err_size, "out of memory");
    }
    host = at ? at + 1 : auth;
    colon = port_colon(host, end);
    if (parse_host(arena, host, (size_t)((colon ? colon : end) - host), out, err, err_size) < 0)
        return -1;
    if (colon) {
        if (parse_port(colon + 1, (size_t)(end - colon - 1), &out->port) < 0)
            return url_error(err, err_size, "invalid port %s; allowed: 1-65535",
                             conf_quote(q, sizeof(q), colon + 1, (size_t)(end - colon - 1)));
        out->port_explicit = true;
    } else if (proxy) {
        return url_error(err, err_size, "the proxy URL has no port; expected http://host:port");
    } else {
        out->port = out->tls ? 443 : 80;
    }
    if (proxy && *end && strcmp(end, "/") != 0)
        return url_error(err, err_size,
                         "a path, query or fragment is not allowed; expected http://host:port");
    return parse_path(arena, end, out, err, err_size);
}

bool conf_ip_parse(const char *s, struct conf_ip *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->addr) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->addr) == 1) {
        out->family = AF_INET6;
        return true;
    }
    return false;
}

static bool ip_is_any(const struct conf_ip *ip)
{
    static const unsigned char zero[16];

    return memcmp(ip->addr, zero, ip->family == AF_INET ? 4 : 16) == 0;
}

bool conf_ip_overlap(const struct conf_ip *a, const struct conf_ip *b)
{
    /* "::" is dual-stack on Linux by default: it takes the port on every address. */
    if ((a->family == AF_INET6 && ip_is_any(a)) || (b->family == AF_INET6 && ip_is_any(b)))
        return true;
    if (a->family != b->family)
        return false;
    if (ip_is_any(a) || ip_is_any(b))
        return true;
    return memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

bool conf_ip_is_loopback(const struct conf_ip *ip)
{
    static const unsigned char v6_loopback[16] = {[15] = 1};

    if (ip->family == AF_INET)
        return ip->addr[0] == 127;
    return memcmp(ip->addr, v6_loopback, sizeof(v6_loopback)) == 0;
}
