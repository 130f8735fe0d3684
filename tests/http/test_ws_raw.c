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
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

static ts_server srv;

static int
up(void **state)
{
    (void)state;
    const char *args[] = { "--ws-max-message", "64K", "--ws-ping-interval", "300ms", "--auth-open-detect", "true",
                           "--cors-origins", "https://good.example", NULL };
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


/* Connects to /v1/live on `port` and reads the 101 and the first two messages (hello, metrics). */
static int
live_on(int port)
{
    int fd = ts_connect(port);
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


static int
live(void)
{
    return live_on(srv.port);
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

/* A client that resets right after its upgrade request: the 101 fails to go out inside the upgrade. */
static void
reset_during_upgrade(void **state)
{
    (void)state;
    struct linger rst = { 1, 0 };
    for (int i = 0; i < 20; i++) {
        int fd = ts_connect(srv.port);
        ts_send_str(fd, HANDSHAKE("/v1/live") "\r\n");
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst), 0);
        close(fd);
    }
    assert_true(ts_alive(&srv));
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/health", &r), 200);
    ts_resp_free(&r);
    ts_close(live());
    assert_true(ts_alive(&srv));
}

/* ---- what one connection may make the server hold (issue 15, items 3 and 14) ---- */

/* The server's resident set in kB, from /proc/PID/status. */
static long
rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    assert_true(kb > 0);
    return kb;
}


/* Sends `reps` times the same n bytes; stops at the first error (the server closed). Returns the repetitions sent. */
static size_t
send_repeated(int fd, const uint8_t *p, size_t n, size_t reps)
{
    size_t done = 0;
    for (; done < reps; done++) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return done;
            off += (size_t)w;
        }
    }
    return done;
}


/* The value of a counter series in /metrics (0 when absent). */
static double
metric(int port, const char *series)
{
    ts_resp r;
    assert_int_equal(ts_get(port, "/metrics", &r), 200);
    const char *at = strstr(r.body, series);
    double v = at ? strtod(at + strlen(series), NULL) : 0;
    ts_resp_free(&r);
    return v;
}

/*
 * Growth of the master's RSS a flood below may cause. Under AddressSanitizer
 * (make check-asan sets ASAN_OPTIONS) freed blocks sit in a quarantine of up
 * to 256 MB before reuse, so RSS measures ASan: there the budget only
 * catches a runaway, and the close codes carry the check.
 */
static long
rss_budget_kb(void)
{
    return (8 + (getenv("ASAN_OPTIONS") ? 256 : 0)) * 1024L;
}

#define FLOOD_FRAGMENTS 300000

/*
 * 300,000 one-byte continuation fragments of one text message (2.1 MB on
 * the wire, the message itself only 300 KB, under ws.max_message): wslay
 * keeps every fragment as its own allocation, about 100 bytes each. Before
 * the fix the master's RSS went from 23.5 to 51.6 MB here and the message
 * was taken (8,000,000 fragments took it from 23 to 756 MB); now the
 * message is refused with 1009 at ws.max_fragments (1024), RSS 23.5 to
 * 23.6 MB; asserted: 1009 and less than 8 MB of growth.
 */
static void
fragment_flood_300k_keeps_rss(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--auth-open-detect", "true", NULL };
    ts_spawn(&s, args, NULL);
    ts_close(live_on(s.port));
    long before = rss_kb(s.pid);
    int fd = live_on(s.port);
    uint8_t head[64], one[16], tail[16];
    size_t hn = frame(head, 0, 0, 1, "{\"type\":\"filter\"", 16, 1);
    size_t on = frame(one, 0, 0, 0, " ", 1, 1);
    size_t tn = frame(tail, 1, 0, 0, "}", 1, 1);
    uint8_t *flood = malloc(on * 1000);
    for (int i = 0; i < 1000; i++)
        memcpy(flood + on * (size_t)i, one, on);
    ts_send(fd, head, hn);
    size_t sent = send_repeated(fd, flood, on * 1000, FLOOD_FRAGMENTS / 1000);
    if (sent == FLOOD_FRAGMENTS / 1000)
        send(fd, tail, tn, MSG_NOSIGNAL);
    free(flood);
    /* the answer to the whole message (an error: it is no filter), or the close */
    uint8_t p[65536];
    size_t got;
    int op, code = -1;
    while ((op = read_frame(fd, p, sizeof p, &got)) == 1 && !memmem(p, got, "\"error\"", 7))
        ;
    if (op == 8)
        code = got >= 2 ? p[0] << 8 | p[1] : 1005;
    long after = rss_kb(s.pid);
    ts_close(fd);
    print_message("# %d one-byte fragments: master RSS %ld -> %ld kB, close %d\n", FLOOD_FRAGMENTS, before, after, code);
    assert_int_equal(code, 1009);
    assert_true(after - before < rss_budget_kb());
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}

#define FLOOD_PINGS 200000

/*
 * 200,000 pings with 125 bytes each (26 MB on the wire) from a client that
 * never reads: every pong the kernel cannot take waits in wslay's queue.
 * Before the fix the master's RSS went from 23.7 to 53.4 MB here and the
 * connection stayed open (1,000,000 pings took it to 230 MB); now what the
 * connection holds is bounded by ws.max_queue + ws.max_message (64K + 64K
 * here, every queued frame counted with its bookkeeping): the client is
 * closed with 1008, RSS 23.5 to 23.6 MB; asserted: one 1008 close and
 * less than 8 MB of growth.
 */
static void
unread_pongs_200k_keep_rss(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--auth-open-detect", "true", "--ws-max-queue", "64K", "--ws-max-message", "64K", NULL };
    ts_spawn(&s, args, NULL);
    ts_close(live_on(s.port));
    long before = rss_kb(s.pid);
    int fd = live_on(s.port);
    uint8_t one[160], payload[125];
    memset(payload, 'p', sizeof payload);
    size_t on = frame(one, 1, 0, 9, payload, sizeof payload, 1);
    uint8_t *flood = malloc(on * 1000);
    for (int i = 0; i < 1000; i++)
        memcpy(flood + on * (size_t)i, one, on);
    size_t sent = send_repeated(fd, flood, on * 1000, FLOOD_PINGS / 1000);
    free(flood);
    long after = rss_kb(s.pid);
    /* the pongs the kernels hold, then the end (the server's linger, or at once) */
    assert_true(ts_wait_closed(fd, 10));
    ts_close(fd);
    double closed = metric(s.port, "vigia_ws_closes_total{code=\"1008\"}");
    print_message("# %zu of %d pings sent unread: master RSS %ld -> %ld kB, closes with 1008: %g\n", sent * 1000,
                  FLOOD_PINGS, before, after, closed);
    assert_true(closed == 1);
    assert_true(after - before < rss_budget_kb());
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


/*
 * With cors.origins set, a WebSocket upgrade from a page of another origin
 * is refused (browsers send no preflight for WebSockets, so this is the
 * only check): before the fix https://evil.example got its 101.
 */
static void
origin_checked_against_cors(void **state)
{
    (void)state;
    struct {
        const char *origin;
        int status;
    } cases[] = {
        { "Origin: https://evil.example\r\n", 403 },
        { "Origin: null\r\n", 403 },
        { "Origin: https://good.example\r\n", 101 },
        { "Origin: http://t\r\n", 101 },   /* the server's own pages (Host: t) */
        { "", 101 },                       /* not a browser */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "%s%s\r\n", HANDSHAKE("/v1/live"), cases[i].origin);
        int fd = ts_connect(srv.port);
        ts_send_str(fd, req);
        ts_resp r;
        assert_int_equal(ts_read_response(fd, &r, 1), 0);
        if (r.status != cases[i].status)
            fail_msg("%s: %d, want %d", cases[i].origin, r.status, cases[i].status);
        ts_resp_free(&r);
        ts_close(fd);
    }
}

#define CLOSE_CODES 40

/*
 * Close codes a client picks (3000-4999 are all valid) each made a new
 * series of vigia_ws_closes_total: 40 clients closing with 3000..3039 made
 * 40 series. Codes the server did not choose beyond the standard ones are
 * counted as code="other".
 */
static void
client_close_codes_40_bounded_labels(void **state)
{
    (void)state;
    double others = metric(srv.port, "vigia_ws_closes_total{code=\"other\"}");
    for (int i = 0; i < CLOSE_CODES; i++) {
        int fd = live();
        uint8_t buf[16], cp[2] = { (uint8_t)((3000 + i) >> 8), (uint8_t)(3000 + i) };
        ts_send(fd, buf, frame(buf, 1, 0, 8, cp, 2, 1));
        assert_int_equal(close_code(fd), 3000 + i);   /* the close handshake echoes it */
        ts_close(fd);
    }
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/metrics", &r), 200);
    assert_null(strstr(r.body, "vigia_ws_closes_total{code=\"30"));
    ts_resp_free(&r);
    assert_true(metric(srv.port, "vigia_ws_closes_total{code=\"other\"}") == others + CLOSE_CODES);
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
        cmocka_unit_test(reset_during_upgrade),
        cmocka_unit_test(drain_sends_going_away),
        cmocka_unit_test(fragment_flood_300k_keeps_rss),
        cmocka_unit_test(unread_pongs_200k_keep_rss),
        cmocka_unit_test(origin_checked_against_cors),
        cmocka_unit_test(client_close_codes_40_bounded_labels),
    };
    return cmocka_run_group_tests_name("websocket edge cases", tests, up, down);
}
