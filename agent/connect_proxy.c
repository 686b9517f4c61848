#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "connect_proxy.h"

/* "HTTP/1.x nnn": the part of a status line that is interpreted. */
#define STATUS_PREFIX_LEN 12

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode `in` into `out` (`size` bytes); the decoded length, or -1. A decoded
 * NUL is refused: it would end the credential early on some proxies and not on others. */
static int percent_decode(const char *in, unsigned char *out, size_t size)
{
    size_t n = 0;

    for (; *in; in++) {
        int c = (unsigned char)*in;

        if (c == '%') {
            int hi = hex_value(in[1]), lo = hi < 0 ? -1 : hex_value(in[2]);

            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            in += 2;
        }
        if (c == 0 || n == size)
            return -1;
        out[n++] = (unsigned char)c;
    }
    return (int)n;
}

/* A host as the proxy reads it: no byte that could end or split the request line. */
static bool host_is_safe(const char *host)
{
    const unsigned char *p = (const unsigned char *)host;

    if (!*p)
        return false;
    for (; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '/' || *p == '@')
            return false;
    return true;
}

int connect_proxy_request(const char *host, uint16_t port, const char *userinfo, char *out,
                          size_t size, const char **why)
{
    /* Decoded credentials, and their base64 (4 output bytes per 3 input, plus NUL). */
    unsigned char cred[CONNECT_PROXY_REQUEST_MAX / 2];
    char cred64[(sizeof(cred) + 2) / 3 * 4 + 1];
    bool v6 = strchr(host, ':') != NULL;
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    int n, m;

    if (!host_is_safe(host)) {
        *why = "the upstream host cannot be written in a request line";
        return -1;
    }
    n = snprintf(out, size, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n", lb, host, rb,
                 (unsigned)port, lb, host, rb, (unsigned)port);
    if (n < 0 || (size_t)n >= size) {
        *why = "the CONNECT request does not fit its buffer";
        return -1;
    }
    if (userinfo) {
        int len = percent_decode(userinfo, cred, sizeof(cred));

        if (len < 0) {
            *why = "the proxy credentials have bad percent-encoding or are too long";
            return -1;
        }
        EVP_EncodeBlock((unsigned char *)cred64, cred, len);
        m = snprintf(out + n, size - (size_t)n, "Proxy-Authorization: Basic %s\r\n", cred64);
        if (m < 0 || (size_t)m >= size - (size_t)n) {
            *why = "the CONNECT request does not fit its buffer";
            return -1;
        }
        n += m;
    }
    if ((size_t)n + 2 >= size) {
        *why = "the CONNECT request does not fit its buffer";
        return -1;
    }
    memcpy(out + n, "\r\n", 3);
    return n + 2;
}

/* Whether the first `n` bytes can begin "HTTP/1.x nnn", so a non-HTTP peer is refused as
 * soon as it shows itself rather than after a full head. */
static bool status_prefix_ok(const char *s, size_t n)
{
    static const char pattern[] = "HTTP/1.D DDD";
    size_t i;

    for (i = 0; i < n && i < STATUS_PREFIX_LEN; i++) {
        if (pattern[i] == 'D') {
            if (s[i] < '0' || s[i] > '9')
                return false;
        } else if (s[i] != pattern[i]) {
            return false;
        }
    }
    return true;
}

enum connect_proxy_head connect_proxy_parse(const char *buf, size_t len,
                                            struct connect_proxy_response *out)
{
    size_t lim = len < CONNECT_PROXY_HEAD_MAX ? len : CONNECT_PROXY_HEAD_MAX;
    size_t pos = 0;

    if (!status_prefix_ok(buf, lim))
        return CONNECT_PROXY_MALFORMED;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', lim - pos);
        size_t end, line_len;

        /* A NUL is refused in the head only: what follows the blank line is the tunnel's
         * own data, so the verdict must not depend on how much of it came with the head. */
        if (memchr(buf + pos, '\0', (nl ? (size_t)(nl - buf) : lim) - pos))
            return CONNECT_PROXY_MALFORMED;
        if (!nl)
            return len >= CONNECT_PROXY_HEAD_MAX ? CONNECT_PROXY_TOO_LONG
                                                 : CONNECT_PROXY_INCOMPLETE;
        end = (size_t)(nl - buf);
        line_len = end - pos;
        if (line_len && buf[end - 1] == '\r')
            line_len--;
        if (pos == 0) {
            /* The status code ends the line or is followed by a space and a reason. */
            if (line_len < STATUS_PREFIX_LEN ||
                (line_len > STATUS_PREFIX_LEN && buf[STATUS_PREFIX_LEN] != ' '))
                return CONNECT_PROXY_MALFORMED;
            out->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
            if (out->status < 100)
                return CONNECT_PROXY_MALFORMED;
        } else if (line_len == 0) {
            out->head_len = end + 1;
            return CONNECT_PROXY_DONE;
        }
        pos = end + 1;
    }
}
