#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine_reply.h"

/* Bytes a host or a path may hold on our request line: no blank, no control, no quote. */
static bool request_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '"')
            return false;
    return true;
}

int engine_reply_request(const char *host, uint16_t port, const char *path, char *out, size_t size)
{
    bool v6 = strchr(host, ':') != NULL;
    int n;

    if (!*host || !request_safe(host) || path[0] != '/' || !request_safe(path))
        return -1;
    n = snprintf(out, size,
                 "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nAccept: text/plain\r\n"
                 "User-Agent: llmproxy-agent\r\nConnection: close\r\n\r\n",
                 path, v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* The value of header `name` among the head's lines [head, end), NULL if absent; `dup`
 * set when it appears more than once. */
static const char *header(const char *head, const char *end, const char *name, size_t *value_len,
                          bool *dup)
{
    size_t n = strlen(name);
    const char *found = NULL;

    *dup = false;
    for (const char *line = head; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol ? eol : end;

        if ((size_t)(stop - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1, *e = stop;

            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (found)
                *dup = true;
            found = v;
            *value_len = (size_t)(e - v);
        }
        line = eol ? eol + 1 : end;
    }
    return found;
}

/* A decimal of at most 15 digits (a page is far smaller) from [s, s+n). */
static bool parse_size(const char *s, size_t n, int base, size_t *out)
{
    size_t v = 0;

    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        int d;
        char c = s[i];

        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return false;
        v = v * (size_t)base + (size_t)d;
    }
    *out = v;
    return true;
}

/* Decode a chunked body [start, end) in place at start: its decoded length in *out_len.
 * Chunk extensions are ignored and trailers skipped. */
static bool dechunk(char *start, const char *end, size_t *out_len, const char **why)
{
    char *p = start, *w = start;

    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t digits = 0, size;

        if (!eol) {
            *why = "a chunk size line is cut short";
            return false;
        }
        while (p + digits < eol && strchr("0123456789abcdefABCDEF", p[digits]) && p[digits])
            digits++;
        if (!parse_size(p, digits, 16, &size)) {
            *why = "a chunk size is not a short hexadecimal number";
            return false;
        }
        p = (char *)eol + 1;
        if (size == 0)
            break;
        if ((size_t)(end - p) < size + 2 || p[size] != '\r' || p[size + 1] != '\n') {
            *why = "a chunk is cut short or not followed by CRLF";
            return false;
        }
        memmove(w, p, size);
        w += size;
        p += size + 2;
    }
    *out_len = (size_t)(w - start);
    return true;
}

bool engine_reply_body(char *reply, size_t len, bool eof, char **body, size_t *body_len,
                       const char **why)
{
    const char *head_end = NULL, *te, *cl;
    size_t te_len = 0, cl_len = 0, length;
    bool te_dup, cl_dup;
    char *b;

    for (size_t i = 0; i + 3 < len; i++) {
        if (memcmp(reply + i, "\r\n\r\n", 4) == 0) {
            head_end = reply + i + 2; /* the head's lines, each with its CRLF */
            break;
        }
    }
    if (len < 12 || memcmp(reply, "HTTP/1.", 7) != 0 || reply[8] != ' ') {
        *why = "not an HTTP/1.x reply";
        return false;
    }
    if (memcmp(reply + 9, "200", 3) != 0 || (len > 12 && reply[12] != ' ' && reply[12] != '\r')) {
        *why = "the status is not 200";
        return false;
    }
    if (!head_end) {
        *why = "the reply's head has no end";
        return false;
    }
    b = (char *)head_end + 2;
    te = header(reply, head_end, "transfer-encoding", &te_len, &te_dup);
    cl = header(reply, head_end, "content-length", &cl_len, &cl_dup);
    if ((te && cl) || te_dup || cl_dup) {
        *why = "the reply's framing is ambiguous";
        return false;
    }
    if (te) {
        if (te_len != 7 || strncasecmp(te, "chunked", 7) != 0) {
            *why = "a transfer coding other than chunked";
            return false;
        }
        *body = b;
        return dechunk(b, reply + len, body_len, why);
    }
    if (cl) {
        if (!parse_size(cl, cl_len, 10, &length) || length > (size_t)(reply + len - b)) {
            *why = "the body is shorter than its Content-Length";
            return false;
        }
        *body = b;
        *body_len = length;
        return true;
    }
    if (!eof) {
        *why = "a body without a length that did not end with the connection";
        return false;
    }
    *body = b;
    *body_len = (size_t)(reply + len - b);
    return true;
}
