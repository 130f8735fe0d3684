/*
 * libFuzzer harness for WebSocket frames: a fixed upgrade request, then the
 * fuzz input as the client's bytes, through the real connection, HTTP
 * upgrade and wslay framing code over a socketpair, to an echo handler.
 * Checks that after the 101 the server writes only well-formed server
 * frames (unmasked, valid opcodes, lengths that add up), whatever comes in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "base/config.h"
#include "http/http.h"
#include "base/log.h"
#include "net/server.h"
#include "http/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static vg_server *srv;

static void
echo_message(vg_ws *ws, int binary, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    vg_ws_send(ws, binary, data, len);
}


static void
echo_close(vg_ws *ws, uint16_t code, void *ud)
{
    (void)ws;
    (void)code;
    (void)ud;
}


static const vg_ws_handler echo = { echo_message, NULL, echo_close };


static void
route(vg_req *r, void *ud)
{
    (void)ud;
    static const char *const protos[] = { "vigia.json", NULL };
    vg_ws_upgrade(r, protos, &echo, NULL);
}


static void
setup(void)
{
    vg_log_set_level(VG_LOG_OFF);
    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    char err[256];
    vg_config_set(cfg, "ws", "max_message", "64K", err, sizeof err);
    vg_config_set(cfg, "log", "access", "false", err, sizeof err);
    loop = ev_loop_new(EVFLAG_AUTO);
    srv = vg_server_create(loop, cfg);
    vg_http *http = vg_http_create(srv);
    vg_http_route(http, VG_M_GET, "/ws", route, NULL, 0, 1);
}


/* Server frames after the 101: FIN/opcode byte, unmasked length, payload. */
static void
check_frames(const uint8_t *p, size_t n)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n)
            abort();   /* something was written, but not a complete head */
        return;
    }
    if (n < 12 || memcmp(p, "HTTP/1.1 101 ", 13) != 0)
        abort();
    size_t at = (size_t)(end + 4 - p);
    while (at < n) {
        if (n - at < 2)
            return;   /* the connection may end in the middle of a frame */
        uint8_t op = p[at] & 0x0f, b1 = p[at + 1];
        if ((p[at] & 0x70) || (b1 & 0x80))
            abort();   /* reserved bits or a masked server frame */
        if (!(op <= 2 || (op >= 8 && op <= 10)))
            abort();
        uint64_t len = b1 & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - at < 4)
                return;
            len = (uint64_t)p[at + 2] << 8 | p[at + 3];
            h = 4;
        } else if (len == 127) {
            if (n - at < 10)
                return;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[at + 2 + i];
            h = 10;
        }
        if ((op >= 8) && len > 125)
            abort();
        at += h + len;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    static const char hs[] = "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    int sz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    vg_server_adopt(srv, sv[0], "fuzz");
    uint8_t *in = malloc(sizeof hs - 1 + size);
    memcpy(in, hs, sizeof hs - 1);
    memcpy(in + sizeof hs - 1, data, size);
    size_t total = sizeof hs - 1 + size, sent = 0;
    uint8_t *out = NULL;
    size_t outn = 0;
    for (int round = 0; round < 200; round++) {
        if (sent < total) {
            ssize_t w = write(sv[1], in + sent, total - sent);
            if (w > 0)
                sent += (size_t)w;
        }
        ev_run(loop, EVRUN_NOWAIT);
        uint8_t buf[65536];
        ssize_t r;
        while ((r = read(sv[1], buf, sizeof buf)) > 0) {
            out = realloc(out, outn + (size_t)r);
            memcpy(out + outn, buf, (size_t)r);
            outn += (size_t)r;
        }
        if (sent == total && vg_server_connection_count(srv) == 0)
            break;
        if (sent == total && round > 20)
            break;
    }
    check_frames(out, outn);
    free(out);
    free(in);
    close(sv[1]);
    vg_server_close_connections(srv, "fuzz done");
    ev_run(loop, EVRUN_NOWAIT);
    return 0;
}
