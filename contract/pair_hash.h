/*
 * The hash that names the unix sockets of one (group, upstream) pair when the names
 * themselves may not fit a socket address. Written into haproxy.cfg by llmproxy-ctl
 * (listener and tunnel sockets) and used by the agent to bind the tunnel sockets, so both
 * must compute the same value.
 */
#ifndef LLMPROXY_CONTRACT_PAIR_HASH_H
#define LLMPROXY_CONTRACT_PAIR_HASH_H

#include <stdint.h>

/*
 * A 64-bit FNV-1a hash of a (group, upstream) pair of names. The NUL after each name keeps
 * ("ab", "c") and ("a", "bc") apart.
 */
uint64_t pair_hash(const char *group, const char *upstream);

#endif /* LLMPROXY_CONTRACT_PAIR_HASH_H */
