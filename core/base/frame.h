/*
 * frame: length-prefixed messages over a byte stream (a socketpair to a
 * child process): a 4-byte big-endian payload length, then the payload.
 * The worker protocol (pool/ipc.h) and the store and hasher channels
 * (store/chan.h) are made of these frames; what a payload holds is theirs.
 *
 * Building: vg_frame_begin() reserves a header in a buffer, the caller
 * appends the payload, vg_frame_end() writes the length. A payload may
 * end with bytes kept out of the buffer (an image): the header counts
 * them and the caller writes them right after (vg_frame_writev).
 *
 * Writing: vg_frame_writev() goes on where a full non-blocking fd stopped
 * it; vg_frame_flush() does the same on a libev loop, minding the fd's
 * EV_WRITE watcher (the pool's workers, the store channels).
 *
 * Reading: a vg_frame_reader accumulates what a non-blocking fd gives and
 * cuts whole frames (the master's loops); vg_frame_read() reads one frame
 * from a blocking fd (children). Every length is checked against the
 * reader's maximum before anything is allocated for it: a header over it
 * is VG_E_PROTO, never a large allocation.
 */
#ifndef VG_FRAME_H
#define VG_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/buf.h"

struct ev_loop;
struct ev_io;

#define VG_FRAME_HDR 4                 /* header bytes */
#define VG_FRAME_MAX (96u << 20)       /* default largest payload */

/* Writes / reads a header: the payload length n, big-endian. */
void vg_frame_put_len(uint8_t *h, size_t n);
size_t vg_frame_len(const uint8_t *h);

/* Appends a header to be filled by vg_frame_end(); returns where the frame starts. */
size_t vg_frame_begin(vg_buf *out);
/*
 * Fills the header of the frame begun at `at`: its payload is what was
 * appended since, plus `extra` bytes the caller sends after it. When that
 * exceeds VG_FRAME_MAX, drops the frame (out->len = at) and fails with
 * VG_E_INVAL.
 */
int vg_frame_end(vg_buf *out, size_t at, size_t extra);

/* Accumulates bytes from a stream and cuts frames. */
typedef struct vg_frame_reader {
    uint8_t *buf;
    size_t len;                    /* bytes held */
    size_t off;                    /* start of the first unconsumed frame */
    size_t cap;
    size_t max;                    /* largest payload accepted */
} vg_frame_reader;

/* An empty reader taking payloads up to max_payload bytes (0: VG_FRAME_MAX). */
void vg_frame_reader_init(vg_frame_reader *r, size_t max_payload);
/* Frees the buffer; the reader is empty again (init need not be repeated). */
void vg_frame_reader_release(vg_frame_reader *r);
/*
 * One read(2) from fd into the buffer (grown as a pending frame needs, up
 * to the maximum). Returns the bytes read (> 0), 0 at end of stream,
 * -EAGAIN, VG_E_PROTO (a frame header over the maximum), -ENOMEM or
 * -errno. Frames returned by vg_frame_reader_next() stay valid until the
 * next fill or feed.
 */
ssize_t vg_frame_reader_fill(vg_frame_reader *r, int fd);
/* Feeds bytes that arrived some other way (tests, fuzzing): n, VG_E_PROTO or -ENOMEM. */
ssize_t vg_frame_reader_feed(vg_frame_reader *r, const void *p, size_t n);
/* 1 and the next complete payload, 0 when none is complete, VG_E_PROTO (header over the maximum). */
int vg_frame_reader_next(vg_frame_reader *r, const uint8_t **payload, size_t *len);

/*
 * Reads one frame from a blocking fd into *buf (reallocated as needed, at
 * most `max` bytes of payload). Returns the payload length (>= 0), -EPIPE
 * at a clean end of stream between frames, VG_E_PROTO (over the maximum,
 * or the stream ends inside a frame), -ENOMEM or -errno.
 */
ssize_t vg_frame_read(int fd, uint8_t **buf, size_t *cap, size_t max);

/*
 * Writes iov[*at .. n) to fd, retrying EINTR, until all is written or the
 * fd would block. Advances *at past each iovec written and trims a partly
 * written one, so a later call goes on where this one stopped. Returns 0
 * (all written), -EAGAIN (a non-blocking fd is full: wait for EV_WRITE) or
 * -errno.
 */
int vg_frame_writev(int fd, struct iovec *iov, int n, int *at);
/*
 * vg_frame_writev() for a non-blocking fd on a libev loop, `wio` being the
 * fd's EV_WRITE watcher: while the fd is full, wio is started (its callback
 * calls this again to go on); once all is written, wio is stopped. An error
 * leaves wio as it is: the caller drops the peer, which stops its watchers.
 * Returns what vg_frame_writev() returns: 0, -EAGAIN or -errno.
 */
int vg_frame_flush(struct ev_loop *loop, struct ev_io *wio, struct iovec *iov, int n, int *at);
/* Writes all of a then b (either may be empty) to a blocking fd: 0 or -errno. */
int vg_frame_write_all(int fd, const void *a, size_t alen, const void *b, size_t blen);

#endif
