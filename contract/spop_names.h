/*
 * The names of the SPOP contract between HAProxy and llmproxy-agent: engines, messages,
 * arguments, variables and verdicts (docs/spop-contract.md).
 *
 * Written by llmproxy-ctl into spoe-*.conf and haproxy.cfg (ctl/render_spoe.c,
 * ctl/render_haproxy.c); read and answered by the agent (agent/dispatch.c, agent/decide.c).
 * Renaming one here renames it on both sides. Names are short on purpose: every byte of a
 * NOTIFY is paid on every request.
 */
#ifndef LLMPROXY_CONTRACT_SPOP_NAMES_H
#define LLMPROXY_CONTRACT_SPOP_NAMES_H

/* ---- engines (haproxy.cfg `filter spoe engine`, spoe-*.conf sections) ---- */

#define SPOE_ENGINE_PICK_FMT "pick_%s" /* forward: one engine per forward */
#define SPOE_ENGINE_ATTEMPT  "attempt" /* one engine shared by every retrying listener */

/* ---- messages; each SPOE group holds the one message of the same name ---- */

#define SPOP_MSG_PICK    "pick"    /* frontend, one per client request */
#define SPOP_MSG_ATTEMPT "attempt" /* per-upstream listener, one per try (groups that retry) */

/*
 * A forward with `routing` chooses the group in HAProxy, then sends the one message of that
 * group, "pick_<group>", which carries that group's member counters (a message's arguments
 * are fixed, and member lists differ). The agent takes the group from the name; plain
 * "pick" is the forward's own group.
 */
#define SPOP_MSG_PICK_ROUTED_FMT SPOP_MSG_PICK "_%s"

/* ---- arguments of `pick` ---- */

#define SPOP_ARG_FORWARD "f"   /* str(<forward name>) */
#define SPOP_ARG_SRC     "src" /* the client's address (behind trusted proxies: the one reported) */
#define SPOP_ARG_ID      "id"  /* the request's unique id (also an argument of `attempt`) */
#define SPOP_ARG_CLIENT  "cl"  /* forwards with client_auth only: var(SPOP_TXN_CLIENT) */
/* Affinity groups only: the session key's 64-bit hash (INT64), var(SPOP_TXN_AFFINITY_KEY). */
#define SPOP_ARG_AFFINITY_KEY "k"

/*
 * The live counters of group member i arrive as <prefix><i>: "c0", "q0", "u0", ...
 * Each prefix is one character, so the agent matches it before the index's digits.
 */
#define SPOP_ARG_MEMBER_CONN  'c' /* srv_conn: streams on the member now */
#define SPOP_ARG_MEMBER_QUEUE 'q' /* srv_queue: requests queued on it */
#define SPOP_ARG_MEMBER_UP    'u' /* srv_is_up: HAProxy's view of it */

/* ---- arguments of `attempt` (and SPOP_ARG_ID) ---- */

#define SPOP_ARG_UPSTREAM "u" /* the upstream this attempt goes to */
#define SPOP_ARG_GROUP    "g" /* whose retry.initial sets the backoff */
/* Tries the agent was not asked about: 1 when the pinned backend's own first attempt
 * failed and HAProxy retried into this listener, absent otherwise. */
#define SPOP_ARG_PRIOR "p"

/*
 * The transaction variables a retrying listener sets for the `attempt` arguments: the
 * upstream's and the group's names.
 */
#define SPOP_TXN_ATTEMPT_UPSTREAM "txn.upn"
#define SPOP_TXN_ATTEMPT_GROUP    "txn.grp"
#define SPOP_TXN_ATTEMPT_PRIOR    "txn.llm_prior"

/*
 * The client a forward with client_auth found for the request's key (a configured client
 * name). HAProxy sets it itself, from a map of key hashes, before `pick` is sent; it lies
 * outside SPOE's var-prefix, so no agent answer can change it.
 */
#define SPOP_TXN_CLIENT "txn.llm_client"

/*
 * What HAProxy works out itself on a forward with `routing`, also outside the var-prefix:
 * the group the rules chose (the agent's `pick_<group>` and the backends follow it) and
 * the session key of an affinity group (header, body field, client or address, hashed).
 */
#define SPOP_TXN_GROUP        "txn.llm_group"
#define SPOP_TXN_AFFINITY_KEY "txn.llm_akey"

/* ---- variables the agent sets (txn scope, under SPOE's var-prefix) ---- */

#define SPOP_VAR_PREFIX "llm"

#define SPOP_VAR_VERDICT         "v"   /* SPOP_VERDICT_* */
#define SPOP_VAR_UPSTREAM        "up"  /* with pass: the chosen member */
#define SPOP_VAR_RETRY_AFTER     "ra"  /* with limited / unavailable: seconds */
/* With pass, in a group with retries: send the request through the group layer, whose
 * listeners log every attempt, not through the member's pinned backend. */
#define SPOP_VAR_LAYERED         "lay"
#define SPOP_VAR_ATTEMPT_VERDICT "av"  /* `attempt`'s verdict when one NOTIFY also held `pick` */
#define SPOP_VAR_ERROR           "err" /* set by HAProxy (set-on-error): the SPOE failure code */

/* The same variables as HAProxy's configuration names them. */
#define SPOP_TXN_VAR(name)   "txn." SPOP_VAR_PREFIX "." name
#define SPOP_TXN_VERDICT     SPOP_TXN_VAR(SPOP_VAR_VERDICT)
#define SPOP_TXN_UPSTREAM    SPOP_TXN_VAR(SPOP_VAR_UPSTREAM)
#define SPOP_TXN_RETRY_AFTER SPOP_TXN_VAR(SPOP_VAR_RETRY_AFTER)
#define SPOP_TXN_LAYERED     SPOP_TXN_VAR(SPOP_VAR_LAYERED)
#define SPOP_TXN_ERROR       SPOP_TXN_VAR(SPOP_VAR_ERROR)

/* ---- values of SPOP_VAR_VERDICT ---- */

#define SPOP_VERDICT_PASS        "pass"        /* pick: go on (to SPOP_VAR_UPSTREAM if set) */
#define SPOP_VERDICT_LIMITED     "limited"     /* pick: 429 */
#define SPOP_VERDICT_UNAVAILABLE "unavailable" /* pick: 503 */
#define SPOP_VERDICT_THROTTLED   "throttled"   /* pick: 429, every upstream throttles us */
#define SPOP_VERDICT_GO          "go"          /* attempt: send it */
#define SPOP_VERDICT_FAIL        "fail"        /* attempt: breaker open, fail fast */

#endif /* LLMPROXY_CONTRACT_SPOP_NAMES_H */
