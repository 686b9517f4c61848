/*
 * llmproxy-ctl status: ask a running agent for its live state (GET /status on the admin
 * endpoint named in the configuration) and print it as tables, or as the raw JSON.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "http_get.h"
#include "json.h"

/* The whole exchange with the agent, connect included. */
#define STATUS_TIMEOUT_MS 3000
/* Largest answer read, and the most the parsed tree may take. */
#define STATUS_MAX_ANSWER ((size_t)16 * 1024 * 1024)
#define STATUS_MAX_TREE   ((size_t)64 * 1024 * 1024)
/* Longest table cell; longer text is cut. Most columns a table has. */
#define CELL_MAX    160
#define COLUMNS_MAX 16

enum cell_kind {
    CELL_TEXT,      /* a string */
    CELL_COUNT,     /* an integer */
    CELL_DECIMAL,   /* one decimal place; "-" when null (not measured yet) */
    CELL_PERCENT,   /* a ratio 0..1 shown as a percentage */
    CELL_RATELIMIT, /* {"per_second","burst"}, or null when off */
    CELL_MEMBERS,   /* [{"upstream","weight"}] */
};

struct column {
    const char *title;
    const char *key; /* field of the row */
    const char *sub; /* field of the object at `key`, or NULL */
    enum cell_kind kind;
};

static const struct column forward_columns[] = {
    {"NAME", "name", NULL, CELL_TEXT},        {"LISTEN", "listen", NULL, CELL_TEXT},
    {"GROUP", "group", NULL, CELL_TEXT},      {"RATELIMIT", "ratelimit", NULL, CELL_RATELIMIT},
    {"LIMITED", "limited", NULL, CELL_COUNT}, {"UNAVAILABLE", "unavailable", NULL, CELL_COUNT},
};

static const struct column group_columns[] = {
    {"NAME", "name", NULL, CELL_TEXT},
    {"STRATEGY", "strategy", NULL, CELL_TEXT},
    {"MEMBERS", "members", NULL, CELL_MEMBERS},
};

static const struct column upstream_columns[] = {
    {"NAME", "name", NULL, CELL_TEXT},
    {"BREAKER", "breaker", "state", CELL_TEXT},
    {"EMA_MS", "ema_ms", NULL, CELL_DECIMAL},
    {"SUCCESS", "success_rate", NULL, CELL_PERCENT},
    {"IN_FLIGHT", "in_flight", NULL, CELL_COUNT},
    {"SCORE", "score", NULL, CELL_DECIMAL},
    {"PICKS", "picks", NULL, CELL_COUNT},
    {"OK", "breaker", "success", CELL_COUNT},
    {"FAILED", "breaker", "failure", CELL_COUNT},
    {"REJECTED", "breaker", "rejected", CELL_COUNT},
    {"OPENED", "breaker", "opened", CELL_COUNT},
    {"URL", "url", NULL, CELL_TEXT},
};

static const struct column client_columns[] = {
    {"NAME", "name", NULL, CELL_TEXT},
    {"RATELIMIT", "ratelimit", NULL, CELL_RATELIMIT},
    {"REQUESTS", "requests", NULL, CELL_COUNT},
    {"LIMITED", "limited", NULL, CELL_COUNT},
};

#define N_COLUMNS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(N_COLUMNS(upstream_columns) <= COLUMNS_MAX, "raise COLUMNS_MAX");

/* Copy `s` for a terminal: control bytes (a name could hold any) become '?'. */
static void put_text(char *cell, const char *s)
{
    size_t i;

    for (i = 0; s[i] && i < CELL_MAX - 1; i++)
        cell[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    cell[i] = '\0';
}

static void format_members(char *cell, const struct json_value *members)
{
    size_t len = 0;

    cell[0] = '\0';
    for (const struct json_value *m = members ? members->child : NULL; m; m = m->next) {
        const char *name = json_string(json_get(m, "upstream"));
        char item[CELL_MAX];
        double weight = 1;

        json_number(json_get(m, "weight"), &weight);
        if (weight != 1)
            snprintf(item, sizeof(item), "%s%s(w=%.0f)", len ? "," : "", name ? name : "?", weight);
        else
            snprintf(item, sizeof(item), "%s%s", len ? "," : "", name ? name : "?");
        len += (size_t)snprintf(cell + len, CELL_MAX - len, "%s", item);
        if (len >= CELL_MAX - 1)
            break;
    }
}

/* The text of one cell; "-" when the field is absent or null. */
static void format_cell(char *cell, const struct json_value *row, const struct column *col)
{
    const struct json_value *v = json_get(row, col->key);
    double n, burst;

    if (col->sub)
        v = json_get(v, col->sub);
    snprintf(cell, CELL_MAX, "-");
    switch (col->kind) {
    case CELL_TEXT:
        if (json_string(v))
            put_text(cell, json_string(v));
        break;
    case CELL_COUNT:
        if (json_number(v, &n))
            snprintf(cell, CELL_MAX, "%.0f", n);
        break;
    case CELL_DECIMAL:
        if (json_number(v, &n))
            snprintf(cell, CELL_MAX, "%.1f", n);
        break;
    case CELL_PERCENT:
        if (json_number(v, &n))
            snprintf(cell, CELL_MAX, "%.1f%%", n * 100);
        break;
    case CELL_RATELIMIT:
        if (json_number(json_get(v, "per_second"), &n) && json_number(json_get(v, "burst"), &burst))
            snprintf(cell, CELL_MAX, "%.0f/s burst %.0f", n, burst);
        else
            snprintf(cell, CELL_MAX, "off");
        break;
    case CELL_MEMBERS:
        format_members(cell, v);
        break;
    }
    put_text(cell, cell);
}

/* Characters a terminal shows for UTF-8 `s`: continuation bytes take no column. */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static bool right_aligned(enum cell_kind kind)
{
    return kind == CELL_COUNT || kind == CELL_DECIMAL || kind == CELL_PERCENT;
}

static void print_cell(FILE *out, const char *text, size_t width, bool right, bool last)
{
    size_t pad = width - display_width(text);

    if (right)
        fprintf(out, "%*s%s", (int)pad, "", text);
    else if (last)
        fputs(text, out);
    else
        fprintf(out, "%s%*s", text, (int)pad, "");
    if (!last)
        fputs("  ", out);
}

/* One table: a title, a header line, then one line per element of `rows`. */
static void print_table(FILE *out, const char *title, const struct json_value *rows,
                        const struct column *cols, size_t n_cols)
{
    size_t width[COLUMNS_MAX] = {0};
    char cell[CELL_MAX];

    fprintf(out, "%s:\n", title);
    if (!rows || rows->type != JSON_ARRAY || !rows->child) {
        fputs("  (none)\n", out);
        return;
    }
    /* Two passes: the widths first, from the headers and every cell. */
    for (size_t c = 0; c < n_cols; c++)
        width[c] = strlen(cols[c].title);
    for (const struct json_value *r = rows->child; r; r = r->next) {
        for (size_t c = 0; c < n_cols; c++) {
            format_cell(cell, r, &cols[c]);
            if (display_width(cell) > width[c])
                width[c] = display_width(cell);
        }
    }
    fputs("  ", out);
    for (size_t c = 0; c < n_cols; c++)
        print_cell(out, cols[c].title, width[c], right_aligned(cols[c].kind), c + 1 == n_cols);
    fputs("\n", out);
    for (const struct json_value *r = rows->child; r; r = r->next) {
        fputs("  ", out);
        for (size_t c = 0; c < n_cols; c++) {
            format_cell(cell, r, &cols[c]);
            print_cell(out, cell, width[c], right_aligned(cols[c].kind), c + 1 == n_cols);
        }
        fputs("\n", out);
    }
}

static int print_tables(const char *body, size_t len, const char *where)
{
    char err[128];
    struct json_doc *doc = json_parse(body, len, STATUS_MAX_TREE, err, sizeof(err));
    const struct json_value *root;

    if (!doc) {
        fprintf(stderr, "llmproxy-ctl status: the answer of %s is not JSON: %s\n", where, err);
        return CTL_EXIT_INVALID;
    }
    root = json_root(doc);
    if (root->type != JSON_OBJECT) {
        fprintf(stderr, "llmproxy-ctl status: the answer of %s is not a status document\n", where);
        json_free(doc);
        return CTL_EXIT_INVALID;
    }
    print_table(stdout, "forwards", json_get(root, "forwards"), forward_columns,
                N_COLUMNS(forward_columns));
    fputs("\n", stdout);
    print_table(stdout, "groups", json_get(root, "groups"), group_columns,
                N_COLUMNS(group_columns));
    fputs("\n", stdout);
    print_table(stdout, "upstreams", json_get(root, "upstreams"), upstream_columns,
                N_COLUMNS(upstream_columns));
    /* An agent without clients configured sends none: no table at all then. */
    if (json_get(root, "clients")) {
        fputs("\n", stdout);
        print_table(stdout, "clients", json_get(root, "clients"), client_columns,
                    N_COLUMNS(client_columns));
    }
    json_free(doc);
    return CTL_EXIT_OK;
}

/* Where to reach a listener: a wildcard address is reached on loopback. */
static const char *connect_address(const char *listen)
{
    if (strcmp(listen, "0.0.0.0") == 0)
        return "127.0.0.1";
    if (strcmp(listen, "::") == 0)
        return "::1";
    return listen;
}

static int run_status(const struct ctl_cmd *cmd, int argc, char **argv)
{
    struct ctl_options o;
    struct config *cfg;
    struct http_answer answer;
    char err[256], where[128];
    const char *host;
    uint16_t port;
    bool cfg_token;
    int rc = ctl_parse_options(cmd, argc, argv, "cj", &o);

    if (rc != CTL_OPTIONS_OK)
        return rc;
    cfg = ctl_load_config(o.file);
    if (!cfg)
        return CTL_EXIT_INVALID;
    host = connect_address(cfg->admin.listen.address);
    port = cfg->admin.listen.port;
    snprintf(where, sizeof(where), "http://%s%s%s:%u/status", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    rc = http_get(host, port, "/status", cfg->admin.token.val, STATUS_TIMEOUT_MS, STATUS_MAX_ANSWER,
                  &answer, err, sizeof(err));
    cfg_token = cfg->admin.token.val && cfg->admin.token.val[0];
    config_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "llmproxy-ctl status: the agent does not answer at %s: %s\n", where, err);
        return CTL_EXIT_INVALID;
    }
    if (answer.status == 401) {
        fprintf(stderr,
                "llmproxy-ctl status: %s answered HTTP 401: the agent wants a bearer token; "
                "FILE's http_server.admin.token is %s\n",
                where, cfg_token ? "not the agent's" : "not set");
        rc = CTL_EXIT_INVALID;
    } else if (answer.status != 200) {
        fprintf(stderr, "llmproxy-ctl status: %s answered HTTP %d\n", where, answer.status);
        rc = CTL_EXIT_INVALID;
    } else if (o.json) {
        fwrite(answer.body, 1, answer.body_len, stdout);
        rc = CTL_EXIT_OK;
    } else {
        rc = print_tables(answer.body, answer.body_len, where);
    }
    http_answer_free(&answer);
    return rc;
}

const struct ctl_cmd ctl_cmd_status = {
    .name = "status",
    .summary = "show a running agent's forwards, groups and upstreams (breakers, load, picks)",
    .usage = "usage: llmproxy-ctl status -c FILE [--json]\n"
             "\n"
             "Load FILE to find the agent's admin endpoint (http_server.admin; a wildcard\n"
             "address is reached on loopback), GET /status from it (with FILE's\n"
             "http_server.admin.token as a bearer token, if set) and print the forwards,\n"
             "groups and upstreams as tables: breaker state, response-time EMA, success rate,\n"
             "in-flight requests, response_aware score, picks and breaker counters; with\n"
             "clients configured, each client's rate limit, requests and 429s. The agent\n"
             "must answer within 3 seconds. Exits 0 on success, 1 when the configuration is\n"
             "invalid or the agent does not answer, 2 on a usage error.\n"
             "\n"
             "options:\n"
             "  -c, --config FILE   the configuration the agent runs with\n"
             "  -j, --json          print the agent's JSON document as it is\n"
             "  -h, --help          show this help\n",
    .run = run_status,
};
