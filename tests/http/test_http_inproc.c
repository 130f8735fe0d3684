/*
 * The HTTP core with routes of the test's own, in a real server (forked
 * child, 127.0.0.1, ephemeral port): request bodies (length and chunked),
 * 100-continue, handlers that answer later, clients that vanish meanwhile,
 * large responses to slow readers, the write timeout, path and query
 * parameters, a file that shrinks while it is being sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "http/http.h"
#include "net/server.h"
#include "support.h"

/* ---- the routes (run in the server child) ---- */

static void
echo(vg_req *r, void *ud)
{
    (void)ud;
    vg_str body = vg_req_body(r);
    vg_str ct = vg_req_header(r, "content-type");
    char type[128] = "application/octet-stream";
    if (ct.p && ct.n < sizeof type)
        snprintf(type, sizeof type, "%.*s", (int)ct.n, ct.p);
    vg_req_respond(r, 200, type, body.p, body.n);
}


struct later {
    ev_timer t;
    vg_req *req;
    int n;
};


static void
later_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct later *l = w->data;
    char body[64];
    int n = snprintf(body, sizeof body, "later %d%s", l->n, vg_req_is_orphan(l->req) ? " orphan" : "");
    vg_req_respond(l->req, 200, "text/plain", body, (size_t)n);
    free(l);
}


static void
later(vg_req *r, void *ud)
{
    (void)ud;
    vg_buf v;
    vg_buf_init(&v);
    int ms = vg_req_query_get(r, "ms", &v) == 0 ? atoi(v.data) : 50;
    vg_buf_release(&v);
    struct later *l = calloc(1, sizeof *l);
    l->req = r;
    l->n = ms;
    ev_timer_init(&l->t, later_fire, ms / 1000.0, 0);
    l->t.data = l;
    ev_timer_start(vg_server_loop(vg_req_server(r)), &l->t);
}


static void
big(vg_req *r, void *ud)
{
    (void)ud;
    vg_buf v;
    vg_buf_init(&v);
    size_t n = vg_req_query_get(r, "n", &v) == 0 ? strtoul(v.data, NULL, 10) : 1024;
    vg_buf_release(&v);
    vg_buf b;
    vg_buf_init(&b);
    vg_buf_reserve(&b, n);
    for (size_t i = 0; i < n; i++)
        b.data[i] = (char)('a' + i % 26);
    b.len = n;
    vg_req_respond_buf(r, 200, "application/octet-stream", &b);
}


static void
params(vg_req *r, void *ud)
{
    (void)ud;
    vg_buf out, q;
    vg_buf_init(&out);
    vg_buf_init(&q);
    vg_str a = vg_req_param(r, 0), b = vg_req_param(r, 1);
    vg_buf_printf(&out, "a=%.*s b=%.*s", (int)a.n, a.p, (int)b.n, b.p);
    if (vg_req_query_get(r, "q", &q) == 0)
        vg_buf_printf(&out, " q=%s", q.data);
    vg_req_respond_buf(r, 200, "text/plain", &out);
    vg_buf_release(&q);
}


/* A response header carrying what the client sent (query v, decoded). */
static void
reflect(vg_req *r, void *ud)
{
    (void)ud;
    vg_buf v;
    vg_buf_init(&v);
    if (vg_req_query_get(r, "v", &v) == 0)
        vg_req_add_header(r, "X-Echo", "%s", v.data);
    vg_buf_release(&v);
    vg_req_respond(r, 200, "text/plain", "ok", 2);
}


/* The error dialect of /dia/: {"failed":true,"why":MESSAGE,"status":N}. */
static void
dia_error(vg_req *r, int status, const char *code, const char *message, vg_buf *body, void *ud)
{
    (void)r;
    (void)code;
    (void)ud;
    vg_buf_printf(body, "{\"failed\":true,\"why\":\"%s\",\"status\":%d}", message, status);
}


static void
dia_fails(vg_req *r, void *ud)
{
    (void)ud;
    vg_req_error(r, 422, "test", "no good");
}


/* 64 MB announced, then the file is cut to 1 MB while the answer is on its way. */
static void
shrinking(vg_req *r, void *ud)
{
    (void)ud;
    char path[] = "/tmp/vigia-test-shrink-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || unlink(path) != 0 || ftruncate(fd, 64 << 20) != 0) {
        vg_req_error(r, 500, "test", "no temporary file");
        return;
    }
    vg_req_respond_file(r, 200, "application/octet-stream", fd, 0, 64 << 20);
    if (ftruncate(fd, 1 << 20) != 0)
        abort();
}


static void
setup(vg_http *http)
{
    vg_http_route(http, VG_M_POST | VG_M_PUT, "/echo", echo, NULL, 0, 1);
    vg_http_route(http, VG_M_POST, "/echo/small", echo, NULL, 16, 1);
    vg_http_route(http, VG_M_GET, "/later", later, NULL, 0, 1);
    vg_http_route(http, VG_M_GET, "/big", big, NULL, 0, 1);
    vg_http_route(http, VG_M_GET, "/p/{a}/x/{b}", params, NULL, 0, 1);
    vg_http_route(http, VG_M_GET, "/shrinking", shrinking, NULL, 0, 1);
    vg_http_route(http, VG_M_GET, "/reflect", reflect, NULL, 0, 1);
    vg_http_route(http, VG_M_GET, "/dia/fails", dia_fails, NULL, 0, 1);
    vg_http_route(http, VG_M_POST, "/dia/small", echo, NULL, 4, 1);
    vg_http_add_error_dialect(http, "/dia/", dia_error, NULL);
}

/* ---- the tests ---- */

static ts_server srv;

static int
up(void **state)
{
    (void)state;
    const char *args[] = { "--limits-max-body", "64K", "--limits-write-timeout", "500ms", NULL };
    ts_spawn_inproc(&srv, setup, args);
    return 0;
}


static int
down(void **state)
{
    (void)state;
    assert_int_equal(ts_stop(&srv, SIGTERM, 10), 0);
    return 0;
}


static void
bodies(void **state)
{
    (void)state;
    ts_resp r;
    assert_int_equal(ts_request(srv.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_string_equal(ts_header(&r, "content-type"), "text/x");
    ts_resp_free(&r);

    /* chunked, with a chunk extension and a trailer */
    assert_int_equal(ts_request(srv.port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                          "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: y\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    ts_resp_free(&r);

    /* a route's own limit: exactly at it passes, one byte more is 413 */
    assert_int_equal(ts_request(srv.port, "POST /echo/small HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\nConnection: close\r\n\r\n0123456789abcdef", &r), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    assert_int_equal(ts_request(srv.port, "POST /echo/small HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\nConnection: close\r\n\r\n0123456789abcdefg", &r), 0);
    assert_int_equal(r.status, 413);
    ts_resp_free(&r);
    assert_int_equal(ts_request(srv.port, "POST /echo/small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                          "10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 413);
    ts_resp_free(&r);

    /* a bad chunk size is a 400 */
    assert_int_equal(ts_request(srv.port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &r), 0);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);

    /* 64 KiB body (the server limit) in one request, keep-alive, then another */
    size_t n = 65536;
    char *req = malloc(n + 256);
    int h = sprintf(req, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    for (size_t i = 0; i < n; i++)
        req[h + (int)i] = (char)('A' + i % 23);
    int fd = ts_connect(srv.port);
    ts_send(fd, req, (size_t)h + n);
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, n);
    assert_memory_equal(r.body, req + h, n);
    ts_resp_free(&r);
    ts_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "ok");
    ts_resp_free(&r);
    ts_close(fd);
    free(req);
}


static void
continue_then_body(void **state)
{
    (void)state;
    int fd = ts_connect(srv.port);
    ts_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 100);
    ts_resp_free(&r);
    ts_send_str(fd, "body");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "body");
    ts_resp_free(&r);
    ts_close(fd);
}


static void
async_in_order(void **state)
{
    (void)state;
    int fd = ts_connect(srv.port);
    /* the slow one first: the quick ones must wait behind it */
    ts_send_str(fd, "GET /later?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
                    "GET /later?ms=10 HTTP/1.1\r\nHost: t\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo");
    const char *want[] = { "later 150", "one", "later 10", "two" };
    for (int i = 0; i < 4; i++) {
        ts_resp r;
        assert_int_equal(ts_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want[i]);
        ts_resp_free(&r);
    }
    ts_close(fd);
}


static void
client_leaves_early(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        int fd = ts_connect(srv.port);
        ts_send_str(fd, "GET /later?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n");
        ts_close(fd);
    }
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    assert_true(ts_alive(&srv));
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/later?ms=1", &r), 200);
    assert_string_equal(r.body, "later 1");
    ts_resp_free(&r);
    char *log = ts_wait_log(&srv, "\"GET /later?... HTTP/1.1\" 499", 10);
    assert_non_null(strstr(log, "\"GET /later?... HTTP/1.1\" 499"));
    free(log);
}


static void
large_response_slow_reader(void **state)
{
    (void)state;
    /* 8 MB is more than the socket buffers hold: the server must wait for EV_WRITE */
    int fd = ts_connect(srv.port);
    ts_send_str(fd, "GET /big?n=8000000 HTTP/1.1\r\nHost: t\r\n\r\n");
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 8000000);
    for (size_t i = 0; i < r.body_len; i += 4099)
        if (r.body[i] != (char)('a' + i % 26))
            fail_msg("byte %zu differs", i);
    ts_resp_free(&r);
    /* and the connection is still in step */
    ts_send_str(fd, "GET /big?n=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "abc");
    ts_resp_free(&r);
    ts_close(fd);
}


static void
write_timeout(void **state)
{
    (void)state;
    int fd = ts_connect(srv.port);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ts_send_str(fd, "GET /big?n=50000000 HTTP/1.1\r\nHost: t\r\n\r\n");
    /* never read: the server gives up after limits.write_timeout (500ms) */
    char *log = NULL;
    for (int i = 0; i < 100; i++) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        free(log);
        log = ts_read_log(&srv);
        if (strstr(log, "no write progress"))
            break;
    }
    assert_non_null(strstr(log, "no write progress"));
    free(log);
    ts_close(fd);
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/big?n=2", &r), 200);
    ts_resp_free(&r);
}


/* sendfile finding the end of a file before the announced length: the connection is closed, the server goes on. */
static void
file_shrinks_while_sent(void **state)
{
    (void)state;
    /* the file is cut before the first byte is sent; no small receive buffer needed (with a 4 KiB one
     * the kernel's zero-window probes made this read take 98 s) */
    int fd = ts_connect(srv.port);
    struct timeval tv = { 20, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ts_send_str(fd, "GET /shrinking HTTP/1.1\r\nHost: t\r\n\r\n");
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    size_t total = 0;
    char buf[65536];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        total += (size_t)n;
    assert_true(n == 0 || errno == ECONNRESET);   /* closed by the server, not timed out */
    assert_true(total > 1 << 20 && total < (64u << 20));
    ts_close(fd);
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/big?n=2", &r), 200);
    ts_resp_free(&r);
}


static void
path_and_query_params(void **state)
{
    (void)state;
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/p/one/x/t%20wo?q=a%2Bb+c&z=1", &r), 200);
    assert_string_equal(r.body, "a=one b=t%20wo q=a+b c");
    ts_resp_free(&r);
    assert_int_equal(ts_get(srv.port, "/p/one/x", &r), 404);
    ts_resp_free(&r);
    assert_int_equal(ts_get(srv.port, "/p//x/b", &r), 404);
    ts_resp_free(&r);
    /* absolute-form targets route by their path */
    assert_int_equal(ts_request(srv.port, "GET http://example/p/1/x/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "a=1 b=2");
    ts_resp_free(&r);
}


/*
 * Header injection: a value that decodes to CR LF must not start a header of
 * its own (before the fix the answer carried "Set-Cookie: a=1" and the
 * client read an empty line in the middle of the head).
 */
static void
header_injection_crlf_in_a_reflected_value(void **state)
{
    (void)state;
    int fd = ts_connect(srv.port);
    ts_send_str(fd, "GET /reflect?v=x%0d%0aSet-Cookie:%20a=1%0d%0a%0d%0ahi%00 HTTP/1.1\r\nHost: t\r\n\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_null(ts_header(&r, "set-cookie"));
    const char *echo = ts_header(&r, "x-echo");
    assert_non_null(echo);
    assert_non_null(strstr(echo, "Set-Cookie: a=1"));   /* kept, as text inside the one value */
    assert_string_equal(r.body, "ok");
    ts_resp_free(&r);
    /* and the connection is still in step */
    ts_send_str(fd, "GET /big?n=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "abc");
    ts_resp_free(&r);
    ts_close(fd);
}


/* Errors under an error dialect's prefix, from a handler and from the HTTP layer, take its shape; others not. */
static void
error_dialect_by_prefix(void **state)
{
    (void)state;
    ts_resp r;
    assert_int_equal(ts_get(srv.port, "/dia/fails", &r), 422);
    assert_string_equal(r.body, "{\"failed\":true,\"why\":\"no good\",\"status\":422}");
    ts_resp_free(&r);
    assert_int_equal(ts_get(srv.port, "/dia/nothing/here", &r), 404);
    assert_string_equal(r.body, "{\"failed\":true,\"why\":\"no such resource\",\"status\":404}");
    ts_resp_free(&r);
    assert_int_equal(ts_request(srv.port, "POST /dia/small HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n"
                                          "Connection: close\r\n\r\ntoo long", &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"failed\":true"));
    assert_non_null(strstr(r.body, "\"status\":413"));
    ts_resp_free(&r);
    assert_int_equal(ts_request(srv.port, "POST /dia/fails HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                                          "Connection: close\r\n\r\nx", &r), 0);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.body, "\"status\":405"));
    ts_resp_free(&r);
    /* outside the prefix (also a path that only begins like it): the server's own shape */
    assert_int_equal(ts_get(srv.port, "/diagnosis", &r), 404);
    assert_non_null(strstr(r.body, "{\"error\":{\"code\":\"not_found\""));
    ts_resp_free(&r);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bodies),
        cmocka_unit_test(continue_then_body),
        cmocka_unit_test(async_in_order),
        cmocka_unit_test(client_leaves_early),
        cmocka_unit_test(large_response_slow_reader),
        cmocka_unit_test(write_timeout),
        cmocka_unit_test(path_and_query_params),
        cmocka_unit_test(file_shrinks_while_sent),
        cmocka_unit_test(header_injection_crlf_in_a_reflected_value),
        cmocka_unit_test(error_dialect_by_prefix),
    };
    return cmocka_run_group_tests_name("http in-process", tests, up, down);
}
