/*
 * haproxy.cfg: the data path of docs/architecture.md.
 *
 *   frontend fwd_<forward>       asks the agent (`pick`), answers 429/503 itself
 *     -> backend pin_<g>__<u>    groups without retries, when the agent chose: the chosen
 *                                upstream's rewrites, then the real API, in one layer
 *     -> backend grp_<group>     otherwise: use-server the agent's choice, else HAProxy's
 *                                balance (fail-open); retries and redispatch across members
 *       -> listen up_<g>__<u>    one per group member, bound on a unix socket (mode 600):
 *                                rewrites Host, path, auth and headers for its upstream
 *                                only, after the choice, then talks to the real API
 *   backend llm_agent            the SPOP agent, health-checked so a dead one costs nothing
 *
 * Why two layers, and when one is enough: backend rules run before HAProxy picks a
 * server, so a rewrite for upstream A would go to B after a redispatch. The listener layer
 * rewrites after the choice. A group without retries never redispatches, so once the agent
 * has chosen, a backend holding that upstream alone is the same path minus one HTTP pass:
 * the pinned backend. HAProxy's own balance (agent down) still needs the two layers.
 */
#include <openssl/evp.h>
#include <string.h>

#include "conf_expand.h"
#include "conf_haproxy_version.h"
#include "conf_sockets.h"
#include "conf_url.h"
#include "config.h"
#include "contract/internal_names.h"
#include "contract/logformat.h"
#include "contract/spop_names.h"
#include "contract/tunnel_path.h"
#include "render.h"
#include "render_topology.h"

/* What the group layer retries on: never a response timeout (a slow generation). */
#define RETRY_ON "conn-failure empty-response 500 502 503 504"

#define UNIQUE_ID_FORMAT "%{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid"

#define FRONT_ERRORS    "llm_front"
#define UPSTREAM_ERRORS "llm_upstream"
#define RESOLVERS       "llm_dns"

/* The largest server weight HAProxy accepts. */
#define HAPROXY_MAX_WEIGHT 256
/* The highest thread number cpu-map takes (a bit in a 64-bit mask), on every version. */
#define HAPROXY_CPU_MAP_THREADS 64

/* The size of the log ring (HAPROXY_LOG_RING, docs/architecture.md). */
#define LOG_RING_SIZE (1024 * 1024)

/* A unix socket address, as HAProxy's bind and server lines take it. */
static void unix_address(struct render_out *r, const char *path, const char *what)
{
    render_printf(r, "\"unix@");
    render_quoted_text(r, path, false, what);
    render_printf(r, "\"");
}

/*
 * The address of a group member's internal listener: a unix socket in haproxy.run_dir,
 * which HAProxy creates with mode 600, so only HAProxy's own user reaches it (a request
 * sent there leaves with the upstream's credentials and no decision). Every version
 * `apply` renders names the same sockets: a reload hands the listeners over to the new
 * worker, and the old one still reaches them for the requests it is finishing.
 */
static void pair_address(const struct config *cfg, struct render_out *r, const char *group,
                         const char *upstream,
                         int (*socket_of)(char *, const char *, const char *, const char *))
{
    char path[CONF_SOCKET_PATH_MAX];

    /* The configuration refuses a run_dir too long for these. */
    if (socket_of(path, cfg->haproxy.run_dir.val, group, upstream) < 0) {
        render_fail(r, "haproxy.run_dir is too long for the unix socket of %s/%s's listener", group,
                    upstream);
        return;
    }
    unix_address(r, path, "haproxy.run_dir");
}

static void internal_address(const struct config *cfg, struct render_out *r, const char *group,
                             const char *upstream)
{
    pair_address(cfg, r, group, upstream, conf_listener_socket);
}

/* The same listener's socket for the retries of the group's pinned backends. */
static void retry_address(const struct config *cfg, struct render_out *r, const char *group,
                          const char *upstream)
{
    pair_address(cfg, r, group, upstream, conf_retry_socket);
}

/*
 * A member's weight in HAProxy's own (fail-open) balancing. The agent balances with the
 * configured weights exactly; HAProxy takes 1..256, so larger ones are scaled down in
 * proportion, never below 1.
 */
static unsigned haproxy_weight(const struct conf_group *g, size_t member)
{
    uint32_t max = 1;

    if (g->strategy != BAL_WEIGHTED_ROUNDROBIN)
        return 1;
    for (size_t i = 0; i < g->n_members; i++)
        if (g->members[i].weight > max)
            max = g->members[i].weight;
    if (max <= HAPROXY_MAX_WEIGHT)
        return g->members[member].weight;
    uint64_t w = ((uint64_t)g->members[member].weight * HAPROXY_MAX_WEIGHT + max / 2) / max;
    return w ? (unsigned)w : 1;
}

/*
 * HAProxy has no idle timeout for server connections (`timeout http-keep-alive` is the
 * client side's): its purge closes idle ones, every pool-purge-delay (5 s by default,
 * hence ~14 s), once the recent need for them has decayed over two purges. Half the idle
 * timeout closes a lone idle connection between idle and 1.5 x idle after its last use.
 */
#define HAPROXY_PURGE_DELAY_MS 5000u /* pool-purge-delay's default */

static uint32_t purge_delay_ms(const struct conf_http_client *c)
{
    return c->idle_timeout_s * 500u;
}

static uint32_t purge_delay_ms_min(const struct config *cfg)
{
    uint32_t min = HAPROXY_PURGE_DELAY_MS;

    for (size_t i = 0; i < cfg->n_groups; i++)
        if (purge_delay_ms(&cfg->groups[i].client) < min)
            min = purge_delay_ms(&cfg->groups[i].client);
    return min;
}

/*
 * Thread N on CPU N-1, for as many threads as HAProxy starts: with nbthread unset, that is
 * one per CPU it may use, so every thread named here that exists has a CPU of its own.
 * Threads past HAProxy's count are ignored; a CPU the host lacks leaves its thread unbound.
 */
static void render_cpu_map(const struct config *cfg, struct render_out *r)
{
    unsigned threads = HAPROXY_CPU_MAP_THREADS;

    if (cfg->haproxy.nbthread && cfg->haproxy.nbthread < threads)
        threads = (unsigned)cfg->haproxy.nbthread;
    render_printf(r, "    cpu-map auto:1/1-%u 0-%u\n", threads, threads - 1);
}

static void section_global(const struct config *cfg, struct render_out *r)
{
    struct render_topology topo = render_topology(cfg);

    /* The agent gets every line from its ring; stdout costs a write per line and layer. */
    render_printf(r, "global\n");
    if (cfg->haproxy.access_log)
        render_printf(r, "    log stdout format raw local0 info\n");
    if (cfg->haproxy.nbthread)
        render_printf(r, "    nbthread %u\n", (unsigned)cfg->haproxy.nbthread);
    if (r->opts->haproxy.bind_threads_to_cpus && cfg->haproxy.bind_threads &&
        cfg->haproxy.nbthread != 1)
        render_cpu_map(cfg, r);
    render_printf(r, "    stats socket \"");
    render_quoted_text(r, cfg->haproxy.run_dir.val, false, "haproxy.run_dir");
    render_printf(r, "/" HAPI_SOCKET_NAME "\" mode 600 level admin\n");
    if (topo.bufsize)
        render_printf(r, "    tune.bufsize %u\n", (unsigned)topo.bufsize);
    if (topo.bufsize && r->opts->haproxy.memory_hot_size)
        render_printf(r, "    tune.memory.hot-size %u\n",
                      (unsigned)(TOPOLOGY_DEFAULT_HOT_SIZE / TOPOLOGY_DEFAULT_BUFSIZE * topo.bufsize));
    render_printf(r, "    hard-stop-after %us\n\n", (unsigned)cfg->haproxy.hard_stop_after_s);

    /* Each proxy sets its own timeouts; these only keep HAProxy from warning. */
    render_printf(r, "defaults\n"
                     "    mode http\n");
    if (cfg->haproxy.access_log)
        render_printf(r, "    log global\n");
    render_printf(r, "    option httplog\n"
                     "    timeout connect 10s\n"
                     "    timeout client 30s\n"
                     "    timeout server 30s\n");
    /* One task purges every server's idle connections; HAProxy 3.x does not wake it
     * earlier for a server that goes idle while it sleeps, so the servers that are not
     * upstreams (the agent's, the group layer's) must not purge less often than the
     * upstream that purges most often (see upstream_server). */
    if (purge_delay_ms_min(cfg) < HAPROXY_PURGE_DELAY_MS)
        render_printf(r, "    default-server pool-purge-delay %ums\n",
                      (unsigned)purge_delay_ms_min(cfg));
    render_printf(r, "\n");

    /* Upstream names are resolved at run time too, so a DNS change needs no reload. */
    render_printf(r,
                  "resolvers %s\n"
                  "    parse-resolv-conf\n"
                  "    hold valid 10s\n\n",
                  RESOLVERS);
}

static void errorfile(const struct render_error *e, int on, struct render_out *r)
{
    render_printf(r, "    errorfile %d \"", on);
    render_quoted_text(r, r->opts->dir, false, "the output folder");
    render_printf(r, "/%s/%s\"\n", RENDER_ERRORS_DIR, e->file);
}

/*
 * Client-facing errors differ by layer: in the upstream layer HAProxy's 503 means the
 * upstream could not be reached, while in the front it means no member is left.
 */
static void section_errors(struct render_out *r)
{
    render_printf(r, "http-errors %s\n", FRONT_ERRORS);
    errorfile(&render_err_bad_request, 400, r);
    errorfile(&render_err_method_not_allowed, 405, r);
    errorfile(&render_err_request_timeout, 408, r);
    errorfile(&render_err_too_large, 413, r);
    errorfile(&render_err_bad_encoding, 422, r);
    errorfile(&render_err_internal, 500, r);
    errorfile(&render_err_not_implemented, 501, r);
    errorfile(&render_err_bad_response, 502, r);
    errorfile(&render_err_no_upstream, 503, r);
    errorfile(&render_err_timeout, 504, r);
    render_printf(r, "\nhttp-errors %s\n", UPSTREAM_ERRORS);
    errorfile(&render_err_internal, 500, r);
    errorfile(&render_err_bad_response, 502, r);
    errorfile(&render_err_unreachable, 503, r);
    errorfile(&render_err_timeout, 504, r);
    render_printf(r, "\n");
}

/*
 * `http-request <action>` with one of our JSON errors as the response when `cond` holds:
 * `return status` for answers (429, 503), `deny deny_status` for refused requests, which
 * HAProxy counts as denied and logs as the proxy's doing (termination state P).
 */
static void json_reply(const char *rule, const struct render_error *e, const char *hdr,
                       const char *hdr_value, struct render_out *r)
{
    char body[256];

    render_error_json(e, body, sizeof(body));
    render_printf(r, "    %s %d content-type application/json string ", rule, e->status);
    render_quoted(r, body, false, "error body");
    if (hdr)
        render_printf(r, " hdr %s \"%s\"", hdr, hdr_value);
}

static void reply_error(const char *action, const struct render_error *e, const char *hdr,
                        const char *hdr_value, const char *cond, struct render_out *r)
{
    char rule[64];

    snprintf(rule, sizeof(rule), "http-request %s", action);
    json_reply(rule, e, hdr, hdr_value, r);
    render_printf(r, " if %s\n", cond);
}

static void return_error(const struct render_error *e, bool retry_after, const char *cond,
                         struct render_out *r)
{
    reply_error("return status", e, retry_after ? "Retry-After" : NULL,
                "%[var(" SPOP_TXN_RETRY_AFTER ")]", cond, r);
}

static void deny_error(const struct render_error *e, const char *hdr, const char *hdr_value,
                       const char *cond, struct render_out *r)
{
    reply_error("deny deny_status", e, hdr, hdr_value, cond, r);
}

/* An address to bind or connect to: IPv6 literals need brackets before the port. */
static void host_port(struct render_out *r, const char *host, unsigned port)
{
    if (strchr(host, ':'))
        render_printf(r, "\"[%s]:%u\"", host, port);
    else
        render_printf(r, "\"%s:%u\"", host, port);
}

/* The release the files are for; options left at zero mean the oldest. */
static struct conf_haproxy_version target_version(const struct render_out *r)
{
    struct conf_haproxy_version v = r->opts->haproxy.version;

    return conf_haproxy_version_known(v) ? v : CONF_HAPROXY_OLDEST;
}

/* Where HAProxy reaches the agent (agent.spop, agent.logs): its unix socket, or TCP. */
static void agent_address(const struct conf_listen *l, struct render_out *r)
{
    if (!l->socket.val) {
        host_port(r, l->address, l->port);
        return;
    }
    unix_address(r, l->socket.val, "the agent's socket");
}

/*
 * The agent's log feed: HAProxy writes each stream's line into the ring when the stream
 * ends, and the ring's server streams them to the agent, octet-counted. The ring holds
 * lines while the agent restarts; lines longer than LOGLINE_MAX_LEN are cut by HAProxy
 * and then refused by the agent's parser, never misread.
 */
static void section_log_ring(const struct config *cfg, struct render_out *r)
{
    struct conf_haproxy_version v = target_version(r);

    if (cfg->agent.logs.socket.val && r->opts->haproxy.ring_tcp_only)
        render_fail(r,
                    "HAProxy %u.%u cannot send its log ring to a unix socket: give agent.logs "
                    "an address and a port on loopback",
                    v.major, v.minor);
    render_printf(r,
                  "ring %s\n"
                  "    format raw\n"
                  "    maxlen %d\n"
                  "    size %d\n"
                  "    timeout connect 1s\n"
                  "    timeout server 10s\n"
                  "    server logfeed ",
                  HAPROXY_LOG_RING, LOGLINE_MAX_LEN, LOG_RING_SIZE);
    agent_address(&cfg->agent.logs, r);
    render_printf(r, " log-proto octet-count\n\n");
}

/* The agent's ring, next to `log global` (stdout, with haproxy.access_log). The proxy's
 * log-format, one of contract/logformat.h's, applies to both. */
static void log_to_agent(struct render_out *r)
{
    render_printf(r, "    log ring@%s len %d format raw local0 info\n", HAPROXY_LOG_RING, LOGLINE_MAX_LEN);
}

/*
 * A path that could leave the upstream's base path once joined to it ("/v1" + path):
 * a "." or ".." segment, also between encoded or back slashes, which some servers take for
 * "/", and any encoded dot. HAProxy 2.6 resolves none of these itself without its
 * experimental normalize-uri, so they are refused; an API path never needs them.
 */
#define CLIMBING_PATH "'%2e|(^|[/\\\\]|%2f|%5c)\\.{1,2}([/\\\\;]|%2f|%5c|$)'"

/* The presented client key, from its header to its hash: unset right after. */
#define CLIENT_KEY_VAR "txn.llm_key"

/* The request headers a client key may come in, the preferred one last (later rules win). */
static const char *const client_key_headers[] = {"api-key", "x-api-key", "authorization"};
#define N_CLIENT_KEY_HEADERS (sizeof(client_key_headers) / sizeof(client_key_headers[0]))

/*
 * The forward's client map, `map("<map base>/maps/clients_<forward>.map")`. The path is a
 * sample argument inside a quoted word: a quote, comma, parenthesis or space in it would
 * end the argument, so only plain path characters are written.
 */
static void client_map_path(const struct conf_forward *f, struct render_out *r)
{
    const char *base = r->opts->map_base ? r->opts->map_base : r->opts->dir;

    if (base[strspn(base,
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+~@=-")]) {
        render_fail(r,
                    "the folder of the client maps (%s) has a character HAProxy cannot take in a "
                    "map path; use a folder made of letters, digits and /._+~@=-",
                    base);
        return;
    }
    render_printf(r, "map(\"%s/" RENDER_MAPS_DIR "/" RENDER_CLIENT_MAP_FMT "\")", base, f->name);
}

/*
 * client_auth: HAProxy finds the client itself, by the SHA-256 of the key presented, in the
 * forward's map: the check holds with the agent down, and only hashes are on disk. The key
 * comes from `Authorization: Bearer <key>`, else `x-api-key`, else `api-key`, each taken
 * only when that header came once (fetches disagree on which copy of a repeated header they
 * read) and whole (req.fhdr: a comma does not cut it). A miss leaves the client unset (the
 * map has no default), the one test for a missing, unknown, empty or not allowed key: 401,
 * before any body is waited for. The three headers never reach an upstream.
 */
static void client_auth_rules(const struct conf_forward *f, struct render_out *r)
{
    size_t i;

    if (!f->client_auth)
        return;
    for (i = 0; i < N_CLIENT_KEY_HEADERS - 1; i++)
        render_printf(r,
                      "    http-request set-var(" CLIENT_KEY_VAR ") req.fhdr(%s) if "
                      "{ req.fhdr_cnt(%s) eq 1 }\n",
                      client_key_headers[i], client_key_headers[i]);
    /* The scheme, in any case, then one or more spaces: the rest is the key. */
    render_printf(r, "    http-request set-var(" CLIENT_KEY_VAR ") "
                     "req.fhdr(authorization),regsub(\"^[Bb][Ee][Aa][Rr][Ee][Rr] +\",\"\") "
                     "if { req.fhdr_cnt(authorization) eq 1 } "
                     "{ req.fhdr(authorization) -m reg -i \"^bearer +[^ ]\" }\n");
    render_printf(r, "    http-request set-var(" SPOP_TXN_CLIENT ") var(" CLIENT_KEY_VAR
                     "),sha2(256),hex,lower,");
    client_map_path(f, r);
    render_printf(r, "\n    http-request unset-var(" CLIENT_KEY_VAR ")\n");
    deny_error(&render_err_invalid_api_key, "WWW-Authenticate", "Bearer",
               "!{ var(" SPOP_TXN_CLIENT ") -m found }", r);
    for (i = 0; i < N_CLIENT_KEY_HEADERS; i++)
        render_printf(r, "    http-request del-header %s\n", client_key_headers[i]);
}

/*
 * What a client request must be before it costs an agent decision or reaches an upstream,
 * every rule in the frontend, ahead of the pinned and the two-layer paths alike:
 * - a method of the forward's list (405 with Allow otherwise);
 * - with client_auth, a key of a client allowed on the forward (401 otherwise);
 * - a path from the root that cannot climb out of the base path; repeated slashes merged;
 * - a declared body within max_body (413; at most 10 digits, so that no value can wrap
 *   HAProxy's integer conversion);
 * - the body received, up to a buffer, within the header timeout: a client that trickles it
 *   gets a 408 before any upstream connection is opened; a larger body streams on.
 */
static void client_request_rules(const struct conf_forward *f, struct render_out *r)
{
    char allow[128] = "", methods[128] = "", cond[160], size_cond[128];
    size_t a = 0, m = 0;

    for (unsigned i = 0; conf_http_methods[i]; i++) {
        if (!(f->methods & (1u << i)))
            continue;
        a += (size_t)snprintf(allow + a, sizeof(allow) - a, "%s%s", a ? ", " : "",
                              conf_http_methods[i]);
        m += (size_t)snprintf(methods + m, sizeof(methods) - m, " %s", conf_http_methods[i]);
    }
    snprintf(cond, sizeof(cond), "!{ method%s }", methods);
    deny_error(&render_err_method_not_allowed, "Allow", allow, cond, r);
    client_auth_rules(f, r);
    render_printf(r,
                  "    http-request set-path \"%%[path,regsub(/+,/,g)]\" if { path -m sub // }\n");
    deny_error(&render_err_invalid_path, NULL, NULL,
               "!{ path -m beg / } || { path_reg -i " CLIMBING_PATH " }", r);
    snprintf(size_cond, sizeof(size_cond),
             "{ req.hdr(content-length) -m int gt %u } || { req.hdr(content-length),length gt 10 }",
             (unsigned)f->max_body);
    deny_error(&render_err_too_large, NULL, NULL, size_cond, r);
    render_printf(r, "    http-request wait-for-body time %us\n", (unsigned)f->timeout_connect_s);
    /* A chunked body has no length up front: what the buffer holds of it is checked. */
    snprintf(size_cond, sizeof(size_cond), "{ req.body_len gt %u }", (unsigned)f->max_body);
    deny_error(&render_err_too_large, NULL, NULL, size_cond, r);
}

static void section_frontend(const struct config *cfg, const struct conf_forward *f,
                             struct render_out *r)
{
    const struct conf_group *g = &cfg->groups[f->group];

    render_printf(r, "frontend " HAPROXY_FRONTEND_FMT "\n    bind ", f->name);
    host_port(r, f->listen.address, f->listen.port);
    /* The client must deliver its request within forward timeout.connect, else 408. */
    render_printf(r, "\n    timeout client %us\n    timeout http-request %us\n",
                  (unsigned)f->timeout_connect_s, (unsigned)f->timeout_connect_s);
    render_printf(r, "    errorfiles %s\n", FRONT_ERRORS);
    /* Our marks between HAProxy's layers, read by the backends' rules before these run: an
     * upstream that sends one itself changes nothing the client sees. */
    render_printf(r, "    http-response del-header %s\n    http-response del-header %s\n",
                  HAPROXY_RELAYED_429_HEADER, HAPROXY_TUNNEL_HEADER);
    if (g->client.stream)
        render_printf(r, "    option http-no-delay\n");
    render_printf(r, "    unique-id-format %s\n", UNIQUE_ID_FORMAT);
    log_to_agent(r);
    render_printf(r, "    log-format \"" LOGLINE_REQUEST_FORMAT "\"\n", f->name,
                  f->n_routes ? "%[var(" SPOP_TXN_GROUP ")]" : g->name);
    render_printf(r, "    filter spoe engine " SPOE_ENGINE_PICK_FMT " config \"", f->name);
    render_quoted_text(r, r->opts->dir, false, "the output folder");
    render_printf(r, "/%s\"\n", RENDER_SPOE_PICK);
    render_client_address_rules(f, r);
    client_request_rules(f, r);
    render_routing_rules(cfg, f, r);
    if (f->routing_strict && render_has_model_rules(f))
        return_error(&render_err_model_not_found, false,
                     "{ var(" LOGLINE_ROUTE_VAR ") -m str " LOGLINE_ROUTE_UNMATCHED " }", r);
    render_affinity_rules(cfg, f, r);
    if (f->n_routes)
        render_routed_pick(cfg, f, r);
    else
        render_printf(
            r, "    http-request send-spoe-group " SPOE_ENGINE_PICK_FMT " " SPOP_MSG_PICK "\n",
            f->name);
    return_error(&render_err_rate_limited, true,
                 "{ var(" SPOP_TXN_VERDICT ") -m str " SPOP_VERDICT_LIMITED " }", r);
    return_error(&render_err_no_upstream, true,
                 "{ var(" SPOP_TXN_VERDICT ") -m str " SPOP_VERDICT_UNAVAILABLE " }", r);
    return_error(&render_err_upstreams_throttled, true,
                 "{ var(" SPOP_TXN_VERDICT ") -m str " SPOP_VERDICT_THROTTLED " }", r);
    if (f->n_routes) {
        render_routed_backends(cfg, f, r);
        return;
    }
    /* The agent answers only member names, and a name with no backend falls through to
     * the default one: one lookup per request, whatever the group's size. */
    struct group_topology topo = render_group_topology(cfg, g);

    if (topo.pinned)
        render_printf(r,
                      "    use_backend " HAPROXY_PINNED_FMT " if { var(" SPOP_TXN_UPSTREAM
                      ") -m found }%s\n",
                      g->name, "%[var(" SPOP_TXN_UPSTREAM ")]",
                      topo.retries ? TOPOLOGY_NOT_LAYERED : "");
    render_printf(r, "    default_backend " HAPROXY_GROUP_FMT "\n\n", g->name);
}

/* HAProxy's own balance, used whenever the agent did not choose (fail-open). */
static const char *balance_algorithm(enum balance_strategy s)
{
    switch (s) {
    case BAL_RANDOM:
        return "random";
    case BAL_RESPONSE_AWARE:
    case BAL_LEAST_LOAD:
        return "leastconn";
    case BAL_FAILOVER:
        return "first";
    case BAL_AFFINITY: /* section_group hashes the session header instead */
    case BAL_ROUNDROBIN:
    case BAL_WEIGHTED_ROUNDROBIN:
        break;
    }
    return "roundrobin";
}

/*
 * How a backend of a group with retries retries: on another member each time. An
 * upstream's 429 moves the request too: HAProxy retries it from 3.1, and before that the
 * listener relays it as a 503, which it retries. A pinned backend also holds its member's
 * own server (`pinned`), whose answers come straight from the upstream: only a listener's
 * mark is ours, so only a `retry:` server's answer is given back as a 429.
 */
static void retry_rules(const struct group_topology *topo, bool pinned, struct render_out *r)
{
    render_printf(r, "    retries %u\n", (unsigned)topo->retry_count);
    render_printf(r, "    option redispatch 1\n");
    render_printf(r, "    retry-on %s%s\n", RETRY_ON, r->opts->haproxy.retry_on_429 ? " 429" : "");
    /* L7 retries need the whole request in the buffer. */
    render_printf(r, "    option http-buffer-request\n");
    /* The last attempt's relayed 429 goes to the client as the upstream sent it; the
     * frontend deletes the mark (section_frontend). */
    if (!r->opts->haproxy.retry_on_429)
        render_printf(r, "    http-response set-status 429 if { res.hdr(%s) -m found }%s\n",
                      HAPROXY_RELAYED_429_HEADER,
                      pinned ? " { srv_name -m beg " HAPROXY_RETRY_SERVER_PREFIX " }" : "");
}

/* How HAProxy chooses among a group's members by itself: when the agent did not answer,
 * and for a redispatched retry. Affinity: the session header's hash, round robin without it. */
static void balance_rules(const struct conf_group *g, struct render_out *r)
{
    if (g->strategy == BAL_AFFINITY)
        render_printf(r, "    balance hdr(%s)\n    hash-type consistent\n", g->affinity.header.val);
    else
        render_printf(r, "    balance %s\n", balance_algorithm(g->strategy));
}

static void section_group(const struct config *cfg, const struct conf_group *g,
                          struct render_out *r)
{
    const struct conf_http_client *c = &g->client;
    struct group_topology topo = render_group_topology(cfg, g);
    size_t i;

    render_printf(r, "backend " HAPROXY_GROUP_FMT "\n", g->name);
    balance_rules(g, r);
    render_printf(r, "    timeout connect %us\n    timeout server %us\n",
                  (unsigned)c->connect_timeout_s, (unsigned)c->request_timeout_s);
    render_printf(r, "    errorfiles %s\n", FRONT_ERRORS);
    if (topo.queued) {
        /* The group layer's own 503 is then the queue's: its connections go to our own
         * listeners, and an upstream that cannot be reached is the listener's 502. */
        render_printf(r, "    timeout queue %us\n", (unsigned)c->queue_timeout_s);
        json_reply("http-error status", &render_err_saturated, "Retry-After",
                   RENDER_SATURATED_RETRY_AFTER, r);
        render_printf(r, "\n");
    }
    if (c->stream)
        render_printf(r, "    option http-no-delay\n");
    if (topo.retries)
        retry_rules(&topo, false, r);
    else
        render_printf(r, "    retries 0\n");
    /* Overwrites whatever a client sent: the upstream layer trusts this header. */
    render_printf(r, "    http-request set-header %s %%[unique-id]\n", HAPROXY_ID_HEADER);
    render_printf(r, "    use-server %%[var(" SPOP_TXN_UPSTREAM ")] if { var(" SPOP_TXN_UPSTREAM
                     ") -m found }\n");
    for (i = 0; i < g->n_members; i++) {
        const char *u = cfg->upstreams[g->members[i].upstream].name;

        render_printf(r, "    server %s ", u);
        internal_address(cfg, r, g->name, u);
        render_printf(r, " weight %u", haproxy_weight(g, i));
        if (g->members[i].max_in_flight)
            render_printf(r, " maxconn %u", (unsigned)g->members[i].max_in_flight);
        render_printf(r, "\n");
    }
    render_printf(r, "\n");
}

/* Host: host[:port], the port only when the URL had one; IPv6 literals in brackets. */
static void host_header(const struct conf_url *u, struct render_out *r)
{
    bool v6 = strchr(u->host, ':') != NULL;

    render_printf(r, "    http-request set-header Host \"%s%s%s", v6 ? "[" : "", u->host,
                  v6 ? "]" : "");
    if (u->port_explicit)
        render_printf(r, ":%u", (unsigned)u->port);
    render_printf(r, "\"\n");
}

/*
 * Prefix the base path unless the client already wrote it ("/v1" or "/v1/..."), so
 * clients configured with or without it both work. set-path keeps the query.
 */
static void path_prefix(const struct conf_url *u, struct render_out *r)
{
    if (!u->base_path[0])
        return;
    render_printf(r, "    http-request set-path \"");
    render_quoted_text(r, u->base_path, true, "url path");
    render_printf(r, "%%[path]\" if !{ path -m str ");
    render_quoted(r, u->base_path, false, "url path");
    render_printf(r, " } !{ path -m beg \"");
    render_quoted_text(r, u->base_path, false, "url path");
    render_printf(r, "/\" }\n");
}

void render_base64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* A literal basic credential is encoded here: base64 output needs no quoting. */
static void basic_literal(const struct conf_upstream *up, struct render_out *r)
{
    size_t ul = strlen(up->username.val), pl = strlen(up->password.val);
    unsigned char in[2 * CONF_MAX_STRING + 1];
    char out[(sizeof(in) + 2) / 3 * 4 + 1];

    if (ul + 1 + pl > sizeof(in)) {
        render_fail(r, "upstream %s: basic credentials too long", up->name);
        return;
    }
    memcpy(in, up->username.val, ul);
    in[ul] = ':';
    memcpy(in + ul + 1, up->password.val, pl);
    render_base64(in, ul + 1 + pl, out);
    render_printf(r, "    http-request set-header Authorization \"Basic %s\"\n", out);
}

static void auth_rules(const struct conf_upstream *up, struct render_out *r)
{
    switch (up->auth) {
    case AUTH_NONE:
        break;
    case AUTH_BEARER:
        render_printf(r, "    http-request set-header Authorization \"Bearer ");
        render_conf_str(r, &up->token, true, "auth.token");
        render_printf(r, "\"\n");
        break;
    case AUTH_BASIC:
        if (!up->username.tmpl && !up->password.tmpl) {
            basic_literal(up, r);
            break;
        }
        /* A credential from the environment: HAProxy encodes it when it is known. */
        render_printf(r, "    http-request set-var-fmt(txn.llm_basic) \"");
        render_conf_str(r, &up->username, true, "auth.username");
        render_printf(r, ":");
        render_conf_str(r, &up->password, true, "auth.password");
        render_printf(r, "\"\n    http-request set-header Authorization "
                         "\"Basic %%[var(txn.llm_basic),base64]\"\n");
        render_printf(r, "    http-request unset-var(txn.llm_basic)\n");
        break;
    }
}

static void header_rules(const struct conf_upstream *up, struct render_out *r)
{
    size_t i;

    for (i = 0; i < up->n_headers; i++) {
        const struct conf_header_op *h = &up->headers[i];

        if (h->op == HDR_REMOVE) {
            render_printf(r, "    http-request del-header ");
            render_quoted(r, h->key.val, false, "header key");
            render_printf(r, "\n");
            continue;
        }
        render_printf(r, "    http-request set-header ");
        render_quoted(r, h->key.val, false, "header key");
        render_printf(r, " \"");
        render_conf_str(r, &h->value, true, "header value");
        render_printf(r, "\"");
        if (h->op == HDR_INSERT) {
            /* Quoted, so a '#' in the name is not a comment; tchar names have no ',' or
             * ')' to end the sample's argument. */
            render_printf(r, " unless { \"req.hdr(");
            render_quoted_text(r, h->key.val, false, "header key");
            render_printf(r, ")\" -m found }");
        }
        render_printf(r, "\n");
    }
}

/*
 * Through a forward proxy, the server is the agent's CONNECT tunnel for this pair, a unix
 * socket (contract/tunnel_path.h): TLS and its checks below stay end to end through it.
 */
static void tunnel_address(const struct config *cfg, const struct conf_group *g,
                           const struct conf_upstream *up, struct render_out *r)
{
    char path[CONF_SOCKET_PATH_MAX];

    if (tunnel_socket_path(path, sizeof(path), cfg->haproxy.run_dir.val, g->name, up->name) < 0) {
        render_fail(r, "haproxy.run_dir is too long for the unix socket of %s/%s's proxy tunnel",
                    g->name, up->name);
        return;
    }
    unix_address(r, path, "haproxy.run_dir");
}

/* The real upstream: TLS verified against the system store (or ca_file) for its name. */
static void upstream_server(const struct config *cfg, const struct conf_group *g,
                            const struct conf_upstream *up, bool forced, struct render_out *r)
{
    const struct conf_url *u = &up->parsed;
    bool proxied = g->client.proxy_enabled;
    struct conf_ip ip;
    bool literal = conf_ip_parse(u->host, &ip);

    render_printf(r, "    server %s ", up->name);
    if (proxied)
        tunnel_address(cfg, g, up, r);
    else
        host_port(r, u->host, u->port);
    if (u->tls) {
        if (!up->tls_verify) {
            render_printf(r, " ssl verify none");
        } else {
            render_printf(r, " ssl verify required ca-file ");
            if (up->tls_ca_file.val)
                render_quoted(r, up->tls_ca_file.val, false, "tls.ca_file");
            else
                render_printf(r, "@system-ca");
        }
        /* No SNI for an address, and then HAProxy checks no name at all: any certificate
         * from the CA would do. verifyhost makes it check the address (2.6 matches it
         * against the CN and DNS names only, not IP SANs). */
        if (!literal)
            render_printf(r, " sni str(%s)", u->host);
        else if (up->tls_verify)
            render_printf(r, " verifyhost %s", u->host);
        render_printf(r, " alpn http/1.1");
    }
    /* Through the proxy, the name is the proxy's to resolve. */
    if (!literal && !proxied)
        render_printf(r, " resolvers %s init-addr last,libc,none", RESOLVERS);
    /* Weight 0: HAProxy's balancing never picks it, only use-server (a pinned backend's
     * first attempt), so a redispatched retry goes to another member's listener. */
    if (forced)
        render_printf(r, " weight 0");
    render_printf(r, " pool-purge-delay %ums\n", (unsigned)purge_delay_ms(&g->client));
}

/* Server-side settings a listener and a pinned backend share; `retries` is NULL for none. */
static void upstream_settings(const struct conf_http_client *c, const struct group_topology *retries,
                              struct render_out *r)
{
    render_printf(r, "    timeout connect %us\n", (unsigned)c->connect_timeout_s);
    render_printf(r, "    timeout server %us\n", (unsigned)c->request_timeout_s);
    render_printf(r, "    errorfiles %s\n", UPSTREAM_ERRORS);
    if (retries)
        retry_rules(retries, true, r);
    else
        render_printf(r, "    retries 0\n");
    if (c->stream)
        render_printf(r, "    option http-no-delay\n");
    if (c->keepalive_s) {
        render_printf(r, "    option srvtcpka\n");
        render_printf(r, "    srvtcpka-idle %us\n", (unsigned)c->keepalive_s);
    }
}

/*
 * The upstream's throttling headers into the variables the log line carries (THROTTLE in
 * contract/logformat.h): only the response's, so no client can fake them; the first bytes
 * only, in hex, so no value can break or forge a log field.
 */
static void throttle_capture(const struct conf_upstream *up, struct render_out *r)
{
    const struct conf_throttle *t = &up->throttle;
    const char *const names[LOGLINE_TH_N] = {
        [LOGLINE_TH_RETRY_AFTER] = LOGLINE_RETRY_AFTER_HEADER,
        [LOGLINE_TH_RETRY_AFTER_MS] = LOGLINE_RETRY_AFTER_MS_HEADER,
        [LOGLINE_TH_REMAINING_REQUESTS] = t->remaining_requests_header.val,
        [LOGLINE_TH_REMAINING_TOKENS] = t->remaining_tokens_header.val,
        [LOGLINE_TH_RESET_REQUESTS] = t->reset_requests_header.val,
        [LOGLINE_TH_RESET_TOKENS] = t->reset_tokens_header.val,
    };

    for (size_t i = 0; i < LOGLINE_TH_N; i++)
        render_printf(r,
                      "    http-response set-var(" LOGLINE_THROTTLE_VAR_PREFIX
                      "%zu) res.fhdr(%s),bytes(0,%d),hex\n",
                      i, names[i], LOGLINE_THROTTLE_MAX_BYTES);
}

/*
 * A listener of a group with retries on HAProxy before 3.1, which cannot retry on a 429:
 * the upstream's 429 leaves as a 503 the group backend retries, marked so that the group
 * backend gives the last one back as a 429, and logged with the upstream's status.
 */
static void relay_429_rules(struct render_out *r)
{
    render_printf(r,
                  "    http-response del-header %s\n"
                  "    http-response set-var(" LOGLINE_RELAYED_VAR ") status if { status 429 }\n"
                  "    http-response set-header %s 1 if { status 429 }\n"
                  "    http-response set-status 503 if { status 429 }\n",
                  HAPROXY_RELAYED_429_HEADER, HAPROXY_RELAYED_429_HEADER);
}

/* What makes a request one for this upstream: its rewrites, then the real server (forced:
 * reached only by use-server). With relay_429, its 429 is relayed as a retryable 503
 * (relay_429_rules). */
static void upstream_rules(const struct config *cfg, const struct conf_group *g,
                           const struct conf_upstream *up, bool relay_429, bool forced,
                           struct render_out *r)
{
    const struct conf_http_client *c = &g->client;

    host_header(&up->parsed, r);
    path_prefix(&up->parsed, r);
    /* An empty agent leaves the client's User-Agent (HAProxy drops an empty word). */
    if (c->agent.val[0]) {
        render_printf(r, "    http-request set-header User-Agent \"");
        render_conf_str(r, &c->agent, true, "http_client.agent");
        render_printf(r, "\"\n");
    }
    auth_rules(up, r);
    header_rules(up, r);
    /* Ours alone: the upstream never sees it, whoever set it. */
    render_printf(r, "    http-request del-header %s\n", HAPROXY_ID_HEADER);
    throttle_capture(up, r);
    if (relay_429)
        relay_429_rules(r);
    /* The agent's tunnel could not reach a plain http upstream through the proxy: HAProxy
     * had already sent the request, so the tunnel says so in a response head of its own.
     * HAProxy logs the answer LH 502, which the agent counts as a failed connection. An
     * upstream that sends the header itself only fails its own request. */
    if (c->proxy_enabled && !up->parsed.tls) {
        json_reply("http-response return status", &render_err_unreachable, NULL, NULL, r);
        render_printf(r, " if { res.hdr(%s) -m str %s }\n", HAPROXY_TUNNEL_HEADER,
                      HAPROXY_TUNNEL_UNREACHABLE);
    }
    if (forced)
        render_printf(r, "    use-server %s if TRUE\n", up->name);
    upstream_server(cfg, g, up, forced, r);
}

static void section_listen(const struct config *cfg, const struct conf_group *g,
                           const struct conf_upstream *up, struct render_out *r)
{
    const struct conf_http_client *c = &g->client;
    struct group_topology topo = render_group_topology(cfg, g);
    bool pinned_retries = topo.retries && topo.pinned;

    render_printf(r, "listen " HAPROXY_LISTEN_FMT "\n", g->name, up->name);
    render_printf(r, "    bind ");
    internal_address(cfg, r, g->name, up->name);
    render_printf(r, " mode 600\n");
    if (pinned_retries) {
        render_printf(r, "    bind ");
        retry_address(cfg, r, g->name, up->name);
        render_printf(r, " mode 600 accept-proxy\n");
    }
    render_printf(r, "    timeout client %us\n", (unsigned)c->request_timeout_s);
    render_printf(r, "    timeout http-keep-alive %us\n", (unsigned)c->idle_timeout_s);
    upstream_settings(c, NULL, r);
    log_to_agent(r);
    render_printf(r, "    log-format \"" LOGLINE_ATTEMPT_FORMAT "\"\n", g->name, up->name);
    /* The id header is removed below, but the log line is written at the end. */
    render_printf(r, "    http-request set-var(%s) req.hdr(%s)\n", LOGLINE_RID_VAR,
                  HAPROXY_ID_HEADER);
    if (pinned_retries)
        /* A pinned backend's retry: its first attempt, made there, failed. Its headers are
         * the first member's rewrites, which this listener's overwrite, and hold no id: the
         * PROXY header carries it, on a socket only HAProxy reaches. */
        render_printf(r,
                      "    http-request set-var(%s) fc_pp_unique_id if { fc_pp_unique_id -m found }\n"
                      "    http-request set-var(" SPOP_TXN_ATTEMPT_PRIOR
                      ") int(1) if { fc_pp_unique_id -m found }\n",
                      LOGLINE_RID_VAR);
    if (topo.retries) {
        /* The agent holds a retry for its backoff, or fails it fast if the breaker is open. */
        render_printf(r, "    filter spoe engine %s config \"", SPOE_ENGINE_ATTEMPT);
        render_quoted_text(r, r->opts->dir, false, "the output folder");
        render_printf(r, "/%s\"\n", RENDER_SPOE_ATTEMPT);
        render_printf(r, "    http-request set-var(" SPOP_TXN_ATTEMPT_UPSTREAM ") str(%s)\n",
                      up->name);
        render_printf(r, "    http-request set-var(" SPOP_TXN_ATTEMPT_GROUP ") str(%s)\n", g->name);
        render_printf(r,
                      "    http-request send-spoe-group %s " SPOP_MSG_ATTEMPT
                      " if { var(%s) -m found }\n",
                      SPOE_ENGINE_ATTEMPT, LOGLINE_RID_VAR);
        return_error(&render_err_no_upstream, false,
                     "{ var(" SPOP_TXN_VERDICT ") -m str " SPOP_VERDICT_FAIL " }", r);
    }
    upstream_rules(cfg, g, up, topo.retries && !r->opts->haproxy.retry_on_429, false, r);
    render_printf(r, "\n");
}

/*
 * A pinned backend's way to a retry: every other member's listener (the member itself
 * when it is the group's only one), by the group's weights, with the request's id in a
 * PROXY header. HAProxy redispatches each retry among them.
 */
static void retry_servers(const struct config *cfg, const struct conf_group *g,
                          const struct conf_upstream *first, struct render_out *r)
{
    for (size_t i = 0; i < g->n_members; i++) {
        const struct conf_upstream *up = &cfg->upstreams[g->members[i].upstream];

        if (up == first && g->n_members > 1)
            continue;
        render_printf(r, "    server " HAPROXY_RETRY_SERVER_PREFIX "%s ", up->name);
        retry_address(cfg, r, g->name, up->name);
        render_printf(r, " send-proxy-v2 proxy-v2-options unique-id weight %u\n",
                      haproxy_weight(g, i));
    }
}

/*
 * A group member on its own, for the requests the agent sent to it. It has no log of its
 * own: the frontend's request line names it (%b), and the agent reads that line as the
 * request's one attempt (contract/logformat.h). In a group with retries it makes the first
 * attempt itself and retries through the other members' listeners.
 */
static void section_pinned(const struct config *cfg, const struct conf_group *g,
                           const struct conf_upstream *up, struct render_out *r)
{
    struct group_topology topo = render_group_topology(cfg, g);

    render_printf(r, "backend " HAPROXY_PINNED_FMT "\n", g->name, up->name);
    /* Its retries go to the other members as the group backend's would (failover: the
     * next in order). */
    if (topo.retries)
        balance_rules(g, r);
    upstream_settings(&g->client, topo.retries ? &topo : NULL, r);
    /* An unreachable upstream is HAProxy's 503, sent as the 502 of llm_upstream, but
     * logged as 503 unless the status is set again: the log must say what the client got. */
    render_printf(r, "    http-after-response set-status 502 if { status 502 }\n");
    upstream_rules(cfg, g, up, false, topo.retries, r);
    if (topo.retries)
        retry_servers(cfg, g, up, r);
    render_printf(r, "\n");
}

static void section_agent(const struct config *cfg, struct render_out *r)
{
    render_printf(r,
                  "backend %s\n"
                  "    mode %s\n"
                  "    balance roundrobin\n"
                  "    option spop-check\n"
                  "    timeout connect 200ms\n"
                  "    timeout server 60s\n"
                  "    server agent ",
                  RENDER_AGENT_BACKEND, r->opts->haproxy.spop_mode ? "spop" : "tcp");
    agent_address(&cfg->agent.spop, r);
    render_printf(r, " check inter 1s fall 2 rise 2\n");
}

void render_haproxy_cfg(const struct config *cfg, struct render_out *r)
{
    struct conf_haproxy_version v = target_version(r);
    size_t i, m;

    render_printf(r,
                  "# Generated by llmproxy-ctl render for HAProxy %u.%u; edits are lost at the "
                  "next render.\n\n",
                  v.major, v.minor);
    section_global(cfg, r);
    section_log_ring(cfg, r);
    section_errors(r);
    for (i = 0; i < cfg->n_forwards; i++)
        section_frontend(cfg, &cfg->forwards[i], r);
    for (i = 0; i < cfg->n_groups; i++)
        section_group(cfg, &cfg->groups[i], r);
    for (i = 0; i < cfg->n_groups; i++) {
        const struct conf_group *g = &cfg->groups[i];
        bool pinned = render_group_topology(cfg, g).pinned;

        for (m = 0; m < g->n_members; m++) {
            const struct conf_upstream *up = &cfg->upstreams[g->members[m].upstream];

            if (pinned)
                section_pinned(cfg, g, up, r);
            section_listen(cfg, g, up, r);
        }
    }
    section_agent(cfg, r);
}
