/*
 * response: answering an HTTP request (see http.h): the status line and
 * headers, bodies from memory or files, JSON errors, the upgrade to another
 * protocol, request metrics and the access log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "vg_build.h"

#include "base/jsonw.h"
#include "base/log.h"
#include "http/http_internal.h"

/* ---- dates ---- */

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };


void
vg_http_format_date(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}


const char *
vg_http_date(void)
{
    static char cached[32];
    static time_t cached_at = -1;
    time_t now = time(NULL);
    if (now != cached_at) {
        vg_http_format_date(now, cached);
        cached_at = now;
    }
    return cached;
}


int64_t
vg_http_parse_date(const char *s, size_t n)
{
    char tmp[64];
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    return (int64_t)timegm(&tm);
}

/* ---- answers ---- */

const char *
vg_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}


/*
 * A value may carry what a client sent (an Origin, a decoded path): CR, LF
 * and NUL in it become spaces, so that it can never end the field and start
 * another one (response splitting, header injection).
 */
void
vg_req_add_header(vg_req *r, const char *name, const char *fmt, ...)
{
    vg_buf_puts(&r->resp_headers, name);
    vg_buf_puts(&r->resp_headers, ": ");
    size_t from = r->resp_headers.len;
    if (!strchr(fmt, '%')) {
        vg_buf_puts(&r->resp_headers, fmt);   /* a constant value: no printf */
    } else {
        va_list ap;
        va_start(ap, fmt);
        vg_buf_vprintf(&r->resp_headers, fmt, ap);
        va_end(ap);
    }
    for (size_t i = from; i < r->resp_headers.len; i++) {
        char c = r->resp_headers.data[i];
        if (c == '\r' || c == '\n' || c == '\0')
            r->resp_headers.data[i] = ' ';
    }
    vg_buf_puts(&r->resp_headers, "\r\n");
}


/* An access line under construction in a caller's array: what does not fit is cut. */
typedef struct {
    char *p;      /* the array */
    size_t n;     /* bytes written */
    size_t cap;   /* its size */
} line_w;


static void
lw_put(line_w *w, const char *s, size_t n)
{
    if (n > w->cap - w->n)
        n = w->cap - w->n;
    memcpy(w->p + w->n, s, n);
    w->n += n;
}


static void
lw_u64(line_w *w, uint64_t v)
{
    char d[20];
    lw_put(w, d, vg_u64_dec(d, v));
}


static void
lw_int(line_w *w, int v)
{
    if (v < 0)
        lw_put(w, "-", 1);
    lw_u64(w, v < 0 ? (uint64_t)0 - (uint64_t)(int64_t)v : (uint64_t)v);
}


static void
metrics_and_log(vg_req *r, int status, size_t body_len)
{
    vg_http *h = r->http;
    const vg_config *cfg = vg_server_config(h->srv);
    double secs = ev_time() - r->started;
    if (secs < 0)
        secs = 0;
    const char *route = r->route ? r->route->pattern : r->label ? r->label : r->fn ? "static" : "none";
    char st[8] = { (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10) };
    if (status < 100 || status > 999)
        snprintf(st, sizeof st, "%d", status);
    const char *values[] = { route, r->method_name ? r->method_name : "-", st };
    vg_series_add(vg_metrics_series(h->m_requests, values), 1);
    vg_series_observe(vg_metrics_series(h->m_latency, values), secs);

    if (!cfg->access_log && !r->err_code)
        return;
    /* one line per request, put together without printf (the log escapes it in the same pass
       that copies it); a field longer than the line is cut, and the log cuts at 4 KiB anyway */
    char line[4096];
    line_w w = { line, 0, sizeof line };
    lw_put(&w, r->peer, strlen(r->peer));
    lw_put(&w, " \"", 2);
    const char *m = r->method_name ? r->method_name : "-";
    lw_put(&w, m, strlen(m));
    lw_put(&w, " ", 1);
    /* the query is left out: it may carry tokens */
    if (r->path.p)
        lw_put(&w, r->path.p, r->path.n > 512 ? 512 : r->path.n);
    else
        lw_put(&w, "-", 1);
    if (r->query.n)
        lw_put(&w, "?...", 4);
    lw_put(&w, " HTTP/1.", 8);
    lw_int(&w, r->http_minor);
    lw_put(&w, "\" ", 2);
    lw_int(&w, status);
    lw_put(&w, " ", 1);
    lw_u64(&w, body_len);
    lw_put(&w, " ", 1);
    uint64_t us = (uint64_t)(secs * 1e6 + 0.5);   /* "%.3fms" of secs * 1000 */
    lw_u64(&w, us / 1000);
    char frac[4] = { '.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10) };
    lw_put(&w, frac, 4);
    lw_put(&w, "ms", 2);
    if (r->err_code) {
        lw_put(&w, " error=", 7);
        lw_put(&w, r->err_code, strlen(r->err_code));
        lw_put(&w, " \"", 2);
        lw_put(&w, r->err_msg, strlen(r->err_msg));
        lw_put(&w, "\"", 1);
    }
    /* 503 is a state the server is in (loading, draining, over capacity), said at warn so that
       readiness probes during a model load do not fill the log with errors */
    enum vg_log_level lvl = status == 503 ? VG_LOG_WARN : status >= 500 ? VG_LOG_ERROR : VG_LOG_INFO;
    vg_log_access(lvl, line, w.n);
}


static void
buf_free(void *p)
{
    free(p);
}


/*
 * Queues status line, headers and the body. Exactly one of (body, fd)
 * describes the body: memory we own (freed after writing), or a file range.
 */
static void
respond(vg_req *r, int status, const char *ctype, char *body, size_t len, int fd, off_t off)
{
    vg_http__conn *hc = r->hc;
    if (!hc) {           /* the client is gone */
        free(body);
        if (fd >= 0)
            close(fd);
        metrics_and_log(r, 499, 0);
        vg_http__req_destroy(r);
        return;
    }
    vg_http *http = r->http;
    int keep = r->keep_alive && !vg_server_is_draining(http->srv) && hc->state == H_HANDLING;
    if (r->hdrs)
        for (int i = 0; i < http->n_resp_filters; i++)
            http->resp_filters[i].fn(r, http->resp_filters[i].ud);
    int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);

    vg_buf h;
    vg_buf_init(&h);
    vg_buf_reserve(&h, 256 + r->resp_headers.len);
    /* the head of every answer: no printf here */
    vg_buf_puts(&h, "HTTP/1.1 ");
    vg_buf_put_u64(&h, (uint64_t)status);
    vg_buf_putc(&h, ' ');
    vg_buf_puts(&h, vg_http_reason(status));
    vg_buf_puts(&h, "\r\nDate: ");
    vg_buf_puts(&h, vg_http_date());
    vg_buf_puts(&h, "\r\nServer: vigia/" PACKAGE_VERSION "\r\n");
    if (ctype && !no_body) {
        vg_buf_puts(&h, "Content-Type: ");
        vg_buf_puts(&h, ctype);
        vg_buf_puts(&h, "\r\n");
    }
    if (!no_body) {
        vg_buf_puts(&h, "Content-Length: ");
        vg_buf_put_u64(&h, len);
        vg_buf_puts(&h, "\r\n");
    }
    if (!keep)
        vg_buf_puts(&h, "Connection: close\r\n");
    else if (r->http_minor == 0)
        vg_buf_puts(&h, "Connection: keep-alive\r\n");
    vg_buf_append(&h, r->resp_headers.data, r->resp_headers.len);
    vg_buf_puts(&h, "\r\n");

    vg_conn *c = hc->conn;
    size_t hlen;
    char *hp = vg_buf_steal(&h, &hlen);
    vg_conn_write(c, hp, hlen, buf_free, hp);
    int send_body = !no_body && r->method != VG_M_HEAD && len > 0;
    if (fd >= 0) {
        if (send_body)
            vg_conn_write_file(c, fd, off, len);
        else
            close(fd);
    } else if (send_body) {
        vg_conn_write(c, body, len, buf_free, body);
        body = NULL;
    }
    free(body);

    metrics_and_log(r, status, len);
    hc->req = NULL;
    hc->state = H_WRITING;
    vg_http__req_destroy(r);
    if (!keep)
        vg_conn_close_after_flush(c);
    vg_conn_flush(c);
}


void
vg_req_respond(vg_req *r, int status, const char *content_type, const void *body, size_t len)
{
    char *copy = NULL;
    if (len) {
        copy = vg_xmalloc(len);
        memcpy(copy, body, len);
    }
    respond(r, status, content_type, copy, len, -1, 0);
}


void
vg_req_respond_buf(vg_req *r, int status, const char *content_type, vg_buf *body)
{
    size_t len = body->len;
    char *p = body->data;
    vg_buf_init(body);
    respond(r, status, content_type, p, len, -1, 0);
}


void
vg_req_respond_file(vg_req *r, int status, const char *content_type, int fd, off_t off, size_t len)
{
    respond(r, status, content_type, NULL, len, fd, off);
}


void
vg_req_log_error(vg_req *r, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->err_code = code;
    free(r->err_msg);
    r->err_msg = vg_xstrdup(msg);
}


int
vg_req_is_upgrade(const vg_req *r)
{
    return r->upgrade;
}


/* The error dialect of r's path (the longest prefix that matches), or NULL. */
static const struct vg_http__dialect *
dialect_of(const vg_req *r)
{
    const vg_http *h = r->http;
    vg_str path = vg_req_path(r);
    const struct vg_http__dialect *best = NULL;
    for (int i = 0; i < h->n_dialects; i++) {
        const struct vg_http__dialect *d = &h->dialects[i];
        if (path.p && path.n >= d->prefix_len && memcmp(path.p, d->prefix, d->prefix_len) == 0 &&
            (!best || d->prefix_len > best->prefix_len))
            best = d;
    }
    return best;
}


void
vg_req_error(vg_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_http *h = r->http;
    if (r->upgrade && h->upgrade_refusal && r->hc && r->hc->state == H_HANDLING && !r->early_status) {
        r->err_code = code;
        free(r->err_msg);
        r->err_msg = vg_xstrdup(msg);
        if (h->upgrade_refusal(r, status, code, msg, h->upgrade_refusal_ud))
            return;
    }
    r->err_code = code;
    free(r->err_msg);
    r->err_msg = vg_xstrdup(msg);

    vg_buf body;
    vg_buf_init(&body);
    const struct vg_http__dialect *d = dialect_of(r);
    if (d) {
        d->fn(r, status, code, msg, &body, d->ud);
        vg_req_respond_buf(r, status, "application/json", &body);
        return;
    }
    vg_jsonw w;
    vg_jsonw_init(&w, &body);
    vg_jsonw_obj(&w);
    vg_jsonw_kobj(&w, "error");
    vg_jsonw_kstr(&w, "code", code);
    vg_jsonw_kstr(&w, "message", msg);
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);
    vg_buf_putc(&body, '\n');
    vg_req_respond_buf(r, status, "application/json", &body);
}


vg_conn *
vg_req_upgrade(vg_req *r, int status, const vg_proto *proto, void *proto_ctx)
{
    vg_http__conn *hc = r->hc;
    if (!hc || hc->state != H_HANDLING) {
        vg_http__req_destroy(r);
        return NULL;
    }
    vg_conn *c = hc->conn;
    vg_buf h;
    vg_buf_init(&h);
    vg_buf_printf(&h, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: vigia/" PACKAGE_VERSION "\r\n", status,
                  vg_http_reason(status), vg_http_date());
    vg_buf_append(&h, r->resp_headers.data, r->resp_headers.len);
    vg_buf_puts(&h, "\r\n");
    size_t hlen;
    char *hp = vg_buf_steal(&h, &hlen);
    vg_conn_write(c, hp, hlen, buf_free, hp);
    metrics_and_log(r, status, 0);
    hc->req = NULL;
    hc->upgraded = 1;
    vg_http__req_destroy(r);
    vg_conn_set_read_deadline(c, 0);
    vg_conn_set_proto(c, proto, proto_ctx);
    vg_conn_read_start(c);
    vg_conn_flush(c);
    if (!hc->in_parse)
        vg_http__handover(hc);   /* else feed() hands over once it unwinds */
    return c;
}
