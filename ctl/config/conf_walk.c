/*
 * Table-driven YAML walker. One function per concern: a mapping's keys
 * (walk_map), one value by its type (walk_value), strings (walk_string), numbers.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_arena.h"
#include "conf_diag.h"
#include "conf_expand.h"
#include "conf_suggest.h"
#include "conf_url.h"
#include "conf_walk.h"
#include "conf_yaml.h"

#define DESC_MAX   256
#define N_UNITS(a) (sizeof(a) / sizeof((a)[0]))

static void *field(void *obj, size_t off)
{
    return (char *)obj + off;
}

size_t conf_walk_push(struct conf_walk *w, const char *key, size_t index)
{
    size_t saved = w->path_len, room = sizeof(w->path) - w->path_len;
    int n;

    if (key)
        n = snprintf(w->path + w->path_len, room, "%s%s", w->path_len ? "." : "", key);
    else
        n = snprintf(w->path + w->path_len, room, "[%zu]", index);
    if (n > 0)
        w->path_len += (size_t)n < room ? (size_t)n : room - 1;
    return saved;
}

void conf_walk_pop(struct conf_walk *w, size_t saved)
{
    w->path_len = saved;
    w->path[saved] = '\0';
}

static void walk_vadd(struct conf_walk *w, struct conf_diags *to, const struct conf_pos *pos,
                      const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void walk_vadd(struct conf_walk *w, struct conf_diags *to, const struct conf_pos *pos,
                      const char *key, const char *fmt, va_list ap)
{
    size_t saved = w->path_len;

    if (key)
        conf_walk_push(w, key, 0);
    conf_diag_vadd(to, pos, w->path, fmt, ap);
    conf_walk_pop(w, saved);
}

void conf_walk_error(struct conf_walk *w, const struct conf_pos *pos, const char *key,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    walk_vadd(w, w->diags, pos, key, fmt, ap);
    va_end(ap);
}

void conf_walk_warn(struct conf_walk *w, const struct conf_pos *pos, const char *key,
                    const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    walk_vadd(w, w->warnings, pos, key, fmt, ap);
    va_end(ap);
}

struct conf_pos conf_walk_pos(const struct conf_walk *w, const struct conf_node *n)
{
    struct conf_pos pos = {w->file, n->line, n->col};

    return pos;
}

static void node_error(struct conf_walk *w, const struct conf_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a node is, for "found ...": a scalar is quoted, anything else named. */
static const char *found(char *buf, size_t size, const struct conf_node *n)
{
    if (n->type != CONF_NODE_SCALAR || conf_node_is_null(n))
        return conf_node_kind(n);
    return conf_quote(buf, size, n->str, n->len);
}

static void node_error(struct conf_walk *w, const struct conf_node *n, const char *fmt, ...)
{
    struct conf_pos pos = conf_walk_pos(w, n);
    va_list ap;

    va_start(ap, fmt);
    conf_diag_vadd(w->diags, &pos, w->path, fmt, ap);
    va_end(ap);
}

void conf_walk_oom(struct conf_walk *w)
{
    struct conf_pos pos = {w->file, 0, 0};

    if (!w->out_of_memory) {
        w->out_of_memory = true;
        conf_diag_add(w->diags, &pos, NULL,
                      "the configuration is too large to load (memory limit reached)");
    }
}

char *conf_walk_strdup(struct conf_walk *w, const char *s, size_t len)
{
    char *p = conf_arena_strndup(w->arena, s, len);

    if (!p)
        conf_walk_oom(w);
    return p;
}

size_t conf_schema_index(const struct conf_schema *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].name, name) == 0)
            return i;
    abort(); /* a schema table names a key it lacks: a programming error */
}

bool conf_valid_name(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > CONF_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* "a, b, c" from a NULL-terminated list, or from the keys of a table (aliases left out). */
static const char *join_words(char *buf, size_t size, const char *const *words)
{
    size_t o = 0;

    buf[0] = '\0';
    for (; *words && o < size; words++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", *words);
    return buf;
}

static const char *join_keys(char *buf, size_t size, const struct conf_schema *s)
{
    size_t o = 0, i;

    buf[0] = '\0';
    for (i = 0; i < s->n_keys && o < size; i++)
        if (!s->keys[i].alias_of)
            o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", s->keys[i].name);
    return buf;
}

/* What a key accepts, for "...; expected <this>". */
static const char *describe(char *buf, size_t size, const struct conf_key *k)
{
    char words[DESC_MAX];

    switch (k->type) {
    case CONF_T_INT:
        snprintf(buf, size, "a number %.0f-%.0f", k->min, k->max);
        break;
    case CONF_T_FLOAT:
        snprintf(buf, size, "a number %g-%g", k->min, k->max);
        break;
    case CONF_T_BOOL:
        snprintf(buf, size, "true or false");
        break;
    case CONF_T_STR:
        snprintf(buf, size, "a string");
        break;
    case CONF_T_NAME:
        snprintf(buf, size, "a name of 1-%d letters, digits, '_', '.' or '-'", CONF_NAME_MAX);
        break;
    case CONF_T_ADDR:
        snprintf(buf, size, "an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::");
        break;
    case CONF_T_ENUM:
        snprintf(buf, size, "one of %s", join_words(words, sizeof(words), k->words));
        break;
    case CONF_T_MAP:
        snprintf(buf, size, "a mapping");
        break;
    case CONF_T_LIST:
        snprintf(buf, size, "a list");
        break;
    case CONF_T_SIZE:
        snprintf(buf, size, "a size in bytes %.0f-%.0f, or with a unit (KiB, MiB, GiB)", k->min,
                 k->max);
        break;
    case CONF_T_WORDSET:
        snprintf(buf, size, "a list of %s", join_words(words, sizeof(words), k->words));
        break;
    case CONF_T_STRLIST:
        snprintf(buf, size, "a list of strings");
        break;
    }
    return buf;
}

static void set_uint(void *p, size_t size, uint32_t v)
{
    if (size == sizeof(uint16_t))
        *(uint16_t *)p = (uint16_t)v;
    else
        *(uint32_t *)p = v;
}

void conf_walk_defaults(struct conf_walk *w, const struct conf_schema *s, void *obj)
{
    size_t i;

    for (i = 0; i < s->n_keys && !w->out_of_memory; i++) {
        const struct conf_key *k = &s->keys[i];
        void *p = field(obj, k->off);

        if (k->alias_of)
            continue;
        switch (k->type) {
        case CONF_T_INT:
            set_uint(p, k->size, (uint32_t)k->def);
            break;
        case CONF_T_SIZE:
        case CONF_T_WORDSET:
            *(uint32_t *)p = (uint32_t)k->def;
            break;
        case CONF_T_FLOAT:
            *(double *)p = k->def;
            break;
        case CONF_T_BOOL:
            *(bool *)p = k->def != 0;
            break;
        case CONF_T_ENUM:
            *(int *)p = (int)k->def;
            break;
        case CONF_T_STR:
            if (k->def_str)
                ((struct conf_str *)p)->val = conf_walk_strdup(w, k->def_str, strlen(k->def_str));
            ((struct conf_str *)p)->pos.file = w->file;
            break;
        case CONF_T_NAME:
        case CONF_T_ADDR:
            if (k->def_str)
                *(char **)p = conf_walk_strdup(w, k->def_str, strlen(k->def_str));
            break;
        case CONF_T_MAP:
            conf_walk_defaults(w, k->sub, p);
            break;
        case CONF_T_LIST:
        case CONF_T_STRLIST:
            break;
        }
    }
}

/* Plain decimal integer, optionally signed; false if it is not one. */
static bool parse_integer(const char *s, long long *out)
{
    bool neg = false;
    long long v = 0;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v < 1000000000000LL)
            v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static bool parse_number(const char *s, double *out)
{
    char *end;

    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
        return false;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out);
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    size_t i;

    for (i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return (*out = true);
        if (strcasecmp(s, no[i]) == 0)
            return !(*out = false);
    }
    return false;
}

static bool walk_number(struct conf_walk *w, const struct conf_key *k, void *p,
                        const struct conf_node *v)
{
    char q[CONF_QUOTE_BUF], desc[DESC_MAX];
    long long iv = 0;
    double dv = 0;
    bool ok;

    describe(desc, sizeof(desc), k);
    if (!v->plain) {
        node_error(w, v, "found the string %s; expected %s (write it without quotes)",
                   conf_quote(q, sizeof(q), v->str, v->len), desc);
        return false;
    }
    ok = k->type == CONF_T_INT ? parse_integer(v->str, &iv) : parse_number(v->str, &dv);
    if (k->type == CONF_T_INT)
        dv = (double)iv;
    if (!ok || strlen(v->str) != v->len) {
        node_error(w, v, "found %s; expected %s", conf_quote(q, sizeof(q), v->str, v->len), desc);
        return false;
    }
    if (dv < k->min || dv > k->max) {
        if (k->type == CONF_T_INT)
            node_error(w, v, "%s is out of range; allowed: %.0f-%.0f", v->str, k->min, k->max);
        else
            node_error(w, v, "%s is out of range; allowed: %g-%g", v->str, k->min, k->max);
        return false;
    }
    if (k->type == CONF_T_INT)
        set_uint(p, k->size, (uint32_t)iv);
    else
        *(double *)p = dv;
    return true;
}

static bool walk_bool(struct conf_walk *w, void *p, const struct conf_node *v)
{
    char q[CONF_QUOTE_BUF];
    bool b;

    if (!v->plain || !parse_bool(v->str, &b)) {
        node_error(w, v, "found %s%s; expected true or false%s", v->plain ? "" : "the string ",
                   conf_quote(q, sizeof(q), v->str, v->len),
                   v->plain ? "" : " (write it without quotes)");
        return false;
    }
    *(bool *)p = b;
    return true;
}

static bool walk_enum(struct conf_walk *w, const struct conf_key *k, void *p,
                      const struct conf_node *v)
{
    char q[CONF_QUOTE_BUF], words[DESC_MAX];
    const char *hint;
    size_t n;

    for (n = 0; k->words[n]; n++) {
        if (strlen(k->words[n]) == v->len && memcmp(k->words[n], v->str, v->len) == 0) {
            *(int *)p = (int)n;
            return true;
        }
    }
    hint = conf_suggest(v->str, v->len, k->words, n);
    conf_quote(q, sizeof(q), v->str, v->len);
    join_words(words, sizeof(words), k->words);
    if (hint)
        node_error(w, v, "unknown %s %s; did you mean \"%s\"? (allowed: %s)", k->name, q, hint,
                   words);
    else
        node_error(w, v, "unknown %s %s; allowed: %s", k->name, q, words);
    return false;
}

/* A size: digits, then optionally a binary unit (the units HAProxy's own sizes use). */
static bool walk_size(struct conf_walk *w, const struct conf_key *k, void *p,
                      const struct conf_node *v)
{
    static const struct {
        const char *name;
        double mult;
    } units[] = {{"", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    char q[CONF_QUOTE_BUF], desc[DESC_MAX];
    size_t digits = strspn(v->str, "0123456789");
    double n = 0;

    describe(desc, sizeof(desc), k);
    for (size_t i = 0; i < N_UNITS(units) && v->plain && digits && digits <= 12; i++) {
        if (strcmp(v->str + digits, units[i].name) != 0 || strlen(v->str) != v->len)
            continue;
        n = strtod(v->str, NULL) * units[i].mult;
        if (n < k->min || n > k->max) {
            node_error(w, v, "%s is out of range; allowed: %.0f-%.0f bytes", v->str, k->min,
                       k->max);
            return false;
        }
        *(uint32_t *)p = (uint32_t)n;
        return true;
    }
    node_error(w, v, "found %s%s; expected %s", v->plain ? "" : "the string ",
               conf_quote(q, sizeof(q), v->str, v->len), desc);
    return false;
}

/* A list of distinct words of k->words, each one bit of the mask. */
static bool walk_wordset(struct conf_walk *w, const struct conf_key *k, void *p,
                         const struct conf_node *v)
{
    char q[CONF_QUOTE_BUF], words[DESC_MAX];
    const struct conf_item *it;
    uint32_t mask = 0;
    bool ok = true;
    size_t n;

    if (v->n == 0) {
        node_error(w, v, "the list is empty; at least one is required");
        return false;
    }
    for (n = 0; k->words[n]; n++)
        ;
    join_words(words, sizeof(words), k->words);
    for (it = v->items; it; it = it->next) {
        const struct conf_node *e = it->val;
        const char *hint;
        size_t i;

        if (e->type != CONF_NODE_SCALAR || conf_node_is_null(e)) {
            node_error(w, e, "found %s; expected one of %s", conf_node_kind(e), words);
            ok = false;
            continue;
        }
        for (i = 0; i < n; i++)
            if (strlen(k->words[i]) == e->len && memcmp(k->words[i], e->str, e->len) == 0)
                break;
        conf_quote(q, sizeof(q), e->str, e->len);
        if (i == n) {
            hint = conf_suggest(e->str, e->len, k->words, n);
            if (hint)
                node_error(w, e, "unknown %s; did you mean \"%s\"? (allowed: %s)", q, hint, words);
            else
                node_error(w, e, "unknown %s; allowed: %s", q, words);
            ok = false;
        } else if (mask & (1u << i)) {
            node_error(w, e, "%s is listed twice", q);
            ok = false;
        }
        if (i < n)
            mask |= 1u << i;
    }
    if (ok)
        *(uint32_t *)p = mask;
    return ok;
}

/* The first control character of s, or -1. Tabs are text; CR, LF, NUL and the rest are not. */
static long find_control(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return (long)i;
    }
    return -1;
}

/* A lookup that remembers the first variable whose value holds '%'. */
struct logfmt_env {
    conf_getenv_fn getenv_fn;
    void *getenv_ctx;
    char percent_in[64]; /* that variable's name (cut short), "" while none */
};

static const char *logfmt_getenv(const char *name, void *ctx)
{
    struct logfmt_env *e = ctx;
    const char *val = e->getenv_fn(name, e->getenv_ctx);

    if (val && strchr(val, '%') && !e->percent_in[0])
        snprintf(e->percent_in, sizeof(e->percent_in), "%s", name);
    return val;
}

static bool walk_string(struct conf_walk *w, const struct conf_key *k, void *p,
                        const struct conf_node *v)
{
    struct logfmt_env env = {w->getenv_fn, w->getenv_ctx, ""};
    char out[CONF_MAX_STRING + 1], err[512], q[CONF_QUOTE_BUF], desc[DESC_MAX];
    struct conf_ip ip;
    bool used_var;
    size_t len;
    long bad;
    char *val;

    if (v->len > CONF_MAX_STRING) {
        node_error(w, v, "the value is %zu bytes long; at most %u allowed", v->len,
                   CONF_MAX_STRING);
        return false;
    }
    if (conf_expand(v->str, v->len, logfmt_getenv, &env, out, &len, &used_var, err, sizeof(err)) <
        0) {
        node_error(w, v, "%s", err);
        return false;
    }
    if ((k->flags & CONF_K_LOGFMT) && env.percent_in[0]) {
        node_error(w, v,
                   "environment variable %s holds '%%', which HAProxy would read as the start of "
                   "a sample here; write this value literally (a literal '%%' is fine) or keep "
                   "'%%' out of the variable",
                   env.percent_in);
        return false;
    }
    bad = find_control(out, len);
    if (bad >= 0) {
        /* Quote only the character: an expanded value may be a secret. */
        node_error(w, v,
                   "contains the control character %s at character %ld; line breaks, NUL and "
                   "other control characters are not allowed (they could inject headers or "
                   "configuration lines)",
                   conf_quote(q, sizeof(q), out + bad, 1), bad + 1);
        return false;
    }
    if ((k->type == CONF_T_NAME && !conf_valid_name(out)) ||
        (k->type == CONF_T_ADDR && !conf_ip_parse(out, &ip))) {
        node_error(w, v, "invalid %s %s; expected %s", k->type == CONF_T_NAME ? "name" : "address",
                   conf_quote(q, sizeof(q), out, len), describe(desc, sizeof(desc), k));
        return false;
    }
    if (!(val = conf_walk_strdup(w, out, len)))
        return false;
    if (k->type != CONF_T_STR) {
        *(char **)p = val;
        return true;
    }
    ((struct conf_str *)p)->val = val;
    ((struct conf_str *)p)->tmpl = used_var ? conf_walk_strdup(w, v->str, v->len) : NULL;
    ((struct conf_str *)p)->pos = conf_walk_pos(w, v);
    return true;
}

/* A list's length within [k->min, k->max]; reported otherwise. */
static bool list_length_ok(struct conf_walk *w, const struct conf_key *k, const struct conf_node *v)
{
    if (v->n > k->max) {
        node_error(w, v, "the list has %zu items; at most %.0f allowed", v->n, k->max);
        return false;
    }
    if (v->n < k->min) {
        node_error(w, v, "the list is empty; at least %.0f item%s required", k->min,
                   k->min == 1 ? " is" : "s are");
        return false;
    }
    return true;
}

static bool walk_list(struct conf_walk *w, const struct conf_key *k, void *obj,
                      const struct conf_node *v)
{
    const struct conf_schema *s = k->sub;
    const struct conf_item *it;
    unsigned char *items;
    size_t i;

    if (!list_length_ok(w, k, v))
        return false;
    items = v->n ? conf_arena_calloc(w->arena, v->n, s->item_size) : NULL;
    if (v->n && !items) {
        conf_walk_oom(w);
        return false;
    }
    for (i = 0, it = v->items; it && !w->out_of_memory; i++, it = it->next) {
        size_t saved = conf_walk_push(w, NULL, i);

        conf_walk_defaults(w, s, items + i * s->item_size);
        conf_walk_map(w, s, items + i * s->item_size, it->val);
        conf_walk_pop(w, saved);
    }
    *(void **)field(obj, k->off) = items;
    *(size_t *)field(obj, k->count_off) = v->n;
    return true;
}

/*
 * A list of strings, each walked as a CONF_T_STR. A bad item is reported and left with a
 * NULL value (later checks skip it); the list is accepted only when every item was.
 */
static bool walk_strlist(struct conf_walk *w, const struct conf_key *k, void *obj,
                         const struct conf_node *v)
{
    const struct conf_key item = {
        .name = k->name, .type = CONF_T_STR, .flags = k->flags & CONF_K_LOGFMT};
    const struct conf_item *it;
    struct conf_str *items;
    bool ok = true;
    size_t i;

    if (!list_length_ok(w, k, v))
        return false;
    items = v->n ? conf_arena_calloc(w->arena, v->n, sizeof(*items)) : NULL;
    if (v->n && !items) {
        conf_walk_oom(w);
        return false;
    }
    for (i = 0, it = v->items; it && !w->out_of_memory; i++, it = it->next) {
        size_t saved = conf_walk_push(w, NULL, i);

        items[i].pos = conf_walk_pos(w, it->val);
        if (it->val->type != CONF_NODE_SCALAR || conf_node_is_null(it->val)) {
            node_error(w, it->val, "found %s; expected a string", conf_node_kind(it->val));
            ok = false;
        } else if (!walk_string(w, &item, &items[i], it->val)) {
            ok = false;
        }
        conf_walk_pop(w, saved);
    }
    *(struct conf_str **)field(obj, k->off) = items;
    *(size_t *)field(obj, k->count_off) = v->n;
    return ok;
}

static bool walk_scalar(struct conf_walk *w, const struct conf_key *k, void *p,
                        const struct conf_node *v)
{
    switch (k->type) {
    case CONF_T_INT:
    case CONF_T_FLOAT:
        return walk_number(w, k, p, v);
    case CONF_T_BOOL:
        return walk_bool(w, p, v);
    case CONF_T_ENUM:
        return walk_enum(w, k, p, v);
    case CONF_T_SIZE:
        return walk_size(w, k, p, v);
    default:
        return walk_string(w, k, p, v);
    }
}

static size_t scalar_size(const struct conf_key *k)
{
    switch (k->type) {
    case CONF_T_INT:
        return k->size;
    case CONF_T_FLOAT:
        return sizeof(double);
    case CONF_T_BOOL:
        return sizeof(bool);
    case CONF_T_ENUM:
        return sizeof(int);
    case CONF_T_SIZE:
        return sizeof(uint32_t);
    case CONF_T_STR:
        return sizeof(struct conf_str);
    default:
        return sizeof(char *);
    }
}

/* Walk one value; true when it was accepted (and stored). */
static bool walk_value(struct conf_walk *w, const struct conf_key *k, void *obj,
                       const struct conf_node *v)
{
    void *p = field(obj, k->off);
    char desc[DESC_MAX], q[CONF_QUOTE_BUF];

    describe(desc, sizeof(desc), k);
    if (k->type == CONF_T_WORDSET) {
        if (v->type != CONF_NODE_SEQ) {
            node_error(w, v, "found %s; expected %s", found(q, sizeof(q), v), desc);
            return false;
        }
        return walk_wordset(w, k, p, v);
    }
    if (k->type == CONF_T_MAP || k->type == CONF_T_LIST || k->type == CONF_T_STRLIST) {
        enum conf_node_type want = k->type == CONF_T_MAP ? CONF_NODE_MAP : CONF_NODE_SEQ;

        if (conf_node_is_null(v))
            return false; /* "breaker:" with nothing under it: as if absent */
        if (v->type != want) {
            node_error(w, v, "found %s; expected %s", found(q, sizeof(q), v), desc);
            return false;
        }
        if (k->type == CONF_T_LIST)
            return walk_list(w, k, obj, v);
        if (k->flags & CONF_K_FLAG)
            *(bool *)field(obj, k->flag_off) = true;
        if (k->type == CONF_T_STRLIST)
            return walk_strlist(w, k, obj, v);
        conf_walk_map(w, k->sub, p, v);
        return true;
    }
    if (v->type != CONF_NODE_SCALAR || conf_node_is_null(v)) {
        node_error(w, v, "found %s; expected %s", conf_node_kind(v), desc);
        return false;
    }
    if (k->flags & CONF_K_POS)
        *(struct conf_pos *)field(obj, k->pos_off) = conf_walk_pos(w, v);
    if (walk_scalar(w, k, p, v))
        return true;
    /* A rejected value leaves no default behind (port 0, NULL string): later checks
     * skip it instead of reporting consequences of a value that was never accepted. */
    memset(p, 0, scalar_size(k));
    return false;
}

static void unknown_key(struct conf_walk *w, const struct conf_schema *s,
                        const struct conf_node *key)
{
    const char *names[CONF_SCHEMA_MAX_KEYS];
    char q[CONF_QUOTE_BUF], allowed[DESC_MAX], seg[CONF_QUOTE_BUF];
    struct conf_pos pos = conf_walk_pos(w, key);
    size_t i, n = 0, saved;
    const char *hint;

    for (i = 0; i < s->n_keys; i++)
        if (!s->keys[i].alias_of)
            names[n++] = s->keys[i].name;
    hint = conf_suggest(key->str, key->len, names, n);
    conf_quote(q, sizeof(q), key->str, key->len);
    join_keys(allowed, sizeof(allowed), s);
    /* The path shows the key as written, without its quotes. */
    conf_quote(seg, sizeof(seg), key->str, key->len);
    seg[strlen(seg) - 1] = '\0';
    saved = conf_walk_push(w, seg + 1, 0);
    if (strcmp(key->str, "<<") == 0)
        conf_diag_add(w->diags, &pos, w->path,
                      "merge keys (\"<<\") are not supported; use an alias (*name) for the "
                      "whole block, or write the keys out (allowed: %s)",
                      allowed);
    else if (hint)
        conf_diag_add(w->diags, &pos, w->path, "unknown key %s; did you mean \"%s\"? (allowed: %s)",
                      q, hint, allowed);
    else
        conf_diag_add(w->diags, &pos, w->path, "unknown key %s; allowed: %s", q, allowed);
    conf_walk_pop(w, saved);
}

/* Index of the key named like `key` (its alias target for an alias), or -1. */
static long find_key(const struct conf_schema *s, const struct conf_node *key, size_t *canon)
{
    size_t i;

    for (i = 0; i < s->n_keys; i++) {
        const struct conf_key *k = &s->keys[i];

        if (strlen(k->name) == key->len && memcmp(k->name, key->str, key->len) == 0) {
            *canon = k->alias_of ? conf_schema_index(s, k->alias_of) : i;
            return (long)i;
        }
    }
    return -1;
}

/* A key given twice, directly or through an alias: report at the second. */
static void repeated_key(struct conf_walk *w, const struct conf_node *first,
                         const struct conf_node *again)
{
    struct conf_pos pos = conf_walk_pos(w, again);
    size_t saved = conf_walk_push(w, again->str, 0);

    if (first->len == again->len && memcmp(first->str, again->str, again->len) == 0)
        conf_diag_add(w->diags, &pos, w->path,
                      "duplicate key \"%s\"; it is first given at line %u:%u", again->str,
                      first->line, first->col);
    else
        conf_diag_add(w->diags, &pos, w->path,
                      "\"%s\" and \"%s\" (line %u:%u) are the same setting; give only one",
                      again->str, first->str, first->line, first->col);
    conf_walk_pop(w, saved);
}

static void check_required(struct conf_walk *w, const struct conf_schema *s,
                           const struct conf_node *map, const struct conf_seen *seen)
{
    struct conf_pos pos = conf_walk_pos(w, map);
    size_t i;

    for (i = 0; i < s->n_keys; i++)
        if ((s->keys[i].flags & CONF_K_REQUIRED) && !seen->key[i])
            conf_walk_error(w, &pos, s->keys[i].name, "missing; this key is required");
}

void conf_walk_map(struct conf_walk *w, const struct conf_schema *s, void *obj,
                   const struct conf_node *node)
{
    char q[CONF_QUOTE_BUF];
    struct conf_seen seen;
    const struct conf_item *it;

    if (node->type != CONF_NODE_MAP) {
        node_error(w, node, "found %s; expected a mapping", found(q, sizeof(q), node));
        return;
    }
    memset(&seen, 0, sizeof(seen));
    if (s->keep_pos)
        *(struct conf_pos *)field(obj, s->pos_off) = conf_walk_pos(w, node);
    for (it = node->items; it && !w->out_of_memory; it = it->next) {
        const struct conf_node *key = it->key;
        size_t canon, saved;
        long i;

        if (key->type != CONF_NODE_SCALAR) {
            node_error(w, key, "found %s as a key; keys are plain names", conf_node_kind(key));
            continue;
        }
        if (s->extensions && key->len >= 2 && strncmp(key->str, "x-", 2) == 0)
            continue;
        if ((i = find_key(s, key, &canon)) < 0) {
            unknown_key(w, s, key);
            continue;
        }
        if (seen.key[canon]) {
            repeated_key(w, seen.key[canon], key);
            continue;
        }
        seen.key[canon] = key;
        /* The path shows the spelling used; the value follows the key it stands for. */
        saved = conf_walk_push(w, s->keys[i].name, 0);
        if (walk_value(w, &s->keys[canon], obj, it->val))
            seen.val[canon] = it->val;
        conf_walk_pop(w, saved);
    }
    if (w->out_of_memory)
        return;
    check_required(w, s, node, &seen);
    if (s->finish)
        s->finish(w, obj, node, &seen);
}
