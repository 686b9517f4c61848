/*
 * The /metrics page: the series recorded from log lines and decisions (metrics.h), then
 * the live numbers of the breakers, upstreams and every part of the agent, pulled from
 * their owners at scrape time. Names, labels and meanings are listed in docs/metrics.md;
 * the page's order is fixed, so two scrapes of the same numbers are the same bytes.
 */
#ifndef LLMPROXY_METRICS_PAGE_H
#define LLMPROXY_METRICS_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf-t.h"
#include "metrics_page-t.h"

/* The whole page into `out` (appended), live numbers read at `now_ms`. False when `out`
 * overflowed its bound. */
bool metrics_page_render(const struct metrics_page_sources *src, uint64_t now_ms, struct buf *out);

#endif /* LLMPROXY_METRICS_PAGE_H */
