/* conn: see conn.h. */
#include "net/conn.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"

#define LINGER_SECONDS 2.0
#define IOV_BATCH 32

/* One queued piece of output: memory, or a range of a file. */
typedef struct vg_seg {
    const char *p;
    size_t len;
    int fd;                     /* >= 0: a file segment, p unused */
    off_t off;
    void (*release)(void *ud);  /* called once the segment is written or dropped */
    void *ud;
} vg_seg;

struct vg_conn {
    vg_conns *set;
    int fd;
    const vg_transport *tp;
    void *tp_ctx;                       /* transport state (TLS) */
    const vg_proto *proto;
    void *proto_ctx;                    /* protocol state */
    ev_io rio, wio;
    ev_timer timer;
    ev_tstamp read_deadline;            /* 0: none */
    ev_tstamp last_write;               /* last progress writing */
    vg_seg segs[VG_CONN_MAX_SEGS];      /* ring of queued output */
    unsigned seg_head, seg_count;
    size_t out_bytes;                   /* bytes queued */
    uint64_t bytes_in, bytes_out;
    unsigned closing : 1;               /* vg_conn_close has run */
    unsigned lingering : 1;             /* output done, discarding input before close */
    unsigned close_after_flush : 1;
    unsigned reading : 1;               /* read watcher wanted */
    unsigned eof_only : 1;              /* watching only for the peer leaving */
    unsigned in_flush : 1;
    char peer[64];                      /* "ip:port" for logs */
    vg_link link;                       /* in the set's open list, then its close queue */
};

struct vg_conns {
    struct ev_loop *loop;
    double write_timeout;
    vg_series *bytes_in, *bytes_out;    /* may be NULL */
    vg_list open;                       /* open connections */
    vg_list closed;                     /* closed, freed by vg_conns_reap */
    char scratch[VG_CONN_READ_CHUNK];   /* read buffer shared by all connections */
};

static ssize_t
plain_read(vg_conn *c, void *buf, size_t n)
{
    return recv(c->fd, buf, n, 0);
}


static ssize_t
plain_writev(vg_conn *c, const struct iovec *iov, int n, int more)
{
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)n;
    return sendmsg(c->fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}


static ssize_t
plain_sendfile(vg_conn *c, int fd, off_t *off, size_t n)
{
    return sendfile(c->fd, fd, off, n);
}


static void
plain_close(vg_conn *c)
{
    (void)c;
}


static const vg_transport plain_transport = {
    "tcp", plain_read, plain_writev, plain_sendfile, plain_close, NULL
};

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);


vg_conns *
vg_conns_create(struct ev_loop *loop, double write_timeout, vg_series *bytes_in, vg_series *bytes_out)
{
    vg_conns *set = vg_xcalloc(1, sizeof *set);
    set->loop = loop;
    set->write_timeout = write_timeout;
    set->bytes_in = bytes_in;
    set->bytes_out = bytes_out;
    return set;
}


void
vg_conns_set_write_timeout(vg_conns *set, double seconds)
{
    set->write_timeout = seconds;
}


int
vg_conns_count(const vg_conns *set)
{
    return (int)set->open.n;
}


void
vg_conns_reap(vg_conns *set)
{
    vg_list_each_safe(c, next, &set->closed, vg_conn, link) {
        vg_list_remove(&set->closed, &c->link);
        free(c);
    }
}


void
vg_conns_shutdown(vg_conns *set)
{
    /* idle keep-alive connections go now, busy ones after their response; WebSockets get a close */
    vg_list_each_safe(c, next, &set->open, vg_conn, link)
        if (c->proto->on_shutdown)
            c->proto->on_shutdown(c);
}


void
vg_conns_close_all(vg_conns *set, const char *why)
{
    while (!vg_list_empty(&set->open))
        vg_conn_close(vg_list_first(&set->open, vg_conn, link), why);
}


void
vg_conns_destroy(vg_conns *set)
{
    if (!set)
        return;
    vg_conns_close_all(set, "shutdown");
    vg_conns_reap(set);
    free(set);
}


vg_conn *
vg_conn_create(vg_conns *set, int fd, const char *peer, const vg_proto *proto, void *proto_ctx)
{
    vg_conn *c = vg_xcalloc(1, sizeof *c);
    c->set = set;
    c->fd = fd;
    c->tp = &plain_transport;
    c->proto = proto;
    c->proto_ctx = proto_ctx;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    ev_io_init(&c->rio, on_io, fd, EV_READ);
    ev_io_init(&c->wio, on_io, fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    ev_init(&c->timer, on_timer);
    c->timer.data = c;
    c->last_write = ev_now(set->loop);
    vg_list_push_front(&set->open, &c->link);
    vg_conn_read_start(c);
    return c;
}


const char *vg_conn_peer(const vg_conn *c) { return c->peer; }
struct ev_loop *vg_conn_loop(const vg_conn *c) { return c->set->loop; }
void *vg_conn_proto_ctx(const vg_conn *c) { return c->proto_ctx; }
int vg_conn_is_closing(const vg_conn *c) { return c->closing; }
int vg_conn_closes_after_flush(const vg_conn *c) { return c->closing || c->close_after_flush; }
const vg_proto *vg_conn_proto(const vg_conn *c) { return c->proto; }
void *vg_conn_transport_ctx(const vg_conn *c) { return c->tp_ctx; }
int vg_conn_fd(const vg_conn *c) { return c->fd; }


void
vg_conn_set_transport(vg_conn *c, const vg_transport *tp, void *tp_ctx)
{
    c->tp = tp;
    c->tp_ctx = tp_ctx;
}


/* Starts one of the connection's watchers unless it runs or the connection is closing. */
static void
watch(vg_conn *c, ev_io *w)
{
    if (!c->closing && !ev_is_active(w))
        ev_io_start(c->set->loop, w);
}


void
vg_conn_want_write(vg_conn *c)
{
    watch(c, &c->wio);
}


void
vg_conn_watch_eof(vg_conn *c)
{
    c->reading = 1;
    c->eof_only = 1;
    watch(c, &c->rio);
}


void
vg_conn_read_start(vg_conn *c)
{
    c->eof_only = 0;
    c->reading = 1;
    watch(c, &c->rio);
    /* bytes a TLS layer already holds will not make the socket readable again */
    if (!c->closing && c->tp->pending && c->tp->pending(c) > 0)
        ev_feed_event(c->set->loop, &c->rio, EV_READ);
}


void
vg_conn_read_stop(vg_conn *c)
{
    c->reading = 0;
    c->eof_only = 0;
    if (ev_is_active(&c->rio))
        ev_io_stop(c->set->loop, &c->rio);
}


/* Arms the one timer for the earliest of the read deadline and the write stall limit. */
static void
timer_update(vg_conn *c)
{
    if (c->closing)
        return;
    ev_timer_stop(c->set->loop, &c->timer);   /* ev_timer_set on an active timer is undefined */
    ev_tstamp at = c->read_deadline;
    if (c->seg_count > 0) {
        ev_tstamp w = c->last_write + c->set->write_timeout;
        if (at == 0 || w < at)
            at = w;
    }
    if (at == 0)
        return;
    ev_tstamp after = at - ev_now(c->set->loop);
    ev_timer_set(&c->timer, after > 0 ? after : 0.0001, 0.);
    ev_timer_start(c->set->loop, &c->timer);
}


void
vg_conn_set_read_deadline(vg_conn *c, ev_tstamp at)
{
    c->read_deadline = at;
    timer_update(c);
}


static void
seg_release(vg_seg *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->release)
        s->release(s->ud);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}


static vg_seg *
seg_push(vg_conn *c)
{
    if (c->seg_count == VG_CONN_MAX_SEGS || c->closing)
        return NULL;
    vg_seg *s = &c->segs[(c->seg_head + c->seg_count) % VG_CONN_MAX_SEGS];
    c->seg_count++;
    if (c->seg_count == 1)
        c->last_write = ev_now(c->set->loop);
    return s;
}


int
vg_conn_write(vg_conn *c, const char *p, size_t len, void (*release)(void *), void *ud)
{
    vg_seg *s = seg_push(c);
    if (!s) {
        if (release)
            release(ud);
        return -1;
    }
    s->p = p;
    s->len = len;
    s->fd = -1;
    s->off = 0;
    s->release = release;
    s->ud = ud;
    c->out_bytes += len;
    return 0;
}


int
vg_conn_write_copy(vg_conn *c, const void *p, size_t len)
{
    char *copy = vg_xmalloc(len);
    memcpy(copy, p, len);
    return vg_conn_write(c, copy, len, free, copy);
}


int
vg_conn_write_file(vg_conn *c, int fd, off_t off, size_t len)
{
    vg_seg *s = seg_push(c);
    if (!s) {
        close(fd);
        return -1;
    }
    s->p = NULL;
    s->len = len;
    s->fd = fd;
    s->off = off;
    s->release = NULL;
    s->ud = NULL;
    c->out_bytes += len;
    return 0;
}


int
vg_conn_has_output(const vg_conn *c)
{
    return c->seg_count > 0;
}


static void
count_out(vg_conn *c, size_t n)
{
    c->bytes_out += n;
    c->last_write = ev_now(c->set->loop);
    if (c->set->bytes_out)
        vg_series_add(c->set->bytes_out, (double)n);
}


/* Pops written segments. */
static void
advance(vg_conn *c, size_t n)
{
    while (n > 0 && c->seg_count > 0) {
        vg_seg *s = &c->segs[c->seg_head];
        size_t take = n < s->len ? n : s->len;
        if (s->fd < 0)
            s->p += take;
        else
            s->off += (off_t)take;
        s->len -= take;
        n -= take;
        if (s->len == 0) {
            seg_release(s);
            c->seg_head = (c->seg_head + 1) % VG_CONN_MAX_SEGS;
            c->seg_count--;
        }
    }
    /* zero-length segments at the front are done too */
    while (c->seg_count > 0 && c->segs[c->seg_head].len == 0) {
        seg_release(&c->segs[c->seg_head]);
        c->seg_head = (c->seg_head + 1) % VG_CONN_MAX_SEGS;
        c->seg_count--;
    }
}


/* Writes a file segment through a transport without sendfile. */
static ssize_t
copy_file_out(vg_conn *c, vg_seg *s)
{
    char buf[16384];
    size_t want = s->len < sizeof buf ? s->len : sizeof buf;
    ssize_t r = pread(s->fd, buf, want, s->off);
    if (r <= 0) {
        errno = r == 0 ? EIO : errno;
        return -1;
    }
    struct iovec iov = { buf, (size_t)r };
    return c->tp->writev(c, &iov, 1, 0);
}


static void finish_drained(vg_conn *c);

void
vg_conn_flush(vg_conn *c)
{
    if (c->closing || c->in_flush)
        return;
    c->in_flush = 1;
    while (c->seg_count > 0) {
        vg_seg *front = &c->segs[c->seg_head];
        ssize_t w;
        if (front->fd >= 0) {
            if (c->tp->sendfile) {
                off_t off = front->off;
                w = c->tp->sendfile(c, front->fd, &off, front->len);
            } else {
                w = copy_file_out(c, front);
            }
            if (w == 0) {
                /* the file shrank after its length was announced: the answer cannot be completed */
                errno = EIO;
                w = -1;
            }
        } else {
            struct iovec iov[IOV_BATCH];
            int n = 0, file_next = 0;
            for (unsigned i = 0; i < c->seg_count && n < IOV_BATCH; i++) {
                vg_seg *s = &c->segs[(c->seg_head + i) % VG_CONN_MAX_SEGS];
                if (s->fd >= 0) {
                    file_next = 1;
                    break;
                }
                iov[n].iov_base = (void *)s->p;
                iov[n].iov_len = s->len;
                n++;
            }
            w = c->tp->writev(c, iov, n, file_next);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(c, &c->wio);
                timer_update(c);
                c->in_flush = 0;
                return;
            }
            c->in_flush = 0;
            vg_conn_close(c, errno == EPIPE || errno == ECONNRESET ? "peer reset" : "write failed");
            return;
        }
        count_out(c, (size_t)w);
        c->out_bytes -= (size_t)w;
        advance(c, (size_t)w);
    }
    if (ev_is_active(&c->wio))
        ev_io_stop(c->set->loop, &c->wio);
    c->in_flush = 0;
    timer_update(c);
    finish_drained(c);
}


static void
finish_drained(vg_conn *c)
{
    if (c->close_after_flush) {
        if (!c->lingering) {
            /*
             * Half-close and keep reading for a moment: closing a socket
             * with unread input sends RST, which can destroy the response
             * before the client has read it.
             */
            c->lingering = 1;
            shutdown(c->fd, SHUT_WR);
            vg_conn_read_start(c);
            vg_conn_set_read_deadline(c, ev_now(c->set->loop) + LINGER_SECONDS);
        }
        return;
    }
    if (c->proto->on_drained)
        c->proto->on_drained(c);
}


void
vg_conn_close_after_flush(vg_conn *c)
{
    c->close_after_flush = 1;
    if (c->seg_count == 0 && !c->in_flush)
        finish_drained(c);
}


/* Only watching for the peer to go away: look without consuming. */
static void
peek_eof(vg_conn *c)
{
    char b;
    ssize_t r = recv(c->fd, &b, 1, MSG_PEEK);
    if (r > 0) {
        /* pipelined bytes: they wait in the kernel until the protocol reads again */
        vg_conn_read_stop(c);
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    vg_conn_close(c, r == 0 ? "peer left" : "peer reset");
}


/*
 * The peer's EOF or the read deadline: a lingering connection is done;
 * otherwise the protocol's handler decides, or the connection closes.
 */
static void
reading_over(vg_conn *c, void (*handler)(vg_conn *c), const char *linger_why, const char *why)
{
    if (c->lingering)
        vg_conn_close(c, linger_why);
    else if (handler)
        handler(c);
    else
        vg_conn_close(c, why);
}


static void
on_readable(vg_conn *c)
{
    char *buf = c->set->scratch;
    if (c->eof_only) {
        peek_eof(c);
        return;
    }
    /* bounded: at most a few reads per wakeup so one client cannot starve others */
    for (int round = 0; round < 4 && c->reading && !c->closing; round++) {
        ssize_t r = c->tp->read(c, buf, VG_CONN_READ_CHUNK);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                vg_conn_close(c, "read failed");
            return;
        }
        if (r == 0) {
            reading_over(c, c->proto->on_eof, "linger done", "eof");
            return;
        }
        c->bytes_in += (uint64_t)r;
        if (c->set->bytes_in)
            vg_series_add(c->set->bytes_in, (double)r);
        if (c->lingering)
            continue;
        c->proto->on_read(c, buf, (size_t)r);
        if ((size_t)r < VG_CONN_READ_CHUNK && !(c->tp->pending && c->tp->pending(c) > 0))
            return;
    }
}


ssize_t
vg_conn_send_direct(vg_conn *c, const void *p, size_t n)
{
    if (c->closing) {
        errno = EPIPE;
        return -1;
    }
    if (c->seg_count > 0) {
        vg_conn_flush(c);
        if (c->closing || c->seg_count > 0) {
            errno = c->closing ? EPIPE : EAGAIN;
            return -1;
        }
    }
    struct iovec iov = { (void *)p, n };
    ssize_t w;
    do
        w = c->tp->writev(c, &iov, 1, 0);
    while (w < 0 && errno == EINTR);
    if (w >= 0) {
        count_out(c, (size_t)w);
        return w;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        errno = EAGAIN;
        watch(c, &c->wio);
    }
    return -1;
}


void
vg_conn_set_proto(vg_conn *c, const vg_proto *proto, void *proto_ctx)
{
    c->proto = proto;
    c->proto_ctx = proto_ctx;
}


static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    vg_conn *c = w->data;
    if ((revents & EV_WRITE) && c->seg_count == 0) {
        ev_io_stop(loop, &c->wio);
        if (c->tp->pending)
            revents |= EV_READ;   /* a TLS handshake that wanted to write: carry on reading */
        if (c->proto->on_writable)
            c->proto->on_writable(c);
        revents &= ~EV_WRITE;
    }
    if (revents & EV_WRITE)
        vg_conn_flush(c);
    if ((revents & EV_READ) && !c->closing)
        on_readable(c);
}


static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    vg_conn *c = w->data;
    ev_tstamp now = ev_now(loop);
    if (c->seg_count > 0 && now - c->last_write >= c->set->write_timeout) {
        vg_warn("conn", "%s: no write progress for %gs, closing", c->peer, c->set->write_timeout);
        vg_conn_close(c, "write timeout");
        return;
    }
    if (c->read_deadline != 0 && now >= c->read_deadline) {
        c->read_deadline = 0;
        reading_over(c, c->proto->on_timeout, "linger timeout", "timeout");
        return;
    }
    timer_update(c);
}


void
vg_conn_close(vg_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = 1;
    vg_debug("conn", "%s: closed (%s)", c->peer, why);
    struct ev_loop *loop = c->set->loop;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
    if (c->proto->on_close)
        c->proto->on_close(c);
    while (c->seg_count > 0) {
        seg_release(&c->segs[c->seg_head]);
        c->seg_head = (c->seg_head + 1) % VG_CONN_MAX_SEGS;
        c->seg_count--;
    }
    c->tp->close(c);
    close(c->fd);
    c->fd = -1;
    /* out of the open list, into the close queue: freed from the prepare phase */
    vg_list_remove(&c->set->open, &c->link);
    vg_list_push_front(&c->set->closed, &c->link);
}
