/*
 * Session affinity: a session (a client's conversation, keyed by HAProxy) stays on one
 * member of its group, so an engine's prefix cache answers its next turn.
 *
 *   new session   weighted rendezvous hashing ranks the available members (score
 *                 w / -ln(u), u from a keyed hash of the key and the member's name); of the
 *                 two best, the one holding fewer sessions per weight takes it (ties: the
 *                 best). Two choices keep the sessions per member within a few of the
 *                 mean (100 sessions on 4 members: 22 to 27 over 500 seeds).
 *   known         its member, while available (breaker lets it through, HAProxy says up)
 *                 and not overloaded: in flight + 1 <= ceil(load_factor x (total in flight
 *                 of the available + 1) / available), or AFFINITY_LOAD_FLOOR if that is
 *                 more. Overloaded, this one request goes to
 *                 the next member of the session's rendezvous order that is not; the session
 *                 keeps its member.
 *   paused        its member cooling down after its own 429 (or its rate-limit budget
 *                 spent while another has some): this request goes to the first
 *                 available member of the session's order within the bound; the session
 *                 keeps its member, whose cache it finds again when the pause ends.
 *   member gone   unavailable, the session is assigned again as a new one would be, its
 *                 old member excluded, and stays there when the old member comes back
 *                 (its cache is on the new one now). Only that member's sessions move.
 *
 * Pure: the caller hands in the members' state and the clock. No allocation after
 * affinity_group_init().
 */
#ifndef LLMPROXY_AFFINITY_H
#define LLMPROXY_AFFINITY_H

#include <stdbool.h>

#include "affinity-t.h"
#include "balance-t.h"

/* A table of at most `max_sessions` sessions for `n_groups` groups, none an affinity group
 * yet. `key` keys both the table and the rendezvous hashing. NULL when memory is short or
 * max_sessions is out of lrutab's range. */
struct affinity *affinity_create(size_t n_groups, uint32_t max_sessions,
                                 const struct siphash_key *key);
void affinity_free(struct affinity *a);

/* Make group `g` an affinity group of `n` members (upstream names, weights). 0, or -1 when
 * memory is short or the input is refused. */
int affinity_group_init(struct affinity *a, size_t g, size_t n, const char *const *names,
                        const uint32_t *weights);

/*
 * Continue the sessions of `src` (a reload's old table) in `dst`, which must have the same
 * groups with the same members in the same order, and the same key: its table becomes a
 * copy of src's, its counts src's. 0, or -1 (then `dst` is unchanged) when the group
 * sizes differ or memory is short.
 */
int affinity_take_sessions(struct affinity *dst, const struct affinity *src);

/*
 * The member for a request of session `key` in group `grp` (from affinity_group_init on
 * `a`), `c` describing its `n` members; -1 when none is available. `*outcome` says what
 * happened to the session.
 */
int affinity_pick(struct affinity *a, struct affinity_group *grp, uint64_t key,
                  const struct bal_candidate *c, size_t n, double load_factor, uint64_t now_ms,
                  enum affinity_outcome *outcome);

/* Sessions forgotten because the table was full. */
uint64_t affinity_evictions(const struct affinity *a);

/* "home", "new", "spilled", "moved", "no_key". */
const char *affinity_outcome_name(enum affinity_outcome o);

#endif /* LLMPROXY_AFFINITY_H */
