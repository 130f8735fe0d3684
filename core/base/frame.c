/* frame: see frame.h. */
#include "base/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "base/error.h"

#define READ_CHUNK (64 * 1024)   /* what a reader asks read(2) for at least */


void
vg_frame_put_len(uint8_t *h, size_t n)
{
    h[0] = (uint8_t)(n >> 24);
    h[1] = (uint8_t)(n >> 16);
    h[2] = (uint8_t)(n >> 8);
    h[3] = (uint8_t)n;
}


size_t
vg_frame_len(const uint8_t *h)
{
    return (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
}


size_t
vg_frame_begin(vg_buf *out)
{
    static const uint8_t zero[VG_FRAME_HDR] = { 0 };
    size_t at = out->len;
    vg_buf_append(out, zero, sizeof zero);
    return at;
}


int
vg_frame_end(vg_buf *out, size_t at, size_t extra)
{
    size_t n = out->len - at - VG_FRAME_HDR + extra;
    if (n > VG_FRAME_MAX) {
        out->len = at;
        return VG_E_INVAL;
    }
    vg_frame_put_len((uint8_t *)out->data + at, n);
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

void
vg_frame_reader_init(vg_frame_reader *r, size_t max_payload)
{
    memset(r, 0, sizeof *r);
    r->max = max_payload ? max_payload : VG_FRAME_MAX;
}


void
vg_frame_reader_release(vg_frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}


/* Makes room for at least `want` more bytes after the held ones. */
static int
reader_room(vg_frame_reader *r, size_t want)
{
    if (r->off > 0) {   /* drop consumed frames */
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->cap - r->len >= want)
        return 0;
    size_t ncap = r->cap ? r->cap : READ_CHUNK;
    while (ncap - r->len < want)
        ncap *= 2;
    uint8_t *nb = realloc(r->buf, ncap);
    if (!nb)
        return -ENOMEM;
    r->buf = nb;
    r->cap = ncap;
    return 0;
}


/* How many more bytes the pending frame needs (at least 1 to make progress). */
static int
reader_want(vg_frame_reader *r, size_t *want)
{
    size_t have = r->len - r->off;
    if (have < VG_FRAME_HDR) {
        *want = READ_CHUNK;
        return 0;
    }
    size_t n = vg_frame_len(r->buf + r->off);
    if (n > r->max)
        return VG_E_PROTO;
    size_t total = VG_FRAME_HDR + n;
    *want = total > have ? total - have : READ_CHUNK;
    if (*want < READ_CHUNK)
        *want = READ_CHUNK;
    return 0;
}


/*
 * Before bytes are added: refuses a pending header over the maximum, and
 * makes room for *n more bytes (n NULL: what the pending frame needs).
 */
static int
reader_prepare(vg_frame_reader *r, const size_t *n)
{
    size_t want;
    int rc = reader_want(r, &want);
    if (rc != 0)
        return rc;
    return reader_room(r, n ? *n : want) != 0 ? -ENOMEM : 0;
}


ssize_t
vg_frame_reader_fill(vg_frame_reader *r, int fd)
{
    size_t want;
    int rc = reader_prepare(r, NULL);
    if (rc != 0)
        return rc;
    for (;;) {
        ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        r->len += (size_t)n;
        if (n > 0 && (rc = reader_want(r, &want)) != 0)
            return rc;
        return n;
    }
}


ssize_t
vg_frame_reader_feed(vg_frame_reader *r, const void *p, size_t n)
{
    size_t want;
    int rc = reader_prepare(r, &n);
    if (rc != 0)
        return rc;
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    if ((rc = reader_want(r, &want)) != 0)
        return rc;
    return (ssize_t)n;
}


int
vg_frame_reader_next(vg_frame_reader *r, const uint8_t **payload, size_t *len)
{
    size_t have = r->len - r->off;
    if (have < VG_FRAME_HDR)
        return 0;
    size_t n = vg_frame_len(r->buf + r->off);
    if (n > r->max)
        return VG_E_PROTO;
    if (have < VG_FRAME_HDR + n)
        return 0;
    *payload = r->buf + r->off + VG_FRAME_HDR;
    *len = n;
    r->off += VG_FRAME_HDR + n;
    return 1;
}


int
vg_frame_writev(int fd, struct iovec *iov, int n, int *at)
{
    while (*at < n) {
        if (iov[*at].iov_len == 0) {
            (*at)++;
            continue;
        }
        ssize_t k = writev(fd, iov + *at, n - *at);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        while (k > 0 && *at < n) {
            struct iovec *v = &iov[*at];
            if ((size_t)k >= v->iov_len) {
                k -= (ssize_t)v->iov_len;
                v->iov_len = 0;
                (*at)++;
            } else {
                v->iov_base = (char *)v->iov_base + k;
                v->iov_len -= (size_t)k;
                k = 0;
            }
        }
    }
    return 0;
}


int
vg_frame_flush(struct ev_loop *loop, ev_io *wio, struct iovec *iov, int n, int *at)
{
    int rc = vg_frame_writev(wio->fd, iov, n, at);
    if (rc == 0)
        ev_io_stop(loop, wio);
    else if (rc == -EAGAIN)
        ev_io_start(loop, wio);
    return rc;
}


int
vg_frame_write_all(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
    int at = 0;
    return vg_frame_writev(fd, iov, 2, &at);
}


static int
read_full(int fd, void *p, size_t n, int *eof_at_start)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            if (eof_at_start)
                *eof_at_start = got == 0;
            return -EPIPE;
        }
        got += (size_t)r;
    }
    return 0;
}


ssize_t
vg_frame_read(int fd, uint8_t **buf, size_t *cap, size_t max)
{
    uint8_t h[VG_FRAME_HDR];
    int clean = 0;
    int rc = read_full(fd, h, sizeof h, &clean);
    if (rc != 0)
        return rc == -EPIPE && !clean ? VG_E_PROTO : rc;
    size_t n = vg_frame_len(h);
    if (n > max)
        return VG_E_PROTO;
    if (n > *cap || !*buf) {
        uint8_t *nb = realloc(*buf, n ? n : 1);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = n ? n : 1;
    }
    rc = read_full(fd, *buf, n, NULL);
    if (rc != 0)
        return rc == -EPIPE ? VG_E_PROTO : rc;
    return (ssize_t)n;
}
