/* Bearer token check of the admin endpoint, see admin_auth.h. */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "admin_auth.h"

#define SCHEME     "Bearer"
#define SCHEME_LEN (sizeof(SCHEME) - 1)

bool admin_auth_ok(const char *value, size_t len, const char *token)
{
    unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    bool scheme_ok;
    size_t i = SCHEME_LEN;

    if (!token || !token[0])
        return true;
    scheme_ok = value && len > SCHEME_LEN && strncasecmp(value, SCHEME, SCHEME_LEN) == 0 &&
                (value[i] == ' ' || value[i] == '\t');
    if (!scheme_ok) {
        value = "";
        len = i = 0;
    }
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    SHA256((const unsigned char *)token, strlen(token), want);
    SHA256((const unsigned char *)value + i, len - i, got);
    return CRYPTO_memcmp(want, got, sizeof(want)) == 0 && scheme_ok;
}
