#include <math.h>

#include "least_load.h"

double least_load_waiting(const struct least_load_member *m)
{
    if (!m->scraped)
        return m->in_flight;
    return m->waiting + (m->in_flight > m->in_flight_at ? m->in_flight - m->in_flight_at : 0);
}

static bool saturated(const struct least_load_member *m, const struct least_load_limits *lim)
{
    return least_load_waiting(m) >= lim->waiting || (m->scraped && m->kv_usage >= lim->kv_usage);
}

/* Negative when `a` is the better member, positive when `b` is, 0 for a tie. */
static int compare(const struct least_load_member *a, const struct least_load_member *b)
{
    double wa = least_load_waiting(a), wb = least_load_waiting(b);
    double ka = a->scraped ? floor(a->kv_usage * 10) : 0,
           kb = b->scraped ? floor(b->kv_usage * 10) : 0;
    double ra = a->scraped ? a->running : 0, rb = b->scraped ? b->running : 0;

    if (wa != wb)
        return wa < wb ? -1 : 1;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return 0;
}

int least_load_pick(const struct least_load_member *m, size_t n,
                    const struct least_load_limits *limits, size_t *cursor)
{
    bool any_unsaturated = false;
    int best = -1;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (m[i].available && !saturated(&m[i], limits))
            any_unsaturated = true;
    /* From the cursor on, so that the first of equals is a different one each time. */
    for (size_t k = 0; k < n; k++) {
        size_t i = (*cursor + k) % n;

        if (!m[i].available || (any_unsaturated && saturated(&m[i], limits)))
            continue;
        if (best < 0 || compare(&m[i], &m[best]) < 0)
            best = (int)i;
    }
    if (best >= 0)
        *cursor = ((size_t)best + 1) % n;
    return best;
}
