/*
 * Model and path routing in a forward's frontend (`routing`), the session key of affinity
 * groups, and the model list a routed forward answers itself. HAProxy does all of it:
 *
 * 1. the model, when the forward has model rules: the x-llmproxy-model header when it came
 *    once (then removed), else `$.model` of the JSON body, as far as the buffer holds it;
 * 2. the rules in order, each skipped once one matched (LOGLINE_ROUTE_VAR found): the
 *    first match wins, and no rule is evaluated twice;
 * 3. why none matched, for the log: unmatched, truncated or no_model;
 * 4. the group (SPOP_TXN_GROUP): the matching rule's target, else the forward's own;
 * 5. the agent gets that group's message, pick_<group>, and the backends follow the group.
 */
#include <stdlib.h>
#include <string.h>

#include "conf_walk.h"
#include "config.h"
#include "contract/internal_names.h"
#include "contract/logformat.h"
#include "contract/spop_names.h"
#include "render.h"
#include "render_topology.h"

/* A client names its model here when its body is too large for HAProxy to read it. */
#define MODEL_HEADER "x-llmproxy-model"
/* HAProxy-internal: the model read, and how much of the body was. */
#define MODEL_VAR     "txn.llm_model"
#define BODY_READ_VAR "txn.llm_blen"
/* The path the model list answers on. */
#define MODELS_PATH "/v1/models"

#define ROUTE_NOT_SET "!{ var(" LOGLINE_ROUTE_VAR ") -m found }"

bool render_has_model_rules(const struct conf_forward *f)
{
    for (size_t i = 0; i < f->n_routes; i++)
        if (f->routes[i].kind != ROUTE_PATH)
            return true;
    return false;
}

size_t render_routable_groups(const struct conf_forward *f, size_t *out)
{
    size_t n = 0;

    out[n++] = f->group;
    for (size_t i = 0; i < f->n_routes; i++) {
        size_t k = 0;

        while (k < n && out[k] != f->routes[i].group)
            k++;
        if (k == n)
            out[n++] = f->routes[i].group;
    }
    return n;
}

/* ---- the model list --------------------------------------------------------------------- */

struct model_list {
    const char **names;
    size_t n;
};

static void list_model(struct model_list *l, const char *name, const char *group,
                       struct render_out *r)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return;
    render_printf(r, "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":0,\"owned_by\":\"%s\"}",
                  l->n ? "," : "", name, group);
    l->names[l->n++] = name;
}

/*
 * GET /v1/models as OpenAI answers it. Names and group names need no JSON escaping: model
 * names exclude '"' and '\' (conf_route.c), group names are [A-Za-z0-9_.-].
 */
void render_models_list(const struct config *cfg, size_t forward, struct render_out *r)
{
    const struct conf_forward *f = &cfg->forwards[forward];
    size_t groups[RENDER_ROUTABLE_MAX], n = render_routable_groups(f, groups), most = f->n_routes;
    struct model_list l = {NULL, 0};

    for (size_t g = 0; g < cfg->n_groups; g++)
        most += cfg->groups[g].n_models;
    if (most && !(l.names = calloc(most, sizeof(*l.names)))) {
        render_fail(r, "out of memory listing the models of forward %s", f->name);
        return;
    }
    render_printf(r, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < f->n_routes; i++)
        if (f->routes[i].kind == ROUTE_MODEL)
            list_model(&l, f->routes[i].match, cfg->groups[f->routes[i].group].name, r);
    for (size_t g = 0; g < cfg->n_groups; g++) {
        size_t k = 0;

        while (k < n && groups[k] != g)
            k++;
        for (size_t m = 0; k < n && m < cfg->groups[g].n_models; m++)
            list_model(&l, cfg->groups[g].models[m].val, cfg->groups[g].name, r);
    }
    render_printf(r, "]}\n");
    free(l.names);
}

/* ---- the frontend's rules --------------------------------------------------------------- */

static void models_answer(const struct conf_forward *f, struct render_out *r)
{
    render_printf(r, "    http-request return status 200 content-type application/json file \"");
    render_quoted_text(r, r->opts->dir, false, "the output folder");
    render_printf(r, "/" RENDER_MODELS_FMT "\" if { method GET HEAD } { path " MODELS_PATH " }\n",
                  f->name);
}

/* The header once and whole, else the body's top-level "model"; the header never leaves. */
static void read_model(struct render_out *r)
{
    render_printf(r, "    http-request set-var(" MODEL_VAR ") req.fhdr(" MODEL_HEADER
                     ") if { req.fhdr_cnt(" MODEL_HEADER ") eq 1 }\n"
                     "    http-request set-var(" MODEL_VAR
                     ") req.body,json_query('$.model') if !{ var(" MODEL_VAR ") -m found }\n"
                     "    http-request del-header " MODEL_HEADER "\n");
}

static void rule_condition(const struct conf_route *route, struct render_out *r)
{
    switch (route->kind) {
    case ROUTE_MODEL:
        render_printf(r, "{ var(" MODEL_VAR ") -m str %s }", route->match);
        break;
    case ROUTE_MODEL_PREFIX:
        render_printf(r, "{ var(" MODEL_VAR ") -m beg %s }", route->match);
        break;
    case ROUTE_PATH:
        /* Single quotes: HAProxy takes the regex's backslashes as they are. */
        render_printf(r, "{ path_reg '%s' }", route->match);
        break;
    }
}

/*
 * The route's reason when no rule matched (contract/logformat.h). A forward with path
 * rules only reads no model: a miss is unmatched, never a 404 (that is model_not_found).
 */
static void route_reasons(const struct conf_forward *f, struct render_out *r)
{
    if (!render_has_model_rules(f)) {
        render_printf(r, "    http-request set-var(" LOGLINE_ROUTE_VAR
                         ") str(" LOGLINE_ROUTE_UNMATCHED ") if " ROUTE_NOT_SET "\n");
        return;
    }
    render_printf(r,
                  "    http-request set-var(" LOGLINE_ROUTE_VAR ") str(" LOGLINE_ROUTE_UNMATCHED
                  ") if " ROUTE_NOT_SET " { var(" MODEL_VAR ") -m found }\n"
                  "    http-request set-var(" BODY_READ_VAR ") req.body_len if " ROUTE_NOT_SET "\n"
                  "    http-request set-var(" LOGLINE_ROUTE_VAR ") str(" LOGLINE_ROUTE_TRUNCATED
                  ") if " ROUTE_NOT_SET " { req.body_size,sub(" BODY_READ_VAR ") gt 0 }\n"
                  "    http-request set-var(" LOGLINE_ROUTE_VAR ") str(" LOGLINE_ROUTE_NO_MODEL
                  ") if " ROUTE_NOT_SET "\n");
}

/* One rule per target group other than the forward's own, which is the fallback. */
static void choose_group(const struct config *cfg, const struct conf_forward *f,
                         struct render_out *r)
{
    size_t groups[RENDER_ROUTABLE_MAX], n = render_routable_groups(f, groups);

    for (size_t k = 1; k < n; k++) {
        render_printf(r,
                      "    http-request set-var(" SPOP_TXN_GROUP
                      ") str(%s) if { var(" LOGLINE_ROUTE_VAR ") -m str",
                      cfg->groups[groups[k]].name);
        for (size_t i = 0; i < f->n_routes; i++)
            if (f->routes[i].group == groups[k])
                render_printf(r, " %zu", i);
        render_printf(r, " }\n");
    }
    render_printf(r,
                  "    http-request set-var(" SPOP_TXN_GROUP ") str(%s) if !{ var(" SPOP_TXN_GROUP
                  ") -m found }\n",
                  cfg->groups[f->group].name);
}

void render_routing_rules(const struct config *cfg, const struct conf_forward *f,
                          struct render_out *r)
{
    if (!f->n_routes)
        return;
    if (render_has_model_rules(f)) {
        models_answer(f, r);
        read_model(r);
    }
    for (size_t i = 0; i < f->n_routes; i++) {
        render_printf(
            r, "    http-request set-var(" LOGLINE_ROUTE_VAR ") str(%zu) if " ROUTE_NOT_SET " ", i);
        rule_condition(&f->routes[i], r);
        render_printf(r, "\n");
    }
    route_reasons(f, r);
    choose_group(cfg, f, r);
}

/* ---- the session key of affinity groups --------------------------------------------------- */

/* `{ var(txn.llm_group) -m str <g> }` on a routed forward; nothing on another. */
static void group_condition(const struct conf_forward *f, const char *group, struct render_out *r)
{
    if (f->n_routes)
        render_printf(r, " { var(" SPOP_TXN_GROUP ") -m str %s }", group);
}

#define AKEY_SET     "http-request set-var(" SPOP_TXN_AFFINITY_KEY ") "
#define AKEY_NOT_SET " !{ var(" SPOP_TXN_AFFINITY_KEY ") -m found }"

/*
 * The first present of: the group's header (once), the body's prompt_cache_key then user
 * (body_keys), the client (client_auth), the address; hashed, so that no client text
 * reaches the agent.
 */
static void affinity_group_key(const struct conf_forward *f, const struct conf_group *g,
                               struct render_out *r)
{
    const char *h = g->affinity.header.val;

    render_printf(r, "    " AKEY_SET "req.fhdr(%s),xxh3 if { req.fhdr_cnt(%s) eq 1 }", h, h);
    group_condition(f, g->name, r);
    render_printf(r, "\n");
    if (g->affinity.body_keys) {
        render_printf(r, "    " AKEY_SET
                         "req.body,json_query('$.prompt_cache_key'),xxh3 if" AKEY_NOT_SET);
        group_condition(f, g->name, r);
        render_printf(r, "\n    " AKEY_SET "req.body,json_query('$.user'),xxh3 if" AKEY_NOT_SET);
        group_condition(f, g->name, r);
        render_printf(r, "\n");
    }
}

void render_affinity_rules(const struct config *cfg, const struct conf_forward *f,
                           struct render_out *r)
{
    size_t groups[RENDER_ROUTABLE_MAX], n = render_routable_groups(f, groups), any = 0;
    char cond[64 + (RENDER_ROUTABLE_MAX) * (CONF_NAME_MAX + 1)];
    size_t o = 0;

    cond[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        const struct conf_group *g = &cfg->groups[groups[k]];

        if (g->strategy != BAL_AFFINITY)
            continue;
        affinity_group_key(f, g, r);
        if (f->n_routes)
            o += (size_t)snprintf(cond + o, sizeof(cond) - o, "%s%s",
                                  any ? " " : " { var(" SPOP_TXN_GROUP ") -m str ", g->name);
        any++;
    }
    if (!any)
        return;
    if (f->n_routes)
        snprintf(cond + o, sizeof(cond) - o, " }");
    if (f->client_auth)
        render_printf(r, "    " AKEY_SET "var(" SPOP_TXN_CLIENT "),xxh3 if" AKEY_NOT_SET "%s\n",
                      cond);
    render_printf(r, "    " AKEY_SET "src,xxh3 if" AKEY_NOT_SET "%s\n", cond);
}

/* ---- the agent's message and the backends ------------------------------------------------ */

void render_routed_pick(const struct config *cfg, const struct conf_forward *f,
                        struct render_out *r)
{
    size_t groups[RENDER_ROUTABLE_MAX], n = render_routable_groups(f, groups);

    for (size_t k = 0; k < n; k++) {
        const char *g = cfg->groups[groups[k]].name;

        render_printf(r,
                      "    http-request send-spoe-group " SPOE_ENGINE_PICK_FMT
                      " " SPOP_MSG_PICK_ROUTED_FMT " if { var(" SPOP_TXN_GROUP ") -m str %s }\n",
                      f->name, g, g);
    }
}

void render_routed_backends(const struct config *cfg, const struct conf_forward *f,
                            struct render_out *r)
{
    size_t groups[RENDER_ROUTABLE_MAX], n = render_routable_groups(f, groups), pinned = 0;
    bool retries = false;

    for (size_t k = 0; k < n; k++) {
        struct group_topology t = render_group_topology(cfg, &cfg->groups[groups[k]]);

        pinned += t.pinned;
        retries |= t.pinned && t.retries;
    }
    /* A dynamic name with no backend goes to the default backend, not to the next rule
     * (2.6 and 3.2 alike): only pinned groups may take a member's own backend. */
    if (pinned) {
        render_printf(
            r, "    use_backend " HAPROXY_PINNED_FMT " if { var(" SPOP_TXN_UPSTREAM ") -m found }",
            "%[var(" SPOP_TXN_GROUP ")]", "%[var(" SPOP_TXN_UPSTREAM ")]");
        /* The agent asks for the group layer only in groups with retries. */
        if (retries)
            render_printf(r, TOPOLOGY_NOT_LAYERED);
        if (pinned < n) {
            render_printf(r, " { var(" SPOP_TXN_GROUP ") -m str");
            for (size_t k = 0; k < n; k++)
                if (render_group_topology(cfg, &cfg->groups[groups[k]]).pinned)
                    render_printf(r, " %s", cfg->groups[groups[k]].name);
            render_printf(r, " }");
        }
        render_printf(r, "\n");
    }
    render_printf(r, "    use_backend " HAPROXY_GROUP_FMT "\n", "%[var(" SPOP_TXN_GROUP ")]");
    render_printf(r, "    default_backend " HAPROXY_GROUP_FMT "\n\n", cfg->groups[f->group].name);
}
