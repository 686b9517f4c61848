/*
 * HAProxy release lines ("2.6", "3.2"): the form the configuration names them in and the
 * one `haproxy -v` prints, and their order. Which release renders what is llmproxy-ctl's
 * business (ctl/haproxy_version.h); this is only the value.
 */
#ifndef LLMPROXY_CONF_HAPROXY_VERSION_H
#define LLMPROXY_CONF_HAPROXY_VERSION_H

#include <stdbool.h>

#include "config-t.h"

/* The oldest release LLMProxy renders for: Debian 12's. */
#define CONF_HAPROXY_OLDEST ((struct conf_haproxy_version){2, 6})

/*
 * Read "MAJOR.MINOR" at the start of `s` (each 1-3 digits; "3.0.11-9e587df" reads as 3.0).
 * Returns the character after MINOR, or NULL if `s` does not start with a version.
 */
const char *conf_haproxy_version_parse(const char *s, struct conf_haproxy_version *v);

/* <0, 0 or >0 as `a` is older than, the same line as, or newer than `b`. */
int conf_haproxy_version_cmp(struct conf_haproxy_version a, struct conf_haproxy_version b);

/* Whether `v` is set (the configuration's "auto" is not). */
bool conf_haproxy_version_known(struct conf_haproxy_version v);

#endif /* LLMPROXY_CONF_HAPROXY_VERSION_H */
