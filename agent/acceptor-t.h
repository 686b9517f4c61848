/* Counters of a listener's admission control (types only; see acceptor.h). */
#ifndef LLMPROXY_ACCEPTOR_T_H
#define LLMPROXY_ACCEPTOR_T_H

#include <stdint.h>

struct acceptor_stats {
    uint64_t accepted;
    uint64_t refused_limit; /* at the connection limit with nothing to evict: closed at once */
    uint64_t refused_fds;   /* out of descriptors or memory: shed, or left in the backlog */
    uint64_t evicted;       /* connections closed to admit a newer one */
};

#endif /* LLMPROXY_ACCEPTOR_T_H */
