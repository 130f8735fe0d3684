/* encoding: gzip and deflate bodies on zlib; see encoding.h. */
#include "http/encoding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ev.h>
#include <zlib.h>

#include "base/metrics.h"
#include "http/http_internal.h"

#define WBITS_ZLIB MAX_WBITS
#define WBITS_GZIP (16 + MAX_WBITS)

/* Trims spaces and tabs from both ends of s. */
static vg_str
trim(vg_str s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}


/* zlib's window bits for a coding name: gzip or deflate; 0 for identity, -1 for any other. */
static int
wbits_of(vg_str coding)
{
    if (coding.n == 0 || vg_str_ieq(coding, "identity"))
        return 0;
    if (vg_str_ieq(coding, "gzip") || vg_str_ieq(coding, "x-gzip"))
        return WBITS_GZIP;
    if (vg_str_ieq(coding, "deflate"))
        return WBITS_ZLIB;
    return -1;
}


/* Output bytes inflated per loop iteration: a few milliseconds of zlib, then the loop runs. */
#define SLICE_OUT ((size_t)1 << 20)
/* Answers up to this size are coded; larger ones go as they are (coding them would hold the loop). */
#define ANSWER_CODE_MAX ((size_t)256 << 10)

/* A body being inflated, slice by slice, between turns of the loop. */
typedef struct inflation {
    vg_req *r;
    z_stream zs;
    int wbits;
    vg_buf out;
    size_t limit;                  /* the route's body limit */
    size_t charged_before;         /* what the compressed body held of the budget */
    ev_timer next;                 /* the next slice, on the next turn of the loop */
    struct ev_loop *loop;
    void (*done)(vg_req *r, int rc, void *ud);
    void *ud;
} inflation;


/*
 * Inflates at most SLICE_OUT bytes more into d->out, which grows by
 * doubling up to limit + 1 bytes (one past the limit tells "too large"),
 * each growth counted against the body budget. Returns 1 when there is
 * more, 0 at the end of the body, or the HTTP status of the failure with msg.
 */
static int
inflate_slice(inflation *d, char *msg, size_t msglen)
{
    vg_req *r = d->r;
    z_stream *zs = &d->zs;
    vg_buf *out = &d->out;
    size_t start = out->len;
    while (out->len - start < SLICE_OUT) {
        if (out->len == out->cap) {
            if (out->cap > d->limit) {
                snprintf(msg, msglen, "the decoded request body exceeds the limit of %zu bytes", d->limit);
                return 413;
            }
            size_t in_len = r->body.len;
            size_t cap = out->cap ? out->cap * 2 : (in_len * 4 > 16384 ? in_len * 4 : 16384);
            if (cap > d->limit + 1)
                cap = d->limit + 1;
            if (vg_http__body_charge(r, cap - out->cap) != 0) {
                vg_series_add(r->http->m_body_refused, 1);
                vg_req_add_header(r, "Retry-After", "1");
                snprintf(msg, msglen, "request bodies in flight hold the server's %zu bytes for them; retry later",
                         vg_server_config(r->http->srv)->body_memory);
                return 503;
            }
            out->data = vg_xrealloc(out->data, cap);
            out->cap = cap;
        }
        size_t room = out->cap - out->len;
        if (room > SLICE_OUT)
            room = SLICE_OUT;
        zs->next_out = (Bytef *)out->data + out->len;
        zs->avail_out = (uInt)room;
        uInt before = zs->avail_out;
        int rc = inflate(zs, Z_NO_FLUSH);
        out->len += before - zs->avail_out;
        if (rc == Z_STREAM_END) {
            if (zs->avail_in == 0)
                break;
            /* gzip allows members one after another; anything else after the end is not the body */
            if (d->wbits != WBITS_GZIP || inflateReset(zs) != Z_OK) {
                snprintf(msg, msglen, "%u bytes follow the end of the compressed body", zs->avail_in);
                return 400;
            }
            continue;
        }
        if (rc == Z_BUF_ERROR && zs->avail_in == 0) {
            snprintf(msg, msglen, "the compressed body is cut short");
            return 400;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(msg, msglen, "the body is not valid %s data: %s",
                     d->wbits == WBITS_GZIP ? "gzip" : "deflate (zlib)", zs->msg ? zs->msg : "corrupt");
            return 400;
        }
    }
    if (out->len > d->limit) {
        snprintf(msg, msglen, "the decoded request body exceeds the limit of %zu bytes", d->limit);
        return 413;
    }
    return zs->avail_in == 0 && (out->len - start < SLICE_OUT) ? 0 : 1;
}


/* Ends an inflation: the decoded body replaces the compressed one (status 0), or the error is answered. */
static void
inflation_end(inflation *d, int status, const char *msg)
{
    vg_req *r = d->r;
    ev_timer_stop(d->loop, &d->next);
    inflateEnd(&d->zs);
    vg_req_on_abort(r, NULL, NULL);
    void (*done)(vg_req *, int, void *) = d->done;
    void *ud = d->ud;
    if (status != 0) {
        vg_http__body_uncharge(r, r->body_charged - d->charged_before);
        vg_buf_release(&d->out);
        free(d);
        vg_req_error(r, status,
                     status == 413 ? "payload_too_large" : status == 503 ? "too_many_uploads"
                     : status == 400 ? "bad_request" : "internal",
                     "%s", msg);
        if (done)
            done(r, -1, ud);
        return;
    }
    /* the compressed bytes go; what they held of the budget with them */
    vg_http__body_uncharge(r, d->charged_before < r->body.cap ? d->charged_before : r->body.cap);
    vg_buf_release(&r->body);
    r->body = d->out;
    vg_buf_cstr(&r->body);
    free(d);
    done(r, 0, ud);
}


static void
on_next_slice(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    inflation *d = t->data;
    char msg[256];
    int st = inflate_slice(d, msg, sizeof msg);
    if (st == 1)
        ev_timer_start(d->loop, &d->next);   /* once more, on the next turn */
    else
        inflation_end(d, st, msg);
}


/* The client went away: stop, and answer (the answer is discarded); the handler is not called. */
static void
on_abort(vg_req *r, void *ud)
{
    (void)r;
    inflation *d = ud;
    d->done = NULL;
    inflation_end(d, 499, "the client went away");
}


void
vg_req_decode_body(vg_req *r, void (*done)(vg_req *r, int rc, void *ud), void *ud)
{
    vg_str ce = vg_req_header(r, "content-encoding");
    vg_str coding = ce.p ? trim(ce) : (vg_str){ "", 0 };
    int wbits = memchr(coding.p, ',', coding.n) ? -1 : wbits_of(coding);
    if (wbits == 0) {
        done(r, 0, ud);
        return;
    }
    if (wbits < 0) {
        vg_req_error(r, 415, "unsupported_media_type",
                     "Content-Encoding '%.*s' is not supported: send gzip, deflate or no coding",
                     (int)(coding.n > 64 ? 64 : coding.n), coding.p);
        done(r, -1, ud);
        return;
    }
    inflation *d = vg_xcalloc(1, sizeof *d);
    d->r = r;
    d->wbits = wbits;
    d->limit = r->body_limit;
    d->charged_before = r->body_charged;
    d->done = done;
    d->ud = ud;
    d->loop = vg_server_loop(r->http->srv);
    vg_buf_init(&d->out);
    if (inflateInit2(&d->zs, wbits) != Z_OK) {
        free(d);
        vg_req_error(r, 500, "internal", "the body's decoder could not start");
        done(r, -1, ud);
        return;
    }
    d->zs.next_in = (Bytef *)r->body.data;
    d->zs.avail_in = (uInt)r->body.len;   /* r->body.len <= the route's body limit, under 4 GiB */
    ev_timer_init(&d->next, on_next_slice, 0., 0.);
    d->next.data = d;
    vg_req_on_abort(r, on_abort, d);
    char msg[256];
    int st = inflate_slice(d, msg, sizeof msg);   /* a small body is done in this first slice */
    if (st == 1)
        ev_timer_start(d->loop, &d->next);
    else
        inflation_end(d, st, msg);
}

/* ------------------------------------------------------------------ */
/* answers */

/* The q of `coding` in an Accept-Encoding value: 1000 for q=1, 0 when refused or not listed. */
static int
accept_q(vg_str ae, const char *coding)
{
    int star = -1, found = -1;
    size_t i = 0;
    while (i < ae.n) {
        size_t j = i;
        while (j < ae.n && ae.p[j] != ',')
            j++;
        vg_str item = { ae.p + i, j - i }, name = item;
        const char *semi = memchr(item.p, ';', item.n);
        if (semi)
            name.n = (size_t)(semi - item.p);
        name = trim(name);
        int q = 1000;
        if (semi) {
            vg_str par = trim((vg_str){ semi + 1, item.n - (size_t)(semi + 1 - item.p) });
            if (par.n >= 2 && (par.p[0] == 'q' || par.p[0] == 'Q') && par.p[1] == '=') {
                char num[8] = "";
                size_t k = par.n - 2 < sizeof num - 1 ? par.n - 2 : sizeof num - 1;
                memcpy(num, par.p + 2, k);
                q = (int)(strtod(num, NULL) * 1000 + 0.5);
            }
        }
        if (vg_str_ieq(name, coding))
            found = q;
        else if (vg_str_ieq(name, "*"))
            star = q;
        i = j + 1;
    }
    return found >= 0 ? found : star > 0 ? star : 0;
}


int
vg_req_encode_answer(vg_req *r, vg_buf *body)
{
    vg_str ae = vg_req_header(r, "accept-encoding");
    if (!ae.p || body->len == 0 || body->len > ANSWER_CODE_MAX)
        return 0;
    int qg = accept_q(ae, "gzip"), qd = accept_q(ae, "deflate");
    if (qg <= 0 && qd <= 0)
        return 0;
    int gzip = qg >= qd;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? WBITS_GZIP : WBITS_ZLIB, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    vg_buf out;
    vg_buf_init(&out);
    vg_buf_reserve(&out, deflateBound(&zs, (uLong)body->len));
    zs.next_in = (Bytef *)body->data;
    zs.avail_in = (uInt)body->len;
    zs.next_out = (Bytef *)out.data;
    zs.avail_out = (uInt)out.cap;
    int rc = deflate(&zs, Z_FINISH);
    out.len = out.cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        vg_buf_release(&out);
        return 0;
    }
    vg_buf_release(body);
    *body = out;
    vg_req_add_header(r, "Content-Encoding", "%s", gzip ? "gzip" : "deflate");
    vg_req_add_header(r, "Vary", "Accept-Encoding");
    return 1;
}
