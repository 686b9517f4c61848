/*
 * The pure half of tunnelling through a forward proxy: the CONNECT request we send and the
 * response head we read back. No sockets, no allocation: the tunnel feeds bytes in.
 */
#ifndef LLMPROXY_CONNECT_PROXY_H
#define LLMPROXY_CONNECT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connect_proxy-t.h"

/*
 * "CONNECT host:port HTTP/1.1" with a matching Host header and, when `userinfo`
 * ("user:pass" as written in the proxy URL, percent-encoded) is not NULL, a
 * "Proxy-Authorization: Basic" header of its decoded form. IPv6 hosts are bracketed.
 * Writes a NUL-terminated request into `out` and returns its length, or -1 with a reason
 * in `*why` (a host with bytes a request line cannot carry, bad percent-encoding, or a
 * request longer than `size` - 1).
 */
int connect_proxy_request(const char *host, uint16_t port, const char *userinfo, char *out,
                          size_t size, const char **why);

/*
 * Look at the first `len` bytes the proxy sent. Incomplete heads are fine to call again
 * with more bytes; a verdict other than CONNECT_PROXY_INCOMPLETE is final. Only the status
 * line is interpreted: headers of a failed CONNECT are not needed, and on success the
 * proxy sends none that matter.
 */
enum connect_proxy_head connect_proxy_parse(const char *buf, size_t len,
                                            struct connect_proxy_response *out);

/* Whether a parsed status opens the tunnel (any 2xx, as RFC 9110 section 9.3.6 says). */
static inline bool connect_proxy_established(const struct connect_proxy_response *r)
{
    return r->status >= 200 && r->status <= 299;
}

#endif /* LLMPROXY_CONNECT_PROXY_H */
