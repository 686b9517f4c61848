#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy_map.h"
#include "haproxy_runtime.h"

/* Longest answer to a command that changes something: an empty line, or an error. */
#define ANSWER_MAX 4096

/* One entry: its key and value, pointing into the text it came from. */
struct map_entry {
    const char *key, *value;
    size_t key_len, value_len;
};

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool line_end(char c)
{
    return c == '\n' || c == '\r';
}

static int entry_cmp(const void *a, const void *b)
{
    const struct map_entry *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);

    if (c || x->key_len != y->key_len)
        return c ? c : x->key_len < y->key_len ? -1 : 1;
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = memcmp(x->value, y->value, n);
    if (c || x->value_len == y->value_len)
        return c;
    return x->value_len < y->value_len ? -1 : 1;
}

/*
 * Parse each line of `text` into an entry: key after leading blanks, value the rest
 * without surrounding blanks. With `with_id`, a first word (`show map`'s entry id) is
 * skipped and every non-blank line must have one; otherwise '#' lines are comments.
 * Returns the canonical text, or NULL (out of memory, or a malformed `show map` line).
 */
static char *canon(const char *text, size_t len, bool with_id, size_t *count)
{
    const char *p = text, *end = text + len;
    struct map_entry *e = NULL;
    size_t n = 0, cap = 0, out_len = 0, i;
    char *out = NULL, *w;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *c = p, *stop = eol ? eol : end;
        struct map_entry me;

        p = eol ? eol + 1 : end;
        if (!with_id && c < stop && *c == '#')
            continue;
        while (c < stop && blank(*c))
            c++;
        if (c == stop || line_end(*c))
            continue;
        if (with_id) {
            if (stop - c < 2 || memcmp(c, "0x", 2) != 0)
                goto fail;
            while (c < stop && !blank(*c) && !line_end(*c))
                c++;
            while (c < stop && blank(*c))
                c++;
            if (c == stop || line_end(*c))
                goto fail;
        }
        me.key = c;
        while (c < stop && !blank(*c) && !line_end(*c))
            c++;
        me.key_len = (size_t)(c - me.key);
        while (c < stop && blank(*c))
            c++;
        me.value = c;
        while (c < stop && !line_end(*c))
            c++;
        while (c > me.value && blank(c[-1]))
            c--;
        me.value_len = (size_t)(c - me.value);
        if (n == cap) {
            struct map_entry *grown = realloc(e, (cap ? cap * 2 : 16) * sizeof(*e));

            if (!grown)
                goto fail;
            e = grown;
            cap = cap ? cap * 2 : 16;
        }
        e[n++] = me;
        out_len += me.key_len + 1 + me.value_len + 1;
    }
    if (n)
        qsort(e, n, sizeof(*e), entry_cmp);
    out = malloc(out_len + 1);
    if (!out)
        goto fail;
    for (w = out, i = 0; i < n; i++) {
        memcpy(w, e[i].key, e[i].key_len);
        w += e[i].key_len;
        *w++ = ' ';
        memcpy(w, e[i].value, e[i].value_len);
        w += e[i].value_len;
        *w++ = '\n';
    }
    *w = '\0';
    free(e);
    *count = n;
    return out;
fail:
    free(e);
    return NULL;
}

char *haproxy_map_canon_file(const char *text, size_t len, size_t *n)
{
    return canon(text, len, false, n);
}

char *haproxy_map_canon_show(const char *answer, size_t len, size_t *n)
{
    return canon(answer, len, true, n);
}

long haproxy_map_prepared_version(const char *answer)
{
    static const char prefix[] = "New version created: ";
    const char *p = strstr(answer, prefix);
    char *end;
    long v;

    if (!p)
        return -1;
    p += sizeof(prefix) - 1;
    if (*p < '0' || *p > '9')
        return -1;
    v = strtol(p, &end, 10);
    return (*end == '\0' || line_end(*end)) && v >= 0 ? v : -1;
}

/* HAProxy refused `cmd`: its answer's first line into `err`. */
static void refused(const char *cmd, const char *answer, char *err, size_t err_size)
{
    size_t n;

    answer += strspn(answer, " \r\n");
    n = strcspn(answer, "\r\n");
    snprintf(err, err_size, "'%s': HAProxy says: %.*s", cmd, (int)(n > 200 ? 200 : n), answer);
}

/*
 * Run a command whose success answer is empty. Returns 0, or -1 with `err` naming what
 * HAProxy said.
 */
static int ask_quiet(const char *socket_path, const char *cmd, const char *payload,
                     size_t payload_len, char *err, size_t err_size)
{
    size_t len;
    char *answer = haproxy_runtime_ask(socket_path, cmd, payload, payload_len, ANSWER_MAX, &len,
                                       err, err_size);

    if (!answer)
        return -1;
    if (answer[strspn(answer, " \r\n")] != '\0') {
        refused(cmd, answer, err, err_size);
        free(answer);
        return -1;
    }
    free(answer);
    return 0;
}

/* Add the canonical entries `lines` to version `ver` of `map`, in commands that fit. */
static int add_entries(const char *socket_path, const char *map, long ver, const char *lines,
                       char *err, size_t err_size)
{
    char cmd[HAPROXY_MAP_CHUNK];
    size_t room;
    int n = snprintf(cmd, sizeof(cmd), "add map @%ld %s", ver, map);

    /* The command line, " <<\n" and the closing empty line come with each payload. */
    if (n < 0 || (size_t)n + 8 >= sizeof(cmd)) {
        snprintf(err, err_size, "%s: name too long for the runtime API", map);
        return -1;
    }
    room = sizeof(cmd) - (size_t)n - 8;
    while (*lines) {
        const char *p = lines, *next;
        size_t len = 0;

        /* Whole lines, as many as fit. */
        while (*p && (next = strchr(p, '\n') + 1) - lines <= (ptrdiff_t)room)
            p = next;
        len = (size_t)(p - lines);
        if (len == 0) {
            snprintf(err, err_size, "%s: an entry longer than %zu bytes", map, room);
            return -1;
        }
        if (ask_quiet(socket_path, cmd, lines, len, err, err_size) < 0)
            return -1;
        lines = p;
    }
    return 0;
}

/* Whether HAProxy's `map` now holds exactly the canonical entries `want` (`n` of them). */
static int verify(const char *socket_path, const char *map, const char *want, size_t n, char *err,
                  size_t err_size)
{
    char cmd[HAPROXY_MAP_CHUNK];
    char *answer, *got = NULL;
    size_t len, got_n = 0;
    int rc = -1;

    snprintf(cmd, sizeof(cmd), "show map %s", map);
    answer =
        haproxy_runtime_ask(socket_path, cmd, NULL, 0, HAPROXY_MAP_SHOW_MAX, &len, err, err_size);
    if (!answer)
        return -1;
    got = haproxy_map_canon_show(answer, len, &got_n);
    if (!got) {
        refused(cmd, answer, err, err_size);
    } else if (strcmp(got, want) != 0) {
        snprintf(err, err_size,
                 "%s: HAProxy holds %zu entries after the update, not the %zu "
                 "of the file",
                 map, got_n, n);
    } else {
        rc = 0;
    }
    free(got);
    free(answer);
    return rc;
}

int haproxy_map_replace(const char *socket_path, const char *map, const char *text, size_t len,
                        char *err, size_t err_size)
{
    char cmd[HAPROXY_MAP_CHUNK];
    char *want, *answer;
    size_t n, answer_len;
    long ver;
    int rc = -1;

    if (!haproxy_runtime_word_ok(map) || strlen(map) > HAPROXY_MAP_CHUNK / 2) {
        snprintf(err, err_size, "%s: not a map name the runtime API can carry", map);
        return -1;
    }
    want = haproxy_map_canon_file(text, len, &n);
    if (!want) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "prepare map %s", map);
    answer = haproxy_runtime_ask(socket_path, cmd, NULL, 0, ANSWER_MAX, &answer_len, err, err_size);
    if (!answer)
        goto out;
    ver = haproxy_map_prepared_version(answer);
    if (ver < 0) {
        refused(cmd, answer, err, err_size);
        free(answer);
        goto out;
    }
    free(answer);
    /* Until the commit the live version is untouched: a failure here changes nothing. */
    if (add_entries(socket_path, map, ver, want, err, err_size) < 0)
        goto out;
    snprintf(cmd, sizeof(cmd), "commit map @%ld %s", ver, map);
    if (ask_quiet(socket_path, cmd, NULL, 0, err, err_size) < 0)
        goto out;
    rc = verify(socket_path, map, want, n, err, err_size);
out:
    free(want);
    return rc;
}
