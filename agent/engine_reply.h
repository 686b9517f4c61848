/*
 * The pure half of scraping an engine's metrics page: the GET we send and the body of what
 * came back. No sockets: the scraper (engine_scrape.c) reads the whole reply (it asks for
 * `Connection: close`) and hands it here.
 */
#ifndef LLMPROXY_ENGINE_REPLY_H
#define LLMPROXY_ENGINE_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * "GET <path> HTTP/1.1" for host:port (an IPv6 literal bracketed in Host), closing after
 * the answer. Returns the request's length, or -1 when a byte of host or path could not
 * go on a request line or it does not fit `size` - 1 bytes.
 */
int engine_reply_request(const char *host, uint16_t port, const char *path, char *out, size_t size);

/*
 * The body of a complete reply of `len` bytes, which `eof` says the peer ended (closed).
 * Only a 200 is a page. A chunked body is decoded in place, over the reply's own bytes.
 * Without framing the body runs to the close; with a Content-Length it must all be there.
 * False, with `why` set, for anything else: not HTTP, another status, a head without its
 * end, a body cut short, bad chunks or framing HTTP forbids (both framings, two lengths).
 */
bool engine_reply_body(char *reply, size_t len, bool eof, char **body, size_t *body_len,
                       const char **why);

#endif /* LLMPROXY_ENGINE_REPLY_H */
