/*
 * request: reading an HTTP request (see http.h): its line, headers, query
 * and body, and the request object's life.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ev.h>

#include "base/hex.h"
#include "http/http_internal.h"
#include "http/multipart.h"

unsigned vg_req_method(const vg_req *r) { return r->method; }
const char *vg_req_method_name(const vg_req *r) { return r->method_name; }
vg_str vg_req_path(const vg_req *r) { return r->path; }
vg_str vg_req_query(const vg_req *r) { return r->query; }
vg_str vg_req_param(const vg_req *r, int i) { return i < r->nparams ? r->params[i] : (vg_str){ "", 0 }; }
vg_str vg_req_body(const vg_req *r) { return (vg_str){ r->body.data ? r->body.data : "", r->body.len }; }
const char *vg_req_peer(const vg_req *r) { return r->peer; }
vg_server *vg_req_server(const vg_req *r) { return r->http->srv; }
vg_http *vg_req_http(const vg_req *r) { return r->http; }
vg_conn *vg_req_conn(const vg_req *r) { return r->hc ? r->hc->conn : NULL; }
const vg_route *vg_req_route(const vg_req *r) { return r->route; }
int vg_req_is_orphan(const vg_req *r) { return r->hc == NULL; }
int vg_req_body_pending(const vg_req *r) { return r->filter_pass == 1; }
int vg_req_filter_again(const vg_req *r) { return r->filter_pass == 2; }
double vg_req_started(const vg_req *r) { return r->started; }
void vg_req_set_data(vg_req *r, void *data) { r->data = data; }
void *vg_req_data(const vg_req *r) { return r->data; }
void *vg_req_identity(const vg_req *r) { return r->identity; }


void
vg_req_set_identity(vg_req *r, void *identity, void (*release)(void *identity))
{
    if (r->identity_release)
        r->identity_release(r->identity);
    r->identity = identity;
    r->identity_release = release;
}

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


int
vg_url_decode(const char *s, size_t n, vg_buf *out, int plus_space)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            uint8_t byte;
            if (i + 2 >= n || vg_hex_decode(s + i + 1, 2, &byte, 1) < 0)
                return -1;
            c = (char)byte;
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
    return vg_form_get(r->query.p, r->query.n, name, out);
}


int
vg_form_get(const char *s, size_t n, const char *name, vg_buf *out)
{
    const char *p = s, *end = s + n;
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


int
vg_req_form_get(const vg_req *r, const char *name, vg_buf *out)
{
    vg_str ct = vg_req_header(r, "content-type");
    vg_str body = vg_req_body(r);
    char boundary[VG_MULTIPART_MAX_BOUNDARY + 1];
    if (!ct.p || !body.p)
        return -1;
    if (ct.n >= 33 && strncasecmp(ct.p, "application/x-www-form-urlencoded", 33) == 0)
        return vg_form_get(body.p, body.n, name, out);
    if (vg_multipart_boundary(ct, boundary) < 0)
        return -1;
    vg_multipart *mp = vg_xmalloc(sizeof *mp);
    char err[128];
    const vg_part *part = NULL;
    if (vg_multipart_parse(body.p, body.n, boundary, mp, err, sizeof err) == 0)
        part = vg_multipart_find(mp, name);
    if (part && !part->filename[0]) {
        out->len = 0;
        vg_buf_append(out, part->data, part->len);
        vg_buf_cstr(out);
    }
    int rc = part && !part->filename[0] ? 0 : -1;
    free(mp);
    return rc;
}


/* ------------------------------------------------------------------ */
/* request objects */

vg_req *
vg_http__req_create(vg_http__conn *hc)
{
    vg_req *r = vg_xcalloc(1, sizeof *r);
    r->hc = hc;
    r->http = hc->http;
    const char *peer = vg_conn_peer(hc->conn);   /* per request: a bounded copy, not a printf */
    size_t n = strnlen(peer, sizeof r->peer - 1);
    memcpy(r->peer, peer, n);
    r->peer[n] = '\0';
    r->started = ev_now(vg_server_loop(r->http->srv));
    r->body_limit = vg_server_config(r->http->srv)->max_body;
    return r;
}


void
vg_http__req_destroy(vg_req *r)
{
    if (r->identity_release)
        r->identity_release(r->identity);
    vg_buf_release(&r->head);
    vg_http__reading_done(r);
    vg_http__body_release(r);
    vg_buf_release(&r->body);
    vg_buf_release(&r->resp_headers);
    free(r->offs);
    free(r->hdrs);
    free(r->err_msg);
    free(r);
}


void
vg_http__early_error(vg_req *r, int status, const char *code, const char *msg)
{
    if (r->early_status)
        return;
    r->early_status = status;
    r->early_code = code;
    snprintf(r->early_msg, sizeof r->early_msg, "%s", msg);
    r->discard_body = 1;
}
