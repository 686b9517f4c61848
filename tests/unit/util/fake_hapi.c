#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_hapi.h"

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fake_hapi *f = w->data;
    const char *reply;
    ssize_t r;

    (void)revents;
    r = read(w->fd, f->got + f->got_len, sizeof(f->got) - 1 - f->got_len);
    if (r > 0)
        f->got_len += (size_t)r;
    f->got[f->got_len] = '\0';
    if (r > 0 && !memchr(f->got + f->line_start, '\n', f->got_len - f->line_start))
        return;
    if (f->mode == FAKE_HAPI_SILENT && r > 0)
        return;
    reply = f->connections <= FAKE_HAPI_REPLIES && f->reply[f->connections - 1]
                ? f->reply[f->connections - 1]
                : f->reply[0];
    if (r > 0 && reply)
        ck_assert_int_eq(write(w->fd, reply, strlen(reply)), (ssize_t)strlen(reply));
    ev_io_stop(loop, w);
    close(w->fd);
    f->cfd = -1;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fake_hapi *f = w->data;

    (void)revents;
    f->cfd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(f->cfd, 0);
    f->connections++;
    f->line_start = f->got_len;
    ev_io_init(&f->conn_w, on_conn, f->cfd, EV_READ);
    f->conn_w.data = f;
    ev_io_start(loop, &f->conn_w);
}

void fake_hapi_init(struct fake_hapi *f, struct ev_loop *loop)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    strcpy(f->dir, "/tmp/check_hapi.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/haproxy.sock", f->dir);
    f->lfd = f->cfd = -1;
}

void fake_hapi_listen(struct fake_hapi *f)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(f->lfd, 0);
    strcpy(sa.sun_path, f->path);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f->lfd, 8), 0);
    ev_io_init(&f->accept_w, on_accept, f->lfd, EV_READ);
    f->accept_w.data = f;
    ev_io_start(f->loop, &f->accept_w);
}

void fake_hapi_free(struct fake_hapi *f)
{
    if (f->cfd >= 0) {
        ev_io_stop(f->loop, &f->conn_w);
        close(f->cfd);
    }
    if (f->lfd >= 0) {
        ev_io_stop(f->loop, &f->accept_w);
        close(f->lfd);
    }
    unlink(f->path);
    rmdir(f->dir);
}
