/*
 * Which HAProxy release to render for: the one place that knows how releases differ in
 * what LLMProxy renders (haproxy/README.md lists the same differences for operators).
 */
#ifndef LLMPROXY_HAPROXY_TARGET_H
#define LLMPROXY_HAPROXY_TARGET_H

#include <stdbool.h>

#include "haproxy_target-t.h"

/* What release line `v` wants; a version not known (0.0) gets the oldest's. */
struct haproxy_target haproxy_target_of(struct conf_haproxy_version v);

/* Whether LLMProxy's tests run against release line `v` (2.6, 3.0 and 3.2). */
bool haproxy_target_tested(struct conf_haproxy_version v);

/*
 * The target of a configuration: its haproxy.version, else what `haproxy -v` says, else
 * the oldest release (whose files the newer tested releases load too). Each guess and
 * each untested release is a warning on stderr, prefixed with `who`.
 */
struct haproxy_target haproxy_target_resolve(const struct config *cfg, const char *who);

#endif /* LLMPROXY_HAPROXY_TARGET_H */
