/*
 * Rules across the whole configuration, run after the walk: unique names, forward ->
 * group and group -> upstream references (resolved to indexes), listener clashes; and the
 * warnings that need the whole configuration (an agent listener off loopback).
 */
#ifndef LLMPROXY_CONF_CHECK_H
#define LLMPROXY_CONF_CHECK_H

#include "config-t.h"

/* Returns 0, or -1 when memory ran out (reported too). Problems go to `diags`. */
int conf_check(struct config *cfg, struct conf_diags *diags);

#endif /* LLMPROXY_CONF_CHECK_H */
