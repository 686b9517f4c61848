#include <string.h>
#include <strings.h>

#include "admin_http.h"

/* What the headers said, gathered while parsing them. */
struct head_flags {
    bool conn_close;
    bool conn_keep_alive;
};

static enum admin_http_result refuse(struct admin_request *req, int status, const char *why)
{
    req->status = status;
    req->why = why;
    return ADMIN_HTTP_ERROR;
}

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t token_len(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    return i;
}

static bool equals_nocase(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

/* METHOD SP origin-form SP HTTP/1.x, the line without its end. */
static enum admin_http_result parse_request_line(const char *p, size_t n, struct admin_request *req)
{
    size_t mlen = token_len(p, n), t, tlen;
    const char *version;
    size_t vlen;

    if (mlen == 0 || mlen >= n || p[mlen] != ' ')
        return refuse(req, 400, "malformed request line");
    t = mlen + 1;
    for (tlen = 0; t + tlen < n && p[t + tlen] != ' '; tlen++) {
        unsigned char c = (unsigned char)p[t + tlen];
        if (c <= 0x20 || c >= 0x7f)
            return refuse(req, 400, "invalid character in request target");
    }
    if (tlen == 0 || t + tlen >= n)
        return refuse(req, 400, "malformed request line");
    if (p[t] != '/')
        return refuse(req, 400, "request target must be a path");
    version = p + t + tlen + 1;
    vlen = n - (t + tlen + 1);
    if (vlen != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' ||
        version[6] != '.' || version[7] < '0' || version[7] > '9')
        return refuse(req, 400, "malformed HTTP version");
    if (version[5] != '1' || version[7] > '1')
        return refuse(req, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    req->minor = (unsigned)(version[7] - '0');
    if (mlen != 3 || memcmp(p, "GET", 3) != 0)
        return refuse(req, 405, "only GET is allowed");
    req->path = p + t;
    while (req->path_len < tlen && req->path[req->path_len] != '?' &&
           req->path[req->path_len] != '#')
        req->path_len++;
    return ADMIN_HTTP_DONE;
}

/* Split a comma-separated Connection value into its options. */
static void parse_connection(const char *v, size_t n, struct head_flags *flags)
{
    size_t i = 0;

    while (i < n) {
        size_t start, len;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        len = i - start;
        if (equals_nocase(v + start, len, "close"))
            flags->conn_close = true;
        else if (equals_nocase(v + start, len, "keep-alive"))
            flags->conn_keep_alive = true;
    }
}

/* name ":" OWS value OWS, the line without its end. */
static enum admin_http_result parse_header(const char *p, size_t n, struct admin_request *req,
                                           struct head_flags *flags)
{
    size_t nlen = token_len(p, n), vs, ve;

    if (p[0] == ' ' || p[0] == '\t')
        return refuse(req, 400, "obsolete header line folding");
    if (nlen == 0 || nlen >= n || p[nlen] != ':')
        return refuse(req, 400, "malformed header");
    for (vs = nlen + 1; vs < n && (p[vs] == ' ' || p[vs] == '\t'); vs++)
        ;
    for (ve = n; ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'); ve--)
        ;
    for (size_t i = vs; i < ve; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return refuse(req, 400, "control character in header value");
    }
    if (equals_nocase(p, nlen, "content-length")) {
        if (ve == vs)
            return refuse(req, 400, "empty Content-Length");
        for (size_t i = vs; i < ve; i++) {
            if (p[i] < '0' || p[i] > '9')
                return refuse(req, 400, "invalid Content-Length");
            if (p[i] != '0')
                return refuse(req, 413, "request bodies are not accepted");
        }
    } else if (equals_nocase(p, nlen, "transfer-encoding")) {
        return refuse(req, 413, "request bodies are not accepted");
    } else if (equals_nocase(p, nlen, "connection")) {
        parse_connection(p + vs, ve - vs, flags);
    } else if (equals_nocase(p, nlen, "authorization")) {
        if (req->authorization)
            return refuse(req, 400, "more than one Authorization header");
        req->authorization = p + vs;
        req->authorization_len = ve - vs;
    }
    return ADMIN_HTTP_DONE;
}

enum admin_http_result admin_http_parse(const char *data, size_t len, struct admin_request *req)
{
    struct head_flags flags = {0};
    bool have_request_line = false;
    unsigned headers = 0;
    size_t pos = 0;

    memset(req, 0, sizeof(*req));
    for (;;) {
        const char *line = data + pos;
        const char *nl = pos < len ? memchr(line, '\n', len - pos) : NULL;
        size_t n;
        enum admin_http_result r;

        if (!nl) {
            if (!have_request_line && len - pos > ADMIN_HTTP_MAX_LINE)
                return refuse(req, 414, "request line too long");
            if (len > ADMIN_HTTP_MAX_HEAD)
                return refuse(req, 431, "request head too large");
            return ADMIN_HTTP_INCOMPLETE;
        }
        n = (size_t)(nl - line);
        pos += n + 1;
        if (pos > ADMIN_HTTP_MAX_HEAD)
            return refuse(req, 431, "request head too large");
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (!have_request_line) {
            if (n == 0)
                continue; /* empty lines before a request are tolerated (RFC 9112 2.2) */
            if (n > ADMIN_HTTP_MAX_LINE)
                return refuse(req, 414, "request line too long");
            r = parse_request_line(line, n, req);
            if (r != ADMIN_HTTP_DONE)
                return r;
            have_request_line = true;
            continue;
        }
        if (n == 0)
            break;
        if (++headers > ADMIN_HTTP_MAX_HEADERS)
            return refuse(req, 431, "too many headers");
        r = parse_header(line, n, req, &flags);
        if (r != ADMIN_HTTP_DONE)
            return r;
    }
    req->head_len = pos;
    req->keep_alive = req->minor == 1 ? !flags.conn_close : flags.conn_keep_alive;
    return ADMIN_HTTP_DONE;
}

const char *admin_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Error";
}
