/*
 * The last attempt of recent requests, by request id.
 *
 * In a group with retries the client's request and its attempts are separate HAProxy
 * streams: when an attempt fails, its listener answers the group layer with one of
 * LLMProxy's JSON errors, chosen by how the attempt ended (an unreachable upstream, a
 * timeout, a bad response), and the group layer relays it as an ordinary 502 or 504.
 * The request's own log line cannot tell that error from an upstream's own 502, so the
 * request is judged by its last attempt, remembered here from the ATTEMPT line the
 * listener logged first. A slot per keyed hash of the id: a new request overwrites an
 * old one's slot, so the memory is fixed and a request whose slot was taken (or whose
 * lines came out of order) is judged from its own line, as before.
 */
#ifndef LLMPROXY_ATTEMPT_MEMO_H
#define LLMPROXY_ATTEMPT_MEMO_H

#include "attempt_memo-t.h"

/* An empty memo hashing ids with `key` (secret and random: ids come from clients' addresses). */
void attempt_memo_init(struct attempt_memo *m, const struct siphash_key *key);

/* Remember the attempt of request `id` (replacing an earlier attempt of the same request,
 * or whatever request held the slot). An empty id is not remembered. */
void attempt_memo_put(struct attempt_memo *m, const struct logline_str *id, int status,
                      struct outcome outcome);

/* The last attempt of request `id`, remembered still: false when none is. */
bool attempt_memo_peek(struct attempt_memo *m, const struct logline_str *id, int *status,
                       struct outcome *outcome);

/* The last attempt of request `id`, forgotten once taken: false when none is remembered. */
bool attempt_memo_take(struct attempt_memo *m, const struct logline_str *id, int *status,
                       struct outcome *outcome);

#endif /* LLMPROXY_ATTEMPT_MEMO_H */
