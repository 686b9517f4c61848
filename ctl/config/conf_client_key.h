/*
 * Client API keys: what a key may be made of, and its SHA-256, the only form of it that
 * leaves the configuration (HAProxy hashes what a client presents and looks the hash up).
 */
#ifndef LLMPROXY_CONF_CLIENT_KEY_H
#define LLMPROXY_CONF_CLIENT_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "config-t.h"

#define CONF_CLIENT_KEY_MIN 16
#define CONF_CLIENT_KEY_MAX 512

/* What a key may be made of, for messages. */
#define CONF_CLIENT_KEY_CHARS "letters, digits and ._~+/=-"

/*
 * Whether `key` has CONF_CLIENT_KEY_MIN..MAX characters of CONF_CLIENT_KEY_CHARS. HAProxy
 * strips a header value's surrounding whitespace and some of its fetches stop at a comma,
 * so only such keys arrive the same in Authorization, x-api-key and api-key.
 */
bool conf_client_key_valid(const char *key, size_t len);

/* The SHA-256 of `len` bytes at `key` in lowercase hex; 0, or -1 if OpenSSL failed. */
int conf_sha256_hex(const void *key, size_t len, char out[CONF_SHA256_HEX_SIZE]);

/* Whether `s` is 64 hex digits (either case): a SHA-256 as written by an operator. */
bool conf_sha256_hex_valid(const char *s);

/* Whether `name` is one of the CONF_CLIENT_* labels no client may take. */
bool conf_client_name_reserved(const char *name);

#endif /* LLMPROXY_CONF_CLIENT_KEY_H */
