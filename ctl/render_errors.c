/*
 * The responses LLMProxy itself sends (docs/rendering.md lists them): JSON in the OpenAI
 * error shape, so
 * SDKs surface them like the API's own errors. One table serves the errorfiles and the
 * bodies that haproxy.cfg returns inline.
 */
#include <string.h>

#include "render.h"

const struct render_error render_err_bad_request = {
    "400.http", 400, "Bad Request", "bad request", "invalid_request_error", "bad_request",
};
const struct render_error render_err_request_timeout = {
    "408.http",        408, "Request Timeout", "request timeout", "invalid_request_error",
    "request_timeout",
};
/* A path that could climb out of the upstream's base path (render_haproxy.c). */
const struct render_error render_err_invalid_path = {
    NULL, 400, "Bad Request", "request path not allowed", "invalid_request_error", "invalid_path",
};
const struct render_error render_err_method_not_allowed = {
    "405.http",           405, "Method Not Allowed", "method not allowed", "invalid_request_error",
    "method_not_allowed",
};
const struct render_error render_err_too_large = {
    "413.http",
    413,
    "Payload Too Large",
    "request body too large",
    "invalid_request_error",
    "request_too_large",
};
const struct render_error render_err_rate_limited = {
    NULL,
    429,
    "Too Many Requests",
    "rate limit exceeded",
    "rate_limit_error",
    "rate_limit_exceeded",
};
/* Every upstream of the group answered 429 and is cooling down: theirs, not the client's. */
const struct render_error render_err_upstreams_throttled = {
    NULL,
    429,
    "Too Many Requests",
    "every upstream is rate limiting, retry later",
    "rate_limit_error",
    "upstreams_throttled",
};
const struct render_error render_err_bad_response = {
    "502.http",     502,
    "Bad Gateway",  "bad upstream response",
    "server_error", "bad_upstream_response",
};
/* HAProxy's HTTP/1 parser refuses a coding before chunked ("gzip, chunked") with 422. */
const struct render_error render_err_bad_encoding = {
    "422.http",
    422,
    "Unprocessable Content",
    "unsupported transfer-encoding",
    "invalid_request_error",
    "unsupported_transfer_encoding",
};
/* A header rewrite that did not fit the buffer, among others. */
const struct render_error render_err_internal = {
    "500.http", 500, "Internal Server Error", "internal error", "server_error", "internal_error",
};
/* HAProxy's HTTP/1 parser refuses some framings (e.g. an unknown transfer-encoding). */
const struct render_error render_err_not_implemented = {
    "501.http",        501, "Not Implemented", "not implemented", "invalid_request_error",
    "not_implemented",
};
/* HAProxy says 503 when it cannot connect; to the client that is an unreachable upstream. */
const struct render_error render_err_unreachable = {
    "502-unreachable.http", 502, "Bad Gateway", "upstream unreachable", "server_error",
    "upstream_unreachable",
};
const struct render_error render_err_no_upstream = {
    "503.http",
    503,
    "Service Unavailable",
    "no upstream available",
    "server_error",
    "no_upstream_available",
};
/* A member at its max_in_flight kept the request in HAProxy's queue until timeout.queue. */
const struct render_error render_err_saturated = {
    NULL, 503, "Service Unavailable", "upstream saturated", "server_error", "upstream_saturated",
};
const struct render_error render_err_timeout = {
    "504.http", 504, "Gateway Timeout", "upstream timeout", "server_error", "upstream_timeout",
};

/* A forward with client_auth, for a missing, unknown or not allowed key: the shape of
 * OpenAI's own answer, so that SDKs raise their authentication error. */
const struct render_error render_err_invalid_api_key = {
    NULL,
    401,
    "Unauthorized",
    "missing or invalid API key",
    "invalid_request_error",
    "invalid_api_key",
};

/* routing_strict: the model the request named is routed nowhere. */
const struct render_error render_err_model_not_found = {
    NULL,
    404,
    "Not Found",
    "the requested model is not served here",
    "invalid_request_error",
    "model_not_found",
};

const struct render_error *const render_errorfiles[] = {
    &render_err_bad_request,     &render_err_method_not_allowed,
    &render_err_request_timeout, &render_err_too_large,
    &render_err_bad_encoding,    &render_err_internal,
    &render_err_not_implemented, &render_err_bad_response,
    &render_err_unreachable,     &render_err_no_upstream,
    &render_err_timeout,         NULL,
};

int render_error_json(const struct render_error *e, char *buf, size_t size)
{
    /* OpenAI's own invalid-key answer has "param": null, which some SDKs read. */
    bool param = e == &render_err_invalid_api_key;

    return snprintf(buf, size, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",%s\"code\":\"%s\"}}",
                    e->message, e->type, param ? "\"param\":null," : "", e->code);
}

void render_errorfile(const struct render_error *e, struct render_out *r)
{
    char body[256];
    int n = render_error_json(e, body, sizeof(body));

    /* HAProxy sends the file as is: it must be a complete response, CRLF included. */
    render_printf(r,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: %d\r\n"
                  "Cache-Control: no-cache\r\n"
                  "Connection: close\r\n"
                  "\r\n"
                  "%s\n",
                  e->status, e->reason, n + 1, body);
}
