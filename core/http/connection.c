/*
 * connection: HTTP/1.1 on a connection, parsed with llhttp, and the HTTP
 * server object that owns the routes, filters and fallback (see http.h).
 * request.c reads a request, response.c answers it. (Not named http.c: the
 * module http.h declares is these three files, and http_internal.h, which
 * all three include, includes http.h.)
 */
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ev.h>

#include "base/log.h"
#include "http/http_internal.h"

#define MAX_HEADERS_HARD 1000

static const llhttp_settings_t *settings(void);
static int feed(vg_http__conn *hc, const char *p, size_t n);
static vg_conn *accept_conn(vg_conns *set, int fd, const char *peer, void *ud);

/* ------------------------------------------------------------------ */
/* the server object */

/* The body budget in /metrics, as the current config has it (SIGHUP may change it). */
static void
collect_body_budget(vg_metric *m, void *ud)
{
    vg_http *h = ud;
    vg_series_set(vg_metrics_single(m), (double)vg_server_config(h->srv)->body_memory);
}


vg_http *
vg_http_create(vg_server *srv)
{
    vg_http *h = vg_xcalloc(1, sizeof *h);
    h->srv = srv;
    vg_router_init(&h->router);
    h->m_requests = vg_metrics_register("vigia_http_requests_total", "HTTP requests answered",
                                        VG_COUNTER, "route,method,status", NULL, 0);
    h->m_latency = vg_metrics_register("vigia_http_request_duration_seconds",
                                       "time from a request's first byte to its response being queued",
                                       VG_HISTOGRAM, "route,method,status", vg_latency_buckets,
                                       vg_latency_nbuckets);
    h->m_body_bytes = vg_metrics_single(vg_metrics_register(
        "vigia_http_body_bytes", "bytes allocated for the bodies of requests in flight", VG_GAUGE, "", NULL, 0));
    vg_metric *budget = vg_metrics_register("vigia_http_body_budget_bytes",
                                            "limits.body_memory: what those bodies may hold together (0: no limit)",
                                            VG_GAUGE, "", NULL, 0);
    vg_metrics_set_collect(budget, collect_body_budget, h);
    h->m_body_refused = vg_metrics_single(vg_metrics_register(
        "vigia_http_body_budget_refused_total", "requests answered 503 because limits.body_memory was reached",
        VG_COUNTER, "", NULL, 0));
    vg_server_set_acceptor(srv, accept_conn, h);
    return h;
}


void
vg_http_destroy(vg_http *h)
{
    if (!h)
        return;
    vg_router_release(&h->router);
    free(h);
}


vg_server *
vg_http_server(const vg_http *h)
{
    return h->srv;
}


const vg_route *
vg_http_route(vg_http *h, unsigned methods, const char *pattern, vg_handler_fn fn, void *ud, size_t max_body,
              int access)
{
    return vg_router_add(&h->router, methods, pattern, fn, ud, max_body, access);
}


void
vg_http_each_route(const vg_http *h, void (*fn)(const vg_route *route, void *ud), void *ud)
{
    vg_list_each(rt, &h->router.routes, vg_route, link)
        fn(rt, ud);
}


/* The next free entry of a fixed table (*n of max used), or -1: more than the server sets up is a bug (logged). */
static int
next_slot(int *n, int max, const char *what)
{
    if (*n == max) {
        vg_error("http", "too many %s", what);
        return -1;
    }
    return (*n)++;
}


void
vg_http_add_filter(vg_http *h, vg_request_filter_fn fn, void *ud)
{
    int i = next_slot(&h->n_filters, VG_HTTP_MAX_FILTERS, "request filters");
    if (i >= 0)
        h->filters[i] = (struct vg_http__filter){ fn, ud };
}


void
vg_http_add_response_filter(vg_http *h, vg_response_filter_fn fn, void *ud)
{
    int i = next_slot(&h->n_resp_filters, VG_HTTP_MAX_FILTERS, "response filters");
    if (i >= 0)
        h->resp_filters[i] = (struct vg_http__resp_filter){ fn, ud };
}


void
vg_http_add_interceptor(vg_http *h, const char *label, int (*claims)(const vg_req *r, void *ud), vg_handler_fn fn,
                        void *ud)
{
    int i = next_slot(&h->n_interceptors, VG_HTTP_MAX_INTERCEPTORS, "interceptors");
    if (i >= 0)
        h->interceptors[i] = (struct vg_http__interceptor){ label, claims, fn, ud };
}


void
vg_http_set_fallback(vg_http *h, vg_handler_fn fn, void *ud)
{
    h->fallback = fn;
    h->fallback_ud = ud;
}


void
vg_http_set_upgrade_refusal(vg_http *h, vg_upgrade_refusal_fn fn, void *ud)
{
    h->upgrade_refusal = fn;
    h->upgrade_refusal_ud = ud;
}


void
vg_http_add_error_dialect(vg_http *h, const char *prefix, vg_error_dialect_fn fn, void *ud)
{
    if (h->n_dialects == VG_HTTP_MAX_DIALECTS) {
        vg_error("http", "more than %d error dialects: %s not added", VG_HTTP_MAX_DIALECTS, prefix);
        return;
    }
    h->dialects[h->n_dialects++] = (struct vg_http__dialect){ prefix, strlen(prefix), fn, ud };
}


unsigned
vg_http_methods_at(const vg_http *h, unsigned method, vg_str path)
{
    const vg_route *route;
    vg_str params[VG_ROUTE_MAX_PARAMS];
    int np;
    unsigned allow = 0;
    enum vg_match m = vg_router_match(&h->router, method ? method : VG_M_GET, path.p, path.n, &route, params, &np,
                                      &allow);
    if (m == VG_MATCH_OK)
        return route->methods;
    if (m == VG_MATCH_NOT_FOUND && h->fallback)
        return VG_M_GET | VG_M_HEAD;
    return allow;
}


/* Gives the request to the first interceptor that claims it; 1 when one did. */
static int
intercept(vg_http *h, vg_req *r)
{
    for (int i = 0; i < h->n_interceptors; i++) {
        if (h->interceptors[i].claims(r, h->interceptors[i].ud)) {
            r->fn = h->interceptors[i].fn;
            r->fn_ud = h->interceptors[i].ud;
            r->label = h->interceptors[i].label;
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* llhttp callbacks */

static vg_http__conn *
hc_of(llhttp_t *p)
{
    return p->data;
}


static int
on_message_begin(llhttp_t *p)
{
    vg_http__conn *hc = hc_of(p);
    if (!hc->req)
        hc->req = vg_http__req_create(hc);
    hc->state = H_HEAD;
    vg_conn_set_read_deadline(hc->conn, ev_now(vg_conn_loop(hc->conn)) +
                                            vg_server_config(hc->http->srv)->header_timeout);
    return 0;
}


static int
on_url(llhttp_t *p, const char *at, size_t n)
{
    vg_req *r = hc_of(p)->req;
    if (r->url_len + n > vg_server_config(r->http->srv)->max_url) {
        vg_http__early_error(r, 414, "uri_too_long", "request target too long");
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
    const vg_config *cfg = vg_server_config(r->http->srv);
    r->header_bytes += n;
    if (r->header_bytes > cfg->max_header_size) {
        vg_http__early_error(r, 431, "headers_too_large", "request headers too large");
        r->cb_failed = 1;
        return -1;
    }
    if (r->headers_done)
        return 0;
    if (!value && !r->in_value && (r->nhdrs == 0 || r->offs[r->nhdrs - 1].value_off != (size_t)-1)) {
        /* a new header line begins */
        if (r->nhdrs >= cfg->max_headers || r->nhdrs >= MAX_HEADERS_HARD) {
            vg_http__early_error(r, 431, "too_many_headers", "too many request headers");
            r->cb_failed = 1;
            return -1;
        }
        if (r->nhdrs == r->cap_hdrs) {
            r->cap_hdrs = r->cap_hdrs ? r->cap_hdrs * 2 : 16;
            r->offs = vg_xrealloc(r->offs, (size_t)r->cap_hdrs * sizeof *r->offs);
        }
        struct vg_http__hdr_off *o = &r->offs[r->nhdrs++];
        o->name_off = r->head.len;
        o->name_len = 0;
        o->value_off = (size_t)-1;
        o->value_len = 0;
    }
    struct vg_http__hdr_off *o = &r->offs[r->nhdrs - 1];
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
        struct vg_http__hdr_off *o = &r->offs[i];
        r->hdrs[i].name = (vg_str){ r->head.data + o->name_off, o->name_len };
        size_t voff = o->value_off == (size_t)-1 ? r->head.len : o->value_off;
        r->hdrs[i].value = (vg_str){ r->head.data + voff, o->value_len };
    }
    r->headers_done = 1;
}


/* limits.body_memory is reached: 503 with Retry-After at once, and the connection closes. */
static int
refuse_over_budget(vg_req *r, size_t budget)
{
    char msg[160];
    snprintf(msg, sizeof msg, "request bodies in flight hold the server's %zu bytes for them; retry later", budget);
    vg_series_add(r->http->m_body_refused, 1);
    vg_req_add_header(r, "Retry-After", "1");
    r->early_status = 0;
    vg_http__early_error(r, 503, "too_many_uploads", msg);
    r->cb_failed = 1;
    return -1;
}


/*
 * Makes room for n more body bytes, charging what the allocation grows by
 * to the server's budget: it doubles as bytes arrive (a declared length is
 * never reserved ahead, so a client that declares and does not send costs
 * nothing) but never past the declared length or the route's limit.
 * Returns 0, or -1 when the budget cannot take it (nothing changes).
 */
static int
body_grow(vg_req *r, size_t n)
{
    vg_buf *b = &r->body;
    size_t need = b->len + n + 1;   /* vg_buf_cstr's NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 16384;
    size_t most = (r->body_declared ? r->body_declared : r->body_limit) + 1;
    if (cap > most)
        cap = most;
    if (cap < need)
        cap = need;
    if (vg_http__body_charge(r, cap - b->cap) != 0)
        return refuse_over_budget(r, vg_server_config(r->http->srv)->body_memory);
    /* grown here rather than by vg_buf_reserve, whose powers of two could overshoot the declared length */
    b->data = vg_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}


int
vg_http__body_charge(vg_req *r, size_t more)
{
    vg_http *h = r->http;
    size_t budget = vg_server_config(h->srv)->body_memory;
    if (budget && h->body_bytes + more > budget)
        return -1;
    h->body_bytes += more;
    r->body_charged += more;
    vg_series_set(h->m_body_bytes, (double)h->body_bytes);
    return 0;
}


void
vg_http__body_uncharge(vg_req *r, size_t less)
{
    vg_http *h = r->http;
    if (less > r->body_charged)
        less = r->body_charged;
    h->body_bytes -= less;
    r->body_charged -= less;
    vg_series_set(h->m_body_bytes, (double)h->body_bytes);
}


void
vg_http__reading_done(vg_req *r)
{
    if (r->reading_body) {
        r->reading_body = 0;
        r->http->requests_reading--;
    }
}


int
vg_http_requests_reading(const vg_http *h)
{
    return h->requests_reading;
}


void
vg_http__body_release(vg_req *r)
{
    vg_http__body_uncharge(r, r->body_charged);
}


static void
send_continue(vg_http__conn *hc)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    vg_conn_write(hc->conn, msg, sizeof msg - 1, NULL, NULL);
    vg_conn_flush(hc->conn);
}


static int
on_headers_complete(llhttp_t *p)
{
    vg_http__conn *hc = hc_of(p);
    vg_req *r = hc->req;
    vg_http *h = r->http;

    vg_buf_cstr(&r->head);
    resolve_headers(r);
    r->method_name = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    r->method = vg_method_bit(r->method_name, strlen(r->method_name));
    r->http_minor = llhttp_get_http_minor(p);
    r->upgrade = llhttp_get_upgrade(p);

    vg_framing_fields fields = { 0 };
    for (int i = 0; i < r->nhdrs; i++)
        vg_framing_field(&fields, r->hdrs[i].name, r->hdrs[i].value);
    const char *why;
    int refused = llhttp_get_http_major(p) == 1 ? vg_framing_verdict(&fields, r->http_minor, &why) : 0;
    if (refused) {
        /* framing a proxy may read otherwise: answer without reading on, and close */
        vg_http__early_error(r, refused, refused == 501 ? "not_implemented" : "bad_request", why);
        r->cb_failed = 1;
        return -1;
    }
    if (split_target(r) < 0) {
        vg_http__early_error(r, 400, "bad_request", "malformed request target");
    } else if (llhttp_get_http_major(p) != 1) {
        vg_http__early_error(r, 505, "http_version_not_supported", "only HTTP/1.x is served");
    } else if (vg_server_is_draining(h->srv)) {
        vg_http__early_error(r, 503, "shutting_down", "the server is shutting down");
    } else if (intercept(h, r)) {
        /* a request about the server rather than to a route (CORS preflight): r->fn is set */
    } else {
        unsigned allow = 0;
        enum vg_match m = vg_router_match(&h->router, r->method, r->path.p, r->path.n,
                                          &r->route, r->params, &r->nparams, &allow);
        if (m == VG_MATCH_OK) {
            r->fn = r->route->fn;
            r->fn_ud = r->route->ud;
            if (r->route->max_body)
                r->body_limit = r->route->max_body;
        } else if (m == VG_MATCH_NOT_FOUND && h->fallback && (r->method & (VG_M_GET | VG_M_HEAD))) {
            r->fn = h->fallback;
            r->fn_ud = h->fallback_ud;
        } else if (m == VG_MATCH_METHOD) {
            r->allow = allow;
            char msg[160];
            snprintf(msg, sizeof msg, "method %s not allowed here", r->method_name);
            vg_http__early_error(r, 405, "method_not_allowed", msg);
        } else if (!r->method) {
            vg_http__early_error(r, 501, "not_implemented", "method not implemented");
        } else {
            vg_http__early_error(r, 404, "not_found", "no such resource");
        }
    }

    uint64_t clen = p->content_length;
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && clen > 0);

    /*
     * A request with a body meets the filters (credentials, rate limits) now,
     * so that a refused client need not send, and we need not read, its body.
     */
    if (has_body && r->route && !r->early_status && h->n_filters) {
        r->filtered = 1;
        hc->state = H_HANDLING;
        r->filter_pass = 1;
        for (int i = 0; i < h->n_filters; i++) {
            int v = h->filters[i].fn(r, h->filters[i].ud);
            if (v == VG_FILTER_AFTER_BODY) {
                r->filter_resume = i + 1;   /* it and those after it run once the body is in */
                break;
            }
            if (v) {
                hc->answered_in_head = 1;   /* r is answered and gone; the connection closes */
                return -1;
            }
        }
        r->filter_pass = 0;
        hc->state = H_HEAD;
    }
    if ((p->flags & F_CONTENT_LENGTH) && clen > r->body_limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body of %llu bytes exceeds the limit of %zu",
                 (unsigned long long)clen, r->body_limit);
        r->early_status = 0;
        vg_http__early_error(r, 413, "payload_too_large", msg);
        r->cb_failed = 1;
        return -1;
    }

    /* a declared body that cannot fit beside those in flight is refused before it is sent */
    size_t budget = vg_server_config(h->srv)->body_memory;
    if ((p->flags & F_CONTENT_LENGTH) && has_body && !r->discard_body) {
        r->body_declared = (size_t)clen;
        if (budget && h->body_bytes + r->body_declared + 1 > budget)
            return refuse_over_budget(r, budget);
    }

    vg_str expect = vg_req_header(r, "expect");
    if (expect.p) {
        if (!vg_str_ieq(expect, "100-continue")) {
            r->early_status = 0;
            vg_http__early_error(r, 417, "expectation_failed", "only 'Expect: 100-continue' is supported");
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

    hc->state = has_body ? H_BODY : H_HEAD;
    if (has_body) {
        r->reading_body = 1;
        h->requests_reading++;
    }
    vg_conn_set_read_deadline(hc->conn, has_body ? ev_now(vg_conn_loop(hc->conn)) + vg_server_config(h->srv)->body_timeout : 0);
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
        vg_http__early_error(r, 413, "payload_too_large", msg);
        r->cb_failed = 1;
        return -1;
    }
    if (r->discard_body) {
        r->body.len += n;  /* counted, not kept: body.data stays NULL */
        return 0;
    }
    if (body_grow(r, n) < 0)
        return -1;
    vg_buf_append(&r->body, at, n);
    return 0;
}


static int
on_message_complete(llhttp_t *p)
{
    vg_http__conn *hc = hc_of(p);
    if (hc->req->discard_body)
        hc->req->body.len = 0;
    /* a refused upgrade may be followed by bytes of the other protocol: close after answering */
    hc->req->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
    vg_http__reading_done(hc->req);
    hc->state = H_HANDLING;
    hc->scan = (vg_framing_scan){ 0 };   /* what follows is the next request's head */
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
/* the connection protocol */

static void
dispatch(vg_http__conn *hc)
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
    if (r->route && (!r->filtered || r->filter_resume)) {
        vg_http *h = r->http;
        r->filter_pass = r->filter_resume ? 2 : 0;
        for (int i = r->filter_resume ? r->filter_resume - 1 : 0; i < h->n_filters; i++)
            if (h->filters[i].fn(r, h->filters[i].ud) == VG_FILTER_ANSWERED)
                return;
        r->filter_pass = 0;
    }
    r->fn(r, r->fn_ud);
}


/* An llhttp error: answer it (when a request was begun) and close. */
static void
parse_failed(vg_http__conn *hc, llhttp_errno_t e)
{
    if (hc->answered_in_head) {
        vg_conn_read_stop(hc->conn);
        return;
    }
    vg_req *r = hc->req;
    if (!r) {
        /* a byte that cannot start a request: answer it anyway */
        r = hc->req = vg_http__req_create(hc);
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


/* A head the framing scanner refused: answer 400 and close, as for an llhttp error. */
static void
refuse_head(vg_http__conn *hc, const char *why)
{
    if (!hc->req)
        hc->req = vg_http__req_create(hc);
    vg_http__early_error(hc->req, 400, "bad_request", why);
    hc->req->cb_failed = 1;
    parse_failed(hc, HPE_USER);
}


static void
save_pending(vg_http__conn *hc, const char *p, size_t n)
{
    if (n > 0)
        vg_buf_append(&hc->pending, p, n);
}


void
vg_http__handover(vg_http__conn *hc)
{
    vg_conn *c = hc->conn;
    vg_buf rest = hc->pending;
    free(hc);
    if (rest.len > 0 && !vg_conn_is_closing(c))
        vg_conn_proto(c)->on_read(c, rest.data, rest.len);
    vg_buf_release(&rest);
}


/* Parses what arrived. Returns 1 when the connection was upgraded and hc is gone. */
static int
feed(vg_http__conn *hc, const char *p, size_t n)
{
    hc->in_parse = 1;
    while (n > 0) {
        if (vg_conn_is_closing(hc->conn))
            break;
        if (hc->upgraded) {
            save_pending(hc, p, n);
            break;
        }
        if (hc->state == H_HANDLING || hc->state == H_WRITING) {
            save_pending(hc, p, n);
            break;
        }
        /* a head goes to llhttp only as far as the scanner has passed it */
        size_t take = n;
        if (!vg_framing_scan_done(&hc->scan)) {
            const char *why;
            ssize_t k = vg_framing_scan_feed(&hc->scan, p, n, &why);
            if (k < 0) {
                refuse_head(hc, why);
                break;
            }
            take = (size_t)k;
        }
        llhttp_errno_t e = llhttp_execute(&hc->parser, p, take);
        if (e == HPE_OK) {
            p += take;
            n -= take;
            if (vg_framing_scan_done(&hc->scan) && (hc->state == H_IDLE || hc->state == H_HEAD)) {
                /* the scanner saw the head end where llhttp did not: never read on unscanned */
                refuse_head(hc, "the end of the head is ambiguous");
                break;
            }
            continue;
        }
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
        vg_http__handover(hc);
        return 1;
    }
    return 0;
}


/* The previous response is out: take the next request, if any. */
static void
next_request(vg_http__conn *hc)
{
    vg_conn *c = hc->conn;
    for (;;) {
        hc->state = H_IDLE;
        if (vg_server_is_draining(hc->http->srv)) {
            vg_conn_close(c, "draining");
            return;
        }
        vg_conn_set_read_deadline(c, ev_now(vg_conn_loop(c)) + vg_server_config(hc->http->srv)->idle_timeout);
        if (hc->pending.len > 0) {
            vg_buf tmp = hc->pending;
            vg_buf_init(&hc->pending);
            int gone = feed(hc, tmp.data, tmp.len);
            vg_buf_release(&tmp);
            if (gone)
                return;
        }
        if (vg_conn_is_closing(c))
            return;
        /* a pipelined request was answered at once: go on with the rest */
        if (hc->state == H_WRITING && !vg_conn_has_output(c) && !vg_conn_closes_after_flush(c))
            continue;
        if (hc->state == H_IDLE || hc->state == H_HEAD || hc->state == H_BODY)
            vg_conn_read_start(c);
        return;
    }
}


static void
http_on_read(vg_conn *c, const char *p, size_t n)
{
    vg_http__conn *hc = vg_conn_proto_ctx(c);
    if (feed(hc, p, n))
        return;
    if (hc->state == H_WRITING && !vg_conn_has_output(c) && !vg_conn_closes_after_flush(c))
        next_request(hc);
}


static void
http_on_drained(vg_conn *c)
{
    vg_http__conn *hc = vg_conn_proto_ctx(c);
    if (hc->state != H_WRITING || hc->in_parse)
        return;
    next_request(hc);
}


static void
http_on_eof(vg_conn *c)
{
    vg_http__conn *hc = vg_conn_proto_ctx(c);
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
    vg_http__conn *hc = vg_conn_proto_ctx(c);
    if ((hc->state == H_HEAD || hc->state == H_BODY) && hc->req) {
        vg_req *r = hc->req;
        const char *late = hc->state == H_BODY ? "request body" : "request headers";   /* before the state moves on */
        hc->state = H_HANDLING;
        r->keep_alive = 0;
        vg_conn_read_stop(c);
        vg_req_error(r, 408, "request_timeout", "%s not received in time", late);
        return;
    }
    vg_conn_close(c, "idle timeout");
}


static void
http_on_close(vg_conn *c)
{
    vg_http__conn *hc = vg_conn_proto_ctx(c);
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
            vg_http__req_destroy(r);
        }
    }
    vg_buf_release(&hc->pending);
    free(hc);
}


static void
http_on_shutdown(vg_conn *c)
{
    vg_http__conn *hc = vg_conn_proto_ctx(c);
    if (hc->state == H_IDLE && hc->pending.len == 0 && !vg_conn_has_output(c))
        vg_conn_close(c, "draining");
}


static const vg_proto http_proto = {
    "http", http_on_read, http_on_eof, http_on_drained, http_on_timeout, http_on_close, http_on_shutdown, NULL
};


/* The server's acceptor: every accepted socket speaks HTTP first. */
static vg_conn *
accept_conn(vg_conns *set, int fd, const char *peer, void *ud)
{
    vg_http *h = ud;
    vg_http__conn *hc = vg_xcalloc(1, sizeof *hc);
    llhttp_init(&hc->parser, HTTP_REQUEST, settings());
    hc->parser.data = hc;
    hc->state = H_IDLE;
    hc->http = h;
    vg_conn *c = vg_conn_create(set, fd, peer, &http_proto, hc);
    hc->conn = c;
    vg_conn_set_read_deadline(c, ev_now(vg_conn_loop(c)) + vg_server_config(h->srv)->idle_timeout);
    return c;
}
