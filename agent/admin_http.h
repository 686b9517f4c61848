/*
 * A bounded HTTP/1.x request-head parser for the admin endpoint: pure, no I/O, no
 * allocation. It accepts exactly what the endpoint serves, a GET without a body, and
 * says why anything else is refused:
 *   400 malformed request line or header      405 a method other than GET
 *   413 a request body (Content-Length > 0, Transfer-Encoding)
 *   414 request line over ADMIN_HTTP_MAX_LINE 431 head over ADMIN_HTTP_MAX_HEAD bytes or
 *   505 HTTP version other than 1.0 / 1.1         over ADMIN_HTTP_MAX_HEADERS headers
 * Lines may end in CRLF or a bare LF. The Authorization header is handed over as it is
 * (admin_auth.h judges it); two of them are refused (400): which one counts is ambiguous.
 */
#ifndef LLMPROXY_ADMIN_HTTP_H
#define LLMPROXY_ADMIN_HTTP_H

#include "admin_http-t.h"

/*
 * Parse the head at the start of `data` (`len` bytes received so far). Call again with
 * more bytes after ADMIN_HTTP_INCOMPLETE; an error is reported as soon as the bytes
 * prove it, without waiting for the rest of the head.
 */
enum admin_http_result admin_http_parse(const char *data, size_t len, struct admin_request *req);

/* The reason phrase of a status the endpoint sends ("Not Found"). */
const char *admin_http_reason(int status);

#endif /* LLMPROXY_ADMIN_HTTP_H */
