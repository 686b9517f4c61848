/*
 * Exponential moving average of an upstream's response time.
 *
 * The first sample sets the average directly, so a new upstream is not judged against an
 * invented initial value (the original started every upstream at 2000 ms, which made
 * sequential traffic stick to whichever upstream answered first).
 */
#ifndef LLMPROXY_EMA_H
#define LLMPROXY_EMA_H

#include <stdbool.h>

/* Weight of a new sample: about the last 1 / 0.15 ~ 7 samples dominate. */
#define EMA_ALPHA 0.15

/*
 * Fold `sample_ms` into `*ema` and set `*measured`. A negative or non-finite sample is
 * refused (false) and changes nothing.
 */
bool ema_update(double *ema, bool *measured, double sample_ms);

#endif /* LLMPROXY_EMA_H */
