/*
 * Asking the HAProxy binary itself: whether it loads a rendered configuration
 * (`haproxy -c`), and which release it is (`haproxy -v`). The binary is $HAPROXY, else
 * `haproxy` on PATH.
 */
#ifndef LLMPROXY_HAPROXY_CHECK_H
#define LLMPROXY_HAPROXY_CHECK_H

#include "config-t.h"

/*
 * Run `<haproxy> -c -f cfg_path`. HAProxy's own messages go to this process's stdout and
 * stderr. Returns 0 when HAProxy accepts the file, 1 when it refuses it, -1 when it could
 * not be run (after saying why on stderr, prefixed with `who`).
 */
int haproxy_check(const char *who, const char *cfg_path);

/*
 * The release line of the binary (`haproxy -v`): 0, or -1 after saying on stderr why it is
 * not known (not installed, not HAProxy).
 */
int haproxy_binary_version(const char *who, struct conf_haproxy_version *v);

#endif /* LLMPROXY_HAPROXY_CHECK_H */
