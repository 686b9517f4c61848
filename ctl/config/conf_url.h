/*
 * Parsing the URLs and IP literals a configuration may contain.
 */
#ifndef LLMPROXY_CONF_URL_H
#define LLMPROXY_CONF_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-t.h"

struct conf_arena;

enum conf_url_kind {
    /* http(s)://host[:port][/base/path]: no credentials, query or fragment */
    CONF_URL_UPSTREAM,
    /* http://[user:pass@]host:port: plain http, explicit port, no path */
    CONF_URL_PROXY,
};

/*
 * Split `s` into `out` (strings allocated from `arena`). Returns 0, or -1 with a
 * message "what was found; what is allowed" in `err`. The scheme is
 * case-insensitive; a base path loses its trailing '/' ("/v1/" -> "/v1", "/" -> "").
 */
int conf_url_parse(struct conf_arena *arena, const char *s, enum conf_url_kind kind,
                   struct conf_url *out, char *err, size_t err_size);

/* An IPv4 or IPv6 address literal (no brackets, no port); its family and 16 bytes. */
struct conf_ip {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
};

bool conf_ip_parse(const char *s, struct conf_ip *out);

/* 127.0.0.0/8 or ::1: reachable from this host only. */
bool conf_ip_is_loopback(const struct conf_ip *ip);

/* Whether two listeners on the same port would fight for it (wildcards included). */
bool conf_ip_overlap(const struct conf_ip *a, const struct conf_ip *b);

#endif /* LLMPROXY_CONF_URL_H */
