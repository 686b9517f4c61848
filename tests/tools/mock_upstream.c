/*
 * mock_upstream: an OpenAI-compatible HTTP/1.1 (or HTTPS) server that plays an LLM API
 * (OpenAI, vLLM, Ollama) in the integration tests, next to real HAProxy.
 *
 * It answers chat completions (JSON or SSE), the model list and bodies of any size, records
 * what it received for the tests to inspect, and misbehaves on request (a fixed status, a
 * delay, closing, hanging or resetting, on every K-th request only) from the command line
 * or at run time through POST /__mock/config. tests/tools/README.md is the user guide.
 *
 * It can also play an inference engine under load: with `slots` set, at most that many
 * completions run at once, each for `service_ms`, and the rest wait in arrival order; GET
 * /metrics publishes the load as vLLM and SGLang do (requests running and waiting, KV-cache
 * use), so that load-aware balancing has something real to read.
 *
 * One thread, one libev loop. Each connection is an explicit state machine (enum
 * conn_state) with a fixed input buffer the size of the largest accepted request head, and
 * an output buffer that producers refill only once it has drained below a low-water mark,
 * so memory per connection stays bounded whatever the body sizes. Request bodies are never
 * stored: a streaming scanner picks the top-level "stream" and "model" out of the JSON as
 * it passes. Everything that decides (request parsing, chunked decoding, the JSON scan,
 * which request fails) is pure and works on bytes handed to it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "io_watch.h"
#include "list.h"
#include "net.h"

#define LISTEN_ADDR       "127.0.0.1"
#define HEAD_MAX          16384       /* request line + headers, HAProxy's default bufsize */
#define HEADERS_MAX       100         /* header fields per request */
#define TRAILER_MAX       8192        /* chunk extensions of one line, trailers in total */
#define OUT_LOW_WATER     16384       /* producers refill the output below this */
#define BUF_MAX           (1u << 20)  /* no buffer grows beyond this: a stalled reader */
#define OUT_KEEP          65536       /* a drained output buffer larger than this is freed */
#define RECORDS_MAX       1000        /* requests kept for GET /__mock/requests */
#define RECORDS_BYTES_MAX (16u << 20) /* and the bytes their JSON may take */
#define CONNS_MAX         4096        /* further connections are closed on accept */
#define RUN_STEPS_MAX     64          /* per wake-up, so one busy peer cannot starve others */
#define LINGER_MS         1000        /* input drained after a closing answer, at most */
#define ACCEPT_PAUSE_MS   100         /* out of descriptors: accept again after this */
#define NAME_LEN_MAX      64
#define MODEL_LEN_MAX     128
#define QUERY_KEY_MAX     32
#define QUERY_VALUE_MAX   12288 /* room for a 10 KB hostile header value */
#define HEADERS_TEXT_MAX  (QUERY_VALUE_MAX + 256)
#define BIG_MAX           (UINT64_C(1) << 40)
#define CONTENT_MAX       (UINT64_C(1) << 62)
#define LENGTH_UNKNOWN    UINT64_MAX
#define DEFAULT_MODEL     "mock-model"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)    ((a) < (b) ? (a) : (b))

/* ------------------------------------------------------------------------------------ */
/* Growable byte buffer with a hard ceiling                                             */
/* ------------------------------------------------------------------------------------ */

struct buf {
    char *data;
    size_t off; /* bytes before off have been consumed (sent) */
    size_t len; /* bytes before len are filled */
    size_t cap;
    bool failed; /* an append was refused (BUF_MAX or no memory); sticky */
};

static size_t buf_pending(const struct buf *b)
{
    return b->len - b->off;
}

static bool buf_reserve(struct buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->cap - b->len >= n)
        return true;
    if (b->off > 0) { /* reclaim the consumed front before growing */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return true;
    }
    if (n > BUF_MAX - b->len) {
        b->failed = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    cap = MIN(cap, (size_t)BUF_MAX);
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0 || !buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (n == 0 || !buf_reserve(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A JSON string literal. Bytes outside printable ASCII become \u00XX (one per byte) so the
 * output is valid JSON whatever a client sent. */
static void buf_json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            buf_append(b, esc, sizeof(esc));
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            buf_append(b, esc, sizeof(esc));
        }
    }
    buf_append(b, s + run, n - run);
    buf_append(b, "\"", 1);
}

static void buf_json_cstr(struct buf *b, const char *s)
{
    if (s)
        buf_json_str(b, s, strlen(s));
    else
        buf_puts(b, "null");
}

/* All bytes sent: start over from the front, and give back a buffer a big response grew. */
static void buf_drained(struct buf *b)
{
    b->off = b->len = 0;
    if (b->cap > OUT_KEEP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}

/* ------------------------------------------------------------------------------------ */
/* Small parsers shared by the command line, the control endpoint and the HTTP parser   */
/* ------------------------------------------------------------------------------------ */

/* Strict decimal: digits only, no sign or blanks, at most max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes one query component, up to a character of stops or the end, into out
 * (cap bytes with the NUL). False if malformed, too long or decoding to a NUL. */
static bool query_decode(const char **pp, const char *stops, char *out, size_t cap)
{
    const char *p = *pp;
    size_t n = 0;

    for (; *p && !strchr(stops, *p); p++) {
        int c = (unsigned char)*p;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = hex_value(p[1]);
            int lo = hi < 0 ? -1 : hex_value(p[2]);
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            p += 2;
        }
        if (c == 0 || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    *pp = p;
    return true;
}

/* The next key=value pair of a query string: 1 with the pair, 0 at the end, -1 if
 * malformed. */
static int query_next(const char **cursor, char *key, size_t keycap, char *value, size_t valcap)
{
    const char *p = *cursor;

    while (*p == '&')
        p++;
    if (*p == '\0')
        return 0;
    if (!query_decode(&p, "=&", key, keycap))
        return -1;
    value[0] = '\0';
    if (*p == '=') {
        p++;
        if (!query_decode(&p, "&", value, valcap))
            return -1;
    }
    *cursor = p;
    return 1;
}

/* The decoded value of want in a query string; false when absent or malformed. */
static bool query_get(const char *query, const char *want, char *value, size_t valcap)
{
    char key[QUERY_KEY_MAX];
    while (query_next(&query, key, sizeof(key), value, valcap) > 0)
        if (strcmp(key, want) == 0)
            return true;
    return false;
}

static const char *target_query(const char *target)
{
    const char *q = strchr(target, '?');
    return q ? q + 1 : "";
}

/* ------------------------------------------------------------------------------------ */
/* Behaviour settings                                                                   */
/* ------------------------------------------------------------------------------------ */

enum fail_mode { FAIL_NONE, FAIL_CLOSE, FAIL_HANG, FAIL_RESET, FAIL_MODES };

static const char *const fail_mode_names[FAIL_MODES] = {"none", "close", "hang", "reset"};

struct mock_config {
    char name[NAME_LEN_MAX + 1]; /* X-Mock-Name, and the completions' content */
    unsigned status;             /* 0: answer normally; else faulted requests get it */
    unsigned delay_ms;           /* before the response headers of every API request */
    enum fail_mode fail_mode;    /* takes precedence over status */
    unsigned fail_every;         /* faults hit requests whose number is a multiple of it */
    unsigned sse_events;
    unsigned sse_gap_ms;
    unsigned slots;      /* engine mode: completions running at once; 0 = no limit, no queue */
    unsigned service_ms; /* engine mode: how long a running completion takes to answer */
    /* Extra header lines of every response, each ended by CRLF ("" for none): a test's
     * Retry-After or x-ratelimit-* headers, hostile ones included. */
    char headers[HEADERS_TEXT_MAX];
};

enum setting_kind { SET_NAME, SET_UINT, SET_STATUS, SET_FAIL_MODE, SET_HEADERS };

/* One table serves the command line (--delay-ms) and the control endpoint (delay_ms=). */
struct setting {
    const char *key;
    enum setting_kind kind;
    unsigned min, max;
    size_t offset; /* of the unsigned field, for SET_UINT and SET_STATUS */
};

static const struct setting settings[] = {
    {"name", SET_NAME, 1, NAME_LEN_MAX, 0},
    {"status", SET_STATUS, 200, 599, offsetof(struct mock_config, status)},
    {"delay_ms", SET_UINT, 0, 3600000, offsetof(struct mock_config, delay_ms)},
    {"fail_mode", SET_FAIL_MODE, 0, 0, 0},
    {"fail_every", SET_UINT, 1, 1000000, offsetof(struct mock_config, fail_every)},
    {"sse_events", SET_UINT, 0, 100000, offsetof(struct mock_config, sse_events)},
    {"sse_gap_ms", SET_UINT, 0, 3600000, offsetof(struct mock_config, sse_gap_ms)},
    {"slots", SET_UINT, 0, 100000, offsetof(struct mock_config, slots)},
    {"service_ms", SET_UINT, 0, 3600000, offsetof(struct mock_config, service_ms)},
    {"headers", SET_HEADERS, 0, 0, 0},
};

static const struct mock_config config_defaults = {
    .name = "mock",
    .fail_every = 1,
    .sse_events = 5,
    .sse_gap_ms = 20,
};

/* Setting names compare with '-' and '_' as the same character. */
static bool setting_key_matches(const char *given, const char *key)
{
    for (; *given && *key; given++, key++)
        if ((*given == '-' ? '_' : *given) != *key)
            return false;
    return *given == *key;
}

static bool name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > NAME_LEN_MAX)
        return false;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

/* Applies key=value to cfg, or explains in err why not (cfg then unchanged). */
static bool config_set(struct mock_config *cfg, const char *key, const char *value, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        uint64_t v;

        if (!setting_key_matches(key, s->key))
            continue;
        switch (s->kind) {
        case SET_NAME:
            if (!name_valid(value)) {
                snprintf(err, errlen, "name: 1 to %u visible ASCII characters", s->max);
                return false;
            }
            snprintf(cfg->name, sizeof(cfg->name), "%s", value);
            return true;
        case SET_FAIL_MODE:
            for (unsigned m = 0; m < FAIL_MODES; m++) {
                if (strcmp(value, fail_mode_names[m]) == 0) {
                    cfg->fail_mode = (enum fail_mode)m;
                    return true;
                }
            }
            snprintf(err, errlen, "fail_mode: one of none, close, hang, reset");
            return false;
        case SET_HEADERS: {
            /* "Name: value" lines separated by LF, sent as they are (each ended by CRLF). */
            size_t n = 0;
            for (const char *p = value; *p; p++) {
                if (n + 3 >= sizeof(cfg->headers)) {
                    snprintf(err, errlen, "headers: too long");
                    return false;
                }
                if (*p == '\n') {
                    cfg->headers[n++] = '\r';
                }
                cfg->headers[n++] = *p;
            }
            if (n > 0 && cfg->headers[n - 1] != '\n') {
                cfg->headers[n++] = '\r';
                cfg->headers[n++] = '\n';
            }
            cfg->headers[n] = '\0';
            return true;
        }
        case SET_UINT:
        case SET_STATUS:
            if (!parse_u64(value, s->max, &v) ||
                (v < s->min && !(s->kind == SET_STATUS && v == 0))) {
                snprintf(err, errlen, "%s: %s%u to %u expected", s->key,
                         s->kind == SET_STATUS ? "0 (off) or " : "", s->min, s->max);
                return false;
            }
            *(unsigned *)(void *)((char *)cfg + s->offset) = (unsigned)v;
            return true;
        }
    }
    snprintf(err, errlen, "unknown setting '%.40s'", key);
    return false;
}

static void config_render(struct buf *b, const struct mock_config *cfg)
{
    buf_puts(b, "{\"name\":");
    buf_json_cstr(b, cfg->name);
    buf_printf(b,
               ",\"status\":%u,\"delay_ms\":%u,\"fail_mode\":\"%s\",\"fail_every\":%u,"
               "\"sse_events\":%u,\"sse_gap_ms\":%u,\"slots\":%u,\"service_ms\":%u}",
               cfg->status, cfg->delay_ms, fail_mode_names[cfg->fail_mode], cfg->fail_every,
               cfg->sse_events, cfg->sse_gap_ms, cfg->slots, cfg->service_ms);
}

/* Whether the API request numbered seq (from 1) is one of those the faults hit. */
static bool fault_due(const struct mock_config *cfg, uint64_t seq)
{
    if (cfg->fail_mode == FAIL_NONE && cfg->status == 0)
        return false;
    return seq % cfg->fail_every == 0;
}

/* ------------------------------------------------------------------------------------ */
/* Streaming scan of a JSON body for the top-level "stream" and "model"                 */
/* ------------------------------------------------------------------------------------ */

enum scan_role {
    SR_NONE,         /* inside something not of interest */
    SR_WANT_KEY,     /* in the top-level object, a key may start */
    SR_KEY,          /* reading a top-level key */
    SR_WANT_COLON,   /* after a top-level key */
    SR_WANT_VALUE,   /* after the colon */
    SR_STRING_VALUE, /* reading the string value of "model" */
    SR_LITERAL,      /* reading a bare value (true, false, a number, null) */
};

enum scan_field { SF_OTHER, SF_STREAM, SF_MODEL };

struct body_scan {
    unsigned depth;  /* nesting of objects and arrays; the top-level object is 1 */
    bool top_object; /* the top-level value is an object: keys are read at depth 1 */
    bool in_string, escaped;
    enum scan_role role;
    enum scan_field field; /* of the current top-level key */
    char key[8];
    unsigned key_len;
    char literal[6];
    unsigned literal_len;
    bool stream;
    bool has_model;
    char model[MODEL_LEN_MAX + 1]; /* truncated if longer */
    unsigned model_len;
};

static void scan_string_byte(struct body_scan *s, char c)
{
    if (s->role == SR_KEY) {
        if (s->key_len < sizeof(s->key) - 1)
            s->key[s->key_len++] = c;
        else
            s->key_len = sizeof(s->key); /* too long to be a key of interest */
    } else if (s->role == SR_STRING_VALUE && s->model_len < MODEL_LEN_MAX) {
        s->model[s->model_len++] = c;
        s->model[s->model_len] = '\0';
    }
}

static void scan_string_end(struct body_scan *s)
{
    if (s->role == SR_KEY) {
        s->field = SF_OTHER;
        if (s->key_len < sizeof(s->key)) {
            s->key[s->key_len] = '\0';
            if (strcmp(s->key, "stream") == 0)
                s->field = SF_STREAM;
            else if (strcmp(s->key, "model") == 0)
                s->field = SF_MODEL;
        }
        s->role = SR_WANT_COLON;
    } else if (s->role == SR_STRING_VALUE) {
        s->has_model = true;
        s->role = SR_NONE;
    }
}

static void scan_literal_end(struct body_scan *s)
{
    if (s->field == SF_STREAM)
        s->stream = s->literal_len == 4 && memcmp(s->literal, "true", 4) == 0;
    s->role = SR_NONE;
}

static void scan_byte(struct body_scan *s, char c)
{
    if (s->in_string) {
        if (s->escaped) {
            s->escaped = false;
            scan_string_byte(s, c);
        } else if (c == '\\') {
            s->escaped = true;
        } else if (c == '"') {
            s->in_string = false;
            scan_string_end(s);
        } else {
            scan_string_byte(s, c);
        }
        return;
    }
    if (s->role == SR_LITERAL) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' ||
            c == 'E') {
            if (s->literal_len < sizeof(s->literal))
                s->literal[s->literal_len++] = c;
            return;
        }
        scan_literal_end(s);
    }
    bool top = s->depth == 1;
    switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return;
    case '"':
        s->in_string = true;
        if (top && s->role == SR_WANT_KEY) {
            s->role = SR_KEY;
            s->key_len = 0;
        } else if (top && s->role == SR_WANT_VALUE) {
            s->role = s->field == SF_MODEL ? SR_STRING_VALUE : SR_NONE;
            if (s->role == SR_STRING_VALUE) { /* a repeated key: the last one wins */
                s->model_len = 0;
                s->model[0] = '\0';
            }
        }
        return;
    case '{':
    case '[':
        if (top)
            s->role = SR_NONE; /* a nested value, or a stray opener */
        if (s->depth < UINT_MAX)
            s->depth++;
        if (s->depth == 1) {
            s->top_object = c == '{';
            s->role = s->top_object ? SR_WANT_KEY : SR_NONE;
        }
        return;
    case '}':
    case ']':
        if (s->depth > 0)
            s->depth--;
        return;
    case ':':
        if (top && s->role == SR_WANT_COLON)
            s->role = SR_WANT_VALUE;
        return;
    case ',':
        if (top && s->top_object)
            s->role = SR_WANT_KEY;
        return;
    default:
        if (top && s->role == SR_WANT_VALUE) {
            s->role = SR_LITERAL;
            s->literal_len = 0;
            s->literal[s->literal_len++] = c;
        }
        return;
    }
}

static void scan_feed(struct body_scan *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        scan_byte(s, p[i]);
}

/* The body ended: a literal ending the body (a truncated document) still counts. */
static void scan_finish(struct body_scan *s)
{
    if (!s->in_string && s->role == SR_LITERAL)
        scan_literal_end(s);
}

/* ------------------------------------------------------------------------------------ */
/* Chunked transfer coding decoder                                                      */
/* ------------------------------------------------------------------------------------ */

enum chunk_state {
    CH_SIZE,        /* hex digits of a chunk size */
    CH_EXT,         /* chunk extensions up to the end of the size line */
    CH_SIZE_LF,     /* CR seen at the end of the size line */
    CH_DATA,        /* chunk data */
    CH_DATA_CR,     /* the CRLF after chunk data */
    CH_DATA_LF,     /* CR seen after chunk data */
    CH_TRAILER_BOL, /* start of a trailer line or of the final blank line */
    CH_TRAILER,     /* inside a trailer line */
    CH_END_LF,      /* CR of the final blank line seen */
    CH_DONE,
};

struct chunk_dec {
    enum chunk_state state;
    uint64_t left;   /* data bytes left in this chunk, or the size being read */
    unsigned digits; /* of the size being read */
    size_t line;     /* bytes of extensions (this line) or trailers (all lines) */
};

enum chunk_status { CHUNK_MORE, CHUNK_DONE, CHUNK_ERROR };

static void chunk_size_line_end(struct chunk_dec *d)
{
    d->state = d->left ? CH_DATA : CH_TRAILER_BOL;
    d->line = 0;
}

static void chunk_next(struct chunk_dec *d)
{
    d->state = CH_SIZE;
    d->left = 0;
    d->digits = 0;
}

/* Consumes framing from p[0..n) up to and including at most one span of chunk data, which
 * it returns in *data and *dlen (dlen 0 when none). *used tells how many bytes it took; call
 * again with the rest until CHUNK_DONE, CHUNK_ERROR, or everything is used. */
static enum chunk_status chunk_step(struct chunk_dec *d, const char *p, size_t n, size_t *used,
                                    const char **data, size_t *dlen)
{
    size_t i = 0;

    *data = NULL;
    *dlen = 0;
    while (i < n) {
        if (d->state == CH_DATA) {
            size_t take = (size_t)MIN(d->left, (uint64_t)(n - i));
            *data = p + i;
            *dlen = take;
            d->left -= take;
            i += take;
            if (d->left == 0)
                d->state = CH_DATA_CR;
            *used = i;
            return CHUNK_MORE;
        }
        unsigned char c = (unsigned char)p[i++];
        switch (d->state) {
        case CH_SIZE:
            if (hex_value(c) >= 0) {
                if (d->digits == 15) /* 2^60 bytes is plenty */
                    goto bad;
                d->left = d->left * 16 + (uint64_t)hex_value(c);
                d->digits++;
            } else if (d->digits == 0) {
                goto bad;
            } else if (c == ';' || c == ' ' || c == '\t') {
                d->state = CH_EXT;
            } else if (c == '\r') {
                d->state = CH_SIZE_LF;
            } else if (c == '\n') {
                chunk_size_line_end(d);
            } else {
                goto bad;
            }
            break;
        case CH_EXT:
            if (c == '\r')
                d->state = CH_SIZE_LF;
            else if (c == '\n')
                chunk_size_line_end(d);
            else if ((c < 0x20 && c != '\t') || c == 0x7f || ++d->line > TRAILER_MAX)
                goto bad;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                goto bad;
            chunk_size_line_end(d);
            break;
        case CH_DATA_CR:
            if (c == '\r')
                d->state = CH_DATA_LF;
            else if (c == '\n')
                chunk_next(d);
            else
                goto bad;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                goto bad;
            chunk_next(d);
            break;
        case CH_TRAILER_BOL:
            if (c == '\r')
                d->state = CH_END_LF;
            else if (c == '\n')
                d->state = CH_DONE;
            else if (++d->line > TRAILER_MAX)
                goto bad;
            else
                d->state = CH_TRAILER;
            break;
        case CH_TRAILER:
            if (c == '\n')
                d->state = CH_TRAILER_BOL;
            else if (++d->line > TRAILER_MAX)
                goto bad;
            break;
        case CH_END_LF:
            if (c != '\n')
                goto bad;
            d->state = CH_DONE;
            break;
        case CH_DATA:
        case CH_DONE:
            break;
        }
        if (d->state == CH_DONE) {
            *used = i;
            return CHUNK_DONE;
        }
    }
    *used = i;
    return CHUNK_MORE;
bad:
    *used = i;
    return CHUNK_ERROR;
}

/* ------------------------------------------------------------------------------------ */
/* HTTP/1.x request head                                                                */
/* ------------------------------------------------------------------------------------ */

struct header {
    const char *name;
    const char *value;
};

struct request {
    char *head; /* owned NUL-separated copy of the head; the pointers below point into it */
    const char *method, *target, *host, *authorization, *user_agent;
    struct header headers[HEADERS_MAX];
    unsigned nheaders;
    bool http11, keep_alive, chunked, expect_continue;
    uint64_t body_left;      /* Content-Length bytes not received yet */
    uint64_t body_len;       /* body bytes received, after chunked decoding */
    uint64_t arrival_ms;     /* when the head was complete (monotonic clock) */
    int64_t arrival_wall_ms; /* the same instant on the wall clock */
    struct chunk_dec chunk;
    struct body_scan scan;
};

/* What the header fields said about framing and the connection, while parsing. */
struct head_facts {
    bool have_length, conn_close, conn_keep_alive;
};

/* Length of the head, through its blank line, at the start of p[0..n), searching from
 * `from`; 0 while incomplete. Lines may end in CRLF or a bare LF. */
static size_t http_head_length(const char *p, size_t n, size_t from)
{
    for (size_t i = from; i + 1 < n; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool all_tchars(const char *s)
{
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* The next line of the head, NUL-terminated in place without its CRLF or LF. */
static char *http_next_line(char **pp, char *end)
{
    char *line = *pp;
    if (line >= end)
        return NULL;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl)
        nl = end;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    *pp = nl < end ? nl + 1 : end;
    return line;
}

/* Whether a comma-separated header value lists token (case-insensitively). */
static bool header_has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    while (*value) {
        value += strspn(value, " \t,");
        size_t n = strcspn(value, ",");
        size_t m = n;
        while (m > 0 && (value[m - 1] == ' ' || value[m - 1] == '\t'))
            m--;
        if (m == tlen && strncasecmp(value, token, tlen) == 0)
            return true;
        value += n;
    }
    return false;
}

/* What one header field means for us; 0 or the status to refuse the request with. */
static unsigned http_header_field(struct request *r, struct head_facts *f, const char *name,
                                  const char *value, const char **why)
{
    uint64_t v;

    if (strcasecmp(name, "host") == 0) {
        if (r->host) {
            *why = "more than one Host header";
            return 400;
        }
        r->host = value;
    } else if (strcasecmp(name, "authorization") == 0) {
        r->authorization = r->authorization ? r->authorization : value;
    } else if (strcasecmp(name, "user-agent") == 0) {
        r->user_agent = r->user_agent ? r->user_agent : value;
    } else if (strcasecmp(name, "content-length") == 0) {
        if (!parse_u64(value, CONTENT_MAX, &v)) {
            *why = "invalid Content-Length";
            return 400;
        }
        if (f->have_length && v != r->body_left) {
            *why = "conflicting Content-Length headers";
            return 400;
        }
        f->have_length = true;
        r->body_left = v;
    } else if (strcasecmp(name, "transfer-encoding") == 0) {
        if (strcasecmp(value, "chunked") != 0 || r->chunked || !r->http11) {
            *why = "only a single Transfer-Encoding: chunked is supported";
            return 501;
        }
        r->chunked = true;
    } else if (strcasecmp(name, "connection") == 0) {
        f->conn_close |= header_has_token(value, "close");
        f->conn_keep_alive |= header_has_token(value, "keep-alive");
    } else if (strcasecmp(name, "expect") == 0) {
        if (strcasecmp(value, "100-continue") != 0) {
            *why = "unsupported Expect";
            return 417;
        }
        r->expect_continue = r->http11;
    }
    return 0;
}

/* Parses a complete head (a mutable NUL-terminated copy of len bytes) into r, which then
 * points into it. Returns 0, or the status to refuse the request with and *why. */
static unsigned http_parse_head(struct request *r, char *head, size_t len, const char **why)
{
    char *p = head, *end = head + len;
    struct head_facts facts = {0};

    if (memchr(head, '\0', len)) {
        *why = "NUL byte in the request head";
        return 400;
    }
    char *line = http_next_line(&p, end);
    char *sp1 = line ? strchr(line, ' ') : NULL;
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1) {
        *why = "malformed request line";
        return 400;
    }
    *sp1 = *sp2 = '\0';
    r->method = line;
    r->target = sp1 + 1;
    const char *version = sp2 + 1;
    if (!all_tchars(r->method)) {
        *why = "invalid method";
        return 400;
    }
    for (const char *t = r->target; *t; t++) {
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f) {
            *why = "invalid request target";
            return 400;
        }
    }
    if (strcmp(version, "HTTP/1.1") == 0) {
        r->http11 = true;
    } else if (strcmp(version, "HTTP/1.0") != 0) {
        *why = "unsupported HTTP version";
        return strncmp(version, "HTTP/", 5) == 0 ? 505 : 400;
    }

    while ((line = http_next_line(&p, end)) && *line) {
        if (*line == ' ' || *line == '\t') {
            *why = "obsolete header line folding";
            return 400;
        }
        if (r->nheaders == HEADERS_MAX) {
            *why = "too many header fields";
            return 431;
        }
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            *why = "malformed header field";
            return 400;
        }
        *colon = '\0';
        if (!all_tchars(line)) {
            *why = "invalid header field name";
            return 400;
        }
        char *value = colon + 1;
        value += strspn(value, " \t");
        char *vend = value + strlen(value);
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            *--vend = '\0';
        for (const char *v = value; *v; v++) {
            unsigned char c = (unsigned char)*v;
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                *why = "control character in a header value";
                return 400;
            }
        }
        r->headers[r->nheaders++] = (struct header){line, value};
        unsigned status = http_header_field(r, &facts, line, value, why);
        if (status)
            return status;
    }
    if (r->chunked && facts.have_length) {
        *why = "both Content-Length and Transfer-Encoding";
        return 400;
    }
    r->keep_alive = !facts.conn_close && (r->http11 || facts.conn_keep_alive);
    return 0;
}

static const char *http_reason(unsigned status)
{
    static const struct {
        unsigned status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {413, "Content Too Large"},
        {417, "Expectation Failed"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < ARRAY_LEN(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Mock Status";
}

/* ------------------------------------------------------------------------------------ */
/* Routes and the plan for an API request                                               */
/* ------------------------------------------------------------------------------------ */

enum route {
    ROUTE_CHAT,   /* .../chat/completions */
    ROUTE_MODELS, /* .../models */
    ROUTE_BIG,    /* .../big?bytes=N */
    ROUTE_OTHER,  /* 404 */
    ROUTE_CTL_HEALTH,
    ROUTE_CTL_METRICS, /* /metrics: the engine's load, as vLLM and SGLang publish it */
    ROUTE_CTL_REQUESTS,
    ROUTE_CTL_RESET,
    ROUTE_CTL_CONFIG,
    ROUTE_CTL_OTHER,
};

static bool path_is(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(path, want, len) == 0;
}

static bool path_ends_with(const char *path, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(path + len - n, suffix, n) == 0;
}

static enum route route_of(const char *target)
{
    size_t len = strcspn(target, "?");

    if (len >= 8 && memcmp(target, "/__mock/", 8) == 0) {
        if (path_is(target, len, "/__mock/health"))
            return ROUTE_CTL_HEALTH;
        if (path_is(target, len, "/__mock/requests"))
            return ROUTE_CTL_REQUESTS;
        if (path_is(target, len, "/__mock/reset"))
            return ROUTE_CTL_RESET;
        if (path_is(target, len, "/__mock/config"))
            return ROUTE_CTL_CONFIG;
        return ROUTE_CTL_OTHER;
    }
    if (path_is(target, len, "/metrics"))
        return ROUTE_CTL_METRICS;
    if (path_ends_with(target, len, "/chat/completions"))
        return ROUTE_CHAT;
    if (path_ends_with(target, len, "/models"))
        return ROUTE_MODELS;
    if (path_ends_with(target, len, "/big"))
        return ROUTE_BIG;
    return ROUTE_OTHER;
}

static bool route_is_control(enum route route)
{
    return route >= ROUTE_CTL_HEALTH;
}

/* How an API request will be answered, fixed when it is complete. */
struct plan {
    enum route route;
    enum fail_mode fault; /* FAIL_NONE: an HTTP answer is sent */
    bool faulted;         /* the fault settings chose this request */
    unsigned status;      /* of the answer; 0 when none is sent */
    bool stream;          /* an SSE completion */
    unsigned delay_ms, sse_events, sse_gap_ms;
    uint64_t big_bytes;
    char name[NAME_LEN_MAX + 1];
};

static struct plan plan_api(const struct mock_config *cfg, const struct request *r,
                            enum route route, uint64_t seq)
{
    struct plan p = {
        .route = route,
        .status = 200,
        .delay_ms = cfg->delay_ms,
        .sse_events = cfg->sse_events,
        .sse_gap_ms = cfg->sse_gap_ms,
    };
    char value[QUERY_VALUE_MAX];

    snprintf(p.name, sizeof(p.name), "%s", cfg->name);
    if (route == ROUTE_OTHER)
        p.status = 404;
    else if (strcmp(r->method, route == ROUTE_CHAT ? "POST" : "GET") != 0)
        p.status = 405;
    else if (route == ROUTE_CHAT)
        p.stream = r->scan.stream;
    else if (route == ROUTE_BIG &&
             !(query_get(target_query(r->target), "bytes", value, sizeof(value)) &&
               parse_u64(value, BIG_MAX, &p.big_bytes)))
        p.status = 400;

    if (fault_due(cfg, seq)) {
        p.faulted = true;
        p.fault = cfg->fail_mode;
        p.stream = false;
        p.status = p.fault == FAIL_NONE ? cfg->status : 0;
    }
    return p;
}

static const char *plan_fault_name(const struct plan *p)
{
    if (!p->faulted)
        return "none";
    return p->fault == FAIL_NONE ? "status" : fail_mode_names[p->fault];
}

/* ------------------------------------------------------------------------------------ */
/* Recorded requests                                                                    */
/* ------------------------------------------------------------------------------------ */

struct record {
    uint64_t seq;
    char *json; /* one rendered JSON object */
    size_t len;
};

/* The newest requests, in sequence order: seqs first..last (empty when last < first),
 * slot seq % RECORDS_MAX. A slot may be empty if its rendering failed. */
struct record_log {
    struct record ring[RECORDS_MAX];
    uint64_t first, last;
    size_t bytes;
};

static void records_drop_oldest(struct record_log *l)
{
    struct record *rec = &l->ring[l->first % RECORDS_MAX];
    if (rec->seq == l->first) {
        l->bytes -= rec->len;
        free(rec->json);
        *rec = (struct record){0};
    }
    l->first++;
}

static void records_clear(struct record_log *l)
{
    while (l->first <= l->last)
        records_drop_oldest(l);
    l->first = 1;
    l->last = 0;
}

/* Keeps the rendered request seq (newer than any kept), taking json's memory. */
static void records_add(struct record_log *l, uint64_t seq, struct buf *json)
{
    if (json->failed || json->len == 0)
        return;
    while (l->first <= l->last &&
           (seq - l->first >= RECORDS_MAX || l->bytes + json->len > RECORDS_BYTES_MAX))
        records_drop_oldest(l);
    if (l->first > l->last)
        l->first = seq;
    l->ring[seq % RECORDS_MAX] = (struct record){seq, json->data, json->len};
    l->last = seq;
    l->bytes += json->len;
    *json = (struct buf){0};
}

static const struct record *records_get(const struct record_log *l, uint64_t seq)
{
    if (seq < l->first || seq > l->last)
        return NULL;
    const struct record *rec = &l->ring[seq % RECORDS_MAX];
    return rec->seq == seq && rec->json ? rec : NULL;
}

static void record_render(struct buf *b, const struct request *r, const struct plan *p,
                          uint64_t seq)
{
    buf_printf(b,
               "{\"seq\":%" PRIu64 ",\"arrival_ms\":%" PRIu64 ",\"arrival_wall_ms\":%" PRId64
               ",\"method\":",
               seq, r->arrival_ms, r->arrival_wall_ms);
    buf_json_cstr(b, r->method);
    buf_puts(b, ",\"path\":");
    buf_json_cstr(b, r->target);
    buf_puts(b, ",\"host\":");
    buf_json_cstr(b, r->host);
    buf_puts(b, ",\"authorization\":");
    buf_json_cstr(b, r->authorization);
    buf_puts(b, ",\"user_agent\":");
    buf_json_cstr(b, r->user_agent);
    buf_puts(b, ",\"headers\":[");
    for (unsigned i = 0; i < r->nheaders; i++) {
        buf_puts(b, i ? ",[" : "[");
        buf_json_cstr(b, r->headers[i].name);
        buf_puts(b, ",");
        buf_json_cstr(b, r->headers[i].value);
        buf_puts(b, "]");
    }
    buf_printf(b, "],\"body_len\":%" PRIu64 ",\"stream\":%s,\"model\":", r->body_len,
               r->scan.stream ? "true" : "false");
    buf_json_cstr(b, r->scan.has_model ? r->scan.model : NULL);
    buf_printf(b, ",\"status\":%u,\"fault\":\"%s\"}", p->status, plan_fault_name(p));
}

/* ------------------------------------------------------------------------------------ */
/* Server and connections                                                               */
/* ------------------------------------------------------------------------------------ */

enum conn_state {
    CS_HANDSHAKE, /* TLS handshake in progress */
    CS_HEAD,      /* waiting for a complete request head */
    CS_BODY,      /* reading the request body */
    CS_QUEUED,    /* engine mode: request complete, waiting for a free slot */
    CS_WAIT,      /* request complete, delaying the answer */
    CS_SEND,      /* sending a response; producers refill the output */
    CS_HANG,      /* never answering: input drained until the peer leaves */
    CS_LINGER,    /* answered and shut down: input drained until EOF or a timeout */
    CS_DEAD,      /* to be destroyed by conn_run, the only place that does */
};

enum body_kind { BODY_FIXED, BODY_BIG, BODY_RECORDS, BODY_SSE };

struct response {
    enum body_kind kind;
    bool chunked;     /* body framed with the chunked transfer coding */
    bool close_after; /* close once sent (also how an HTTP/1.0 stream ends) */
    bool complete;    /* every byte of the response is in the output buffer */
    bool any;         /* RECORDS: an element was written */
    uint64_t next;    /* BIG: bytes produced; RECORDS: next seq; SSE: events sent */
    uint64_t end;     /* BIG: body size; RECORDS: last seq; SSE: number of events */
    time_t created;   /* SSE: the completion's creation time */
};

struct server;

struct conn {
    struct server *srv;
    struct list link; /* in srv->conns */
    int fd;
    SSL *ssl;
    ev_io io;
    ev_timer timer; /* the delay, the SSE gap or the linger, by state */
    enum conn_state state;
    bool reset_on_close;
    bool tls_read_wants_write, tls_write_wants_read, tls_handshake_wants_write;
    bool has_request;
    bool in_flight;     /* an API request complete and not yet answered in full */
    bool running;       /* engine mode: holds one of the server's slots */
    struct list queued; /* engine mode, CS_QUEUED: in srv->waiting */
    uint64_t seq;       /* of the API request being answered */
    struct request req;
    struct plan plan;
    struct response resp;
    struct buf out;
    size_t in_len;       /* bytes in in[] */
    size_t head_scanned; /* bytes of in[] already searched for the end of the head */
    char in[HEAD_MAX];
};

struct server {
    struct ev_loop *loop;
    struct mock_config cfg;
    SSL_CTX *tls;
    int listen_fd;
    unsigned port;
    ev_io accept_io;
    ev_timer accept_pause;
    ev_signal sigterm, sigint;
    struct list conns; /* of struct conn */
    unsigned nconns;
    uint64_t seq;        /* last sequence number given to an API request */
    unsigned in_flight;  /* API requests complete and not yet answered in full */
    unsigned running;    /* engine mode: slots taken */
    struct list waiting; /* engine mode: connections in CS_QUEUED, oldest first */
    unsigned n_waiting;
    struct record_log log;
    char pattern[OUT_LOW_WATER + 26]; /* /big's body: the alphabet over and over */
};

static void conn_run(struct conn *c);
static void conn_answer(struct conn *c);

static const char *conn_name(const struct conn *c)
{
    return c->plan.name[0] ? c->plan.name : c->srv->cfg.name;
}

static void conn_kill(struct conn *c)
{
    c->state = CS_DEAD;
}

static void conn_timer_arm(struct conn *c, unsigned ms)
{
    ev_timer_stop(c->srv->loop, &c->timer);
    ev_timer_set(&c->timer, ms / 1000.0, 0.);
    ev_timer_start(c->srv->loop, &c->timer);
}

/* --- engine mode: slots, a queue in arrival order, and the load they make ------------- */

/* The answer's wait: the configured delay, plus the service time of a completion that runs
 * on the engine. Always through the timer, so that a connection started from another's
 * event is driven by its own. */
static void conn_schedule_answer(struct conn *c, unsigned extra_ms)
{
    c->state = CS_WAIT;
    conn_timer_arm(c, c->plan.delay_ms + extra_ms);
}

static void engine_run(struct conn *c)
{
    c->running = true;
    c->srv->running++;
    conn_schedule_answer(c, c->srv->cfg.service_ms);
}

static bool engine_has_slot(const struct server *srv)
{
    return srv->cfg.slots == 0 || srv->running < srv->cfg.slots;
}

/* Start waiting completions while slots are free (one was released, or `slots` grew). */
static void engine_dispatch(struct server *srv)
{
    while (engine_has_slot(srv) && !list_empty(&srv->waiting)) {
        struct conn *next = list_first_entry(&srv->waiting, struct conn, queued);

        list_delete(&next->queued);
        srv->n_waiting--;
        engine_run(next);
    }
}

/* Only a completion the mock will answer normally is engine work: faults and errors are
 * answered after the delay alone, as an engine refusing a request would. */
static void engine_admit(struct conn *c)
{
    struct server *srv = c->srv;

    c->in_flight = true;
    srv->in_flight++;
    if (srv->cfg.slots == 0 || c->plan.route != ROUTE_CHAT || c->plan.faulted ||
        c->plan.status != 200) {
        if (c->plan.delay_ms > 0)
            conn_schedule_answer(c, 0);
        else
            conn_answer(c);
    } else if (engine_has_slot(srv)) {
        engine_run(c);
    } else {
        c->state = CS_QUEUED;
        list_append(&srv->waiting, &c->queued);
        srv->n_waiting++;
    }
}

/* The request is answered in full or its connection goes: its place and slot are free. */
static void engine_release(struct conn *c)
{
    struct server *srv = c->srv;

    if (c->in_flight) {
        c->in_flight = false;
        srv->in_flight--;
    }
    if (!list_empty(&c->queued)) {
        list_delete(&c->queued);
        srv->n_waiting--;
    }
    if (c->running) {
        c->running = false;
        srv->running--;
        engine_dispatch(srv);
    }
}

static void conn_request_free(struct conn *c)
{
    engine_release(c);
    free(c->req.head);
    c->req = (struct request){0};
    c->has_request = false;
}

/* Drops n bytes from the front of the input buffer. */
static void conn_consume(struct conn *c, size_t n)
{
    if (n == 0)
        return;
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    c->head_scanned = c->head_scanned > n ? c->head_scanned - n : 0;
}

/* --- response framing ---------------------------------------------------------------- */

static void resp_start(struct conn *c, unsigned status, const char *ctype, uint64_t length,
                       const char *extra_headers, bool close)
{
    struct response *rs = &c->resp;

    *rs = (struct response){.close_after = close || !c->req.keep_alive};
    rs->chunked = length == LENGTH_UNKNOWN && c->req.http11;
    if (length == LENGTH_UNKNOWN && !rs->chunked)
        rs->close_after = true; /* HTTP/1.0: the close ends the body */
    buf_printf(&c->out,
               "HTTP/1.1 %u %s\r\nServer: llmproxy-mock\r\nX-Mock-Name: %s\r\n"
               "Content-Type: %s\r\n",
               status, http_reason(status), conn_name(c), ctype);
    if (length != LENGTH_UNKNOWN)
        buf_printf(&c->out, "Content-Length: %" PRIu64 "\r\n", length);
    else if (rs->chunked)
        buf_puts(&c->out, "Transfer-Encoding: chunked\r\n");
    if (extra_headers)
        buf_puts(&c->out, extra_headers);
    buf_puts(&c->out, c->srv->cfg.headers);
    if (rs->close_after)
        buf_puts(&c->out, "Connection: close\r\n");
    else if (!c->req.http11)
        buf_puts(&c->out, "Connection: keep-alive\r\n");
    buf_puts(&c->out, "\r\n");
    c->state = CS_SEND;
}

/* Body bytes, framed as a chunk when the response is chunked. */
static void resp_body(struct conn *c, const char *p, size_t n)
{
    if (n == 0) /* an empty chunk would end the body */
        return;
    if (c->resp.chunked)
        buf_printf(&c->out, "%zx\r\n", n);
    buf_append(&c->out, p, n);
    if (c->resp.chunked)
        buf_append(&c->out, "\r\n", 2);
}

static void resp_end(struct conn *c)
{
    if (c->resp.chunked)
        buf_puts(&c->out, "0\r\n\r\n");
    c->resp.complete = true;
}

static void answer_typed(struct conn *c, unsigned status, const char *ctype, const struct buf *body,
                         bool close)
{
    if (body->failed) {
        conn_kill(c);
        return;
    }
    resp_start(c, status, ctype, body->len, NULL, close);
    buf_append(&c->out, body->data, body->len);
    c->resp.complete = true;
}

static void answer_fixed(struct conn *c, unsigned status, const struct buf *body, bool close)
{
    answer_typed(c, status, "application/json", body, close);
}

/* An OpenAI-style error object. */
static void answer_error(struct conn *c, unsigned status, const char *type, const char *message,
                         bool close)
{
    struct buf b = {0};
    buf_puts(&b, "{\"error\":{\"message\":");
    buf_json_cstr(&b, message);
    buf_puts(&b, ",\"type\":");
    buf_json_cstr(&b, type);
    buf_printf(&b, ",\"code\":%u}}\n", status);
    answer_fixed(c, status, &b, close);
    buf_free(&b);
}

static void answer_config(struct conn *c)
{
    struct buf b = {0};
    config_render(&b, &c->srv->cfg);
    buf_puts(&b, "\n");
    answer_fixed(c, 200, &b, false);
    buf_free(&b);
}

static const char *request_model(const struct request *r)
{
    return r->scan.has_model ? r->scan.model : DEFAULT_MODEL;
}

static void answer_completion(struct conn *c)
{
    const struct request *r = &c->req;
    uint64_t prompt_tokens = (r->body_len + 3) / 4;
    struct buf b = {0};

    buf_printf(&b,
               "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":%lld,"
               "\"model\":",
               (long long)time(NULL));
    buf_json_cstr(&b, request_model(r));
    buf_puts(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    buf_json_cstr(&b, c->plan.name);
    buf_printf(&b,
               "},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%" PRIu64
               ",\"completion_tokens\":1,\"total_tokens\":%" PRIu64 "}}\n",
               prompt_tokens, prompt_tokens + 1);
    answer_fixed(c, 200, &b, false);
    buf_free(&b);
}

/* Queues the next SSE event (the first carries the role and the name, the others " k",
 * the last finish_reason "stop"), then [DONE] one gap after the last. */
static void sse_emit(struct conn *c)
{
    struct response *rs = &c->resp;
    struct buf ev = {0};

    if (rs->next == rs->end) {
        resp_body(c, "data: [DONE]\n\n", 14);
        resp_end(c);
        return;
    }
    buf_printf(&ev,
               "data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\","
               "\"created\":%lld,\"model\":",
               (long long)rs->created);
    buf_json_cstr(&ev, request_model(&c->req));
    buf_puts(&ev, ",\"choices\":[{\"index\":0,\"delta\":{");
    if (rs->next == 0) {
        buf_puts(&ev, "\"role\":\"assistant\",\"content\":");
        buf_json_cstr(&ev, c->plan.name);
    } else {
        buf_printf(&ev, "\"content\":\" %" PRIu64 "\"", rs->next);
    }
    buf_printf(&ev, "},\"finish_reason\":%s}]}\n\n", rs->next + 1 == rs->end ? "\"stop\"" : "null");
    if (ev.failed)
        conn_kill(c);
    else
        resp_body(c, ev.data, ev.len);
    buf_free(&ev);
    rs->next++;
    conn_timer_arm(c, c->plan.sse_gap_ms);
}

static void answer_stream(struct conn *c)
{
    resp_start(c, 200, "text/event-stream", LENGTH_UNKNOWN, "Cache-Control: no-cache\r\n", false);
    c->resp.kind = BODY_SSE;
    c->resp.end = c->plan.sse_events;
    c->resp.created = time(NULL);
    sse_emit(c);
}

static void answer_models(struct conn *c)
{
    struct buf b = {0};
    buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":\"" DEFAULT_MODEL
                 "\",\"object\":\"model\",\"created\":0,\"owned_by\":");
    buf_json_cstr(&b, c->plan.name);
    buf_puts(&b, "}]}\n");
    answer_fixed(c, 200, &b, false);
    buf_free(&b);
}

static void answer_big(struct conn *c)
{
    resp_start(c, 200, "application/octet-stream", c->plan.big_bytes, NULL, false);
    c->resp.kind = BODY_BIG;
    c->resp.end = c->plan.big_bytes;
    c->resp.complete = c->resp.end == 0;
}

static void answer_records(struct conn *c, uint64_t since)
{
    const struct record_log *l = &c->srv->log;
    resp_start(c, 200, "application/json", LENGTH_UNKNOWN, NULL, false);
    resp_body(c, "[", 1);
    c->resp.kind = BODY_RECORDS;
    c->resp.next = since + 1 > l->first ? since + 1 : l->first;
    c->resp.end = l->last;
}

/* Adds more of a produced body once the output has drained below the low-water mark. */
static bool resp_refill(struct conn *c)
{
    struct response *rs = &c->resp;
    const struct server *srv = c->srv;
    size_t before = buf_pending(&c->out); /* appends only add to it; len may move */

    if (rs->kind == BODY_BIG) {
        size_t n = (size_t)MIN(rs->end - rs->next, (uint64_t)OUT_LOW_WATER);
        buf_append(&c->out, srv->pattern + rs->next % 26, n);
        rs->next += n;
        rs->complete = rs->next == rs->end;
    } else if (rs->kind == BODY_RECORDS) {
        while (buf_pending(&c->out) < OUT_LOW_WATER && rs->next <= rs->end) {
            const struct record *rec = records_get(&srv->log, rs->next++);
            if (!rec) /* dropped or cleared meanwhile */
                continue;
            if (rs->any)
                resp_body(c, ",\n", 2);
            resp_body(c, rec->json, rec->len);
            rs->any = true;
        }
        if (rs->next > rs->end) {
            resp_body(c, "]\n", 2);
            resp_end(c);
        }
    }
    return buf_pending(&c->out) != before || rs->complete;
}

/* --- requests ------------------------------------------------------------------------ */

static void conn_refuse(struct conn *c, unsigned status, const char *why)
{
    printf("%s: refused a request: %u %s\n", c->srv->cfg.name, status, why);
    c->plan = (struct plan){0};
    answer_error(c, status, "invalid_request_error", why, true);
}

static void log_answer(const struct conn *c)
{
    const struct plan *p = &c->plan;
    char what[16];

    if (p->fault != FAIL_NONE)
        snprintf(what, sizeof(what), "%s", fail_mode_names[p->fault]);
    else
        snprintf(what, sizeof(what), "%u", p->status);
    printf("%s #%" PRIu64 " %s %.200s %s%s\n", p->name, c->seq, c->req.method, c->req.target, what,
           p->stream ? " (stream)" : "");
}

/* Carries out the plan of an API request, after its delay. */
static void conn_answer(struct conn *c)
{
    const struct plan *p = &c->plan;
    const struct request *r = &c->req;
    char msg[256];

    log_answer(c);
    switch (p->fault) {
    case FAIL_CLOSE:
        conn_kill(c);
        return;
    case FAIL_RESET:
        c->reset_on_close = true;
        conn_kill(c);
        return;
    case FAIL_HANG:
        c->state = CS_HANG;
        c->in_len = 0;
        return;
    case FAIL_NONE:
    case FAIL_MODES:
        break;
    }
    if (p->faulted) {
        snprintf(msg, sizeof(msg), "mock %s injected status %u", p->name, p->status);
        answer_error(c, p->status, "mock_fault", msg, false);
    } else if (p->status == 404) {
        snprintf(msg, sizeof(msg), "no route for %s %.200s", r->method, r->target);
        answer_error(c, 404, "not_found", msg, false);
    } else if (p->status == 405) {
        snprintf(msg, sizeof(msg), "%s is not allowed on %.200s", r->method, r->target);
        answer_error(c, 405, "method_not_allowed", msg, false);
    } else if (p->status == 400) {
        answer_error(c, 400, "invalid_request_error", "/big needs ?bytes=N, N up to 2^40", false);
    } else if (p->route == ROUTE_CHAT) {
        if (p->stream)
            answer_stream(c);
        else
            answer_completion(c);
    } else if (p->route == ROUTE_MODELS) {
        answer_models(c);
    } else {
        answer_big(c);
    }
}

/*
 * GET /metrics: the load in the Prometheus text format of vLLM (V1 names, and V0's
 * gpu_cache_usage_perc) and of SGLang. Without slots every completion in progress counts
 * as running and nothing waits; KV-cache use is the share of slots taken.
 */
static void answer_engine_metrics(struct conn *c)
{
    const struct server *srv = c->srv;
    unsigned running = srv->cfg.slots ? srv->running : srv->in_flight;
    double kv = srv->cfg.slots ? (double)srv->running / srv->cfg.slots : 0.0;
    static const struct {
        const char *name, *help;
        int what; /* 0 running, 1 waiting, 2 kv */
    } gauges[] = {
        {"vllm:num_requests_running", "Number of requests in model execution batches.", 0},
        {"vllm:num_requests_waiting", "Number of requests waiting to be processed.", 1},
        {"vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", 2},
        {"vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", 2},
        {"sglang:num_running_reqs", "The number of running requests.", 0},
        {"sglang:num_queue_reqs", "The number of requests in the waiting queue.", 1},
        {"sglang:token_usage", "The token usage.", 2},
    };
    struct buf b = {0};

    for (size_t i = 0; i < ARRAY_LEN(gauges); i++) {
        buf_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s{model_name=", gauges[i].name,
                   gauges[i].help, gauges[i].name, gauges[i].name);
        buf_json_cstr(&b, srv->cfg.name);
        if (gauges[i].what == 2)
            buf_printf(&b, "} %.6f\n", kv);
        else
            buf_printf(&b, "} %u\n", gauges[i].what == 0 ? running : srv->n_waiting);
    }
    answer_typed(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b, false);
    buf_free(&b);
}

/* POST /__mock/config: every pair of the query is applied, or none. */
static void control_configure(struct conn *c)
{
    struct server *srv = c->srv;
    struct mock_config cfg = srv->cfg;
    const char *query = target_query(c->req.target);
    char key[QUERY_KEY_MAX], value[QUERY_VALUE_MAX], err[160];
    int r;

    while ((r = query_next(&query, key, sizeof(key), value, sizeof(value))) > 0) {
        if (!config_set(&cfg, key, value, err, sizeof(err))) {
            answer_error(c, 400, "invalid_request_error", err, false);
            return;
        }
    }
    if (r < 0) {
        answer_error(c, 400, "invalid_request_error", "malformed query string", false);
        return;
    }
    srv->cfg = cfg;
    engine_dispatch(srv); /* more slots, or none (no limit) */
    struct buf line = {0};
    config_render(&line, &srv->cfg);
    printf("%s: config %.*s\n", srv->cfg.name, line.failed ? 0 : (int)line.len,
           line.data ? line.data : "");
    buf_free(&line);
    answer_config(c);
}

static bool control_method_allowed(enum route route, const char *method)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    switch (route) {
    case ROUTE_CTL_RESET:
        return post;
    case ROUTE_CTL_CONFIG:
        return get || post;
    default:
        return get;
    }
}

/* The /__mock/ endpoints: never delayed, faulted or recorded. */
static void control_answer(struct conn *c, enum route route)
{
    struct server *srv = c->srv;
    const char *method = c->req.method;
    char value[QUERY_VALUE_MAX];
    uint64_t since = 0;
    struct buf b = {0};

    if (route == ROUTE_CTL_OTHER) {
        answer_error(c, 404, "not_found", "unknown /__mock/ endpoint", false);
        return;
    }
    if (!control_method_allowed(route, method)) {
        answer_error(c, 405, "method_not_allowed", "method not allowed here", false);
        return;
    }
    switch (route) {
    case ROUTE_CTL_HEALTH:
        buf_puts(&b, "{\"status\":\"ok\",\"name\":");
        buf_json_cstr(&b, srv->cfg.name);
        buf_printf(&b, ",\"requests\":%" PRIu64 "}\n", srv->seq);
        answer_fixed(c, 200, &b, false);
        break;
    case ROUTE_CTL_METRICS:
        answer_engine_metrics(c);
        break;
    case ROUTE_CTL_REQUESTS:
        if (query_get(target_query(c->req.target), "since", value, sizeof(value)) &&
            !parse_u64(value, UINT64_MAX - 1, &since)) {
            answer_error(c, 400, "invalid_request_error", "since: a sequence number", false);
            break;
        }
        answer_records(c, since);
        break;
    case ROUTE_CTL_RESET:
        records_clear(&srv->log);
        srv->seq = 0;
        printf("%s: reset\n", srv->cfg.name);
        buf_puts(&b, "{\"reset\":true}\n");
        answer_fixed(c, 200, &b, false);
        break;
    case ROUTE_CTL_CONFIG:
        if (strcmp(method, "POST") == 0)
            control_configure(c);
        else
            answer_config(c);
        break;
    default:
        break;
    }
    buf_free(&b);
}

static void conn_request_complete(struct conn *c)
{
    struct server *srv = c->srv;
    struct request *r = &c->req;
    enum route route = route_of(r->target);

    scan_finish(&r->scan);
    if (route_is_control(route)) {
        control_answer(c, route);
        return;
    }
    c->seq = ++srv->seq;
    c->plan = plan_api(&srv->cfg, r, route, c->seq);

    struct buf json = {0};
    record_render(&json, r, &c->plan, c->seq);
    records_add(&srv->log, c->seq, &json);
    buf_free(&json);

    engine_admit(c);
}

static bool conn_parse_head(struct conn *c)
{
    size_t blank = 0;

    while (blank < c->in_len && (c->in[blank] == '\r' || c->in[blank] == '\n'))
        blank++; /* stray line ends between requests are tolerated */
    conn_consume(c, blank);

    size_t from = c->head_scanned > 2 ? c->head_scanned - 2 : 0;
    size_t len = http_head_length(c->in, c->in_len, from);
    if (len == 0) {
        c->head_scanned = c->in_len;
        if (c->in_len == sizeof(c->in)) {
            conn_refuse(c, 431, "request head larger than 16 KiB");
            return true;
        }
        return blank > 0;
    }

    char *head = malloc(len + 1);
    if (!head) {
        conn_kill(c);
        return true;
    }
    memcpy(head, c->in, len);
    head[len] = '\0';
    conn_consume(c, len);
    c->head_scanned = 0;
    c->req = (struct request){
        .head = head, .arrival_ms = monotonic_ms(), .arrival_wall_ms = wall_clock_ms()};
    c->has_request = true;
    c->plan = (struct plan){0};

    const char *why = "";
    unsigned status = http_parse_head(&c->req, head, len, &why);
    if (status) {
        conn_refuse(c, status, why);
        return true;
    }
    c->state = CS_BODY;
    if (c->req.expect_continue && (c->req.chunked || c->req.body_left > 0))
        buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    return true;
}

static void request_body(struct request *r, const char *p, size_t n)
{
    r->body_len += n;
    scan_feed(&r->scan, p, n);
}

static bool conn_parse_body(struct conn *c)
{
    struct request *r = &c->req;
    size_t used = 0;
    bool done = false;

    if (r->chunked) {
        while (used < c->in_len && !done) {
            const char *data;
            size_t n, dlen;
            enum chunk_status st =
                chunk_step(&r->chunk, c->in + used, c->in_len - used, &n, &data, &dlen);
            used += n;
            if (st == CHUNK_ERROR) {
                conn_consume(c, used);
                conn_refuse(c, 400, "malformed chunked body");
                return true;
            }
            request_body(r, data, dlen);
            done = st == CHUNK_DONE;
        }
    } else {
        used = (size_t)MIN(r->body_left, (uint64_t)c->in_len);
        request_body(r, c->in, used);
        r->body_left -= used;
        done = r->body_left == 0;
    }
    conn_consume(c, used);
    if (done)
        conn_request_complete(c);
    return used > 0 || done;
}

/* --- I/O -------------------------------------------------------------------------------- */

#define IO_AGAIN (-1)
#define IO_ERROR (-2)

/* Some bytes (> 0), 0 at EOF, IO_AGAIN or IO_ERROR. Draining states read the raw socket:
 * what they read is thrown away, TLS or not. */
static ssize_t conn_recv(struct conn *c, char *p, size_t n)
{
    if (!c->ssl || c->state == CS_HANG || c->state == CS_LINGER) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r >= 0)
            return r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_AGAIN : IO_ERROR;
    }
    ERR_clear_error();
    c->tls_read_wants_write = false;
    int r = SSL_read(c->ssl, p, (int)MIN(n, (size_t)INT_MAX));
    if (r > 0)
        return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->tls_read_wants_write = true;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        return IO_ERROR;
    }
}

static ssize_t conn_send(struct conn *c, const char *p, size_t n)
{
    if (!c->ssl) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_AGAIN : IO_ERROR;
    }
    ERR_clear_error();
    c->tls_write_wants_read = false;
    int r = SSL_write(c->ssl, p, (int)MIN(n, (size_t)INT_MAX));
    if (r > 0)
        return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_WRITE:
        return IO_AGAIN;
    case SSL_ERROR_WANT_READ:
        c->tls_write_wants_read = true;
        return IO_AGAIN;
    default:
        return IO_ERROR;
    }
}

/* 1 once the handshake is done, 0 while it waits for the socket, -1 when it failed. */
static int conn_handshake(struct conn *c)
{
    ERR_clear_error();
    c->tls_handshake_wants_write = false;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1)
        return 1;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->tls_handshake_wants_write = true;
        return 0;
    default: {
        unsigned long code = ERR_peek_error();
        char msg[256] = "connection closed";
        if (code)
            ERR_error_string_n(code, msg, sizeof(msg));
        fprintf(stderr, "%s: TLS handshake failed: %s\n", c->srv->cfg.name, msg);
        return -1;
    }
    }
}

static bool conn_flush(struct conn *c)
{
    bool progress = false;

    while (buf_pending(&c->out) > 0) {
        ssize_t r = conn_send(c, c->out.data + c->out.off, buf_pending(&c->out));
        if (r == IO_AGAIN)
            break;
        if (r <= 0) {
            conn_kill(c);
            return true;
        }
        c->out.off += (size_t)r;
        progress = true;
    }
    if (buf_pending(&c->out) == 0)
        buf_drained(&c->out);
    return progress;
}

static bool conn_wants_input(const struct conn *c)
{
    switch (c->state) {
    case CS_HEAD:
        return c->in_len < sizeof(c->in);
    case CS_BODY:
    case CS_HANG:
    case CS_LINGER:
        return true;
    default:
        return false;
    }
}

static bool conn_read(struct conn *c)
{
    bool discard = c->state == CS_HANG || c->state == CS_LINGER;
    char *p = discard ? c->in : c->in + c->in_len;
    size_t room = discard ? sizeof(c->in) : sizeof(c->in) - c->in_len;
    ssize_t n = conn_recv(c, p, room);

    if (n == IO_AGAIN)
        return false;
    if (n <= 0) {
        if (c->state == CS_BODY || (c->state == CS_HEAD && c->in_len > 0))
            printf("%s: client left in the middle of a request\n", c->srv->cfg.name);
        conn_kill(c);
        return true;
    }
    if (!discard)
        c->in_len += (size_t)n;
    return true;
}

/* Answered with Connection: close: shut our side, then drain what the client still sends
 * for a while, so that closing with unread input does not reset the answer away. */
static void conn_linger(struct conn *c)
{
    if (c->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    shutdown(c->fd, SHUT_WR);
    c->state = CS_LINGER;
    c->in_len = 0;
    conn_timer_arm(c, LINGER_MS);
}

static bool conn_continue_response(struct conn *c)
{
    bool progress = false;

    if (!c->resp.complete && buf_pending(&c->out) < OUT_LOW_WATER)
        progress = resp_refill(c);
    if (c->resp.complete && buf_pending(&c->out) == 0) {
        conn_request_free(c);
        ev_timer_stop(c->srv->loop, &c->timer);
        if (c->resp.close_after)
            conn_linger(c);
        else
            c->state = CS_HEAD;
        progress = true;
    }
    return progress;
}

static void conn_update_events(struct conn *c)
{
    struct ev_loop *loop = c->srv->loop;
    int events = 0;

    if (c->state == CS_HANDSHAKE) {
        events = c->tls_handshake_wants_write ? EV_WRITE : EV_READ;
    } else {
        if (conn_wants_input(c))
            events |= c->tls_read_wants_write ? EV_WRITE : EV_READ;
        if (buf_pending(&c->out) > 0)
            events |= c->tls_write_wants_read ? EV_READ : EV_WRITE;
    }
    io_watch(loop, &c->io, c->fd, events);
}

static void conn_destroy(struct conn *c)
{
    struct server *srv = c->srv;

    ev_io_stop(srv->loop, &c->io);
    ev_timer_stop(srv->loop, &c->timer);
    conn_request_free(c);
    buf_free(&c->out);
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->reset_on_close) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    list_delete(&c->link);
    srv->nconns--;
    free(c);
}

/* Moves the connection on as far as it can go without blocking. */
static void conn_run(struct conn *c)
{
    for (unsigned step = 0; step < RUN_STEPS_MAX; step++) {
        bool progress = false;

        if (c->state == CS_HANDSHAKE) {
            int r = conn_handshake(c);
            if (r < 0)
                conn_kill(c);
            else if (r > 0)
                c->state = CS_HEAD;
            progress = r != 0;
        }
        if (c->state != CS_DEAD && c->state != CS_HANDSHAKE)
            progress |= conn_flush(c);
        if (c->state == CS_SEND)
            progress |= conn_continue_response(c);
        if (c->state == CS_HEAD)
            progress |= conn_parse_head(c);
        else if (c->state == CS_BODY)
            progress |= conn_parse_body(c);
        if (conn_wants_input(c))
            progress |= conn_read(c);
        if (c->out.failed) {
            fprintf(stderr, "%s: output buffer over %u bytes, client not reading: closing\n",
                    c->srv->cfg.name, BUF_MAX);
            conn_kill(c);
        }
        if (c->state == CS_DEAD) {
            conn_destroy(c);
            return;
        }
        if (!progress) {
            conn_update_events(c);
            return;
        }
    }
    /* Work is left: come back after the other connections had their turn. */
    conn_update_events(c);
    ev_feed_event(c->srv->loop, &c->io, EV_READ | EV_WRITE);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_run(container_of(w, struct conn, io));
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = container_of(w, struct conn, timer);

    (void)loop;
    (void)revents;
    if (c->state == CS_WAIT)
        conn_answer(c);
    else if (c->state == CS_SEND && c->resp.kind == BODY_SSE)
        sse_emit(c);
    else if (c->state == CS_LINGER)
        conn_kill(c);
    conn_run(c);
}

static bool conn_new(struct server *srv, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return false;
    if (srv->tls) {
        c->ssl = SSL_new(srv->tls);
        if (!c->ssl || !SSL_set_fd(c->ssl, fd)) {
            SSL_free(c->ssl);
            free(c);
            return false;
        }
        SSL_set_accept_state(c->ssl);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* SSE events go out now */
    c->srv = srv;
    c->fd = fd;
    c->state = srv->tls ? CS_HANDSHAKE : CS_HEAD;
    list_init(&c->queued);
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    ev_init(&c->timer, conn_timer_cb);
    ev_io_start(srv->loop, &c->io);
    list_insert(&srv->conns, &c->link);
    srv->nconns++;
    return true;
}

/* --- the server -------------------------------------------------------------------------- */

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *srv = container_of(w, struct server, accept_io);

    (void)revents;
    for (;;) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the backlog would wake us in a loop: pause instead */
                ev_io_stop(loop, &srv->accept_io);
                ev_timer_set(&srv->accept_pause, ACCEPT_PAUSE_MS / 1000.0, 0.);
                ev_timer_start(loop, &srv->accept_pause);
            }
            return;
        }
        if (srv->nconns >= CONNS_MAX || !conn_new(srv, fd))
            close(fd);
    }
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *srv = container_of(w, struct server, accept_pause);
    (void)revents;
    ev_io_start(loop, &srv->accept_io);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static int listen_on(unsigned port, unsigned *bound)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t alen = sizeof(addr);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        perror("socket");
        return -1;
    }
    inet_pton(AF_INET, LISTEN_ADDR, &addr.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
        fprintf(stderr, "mock_upstream: cannot listen on %s:%u: %s\n", LISTEN_ADDR, port,
                strerror(errno));
        close(fd);
        return -1;
    }
    *bound = ntohs(addr.sin_port);
    return fd;
}

static SSL_CTX *tls_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char msg[256] = "unknown error";
        unsigned long code = ERR_peek_last_error();
        if (code)
            ERR_error_string_n(code, msg, sizeof(msg));
        fprintf(stderr, "mock_upstream: TLS setup with %s and %s failed: %s\n", cert, key, msg);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    return ctx;
}

/* Hundreds of concurrent connections need more than the usual 1024 descriptors. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
        rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)65536);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void server_free(struct server *srv)
{
    while (!list_empty(&srv->conns))
        conn_destroy(list_first_entry(&srv->conns, struct conn, link));
    records_clear(&srv->log);
    if (srv->loop) {
        ev_io_stop(srv->loop, &srv->accept_io);
        ev_timer_stop(srv->loop, &srv->accept_pause);
        ev_signal_stop(srv->loop, &srv->sigterm);
        ev_signal_stop(srv->loop, &srv->sigint);
        ev_loop_destroy(srv->loop);
    }
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    SSL_CTX_free(srv->tls);
    free(srv);
}

static void usage(FILE *to)
{
    fprintf(to, "usage: mock_upstream [options]\n"
                "  --name NAME          X-Mock-Name and completion content (default mock)\n"
                "  --port P             listen on 127.0.0.1:P (default 0: any free port)\n"
                "  --delay-ms N         wait N ms before answering each API request\n"
                "  --status CODE        answer API requests with CODE and a JSON error (0: off)\n"
                "  --fail-mode MODE     none, close, hang or reset instead of answering\n"
                "  --fail-every K       only every K-th API request is faulted (default 1)\n"
                "  --sse-events N       events of a streamed completion (default 5)\n"
                "  --sse-gap-ms N       between two events (default 20)\n"
                "  --slots N            play an engine: N completions at once, others queue\n"
                "  --service-ms N       with --slots: time a running completion takes\n"
                "  --tls-cert FILE      serve HTTPS with this PEM certificate chain\n"
                "  --tls-key FILE       and this PEM private key\n"
                "See tests/tools/README.md.\n");
}

int main(int argc, char **argv)
{
    /* The behaviour flags are the settings table's keys spelt with '-'. */
    enum { EXTRA_OPTIONS = 5 }; /* port, tls-cert, tls-key, help, the terminator */
    struct option options[ARRAY_LEN(settings) + EXTRA_OPTIONS];
    char flags[ARRAY_LEN(settings)][QUERY_KEY_MAX];
    struct server *srv = calloc(1, sizeof(*srv));
    const char *cert = NULL, *key = NULL;
    uint64_t port = 0;
    char err[160];
    int opt, longindex;
    size_t nopt = 0;

    for (size_t i = 0; i < ARRAY_LEN(settings); i++, nopt++) {
        snprintf(flags[i], sizeof(flags[i]), "%s", settings[i].key);
        for (char *f = flags[i]; *f; f++)
            *f = *f == '_' ? '-' : *f;
        options[nopt] = (struct option){flags[i], required_argument, NULL, 0};
    }
    options[nopt++] = (struct option){"port", required_argument, NULL, 0};
    options[nopt++] = (struct option){"tls-cert", required_argument, NULL, 0};
    options[nopt++] = (struct option){"tls-key", required_argument, NULL, 0};
    options[nopt++] = (struct option){"help", no_argument, NULL, 'h'};
    options[nopt] = (struct option){NULL, 0, NULL, 0};

    if (!srv)
        return 1;
    list_init(&srv->conns);
    list_init(&srv->waiting);
    srv->listen_fd = -1;
    srv->cfg = config_defaults;
    srv->log.first = 1;
    while ((opt = getopt_long(argc, argv, "h", options, &longindex)) != -1) {
        const char *name = opt == 0 ? options[longindex].name : "";
        bool ok = true;
        if (opt == 'h') {
            usage(stdout);
            free(srv);
            return 0;
        } else if (opt != 0) {
            ok = false;
            snprintf(err, sizeof(err), "unknown option");
        } else if (strcmp(name, "port") == 0) {
            ok = parse_u64(optarg, 65535, &port);
            if (!ok)
                snprintf(err, sizeof(err), "port: 0 to 65535 expected");
        } else if (strcmp(name, "tls-cert") == 0) {
            cert = optarg;
        } else if (strcmp(name, "tls-key") == 0) {
            key = optarg;
        } else {
            ok = config_set(&srv->cfg, name, optarg, err, sizeof(err));
        }
        if (!ok) {
            fprintf(stderr, "mock_upstream: %s\n", err);
            usage(stderr);
            free(srv);
            return 2;
        }
    }
    if (optind < argc || !cert != !key) {
        fprintf(stderr, "mock_upstream: %s\n",
                optind < argc ? "unexpected argument" : "--tls-cert and --tls-key go together");
        usage(stderr);
        free(srv);
        return 2;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    for (size_t i = 0; i < sizeof(srv->pattern); i++)
        srv->pattern[i] = (char)('a' + i % 26);
    if (cert && !(srv->tls = tls_context(cert, key))) {
        server_free(srv);
        return 1;
    }
    srv->listen_fd = listen_on((unsigned)port, &srv->port);
    srv->loop = ev_default_loop(EVFLAG_AUTO);
    if (srv->listen_fd < 0 || !srv->loop) {
        server_free(srv);
        return 1;
    }
    ev_io_init(&srv->accept_io, accept_cb, srv->listen_fd, EV_READ);
    ev_init(&srv->accept_pause, accept_resume_cb);
    ev_signal_init(&srv->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&srv->sigint, signal_cb, SIGINT);
    ev_io_start(srv->loop, &srv->accept_io);
    ev_signal_start(srv->loop, &srv->sigterm);
    ev_signal_start(srv->loop, &srv->sigint);

    printf("%s: listening on %s://%s:%u\n", srv->cfg.name, srv->tls ? "https" : "http", LISTEN_ADDR,
           srv->port);
    ev_run(srv->loop, 0);
    printf("%s: exiting\n", srv->cfg.name);
    server_free(srv);
    return 0;
}
