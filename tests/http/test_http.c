/*
 * The real vigia binary on 127.0.0.1: operations routes, errors as JSON,
 * keep-alive and pipelining, every request limit, timeouts, the connection
 * limit, static files, config errors, SIGHUP reload and SIGTERM drain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

static ts_server shared;

static int
shared_up(void **state)
{
    (void)state;
    ts_spawn(&shared, NULL, NULL);
    return 0;
}


static int
shared_down(void **state)
{
    (void)state;
    assert_int_equal(ts_stop(&shared, SIGTERM, 10), 0);
    return 0;
}


static void
assert_json_error(const ts_resp *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    assert_non_null(ts_header(r, "content-type"));
    assert_string_equal(ts_header(r, "content-type"), "application/json");
    char want[128];
    snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
    if (strncmp(r->body, want, strlen(want)) != 0)
        fail_msg("body %s does not start with %s", r->body, want);
}


static void
health_ready_metrics(void **state)
{
    (void)state;
    ts_resp r;
    assert_int_equal(ts_get(shared.port, "/health", &r), 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    assert_string_equal(ts_header(&r, "content-type"), "application/json");
    ts_resp_free(&r);
    /* no models in this server: not ready, and it says why (the default model is not installed) */
    assert_int_equal(ts_get(shared.port, "/ready", &r), 503);
    assert_json_error(&r, 503, "not_ready");
    assert_non_null(strstr(r.body, "is not in the models folder"));
    assert_non_null(strstr(r.body, "none is installed"));
    ts_resp_free(&r);
    assert_int_equal(ts_get(shared.port, "/metrics", &r), 200);
    assert_non_null(strstr(ts_header(&r, "content-type"), "text/plain"));
    assert_non_null(strstr(r.body, "vigia_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}"));
    assert_non_null(strstr(r.body, "vigia_http_request_duration_seconds_bucket{route=\"/ready\""));
    assert_non_null(strstr(r.body, "# TYPE vigia_http_connections gauge"));
    assert_non_null(strstr(r.body, "vigia_http_received_bytes_total "));
    assert_non_null(strstr(r.body, "vigia_http_sent_bytes_total "));
    assert_non_null(strstr(r.body, "process_resident_memory_bytes "));
    /* counters move: a second scrape shows one more /metrics request */
    const char *key = "vigia_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"} ";
    char *at = strstr(r.body, key);
    long before = at ? atol(at + strlen(key)) : 0;
    ts_resp_free(&r);
    assert_int_equal(ts_get(shared.port, "/metrics", &r), 200);
    at = strstr(r.body, key);
    assert_non_null(at);
    assert_int_equal(atol(at + strlen(key)), before + 1);
    ts_resp_free(&r);
}


static void
errors_are_json(void **state)
{
    (void)state;
    ts_resp r;
    assert_int_equal(ts_get(shared.port, "/no/such/thing", &r), 404);
    assert_json_error(&r, 404, "not_found");
    ts_resp_free(&r);

    assert_int_equal(ts_request(shared.port, "DELETE /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    assert_json_error(&r, 405, "method_not_allowed");
    assert_string_equal(ts_header(&r, "allow"), "GET, HEAD");
    ts_resp_free(&r);

    assert_int_equal(ts_request(shared.port, "GARBAGE\r\n\r\n", &r), 0);
    assert_json_error(&r, 400, "bad_request");
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);

    assert_int_equal(ts_request(shared.port, "GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", &r), 0);
    assert_json_error(&r, 400, "bad_request");
    ts_resp_free(&r);

    assert_int_equal(ts_request(shared.port, "GET /health HTTP/2.0\r\nHost: t\r\n\r\n", &r), 0);
    assert_true(r.status == 505 || r.status == 400);
    ts_resp_free(&r);

    assert_int_equal(ts_request(shared.port, "GET nopath HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
    assert_json_error(&r, 400, "bad_request");
    ts_resp_free(&r);
}


static void
head_has_no_body(void **state)
{
    (void)state;
    int fd = ts_connect(shared.port);
    ts_send_str(fd, "HEAD /health HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 1), 0);
    assert_int_equal(r.status, 200);
    assert_true(atoi(ts_header(&r, "content-length")) > 0);
    ts_resp_free(&r);
    /* the next response starts right after the HEAD's headers */
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\""));
    ts_resp_free(&r);
    ts_close(fd);
}


static void
keepalive_and_pipelining(void **state)
{
    (void)state;
    int fd = ts_connect(shared.port);
    ts_resp r;
    for (int i = 0; i < 3; i++) {
        ts_send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(ts_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_null(ts_header(&r, "connection"));
        ts_resp_free(&r);
    }
    /* three requests in one write: answers in order */
    ts_send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /ready HTTP/1.1\r\nHost: t\r\n\r\n");
    int want[] = { 200, 404, 503 };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, want[i]);
        if (i == 2)
            assert_non_null(strstr(r.body, "not_ready"));
        ts_resp_free(&r);
    }
    /* a request split into one-byte writes still parses */
    const char *slow = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    for (const char *p = slow; *p; p++)
        ts_send(fd, p, 1);
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);

    /* HTTP/1.0 closes unless asked to keep alive */
    fd = ts_connect(shared.port);
    ts_send_str(fd, "GET /health HTTP/1.0\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
    fd = ts_connect(shared.port);
    ts_send_str(fd, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_string_equal(ts_header(&r, "connection"), "keep-alive");
    ts_resp_free(&r);
    ts_send_str(fd, "GET /health HTTP/1.0\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    ts_close(fd);
}


static void
request_limits(void **state)
{
    (void)state;
    ts_resp r;
    char *big = malloc(70000);

    /* request target over limits.max_url (8K) */
    memset(big, 'a', 9000);
    memcpy(big, "GET /", 5);
    strcpy(big + 9000, " HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_request(shared.port, big, &r), 0);
    assert_json_error(&r, 414, "uri_too_long");
    ts_resp_free(&r);

    /* one header over limits.max_header_size (16K) */
    strcpy(big, "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ");
    size_t n = strlen(big);
    memset(big + n, 'b', 20000);
    strcpy(big + n + 20000, "\r\n\r\n");
    assert_int_equal(ts_request(shared.port, big, &r), 0);
    assert_json_error(&r, 431, "headers_too_large");
    ts_resp_free(&r);

    /* more header lines than limits.max_headers (64) */
    strcpy(big, "GET /health HTTP/1.1\r\n");
    for (int i = 0; i < 80; i++)
        sprintf(big + strlen(big), "X-H%d: v\r\n", i);
    strcat(big, "\r\n");
    assert_int_equal(ts_request(shared.port, big, &r), 0);
    assert_json_error(&r, 431, "too_many_headers");
    ts_resp_free(&r);

    /* a declared body over limits.max_body (1M) is refused before it is sent */
    assert_int_equal(ts_request(shared.port, "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n", &r), 0);
    assert_json_error(&r, 413, "payload_too_large");
    ts_resp_free(&r);

    /* a chunked body that grows past the limit */
    int fd = ts_connect(shared.port);
    ts_send_str(fd, "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(big, 'c', 65536);
    int status = 0;
    for (int i = 0; i < 40 && !status; i++) {
        char line[32];
        snprintf(line, sizeof line, "10000\r\n");
        if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 || send(fd, big, 65536, MSG_NOSIGNAL) < 0 ||
            send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
            break;
    }
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 413, "payload_too_large");
    ts_resp_free(&r);
    ts_close(fd);

    /* Expect: 100-continue over the limit: answered at once, no 100 */
    assert_int_equal(ts_request(shared.port, "POST /health HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", &r), 0);
    assert_json_error(&r, 413, "payload_too_large");
    ts_resp_free(&r);
    /* an unknown expectation */
    assert_int_equal(ts_request(shared.port, "POST /health HTTP/1.1\r\nHost: t\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", &r), 0);
    assert_json_error(&r, 417, "expectation_failed");
    ts_resp_free(&r);
    free(big);
}


static void
expect_continue(void **state)
{
    (void)state;
    /* a request that will be refused anyway is answered before its body is sent */
    int fd = ts_connect(shared.port);
    ts_send_str(fd, "POST /health HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 405, "method_not_allowed");
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
}


static void
timeouts(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--limits-header-timeout", "300ms", "--limits-idle-timeout", "400ms",
                           "--limits-body-timeout", "300ms", NULL };
    ts_spawn(&s, args, NULL);
    ts_resp r;

    /* headers that never finish: 408, then the connection closes */
    int fd = ts_connect(s.port);
    ts_send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 408, "request_timeout");
    ts_resp_free(&r);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);

    /* a body that never arrives (3 of 10 declared bytes): said to be the body, in the answer and
       the log (before, every 408 said the headers were late) */
    fd = ts_connect(s.port);
    ts_send_str(fd, "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 408, "request_timeout");
    assert_non_null(strstr(r.body, "request body not received in time"));
    ts_resp_free(&r);
    ts_close(fd);
    char *log = ts_wait_log(&s, "request body not received in time\"", 10);
    assert_non_null(strstr(log, "\"POST /health HTTP/1.1\" 408"));
    assert_non_null(strstr(log, "error=request_timeout \"request body not received in time\""));
    assert_non_null(strstr(log, "error=request_timeout \"request headers not received in time\""));
    free(log);

    /* an idle keep-alive connection is closed without a response */
    fd = ts_connect(s.port);
    ts_send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    ts_resp_free(&r);
    char buf[16];
    assert_int_equal(ts_recv_some(fd, buf, sizeof buf, 5), 0);   /* EOF, no bytes */
    ts_close(fd);

    /* a slowloris that trickles bytes is still cut off by the header deadline */
    fd = ts_connect(s.port);
    const char *trickle = "GET /health HTTP/1.1\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaa";
    int got_response = 0;
    for (int i = 0; trickle[i]; i++) {
        if (send(fd, trickle + i, 1, MSG_NOSIGNAL) <= 0)
            break;
        struct timespec ts = { 0, 40 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        if (ts_recv_some(fd, buf, 1, 0) > 0) {
            got_response = 1;
            break;
        }
    }
    assert_true(got_response || ts_wait_closed(fd, 2));
    ts_close(fd);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
connection_limit(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--server-max-connections", "2", NULL };
    ts_spawn(&s, args, NULL);
    int a = ts_connect(s.port), b = ts_connect(s.port);
    ts_resp r;
    /* make sure both are accepted before the third arrives */
    ts_send_str(a, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_read_response(a, &r, 0), 0);
    ts_resp_free(&r);
    ts_send_str(b, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_read_response(b, &r, 0), 0);
    ts_resp_free(&r);
    int c = ts_connect(s.port);
    assert_int_equal(ts_read_response(c, &r, 0), 0);
    assert_json_error(&r, 503, "too_many_connections");
    assert_non_null(ts_header(&r, "retry-after"));
    ts_resp_free(&r);
    ts_close(c);
    ts_close(a);
    /* a slot is free again once the server has seen the close */
    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        status = ts_get(s.port, "/metrics", &r);
        if (status == 200)
            assert_non_null(strstr(r.body, "vigia_http_connections_refused_total "));
        ts_resp_free(&r);
    }
    assert_int_equal(status, 200);
    ts_close(b);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


/* A metric without labels from /metrics, or -1 when it is not there. */
static double
metric(int port, const char *name)
{
    ts_resp r;
    assert_int_equal(ts_get(port, "/metrics", &r), 200);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(r.body, key);
    double v = at ? atof(at + strlen(key)) : -1;
    ts_resp_free(&r);
    return v;
}


/* The process's virtual size in KiB (/proc/PID/status VmSize). */
static long
vm_size_kib(pid_t pid)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *at = strstr(text, "VmSize:");
    assert_non_null(at);
    return atol(at + 7);
}


/* Sends a detect head declaring `len` bytes with Expect: 100-continue; returns the fd and the first answer. */
static int
declare_body(int port, long len, ts_resp *r)
{
    char head[512];
    snprintf(head, sizeof head, "POST /v1/detect HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\n"
                                "Expect: 100-continue\r\nContent-Length: %ld\r\n\r\n", len);
    int fd = ts_connect(port);
    ts_send_str(fd, head);
    assert_int_equal(ts_read_response(fd, r, 0), 0);
    return fd;
}


/*
 * limits.body_memory bounds what request bodies hold across connections.
 * The attack, scaled down: 16 connections each declaring 33,554,431 bytes
 * and sending 30 MB took the master to 503 MB, and 40 declarations with no
 * body sent reserved 1.3 GB of address space. Here, with a 6 MiB budget:
 * 40 declarations of 4,000,000 bytes (160 MB reserved before) leave the
 * address space under 64 MiB larger; one body of 3,000,000 bytes in flight
 * makes a second declaration of 4,000,000 get 503 + Retry-After before its
 * body is sent, and a chunked body that grows past the budget gets 503;
 * once the first connection goes, its bytes are free again.
 */
static void
body_memory_budget(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--limits-body-memory", "6M", "--auth-open-detect", "true", NULL };
    ts_spawn(&s, args, NULL);
    ts_resp r;
    assert_int_equal((long)metric(s.port, "vigia_http_body_budget_bytes"), 6L << 20);

    long before = vm_size_kib(s.pid);
    int fds[40];
    for (int i = 0; i < 40; i++) {
        fds[i] = declare_body(s.port, 4000000, &r);
        assert_int_equal(r.status, 100);   /* within the budget: nothing is held until bytes come */
        ts_resp_free(&r);
    }
    long grown = vm_size_kib(s.pid) - before;
    if (grown > 64 * 1024)
        fail_msg("40 declared bodies grew the address space by %ld KiB", grown);
    assert_int_equal((long)metric(s.port, "vigia_http_body_bytes"), 0);
    for (int i = 1; i < 40; i++)
        ts_close(fds[i]);

    /* 3,000,000 of the first one's 4,000,000 bytes arrive: its buffer grows to what it declared */
    char *chunk = calloc(1, 65536);
    for (int sent = 0; sent < 3000000; sent += 60000)
        ts_send(fds[0], chunk, 60000);
    double held = 0;
    for (int i = 0; i < 500 && held < 3000000; i++)
        held = metric(s.port, "vigia_http_body_bytes");
    assert_true(held >= 3000000 && held <= 4000001);

    /* another 4,000,000 would not fit: refused before its body is sent */
    int fd = declare_body(s.port, 4000000, &r);
    assert_json_error(&r, 503, "too_many_uploads");
    assert_string_equal(ts_header(&r, "retry-after"), "1");
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);
    ts_close(fd);

    /* a chunked body has no declaration: it is refused when it grows past what is left */
    fd = ts_connect(s.port);
    ts_send_str(fd, "POST /v1/detect HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 64; i++)
        if (send(fd, "10000\r\n", 7, MSG_NOSIGNAL) < 0 || send(fd, chunk, 65536, MSG_NOSIGNAL) < 0 ||
            send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
            break;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 503, "too_many_uploads");
    ts_resp_free(&r);
    ts_close(fd);
    free(chunk);

    /* the first connection goes: its bytes are given back, and a new declaration fits */
    ts_close(fds[0]);
    for (int i = 0; i < 500 && held > 0; i++)
        held = metric(s.port, "vigia_http_body_bytes");
    assert_int_equal((long)held, 0);
    fd = declare_body(s.port, 4000000, &r);
    assert_int_equal(r.status, 100);
    ts_resp_free(&r);
    ts_close(fd);
    assert_true(metric(s.port, "vigia_http_body_budget_refused_total") >= 2);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
make_web_root(const char *dir, char *web, size_t n)
{
    snprintf(web, n, "%s/web", dir);
    mkdir(web, 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/index.html", web);
    ts_write_file(p, "<!doctype html><title>vigia</title>\n", 36);
    snprintf(p, sizeof p, "%s/app.js", web);
    ts_write_file(p, "export const x = 1;\n", 20);
    snprintf(p, sizeof p, "%s/style.css", web);
    ts_write_file(p, "body{}\n", 7);
    snprintf(p, sizeof p, "%s/big.bin", web);
    char *big = malloc(65536);
    for (int i = 0; i < 65536; i++)
        big[i] = (char)(i * 7);
    ts_write_file(p, big, 65536);
    free(big);
    snprintf(p, sizeof p, "%s/sub", web);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/index.html", web);
    ts_write_file(p, "sub\n", 4);
    snprintf(p, sizeof p, "%s/.secret", web);
    ts_write_file(p, "hidden\n", 7);
    snprintf(p, sizeof p, "%s/escape", web);
    symlink("/etc/passwd", p);
    snprintf(p, sizeof p, "%s/inside", web);
    symlink("style.css", p);
    snprintf(p, sizeof p, "%s/../outside.txt", web);
    ts_write_file(p, "outside\n", 8);
}


static void
static_files(void **state)
{
    (void)state;
    char dir[256], web[300];
    ts_mkdtemp(dir, sizeof dir);
    make_web_root(dir, web, sizeof web);
    ts_server s;
    const char *args[] = { "--web", web, NULL };
    ts_spawn(&s, args, NULL);
    ts_resp r;

    assert_int_equal(ts_get(s.port, "/", &r), 200);
    assert_string_equal(ts_header(&r, "content-type"), "text/html; charset=utf-8");
    assert_string_equal(r.body, "<!doctype html><title>vigia</title>\n");
    char etag[128];
    snprintf(etag, sizeof etag, "%s", ts_header(&r, "etag"));
    assert_non_null(ts_header(&r, "last-modified"));
    ts_resp_free(&r);
    assert_int_equal(ts_get(s.port, "/app.js", &r), 200);
    assert_string_equal(ts_header(&r, "content-type"), "text/javascript; charset=utf-8");
    ts_resp_free(&r);
    assert_int_equal(ts_get(s.port, "/style.css", &r), 200);
    assert_string_equal(ts_header(&r, "content-type"), "text/css; charset=utf-8");
    ts_resp_free(&r);

    /* 304 by ETag and by date */
    char req[1024];
    snprintf(req, sizeof req, "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\nConnection: close\r\n\r\n", etag);
    assert_int_equal(ts_request(s.port, req, &r), 0);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body_len, 0);
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 304);
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"nope\"\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);

    /* the 64 KiB file whole, and in ranges */
    assert_int_equal(ts_get(s.port, "/big.bin", &r), 200);
    assert_int_equal(r.body_len, 65536);
    for (int i = 0; i < 65536; i++)
        if (r.body[i] != (char)(i * 7))
            fail_msg("byte %d differs", i);
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 206);
    assert_string_equal(ts_header(&r, "content-range"), "bytes 100-199/65536");
    assert_int_equal(r.body_len, 100);
    assert_int_equal(r.body[0], (char)(100 * 7));
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 206);
    assert_string_equal(ts_header(&r, "content-range"), "bytes 65526-65535/65536");
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=70000-\r\nConnection: close\r\n\r\n", &r), 0);
    assert_json_error(&r, 416, "range_not_satisfiable");
    assert_string_equal(ts_header(&r, "content-range"), "bytes */65536");
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(ts_header(&r, "content-length"), "65536");
    ts_resp_free(&r);

    /* directories */
    assert_int_equal(ts_get(s.port, "/sub", &r), 301);
    assert_string_equal(ts_header(&r, "location"), "/sub/");
    ts_resp_free(&r);
    assert_int_equal(ts_get(s.port, "/sub/", &r), 200);
    assert_string_equal(r.body, "sub\n");
    ts_resp_free(&r);

    /* no way out of the root, nor into hidden files */
    const char *refused[] = { "/../outside.txt", "/%2e%2e/outside.txt", "/sub/..%2f..%2foutside.txt",
                              "/%2E%2E%2Foutside.txt", "/escape", "/.secret", "/sub/%00", "/..\\outside.txt",
                              "/%2", NULL };
    for (int i = 0; refused[i]; i++) {
        int st = ts_get(s.port, refused[i], &r);
        if (st != 404 && st != 400)
            fail_msg("%s answered %d: %s", refused[i], st, r.body);
        assert_null(strstr(r.body, "root:"));
        assert_null(strstr(r.body, "outside"));
        ts_resp_free(&r);
    }
    /* a symlink that stays inside is fine */
    assert_int_equal(ts_get(s.port, "/inside", &r), 200);
    assert_string_equal(r.body, "body{}\n");
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}



/*
 * Issue 15, items 7 and 8. A FIFO with no writer in the web root: open(2)
 * without O_NONBLOCK blocked the reactor for good (every client hung). And
 * "GET //sub" answered "301 Location: //sub/", which a browser reads as
 * http://sub/ (an open redirect); "///sub" and "/\sub" likewise.
 */
static void
static_fifo_and_open_redirect(void **state)
{
    (void)state;
    char dir[256], web[300], fifo[320];
    ts_mkdtemp(dir, sizeof dir);
    make_web_root(dir, web, sizeof web);
    snprintf(fifo, sizeof fifo, "%s/pipe", web);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    ts_server s;
    const char *args[] = { "--web", web, NULL };
    ts_spawn(&s, args, NULL);
    ts_resp r;

    int fifo_status = ts_get(s.port, "/pipe", &r);
    ts_resp_free(&r);
    /* a server stuck in open() is released by a writer, so that a failure leaves no process behind */
    int w = open(fifo, O_WRONLY | O_NONBLOCK);
    int was_blocked = w >= 0;
    if (w >= 0)
        close(w);
    assert_false(was_blocked);
    assert_int_equal(fifo_status, 404);
    assert_int_equal(ts_get(s.port, "/health", &r), 200);
    ts_resp_free(&r);

    const char *paths[] = { "//sub", "///sub", "//sub//", NULL };
    for (int i = 0; paths[i]; i++) {
        int st = ts_get(s.port, paths[i], &r);
        const char *loc = ts_header(&r, "location");
        if (st == 301 && (!loc || loc[0] != '/' || loc[1] == '/' || loc[1] == '\\'))
            fail_msg("GET %s: 301 to '%s', another host for a browser", paths[i], loc ? loc : "(none)");
        if (st == 301)
            assert_string_equal(loc, "/sub/");
        ts_resp_free(&r);
    }
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static int
run_vigia(const char *const *args, const char *const *env, char *out, size_t n)
{
    char cmd[4096];
    int o = 0;
    for (int i = 0; env && env[i]; i++)
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, "%s ", env[i]);
    o += snprintf(cmd + o, sizeof cmd - (size_t)o, "'%s'", getenv("VIGIA_BIN"));
    for (int i = 0; args[i]; i++)
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, " '%s'", args[i]);
    snprintf(cmd + o, sizeof cmd - (size_t)o, " 2>&1");
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0)
        ;   /* read it all: a child writing into a closed pipe dies of SIGPIPE */
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}


static void
config_errors(void **state)
{
    (void)state;
    char dir[256], path[300], out[65536];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/vigia.conf", dir);

    const char *good = "# comment\n[limits]\nmax_body = 2M\n[log]\nlevel = \"warn\"\n";
    ts_write_file(path, good, strlen(good));
    const char *check[] = { "--config", path, "--check-config", NULL };
    assert_int_equal(run_vigia(check, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "max_body = 2097152"));
    assert_non_null(strstr(out, "level = warn"));
    /* environment beats the file, flags beat the environment */
    const char *env[] = { "VIGIA_LIMITS_MAX_BODY=3M", NULL };
    assert_int_equal(run_vigia(check, env, out, sizeof out), 0);
    assert_non_null(strstr(out, "max_body = 3145728"));
    const char *check2[] = { "--config", path, "--check-config", "--limits-max-body", "4M", NULL };
    assert_int_equal(run_vigia(check2, env, out, sizeof out), 0);
    assert_non_null(strstr(out, "max_body = 4194304"));

    const char *bad_value = "[limits]\nmax_body = lots\n";
    ts_write_file(path, bad_value, strlen(bad_value));
    assert_int_equal(run_vigia(check, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, ":2: limits.max_body: 'lots' is not a size"));

    const char *bad_key = "[server]\nlisten = 127.0.0.1:1\nmax_conections = 5\n";
    ts_write_file(path, bad_key, strlen(bad_key));
    assert_int_equal(run_vigia(check, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, ":3: unknown setting server.max_conections"));

    const char *bad_syntax = "[limits\n";
    ts_write_file(path, bad_syntax, strlen(bad_syntax));
    assert_int_equal(run_vigia(check, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, ":1: section header without ']'"));

    const char *bad_listen[] = { "--check-config", "--listen", "example.com:80", NULL };
    assert_int_equal(run_vigia(bad_listen, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "not a numeric IPv4 or IPv6 address"));
    const char *bad_env[] = { "VIGIA_LOG_LEVEL=chatty", NULL };
    const char *plain[] = { "--check-config", NULL };
    assert_int_equal(run_vigia(plain, bad_env, out, sizeof out), 2);
    assert_non_null(strstr(out, "environment VIGIA_LOG_LEVEL: log.level: 'chatty' is not one of debug|info|warn|error"));
    const char *unknown[] = { "--frobnicate", NULL };
    assert_int_equal(run_vigia(unknown, NULL, out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown option '--frobnicate'"));
    /* --help is one screen that says where things are; --help-all has every key */
    const char *help[] = { "--help", NULL };
    assert_int_equal(run_vigia(help, NULL, out, sizeof out), 0);
    assert_null(strstr(out, "--limits-max-body"));
    assert_non_null(strstr(out, "--help-all"));
    assert_non_null(strstr(out, "config  "));
    assert_non_null(strstr(out, "models  "));
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    if (lines > 40)
        fail_msg("vigia --help is %d lines", lines);
    const char *help_all[] = { "--help-all", NULL };
    assert_int_equal(run_vigia(help_all, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "--limits-max-body"));
    const char *version[] = { "--version", NULL };
    assert_int_equal(run_vigia(version, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "vigia "));
}


static void
sighup_reload(void **state)
{
    (void)state;
    char dir[256], path[300];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/vigia.conf", dir);
    const char *v1 = "[limits]\nmax_body = 1K\n";
    ts_write_file(path, v1, strlen(v1));
    ts_server s;
    const char *args[] = { "--config", path, NULL };
    ts_spawn(&s, args, NULL);
    char req[4096];
    snprintf(req, sizeof req, "POST /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2000\r\n\r\n%2000s", "x");
    ts_resp r;
    assert_int_equal(ts_request(s.port, req, &r), 0);
    assert_int_equal(r.status, 413);
    ts_resp_free(&r);

    const char *v2 = "[limits]\nmax_body = 4K\n";
    ts_write_file(path, v2, strlen(v2));
    kill(s.pid, SIGHUP);
    int status = 0;
    for (int i = 0; i < 100 && status != 405; i++) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        assert_int_equal(ts_request(s.port, req, &r), 0);
        status = r.status;
        ts_resp_free(&r);
    }
    assert_int_equal(status, 405);   /* within the new limit: the body is read, then the method refused */

    /* a broken file is refused and the running config stays */
    const char *bad = "[limits]\nmax_body = nope\n";
    ts_write_file(path, bad, strlen(bad));
    kill(s.pid, SIGHUP);
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    assert_int_equal(ts_request(s.port, req, &r), 0);
    assert_int_equal(r.status, 405);
    ts_resp_free(&r);
    char *log = ts_read_log(&s);
    assert_non_null(strstr(log, "reload failed, keeping the running configuration"));
    free(log);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
sigterm_drains(void **state)
{
    (void)state;
    ts_server s;
    ts_spawn(&s, NULL, NULL);
    int idle = ts_connect(s.port);
    ts_resp r;
    ts_send_str(idle, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(ts_read_response(idle, &r, 0), 0);
    ts_resp_free(&r);
    /* a request whose headers are half sent when SIGTERM arrives is still answered */
    int busy = ts_connect(s.port);
    ts_send_str(busy, "GET /health HTTP/1.1\r\nHost: t\r\n");
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    kill(s.pid, SIGTERM);
    nanosleep(&ts, NULL);
    assert_true(ts_wait_closed(idle, 5));   /* idle keep-alive connections close at once */
    ts_send_str(busy, "\r\n");
    assert_int_equal(ts_read_response(busy, &r, 0), 0);
    /* it began before the drain: answered, with the connection closing */
    assert_true(r.status == 200 || r.status == 503);
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);
    ts_close(busy);
    ts_close(idle);
    assert_int_equal(ts_stop(&s, 0, 10), 0);
    char *log = ts_read_log(&s);
    assert_non_null(strstr(log, "drained, exiting"));
    free(log);
}


/*
 * Sends raw on its own connection: the answer must be `status` with
 * Connection: close, and nothing may follow it before the connection ends
 * (the request smuggled behind is never answered).
 */
static void
assert_refused_and_closed(const char *raw, int status, const char *code)
{
    int fd = ts_connect(shared.port);
    ts_send_str(fd, raw);
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    if (r.status != status)
        fail_msg("%s\nanswered %d: %s", raw, r.status, r.body);
    assert_json_error(&r, status, code);
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);
    assert_int_equal(ts_read_response(fd, &r, 0), -1);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
}


/*
 * The framing llhttp 8.1 leaves lenient, each a smuggling vector behind a
 * proxy that reads it otherwise (RFC 9112 2.2, 3.2, 5.1, 5.2, 6.1, 6.3):
 * every one is refused with 400 (501 for a transfer coding we do not
 * implement) and the connection closed, so the GET /ready behind it is
 * never answered. Before: the folded Transfer-Encoding and Content-Length
 * were honoured, HTTP/1.0 with Transfer-Encoding kept the connection,
 * "gzip, chunked" was read as chunked, "X Y" was a header name, and no
 * Host or two Hosts were fine.
 */
static void
smuggling_framing_refused(void **state)
{
    (void)state;
    const char *next = "GET /ready HTTP/1.1\r\nHost: t\r\n\r\n";
    static const struct {
        const char *head;
        const char *body;
        int status;
    } cases[] = {
        /* obs-fold in Transfer-Encoding and in Content-Length (5.2) */
        { "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", "0\r\n\r\n", 400 },
        { "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\t5\r\n\r\n", "hello", 400 },
        { "GET /health HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", "", 400 },
        /* whitespace before the first header: llhttp folds it into nothing or the line before (2.2) */
        { "POST /health HTTP/1.1\r\nHost: t\r\n Content-Length: 5\r\n\r\n", "hello", 400 },
        /* HTTP/1.0 with Transfer-Encoding: faulty framing, also with keep-alive asked (6.1) */
        { "POST /health HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
          "0\r\n\r\n", 400 },
        /* a transfer coding besides chunked: not implemented (6.1) */
        { "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "0\r\n\r\n", 501 },
        { "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "0\r\n\r\n", 400 },
        { "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ,\r\n\r\n", "0\r\n\r\n", 400 },
        /* both lengths (6.3: held before, kept here as the classic CL.TE / TE.CL vector) */
        { "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "0\r\n\r\n", 400 },
        { "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "0\r\n\r\n", 400 },
        /* field names are tokens: no spaces in them nor before the colon (5.1) */
        { "POST /health HTTP/1.1\r\nHost: t\r\nContent Length: 5\r\n\r\n", "hello", 400 },
        { "GET /health HTTP/1.1\r\nHost: t\r\nX Y: 1\r\n\r\n", "", 400 },
        { "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\n", "hello", 400 },
        /* Host: exactly one in HTTP/1.1, at most one in HTTP/1.0, and a host (3.2) */
        { "GET /health HTTP/1.1\r\n\r\n", "", 400 },
        { "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "", 400 },
        { "GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\nConnection: keep-alive\r\n\r\n", "", 400 },
        { "GET /health HTTP/1.1\r\nHost: a b\r\n\r\n", "", 400 },
        /* line ends: bare LF in a header line, CR without LF (llhttp reads these leniently too) */
        { "GET /health HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n", "", 400 },
        { "GET /health HTTP/1.1\r\nHost: t\r\n\r\r\n", "", 400 },
    };
    char raw[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(raw, sizeof raw, "%s%s%s", cases[i].head, cases[i].body, next);
        assert_refused_and_closed(raw, cases[i].status, cases[i].status == 501 ? "not_implemented" : "bad_request");
    }
    /* the same, one byte per write: the scanner keeps its place between reads */
    int fd = ts_connect(shared.port);
    const char *slow = "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n";
    for (const char *c = slow; *c; c++)
        if (send(fd, c, 1, MSG_NOSIGNAL) != 1)
            break;
    ts_resp refused;
    assert_int_equal(ts_read_response(fd, &refused, 0), 0);
    assert_json_error(&refused, 400, "bad_request");
    ts_resp_free(&refused);
    ts_close(fd);
    /* what real clients send is still served: chunked alone, HTTP/1.0 without Host, an empty Host, IPv6 */
    static const struct {
        const char *raw;
        int status;
    } served[] = {
        { "POST /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
          "3\r\nabc\r\n0\r\n\r\n", 405 },
        { "GET /health HTTP/1.0\r\n\r\n", 200 },
        { "GET /health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", 200 },
        { "GET /health HTTP/1.1\r\nHost: [::1]:8080\r\nX-Empty:\r\nConnection: close\r\n\r\n", 200 },
    };
    for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
        ts_resp r;
        assert_int_equal(ts_request(shared.port, served[i].raw, &r), 0);
        if (r.status != served[i].status)
            fail_msg("%s\nanswered %d: %s", served[i].raw, r.status, r.body);
        ts_resp_free(&r);
    }
}


/* Credentials are checked when the head arrives: a refused client need not send its body. */
static void
auth_before_body(void **state)
{
    (void)state;
    int fd = ts_connect(shared.port);
    ts_send_str(fd, "POST /v1/detect HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\n"
                    "Expect: 100-continue\r\nContent-Length: 20000000\r\n\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 401, "unauthorized");
    assert_string_equal(ts_header(&r, "connection"), "close");
    ts_resp_free(&r);
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
    /* without Expect the answer comes as soon as the head is in, long before 20 MB would be */
    fd = ts_connect(shared.port);
    ts_send_str(fd, "POST /v1/detect HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\n"
                    "Authorization: Bearer not.a.token\r\nContent-Length: 20000000\r\n\r\nxxxx");
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_json_error(&r, 401, "invalid_token");
    ts_resp_free(&r);
    ts_close(fd);
}


static void
cors(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--cors-origins", "https://app.example, https://other.example", NULL };
    ts_spawn(&s, args, NULL);
    ts_resp r;
    assert_int_equal(ts_request(s.port, "OPTIONS /v1/detect HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"
                                        "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n"
                                        "Connection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 204);
    assert_string_equal(ts_header(&r, "access-control-allow-origin"), "https://app.example");
    assert_string_equal(ts_header(&r, "access-control-allow-methods"), "POST");
    assert_string_equal(ts_header(&r, "access-control-allow-headers"), "authorization, content-type");
    assert_string_equal(ts_header(&r, "access-control-max-age"), "600");
    ts_resp_free(&r);
    /* an origin not on the list */
    assert_int_equal(ts_request(s.port, "OPTIONS /v1/detect HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n"
                                        "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n", &r), 0);
    assert_json_error(&r, 403, "cors_forbidden");
    assert_null(ts_header(&r, "access-control-allow-origin"));
    ts_resp_free(&r);
    /* real requests carry the headers for listed origins only */
    assert_int_equal(ts_request(s.port, "GET /health HTTP/1.1\r\nHost: t\r\nOrigin: https://other.example\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(ts_header(&r, "access-control-allow-origin"), "https://other.example");
    assert_string_equal(ts_header(&r, "vary"), "Origin");
    ts_resp_free(&r);
    assert_int_equal(ts_request(s.port, "GET /health HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n", &r), 0);
    assert_null(ts_header(&r, "access-control-allow-origin"));
    ts_resp_free(&r);
    /* a plain OPTIONS (no preflight) is just a method the route does not have */
    assert_int_equal(ts_request(s.port, "OPTIONS /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 405);
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
    /* without cors.origins there are no CORS headers at all */
    assert_int_equal(ts_request(shared.port, "GET /health HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nConnection: close\r\n\r\n", &r), 0);
    assert_null(ts_header(&r, "access-control-allow-origin"));
    ts_resp_free(&r);
}


static void
ipv6_and_json_log(void **state)
{
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof a) == 0;
    if (probe >= 0)
        close(probe);
    if (!v6) {
        print_message("# SKIP no IPv6 loopback here\n");
        skip();
    }
    ts_server s;
    const char *args[] = { "--listen", "[::1]:0", "--log-format", "json", NULL };
    ts_spawn(&s, args, NULL);
    /* the test's own --listen replaces the default 127.0.0.1:0 */
    assert_non_null(strstr(s.host_port, "[::1]:"));
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    a.sin6_port = htons((uint16_t)s.port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ts_send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ts_resp r;
    assert_int_equal(ts_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    ts_close(fd);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
    char *log = ts_read_log(&s);
    /* every line is one JSON object; the access line names the IPv6 peer */
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '{' || line[strlen(line) - 1] != '}')
            fail_msg("not a JSON line: %s", line);
    }
    free(log);
    log = ts_read_log(&s);
    assert_non_null(strstr(log, "\"module\":\"access\",\"msg\":\"[::1]:"));
    free(log);
}


/*
 * Issue 17, part 3: the master writes access lines in batches (when 64 KiB
 * wait, or log.flush after the first). N pipelined requests give N access
 * lines in the log file, whole and in request order; with log.flush at 60s
 * the lines after the last 64 KiB batch reach the file only through the
 * SIGTERM drain's final write. Then, with the default flush, one request's
 * line appears with no more traffic (polled, never timed).
 */
static void
access_log_batches(void **state)
{
    (void)state;
    enum { N = 3000, CHUNK = 50 };
    ts_server s;
    const char *args[] = { "--log-flush", "60s", NULL };
    ts_spawn(&s, args, NULL);
    int fd = ts_connect(s.port);
    char *reqs = malloc(CHUNK * 64);
    for (int i = 0; i < N; i += CHUNK) {
        size_t n = 0;
        for (int j = i; j < i + CHUNK; j++)
            n += (size_t)snprintf(reqs + n, 64, "GET /seq/%05d HTTP/1.1\r\nHost: t\r\n\r\n", j);
        ts_send(fd, reqs, n);
        for (int j = i; j < i + CHUNK; j++) {
            ts_resp r;
            assert_int_equal(ts_read_response(fd, &r, 0), 0);
            assert_int_equal(r.status, 404);
            ts_resp_free(&r);
        }
    }
    free(reqs);
    ts_close(fd);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
    char *log = ts_read_log(&s);
    int seen = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        char *a = strstr(line, " access: ");
        if (!a)
            continue;
        char want[96];
        snprintf(want, sizeof want, " info  master access: 127.0.0.1:");
        if (strncmp(line + 24, want, strlen(want)) != 0 || line[4] != '-' || line[23] != 'Z')
            fail_msg("access line %d is torn: %s", seen, line);
        snprintf(want, sizeof want, " \"GET /seq/%05d HTTP/1.1\" 404 ", seen);
        if (!strstr(a, want) || !strstr(a, "ms error=not_found \"no such resource\""))
            fail_msg("access line %d is not request %d's: %s", seen, seen, line);
        seen++;
    }
    assert_int_equal(seen, N);
    free(log);

    /* the default flush: a single request's line comes without more traffic */
    ts_spawn(&s, NULL, NULL);
    ts_resp r;
    assert_int_equal(ts_get(s.port, "/seq/lonely", &r), 404);
    ts_resp_free(&r);
    log = ts_wait_log(&s, "\"GET /seq/lonely HTTP/1.1\" 404", 10);
    assert_non_null(strstr(log, "\"GET /seq/lonely HTTP/1.1\" 404"));
    free(log);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


int
main(void)
{
    const struct CMUnitTest shared_tests[] = {
        cmocka_unit_test(health_ready_metrics),
        cmocka_unit_test(errors_are_json),
        cmocka_unit_test(head_has_no_body),
        cmocka_unit_test(keepalive_and_pipelining),
        cmocka_unit_test(request_limits),
        cmocka_unit_test(expect_continue),
        cmocka_unit_test(cors),
        cmocka_unit_test(auth_before_body),
        cmocka_unit_test(smuggling_framing_refused),
    };
    const struct CMUnitTest own_tests[] = {
        cmocka_unit_test(timeouts),
        cmocka_unit_test(connection_limit),
        cmocka_unit_test(body_memory_budget),
        cmocka_unit_test(static_files),
        cmocka_unit_test(static_fifo_and_open_redirect),
        cmocka_unit_test(config_errors),
        cmocka_unit_test(sighup_reload),
        cmocka_unit_test(sigterm_drains),
        cmocka_unit_test(ipv6_and_json_log),
        cmocka_unit_test(access_log_batches),
    };
    int failed = cmocka_run_group_tests_name("http (shared server)", shared_tests, shared_up, shared_down);
    failed += cmocka_run_group_tests_name("http (own servers)", own_tests, NULL, NULL);
    return failed ? 1 : 0;
}
