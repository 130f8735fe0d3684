/* http: see http.h. */
#include "http/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "vg_build.h"

#include "http/cors.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "net/server.h"

#define MAX_HEADERS_HARD 1000

enum hstate {
    H_IDLE,       /* waiting for the first byte of a request */
    H_HEAD,       /* reading request line and headers */
    H_BODY,       /* reading the body */
    H_HANDLING,   /* a handler owns the request */
    H_WRITING     /* response queued, waiting for it to drain */
};

typedef struct http_conn http_conn;

struct hdr_off {
    size_t name_off, name_len, value_off, value_len;
};

struct vg_req {
    http_conn *hc;               /* NULL once orphaned */
    vg_server *srv;
    char peer[64];
    unsigned method;
    const char *method_name;
    int http_minor;
    vg_buf head;                 /* the target, then header names and values */
    size_t url_len;
    size_t header_bytes;
    struct hdr_off *offs;
    vg_header *hdrs;             /* resolved when the head is complete */
    int nhdrs, cap_hdrs;
    int in_value;                /* llhttp is inside a header value */
    int headers_done;            /* trailers are counted but not stored */
    vg_str path, query;
    const vg_route *route;
    vg_handler_fn fn;
    void *fn_ud;
    vg_str params[VG_ROUTE_MAX_PARAMS];
    int nparams;
    vg_buf body;
    size_t body_limit;
    int discard_body;            /* an error is already decided: don't keep the body */
    int cb_failed;               /* a callback stopped the parser with early_status */
    int filtered;                /* the server's filters ran at the end of the head */
    int early_status;            /* error decided while parsing (404, 405, 413...) */
    const char *early_code;
    char early_msg[160];
    unsigned allow;              /* methods for a 405 */
    vg_buf resp_headers;         /* "Name: value\r\n" lines added by the handler */
    int keep_alive;
    int upgrade;
    double started;
    void *data;
    void (*on_abort)(vg_req *r, void *ud);
    void *abort_ud;
    const char *err_code;        /* for the access log */
    char *err_msg;
};

struct http_conn {
    vg_conn *conn;
    llhttp_t parser;
    vg_req *req;
    enum hstate state;
    vg_buf pending;              /* pipelined bytes read while a request was handled */
    int in_parse;
    int upgraded;                /* the connection now speaks another protocol */
    int answered_in_head;        /* a filter answered before the body was read */
};

static const llhttp_settings_t *settings(void);
static int feed(http_conn *hc, const char *p, size_t n);

/* ------------------------------------------------------------------ */
/* dates */

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

/* ------------------------------------------------------------------ */
/* reading the request */

unsigned vg_req_method(const vg_req *r) { return r->method; }
const char *vg_req_method_name(const vg_req *r) { return r->method_name; }
vg_str vg_req_path(const vg_req *r) { return r->path; }
vg_str vg_req_query(const vg_req *r) { return r->query; }
vg_str vg_req_param(const vg_req *r, int i) { return i < r->nparams ? r->params[i] : (vg_str){ "", 0 }; }
vg_str vg_req_body(const vg_req *r) { return (vg_str){ r->body.data ? r->body.data : "", r->body.len }; }
const char *vg_req_peer(const vg_req *r) { return r->peer; }
vg_server *vg_req_server(const vg_req *r) { return r->srv; }
vg_conn *vg_req_conn(const vg_req *r) { return r->hc ? r->hc->conn : NULL; }
const vg_route *vg_req_route(const vg_req *r) { return r->route; }
int vg_req_is_orphan(const vg_req *r) { return r->hc == NULL; }
double vg_req_started(const vg_req *r) { return r->started; }
void vg_req_set_data(vg_req *r, void *data) { r->data = data; }
void *vg_req_data(const vg_req *r) { return r->data; }
void
vg_req_on_abort(vg_req *r, void (*fn)(vg_req *r, void *ud), void *ud)
{
    r->on_abort = fn;
    r->abort_ud = ud;
}


char *
vg_req_take_body(vg_req *r, size_t *len)
{
    if (!r->body.data)
        vg_buf_reserve(&r->body, 0);
    return vg_buf_steal(&r->body, len);
}


int vg_req_header_count(const vg_req *r) { return r->hdrs ? r->nhdrs : 0; }
const vg_header *vg_req_header_at(const vg_req *r, int i) { return &r->hdrs[i]; }


vg_str
vg_req_target(const vg_req *r)
{
    return (vg_str){ r->head.data, r->url_len };
}


vg_str
vg_req_header(const vg_req *r, const char *name)
{
    if (r->hdrs)
        for (int i = 0; i < r->nhdrs; i++)
            if (vg_str_ieq(r->hdrs[i].name, name))
                return r->hdrs[i].value;
    return (vg_str){ NULL, 0 };
}


static int
hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}


int
vg_url_decode(const char *s, size_t n, vg_buf *out, int plus_space)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        vg_buf_putc(out, c);
    }
    vg_buf_cstr(out);
    return 0;
}


int
vg_req_query_get(const vg_req *r, const char *name, vg_buf *out)
{
    const char *p = r->query.p, *end = r->query.p + r->query.n;
    size_t nl = strlen(name);
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        vg_buf key;
        vg_buf_init(&key);
        int ok = vg_url_decode(p, (size_t)(ke - p), &key, 1) == 0 && key.len == nl &&
                 memcmp(key.data, name, nl) == 0;
        vg_buf_release(&key);
        if (ok) {
            out->len = 0;
            if (eq)
                return vg_url_decode(eq + 1, (size_t)(pe - eq - 1), out, 1);
            vg_buf_cstr(out);
            return 0;
        }
        p = amp ? amp + 1 : end;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* request objects */

static vg_req *
req_create(http_conn *hc)
{
    vg_req *r = vg_xcalloc(1, sizeof *r);
    r->hc = hc;
    r->srv = hc->conn->srv;
    snprintf(r->peer, sizeof r->peer, "%s", hc->conn->peer);
    r->started = ev_now(r->srv->loop);
    r->body_limit = r->srv->cfg->max_body;
    return r;
}


static void
req_destroy(vg_req *r)
{
    vg_buf_release(&r->head);
    vg_buf_release(&r->body);
    vg_buf_release(&r->resp_headers);
    free(r->offs);
    free(r->hdrs);
    free(r->err_msg);
    free(r);
}


/* Records an error found while parsing; the request is answered with it when complete. */
static void
set_early_error(vg_req *r, int status, const char *code, const char *msg)
{
    if (r->early_status)
        return;
    r->early_status = status;
    r->early_code = code;
    snprintf(r->early_msg, sizeof r->early_msg, "%s", msg);
    r->discard_body = 1;
}

/* ------------------------------------------------------------------ */
/* llhttp callbacks */

static http_conn *
hc_of(llhttp_t *p)
{
    return p->data;
}


static int
on_message_begin(llhttp_t *p)
{
    http_conn *hc = hc_of(p);
    if (!hc->req)
        hc->req = req_create(hc);
    hc->state = H_HEAD;
    vg_conn_set_read_deadline(hc->conn, ev_now(hc->conn->srv->loop) + hc->conn->srv->cfg->header_timeout);
    return 0;
}


static int
on_url(llhttp_t *p, const char *at, size_t n)
{
    vg_req *r = hc_of(p)->req;
    if (r->url_len + n > r->srv->cfg->max_url) {
        set_early_error(r, 414, "uri_too_long", "request target too long");
        r->cb_failed = 1;
        return -1;
    }
    vg_buf_append(&r->head, at, n);
    r->url_len += n;
    return 0;
}


static int
header_data(llhttp_t *p, const char *at, size_t n, int value)
{
    vg_req *r = hc_of(p)->req;
    r->header_bytes += n;
    if (r->header_bytes > r->srv->cfg->max_header_size) {
        set_early_error(r, 431, "headers_too_large", "request headers too large");
        r->cb_failed = 1;
        return -1;
    }
    if (r->headers_done)
        return 0;
    if (!value && !r->in_value && (r->nhdrs == 0 || r->offs[r->nhdrs - 1].value_off != (size_t)-1)) {
        /* a new header line begins */
        if (r->nhdrs >= r->srv->cfg->max_headers || r->nhdrs >= MAX_HEADERS_HARD) {
            set_early_error(r, 431, "too_many_headers", "too many request headers");
            r->cb_failed = 1;
            return -1;
        }
        if (r->nhdrs == r->cap_hdrs) {
            r->cap_hdrs = r->cap_hdrs ? r->cap_hdrs * 2 : 16;
            r->offs = vg_xrealloc(r->offs, (size_t)r->cap_hdrs * sizeof *r->offs);
        }
        struct hdr_off *o = &r->offs[r->nhdrs++];
        o->name_off = r->head.len;
        o->name_len = 0;
        o->value_off = (size_t)-1;
        o->value_len = 0;
    }
    struct hdr_off *o = &r->offs[r->nhdrs - 1];
    if (value) {
        if (o->value_off == (size_t)-1)
            o->value_off = r->head.len;
        o->value_len += n;
        r->in_value = 1;
    } else {
        o->name_len += n;
    }
    vg_buf_append(&r->head, at, n);
    return 0;
}


static int
on_header_field(llhttp_t *p, const char *at, size_t n)
{
    return header_data(p, at, n, 0);
}


static int
on_header_value(llhttp_t *p, const char *at, size_t n)
{
    return header_data(p, at, n, 1);
}


static int
on_header_value_complete(llhttp_t *p)
{
    vg_req *r = hc_of(p)->req;
    if (!r->headers_done && r->nhdrs > 0 && r->offs[r->nhdrs - 1].value_off == (size_t)-1)
        r->offs[r->nhdrs - 1].value_off = r->head.len;   /* empty value */
    r->in_value = 0;
    return 0;
}


/* Splits the target into path and query; accepts origin-form and absolute-form. */
static int
split_target(vg_req *r)
{
    const char *t = r->head.data ? r->head.data : "";
    size_t n = r->url_len;
    if (n >= 7 && (strncasecmp(t, "http://", 7) == 0 || (n >= 8 && strncasecmp(t, "https://", 8) == 0))) {
        const char *host = t + (t[4] == ':' ? 7 : 8);
        const char *slash = memchr(host, '/', (size_t)(t + n - host));
        if (!slash)
            return -1;
        n -= (size_t)(slash - t);
        t = slash;
    }
    if (n == 0 || t[0] != '/')
        return -1;
    const char *q = memchr(t, '?', n);
    r->path.p = t;
    r->path.n = q ? (size_t)(q - t) : n;
    r->query.p = q ? q + 1 : t + n;
    r->query.n = q ? n - r->path.n - 1 : 0;
    const char *hash = memchr(r->path.p, '#', r->path.n);
    if (hash)
        r->path.n = (size_t)(hash - r->path.p);
    return 0;
}


static void
resolve_headers(vg_req *r)
{
    r->hdrs = vg_xcalloc((size_t)(r->nhdrs ? r->nhdrs : 1), sizeof *r->hdrs);
    for (int i = 0; i < r->nhdrs; i++) {
        struct hdr_off *o = &r->offs[i];
        r->hdrs[i].name = (vg_str){ r->head.data + o->name_off, o->name_len };
        size_t voff = o->value_off == (size_t)-1 ? r->head.len : o->value_off;
        r->hdrs[i].value = (vg_str){ r->head.data + voff, o->value_len };
    }
    r->headers_done = 1;
}


static void
send_continue(http_conn *hc)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    vg_conn_write(hc->conn, msg, sizeof msg - 1, NULL, NULL);
    vg_conn_flush(hc->conn);
}


static int
on_headers_complete(llhttp_t *p)
{
    http_conn *hc = hc_of(p);
    vg_req *r = hc->req;
    vg_server *srv = r->srv;

    vg_buf_cstr(&r->head);
    resolve_headers(r);
    r->method_name = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    r->method = vg_method_bit(r->method_name, strlen(r->method_name));
    r->http_minor = llhttp_get_http_minor(p);
    r->upgrade = llhttp_get_upgrade(p);

    if (split_target(r) < 0) {
        set_early_error(r, 400, "bad_request", "malformed request target");
    } else if (llhttp_get_http_major(p) != 1) {
        set_early_error(r, 505, "http_version_not_supported", "only HTTP/1.x is served");
    } else if (srv->draining) {
        set_early_error(r, 503, "shutting_down", "the server is shutting down");
    } else if (r->method == VG_M_OPTIONS && vg_req_header(r, "access-control-request-method").p) {
        r->fn = vg_cors_preflight;   /* CORS preflight: about the route, not to it */
        r->fn_ud = NULL;
    } else {
        unsigned allow = 0;
        enum vg_match m = vg_router_match(&srv->router, r->method, r->path.p, r->path.n,
                                          &r->route, r->params, &r->nparams, &allow);
        if (m == VG_MATCH_OK) {
            r->fn = r->route->fn;
            r->fn_ud = r->route->ud;
            if (r->route->max_body)
                r->body_limit = r->route->max_body;
        } else if (m == VG_MATCH_NOT_FOUND && srv->fallback && (r->method & (VG_M_GET | VG_M_HEAD))) {
            r->fn = srv->fallback;
            r->fn_ud = srv->fallback_ud;
        } else if (m == VG_MATCH_METHOD) {
            r->allow = allow;
            char msg[160];
            snprintf(msg, sizeof msg, "method %s not allowed here", r->method_name);
            set_early_error(r, 405, "method_not_allowed", msg);
        } else if (!r->method) {
            set_early_error(r, 501, "not_implemented", "method not implemented");
        } else {
            set_early_error(r, 404, "not_found", "no such resource");
        }
    }

    uint64_t clen = p->content_length;
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && clen > 0);

    /*
     * A request with a body meets the filters (credentials, rate limits) now,
     * so that a refused client need not send, and we need not read, its body.
     */
    if (has_body && r->route && !r->early_status && srv->n_filters) {
        r->filtered = 1;
        hc->state = H_HANDLING;
        for (int i = 0; i < srv->n_filters; i++) {
            if (srv->filters[i].fn(r, srv->filters[i].ud)) {
                hc->answered_in_head = 1;   /* r is answered and gone; the connection closes */
                return -1;
            }
        }
        hc->state = H_HEAD;
    }
    if ((p->flags & F_CONTENT_LENGTH) && clen > r->body_limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body of %llu bytes exceeds the limit of %zu",
                 (unsigned long long)clen, r->body_limit);
        r->early_status = 0;
        set_early_error(r, 413, "payload_too_large", msg);
        r->cb_failed = 1;
        return -1;
    }

    vg_str expect = vg_req_header(r, "expect");
    if (expect.p) {
        if (!vg_str_ieq(expect, "100-continue")) {
            r->early_status = 0;
            set_early_error(r, 417, "expectation_failed", "only 'Expect: 100-continue' is supported");
            r->cb_failed = 1;
            return -1;
        }
        if (r->early_status && has_body) {
            /* refused anyway: answer now so the client need not send the body */
            r->cb_failed = 1;
            return -1;
        }
        if (has_body)
            send_continue(hc);
    }
    if (has_body && (p->flags & F_CONTENT_LENGTH) && !r->discard_body)
        vg_buf_reserve(&r->body, (size_t)clen);

    hc->state = has_body ? H_BODY : H_HEAD;
    vg_conn_set_read_deadline(hc->conn, has_body ? ev_now(srv->loop) + srv->cfg->body_timeout : 0);
    return 0;
}


static int
on_body(llhttp_t *p, const char *at, size_t n)
{
    vg_req *r = hc_of(p)->req;
    if (r->body.len + n > r->body_limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes", r->body_limit);
        r->early_status = 0;
        set_early_error(r, 413, "payload_too_large", msg);
        r->cb_failed = 1;
        return -1;
    }
    if (r->discard_body) {
        r->body.len += n;  /* counted, not kept: body.data stays NULL */
        return 0;
    }
    vg_buf_append(&r->body, at, n);
    return 0;
}


static int
on_message_complete(llhttp_t *p)
{
    http_conn *hc = hc_of(p);
    if (hc->req->discard_body)
        hc->req->body.len = 0;
    /* a refused upgrade may be followed by bytes of the other protocol: close after answering */
    hc->req->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
    hc->state = H_HANDLING;
    /* an upgrade makes llhttp return HPE_PAUSED_UPGRADE by itself */
    return llhttp_get_upgrade(p) ? 0 : HPE_PAUSED;
}


static const llhttp_settings_t *
settings(void)
{
    static llhttp_settings_t s;
    static int ready;
    if (!ready) {
        llhttp_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_url = on_url;
        s.on_header_field = on_header_field;
        s.on_header_value = on_header_value;
        s.on_header_value_complete = on_header_value_complete;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        ready = 1;
    }
    return &s;
}

/* ------------------------------------------------------------------ */
/* responses */

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


void
vg_req_add_header(vg_req *r, const char *name, const char *fmt, ...)
{
    vg_buf_puts(&r->resp_headers, name);
    vg_buf_puts(&r->resp_headers, ": ");
    if (!strchr(fmt, '%')) {
        vg_buf_puts(&r->resp_headers, fmt);   /* a constant value: no printf */
    } else {
        va_list ap;
        va_start(ap, fmt);
        vg_buf_vprintf(&r->resp_headers, fmt, ap);
        va_end(ap);
    }
    vg_buf_puts(&r->resp_headers, "\r\n");
}


static void
metrics_and_log(vg_req *r, int status, size_t body_len)
{
    vg_server *s = r->srv;
    double secs = ev_time() - r->started;
    if (secs < 0)
        secs = 0;
    const char *route = r->route ? r->route->pattern
                      : r->fn == vg_cors_preflight ? "preflight" : r->fn ? "static" : "none";
    char st[8] = { (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10) };
    if (status < 100 || status > 999)
        snprintf(st, sizeof st, "%d", status);
    const char *values[] = { route, r->method_name ? r->method_name : "-", st };
    vg_series_add(vg_metrics_series(s->m_requests, values), 1);
    vg_series_observe(vg_metrics_series(s->m_latency, values), secs);

    if (!s->cfg->access_log && !r->err_code)
        return;
    vg_buf line;
    vg_buf_init(&line);
    vg_buf_printf(&line, "%s \"%s ", r->peer, r->method_name ? r->method_name : "-");
    /* the query is left out: it may carry tokens */
    if (r->path.p)
        vg_buf_append(&line, r->path.p, r->path.n > 512 ? 512 : r->path.n);
    else
        vg_buf_putc(&line, '-');
    vg_buf_printf(&line, "%s HTTP/1.%d\" %d %zu %.3fms", r->query.n ? "?..." : "", r->http_minor,
                  status, body_len, secs * 1000);
    if (r->err_code) {
        vg_buf_printf(&line, " error=%s \"", r->err_code);
        vg_buf_append(&line, r->err_msg, strlen(r->err_msg));
        vg_buf_putc(&line, '"');
    }
    /* 503 is a state the server is in (loading, draining, over capacity), said at warn so that
       readiness probes during a model load do not fill the log with errors */
    enum vg_log_level lvl = status == 503 ? VG_LOG_WARN : status >= 500 ? VG_LOG_ERROR : VG_LOG_INFO;
    if (s->cfg->access_log || r->err_code)
        vg_log_raw(lvl, "access", line.data, line.len);
    vg_buf_release(&line);
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
    http_conn *hc = r->hc;
    if (!hc) {           /* the client is gone */
        free(body);
        if (fd >= 0)
            close(fd);
        metrics_and_log(r, 499, 0);
        req_destroy(r);
        return;
    }
    vg_server *s = r->srv;
    int keep = r->keep_alive && !s->draining && hc->state == H_HANDLING;
    if (s->cfg->cors_origins[0] && r->hdrs)
        vg_cors_add_headers(r);
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
    req_destroy(r);
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


static vg_upgrade_refusal_fn upgrade_refusal;

void
vg_http_set_upgrade_refusal(vg_upgrade_refusal_fn fn)
{
    upgrade_refusal = fn;
}


int
vg_req_is_upgrade(const vg_req *r)
{
    return r->upgrade;
}


void
vg_req_error(vg_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->upgrade && upgrade_refusal && r->hc && r->hc->state == H_HANDLING && !r->early_status) {
        r->err_code = code;
        free(r->err_msg);
        r->err_msg = vg_xstrdup(msg);
        if (upgrade_refusal(r, status, code, msg))
            return;
    }
    r->err_code = code;
    free(r->err_msg);
    r->err_msg = vg_xstrdup(msg);

    vg_buf body;
    vg_buf_init(&body);
    vg_jsonw w;
    vg_jsonw_init(&w, &body);
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "error");
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "code");
    vg_jsonw_cstr(&w, code);
    vg_jsonw_key(&w, "message");
    vg_jsonw_cstr(&w, msg);
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);
    vg_buf_putc(&body, '\n');
    vg_req_respond_buf(r, status, "application/json", &body);
}

/* ------------------------------------------------------------------ */
/* the connection protocol */

static void
dispatch(http_conn *hc)
{
    vg_req *r = hc->req;
    hc->state = H_HANDLING;
    vg_conn_set_read_deadline(hc->conn, 0);
    if (r->early_status) {
        vg_conn_read_stop(hc->conn);
        if (r->early_status == 405) {
            vg_buf allow;
            vg_buf_init(&allow);
            vg_methods_format(r->allow, &allow);
            vg_req_add_header(r, "Allow", "%s", vg_buf_cstr(&allow));
            vg_buf_release(&allow);
        }
        vg_req_error(r, r->early_status, r->early_code, "%s", r->early_msg);
        return;
    }
    vg_conn_watch_eof(hc->conn);
    if (r->route && !r->filtered) {
        vg_server *srv = r->srv;
        for (int i = 0; i < srv->n_filters; i++)
            if (srv->filters[i].fn(r, srv->filters[i].ud))
                return;
    }
    r->fn(r, r->fn_ud);
}


/* An llhttp error: answer it (when a request was begun) and close. */
static void
parse_failed(http_conn *hc, llhttp_errno_t e)
{
    if (hc->answered_in_head) {
        vg_conn_read_stop(hc->conn);
        return;
    }
    vg_req *r = hc->req;
    if (!r) {
        /* a byte that cannot start a request: answer it anyway */
        r = hc->req = req_create(hc);
    }
    hc->state = H_HANDLING;
    r->keep_alive = 0;
    vg_conn_read_stop(hc->conn);
    vg_conn_set_read_deadline(hc->conn, 0);
    r->http_minor = llhttp_get_http_minor(&hc->parser);
    if (r->cb_failed) {
        vg_req_error(r, r->early_status, r->early_code, "%s", r->early_msg);
        return;
    }
    const char *reason = llhttp_get_error_reason(&hc->parser);
    vg_req_error(r, 400, "bad_request", "malformed request: %s (%s)", reason ? reason : "?",
                 llhttp_errno_name(e));
}


static void
save_pending(http_conn *hc, const char *p, size_t n)
{
    if (n > 0)
        vg_buf_append(&hc->pending, p, n);
}


/* After an upgrade: frees the HTTP state and gives what followed the request to the new protocol. */
static void
handover(http_conn *hc)
{
    vg_conn *c = hc->conn;
    vg_buf rest = hc->pending;
    free(hc);
    if (rest.len > 0 && !c->closing)
        c->proto->on_read(c, rest.data, rest.len);
    vg_buf_release(&rest);
}


/* Parses what arrived. Returns 1 when the connection was upgraded and hc is gone. */
static int
feed(http_conn *hc, const char *p, size_t n)
{
    hc->in_parse = 1;
    while (n > 0) {
        if (hc->conn->closing)
            break;
        if (hc->upgraded) {
            save_pending(hc, p, n);
            break;
        }
        if (hc->state == H_HANDLING || hc->state == H_WRITING) {
            save_pending(hc, p, n);
            break;
        }
        llhttp_errno_t e = llhttp_execute(&hc->parser, p, n);
        if (e == HPE_OK)
            break;
        size_t used = (size_t)(llhttp_get_error_pos(&hc->parser) - p);
        if (used > n)
            used = n;
        p += used;
        n -= used;
        if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            if (e == HPE_PAUSED)
                llhttp_resume(&hc->parser);
            else
                llhttp_resume_after_upgrade(&hc->parser);
            dispatch(hc);
            continue;
        }
        parse_failed(hc, e);
        break;
    }
    hc->in_parse = 0;
    if (hc->upgraded) {
        handover(hc);
        return 1;
    }
    return 0;
}


/* The previous response is out: take the next request, if any. */
static void
next_request(http_conn *hc)
{
    vg_conn *c = hc->conn;
    for (;;) {
        hc->state = H_IDLE;
        if (c->srv->draining) {
            vg_conn_close(c, "draining");
            return;
        }
        vg_conn_set_read_deadline(c, ev_now(c->srv->loop) + c->srv->cfg->idle_timeout);
        if (hc->pending.len > 0) {
            vg_buf tmp = hc->pending;
            vg_buf_init(&hc->pending);
            int gone = feed(hc, tmp.data, tmp.len);
            vg_buf_release(&tmp);
            if (gone)
                return;
        }
        if (c->closing)
            return;
        /* a pipelined request was answered at once: go on with the rest */
        if (hc->state == H_WRITING && !vg_conn_has_output(c) && !c->close_after_flush)
            continue;
        if (hc->state == H_IDLE || hc->state == H_HEAD || hc->state == H_BODY)
            vg_conn_read_start(c);
        return;
    }
}


static void
http_on_read(vg_conn *c, const char *p, size_t n)
{
    http_conn *hc = c->proto_ctx;
    if (feed(hc, p, n))
        return;
    if (hc->state == H_WRITING && !vg_conn_has_output(c) && !c->closing && !c->close_after_flush)
        next_request(hc);
}


static void
http_on_drained(vg_conn *c)
{
    http_conn *hc = c->proto_ctx;
    if (hc->state != H_WRITING || hc->in_parse)
        return;
    next_request(hc);
}


static void
http_on_eof(vg_conn *c)
{
    http_conn *hc = c->proto_ctx;
    if (hc->state == H_BODY || hc->state == H_HEAD) {
        /* bodies delimited by EOF complete here; anything else was cut short */
        if (llhttp_finish(&hc->parser) == HPE_PAUSED && hc->req) {
            dispatch(hc);
            return;
        }
    }
    vg_conn_close(c, "eof");
}


static void
http_on_timeout(vg_conn *c)
{
    http_conn *hc = c->proto_ctx;
    if ((hc->state == H_HEAD || hc->state == H_BODY) && hc->req) {
        vg_req *r = hc->req;
        hc->state = H_HANDLING;
        r->keep_alive = 0;
        vg_conn_read_stop(c);
        vg_req_error(r, 408, "request_timeout",
                     hc->state == H_BODY ? "request body not received in time" : "request headers not received in time");
        return;
    }
    vg_conn_close(c, "idle timeout");
}


static void
http_on_close(vg_conn *c)
{
    http_conn *hc = c->proto_ctx;
    if (hc->req) {
        vg_req *r = hc->req;
        hc->req = NULL;
        if (hc->state == H_HANDLING) {
            r->hc = NULL;   /* the handler still owns it */
            if (r->on_abort) {
                void (*fn)(vg_req *, void *) = r->on_abort;
                r->on_abort = NULL;
                fn(r, r->abort_ud);   /* may answer, which frees r */
            }
        } else {
            req_destroy(r);
        }
    }
    vg_buf_release(&hc->pending);
    free(hc);
    c->proto_ctx = NULL;
}


static void
http_on_shutdown(vg_conn *c)
{
    http_conn *hc = c->proto_ctx;
    if (hc->state == H_IDLE && hc->pending.len == 0 && !vg_conn_has_output(c))
        vg_conn_close(c, "draining");
}


vg_conn *
vg_req_upgrade(vg_req *r, int status, const vg_proto *proto, void *proto_ctx)
{
    http_conn *hc = r->hc;
    if (!hc || hc->state != H_HANDLING) {
        req_destroy(r);
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
    req_destroy(r);
    vg_conn_set_read_deadline(c, 0);
    vg_conn_set_proto(c, proto, proto_ctx);
    vg_conn_read_start(c);
    vg_conn_flush(c);
    if (!hc->in_parse)
        handover(hc);   /* else feed() hands over once it unwinds */
    return c;
}


static const vg_proto http_proto = {
    "http", http_on_read, http_on_eof, http_on_drained, http_on_timeout, http_on_close, http_on_shutdown, NULL
};


vg_conn *
vg_http_accept(vg_server *srv, int fd, const char *peer)
{
    http_conn *hc = vg_xcalloc(1, sizeof *hc);
    llhttp_init(&hc->parser, HTTP_REQUEST, settings());
    hc->parser.data = hc;
    hc->state = H_IDLE;
    vg_conn *c = vg_conn_create(srv, fd, peer, &http_proto, hc);
    hc->conn = c;
    vg_conn_set_read_deadline(c, ev_now(srv->loop) + srv->cfg->idle_timeout);
    return c;
}
