/*
 * libFuzzer harness: a client's source address as text (rl_addr_parse), and the rate-limit
 * key made of it (rl_addr_client_key).
 *
 * The first byte picks the IPv6 prefix, the rest is the address. What parses must key the
 * same twice (the key is stable), an IPv4 or mapped address must stay whole, and an IPv6
 * key must have no bit set past the prefix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rl_addr addr, key, again;
    unsigned prefix;

    if (size < 1)
        return 0;
    prefix = data[0] % 130; /* 0-129: one past the largest prefix too */
    if (!rl_addr_parse(&addr, (const char *)data + 1, size - 1))
        return 0;
    key = addr;
    rl_addr_client_key(&key, prefix);
    again = key;
    rl_addr_client_key(&again, prefix);
    if (memcmp(&key, &again, sizeof(key)) != 0)
        abort();
    if (rl_addr_is_ipv4(&addr) || prefix >= 128) {
        if (memcmp(&key, &addr, sizeof(key)) != 0)
            abort();
        return 0;
    }
    for (unsigned bit = prefix; bit < 128; bit++)
        if (key.b[bit / 8] & (0x80u >> (bit % 8)))
            abort();
    for (unsigned bit = 0; bit < prefix; bit++)
        if ((key.b[bit / 8] ^ addr.b[bit / 8]) & (0x80u >> (bit % 8)))
            abort();
    return 0;
}
