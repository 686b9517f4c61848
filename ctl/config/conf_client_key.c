/*
 * Client keys: character rules and hashing (OpenSSL's SHA-256, as HAProxy's sha2(256)).
 */
#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>

#include "conf_client_key.h"

bool conf_client_key_valid(const char *key, size_t len)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                  "._~+/=-";
    size_t i;

    if (len < CONF_CLIENT_KEY_MIN || len > CONF_CLIENT_KEY_MAX)
        return false;
    for (i = 0; i < len; i++)
        if (!key[i] || !strchr(allowed, key[i]))
            return false;
    return true;
}

int conf_sha256_hex(const void *key, size_t len, char out[CONF_SHA256_HEX_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0, i;

    if (!EVP_Digest(key, len, md, &md_len, EVP_sha256(), NULL) ||
        md_len * 2 + 1 != CONF_SHA256_HEX_SIZE)
        return -1;
    for (i = 0; i < md_len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[2 * md_len] = '\0';
    return 0;
}

bool conf_sha256_hex_valid(const char *s)
{
    size_t i;

    for (i = 0; i < CONF_SHA256_HEX_SIZE - 1; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return s[i] == '\0';
}

bool conf_client_name_reserved(const char *name)
{
    return strcmp(name, CONF_CLIENT_ANONYMOUS) == 0 ||
           strcmp(name, CONF_CLIENT_UNAUTHENTICATED) == 0 || strcmp(name, CONF_CLIENT_UNKNOWN) == 0;
}
