/*
 * ws: see ws.h. wslay parses and frames; this file moves bytes between
 * wslay and the connection. Bytes read are handed to wslay through a small
 * input buffer; wslay writes straight to the transport (vg_conn_send_direct)
 * and keeps what the socket does not take. Nothing here closes the
 * connection from inside a wslay callback: failures are noted and acted on
 * once wslay has returned (pump()).
 */
#include "http/ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>

#include <linux/sockios.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <wslay/wslay.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/cors.h"
#include "http/http.h"
#include "http/wire.h"
#include "net/conn.h"
#include "net/server.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/*
 * What wslay allocates for each queued outgoing message besides its payload
 * (the message, its queue cell, malloc's headers: about 100 bytes with
 * glibc): an empty pong costs this much, so it is what the bound counts.
 */
#define WS_FRAME_COST 128

struct vg_ws {
    vg_conn *conn;
    const vg_server *srv;       /* for ws.* of the current config */
    wslay_event_context_ptr ctx;
    const vg_ws_handler *h;
    void *ud;
    char subprotocol[32];
    vg_buf in;                  /* read, not yet given to wslay (left over from an earlier read) */
    size_t in_off;
    const uint8_t *cur;         /* the read being handled, given to wslay in place (no copy) */
    size_t cur_len;
    int in_pump;                /* inside wslay calls: defer sends and closes */
    int failed;                 /* a callback hit a hard error */
    int ping_sent;              /* waiting for any byte after our keepalive ping */
    int close_pending;          /* over, but the application is on the stack: close from the timer */
    int close_clean;            /* ... and the close handshake was done (vs. an error) */
    int congested;
    uint8_t fh[14];             /* frame header being read, for our own checks */
    size_t fh_len;
    uint64_t skip;              /* payload bytes left of the current frame */
    int fragments;              /* frames of the data message being received so far */
    uint16_t close_code;        /* the close we queued before any from the client (0: none) */
    int gave_up;                /* we dropped the connection after queueing close_code */
    ev_tstamp opened;
    uint64_t msgs_in, msgs_out;
    int upgrading;              /* inside vg_req_upgrade: a close there is ours to end, not the application's */
    int closed_in_upgrade;      /* the peer was gone before the upgrade returned */
};

static struct {
    vg_metric *conns;
    vg_series *in, *out;
    vg_metric *closes;
    int open;
} M;


static void
collect_open(vg_metric *m, void *ud)
{
    (void)ud;
    vg_series_set(vg_metrics_single(m), M.open);
}


static void
metrics_init(void)
{
    if (M.conns)
        return;
    M.conns = vg_metrics_register("vigia_ws_connections", "open WebSocket connections", VG_GAUGE, "", NULL, 0);
    vg_metrics_set_collect(M.conns, collect_open, NULL);
    vg_metric *msgs = vg_metrics_register("vigia_ws_messages_total", "WebSocket messages", VG_COUNTER,
                                          "direction", NULL, 0);
    const char *in[] = { "in" }, *out[] = { "out" };
    M.in = vg_metrics_series(msgs, in);
    M.out = vg_metrics_series(msgs, out);
    M.closes = vg_metrics_register("vigia_ws_closes_total", "WebSocket connections ended, by close code",
                                   VG_COUNTER, "code", NULL, 0);
}


int
vg_ws_accept_key(const char *key, size_t n, char out[29])
{
    unsigned char sha[20];
    char buf[128];
    if (n + sizeof WS_GUID > sizeof buf)
        return -1;
    memcpy(buf, key, n);
    memcpy(buf + n, WS_GUID, sizeof WS_GUID - 1);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    if (mbedtls_sha1((const unsigned char *)buf, n + sizeof WS_GUID - 1, sha) != 0)
        return -1;
#else
    if (mbedtls_sha1_ret((const unsigned char *)buf, n + sizeof WS_GUID - 1, sha) != 0)
        return -1;
#endif
    size_t olen;
    if (mbedtls_base64_encode((unsigned char *)out, 29, &olen, sha, sizeof sha) != 0 || olen != 28)
        return -1;
    out[28] = '\0';
    return 0;
}


const char *vg_ws_subprotocol(const vg_ws *ws) { return ws->subprotocol; }
const char *vg_ws_peer(const vg_ws *ws) { return ws->conn ? vg_conn_peer(ws->conn) : "-"; }
void *vg_ws_data(const vg_ws *ws) { return ws->ud; }


size_t
vg_ws_queued(const vg_ws *ws)
{
    return ws->ctx ? wslay_event_get_queued_msg_length(ws->ctx) : 0;
}


int
vg_ws_congested(const vg_ws *ws)
{
    if (!ws->conn)
        return 1;
    /* what wslay holds plus what the kernel has not sent yet: both are latency for live results */
    int unsent = 0;
    if (ioctl(vg_conn_fd(ws->conn), SIOCOUTQ, &unsent) < 0)
        unsent = 0;
    return vg_ws_queued(ws) + (size_t)unsent > vg_server_config(ws->srv)->ws_max_queue;
}

/* ---- wslay callbacks ---- */

static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    vg_ws *ws = user;
    size_t avail = ws->in.len - ws->in_off;
    if (avail > 0) {
        size_t n = avail < len ? avail : len;
        memcpy(buf, ws->in.data + ws->in_off, n);
        ws->in_off += n;
        if (ws->in_off == ws->in.len)
            ws->in.len = ws->in_off = 0;
        return (ssize_t)n;
    }
    if (ws->cur_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = ws->cur_len < len ? ws->cur_len : len;
    memcpy(buf, ws->cur, n);
    ws->cur += n;
    ws->cur_len -= n;
    return (ssize_t)n;
}


static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    vg_ws *ws = user;
    ssize_t w = vg_conn_send_direct(ws->conn, data, len);
    if (w >= 0)
        return w;
    if (errno == EAGAIN) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ws->failed = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}


static void
msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    (void)ctx;
    vg_ws *ws = user;
    if (wslay_is_ctrl_frame(arg->opcode))
        return;   /* ping, pong and close are answered by wslay */
    ws->msgs_in++;
    vg_series_add(M.in, 1);
    if (ws->h->on_message)
        ws->h->on_message(ws, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length, ws->ud);
}

/* ---- moving bytes ---- */

static void release(vg_ws *ws, vg_conn *c);
static const vg_proto closed_proto;

/*
 * The WebSocket is over: the application hears of it and the vg_ws is
 * freed now. After a clean close (our close frame queued or written) the
 * socket lingers (close_after_flush: FIN after the frame, unread input
 * discarded for a moment) so that a peer still sending does not get a
 * reset that destroys the close frame before it reads it; after an error
 * it closes at once.
 */
static void
end(vg_ws *ws, vg_conn *c, int clean, const char *why)
{
    if (!clean) {
        vg_conn_close(c, why);   /* ws_on_close releases ws */
        return;
    }
    release(ws, c);
    vg_conn_set_proto(c, &closed_proto, NULL);
    vg_conn_close_after_flush(c);
}


/*
 * Runs wslay until it has nothing to do; ends the connection when it is
 * over. From the application's own calls (may_close 0) the end waits for
 * the next loop iteration, so that the caller's state outlives its call.
 */
static void
finish(vg_ws *ws, vg_conn *c, int may_close, int clean, const char *why)
{
    if (may_close) {
        end(ws, c, clean, why);
        return;
    }
    ws->close_pending = 1;
    ws->close_clean = clean;
    vg_conn_set_read_deadline(c, ev_now(vg_conn_loop(c)));
}


static void
pump_ex(vg_ws *ws, int may_close)
{
    vg_conn *c = ws->conn;
    if (!c || ws->in_pump)
        return;
    ws->in_pump = 1;
    int rc = 0;
    if ((ws->in.len > ws->in_off || ws->cur_len > 0) && wslay_event_want_read(ws->ctx))
        rc = wslay_event_recv(ws->ctx);
    if (rc == 0 && wslay_event_want_write(ws->ctx))
        rc = wslay_event_send(ws->ctx);
    if (rc != 0 && !ws->failed && wslay_event_want_write(ws->ctx)) {
        /* wslay gave up on the input; a close frame it queued (e.g. 1002) still goes out */
        vg_debug("ws", "%s: wslay error %d", vg_conn_peer(c), rc);
        wslay_event_send(ws->ctx);
    }
    ws->in_pump = 0;
    if (rc != 0 || ws->failed) {
        finish(ws, c, may_close, 0, rc == WSLAY_ERR_NOMEM ? "websocket out of memory" : "websocket write failed");
        return;
    }
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)) {
        finish(ws, c, may_close, 1, "websocket closed");
        return;
    }
    if (!wslay_event_get_read_enabled(ws->ctx)) {
        ws->in.len = ws->in_off = 0;   /* after a close frame: ignore the rest */
        ws->cur_len = 0;
    }
    if (may_close && ws->congested && vg_ws_queued(ws) <= vg_server_config(ws->srv)->ws_max_queue / 2) {
        ws->congested = 0;
        if (ws->h->on_writable)
            ws->h->on_writable(ws, ws->ud);
    }
}


static void
pump(vg_ws *ws)
{
    pump_ex(ws, 1);
}


int
vg_ws_send(vg_ws *ws, int binary, const void *data, size_t len)
{
    if (!ws->conn || ws->close_pending || !wslay_event_get_write_enabled(ws->ctx) ||
        wslay_event_get_close_sent(ws->ctx))
        return -1;
    struct wslay_event_msg m = { binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len };
    if (wslay_event_queue_msg(ws->ctx, &m) != 0)
        return -1;
    ws->msgs_out++;
    vg_series_add(M.out, 1);
    if (vg_ws_congested(ws))
        ws->congested = 1;
    pump_ex(ws, 0);
    return 0;
}


void
vg_ws_close(vg_ws *ws, uint16_t code, const char *reason)
{
    if (!ws->conn || ws->close_pending || wslay_event_get_close_sent(ws->ctx))
        return;
    if (wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, reason ? strlen(reason) : 0) == 0 &&
        !wslay_event_get_close_received(ws->ctx))
        ws->close_code = code;
    pump_ex(ws, 0);
}

/* ---- the connection protocol ---- */

static void
keepalive_rearm(vg_ws *ws)
{
    vg_conn *c = ws->conn;
    if (ws->close_pending)
        return;
    vg_conn_set_read_deadline(c, ev_now(vg_conn_loop(c)) + vg_server_config(ws->srv)->ws_ping_interval);
}


/*
 * Follows frame boundaries in the input to catch what wslay lets through or
 * answers without a status code: a control frame that is fragmented or
 * longer than 125 bytes (1002), and a data message in more frames than
 * ws.max_fragments (1009: wslay keeps each fragment as an allocation of
 * its own, about 100 bytes for a one-byte fragment, so a message's bytes
 * alone do not bound what it holds).
 * Returns 0, or the code the connection must fail with (*why says why).
 */
static int
check_frames(vg_ws *ws, const uint8_t *p, size_t n, const char **why)
{
    while (n > 0) {
        if (ws->skip > 0) {
            size_t take = ws->skip < n ? (size_t)ws->skip : n;
            ws->skip -= take;
            p += take;
            n -= take;
            continue;
        }
        ws->fh[ws->fh_len++] = *p++;
        n--;
        if (ws->fh_len < 2)
            continue;
        size_t need = 2 + ((ws->fh[1] & 0x80) ? 4 : 0);
        uint8_t len7 = ws->fh[1] & 0x7f;
        need += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        if (ws->fh_len < need)
            continue;
        int fin = ws->fh[0] & 0x80, opcode = ws->fh[0] & 0x0f;
        if ((opcode & 0x08) && (!fin || len7 > 125)) {
            *why = "fragmented or oversized control frame";
            return VG_WS_PROTOCOL_ERROR;
        }
        if (!(opcode & 0x08)) {
            ws->fragments = opcode == 0 ? ws->fragments + 1 : 1;   /* wslay refuses a stray continuation */
            if (ws->fragments > vg_server_config(ws->srv)->ws_max_fragments) {
                *why = "message in more fragments than ws.max_fragments";
                return VG_WS_TOO_BIG;
            }
        }
        uint64_t len = len7;
        if (len7 == 126)
            len = (uint64_t)ws->fh[2] << 8 | ws->fh[3];
        else if (len7 == 127)
            for (int i = 0; i < 8; i++)
                len = (i ? len << 8 : 0) | ws->fh[2 + i];
        ws->skip = len;
        ws->fh_len = 0;
    }
    return 0;
}


/*
 * What the server holds for this connection: the input not yet parsed and
 * every outgoing message wslay keeps (pongs and close frames included),
 * each with its bookkeeping.
 */
static size_t
held(const vg_ws *ws)
{
    return ws->in.len - ws->in_off + wslay_event_get_queued_msg_length(ws->ctx) +
           wslay_event_get_queued_msg_count(ws->ctx) * WS_FRAME_COST;
}


/*
 * The client lets more wait than any reader could need (results beyond
 * ws.max_queue are held back or dropped, so what piles up past that is
 * its own doing: pongs, answers to its messages): the close frame goes
 * out if the socket takes it, what was queued is freed now, and the
 * socket closes after a short linger. A client that does not read would
 * not see a close handshake finish.
 */
static void
give_up(vg_ws *ws, vg_conn *c, uint16_t code, const char *why)
{
    vg_info("ws", "%s: %s, closing with %u", vg_conn_peer(c), why, code);
    if (wslay_event_queue_close(ws->ctx, code, (const uint8_t *)why, strlen(why)) == 0)
        ws->close_code = code;
    ws->gave_up = 1;
    wslay_event_shutdown_read(ws->ctx);
    wslay_event_send(ws->ctx);   /* wslay sends a queued close before any other frame */
    end(ws, c, 1, why);
}


static void
ws_on_read(vg_conn *c, const char *p, size_t n)
{
    vg_ws *ws = vg_conn_proto_ctx(c);
    const char *why = NULL;
    int code = wslay_event_get_read_enabled(ws->ctx) ? check_frames(ws, (const uint8_t *)p, n, &why) : 0;
    if (code) {
        vg_ws_close(ws, (uint16_t)code, why);
        wslay_event_shutdown_read(ws->ctx);
        pump(ws);
        return;
    }
    ws->ping_sent = 0;
    keepalive_rearm(ws);
    if (ws->in.len > ws->in_off) {
        /* wslay takes everything on each pump, so this stays about one read's worth */
        vg_buf_append(&ws->in, p, n);
        pump(ws);
    } else {
        /* the usual case: wslay reads straight from the connection's read buffer */
        ws->cur = (const uint8_t *)p;
        ws->cur_len = n;
        pump(ws);
        if (vg_conn_closes_after_flush(c))
            return;   /* ws is gone */
        if (ws->cur_len > 0)
            vg_buf_append(&ws->in, ws->cur, ws->cur_len);   /* keep what wslay did not take for the next pump */
        ws->cur_len = 0;
    }
    if (vg_conn_closes_after_flush(c))
        return;
    const vg_config *cfg = vg_server_config(ws->srv);
    if (held(ws) > cfg->ws_max_queue + cfg->ws_max_message)
        give_up(ws, c, VG_WS_POLICY, "not reading: more than ws.max_queue + ws.max_message waiting");
}


static void
ws_on_eof(vg_conn *c)
{
    vg_conn_close(c, "websocket peer closed the connection");
}


static void
ws_on_drained(vg_conn *c)
{
    pump(vg_conn_proto_ctx(c));
}


static void
ws_on_writable(vg_conn *c)
{
    pump(vg_conn_proto_ctx(c));
}


static void
ws_on_timeout(vg_conn *c)
{
    vg_ws *ws = vg_conn_proto_ctx(c);
    if (ws->close_pending) {
        end(ws, c, ws->close_clean, "websocket closed");
        return;
    }
    if (ws->ping_sent) {
        vg_info("ws", "%s: no answer to a ping, closing", vg_conn_peer(c));
        vg_conn_close(c, "websocket keepalive timeout");
        return;
    }
    ws->ping_sent = 1;
    keepalive_rearm(ws);
    struct wslay_event_msg m = { WSLAY_PING, (const uint8_t *)"vigia", 5 };
    wslay_event_queue_msg(ws->ctx, &m);
    pump(ws);
}


static void
ws_on_shutdown(vg_conn *c)
{
    vg_ws_close(vg_conn_proto_ctx(c), VG_WS_GOING_AWAY, "server shutting down");
}


/*
 * The label a close is counted under. A client may close with any of
 * 3000-4999: counted as they are, those would be new series at the
 * client's will, so only the standard codes (1000-1015) and a code the
 * server chose itself (close_code, before any close from the client; a
 * client's close is echoed by wslay, not here) keep their number; the
 * rest are "other".
 */
static void
close_label(const vg_ws *ws, uint16_t code, char out[8])
{
    if (code == ws->close_code || (code >= 1000 && code <= 1015))
        snprintf(out, 8, "%u", code);
    else
        snprintf(out, 8, "other");
}


/* Counts and logs the close, tells the application, frees ws. */
static void
release(vg_ws *ws, vg_conn *c)
{
    uint16_t code = 1006;   /* abnormal: no close frame */
    if (wslay_event_get_close_received(ws->ctx))
        code = wslay_event_get_status_code_received(ws->ctx);
    else if (wslay_event_get_close_sent(ws->ctx))
        code = wslay_event_get_status_code_sent(ws->ctx);
    else if (ws->gave_up && ws->close_code)
        code = ws->close_code;   /* its close frame may not have gone out: it was not reading */
    if (code == WSLAY_CODE_NO_STATUS_RCVD)
        code = VG_WS_NORMAL;
    char label[8];
    close_label(ws, code, label);
    const char *v[] = { label };
    vg_series_add(vg_metrics_series(M.closes, v), 1);
    M.open--;
    vg_info("ws", "%s: closed %u after %.1fs, %llu messages in, %llu out", vg_conn_peer(c), code,
            ev_now(vg_conn_loop(c)) - ws->opened, (unsigned long long)ws->msgs_in, (unsigned long long)ws->msgs_out);
    ws->conn = NULL;
    if (ws->h->on_close && !ws->closed_in_upgrade)   /* the application never had it */
        ws->h->on_close(ws, code, ws->ud);
    wslay_event_context_free(ws->ctx);
    vg_buf_release(&ws->in);
    free(ws);
}


static void
ws_on_close(vg_conn *c)
{
    vg_ws *ws = vg_conn_proto_ctx(c);
    if (ws->upgrading) {   /* the 101 failed to go out (peer reset): vg_ws_upgrade ends it */
        ws->closed_in_upgrade = 1;
        return;
    }
    release(ws, c);
}


/* A WebSocket connection after its close handshake: nothing more to speak; it lingers until closed. */
static void closed_read(vg_conn *c, const char *p, size_t n) { (void)c; (void)p; (void)n; }
static void closed_end(vg_conn *c) { vg_conn_close(c, "websocket closed"); }
static void closed_nothing(vg_conn *c) { (void)c; }

static const vg_proto closed_proto = {
    "ws-closed", closed_read, closed_end, closed_nothing, closed_end, closed_nothing, closed_nothing, NULL
};


static const vg_proto ws_proto = {
    "websocket", ws_on_read, ws_on_eof, ws_on_drained, ws_on_timeout, ws_on_close, ws_on_shutdown, ws_on_writable
};

/* ---- the opening handshake ---- */

/* Does a comma-separated header value contain `token` (case-insensitive)? */
static int
has_token(vg_str v, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == ',' || v.p[i] == '\t'))
            i++;
        size_t s = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v.p + s, token, tl) == 0)
            return 1;
    }
    return 0;
}


/* Is `v` "http://HOST" or "https://HOST" for the Host header `host`? */
static int
names_host(vg_str v, vg_str host)
{
    static const char *const schemes[] = { "http://", "https://" };
    for (int i = 0; i < 2 && host.p && host.n; i++) {
        size_t sl = strlen(schemes[i]);
        if (v.n == sl + host.n && strncasecmp(v.p, schemes[i], sl) == 0 && strncasecmp(v.p + sl, host.p, host.n) == 0)
            return 1;
    }
    return 0;
}


/*
 * Browsers send no preflight before a WebSocket upgrade: a page of any
 * origin may open one with the user's credentials. With cors.origins set,
 * an Origin must be in it or be this server's own (its own pages: the
 * origin names the Host the request was sent to). A request without an
 * Origin is not from a browser page. An empty cors.origins checks nothing.
 */
static int
origin_allowed(vg_req *r)
{
    const char *list = vg_server_config(vg_req_server(r))->cors_origins;
    vg_str origin = vg_req_header(r, "origin");
    if (!list[0] || !origin.p)
        return 1;
    return vg_cors_origin_allowed(list, origin) || names_host(origin, vg_req_header(r, "host"));
}

/* ---- refusals as WebSocket closes ---- */


static void
refused_message(vg_ws *ws, int binary, const uint8_t *data, size_t len, void *ud)
{
    (void)ws;
    (void)binary;
    (void)data;
    (void)len;
    (void)ud;
}


static void
refused_close(vg_ws *ws, uint16_t code, void *ud)
{
    (void)ws;
    (void)code;
    (void)ud;
}


static const vg_ws_handler refused_handler = { refused_message, NULL, refused_close };


static int
refuse(vg_req *r, int status, const char *code, const char *message, void *ud)
{
    const char *const *refusal_protocols = ud;
    static int busy;   /* vg_ws_upgrade may itself answer an error: that one stays HTTP */
    if (busy)
        return 0;
    vg_str upgrade = vg_req_header(r, "upgrade");
    vg_str key = vg_req_header(r, "sec-websocket-key");
    vg_str version = vg_req_header(r, "sec-websocket-version");
    if (!upgrade.p || !has_token(upgrade, "websocket") || !key.p || key.n != 24 || !version.p ||
        !vg_str_eq(version, "13") || status < 400 || status > 599)
        return 0;   /* not a WebSocket handshake we could complete: a plain HTTP answer */
    busy = 1;
    vg_ws *ws = vg_ws_upgrade(r, refusal_protocols, &refused_handler, NULL);
    busy = 0;
    if (!ws)
        return 1;   /* vg_ws_upgrade answered (or the client left) */
    json_t *m = json_pack("{s:s, s:i, s:s, s:s}", "type", "error", "status", status, "code", code, "message", message);
    vg_buf b;
    vg_buf_init(&b);
    if (strcmp(ws->subprotocol, "vigia.msgpack") == 0) {
        vg_wire_pack(m, NULL, NULL, 0, &b);
        vg_ws_send(ws, 1, b.data, b.len);
    } else {
        char *text = json_dumps(m, JSON_COMPACT);
        vg_ws_send(ws, 0, text, strlen(text));
        free(text);
    }
    vg_buf_release(&b);
    json_decref(m);
    char reason[64];
    snprintf(reason, sizeof reason, "%s", code);   /* close reasons are limited to 123 bytes */
    vg_ws_close(ws, (uint16_t)(4000 + status), reason);
    return 1;
}


void
vg_ws_refusals_install(vg_http *http, const char *const *subprotocols)
{
    vg_http_set_upgrade_refusal(http, refuse, (void *)subprotocols);
}

vg_ws *
vg_ws_upgrade(vg_req *r, const char *const *subprotocols, const vg_ws_handler *h, void *ud)
{
    metrics_init();
    vg_str upgrade = vg_req_header(r, "upgrade");
    vg_str connection = vg_req_header(r, "connection");
    vg_str version = vg_req_header(r, "sec-websocket-version");
    vg_str key = vg_req_header(r, "sec-websocket-key");
    if (!upgrade.p || !has_token(upgrade, "websocket") || !connection.p || !has_token(connection, "upgrade")) {
        vg_req_add_header(r, "Upgrade", "websocket");
        vg_req_error(r, 426, "upgrade_required", "this resource speaks WebSocket: send Upgrade: websocket");
        return NULL;
    }
    if (!version.p || !vg_str_eq(version, "13")) {
        vg_req_add_header(r, "Sec-WebSocket-Version", "13");
        vg_req_error(r, 426, "upgrade_required", "only WebSocket version 13 is spoken");
        return NULL;
    }
    unsigned char raw[32];
    size_t rawn = 0;
    if (!key.p || key.n != 24 ||
        mbedtls_base64_decode(raw, sizeof raw, &rawn, (const unsigned char *)key.p, key.n) != 0 || rawn != 16) {
        vg_req_error(r, 400, "bad_request", "Sec-WebSocket-Key must be 16 bytes in base64");
        return NULL;
    }
    if (!origin_allowed(r)) {
        vg_req_error(r, 403, "cors_forbidden", "a WebSocket from this origin is not allowed (see cors.origins)");
        return NULL;
    }
    char accept[29];
    if (vg_ws_accept_key(key.p, key.n, accept) < 0) {
        vg_req_error(r, 500, "internal", "cannot compute Sec-WebSocket-Accept");
        return NULL;
    }

    /*
     * A client that offers subprotocols must fail a connection whose answer
     * picks none of them (RFC 6455 4.1): refuse it here, in plain HTTP.
     */
    vg_str offered = vg_req_header(r, "sec-websocket-protocol");
    int chosen = -1;
    for (int i = 0; subprotocols && subprotocols[i] && offered.p; i++) {
        if (has_token(offered, subprotocols[i])) {
            chosen = i;
            break;
        }
    }
    if (offered.p && offered.n && subprotocols && chosen < 0) {
        vg_buf names;
        vg_buf_init(&names);
        for (int i = 0; subprotocols[i]; i++)
            vg_buf_printf(&names, "%s%s", i ? ", " : "", subprotocols[i]);
        vg_req_error(r, 400, "bad_request", "none of the subprotocols offered (%.*s) is spoken here: %s",
                     (int)(offered.n > 64 ? 64 : offered.n), offered.p, vg_buf_cstr(&names));
        vg_buf_release(&names);
        return NULL;
    }
    vg_ws *ws = vg_xcalloc(1, sizeof *ws);
    ws->h = h;
    ws->ud = ud;
    if (chosen >= 0)
        snprintf(ws->subprotocol, sizeof ws->subprotocol, "%s", subprotocols[chosen]);
    static const struct wslay_event_callbacks cbs = { recv_cb, send_cb, NULL, NULL, NULL, NULL, msg_cb };
    if (wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0) {
        free(ws);
        vg_req_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    ws->srv = vg_req_server(r);
    wslay_event_config_set_max_recv_msg_length(ws->ctx, vg_server_config(ws->srv)->ws_max_message);

    vg_req_add_header(r, "Upgrade", "websocket");
    vg_req_add_header(r, "Connection", "Upgrade");
    vg_req_add_header(r, "Sec-WebSocket-Accept", "%s", accept);
    if (ws->subprotocol[0])
        vg_req_add_header(r, "Sec-WebSocket-Protocol", "%s", ws->subprotocol);
    ws->opened = ev_now(vg_server_loop(ws->srv));
    /* set before the upgrade: bytes that followed the request may reach ws_on_read inside it */
    ws->conn = vg_req_conn(r);
    vg_buf_init(&ws->in);
    M.open++;
    ws->upgrading = 1;
    vg_conn *c = vg_req_upgrade(r, 101, &ws_proto, ws);
    ws->upgrading = 0;
    if (c && ws->closed_in_upgrade) {
        release(ws, c);   /* logged and counted; the caller gets NULL, as for a refused upgrade */
        return NULL;
    }
    if (!c) {
        M.open--;
        wslay_event_context_free(ws->ctx);
        vg_buf_release(&ws->in);
        free(ws);
        return NULL;
    }
    if (!vg_conn_is_closing(c))
        keepalive_rearm(ws);
    return ws;
}
