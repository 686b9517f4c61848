/*
 * Reading an inference engine's load off its Prometheus metrics page (text format 0.0.4),
 * as vLLM and SGLang publish it:
 *
 *   vLLM    vllm:num_requests_running, vllm:num_requests_waiting,
 *           vllm:kv_cache_usage_perc (V1) or vllm:gpu_cache_usage_perc (V0)
 *   SGLang  sglang:num_running_reqs, sglang:num_queue_reqs, sglang:token_usage
 *
 * A page may carry several series of one gauge (one per model or engine rank): the counts
 * are summed and the KV-cache share is the largest. The page is an upstream's answer, so
 * every byte is distrusted: lines are bounded, values that are not finite, negative or not
 * numbers are skipped, counts are capped at ENGINE_LOAD_COUNT_MAX and shares at 1.
 */
#ifndef LLMPROXY_ENGINE_LOAD_H
#define LLMPROXY_ENGINE_LOAD_H

#include <stddef.h>

#include "config-t.h"
#include "engine_load-t.h"

/* The load `type`'s gauges on the page `text` (`len` bytes, no NUL needed) give.
 * out->valid says whether both counts were found. */
void engine_load_parse(enum engine_type type, const char *text, size_t len,
                       struct engine_load *out);

#endif /* LLMPROXY_ENGINE_LOAD_H */
