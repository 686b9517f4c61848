/*
 * Letting HAProxy itself judge a rendered configuration (`haproxy -c`).
 */
#ifndef LLMPROXY_HAPROXY_CHECK_H
#define LLMPROXY_HAPROXY_CHECK_H

/*
 * Run `<haproxy> -c -f cfg_path`, where <haproxy> is $HAPROXY, else `haproxy` on PATH.
 * HAProxy's own messages go to this process's stdout and stderr. Returns 0 when HAProxy
 * accepts the file, 1 when it refuses it, -1 when it could not be run (after saying why
 * on stderr, prefixed with `who`).
 */
int haproxy_check(const char *who, const char *cfg_path);

#endif /* LLMPROXY_HAPROXY_CHECK_H */
