/*
 * llmproxy-ctl's renderer: the configuration model -> haproxy.cfg, the SPOE files and the
 * JSON error files. Output depends only on the model and the options (and, for
 * ${NAME:-default} templates, on whether NAME is set), so the same input renders the same
 * bytes.
 */
#ifndef LLMPROXY_RENDER_H
#define LLMPROXY_RENDER_H

#include <stdarg.h>
#include <stdio.h>

#include "render-t.h"

/* File names inside the output folder. */
#define RENDER_HAPROXY_CFG  "haproxy.cfg"
#define RENDER_SPOE_PICK    "spoe-pick.conf"
#define RENDER_SPOE_ATTEMPT "spoe-attempt.conf"
#define RENDER_ERRORS_DIR   "errors"

/*
 * Each forward with client_auth has a map of the clients allowed on it, one line
 * "<SHA-256 of the key, lowercase hex> <client name>", in <map base>/RENDER_MAPS_DIR/.
 * HAProxy looks a presented key's hash up in it; llmproxy-ctl apply changes it at run time.
 */
#define RENDER_MAPS_DIR          "maps"
#define RENDER_CLIENT_MAP_PREFIX "clients_"
#define RENDER_CLIENT_MAP_SUFFIX ".map"
#define RENDER_CLIENT_MAP_FMT    RENDER_CLIENT_MAP_PREFIX "%s" RENDER_CLIENT_MAP_SUFFIX /* forward */

/*
 * Each forward with trusted_proxies has an ACL file of them, one network per line, in the
 * output folder: the peers whose PROXY header or forwarding header is believed.
 */
#define RENDER_TRUSTED_ACL_PREFIX "trusted_"
#define RENDER_TRUSTED_ACL_SUFFIX ".acl"
#define RENDER_TRUSTED_ACL_FMT                                                                     \
    RENDER_TRUSTED_ACL_PREFIX "%s" RENDER_TRUSTED_ACL_SUFFIX /* forward */

/*
 * Each forward with model rules answers GET /v1/models itself from a JSON file in the
 * output folder.
 */
#define RENDER_MODELS_PREFIX "models_"
#define RENDER_MODELS_SUFFIX ".json"
#define RENDER_MODELS_FMT    RENDER_MODELS_PREFIX "%s" RENDER_MODELS_SUFFIX /* forward */

/*
 * The backend that reaches the agent. The names the agent relies on too (proxies, SPOE
 * engines and messages) are in contract/internal_names.h and contract/spop_names.h.
 */
#define RENDER_AGENT_BACKEND "llm_agent"

/* ---- the files (render_haproxy.c, render_spoe.c) ---- */

void render_haproxy_cfg(const struct config *cfg, struct render_out *r);
void render_spoe_pick(const struct config *cfg, struct render_out *r);
void render_spoe_attempt(const struct config *cfg, struct render_out *r);

/* RFC 4648 base64 of `n` bytes into `out` (4 * ceil(n / 3) + 1 bytes), NUL-terminated. */
void render_base64(const unsigned char *in, size_t n, char *out);

/* ---- error bodies (render_errors.c) ---- */

/* The error responses: each errorfile, and the bodies returned inline (429, 503). */
extern const struct render_error render_err_bad_request;
extern const struct render_error render_err_request_timeout;
extern const struct render_error render_err_invalid_path;
extern const struct render_error render_err_method_not_allowed;
extern const struct render_error render_err_too_large;
extern const struct render_error render_err_bad_encoding;
extern const struct render_error render_err_internal;
extern const struct render_error render_err_not_implemented;
extern const struct render_error render_err_rate_limited;
extern const struct render_error render_err_upstreams_throttled;
extern const struct render_error render_err_bad_response;
extern const struct render_error render_err_unreachable;
extern const struct render_error render_err_no_upstream;
extern const struct render_error render_err_timeout;
extern const struct render_error render_err_saturated;
/* Retry-After of the queue's 503: a second, about how long a short completion takes. */
#define RENDER_SATURATED_RETRY_AFTER "1"
extern const struct render_error render_err_invalid_api_key;
extern const struct render_error render_err_model_not_found;

/* Every error that has an errorfile, NULL-terminated. */
extern const struct render_error *const render_errorfiles[];

/* The JSON body, without a newline. Returns its length (as snprintf). */
int render_error_json(const struct render_error *e, char *buf, size_t size);

/* A whole HTTP response for `errorfile`: status line, headers, JSON body. */
void render_errorfile(const struct render_error *e, struct render_out *r);

/* ---- client keys (render_client_map.c) ---- */

/* The map file of forward `forward` (an index into cfg->forwards): its allowed clients. */
void render_client_map(const struct config *cfg, size_t forward, struct render_out *r);

/* ---- the real client address (render_client_address.c) ---- */

/* The trusted proxies file of forward `forward` (an index into cfg->forwards). */
void render_trusted_acl(const struct config *cfg, size_t forward, struct render_out *r);

/*
 * The frontend's first rules: with trusted_proxies, make `src` the client's address from a
 * trusted peer's PROXY header or forwarding header; nothing without.
 */
void render_client_address_rules(const struct conf_forward *f, struct render_out *r);

/* ---- routing and affinity (render_routing.c) ---- */

/* Whether forward `f` has a model rule (then it reads the model and lists the models). */
bool render_has_model_rules(const struct conf_forward *f);

/* The groups forward `f` can send a request to, its own first, each once, into `out`
 * (RENDER_ROUTABLE_MAX entries); returns how many. */
#define RENDER_ROUTABLE_MAX (CONF_ROUTE_MAX + 1)
size_t render_routable_groups(const struct conf_forward *f, size_t *out);

/* The JSON file GET /v1/models answers with on forward `forward`. */
void render_models_list(const struct config *cfg, size_t forward, struct render_out *r);

/* The frontend's routing rules (none without `routing`): model, rules, reason, group. */
void render_routing_rules(const struct config *cfg, const struct conf_forward *f,
                          struct render_out *r);

/* The session key of the affinity groups `f` can route to (none without one). */
void render_affinity_rules(const struct config *cfg, const struct conf_forward *f,
                           struct render_out *r);

/* A routed forward's pick_<group> messages, and its backends, which follow the group. */
void render_routed_pick(const struct config *cfg, const struct conf_forward *f,
                        struct render_out *r);
void render_routed_backends(const struct config *cfg, const struct conf_forward *f,
                            struct render_out *r);

/* ---- writing and quoting (render_quote.c) ---- */

/* printf to the output. */
void render_printf(struct render_out *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the first failure; later ones are dropped (the first is the cause). */
void render_fail(struct render_out *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * `s` as one double-quoted HAProxy word read literally: no environment expansion, and,
 * with `log_format`, no sample or %-tag (for set-header values and other log-format
 * strings). `what` names the value in an error: control characters cannot be carried.
 */
void render_quoted(struct render_out *r, const char *s, bool log_format, const char *what);

/* The same, without the surrounding quotes: for composing a word from several parts. */
void render_quoted_text(struct render_out *r, const char *s, bool log_format, const char *what);

/*
 * A configuration string inside a double-quoted word. A literal is escaped as above; a
 * value that came from ${NAME} is written as the HAProxy environment reference ${NAME},
 * so HAProxy reads the secret from its own environment and the file never holds it.
 */
void render_conf_str(struct render_out *r, const struct conf_str *s, bool log_format,
                     const char *what);

/* ---- the output folder (render_dir.c) ---- */

/*
 * Render every file of `cfg` for HAProxy release `target` (NULL: the oldest,
 * haproxy_target.h) into `dir` (created if missing; its parent must exist). Each file is
 * written to a temporary name then renamed, so a reader sees old or new. Returns 0, or -1
 * with a message in `err`.
 */
int render_to_dir(const struct config *cfg, const char *dir, const struct haproxy_target *target,
                  char *err, size_t err_size);

/*
 * The same, with haproxy.cfg naming the client maps under `map_base` (its RENDER_MAPS_DIR
 * folder) instead of under `dir`: a path that stays the same from one rendered version to
 * the next (the live link), so that map commands on HAProxy's runtime API keep naming the
 * map HAProxy loaded. NULL: `dir`.
 */
int render_to_dir_at(const struct config *cfg, const char *dir, const char *map_base,
                     const struct haproxy_target *target, char *err, size_t err_size);

#endif /* LLMPROXY_RENDER_H */
