/*
 * WebSocket edge cases with raw bytes against the real binary (no models
 * needed: /v1/live): the opening handshake's refusals, frames a server must
 * reject (unmasked, reserved bits, unknown opcodes, fragmented or long
 * control frames, invalid UTF-8, oversized messages) with the right close
 * code, fragmented data messages, ping/pong, the close handshake, frame
 * bytes sent together with the upgrade request, and abrupt disconnects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

static ts_server srv;

static int
up(void **state)
{
    (void)state;
    const char *args[] = { "--ws-max-message", "64K", "--ws-ping-interval", "300ms", "--auth-open-detect", "true", NULL };
    ts_spawn(&srv, args, NULL);
    return 0;
}


static int
down(void **state)
{
    (void)state;
    assert_int_equal(ts_stop(&srv, SIGTERM, 10), 0);
    return 0;
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define HANDSHAKE(path) "GET " path " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                        "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n"

/* Builds one frame; masked unless mask == 0. */
static size_t
frame(uint8_t *out, int fin, int rsv, int opcode, const void *payload, size_t n, int mask)
{
    size_t o = 0;
    out[o++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (n < 126) {
        out[o++] = (uint8_t)(m | n);
    } else if (n < 65536) {
        out[o++] = m | 126;
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
    } else {
        out[o++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[o + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (mask ? key[i % 4] : 0));
    return o + n;
}


/* Reads one server frame (servers never mask). Returns the opcode, -1 at EOF/timeout. */
static int
read_frame(int fd, uint8_t *payload, size_t cap, size_t *n)
{
    uint8_t h[2];
    if (ts_recv_exact(fd, h, 2) != 2)
        return -1;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        uint8_t e[2];
        if (ts_recv_exact(fd, e, 2) != 2)
            return -1;
        len = (uint64_t)e[0] << 8 | e[1];
    } else if (len == 127) {
        uint8_t e[8];
        if (ts_recv_exact(fd, e, 8) != 8)
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | e[i];
    }
    if (h[1] & 0x80)
        fail_msg("the server masked a frame");
    if (len > cap)
        fail_msg("frame of %llu bytes", (unsigned long long)len);
    if (len && ts_recv_exact(fd, payload, len) != (ssize_t)len)
        return -1;
    *n = len;
    return h[0] & 0x0f;
}


/* Reads frames until a close; returns its code (or -1 if the connection ended without one). */
static int
close_code(int fd)
{
    uint8_t p[65536];
    size_t n;
    for (int i = 0; i < 100; i++) {
        int op = read_frame(fd, p, sizeof p, &n);
        if (op < 0)
            return -1;
        if (op == 8)
            return n >= 2 ? p[0] << 8 | p[1] : 1005;
    }
    return -1;
}


/* Connects to /v1/live and reads the 101 and the first two messages (hello, metrics). */
static int
live(void)
{
    int fd = ts_connect(srv.port);
    ts_send_str(fd, HANDSHAKE("/v1/live") "\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 1), 0);
    assert_int_equal(r.status, 101);
    assert_string_equal(ts_header(&r, "sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ts_resp_free(&r);
    uint8_t p[65536];
    size_t n;
    assert_int_equal(read_frame(fd, p, sizeof p, &n), 1);
    assert_non_null(memmem(p, n, "\"hello\"", 7));
    assert_int_equal(read_frame(fd, p, sizeof p, &n), 1);
    assert_non_null(memmem(p, n, "\"metrics\"", 9));
    return fd;
}


static void
handshake_refusals(void **state)
{
    (void)state;
    ts_resp r;
    assert_int_equal(ts_request(srv.port, "GET /v1/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 426);
    assert_string_equal(ts_header(&r, "upgrade"), "websocket");
    assert_non_null(strstr(r.body, "\"upgrade_required\""));
    ts_resp_free(&r);
    assert_int_equal(ts_request(srv.port, "GET /v1/live HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                          "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 426);
    assert_string_equal(ts_header(&r, "sec-websocket-version"), "13");
    ts_resp_free(&r);
    assert_int_equal(ts_request(srv.port, "GET /v1/live HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                          "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);
    /* refusals of a valid handshake reach the client as a WebSocket: an error message, close 4000+status */
    const char *refused[] = { HANDSHAKE("/v1/live?min_confidence=7") "\r\n",
                              HANDSHAKE("/v1/stream?stream=bad%20id") "\r\n", NULL };
    for (int i = 0; refused[i]; i++) {
        int fd = ts_connect(srv.port);
        ts_send_str(fd, refused[i]);
        assert_int_equal(ts_read_response(fd, &r, 1), 0);
        assert_int_equal(r.status, 101);
        ts_resp_free(&r);
        uint8_t p[4096];
        size_t got;
        assert_int_equal(read_frame(fd, p, sizeof p, &got), 1);
        assert_non_null(memmem(p, got, "\"status\":400", 12));
        assert_non_null(memmem(p, got, "\"code\":\"bad_request\"", 20));
        assert_int_equal(close_code(fd), 4400);
        ts_close(fd);
    }
    assert_int_equal(ts_request(srv.port, "POST /v1/live HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 405);
    ts_resp_free(&r);
    /* a subprotocol is chosen from what the client offers */
    int fd = ts_connect(srv.port);
    ts_send_str(fd, HANDSHAKE("/v1/live") "Sec-WebSocket-Protocol: chat, vigia.msgpack\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 1), 0);
    assert_int_equal(r.status, 101);
    assert_string_equal(ts_header(&r, "sec-websocket-protocol"), "vigia.msgpack");
    ts_resp_free(&r);
    ts_close(fd);
}


static void
filter_and_close_handshake(void **state)
{
    (void)state;
    int fd = live();
    uint8_t buf[256], p[65536];
    const char *msg = "{\"type\":\"filter\",\"streams\":[\"cam1\"],\"labels\":\"person,dog\",\"min_confidence\":0.5}";
    size_t n = frame(buf, 1, 0, 1, msg, strlen(msg), 1);
    ts_send(fd, buf, n);
    size_t got;
    int op;
    /* skip metrics messages until the filter's answer */
    while ((op = read_frame(fd, p, sizeof p, &got)) == 1 && !memmem(p, got, "\"filter\"", 8))
        ;
    assert_int_equal(op, 1);
    assert_non_null(memmem(p, got, "\"ok\":true", 9));
    /* a bad filter is an error message, not a disconnect */
    const char *bad = "{\"type\":\"filter\",\"min_confidence\":3}";
    n = frame(buf, 1, 0, 1, bad, strlen(bad), 1);
    ts_send(fd, buf, n);
    while ((op = read_frame(fd, p, sizeof p, &got)) == 1 && !memmem(p, got, "\"error\"", 7))
        ;
    assert_int_equal(op, 1);
    /* close 1000 with a reason: the server answers with the same code */
    uint8_t cp[] = { 0x03, 0xe8, 'b', 'y', 'e' };
    n = frame(buf, 1, 0, 8, cp, sizeof cp, 1);
    ts_send(fd, buf, n);
    assert_int_equal(close_code(fd), 1000);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
}


static void
ping_pong_and_keepalive(void **state)
{
    (void)state;
    int fd = live();
    uint8_t buf[256], p[65536];
    size_t n = frame(buf, 1, 0, 9, "hi", 2, 1), got;
    ts_send(fd, buf, n);
    int op;
    while ((op = read_frame(fd, p, sizeof p, &got)) == 1)
        ;
    assert_int_equal(op, 10);   /* pong */
    assert_int_equal(got, 2);
    assert_memory_equal(p, "hi", 2);
    /* silent client: the server pings after ws.ping_interval (300 ms)... */
    while ((op = read_frame(fd, p, sizeof p, &got)) == 1)
        ;
    assert_int_equal(op, 9);
    /* ...and a client that never answers is dropped */
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
}


static void
rejected_frames(void **state)
{
    (void)state;
    uint8_t buf[70000];
    struct {
        const char *what;
        int fin, rsv, opcode, mask;
        const char *payload;
        size_t n;
        int code;
    } cases[] = {
        { "unmasked", 1, 0, 1, 0, "{}", 2, 1002 },
        { "reserved bit", 1, 4, 1, 1, "{}", 2, 1002 },
        { "unknown opcode", 1, 0, 3, 1, "x", 1, 1002 },
        { "fragmented ping", 0, 0, 9, 1, "x", 1, 1002 },
        { "invalid UTF-8", 1, 0, 1, 1, "\xc3\x28", 2, 1007 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = live();
        size_t n = frame(buf, cases[i].fin, cases[i].rsv, cases[i].opcode, cases[i].payload, cases[i].n, cases[i].mask);
        ts_send(fd, buf, n);
        int code = close_code(fd);
        if (code != cases[i].code)
            fail_msg("%s: close code %d, want %d", cases[i].what, code, cases[i].code);
        ts_close(fd);
    }
    /* a control frame with 126 bytes of payload */
    int fd = live();
    char big[200];
    memset(big, 'p', sizeof big);
    size_t n = frame(buf, 1, 0, 9, big, 126, 1);
    ts_send(fd, buf, n);
    assert_int_equal(close_code(fd), 1002);
    ts_close(fd);
    /* a message over ws.max_message (64K), sent in two fragments */
    fd = live();
    char *half = malloc(40000);
    memset(half, 'a', 40000);
    n = frame(buf, 0, 0, 1, half, 40000, 1);
    ts_send(fd, buf, n);
    n = frame(buf, 1, 0, 0, half, 40000, 1);
    send(fd, buf, n, MSG_NOSIGNAL);
    assert_int_equal(close_code(fd), 1009);
    free(half);
    ts_close(fd);
    assert_true(ts_alive(&srv));
}


static void
fragments_and_early_bytes(void **state)
{
    (void)state;
    /* the frame arrives in the same packet as the upgrade request */
    uint8_t buf[1024], p[65536];
    const char *req = HANDSHAKE("/v1/live") "\r\n";
    size_t hl = strlen(req);
    memcpy(buf, req, hl);
    const char *msg = "{\"type\":\"filter\",\"labels\":[\"cat\"]}";
    size_t half = strlen(msg) / 2;
    /* and as two fragments */
    size_t n = hl + frame(buf + hl, 0, 0, 1, msg, half, 1);
    n += frame(buf + n, 1, 0, 0, msg + half, strlen(msg) - half, 1);
    int fd = ts_connect(srv.port);
    ts_send(fd, buf, n);
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 1), 0);
    assert_int_equal(r.status, 101);
    ts_resp_free(&r);
    size_t got;
    int op, seen = 0;
    while (!seen && (op = read_frame(fd, p, sizeof p, &got)) == 1)
        seen = memmem(p, got, "\"filter\",\"ok\":true", 18) != NULL;
    assert_true(seen);
    ts_close(fd);
}


static void
abrupt_disconnects(void **state)
{
    (void)state;
    uint8_t buf[256];
    for (int i = 0; i < 20; i++) {
        int fd = live();
        /* half a frame, then gone */
        size_t n = frame(buf, 1, 0, 1, "{\"type\":\"filter\"}", 17, 1);
        ts_send(fd, buf, n / 2);
        ts_close(fd);
    }
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/health", &r), 200);
    ts_resp_free(&r);
    int fd = live();
    ts_close(fd);
    assert_int_equal(ts_get(srv.port, "/metrics", &r), 200);
    assert_non_null(strstr(r.body, "vigia_ws_closes_total{code=\"1006\"}"));
    assert_non_null(strstr(r.body, "vigia_ws_messages_total{direction=\"out\"}"));
    ts_resp_free(&r);
}


static void
drain_sends_going_away(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--auth-open-detect", "true", NULL };
    ts_spawn(&s, args, NULL);
    int fd = ts_connect(s.port);
    ts_send_str(fd, HANDSHAKE("/v1/live") "\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 1), 0);
    ts_resp_free(&r);
    kill(s.pid, SIGTERM);
    assert_int_equal(close_code(fd), 1001);
    uint8_t buf[16];
    uint8_t cp[] = { 0x03, 0xe9 };
    size_t n = frame(buf, 1, 0, 8, cp, 2, 1);
    send(fd, buf, n, MSG_NOSIGNAL);
    ts_close(fd);
    assert_int_equal(ts_stop(&s, 0, 10), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_refusals),
        cmocka_unit_test(filter_and_close_handshake),
        cmocka_unit_test(ping_pong_and_keepalive),
        cmocka_unit_test(rejected_frames),
        cmocka_unit_test(fragments_and_early_bytes),
        cmocka_unit_test(abrupt_disconnects),
        cmocka_unit_test(drain_sends_going_away),
    };
    return cmocka_run_group_tests_name("websocket edge cases", tests, up, down);
}
