/*
 * "Did you mean ...?" for misspelt keys, keywords and names.
 */
#ifndef LLMPROXY_CONF_SUGGEST_H
#define LLMPROXY_CONF_SUGGEST_H

#include <stddef.h>

/* Words longer than this are never close to anything (bounds the work per call). */
#define CONF_SUGGEST_MAX_LEN 64

/*
 * Edit distance (insertions, deletions, substitutions, swaps of neighbours) between
 * two words, or
 * SIZE_MAX when either is longer than CONF_SUGGEST_MAX_LEN.
 */
size_t conf_edit_distance(const char *a, size_t alen, const char *b, size_t blen);

/*
 * The candidate closest to `word` when it differs only by letter case, or by an edit
 * distance of at most 2 that leaves two thirds of the longer word intact (and is
 * not the word itself); NULL when none is close.
 * NULL entries of `candidates` are skipped.
 */
const char *conf_suggest(const char *word, size_t len, const char *const *candidates, size_t n);

#endif /* LLMPROXY_CONF_SUGGEST_H */
