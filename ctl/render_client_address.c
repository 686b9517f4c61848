/*
 * The real client address behind trusted load balancers (forward `trusted_proxies`).
 *
 * HAProxy's `src` is made the client's address before any other rule runs, so everything
 * that reads it sees the client rather than the balancer: the agent's `pick` (argument
 * `src`, the rate limit bucket), the unique id (%ci, in every log line) and whatever else
 * reads `src` later. Only a peer in the forward's trusted list is believed:
 *
 * - with `proxy_protocol`, `tcp-request connection expect-proxy` takes the PROXY header
 *   (v1 or v2) from trusted peers alone; anyone else's PROXY header reaches the HTTP parser
 *   and is refused as a bad request;
 * - then the chosen header is walked from the right: while `src` is trusted and the next
 *   entry to the left is an address, `src` becomes that entry. The walk stops at the first
 *   untrusted address (the client), at anything that is not an address, or after
 *   CLIENT_ADDRESS_MAX_HOPS entries. What a client writes to the left of it is never read.
 *
 * Each step is two rules: one that records (in CLIENT_HOPS_VAR) that step k may be taken,
 * given that step k - 1 was, and one that takes it; a step that cannot be taken ends the
 * walk, so an entry that is not an address is never skipped over.
 */
#include <string.h>

#include "config.h"
#include "render.h"

/* Trusted proxies one request may pass through; deeper chains stop at the last one. */
#define CLIENT_ADDRESS_MAX_HOPS 8

/* How many entries of the header have been taken; HAProxy-internal. */
#define CLIENT_HOPS_VAR "txn.llm_hops"

/* A sample that is an IPv4 or IPv6 address (a string that converts to one). */
#define IS_ADDRESS "-m ip 0.0.0.0/0 ::/0"

/*
 * The address of the RFC 7239 `for=` parameter of a Forwarded element: IPv4, or IPv6 in
 * brackets, quoted or not, with or without a port; anything else (`unknown`, an obfuscated
 * `_name`, garbage) gives an empty string, which is no address. 2.6 has no rfc7239
 * converters (2.8+), so a regular expression does it, the same on every version. As
 * HAProxy reads it: a double-quoted word (hence \" and \$), the regex and the replacement
 * in single quotes inside.
 */
#define FORWARDED_FOR_REGSUB                                                                       \
    "regsub('^(.*;)?[[:space:]]*for=(\\\"?[[]([0-9a-f:.]+)[]]|\\\"?([0-9.]+))"                     \
    "(\\\"|:[0-9]*\\\"|;|[[:space:]]*\\$).*\\$|^.*\\$','\\\\3\\\\4',i)"

void render_trusted_acl(const struct config *cfg, size_t forward, struct render_out *r)
{
    const struct conf_forward *f = &cfg->forwards[forward];

    for (size_t i = 0; i < f->n_trusted_proxies; i++)
        render_printf(r, "%s\n", f->trusted_proxies[i].val);
}

/* `src -f "<output folder>/trusted_<forward>.acl"` */
static void src_trusted(const struct conf_forward *f, struct render_out *r)
{
    render_printf(r, "{ src -f \"");
    render_quoted_text(r, r->opts->dir, false, "the output folder");
    render_printf(r, "/" RENDER_TRUSTED_ACL_FMT "\" }", f->name);
}

/* The header entry `hop` places from the right, as a sample expression. */
static void header_entry(const struct conf_forward *f, unsigned hop, struct render_out *r)
{
    if (f->client_address_header == CLIENT_ADDRESS_FORWARDED)
        render_printf(r, "\"req.hdr(forwarded,-%u)," FORWARDED_FOR_REGSUB "\"", hop);
    else
        render_printf(r, "req.hdr(x-forwarded-for,-%u)", hop);
}

void render_client_address_rules(const struct conf_forward *f, struct render_out *r)
{
    if (f->n_trusted_proxies == 0)
        return;
    if (f->proxy_protocol) {
        render_printf(r, "    tcp-request connection expect-proxy layer4 if ");
        src_trusted(f, r);
        render_printf(r, "\n");
    }
    if (f->client_address_header == CLIENT_ADDRESS_NO_HEADER)
        return;
    for (unsigned hop = 1; hop <= CLIENT_ADDRESS_MAX_HOPS; hop++) {
        render_printf(r, "    http-request set-var(" CLIENT_HOPS_VAR ") int(%u) if ", hop);
        if (hop > 1)
            render_printf(r, "{ var(" CLIENT_HOPS_VAR ") -m int %u } ", hop - 1);
        src_trusted(f, r);
        render_printf(r, " { ");
        header_entry(f, hop, r);
        render_printf(r, " " IS_ADDRESS " }\n    http-request set-src ");
        header_entry(f, hop, r);
        render_printf(r, " if { var(" CLIENT_HOPS_VAR ") -m int %u }\n", hop);
    }
}
