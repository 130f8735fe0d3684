/*
 * conn: one client connection on the reactor: a socket behind a transport
 * (plain TCP now, TLS later), a read watcher feeding a protocol (HTTP, and
 * WebSocket after an upgrade), an output queue written with writev and
 * sendfile, and one timer for read deadlines and write stalls.
 *
 * Lifetime: created on accept into the server's set of connections;
 * vg_conn_close() stops everything at once and queues the struct in the
 * set, which frees it from the loop's prepare phase (vg_conns_reap), so
 * closing from inside a callback is always safe. A protocol's on_close
 * runs exactly once. The struct is opaque: protocols and transports use
 * the functions below.
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
struct vg_series;

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

/* ---- the set of open connections (one per server) ---- */

/*
 * The open connections of one server and what they share: the loop, a
 * read buffer (every read is handed to a protocol before the next one),
 * the write stall limit and the byte counters. A closed connection is
 * unlinked at once and freed by vg_conns_reap(), which the owner calls
 * from the loop's prepare phase, so closing from inside a callback is safe.
 */
typedef struct vg_conns vg_conns;

#define VG_CONN_READ_CHUNK (64 * 1024)   /* bytes read at once */

/* bytes_in/bytes_out may be NULL (not counted). */
vg_conns *vg_conns_create(struct ev_loop *loop, double write_timeout, struct vg_series *bytes_in,
                          struct vg_series *bytes_out);
/* Closes every connection (queued output dropped) and frees the set. */
void vg_conns_destroy(vg_conns *set);
/* Seconds without write progress before a connection with output is closed (config reload). */
void vg_conns_set_write_timeout(vg_conns *set, double seconds);
int vg_conns_count(const vg_conns *set);
/* Frees the connections closed since the last call. */
void vg_conns_reap(vg_conns *set);
/* Tells every open connection's protocol that the server drains (on_shutdown). */
void vg_conns_shutdown(vg_conns *set);
/* Closes every open connection now. */
void vg_conns_close_all(vg_conns *set, const char *why);

/* ---- one connection ---- */

/* Takes ownership of fd (non-blocking) and joins the set. Starts reading. */
vg_conn *vg_conn_create(vg_conns *set, int fd, const char *peer, const vg_proto *proto, void *proto_ctx);

/* "ip:port", for logs. */
const char *vg_conn_peer(const vg_conn *c);
struct ev_loop *vg_conn_loop(const vg_conn *c);
void *vg_conn_proto_ctx(const vg_conn *c);
const vg_proto *vg_conn_proto(const vg_conn *c);
/* 1 once vg_conn_close has run (the struct lives until the set reaps it). */
int vg_conn_is_closing(const vg_conn *c);
/* 1 when closing, or closing once the queued output is written (vg_conn_close_after_flush). */
int vg_conn_closes_after_flush(const vg_conn *c);

/*
 * For a transport (TLS): puts the connection behind `tp` with its state
 * (before any byte is read); the socket, and a way to ask for EV_WRITE when
 * the transport must write before it can read again.
 */
void vg_conn_set_transport(vg_conn *c, const vg_transport *tp, void *tp_ctx);
void *vg_conn_transport_ctx(const vg_conn *c);
int vg_conn_fd(const vg_conn *c);
void vg_conn_want_write(vg_conn *c);

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


#endif
