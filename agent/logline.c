/*
 * Strict parser of the LLMProxy log lines (formats in contract/logformat.h).
 *
 * A line is walked once with a cursor that never passes its end. Every field is checked
 * against what HAProxy can write for it, so a line cut short by a full ring, or written
 * by another configuration, is refused rather than half-trusted.
 */
#include <string.h>

#include "logline.h"

struct cursor {
    const char *p;
    const char *end;
};

/* Termination state (%tsc) alphabet, per position, as HAProxy's configuration manual lists
 * the characters of "session state at disconnection". */
static const char *const tsc_alphabet[4] = {
    "CSPLRIDUKcs-", /* what ended the session */
    "RQCHDLT-",     /* in which phase */
    "NIDVEOU-",     /* persistence cookie, client side */
    "NIUPRD-",      /* persistence cookie, server side */
};

static bool str_is(struct logline_str f, const char *lit)
{
    size_t n = strlen(lit);

    return f.len == n && memcmp(f.ptr, lit, n) == 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Names of the configuration: [A-Za-z0-9_.-]. */
static bool is_name_char(char c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

/* The unique-id format writes hex, ':' and '_'; allow the name charset too. */
static bool is_id_char(char c)
{
    return is_name_char(c) || c == ':';
}

/* RFC 9110 tchar, what an HTTP method is made of. */
static bool is_tchar(char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+.^_`|~-", c));
}

/* Visible ASCII but the quote: what %{+Q}HPO leaves unencoded inside its quotes. */
static bool is_path_char(char c)
{
    return c > ' ' && c < 0x7f && c != '"';
}

static bool all_of(struct logline_str f, bool (*ok)(char))
{
    for (size_t i = 0; i < f.len; i++)
        if (!ok(f.ptr[i]))
            return false;
    return true;
}

/*
 * The next field: the bytes up to the next space or the end. Every field but the first
 * is preceded by exactly one space.
 */
static int field(struct cursor *c, bool first, struct logline_str *f)
{
    if (!first) {
        if (c->p == c->end)
            return -LOGLINE_ERR_TRUNCATED;
        c->p++; /* the space the previous field stopped at */
    }
    if (c->p == c->end)
        return -LOGLINE_ERR_TRUNCATED;
    if (*c->p == ' ')
        return -LOGLINE_ERR_SEPARATOR;
    f->ptr = c->p;
    while (c->p < c->end && *c->p != ' ')
        c->p++;
    f->len = (size_t)(c->p - f->ptr);
    return 0;
}

/* Decimal digits only, at most `max`. */
static bool parse_uint(struct logline_str f, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (f.len == 0 || f.len > 20)
        return false;
    for (size_t i = 0; i < f.len; i++) {
        unsigned d;

        if (!is_digit(f.ptr[i]))
            return false;
        d = (unsigned)(f.ptr[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* A timer: -1 (phase never reached) or 0..INT32_MAX ms. */
static bool parse_timer(struct logline_str f, int32_t *out)
{
    uint64_t v;

    if (str_is(f, "-1")) {
        *out = -1;
        return true;
    }
    if (!parse_uint(f, INT32_MAX, &v))
        return false;
    *out = (int32_t)v;
    return true;
}

/* The status: -1 (none sent) or a three-digit code. */
static bool parse_status(struct logline_str f, int *out)
{
    uint64_t v;

    if (str_is(f, "-1")) {
        *out = -1;
        return true;
    }
    if (f.len != 3 || !parse_uint(f, 999, &v) || v < 100)
        return false;
    *out = (int)v;
    return true;
}

/* "-" or a value of the charset; an absent value becomes an empty string. */
static bool parse_optional(struct logline_str *f, size_t max, bool (*ok)(char))
{
    if (str_is(*f, "-")) {
        f->len = 0;
        return true;
    }
    return f->len <= max && all_of(*f, ok);
}

/* Drop `lit` from the front of *f if it starts with it. */
static bool skip_view(struct logline_str *f, struct logline_str lit)
{
    if (f->len < lit.len || memcmp(f->ptr, lit.ptr, lit.len) != 0)
        return false;
    f->ptr += lit.len;
    f->len -= lit.len;
    return true;
}

static bool skip_prefix(struct logline_str *f, const char *lit)
{
    return skip_view(f, (struct logline_str){.ptr = lit, .len = strlen(lit)});
}

static bool parse_name(struct logline_str f)
{
    return f.len <= LOGLINE_NAME_MAX && all_of(f, is_name_char);
}

static bool parse_termination(struct logline_str f, char out[5])
{
    if (f.len != 4)
        return false;
    for (size_t i = 0; i < 4; i++)
        if (!f.ptr[i] || !strchr(tsc_alphabet[i], f.ptr[i]))
            return false;
    memcpy(out, f.ptr, 4);
    out[4] = '\0';
    return true;
}

/* %rc: retries, with a leading '+' when the request was redispatched. */
static bool parse_retries(struct logline_str f, uint32_t *out, bool *redispatched)
{
    uint64_t v;

    *redispatched = f.len > 0 && f.ptr[0] == '+';
    if (*redispatched) {
        f.ptr++;
        f.len--;
    }
    if (!parse_uint(f, 65535, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* The quoted path, which must end the line. */
static int parse_path(struct cursor *c, struct logline_str *path)
{
    if (c->p == c->end)
        return -LOGLINE_ERR_TRUNCATED;
    c->p++; /* the separating space */
    if (c->p == c->end)
        return -LOGLINE_ERR_TRUNCATED;
    if (*c->p != '"')
        return -LOGLINE_ERR_PATH;
    path->ptr = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if (!is_path_char(*c->p))
            return -LOGLINE_ERR_PATH;
        c->p++;
    }
    if (c->p == c->end)
        return -LOGLINE_ERR_TRUNCATED;
    path->len = (size_t)(c->p - path->ptr);
    c->p++;
    /* HAProxy's placeholder for a request it could not parse: no path. */
    if (str_is(*path, "<BADREQ>"))
        path->len = 0;
    return 0;
}

static bool is_hex_digit(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* Shorthands: take the next field into `f`, or return the error. */
#define NEXT(f)                                                                                    \
    do {                                                                                           \
        int rc_ = field(c, false, &(f));                                                           \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)
#define CHECK(cond, err)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return -(err);                                                                         \
    } while (0)

/* The timers, bytes and termination state both kinds end their numbers with. */
static int parse_timing_tail(struct cursor *c, struct logline *out)
{
    struct logline_str f;

    NEXT(f);
    CHECK(parse_timer(f, &out->t_queue), LOGLINE_ERR_TIMER);
    NEXT(f);
    CHECK(parse_timer(f, &out->t_connect), LOGLINE_ERR_TIMER);
    NEXT(f);
    CHECK(parse_timer(f, &out->t_response), LOGLINE_ERR_TIMER);
    NEXT(f);
    CHECK(parse_timer(f, &out->t_total), LOGLINE_ERR_TIMER);
    NEXT(f);
    CHECK(parse_uint(f, UINT64_MAX, &out->bytes_out), LOGLINE_ERR_BYTES);
    NEXT(f);
    CHECK(parse_termination(f, out->termination), LOGLINE_ERR_TERMINATION);
    return 0;
}

/*
 * The THROTTLE fields, which end both kinds: none at all (a line of an earlier rendering),
 * or all of them, each "-" or the hex of at most LOGLINE_THROTTLE_MAX_BYTES bytes.
 */
static int parse_throttle(struct cursor *c, struct logline *out)
{
    if (c->p == c->end)
        return 0;
    /* Not a space, or a space that ends the line: bytes no rendering writes. */
    if (*c->p != ' ' || c->p + 1 == c->end)
        return -LOGLINE_ERR_TRAILING;
    for (size_t i = 0; i < LOGLINE_TH_N; i++) {
        struct logline_str *f = &out->throttle[i];

        NEXT(*f);
        CHECK(parse_optional(f, 2 * LOGLINE_THROTTLE_MAX_BYTES, is_hex_digit) && f->len % 2 == 0,
              LOGLINE_ERR_THROTTLE);
    }
    return 0;
}

static int parse_request(struct cursor *c, struct logline *out)
{
    struct logline_str f;
    uint64_t v;
    int rc;

    NEXT(out->id);
    CHECK(parse_optional(&out->id, LOGLINE_ID_MAX, is_id_char), LOGLINE_ERR_ID);
    NEXT(out->forward);
    CHECK(parse_name(out->forward), LOGLINE_ERR_NAME);
    NEXT(out->group);
    CHECK(parse_name(out->group), LOGLINE_ERR_NAME);
    NEXT(out->route);
    CHECK(parse_optional(&out->route, LOGLINE_ROUTE_MAX, is_name_char), LOGLINE_ERR_NAME);
    NEXT(out->client);
    CHECK(parse_optional(&out->client, LOGLINE_NAME_MAX, is_name_char), LOGLINE_ERR_NAME);
    NEXT(out->method);
    if (str_is(out->method, "<BADREQ>"))
        out->method.len = 0;
    else
        CHECK(out->method.len <= LOGLINE_METHOD_MAX && all_of(out->method, is_tchar),
              LOGLINE_ERR_METHOD);
    NEXT(f);
    CHECK(parse_status(f, &out->status), LOGLINE_ERR_STATUS);
    NEXT(f);
    CHECK(parse_timer(f, &out->t_request), LOGLINE_ERR_TIMER);
    rc = parse_timing_tail(c, out);
    if (rc < 0)
        return rc;
    NEXT(f);
    CHECK(parse_retries(f, &out->retries, &out->redispatched), LOGLINE_ERR_RETRIES);
    NEXT(out->upstream);
    bool retried = skip_prefix(&out->upstream, HAPROXY_RETRY_SERVER_PREFIX);
    if (!retried && str_is(out->upstream, "<NOSRV>"))
        out->upstream.len = 0;
    else
        CHECK(parse_name(out->upstream) && out->upstream.len > 0, LOGLINE_ERR_NAME);
    NEXT(f);
    CHECK(f.len <= LOGLINE_BACKEND_MAX && all_of(f, is_name_char), LOGLINE_ERR_NAME);
    /* Without a server (<NOSRV>) nothing was attempted. */
    out->pinned = out->upstream.len > 0 && skip_prefix(&f, HAPROXY_PINNED_PREFIX) && f.len > 0;
    if (retried) {
        /* Only a pinned backend of the line's own group has such servers: "pin_<group>__". */
        CHECK(out->pinned && skip_view(&f, out->group) && skip_prefix(&f, "__") &&
                  f.len > 0,
              LOGLINE_ERR_NAME);
        out->retried_first = f;
        out->pinned = false;
    }
    NEXT(out->verdict);
    CHECK(parse_optional(&out->verdict, LOGLINE_VERDICT_MAX, is_name_char), LOGLINE_ERR_VERDICT);
    NEXT(f);
    if (!str_is(f, "-")) {
        CHECK(parse_uint(f, 65535, &v), LOGLINE_ERR_SPOE_ERROR);
        out->spoe_error = (int)v;
    }
    rc = parse_path(c, &out->path);
    return rc < 0 ? rc : parse_throttle(c, out);
}

static int parse_attempt(struct cursor *c, struct logline *out)
{
    struct logline_str f;
    int rc;

    NEXT(out->id);
    CHECK(parse_optional(&out->id, LOGLINE_ID_MAX, is_id_char), LOGLINE_ERR_ID);
    NEXT(out->group);
    CHECK(parse_name(out->group), LOGLINE_ERR_NAME);
    NEXT(out->upstream);
    CHECK(parse_name(out->upstream), LOGLINE_ERR_NAME);
    NEXT(f);
    CHECK(parse_status(f, &out->status), LOGLINE_ERR_STATUS);
    rc = parse_timing_tail(c, out);
    if (rc < 0 || c->p == c->end)
        return rc;
    rc = parse_throttle(c, out);
    if (rc < 0 || c->p == c->end)
        return rc;
    /* The upstream's 429 that the listener relayed as a 503, so that HAProxy before 3.1
     * retries it: the upstream's answer is what the agent judges. Only a 503 relays one. */
    if (c->p + 1 == c->end)
        return -LOGLINE_ERR_TRAILING;
    NEXT(f);
    if (!str_is(f, "-")) {
        int relayed;

        CHECK(parse_status(f, &relayed) && relayed == 429 && out->status == 503,
              LOGLINE_ERR_STATUS);
        out->status = relayed;
    }
    return 0;
}

int logline_parse(const char *line, size_t len, struct logline *out)
{
    struct cursor c = {.p = line, .end = line + len};
    struct logline_str tag;
    int rc;

    if (len > 0 && line[len - 1] == '\n')
        c.end--;
    if ((size_t)(c.end - c.p) > LOGLINE_MAX_LEN)
        return -LOGLINE_ERR_TOO_LONG;
    memset(out, 0, sizeof(*out));
    out->status = -1;
    out->t_request = out->t_queue = out->t_connect = out->t_response = out->t_total = -1;
    out->id.ptr = out->forward.ptr = out->group.ptr = out->upstream.ptr = line;
    out->client.ptr = out->method.ptr = out->path.ptr = out->verdict.ptr = out->route.ptr = line;
    out->retried_first.ptr = line;
    for (size_t i = 0; i < LOGLINE_TH_N; i++)
        out->throttle[i].ptr = line;

    rc = field(&c, true, &tag);
    if (rc < 0)
        return rc;
    if (str_is(tag, LOGLINE_TAG_REQUEST)) {
        out->kind = LOGLINE_REQUEST;
        rc = parse_request(&c, out);
    } else if (str_is(tag, LOGLINE_TAG_ATTEMPT)) {
        out->kind = LOGLINE_ATTEMPT;
        rc = parse_attempt(&c, out);
    } else {
        return -LOGLINE_ERR_TAG;
    }
    if (rc < 0)
        return rc;
    return c.p == c.end ? 0 : -LOGLINE_ERR_TRAILING;
}

void logline_pinned_attempt(const struct logline *req, struct logline *attempt)
{
    *attempt = *req;
    attempt->kind = LOGLINE_ATTEMPT;
}

void logline_retried_first_attempt(const struct logline *req, struct logline *attempt)
{
    *attempt = *req;
    attempt->kind = LOGLINE_ATTEMPT;
    attempt->upstream = req->retried_first;
    attempt->retried_first.len = 0;
    /* Its status, timers, bytes and headers are those of the request as a whole. */
    attempt->status = -1;
    attempt->t_request = attempt->t_queue = attempt->t_connect = -1;
    attempt->t_response = attempt->t_total = -1;
    attempt->bytes_out = 0;
    for (size_t i = 0; i < LOGLINE_TH_N; i++)
        attempt->throttle[i].len = 0;
}

const char *logline_error_name(int err)
{
    static const char *const names[LOGLINE_N_ERRORS] = {
        [LOGLINE_OK] = "ok",
        [LOGLINE_ERR_TOO_LONG] = "too_long",
        [LOGLINE_ERR_TAG] = "tag",
        [LOGLINE_ERR_TRUNCATED] = "truncated",
        [LOGLINE_ERR_TRAILING] = "trailing",
        [LOGLINE_ERR_SEPARATOR] = "separator",
        [LOGLINE_ERR_ID] = "id",
        [LOGLINE_ERR_NAME] = "name",
        [LOGLINE_ERR_METHOD] = "method",
        [LOGLINE_ERR_STATUS] = "status",
        [LOGLINE_ERR_TIMER] = "timer",
        [LOGLINE_ERR_BYTES] = "bytes",
        [LOGLINE_ERR_TERMINATION] = "termination",
        [LOGLINE_ERR_RETRIES] = "retries",
        [LOGLINE_ERR_VERDICT] = "verdict",
        [LOGLINE_ERR_SPOE_ERROR] = "spoe_error",
        [LOGLINE_ERR_PATH] = "path",
        [LOGLINE_ERR_THROTTLE] = "throttle",
    };

    if (err < 0)
        err = -err;
    return err < LOGLINE_N_ERRORS ? names[err] : "unknown";
}
