#include "contract/pair_hash.h"

uint64_t pair_hash(const char *group, const char *upstream)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *names[2] = {group, upstream};

    for (int i = 0; i < 2; i++)
        for (const unsigned char *p = (const unsigned char *)names[i];; p++) {
            h = (h ^ *p) * 0x100000001b3ull;
            if (!*p)
                break;
        }
    return h;
}
