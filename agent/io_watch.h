/*
 * Changing what a libev I/O watcher waits for. libev has no call for it: the watcher must
 * be stopped, set and started again, and each of those touches the backend (epoll_ctl),
 * so it is done only when the wanted events differ from the current ones.
 */
#ifndef LLMPROXY_IO_WATCH_H
#define LLMPROXY_IO_WATCH_H

#include <ev.h>

/*
 * Make `w` wait for `events` (EV_READ, EV_WRITE, both) on `fd`, or for nothing when
 * `events` is 0 (then it is stopped and `fd` is not looked at). Nothing happens when `w`
 * already waits for exactly that.
 */
void io_watch(struct ev_loop *loop, ev_io *w, int fd, int events);

#endif /* LLMPROXY_IO_WATCH_H */
