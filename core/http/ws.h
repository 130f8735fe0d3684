/*
 * ws: WebSocket (RFC 6455) connections on the reactor, framed by wslay's
 * event API: the upgrade handshake from an HTTP handler, messages in both
 * directions, ping/pong keepalive, the close handshake, per-message limits
 * in bytes and in fragments (1009), a bounded view of what is queued for a
 * slow reader, a bound on all a connection holds (1008 for a client that
 * does not read), and the Origin check against cors.origins.
 *
 * Callbacks run on the loop, never from inside vg_ws_send() or vg_ws_close()
 * (a connection that fails during those closes on the next loop iteration).
 * After on_close returns the vg_ws is freed.
 */
#ifndef VG_WS_H
#define VG_WS_H

#include <stddef.h>
#include <stdint.h>

struct vg_req;
struct vg_http;
typedef struct vg_ws vg_ws;

/* Close codes we send. */
enum {
    VG_WS_NORMAL = 1000,
    VG_WS_GOING_AWAY = 1001,
    VG_WS_PROTOCOL_ERROR = 1002,
    VG_WS_UNSUPPORTED = 1003,
    VG_WS_INVALID_DATA = 1007,
    VG_WS_POLICY = 1008,
    VG_WS_TOO_BIG = 1009,
    VG_WS_INTERNAL = 1011,
    VG_WS_TRY_AGAIN = 1013
};

typedef struct vg_ws_handler {
    /* A whole message arrived (fragments joined; text is valid UTF-8). */
    void (*on_message)(vg_ws *ws, int binary, const uint8_t *data, size_t len, void *ud);
    /* The queue fell below half of ws.max_queue after being over it. May be NULL. */
    void (*on_writable)(vg_ws *ws, void *ud);
    /* The connection is gone (close handshake done, error, or timeout). */
    void (*on_close)(vg_ws *ws, uint16_t code, void *ud);
} vg_ws_handler;

/*
 * From a GET handler, synchronously: checks the opening handshake and
 * answers 101 (choosing the first of `subprotocols` the client offers, or
 * none), or answers 400/426 itself. Returns the WebSocket, or NULL when the
 * request was refused (answered already) or the peer was gone before the
 * 101 went out (h->on_close is never called for it: the caller frees ud).
 */
vg_ws *vg_ws_upgrade(struct vg_req *r, const char *const *subprotocols, const vg_ws_handler *h, void *ud);

/*
 * Makes WebSocket clients see refusals: installs the HTTP hook (see
 * vg_http_set_upgrade_refusal) on `http` that, for a valid opening handshake, answers
 * 101, sends {"type":"error","status","code","message"} (in the negotiated
 * encoding) and closes with 4000 + status. Call once at start-up.
 */
void vg_ws_refusals_install(struct vg_http *http, const char *const *subprotocols);

/* The subprotocol agreed ("" for none). */
const char *vg_ws_subprotocol(const vg_ws *ws);
const char *vg_ws_peer(const vg_ws *ws);
void *vg_ws_data(const vg_ws *ws);
/* Queues a message (copied). Returns 0, or -1 once closing. */
int vg_ws_send(vg_ws *ws, int binary, const void *data, size_t len);
/* Bytes queued and not yet written. */
size_t vg_ws_queued(const vg_ws *ws);
/*
 * 1 when what is queued (in wslay and unsent in the kernel's socket buffer)
 * is over ws.max_queue: hold back what can be dropped.
 */
int vg_ws_congested(const vg_ws *ws);
/* Starts the close handshake (reason may be NULL). */
void vg_ws_close(vg_ws *ws, uint16_t code, const char *reason);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
int vg_ws_accept_key(const char *key, size_t n, char out[29]);

#endif
