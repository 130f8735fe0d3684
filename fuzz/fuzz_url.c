/*
 * libFuzzer harness for URL percent-decoding and query parameters
 * (core/http/http.c vg_url_decode, vg_req_query_get).
 *
 * First byte even: the rest is given to vg_url_decode (bit 1 picks
 * '+' -> ' '), which must agree byte for byte with a straightforward
 * reference decoder written here, never grow its input, and round-trip:
 * re-encoding its output and decoding again gives the same bytes.
 *
 * First byte odd: the rest is a query string sent as "GET /q?QUERY"
 * through the real connection code (bytes a request-target cannot carry
 * are percent-encoded first). The handler asks vg_req_query_get for
 * several names and compares each answer with the reference: split at
 * '&', key up to the first '=', first pair whose decoded key matches
 * wins, malformed escapes answer -1. The request must be answered 200.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "base/config.h"
#include "harness.h"
#include "http/http.h"
#include "base/log.h"
#include "net/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static vg_server *srv;
static int checked;           /* the handler ran for this input */


static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


/* The reference decoder: -1 on a '%' not followed by two hex digits. */
static int
ref_decode(const char *s, size_t n, int plus, vg_buf *out)
{
    out->len = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0)
                return -1;
            vg_buf_putc(out, (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2])));
            i += 3;
        } else {
            vg_buf_putc(out, plus && c == '+' ? ' ' : (char)c);
            i++;
        }
    }
    vg_buf_cstr(out);
    return 0;
}


static int
ref_query_get(vg_str q, const char *name, vg_buf *out)
{
    const char *p = q.p, *end = q.p + q.n;
    vg_buf key;
    vg_buf_init(&key);
    int rc = -1;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if (ref_decode(p, (size_t)(ke - p), 1, &key) == 0 && key.len == strlen(name) &&
            memcmp(key.data, name, key.len) == 0) {
            rc = eq ? ref_decode(eq + 1, (size_t)(pe - eq - 1), 1, out) : (out->len = 0, 0);
            break;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    vg_buf_release(&key);
    return rc;
}


static void
on_query(vg_req *r, void *ud)
{
    (void)ud;
    static const char *const names[] = { "a", "x", "model", "", " ", "a b", "%", "=", "&", "\xff" };
    vg_str q = vg_req_query(r);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        vg_buf got, want;
        vg_buf_init(&got);
        vg_buf_init(&want);
        int rg = vg_req_query_get(r, names[i], &got);
        int rw = ref_query_get(q, names[i], &want);
        if (rg != rw)
            abort();
        if (rg == 0) {
            if (got.len != want.len || (got.len && memcmp(got.data, want.data, got.len) != 0))
                abort();
            if (!got.data || got.data[got.len] != '\0')
                abort();   /* documented: NUL-terminated */
        }
        vg_buf_release(&got);
        vg_buf_release(&want);
    }
    checked = 1;
    vg_req_respond(r, 200, "text/plain", "ok", 2);
}


static void
setup(void)
{
    vg_log_set_level(VG_LOG_OFF);
    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    char err[256];
    vg_config_set(cfg, "limits", "max_url", "64K", err, sizeof err);
    vg_config_set(cfg, "limits", "max_header_size", "128K", err, sizeof err);
    vg_config_set(cfg, "log", "access", "false", err, sizeof err);
    loop = ev_loop_new(EVFLAG_AUTO);
    srv = vg_server_create(loop, cfg);
    vg_http *http = vg_http_create(srv);
    vg_http_route(http, VG_M_GET, "/q", on_query, NULL, 0, 1);
}


static void
check_decode(const char *s, size_t n, int plus)
{
    vg_buf got, want, enc, again;
    vg_buf_init(&got);
    vg_buf_init(&want);
    vg_buf_init(&enc);
    vg_buf_init(&again);
    int rg = vg_url_decode(s, n, &got, plus);
    int rw = ref_decode(s, n, plus, &want);
    if (rg != rw)
        abort();
    if (rg == 0) {
        if (got.len != want.len || got.len > n || (got.len && memcmp(got.data, want.data, got.len) != 0))
            abort();
        /* every byte escaped, decoded again: the same bytes */
        for (size_t i = 0; i < got.len; i++)
            vg_buf_printf(&enc, "%%%02X", (unsigned char)got.data[i]);
        if (vg_url_decode(enc.data ? enc.data : "", enc.len, &again, plus) != 0 || again.len != got.len ||
            (got.len && memcmp(again.data, got.data, got.len) != 0))
            abort();
    }
    vg_buf_release(&got);
    vg_buf_release(&want);
    vg_buf_release(&enc);
    vg_buf_release(&again);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    if (!(data[0] & 1)) {
        check_decode((const char *)data + 1, size - 1, data[0] & 2);
        return 0;
    }
    if (!loop)
        setup();
    vg_buf req, out;
    vg_buf_init(&req);
    vg_buf_init(&out);
    vg_buf_puts(&req, "GET /q?");
    for (size_t i = 1; i < size; i++) {
        unsigned char c = data[i];
        /* what a request-target may not carry raw (RFC 3986 plus the common extras) */
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
            c == '`' || c == '{' || c == '|' || c == '}')
            vg_buf_printf(&req, "%%%02X", c);
        else
            vg_buf_putc(&req, (char)c);
    }
    vg_buf_puts(&req, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n");
    checked = 0;
    if (fz_exchange(srv, req.data, req.len, &out, 5) < 0)
        abort();
    size_t at = 0;
    fz_resp r;
    if (fz_response(out.data, out.len, &at, &r) < 0 || r.status != 200 || !checked || at != out.len)
        abort();
    vg_buf_release(&req);
    vg_buf_release(&out);
    return 0;
}
