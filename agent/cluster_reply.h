/*
 * Reading Redis' answers to the sync batch as hostile input: a Redis that is not ours,
 * or a proxy in between, may answer anything. Pure; the reply structure is hiredis'.
 */
#ifndef LLMPROXY_CLUSTER_REPLY_H
#define LLMPROXY_CLUSTER_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* Longest reply array hiredis may build for us: a batch's reply has max_keys_per_sync
 * elements (at most 100000), anything longer is refused before it is allocated. */
#define CLUSTER_REPLY_MAX_ELEMENTS 100000

/*
 * Make `reader` refuse, before allocating it, an array announced longer than
 * CLUSTER_REPLY_MAX_ELEMENTS: the hiredis of Debian 12 allocates whatever length a server
 * announces. The reader then fails as out of memory, which drops the connection.
 */
void cluster_reply_cap_arrays(redisReader *reader);

/*
 * The levels of a batch of `n` buckets: an array of exactly `n` integers, each within
 * +-`limit_mt`. Returns 0 and fills `levels`, or -1 with what was wrong in `err` (an
 * error reply's text is cut and made printable: it is logged).
 */
int cluster_reply_levels(const redisReply *r, size_t n, int64_t limit_mt, int64_t *levels,
                         char *err, size_t errlen);

/* Whether `r` is the success of a setup command (AUTH, SELECT: +OK; SCRIPT LOAD: a 40-hex
 * sha, copied into `sha` of 41 bytes when not NULL). -1 with `err` as above otherwise. */
int cluster_reply_ok(const redisReply *r, char *sha, char *err, size_t errlen);

#endif /* LLMPROXY_CLUSTER_REPLY_H */
