/*
 * The typed LLMProxy configuration model (types only; functions are in config.h).
 *
 * One `struct config` is what a YAML file means after loading, defaults, ${VAR}
 * expansion and validation. Both binaries read it: llmproxy-ctl renders HAProxy's
 * configuration from it, llmproxy-agent builds its decision state from it.
 *
 * Cross references are resolved to indexes (a forward's group, a group member's
 * upstream) so that users of the model never look names up again. Every string and
 * array belongs to the config and is released by config_free().
 */
#ifndef LLMPROXY_CONFIG_T_H
#define LLMPROXY_CONFIG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a value stood in the YAML source (1-based), for error messages. */
struct conf_pos {
    const char *file;
    unsigned line;
    unsigned col;
};

/*
 * A string after ${VAR} / ${VAR:-default} / $$ expansion. `tmpl` is the text as
 * written when it referenced at least one variable, NULL for a literal: the renderer
 * emits secrets that came from the environment as HAProxy environment references
 * instead of their values.
 */
struct conf_str {
    char *val;
    char *tmpl;
    struct conf_pos pos;
};

enum balance_strategy {
    BAL_ROUNDROBIN = 0,
    BAL_WEIGHTED_ROUNDROBIN,
    BAL_RANDOM,
    BAL_RESPONSE_AWARE,
    BAL_FAILOVER,
    BAL_AFFINITY,   /* a session stays on one member: rendezvous hashing with bounded load */
    BAL_LEAST_LOAD, /* the engine that will start a request soonest, by its metrics page */
};

enum auth_type {
    AUTH_NONE = 0,
    AUTH_BEARER,
    AUTH_BASIC,
};

enum header_op {
    HDR_INSERT = 0, /* add only if absent */
    HDR_REPLACE,    /* set, adding if absent */
    HDR_REMOVE,     /* delete every occurrence */
};

/* An http(s) URL split for the renderer. */
struct conf_url {
    bool tls;           /* https */
    char *host;         /* name or IP literal, IPv6 without brackets */
    uint16_t port;      /* explicit, else 80 / 443 */
    bool port_explicit; /* the Host header carries the port only when it was written */
    char *base_path;    /* "" or "/v1": leading '/', never a trailing '/' */
    char *userinfo;     /* "user:pass" as written (proxy URLs), NULL if none */
};

/* An address:port we listen on, or (agent.spop, agent.logs) a unix socket. */
struct conf_listen {
    char *address; /* IPv4 or IPv6 literal; NULL for a unix socket */
    uint16_t port;
    struct conf_pos pos;
    struct conf_str socket; /* the unix socket's absolute path; val NULL for TCP */
};

struct conf_header_op {
    enum header_op op;
    struct conf_str key;
    struct conf_str value; /* value.val is NULL for remove */
};

/*
 * How the agent reads an upstream's throttling (docs/configuration.md, `throttle`): how
 * long a 429 keeps the member out of picks, and the budget headers it steers by.
 */
struct conf_throttle {
    uint32_t retry_after_default_s;  /* a 429 without a readable Retry-After */
    uint32_t retry_after_max_s;      /* cap of any Retry-After */
    uint32_t min_remaining_requests; /* avoided while the remaining count is at or below */
    uint32_t min_remaining_tokens;
    /* Response header names, HTTP tokens (rendered into haproxy.cfg). */
    struct conf_str remaining_requests_header;
    struct conf_str remaining_tokens_header;
    struct conf_str reset_requests_header;
    struct conf_str reset_tokens_header;
};

struct conf_upstream {
    char *name;
    struct conf_str url;
    struct conf_url parsed;
    enum auth_type auth;
    struct conf_str token;    /* bearer */
    struct conf_str username; /* basic */
    struct conf_str password; /* basic */
    struct conf_header_op *headers;
    size_t n_headers;
    struct conf_str tls_ca_file; /* PEM bundle to verify https upstreams; NULL: system store */
    bool tls_verify;             /* verify the upstream's certificate (default true) */
    bool breaker_enabled;        /* a `breaker` block was present */
    double breaker_threshold;
    uint32_t breaker_cooldown_s;
    struct conf_throttle throttle;
    /* A `throttle` block was present: the upstream rate-limits us, so in a group with
     * retries every one of its attempts is judged in the group layer, the first 429 too. */
    bool throttle_declared;
    struct conf_pos pos;
};

struct conf_member {
    struct conf_str name; /* the upstream's name as written */
    size_t upstream;      /* index into config.upstreams */
    uint32_t weight;
    /* Requests HAProxy sends this member at once; more wait in HAProxy's queue for at
     * most http_client.timeout.queue. 0: no limit (no queue). */
    uint32_t max_in_flight;
    struct conf_pos pos;
};

/* http_client.timeout.request when not set: the schema's default, and how long the agent
 * lets a breaker's probe run for an upstream that serves in no group. */
#define CONF_REQUEST_TIMEOUT_DEFAULT_S 300

struct conf_http_client {
    struct conf_str agent; /* User-Agent sent upstream */
    uint32_t keepalive_s;  /* 0 disables TCP keepalive */
    bool stream;
    uint32_t connect_timeout_s;
    uint32_t request_timeout_s;
    uint32_t idle_timeout_s;
    uint32_t queue_timeout_s; /* longest wait in a member's queue (max_in_flight) */
    bool retry_enabled;
    uint32_t retry_attempts;
    uint32_t retry_initial_ms;
    bool proxy_enabled;
    struct conf_str proxy_url;
    struct conf_url proxy; /* parsed proxy_url when proxy_enabled */
};

/* What an inference engine of a least_load group is: which names its metrics page uses. */
enum engine_type {
    ENGINE_VLLM = 0,
    ENGINE_SGLANG,
};

/*
 * A least_load group's engines (`engine`): where each member publishes its load and when
 * it counts as saturated. Each member is scraped at http://<its host>:<its port><path>.
 */
struct conf_engine {
    bool enabled; /* an `engine` block was given */
    enum engine_type type;
    struct conf_str metrics_path;
    uint32_t interval_ms;       /* between two scrapes of a member */
    uint32_t timeout_ms;        /* a scrape's time bound */
    uint32_t saturated_waiting; /* requests queued at or above this: saturated */
    double saturated_kv_cache;  /* KV-cache share at or above this: saturated */
    struct conf_pos pos;
};

/* The request header that names a session when `affinity.header` is not set. */
#define CONF_AFFINITY_HEADER_DEFAULT      "x-session-id"
#define CONF_AFFINITY_LOAD_FACTOR_DEFAULT 1.25

/*
 * How an affinity group keys a session: the first of `header`, the JSON body's
 * `prompt_cache_key` then `user` (when body_keys), the request's configured client, the
 * client's address. A member keeps its sessions while its requests in flight stay within
 * load_factor x the group's mean (counting the new one); beyond, the session spills to its
 * next member.
 */
struct conf_affinity {
    struct conf_str header; /* lower-case header name */
    bool body_keys;
    double load_factor; /* > 1 */
};

struct conf_group {
    char *name;
    struct conf_member *members;
    size_t n_members;
    enum balance_strategy strategy;
    struct conf_affinity affinity; /* BAL_AFFINITY only */
    struct conf_engine engine;     /* BAL_LEAST_LOAD */
    struct conf_http_client client;
    /* `models`: names the group serves besides its forwards' exact model rules, listed
     * by GET /v1/models on a forward that routes to it. */
    struct conf_str *models;
    size_t n_models;
    struct conf_pos pos;
};

/* What a routing rule (`http_server.forwards[].routing[]`) matches. */
enum route_kind {
    ROUTE_MODEL = 0,    /* `model: name`: the request's model is exactly the name */
    ROUTE_MODEL_PREFIX, /* `model: "name*"`: the model begins with the name */
    ROUTE_PATH,         /* `path:` the original LLMProxy's pattern, on the request path */
};

/* Rules per forward, at most. */
#define CONF_ROUTE_MAX 256

struct conf_route {
    enum route_kind kind;
    struct conf_str pattern; /* as written: "gpt-4o*", "/v1/users/:id"; the model label */
    /* ROUTE_MODEL: the name; ROUTE_MODEL_PREFIX: the name without its '*'; ROUTE_PATH: the
     * pattern as a PCRE anchored at both ends, for HAProxy's path_reg. */
    char *match;
    struct conf_str group_name; /* `target_group` as written */
    size_t group;               /* index into config.groups */
    struct conf_pos pos;
};

/*
 * The HTTP methods a forward may let through (`methods`), as bits of a mask; the names are
 * conf_http_methods[]. CONNECT and TRACE are known so that they can be refused by name.
 */
enum http_method {
    HTTP_METHOD_GET = 0,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_PATCH,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_CONNECT,
    HTTP_METHOD_TRACE,
};

/*
 * The request header a forward's trusted proxies write the client's address into: the
 * one header they append to, so that a client cannot pass its own choice through the other.
 */
enum client_address_header {
    CLIENT_ADDRESS_X_FORWARDED_FOR = 0,
    CLIENT_ADDRESS_FORWARDED, /* RFC 7239 `for=` */
    CLIENT_ADDRESS_NO_HEADER, /* the PROXY protocol alone */
};

struct conf_forward {
    char *name;
    struct conf_listen listen;
    struct conf_str group_name; /* `upstream_group` as written */
    size_t group;               /* index into config.groups */
    bool ratelimit_enabled;
    uint32_t ratelimit_per_second;
    uint32_t ratelimit_burst;
    uint32_t ratelimit_ipv6_prefix; /* IPv6 clients share a bucket per prefix of this length */
    uint32_t timeout_connect_s;
    uint32_t methods;  /* bits 1 << enum http_method: what reaches the upstreams */
    uint32_t max_body; /* bytes; a larger Content-Length is refused with 413 */
    bool client_auth;  /* requests need a client's key (config.clients); false: anyone */
    /* Peers whose word on the client's address is believed, as canonical
     * "<address>/<prefix length>" networks; none: the client is the TCP peer. */
    struct conf_str *trusted_proxies;
    size_t n_trusted_proxies;
    bool proxy_protocol; /* trusted peers send a PROXY protocol header first */
    enum client_address_header client_address_header;
    /* `routing`: first match wins; a request none matches goes to `group`, or with
     * routing_strict gets 404 model_not_found when it named a model. */
    struct conf_route *routes;
    size_t n_routes;
    bool routing_strict;
    struct conf_pos pos;
};

/* A SHA-256 digest in lowercase hex, with its NUL. */
#define CONF_SHA256_HEX_SIZE 65

/*
 * The `client` label of a request without a configured client's name, in the agent's
 * per-client series: on a forward without client_auth; on one with it, when no key matched
 * (a 401); and when HAProxy named a client the agent's configuration lacks (the two out of
 * step during an apply). No client may take one of these names.
 */
#define CONF_CLIENT_ANONYMOUS       "anonymous"
#define CONF_CLIENT_UNAUTHENTICATED "unauthenticated"
#define CONF_CLIENT_UNKNOWN         "unknown"

/*
 * A client of the forwards with client_auth (top-level `clients`): who presents which key.
 * Only the key's SHA-256 leaves the configuration (HAProxy looks it up in a map), so a key
 * may be given as its hash alone and no secret need be on disk.
 */
struct conf_client {
    char *name;                            /* in metrics and logs */
    struct conf_str key;                   /* val NULL when only key_sha256 was given */
    struct conf_str key_sha256_written;    /* `key_sha256` as written, val NULL if absent */
    char key_sha256[CONF_SHA256_HEX_SIZE]; /* lowercase hex, of key when key is given */
    struct conf_str *forward_names;        /* `forwards` as written */
    size_t n_forward_names;                /* 0 with forwards_given: no forward at all */
    bool forwards_given;                   /* absent: every forward with client_auth */
    bool *forward_allowed;                 /* per config.forwards; see conf_client_allowed */
    bool ratelimit_enabled;                /* a `ratelimit` block was given */
    uint32_t ratelimit_per_second;
    uint32_t ratelimit_burst;
    struct conf_pos pos;
};

struct conf_admin {
    struct conf_listen listen;
    uint32_t timeout_connect_s;
    struct conf_str token; /* bearer token for /metrics and /status; val NULL: none */
};

/*
 * agent.cluster: token buckets shared by every agent pointed at one Redis (docs/operations.md
 * "Scaling out"). `redis_enabled` when agent.cluster.redis is given.
 */
struct conf_cluster {
    bool redis_enabled;
    struct conf_str url;        /* redis://host[:port][/db] as written */
    char *host;                 /* name or IP literal, IPv6 without brackets */
    uint16_t port;              /* 6379 unless written */
    uint32_t db;                /* SELECTed after connecting */
    struct conf_str password;   /* AUTH; a secret: never logged nor shown; val NULL: none */
    uint32_t timeout_ms;        /* a batch unanswered this long falls back to local buckets */
    struct conf_str key_prefix; /* after "llmproxy:" in every key */
    uint32_t sync_interval_ms;  /* how often the spend is sent */
    uint32_t max_keys_per_sync; /* keys one batch carries at most */
};

/*
 * Settings of llmproxy-agent itself (top-level key `agent`, all optional). The
 * original LLMProxy had no such block; defaults keep a seed config working.
 */
struct conf_agent {
    struct conf_listen spop;        /* SPOP listener HAProxy connects to */
    struct conf_listen logs;        /* log-feed listener (HAProxy ring) */
    uint32_t ratelimit_max_clients; /* hard bound of the token-bucket table */
    uint32_t decision_timeout_ms;   /* SPOE `timeout processing` for pick */
    struct conf_cluster cluster;
};

/* Settings of the rendered HAProxy configuration (top-level key `haproxy`, optional). */
/* An HAProxy release line, 3.2 for 3.2.0 and 3.2.9; {0, 0} when not known. */
struct conf_haproxy_version {
    unsigned major, minor;
};

struct conf_haproxy {
    struct conf_str run_dir;    /* absolute; holds HAProxy's stats socket */
    uint32_t hard_stop_after_s; /* how long an old worker may finish streams after a reload */
    bool access_log;            /* also write every request's log line to HAProxy's stdout */
    uint32_t nbthread;          /* HAProxy's threads; 0 leaves HAProxy's default (one per CPU) */
    bool bind_threads; /* each thread on its own CPU (cpu-map), where the release wants it */
    /* HAProxy's group when it is not the agent's user: the agent's sockets in run_dir are
     * then 0660 and this group; NULL, 0600. */
    struct conf_str socket_group;
    /* The release the rendered files are for: "auto" (asks `haproxy -v` when rendering) or
     * a release line; `target` is that line parsed, {0, 0} for "auto". */
    struct conf_str version;
    struct conf_haproxy_version target;
};

/* One problem found while loading: "file:line:col: path: message". */
struct conf_diag {
    struct conf_pos pos;
    char *path;    /* key path, e.g. "upstream_groups[1].balance.strategy" */
    char *message; /* what was found; what is allowed */
};

struct conf_diags {
    struct conf_diag *v;
    size_t n;
    size_t cap;
    size_t dropped; /* problems beyond CONF_MAX_DIAGS, counted but not kept */
};

struct config {
    char *file; /* path it was loaded from */
    struct conf_forward *forwards;
    size_t n_forwards;
    struct conf_admin admin;
    struct conf_upstream *upstreams;
    size_t n_upstreams;
    struct conf_group *groups;
    size_t n_groups;
    struct conf_agent agent;
    struct conf_haproxy haproxy;
    struct conf_client *clients;
    size_t n_clients;
    struct conf_arena *arena; /* owns every allocation above */
    /* What loads but is probably not what the operator meant (a rate limit configured but
     * not enabled, an agent listener off loopback); shown by every command that loads. */
    struct conf_diags warnings;
};

/* Environment lookup, injectable so tests need not touch the process environment. */
typedef const char *(*conf_getenv_fn)(const char *name, void *ctx);

#endif /* LLMPROXY_CONFIG_T_H */
