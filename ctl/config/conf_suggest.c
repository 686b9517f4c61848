/*
 * Levenshtein distance with two rows, and a nearest-candidate picker on top.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "conf_suggest.h"

#define SUGGEST_MAX_DISTANCE 2

size_t conf_edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Three rows: the optimal-string-alignment variant counts a swap of two neighbours
     * ("prot" for "port") as one edit, like the typo it is. */
    size_t rows[3][CONF_SUGGEST_MAX_LEN + 1];
    size_t *two = rows[0], *prev = rows[1], *cur = rows[2], *t;
    size_t i, j;

    if (alen > CONF_SUGGEST_MAX_LEN || blen > CONF_SUGGEST_MAX_LEN)
        return SIZE_MAX;
    for (j = 0; j <= blen; j++)
        prev[j] = j;
    for (i = 1; i <= alen; i++) {
        cur[0] = i;
        for (j = 1; j <= blen; j++) {
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t best = del < ins ? del : ins;

            best = sub < best ? sub : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                two[j - 2] + 1 < best)
                best = two[j - 2] + 1;
            cur[j] = best;
        }
        t = two;
        two = prev;
        prev = cur;
        cur = t;
    }
    return prev[blen];
}

const char *conf_suggest(const char *word, size_t len, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = SUGGEST_MAX_DISTANCE + 1, i;

    for (i = 0; i < n; i++) {
        const char *c = candidates[i];
        size_t clen, d;

        if (!c)
            continue;
        clen = strlen(c);
        if (clen == len && memcmp(c, word, len) == 0)
            continue;
        /* A case difference is the likeliest slip: rank it above any real edit. */
        if (clen == len && strncasecmp(c, word, len) == 0)
            return c;
        if ((clen > len ? clen - len : len - clen) > SUGGEST_MAX_DISTANCE)
            continue;
        d = conf_edit_distance(word, len, c, clen);
        /* Two edits turn "zz" into "u1": only suggest when most of the word survives. */
        if (d * 3 > (clen > len ? clen : len))
            continue;
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}
