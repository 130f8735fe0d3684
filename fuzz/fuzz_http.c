/*
 * libFuzzer harness for the HTTP request path: bytes in -> llhttp ->
 * limits -> router -> handler -> response, through the real connection
 * code over a socketpair (no network). Checks that every byte the server
 * writes belongs to well-formed responses ("HTTP/1.1 NNN ...\r\n" heads
 * with a Content-Length that matches), whatever the input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "api/ops.h"
#include "base/config.h"
#include "base/log.h"
#include "http/cors.h"
#include "http/http.h"
#include "http/static.h"
#include "net/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static vg_server *srv;
static vg_http *http;
static vg_static st;

static void
echo(vg_req *r, void *ud)
{
    (void)ud;
    vg_str b = vg_req_body(r);
    vg_buf q;
    vg_buf_init(&q);
    vg_req_query_get(r, "x", &q);
    vg_buf_release(&q);
    vg_req_respond(r, 200, "application/octet-stream", b.p, b.n);
}


static void
setup(void)
{
    vg_log_set_level(VG_LOG_OFF);
    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    char err[256];
    vg_config_set(cfg, "limits", "max_body", "64K", err, sizeof err);
    vg_config_set(cfg, "limits", "max_url", "1K", err, sizeof err);
    vg_config_set(cfg, "limits", "max_header_size", "4K", err, sizeof err);
    vg_config_set(cfg, "log", "access", "false", err, sizeof err);
    loop = ev_loop_new(EVFLAG_AUTO);
    srv = vg_server_create(loop, cfg);
    http = vg_http_create(srv);
    vg_cors_install(http);
    vg_ops_register(http);
    vg_http_route(http, VG_M_POST | VG_M_PUT, "/echo", echo, NULL, 0, 1);
    vg_http_route(http, VG_M_GET | VG_M_POST, "/v1/users/{id}/profile", echo, NULL, 0, 1);
    char dir[] = "/tmp/vigia-fuzz-web-XXXXXX";
    if (mkdtemp(dir)) {
        char p[64];
        snprintf(p, sizeof p, "%s/index.html", dir);
        FILE *f = fopen(p, "w");
        if (f) {
            fputs("<!doctype html>hello\n", f);
            fclose(f);
        }
        vg_static_init(&st, http, dir);
    }
}


/*
 * Every response in out[0..n) must be a status line, headers and exactly
 * Content-Length bytes -- except answers to HEAD, which have no body: when
 * the input had a HEAD request, a response may be followed directly by the
 * next status line.
 */
static void
check_responses(const char *out, size_t n, int had_head)
{
    size_t at = 0;
    while (at < n) {
        if (n - at < 12 || memcmp(out + at, "HTTP/1.1 ", 9) != 0)
            abort();
        const char *end = memmem(out + at, n - at, "\r\n\r\n", 4);
        if (!end)
            abort();   /* a head cut short */
        size_t head = (size_t)(end - (out + at)) + 4;
        int status = atoi(out + at + 9);
        if (status < 100 || status > 599)
            abort();
        const char *cl = memmem(out + at, head, "\r\nContent-Length: ", 18);
        size_t body = cl ? strtoul(cl + 18, NULL, 10) : 0;
        at += head;
        if (status == 100)
            continue;
        if (had_head && (at == n || (n - at >= 9 && memcmp(out + at, "HTTP/1.1 ", 9) == 0)))
            continue;
        if (at + body > n)
            abort();   /* a body shorter than its Content-Length */
        at += body;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    int sz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    vg_conn *c = vg_server_adopt(srv, sv[0], "fuzz");
    (void)c;
    size_t sent = 0;
    char *out = NULL;
    size_t outn = 0;
    int open_conns = vg_server_connection_count(srv);
    for (int round = 0; round < 200; round++) {
        if (sent < size) {
            ssize_t w = write(sv[1], data + sent, size - sent);
            if (w > 0)
                sent += (size_t)w;
        } else if (sent == size) {
            shutdown(sv[1], SHUT_WR);
            sent++;
        }
        ev_run(loop, EVRUN_NOWAIT);
        char buf[65536];
        ssize_t r;
        while ((r = read(sv[1], buf, sizeof buf)) > 0) {
            out = realloc(out, outn + (size_t)r);
            memcpy(out + outn, buf, (size_t)r);
            outn += (size_t)r;
        }
        if (vg_server_connection_count(srv) < open_conns && sent > size)
            break;
    }
    check_responses(out, outn, memmem(data, size, "HEAD", 4) != NULL);
    free(out);
    close(sv[1]);
    vg_server_close_connections(srv, "fuzz done");
    ev_run(loop, EVRUN_NOWAIT);   /* the prepare watcher frees closed connections */
    return 0;
}
