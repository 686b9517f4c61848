/* Re-arming an ev_io only when its events change, see io_watch.h. */
#include "io_watch.h"

void io_watch(struct ev_loop *loop, ev_io *w, int fd, int events)
{
    /* libev keeps private flags in `events`: compare only the ones callers set. */
    if ((w->events & (EV_READ | EV_WRITE)) == events && !!ev_is_active(w) == (events != 0))
        return;
    ev_io_stop(loop, w);
    if (!events)
        return;
    ev_io_set(w, fd, events);
    ev_io_start(loop, w);
}
