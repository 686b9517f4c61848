/*
 * The admin endpoint's optional bearer token (http_server.admin.token), which guards
 * /metrics and /status; /health stays open so that liveness probes need no secret.
 */
#ifndef LLMPROXY_ADMIN_AUTH_H
#define LLMPROXY_ADMIN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether an Authorization header value (`value`, `len` bytes, NULL when the header is
 * absent) carries `token` as "Bearer <token>" (scheme case-insensitive, RFC 6750). A NULL
 * or empty `token` lets everything through. The comparison takes the same time whatever
 * the bytes and lengths offered: both sides are hashed (SHA-256) and the digests compared
 * in constant time, so neither a prefix nor the length of the token can be timed out.
 */
bool admin_auth_ok(const char *value, size_t len, const char *token);

#endif /* LLMPROXY_ADMIN_AUTH_H */
