/*
 * The admin endpoint at http_server.admin (docs/metrics.md), on the agent's libev loop:
 *   GET /health  -> 200 "OK\n", text/plain
 *   GET <page>   -> 200, a page from its render callback (/metrics, /status: see main.c);
 *                   401 without the bearer token when http_server.admin.token is set
 *   other paths  -> 404; other methods -> 405; malformed or oversized heads -> 4xx
 * A connection must deliver each request head within the admin timeout.connect (else
 * 408 and close); keep-alive and pipelining are honoured; responses of any size are
 * written out in full as the client reads them.
 */
#ifndef LLMPROXY_ADMIN_H
#define LLMPROXY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "admin-t.h"

struct admin_server;
struct conf_admin;

/*
 * Bind and listen; NULL (with errno set, and a message logged) on failure. The `n_pages`
 * `pages` (kept, not copied: they must outlive the server) are rendered with `ctx`.
 */
struct admin_server *admin_start(struct ev_loop *loop, const struct conf_admin *conf,
                                 const struct admin_page *pages, size_t n_pages, void *ctx);

/* Close the listener and every connection. NULL is accepted. */
void admin_free(struct admin_server *srv);

/* Require `token` (copied) for every page but /health; NULL or "" opens them. False when out
 * of memory (the previous token is kept). */
bool admin_set_token(struct admin_server *srv, const char *token);

void admin_stats(const struct admin_server *srv, struct admin_stats *out);

/* The port actually bound (useful when the configuration asked for port 0). */
uint16_t admin_port(const struct admin_server *srv);

#endif /* LLMPROXY_ADMIN_H */
