/*
 * Shared bucket names. Each field is length-prefixed, so that no two identities hash the
 * same bytes ("a" + "bc" and "ab" + "c").
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "cluster_key.h"

static void hash_fields(struct cluster_digest *out, char kind, const char *prefix, const void *a,
                        size_t a_len, const void *b, size_t b_len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint32_t lens[3] = {(uint32_t)strlen(prefix), (uint32_t)a_len, (uint32_t)b_len};

    memset(md, 0, sizeof(md));
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(ctx, &kind, 1);
        EVP_DigestUpdate(ctx, lens, sizeof(lens));
        EVP_DigestUpdate(ctx, prefix, lens[0]);
        EVP_DigestUpdate(ctx, a, a_len);
        EVP_DigestUpdate(ctx, b, b_len);
        EVP_DigestFinal_ex(ctx, md, &md_len);
    }
    EVP_MD_CTX_free(ctx);
    memcpy(out->b, md, sizeof(out->b));
}

void cluster_key_address(struct cluster_digest *out, const char *prefix, const char *forward,
                         const struct rl_addr *addr)
{
    hash_fields(out, 'a', prefix, forward, strlen(forward), addr->b, sizeof(addr->b));
}

void cluster_key_client(struct cluster_digest *out, const char *prefix, const char *name)
{
    hash_fields(out, 'c', prefix, name, strlen(name), "", 0);
}

size_t cluster_key_redis(char *out, const char *prefix, const struct cluster_digest *d)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = (size_t)snprintf(out, CLUSTER_REDIS_KEY_MAX, "llmproxy:%.64s%srl:", prefix,
                                prefix[0] ? ":" : "");

    for (size_t i = 0; i < CLUSTER_DIGEST_LEN && n + 2 < CLUSTER_REDIS_KEY_MAX; i++) {
        out[n++] = hex[d->b[i] >> 4];
        out[n++] = hex[d->b[i] & 15];
    }
    out[n] = '\0';
    return n;
}
