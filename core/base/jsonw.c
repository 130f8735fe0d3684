/* jsonw: see jsonw.h. */
#include "base/jsonw.h"

#include <math.h>
#include <stdio.h>

#include "base/utf8.h"

void
vg_jsonw_init(vg_jsonw *w, vg_buf *out)
{
    w->out = out;
    w->depth = 0;
    w->first[0] = 1;
    w->after_key = 0;
}


static void
before_value(vg_jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (!w->first[w->depth])
        vg_buf_putc(w->out, ',');
    w->first[w->depth] = 0;
}


static void
open_level(vg_jsonw *w, char c)
{
    before_value(w);
    vg_buf_putc(w->out, c);
    if (w->depth + 1 < VG_JSONW_DEPTH)
        w->depth++;
    w->first[w->depth] = 1;
}


static void
close_level(vg_jsonw *w, char c)
{
    vg_buf_putc(w->out, c);
    if (w->depth > 0)
        w->depth--;
}


void vg_jsonw_obj(vg_jsonw *w) { open_level(w, '{'); }
void vg_jsonw_obj_end(vg_jsonw *w) { close_level(w, '}'); }
void vg_jsonw_arr(vg_jsonw *w) { open_level(w, '['); }
void vg_jsonw_arr_end(vg_jsonw *w) { close_level(w, ']'); }


void
vg_json_quote(vg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    vg_buf_reserve(b, n + 2);
    vg_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        vg_buf_append(b, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            vg_buf_append(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            switch (c) {
            case '\n': vg_buf_append(b, "\\n", 2); break;
            case '\r': vg_buf_append(b, "\\r", 2); break;
            case '\t': vg_buf_append(b, "\\t", 2); break;
            default: vg_buf_append(b, e, 6);
            }
            i++;
        } else {
            size_t len = vg_utf8_len(u + i, n - i);
            if (len == 0) {
                vg_buf_append(b, "\\ufffd", 6);
                i++;
            } else {
                vg_buf_append(b, s + i, len);
                i += len;
            }
        }
    }
    vg_buf_putc(b, '"');
}


void
vg_jsonw_key(vg_jsonw *w, const char *key)
{
    before_value(w);
    vg_json_quote(w->out, key, strlen(key));
    vg_buf_putc(w->out, ':');
    w->after_key = 1;
}


void
vg_jsonw_str(vg_jsonw *w, const char *s, size_t n)
{
    before_value(w);
    vg_json_quote(w->out, s, n);
}


void
vg_jsonw_cstr(vg_jsonw *w, const char *s)
{
    if (!s)
        vg_jsonw_null(w);
    else
        vg_jsonw_str(w, s, strlen(s));
}


void
vg_jsonw_int(vg_jsonw *w, int64_t v)
{
    before_value(w);
    vg_buf_put_i64(w->out, v);
}


void
vg_jsonw_uint(vg_jsonw *w, uint64_t v)
{
    before_value(w);
    vg_buf_put_u64(w->out, v);
}


void
vg_jsonw_double_prec(vg_jsonw *w, double v, int digits)
{
    before_value(w);
    if (!isfinite(v))
        vg_buf_puts(w->out, "null");
    else
        vg_buf_printf(w->out, "%.*g", digits, v);
}


void
vg_jsonw_fixed(vg_jsonw *w, double v, int decimals)
{
    static const double scale[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
    if (decimals < 1 || decimals > 9 || !isfinite(v) || fabs(v) * scale[decimals] >= 9e15) {
        vg_jsonw_double_prec(w, v, 17);
        return;
    }
    before_value(w);
    int64_t x = llround(v * scale[decimals]);
    if (x < 0) {
        vg_buf_putc(w->out, '-');
        x = -x;
    }
    uint64_t div = (uint64_t)scale[decimals];
    vg_buf_put_u64(w->out, (uint64_t)x / div);
    vg_buf_putc(w->out, '.');
    char frac[10];
    uint64_t f = (uint64_t)x % div;
    for (int i = decimals - 1; i >= 0; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    vg_buf_append(w->out, frac, (size_t)decimals);
}


void
vg_jsonw_double(vg_jsonw *w, double v)
{
    vg_jsonw_double_prec(w, v, 10);
}


void
vg_jsonw_bool(vg_jsonw *w, int v)
{
    before_value(w);
    vg_buf_puts(w->out, v ? "true" : "false");
}


void
vg_jsonw_null(vg_jsonw *w)
{
    before_value(w);
    vg_buf_puts(w->out, "null");
}


void
vg_jsonw_raw(vg_jsonw *w, const char *json, size_t n)
{
    before_value(w);
    vg_buf_append(w->out, json, n);
}


void vg_jsonw_kstr(vg_jsonw *w, const char *key, const char *s) { vg_jsonw_key(w, key); vg_jsonw_cstr(w, s); }
void vg_jsonw_kint(vg_jsonw *w, const char *key, int64_t v) { vg_jsonw_key(w, key); vg_jsonw_int(w, v); }
void vg_jsonw_kuint(vg_jsonw *w, const char *key, uint64_t v) { vg_jsonw_key(w, key); vg_jsonw_uint(w, v); }
void vg_jsonw_kbool(vg_jsonw *w, const char *key, int v) { vg_jsonw_key(w, key); vg_jsonw_bool(w, v); }
void vg_jsonw_kobj(vg_jsonw *w, const char *key) { vg_jsonw_key(w, key); vg_jsonw_obj(w); }
void vg_jsonw_karr(vg_jsonw *w, const char *key) { vg_jsonw_key(w, key); vg_jsonw_arr(w); }


void
vg_jsonw_kdouble(vg_jsonw *w, const char *key, double v, int digits)
{
    vg_jsonw_key(w, key);
    vg_jsonw_double_prec(w, v, digits);
}
