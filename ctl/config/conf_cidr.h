/*
 * IPv4 and IPv6 networks as an operator writes them (`10.0.0.0/8`, `2001:db8::/32`, or a
 * single address), checked strictly: they decide whose word on a client's address is
 * believed, so nothing HAProxy would read differently from what was meant gets through.
 */
#ifndef LLMPROXY_CONF_CIDR_H
#define LLMPROXY_CONF_CIDR_H

#include <netinet/in.h>
#include <stdbool.h>

/* Room for the canonical form: the longest IPv6 text, '/', 3 digits, NUL. */
#define CONF_CIDR_SIZE (INET6_ADDRSTRLEN + 4)

/*
 * Check the network `text` and write its canonical form "<address>/<prefix length>" (an
 * address alone gets /32 or /128) into `out`. Returns NULL when `text` is a network, else
 * what is wrong with it; when only host bits are set beyond the prefix, `out` holds the
 * network that was probably meant. `*prefix` gets the prefix length when it is known.
 */
const char *conf_cidr_parse(const char *text, char out[CONF_CIDR_SIZE], unsigned *prefix);

#endif /* LLMPROXY_CONF_CIDR_H */
