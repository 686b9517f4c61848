#include <string.h>

#include "conf_walk.h"
#include "contract/spop_names.h"
#include "decide.h"
#include "dispatch.h"
#include "ratelimit.h"
#include "spop_conn.h"
#include "spop_data.h"
#include "spop_frame.h"

/* Member arguments are named <kind><i> (SPOP_ARG_MEMBER_*): returns i, or -1 for any
 * other name. */
static int member_index(struct spop_str name, char kind)
{
    unsigned i = 0;

    if (name.len < 2 || name.len > 5 || name.ptr[0] != kind)
        return -1;
    for (size_t k = 1; k < name.len; k++) {
        if (name.ptr[k] < '0' || name.ptr[k] > '9')
            return -1;
        i = i * 10 + (unsigned)(name.ptr[k] - '0');
    }
    return i < BALANCER_MAX_MEMBERS ? (int)i : -1;
}

static uint32_t clamp_u32(const struct spop_data *v)
{
    /* srv_conn and friends arrive as INT64; a negative value would be a HAProxy bug. */
    if (v->i64 < 0)
        return 0;
    return v->u64 > UINT32_MAX ? UINT32_MAX : (uint32_t)v->u64;
}

static bool decode_member(struct pick_request *req, const struct spop_kv *kv)
{
    int i;

    if ((i = member_index(kv->name, SPOP_ARG_MEMBER_CONN)) >= 0 && spop_data_is_int(&kv->value))
        pick_request_member(req, (size_t)i)->conn = clamp_u32(&kv->value);
    else if ((i = member_index(kv->name, SPOP_ARG_MEMBER_QUEUE)) >= 0 &&
             spop_data_is_int(&kv->value))
        pick_request_member(req, (size_t)i)->queue = clamp_u32(&kv->value);
    else if ((i = member_index(kv->name, SPOP_ARG_MEMBER_UP)) >= 0 &&
             kv->value.type == SPOP_DATA_BOOL)
        pick_request_member(req, (size_t)i)->up = kv->value.boolean;
    else
        return false;
    return true;
}

/*
 * `pick` or `pick_<group>` (SPOP_MSG_PICK_ROUTED_FMT): true for either, with the group's
 * name (not NUL-terminated, possibly empty) in `group` for the second. Which groups the
 * forward may route to is decide_pick()'s to check.
 */
static bool is_pick(struct spop_str name, struct spop_str *group)
{
    static const char routed_prefix[] = SPOP_MSG_PICK "_";
    const size_t prefix_len = sizeof(routed_prefix) - 1;

    *group = (struct spop_str){NULL, 0};
    if (spop_str_eq(name, SPOP_MSG_PICK))
        return true;
    if (name.len < prefix_len || memcmp(name.ptr, routed_prefix, prefix_len) != 0)
        return false;
    group->ptr = name.ptr + prefix_len;
    group->len = name.len - prefix_len;
    return true;
}

static bool decode_pick(struct spop_msg *msg, struct spop_str group, struct pick_request *req)
{
    struct spop_kv kv;

    pick_request_init(req);
    if (group.ptr) {
        /* An empty name is no group either: decide_pick() answers it fail-open. */
        req->group = group.ptr;
        req->group_len = group.len;
    }
    while (spop_kv_next(&msg->args, &kv)) {
        if (spop_str_eq(kv.name, SPOP_ARG_FORWARD) && kv.value.type == SPOP_DATA_STRING) {
            req->forward = kv.value.bytes.ptr;
            req->forward_len = kv.value.bytes.len;
        } else if (spop_str_eq(kv.name, SPOP_ARG_SRC) && kv.value.type == SPOP_DATA_IPV4) {
            rl_addr_from_ipv4(&req->addr, (const uint8_t *)kv.value.bytes.ptr);
            req->has_addr = true;
        } else if (spop_str_eq(kv.name, SPOP_ARG_SRC) && kv.value.type == SPOP_DATA_IPV6) {
            rl_addr_from_ipv6(&req->addr, (const uint8_t *)kv.value.bytes.ptr);
            req->has_addr = true;
        } else if (spop_str_eq(kv.name, SPOP_ARG_SRC) && kv.value.type == SPOP_DATA_STRING) {
            /* An address sent as text (e.g. by a hand-edited SPOE message); anything that
             * is not one leaves the request without an address, as an absent src does. */
            req->has_addr = rl_addr_parse(&req->addr, kv.value.bytes.ptr, kv.value.bytes.len);
        } else if (spop_str_eq(kv.name, SPOP_ARG_CLIENT) && kv.value.type == SPOP_DATA_STRING &&
                   kv.value.bytes.len > 0 && kv.value.bytes.len <= CONF_NAME_MAX) {
            /* Anything longer is no configured name; a NULL (unset variable) is no client. */
            req->client = kv.value.bytes.ptr;
            req->client_len = kv.value.bytes.len;
        } else if (spop_str_eq(kv.name, SPOP_ARG_AFFINITY_KEY) && spop_data_is_int(&kv.value)) {
            /* The hash's bits, whichever integer type carried them; any other type (a
             * string, a NULL from an unset variable) is no key. */
            req->has_key = true;
            req->key = kv.value.u64;
        } else {
            /* id and anything a newer renderer adds are not needed to decide */
            decode_member(req, &kv);
        }
    }
    return req->forward != NULL;
}

static bool decode_attempt(struct spop_msg *msg, struct attempt_request *req)
{
    struct spop_kv kv;

    memset(req, 0, sizeof(*req));
    while (spop_kv_next(&msg->args, &kv)) {
        /* Only 1 is meant; anything else an integer says is no prior try. */
        if (spop_str_eq(kv.name, SPOP_ARG_PRIOR) && spop_data_is_int(&kv.value)) {
            req->prior = kv.value.u64 == 1;
            continue;
        }
        if (kv.value.type != SPOP_DATA_STRING)
            continue;
        if (spop_str_eq(kv.name, SPOP_ARG_ID)) {
            req->id = kv.value.bytes.ptr;
            req->id_len = kv.value.bytes.len;
        } else if (spop_str_eq(kv.name, SPOP_ARG_UPSTREAM)) {
            req->upstream = kv.value.bytes.ptr;
            req->upstream_len = kv.value.bytes.len;
        } else if (spop_str_eq(kv.name, SPOP_ARG_GROUP)) {
            req->group = kv.value.bytes.ptr;
            req->group_len = kv.value.bytes.len;
        }
    }
    return req->id_len > 0 && req->upstream != NULL;
}

uint32_t dispatch_notify(struct decider *d, struct spop_msg_iter *msgs, uint64_t now_ms,
                         struct answer *out, struct dispatch_stats *stats)
{
    static struct pick_request pick; /* large; one event loop, never re-entered */
    struct spop_msg msg;
    struct spop_str group;
    uint32_t delay_ms = 0;

    memset(out, 0, sizeof(*out));
    while (spop_msg_next(msgs, &msg)) {
        if (is_pick(msg.name, &group)) {
            struct pick_result res;

            if (!decode_pick(&msg, group, &pick)) {
                stats->bad_args++;
                continue;
            }
            decide_pick(d, &pick, now_ms, &res);
            out->has_pick = true;
            out->pick = res.verdict;
            out->retry_after_s = res.retry_after_s;
            out->layered = res.layered;
            if (res.upstream) {
                size_t n = strlen(res.upstream);
                if (n < sizeof(out->upstream))
                    memcpy(out->upstream, res.upstream, n + 1);
            }
        } else if (spop_str_eq(msg.name, SPOP_MSG_ATTEMPT)) {
            struct attempt_request req;
            struct attempt_result res;

            if (!decode_attempt(&msg, &req)) {
                stats->bad_args++;
                continue;
            }
            decide_attempt(d, &req, now_ms, &res);
            out->has_attempt = true;
            out->attempt = res.verdict;
            if (req.id_len <= sizeof(out->attempt_id)) {
                memcpy(out->attempt_id, req.id, req.id_len);
                out->attempt_id_len = req.id_len;
            }
            if (res.delay_ms > delay_ms)
                delay_ms = res.delay_ms;
        } else {
            stats->unknown_messages++;
        }
    }
    return delay_ms;
}

static void put_str_var(struct spop_writer *w, const char *name, const char *val)
{
    spop_put_set_var(w, SPOP_SCOPE_TXN, name, spop_data_str(val, strlen(val)));
}

bool answer_write(struct spop_conn *conn, uint64_t stream_id, uint64_t frame_id,
                  const struct answer *a)
{
    struct spop_writer w;

    spop_ack_begin(conn, stream_id, frame_id, &w);
    if (a->has_pick) {
        put_str_var(&w, SPOP_VAR_VERDICT, pick_verdict_name(a->pick));
        if (a->pick == PICK_PASS && a->upstream[0])
            put_str_var(&w, SPOP_VAR_UPSTREAM, a->upstream);
        if (a->pick == PICK_PASS && a->upstream[0] && a->layered)
            spop_put_set_var(&w, SPOP_SCOPE_TXN, SPOP_VAR_LAYERED, spop_data_bool(true));
        if (a->pick != PICK_PASS)
            spop_put_set_var(&w, SPOP_SCOPE_TXN, SPOP_VAR_RETRY_AFTER,
                             spop_data_uint32(a->retry_after_s));
    }
    if (a->has_attempt)
        put_str_var(&w, a->has_pick ? SPOP_VAR_ATTEMPT_VERDICT : SPOP_VAR_VERDICT,
                    attempt_verdict_name(a->attempt));
    return spop_ack_end(conn, &w);
}
