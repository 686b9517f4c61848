/*
 * Exponential moving average of an upstream's response time.
 */
#include <math.h>

#include "ema.h"

bool ema_update(double *ema, bool *measured, double sample_ms)
{
    if (!isfinite(sample_ms) || sample_ms < 0)
        return false;
    if (*measured)
        *ema += EMA_ALPHA * (sample_ms - *ema);
    else
        *ema = sample_ms;
    *measured = true;
    return true;
}
