/* chan: see chan.h. */
#include "store/chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "base/clock.h"
#include "base/buf.h"
#include "base/child.h"
#include "store/db.h"
#include "base/frame.h"
#include "base/log.h"
#include "base/mpk.h"

#define CHILD_FD 3
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 10.0

typedef struct pending {
    vg_chan_cb cb;
    void *ud;
    struct pending *next;
} pending;

struct vg_chan {
    struct ev_loop *loop;
    vg_chan_options o;
    char name[32];
    int fd;                        /* -1 while no child runs */
    pid_t pid;                     /* 0 when reaped */
    int hello;                     /* the child's hello arrived */
    int use_cw;                    /* on the default loop: ev_child reaps */
    ev_io rio, wio;
    ev_child cw;
    ev_timer respawn;
    vg_frame_reader rd;
    vg_buf out;                    /* frames not yet written */
    size_t out_off;
    pending *head, *tail;
    size_t npending;
    double backoff;
    unsigned restarts;
};

static int spawn(vg_chan *c);



int
vg_chan_child_setup(int fd, const char *process_name)
{
    /* the master decides when we stop: it closes the socket */
    static const int ignored[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, 0 };
    vg_child_reset_signals(ignored);

    int s = fcntl(fd, F_DUPFD, 10);
    if (s < 0 || dup2(s, CHILD_FD) < 0)
        return -1;
    int fl = fcntl(CHILD_FD, F_GETFD);
    fcntl(CHILD_FD, F_SETFD, fl & ~FD_CLOEXEC);
    if (close_range(CHILD_FD + 1, ~0u, 0) != 0) {
        for (int i = CHILD_FD + 1; i < 65536; i++)
            close(i);
    }
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 2)
            close(null);
    }
    struct rlimit core = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &core);
    vg_log_set_fd(2);
    vg_log_set_blocking(1);
    vg_log_set_process(process_name);
    char comm[16];
    snprintf(comm, sizeof comm, "vg:%s", process_name);
    (void)prctl(PR_SET_NAME, comm);
    return CHILD_FD;
}

/* ---- master side -------------------------------------------------------- */

static void
fail_all(vg_chan *c, int status)
{
    pending *p = c->head;
    c->head = c->tail = NULL;
    c->npending = 0;
    while (p) {
        pending *next = p->next;
        p->cb(status, NULL, 0, p->ud);
        free(p);
        p = next;
    }
}


static void
reap(vg_chan *c, int block)
{
    if (!c->pid || c->use_cw)
        return;
    int st;
    if (waitpid(c->pid, &st, block ? 0 : WNOHANG) == c->pid)
        c->pid = 0;
}


static void
child_lost(vg_chan *c, const char *why)
{
    if (c->fd < 0)
        return;
    vg_warn(c->name, "process %d lost (%s); %zu call(s) failed; restarting in %.1fs", (int)c->pid, why,
            c->npending, c->backoff);
    ev_io_stop(c->loop, &c->rio);
    ev_io_stop(c->loop, &c->wio);
    close(c->fd);
    c->fd = -1;
    if (c->pid && !c->use_cw) {
        kill(c->pid, SIGKILL);
        reap(c, 1);
    }
    vg_frame_reader_release(&c->rd);
    c->out.len = 0;
    c->out_off = 0;
    ev_timer_set(&c->respawn, c->backoff, 0);
    ev_timer_start(c->loop, &c->respawn);
    c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2;
    fail_all(c, VG_E_STORE_DOWN);
}


static int
on_hello(vg_chan *c, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    vg_mpr r;
    uint32_t cnt;
    int64_t code = VG_E_STORE_PROTO;
    vg_str msg = { "malformed hello", 15 };
    vg_mpr_init(&r, p, n);
    if (vg_mpr_array(&r, &cnt) == 0 && cnt >= 1 && vg_mpr_i64(&r, &code) == 0 && cnt >= 2)
        vg_mpr_str(&r, &msg);
    c->hello = 1;
    if (code == 0) {
        c->backoff = BACKOFF_MIN;
        return 0;
    }
    snprintf(err, errlen, "%.*s", (int)msg.n, msg.p);
    return -1;
}


/* Hands a frame to the oldest pending call (there is one), which is then done. */
static void
answer(vg_chan *c, const uint8_t *p, size_t n)
{
    pending *q = c->head;
    c->head = q->next;
    if (!c->head)
        c->tail = NULL;
    c->npending--;
    q->cb(0, p, n, q->ud);
    free(q);
}


static void
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    vg_chan *c = w->data;
    (void)loop;
    (void)revents;
    for (;;) {
        ssize_t r = vg_frame_reader_fill(&c->rd, c->fd);
        if (r == -EAGAIN)
            break;
        if (r <= 0) {
            child_lost(c, r == 0 ? "exited" : "read error");
            return;
        }
        const uint8_t *p;
        size_t n;
        int got;
        while ((got = vg_frame_reader_next(&c->rd, &p, &n)) == 1) {
            if (!c->hello) {
                char err[256];
                if (on_hello(c, p, n, err, sizeof err) != 0)
                    vg_error(c->name, "cannot start: %s", err);
                continue;
            }
            if (!c->head) {
                child_lost(c, "an answer nobody asked for");
                return;
            }
            answer(c, p, n);
            if (c->fd < 0)
                return;
        }
        if (got < 0) {
            child_lost(c, "oversized frame");
            return;
        }
    }
}


static void
flush_out(vg_chan *c)
{
    struct iovec v = { 0 };
    int at = 0;
    if (c->out_off < c->out.len)
        v = (struct iovec){ c->out.data + c->out_off, c->out.len - c->out_off };
    int rc = vg_frame_flush(c->loop, &c->wio, &v, 1, &at);
    if (rc != 0) {
        c->out_off = c->out.len - v.iov_len;
        if (rc != -EAGAIN)
            child_lost(c, "write error");
        return;
    }
    c->out.len = c->out_off = 0;
    if (c->out.cap > (1u << 20)) {
        vg_buf_release(&c->out);   /* don't keep a large image's buffer around */
    }
}


static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    flush_out(w->data);
}


static void
on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    vg_chan *c = w->data;
    (void)revents;
    ev_child_stop(loop, w);
    int st = w->rstatus;
    c->pid = 0;
    if (c->fd >= 0) {
        char why[64];
        if (WIFSIGNALED(st))
            snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(st));
        else
            snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(st));
        child_lost(c, why);
    }
}


static void
on_respawn(struct ev_loop *loop, ev_timer *t, int revents)
{
    vg_chan *c = t->data;
    (void)loop;
    (void)revents;
    if (spawn(c) != 0) {
        ev_timer_set(&c->respawn, c->backoff, 0);
        ev_timer_start(c->loop, &c->respawn);
    } else {
        c->restarts++;
    }
}


static int
spawn(vg_chan *c)
{
    int fd;
    pid_t pid = vg_child_fork(&fd, 1 << 20);
    if (pid < 0)
        return (int)pid;
    if (pid == 0) {
        c->o.child(fd, c->o.arg);   /* never returns */
        _exit(1);
    }
    c->pid = pid;
    c->fd = fd;
    c->hello = 0;
    vg_frame_reader_init(&c->rd, c->o.max_frame);
    ev_io_init(&c->rio, on_readable, c->fd, EV_READ);
    ev_io_init(&c->wio, on_writable, c->fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    ev_io_start(c->loop, &c->rio);
    if (c->use_cw) {
        ev_child_init(&c->cw, on_child, pid, 0);
        c->cw.data = c;
        ev_child_start(c->loop, &c->cw);
    }
    vg_debug(c->name, "process %d forked", (int)pid);
    return 0;
}


int
vg_chan_create(struct ev_loop *loop, const vg_chan_options *o, vg_chan **out, char *err, size_t errlen)
{
    vg_chan *c = vg_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->o = *o;
    if (!c->o.max_pending)
        c->o.max_pending = 4096;
    if (!c->o.max_frame)
        c->o.max_frame = 1 << 20;
    snprintf(c->name, sizeof c->name, "%s", o->name ? o->name : "child");
    c->fd = -1;
    c->backoff = BACKOFF_MIN;
    c->use_cw = ev_is_default_loop(loop);
    ev_timer_init(&c->respawn, on_respawn, 0, 0);
    c->respawn.data = c;
    vg_buf_init(&c->out);
    int rc = spawn(c);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the %s process: %s", c->name, strerror(-rc));
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}


int
vg_chan_wait_hello(vg_chan *c, double timeout, char *err, size_t errlen)
{
    double end = vg_mono_s() + timeout;
    while (!c->hello) {
        if (c->fd < 0) {
            snprintf(err, errlen, "the %s process died while starting", c->name);
            return -1;
        }
        int ms = (int)((end - vg_mono_s()) * 1000);
        if (ms <= 0) {
            snprintf(err, errlen, "the %s process did not start within %.0f s", c->name, timeout);
            return -1;
        }
        struct pollfd p = { c->fd, POLLIN, 0 };
        if (poll(&p, 1, ms) <= 0)
            continue;
        ssize_t r = vg_frame_reader_fill(&c->rd, c->fd);
        if (r == -EAGAIN)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "the %s process exited while starting (see its log lines)", c->name);
            return -1;
        }
        const uint8_t *pl;
        size_t n;
        if (vg_frame_reader_next(&c->rd, &pl, &n) == 1 && on_hello(c, pl, n, err, errlen) != 0)
            return -1;
    }
    return 0;
}


int
vg_chan_call(vg_chan *c, const void *payload, size_t n, const void *tail, size_t tail_n,
             vg_chan_cb cb, void *ud)
{
    if (c->fd < 0)
        return VG_E_STORE_DOWN;
    if (c->npending >= c->o.max_pending)
        return VG_E_STORE_BUSY;
    size_t total = n + tail_n;
    if (total > VG_FRAME_MAX)
        return VG_E_INVALID;
    uint8_t h[VG_FRAME_HDR];
    vg_frame_put_len(h, total);
    vg_buf_append(&c->out, h, 4);
    vg_buf_append(&c->out, payload, n);
    if (tail_n)
        vg_buf_append(&c->out, tail, tail_n);
    pending *p = vg_xmalloc(sizeof *p);
    p->cb = cb;
    p->ud = ud;
    p->next = NULL;
    if (c->tail)
        c->tail->next = p;
    else
        c->head = p;
    c->tail = p;
    c->npending++;
    /* written from the loop: callbacks never run inside a call, and writes batch up */
    ev_io_start(c->loop, &c->wio);
    return 0;
}


size_t
vg_chan_pending(const vg_chan *c)
{
    return c->npending;
}


int
vg_chan_pid(const vg_chan *c)
{
    return c->fd >= 0 ? (int)c->pid : 0;
}


unsigned
vg_chan_restarts(const vg_chan *c)
{
    return c->restarts;
}


void
vg_chan_destroy(vg_chan *c, double timeout)
{
    if (!c)
        return;
    ev_timer_stop(c->loop, &c->respawn);
    if (c->fd >= 0) {
        /* hand over what is queued, then let the child finish and exit */
        int fl = fcntl(c->fd, F_GETFL);
        fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
        if (c->out_off < c->out.len)
            (void)vg_frame_write_all(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, NULL, 0);
        shutdown(c->fd, SHUT_WR);
        ev_io_stop(c->loop, &c->rio);
        ev_io_stop(c->loop, &c->wio);
        /* answers still come: deliver them so acknowledged work is reported */
        double end = vg_mono_s() + timeout;
        while (c->npending > 0) {
            int ms = (int)((end - vg_mono_s()) * 1000);
            struct pollfd p = { c->fd, POLLIN, 0 };
            if (ms <= 0 || poll(&p, 1, ms) <= 0)
                break;
            fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
            ssize_t r = vg_frame_reader_fill(&c->rd, c->fd);
            if (r == 0 || (r < 0 && r != -EAGAIN))
                break;
            const uint8_t *pl;
            size_t n;
            while (c->head && vg_frame_reader_next(&c->rd, &pl, &n) == 1) {
                if (!c->hello) {
                    c->hello = 1;
                    continue;
                }
                answer(c, pl, n);
            }
        }
        close(c->fd);
        c->fd = -1;
        if (c->use_cw && c->pid)
            ev_child_stop(c->loop, &c->cw);
        while (c->pid) {
            int st;
            pid_t r = waitpid(c->pid, &st, WNOHANG);
            if (r == c->pid || (r < 0 && errno == ECHILD)) {
                c->pid = 0;
                break;
            }
            if (vg_mono_s() > end) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &st, 0);
                c->pid = 0;
                break;
            }
            struct timespec ts = { 0, 5 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    fail_all(c, VG_E_STORE_DOWN);
    vg_frame_reader_release(&c->rd);
    vg_buf_release(&c->out);
    free(c);
}
