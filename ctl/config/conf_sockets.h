/*
 * The unix sockets of LLMProxy's internal hops, all under haproxy.run_dir: HAProxy's
 * per-upstream listeners (HAProxy binds them), and the agent's SPOP and log-feed sockets
 * (the agent binds them). Both binaries need the same names, so the rules live here.
 */
#ifndef LLMPROXY_CONF_SOCKETS_H
#define LLMPROXY_CONF_SOCKETS_H

#include <stdint.h>

/* sizeof(sockaddr_un.sun_path) on Linux, NUL included. */
#define CONF_SOCKET_PATH_MAX 108

/* The agent's default sockets, in run_dir. */
#define CONF_SPOP_SOCKET_NAME "agent-spop.sock"
#define CONF_LOGS_SOCKET_NAME "agent-logs.sock"

/* A per-upstream listener: "/up_" (or "/rp_") + 16 hex digits + ".sock". */
#define CONF_LISTENER_NAME_LEN 25

/*
 * HAProxy binds a unix socket as "<path>.<pid>.tmp" and renames it into place, so its
 * paths need room for that suffix: a pid has at most 7 digits (pid_max is 4194304).
 */
#define CONF_HAPROXY_TMP_SUFFIX_LEN 12

/* The longest haproxy.run_dir: the listeners' sockets, suffix included, must fit. */
#define CONF_RUN_DIR_MAX                                                                           \
    (CONF_SOCKET_PATH_MAX - 1 - CONF_LISTENER_NAME_LEN - CONF_HAPROXY_TMP_SUFFIX_LEN)

/*
 * "<run_dir>/up_<16 hex digits>.sock": the listener of one (group, upstream) pair, named
 * by pair_hash() (contract/pair_hash.h), so that it fits whatever the names' length.
 * `out` has CONF_SOCKET_PATH_MAX bytes. Returns 0, or -1 when run_dir is longer than
 * CONF_RUN_DIR_MAX (the configuration refuses such a run_dir).
 */
int conf_listener_socket(char *out, const char *run_dir, const char *group, const char *upstream);

/*
 * "<run_dir>/rp_<16 hex digits>.sock": the same listener's second socket, where a pinned
 * backend's retries arrive with the request's id in a PROXY protocol header. Same length
 * and results as conf_listener_socket().
 */
int conf_retry_socket(char *out, const char *run_dir, const char *group, const char *upstream);

#endif /* LLMPROXY_CONF_SOCKETS_H */
