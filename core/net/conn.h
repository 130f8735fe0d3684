/*
 * conn: one client connection on the reactor: a socket behind a transport
 * (plain TCP now, TLS later), a read watcher feeding a protocol (HTTP, and
 * WebSocket after an upgrade), an output queue written with writev and
 * sendfile, and one timer for read deadlines and write stalls.
 *
 * Lifetime: created by the server on accept; vg_conn_close() stops
 * everything at once and hands the struct to the server's close queue,
 * which frees it from the loop's prepare phase, so closing from inside a
 * callback is always safe. A protocol's on_close runs exactly once.
 */
#ifndef VG_CONN_H
#define VG_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <ev.h>

#define VG_CONN_MAX_SEGS 16     /* output segments queued at once */

typedef struct vg_conn vg_conn;
struct vg_server;

typedef struct vg_transport {
    const char *name;
    /* > 0 bytes, 0 at EOF, -1 with errno (EAGAIN when nothing is there). */
    ssize_t (*read)(vg_conn *c, void *buf, size_t n);
    /* more: a file segment follows at once (the kernel may hold these bytes to share its packets) */
    ssize_t (*writev)(vg_conn *c, const struct iovec *iov, int n, int more);
    /* NULL when the transport cannot (TLS): file segments are read and written. */
    ssize_t (*sendfile)(vg_conn *c, int fd, off_t *off, size_t n);
    void (*close)(vg_conn *c);
    /* Bytes already decrypted and waiting inside the transport (TLS); NULL = never any. */
    size_t (*pending)(vg_conn *c);
} vg_transport;

typedef struct vg_proto {
    const char *name;
    /* Bytes arrived. The protocol consumes or stores them all. */
    void (*on_read)(vg_conn *c, const char *p, size_t n);
    /* The peer closed its side. */
    void (*on_eof)(vg_conn *c);
    /* The output queue became empty. */
    void (*on_drained)(vg_conn *c);
    /* The read deadline passed. */
    void (*on_timeout)(vg_conn *c);
    /* The connection is closing: release protocol state. Runs once. */
    void (*on_close)(vg_conn *c);
    /* The server is draining: close now if idle, or wind down (WebSocket: close 1001). */
    void (*on_shutdown)(vg_conn *c);
    /* The socket is writable and no segment is queued (protocols writing directly). May be NULL. */
    void (*on_writable)(vg_conn *c);
} vg_proto;

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
    struct vg_server *srv;
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
    vg_conn *prev, *next;               /* server's list of open connections */
    vg_conn *next_closed;               /* server's close queue */
};

/* Takes ownership of fd (non-blocking). Starts reading. */
vg_conn *vg_conn_create(struct vg_server *srv, int fd, const char *peer,
                        const vg_proto *proto, void *proto_ctx);

void vg_conn_read_start(vg_conn *c);
void vg_conn_read_stop(vg_conn *c);
/*
 * While a request is being handled: notice a peer that disconnects (the
 * connection closes, so the protocol can orphan its work), without reading
 * pipelined bytes, which stay in the kernel until vg_conn_read_start().
 */
void vg_conn_watch_eof(vg_conn *c);
/* Absolute loop time for the read deadline, 0 to clear. */
void vg_conn_set_read_deadline(vg_conn *c, ev_tstamp at);

/*
 * Queues output. Memory segments are not copied: `release(ud)` is called
 * when the bytes are written or the connection closes (release may be
 * NULL for static memory). File segments take ownership of fd. Returns 0,
 * or -1 when the queue is full (the segment is released).
 */
int vg_conn_write(vg_conn *c, const char *p, size_t len, void (*release)(void *), void *ud);
int vg_conn_write_file(vg_conn *c, int fd, off_t off, size_t len);
/* Copies small data into the queue (freed after writing). */
int vg_conn_write_copy(vg_conn *c, const void *p, size_t len);
/* Writes what it can now; arms EV_WRITE when output remains. */
void vg_conn_flush(vg_conn *c);
/*
 * For protocols that keep their own output queue (WebSocket): writes bytes
 * straight to the transport once queued segments are out. Returns bytes
 * written (maybe fewer than n), or -1 with errno EAGAIN (EV_WRITE is armed
 * and proto->on_writable will be called) or another errno (close the
 * connection).
 */
ssize_t vg_conn_send_direct(vg_conn *c, const void *p, size_t n);
/* Switches the protocol (after an HTTP upgrade). */
void vg_conn_set_proto(vg_conn *c, const vg_proto *proto, void *proto_ctx);
int vg_conn_has_output(const vg_conn *c);

/* Closes once output has been written (half-close, then a short linger). */
void vg_conn_close_after_flush(vg_conn *c);
/* Closes now; queued output is dropped. `why` goes to the debug log. */
void vg_conn_close(vg_conn *c, const char *why);

/* Frees a closed connection; used by the server's close queue. */
void vg_conn_destroy(vg_conn *c);

#endif
