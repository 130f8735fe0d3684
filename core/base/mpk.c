/* mpk: see mpk.h. */
#include "base/mpk.h"

#include <math.h>
#include <string.h>

static int
buf_write(void *data, const char *p, size_t n)
{
    vg_buf_append(data, p, n);
    return 0;
}


void
vg_mpw_init(vg_mpw *w, vg_buf *out)
{
    w->out = out;
    msgpack_packer_init(&w->pk, out, buf_write);
}


void vg_mpw_array(vg_mpw *w, uint32_t n) { msgpack_pack_array(&w->pk, n); }
void vg_mpw_map(vg_mpw *w, uint32_t n) { msgpack_pack_map(&w->pk, n); }
void vg_mpw_u64(vg_mpw *w, uint64_t v) { msgpack_pack_uint64(&w->pk, v); }
void vg_mpw_i64(vg_mpw *w, int64_t v) { msgpack_pack_int64(&w->pk, v); }
void vg_mpw_f64(vg_mpw *w, double v) { msgpack_pack_double(&w->pk, v); }
void vg_mpw_nil(vg_mpw *w) { msgpack_pack_nil(&w->pk); }


void
vg_mpw_bool(vg_mpw *w, int v)
{
    if (v)
        msgpack_pack_true(&w->pk);
    else
        msgpack_pack_false(&w->pk);
}


void
vg_mpw_str(vg_mpw *w, const char *s, size_t n)
{
    msgpack_pack_str(&w->pk, n);
    msgpack_pack_str_body(&w->pk, s ? s : "", n);
}


void
vg_mpw_cstr(vg_mpw *w, const char *s)
{
    if (!s)
        msgpack_pack_nil(&w->pk);
    else
        vg_mpw_str(w, s, strlen(s));
}


void
vg_mpw_bin(vg_mpw *w, const void *p, size_t n)
{
    msgpack_pack_bin(&w->pk, n);
    msgpack_pack_bin_body(&w->pk, p, n);
}

/* ---- reading ---------------------------------------------------------- */

void
vg_mpr_init(vg_mpr *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->err = 0;
}


static int
fail(vg_mpr *r)
{
    r->err = 1;
    return -1;
}


/* Big-endian integer of n bytes at the cursor; advances. */
static int
take_be(vg_mpr *r, size_t n, uint64_t *v)
{
    if ((size_t)(r->end - r->p) < n)
        return fail(r);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | r->p[i];
    r->p += n;
    *v = x;
    return 0;
}


static int
peek(vg_mpr *r, uint8_t *t)
{
    if (r->err || r->p >= r->end)
        return fail(r);
    *t = *r->p;
    return 0;
}


int
vg_mpr_array(vg_mpr *r, uint32_t *n)
{
    uint8_t t;
    uint64_t v;
    if (peek(r, &t) < 0)
        return -1;
    if ((t & 0xf0) == 0x90) {
        r->p++;
        *n = t & 0x0f;
        return 0;
    }
    if (t != 0xdc && t != 0xdd)
        return fail(r);
    r->p++;
    if (take_be(r, t == 0xdc ? 2 : 4, &v) < 0)
        return -1;
    /* every element takes at least one byte */
    if (v > (uint64_t)(r->end - r->p))
        return fail(r);
    *n = (uint32_t)v;
    return 0;
}


int
vg_mpr_map(vg_mpr *r, uint32_t *n)
{
    uint8_t t;
    uint64_t v;
    if (peek(r, &t) < 0)
        return -1;
    if ((t & 0xf0) == 0x80) {
        r->p++;
        *n = t & 0x0f;
        return 0;
    }
    if (t != 0xde && t != 0xdf)
        return fail(r);
    r->p++;
    if (take_be(r, t == 0xde ? 2 : 4, &v) < 0)
        return -1;
    if (v > (uint64_t)(r->end - r->p) / 2)
        return fail(r);
    *n = (uint32_t)v;
    return 0;
}


/* str or bin: sets p/n. */
static int
raw(vg_mpr *r, const uint8_t **p, size_t *n)
{
    uint8_t t;
    uint64_t len;
    if (peek(r, &t) < 0)
        return -1;
    if ((t & 0xe0) == 0xa0) {
        r->p++;
        len = t & 0x1f;
    } else if (t == 0xd9 || t == 0xc4) {
        r->p++;
        if (take_be(r, 1, &len) < 0)
            return -1;
    } else if (t == 0xda || t == 0xc5) {
        r->p++;
        if (take_be(r, 2, &len) < 0)
            return -1;
    } else if (t == 0xdb || t == 0xc6) {
        r->p++;
        if (take_be(r, 4, &len) < 0)
            return -1;
    } else {
        return fail(r);
    }
    if (len > (uint64_t)(r->end - r->p))
        return fail(r);
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}


int
vg_mpr_str(vg_mpr *r, vg_str *s)
{
    const uint8_t *p;
    size_t n;
    if (raw(r, &p, &n) < 0)
        return -1;
    s->p = (const char *)p;
    s->n = n;
    return 0;
}


int
vg_mpr_bin(vg_mpr *r, const uint8_t **p, size_t *n)
{
    return raw(r, p, n);
}


int
vg_mpr_strcpy(vg_mpr *r, char *out, size_t cap)
{
    vg_str s;
    if (vg_mpr_str(r, &s) < 0)
        return -1;
    if (s.n >= cap)
        return fail(r);
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
    return 0;
}


int
vg_mpr_i64(vg_mpr *r, int64_t *v)
{
    uint8_t t;
    uint64_t x;
    if (peek(r, &t) < 0)
        return -1;
    if (t <= 0x7f) {
        r->p++;
        *v = t;
        return 0;
    }
    if (t >= 0xe0) {
        r->p++;
        *v = (int8_t)t;
        return 0;
    }
    r->p++;
    switch (t) {
    case 0xcc: if (take_be(r, 1, &x) < 0) return -1; *v = (int64_t)x; return 0;
    case 0xcd: if (take_be(r, 2, &x) < 0) return -1; *v = (int64_t)x; return 0;
    case 0xce: if (take_be(r, 4, &x) < 0) return -1; *v = (int64_t)x; return 0;
    case 0xcf:
        if (take_be(r, 8, &x) < 0)
            return -1;
        if (x > INT64_MAX)
            return fail(r);
        *v = (int64_t)x;
        return 0;
    case 0xd0: if (take_be(r, 1, &x) < 0) return -1; *v = (int8_t)x; return 0;
    case 0xd1: if (take_be(r, 2, &x) < 0) return -1; *v = (int16_t)x; return 0;
    case 0xd2: if (take_be(r, 4, &x) < 0) return -1; *v = (int32_t)x; return 0;
    case 0xd3: if (take_be(r, 8, &x) < 0) return -1; *v = (int64_t)x; return 0;
    default:
        r->p--;
        return fail(r);
    }
}


int
vg_mpr_u64(vg_mpr *r, uint64_t *v)
{
    uint8_t t;
    if (peek(r, &t) < 0)
        return -1;
    if (t == 0xcf) {
        r->p++;
        return take_be(r, 8, v);
    }
    int64_t s;
    if (vg_mpr_i64(r, &s) < 0)
        return -1;
    if (s < 0)
        return fail(r);
    *v = (uint64_t)s;
    return 0;
}


int
vg_mpr_f64(vg_mpr *r, double *v)
{
    uint8_t t;
    uint64_t x;
    if (peek(r, &t) < 0)
        return -1;
    if (t == 0xca) {
        r->p++;
        if (take_be(r, 4, &x) < 0)
            return -1;
        uint32_t u = (uint32_t)x;
        float f;
        memcpy(&f, &u, 4);
        *v = f;
        return 0;
    }
    if (t == 0xcb) {
        r->p++;
        if (take_be(r, 8, &x) < 0)
            return -1;
        memcpy(v, &x, 8);
        return 0;
    }
    int64_t i;
    if (vg_mpr_i64(r, &i) < 0)
        return -1;
    *v = (double)i;
    return 0;
}


int
vg_mpr_bool(vg_mpr *r, int *v)
{
    uint8_t t;
    if (peek(r, &t) < 0)
        return -1;
    if (t != 0xc2 && t != 0xc3)
        return fail(r);
    r->p++;
    *v = t == 0xc3;
    return 0;
}


int
vg_mpr_nil(vg_mpr *r)
{
    uint8_t t;
    if (r->err || r->p >= r->end)
        return 0;
    t = *r->p;
    if (t != 0xc0)
        return 0;
    r->p++;
    return 1;
}


static int
skip_depth(vg_mpr *r, int depth)
{
    uint8_t t;
    uint64_t x;
    uint32_t n;
    const uint8_t *p;
    size_t len;
    if (depth > VG_MPK_MAX_DEPTH || peek(r, &t) < 0)
        return fail(r);
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
        r->p++;
        return 0;
    }
    if ((t & 0xe0) == 0xa0 || (t >= 0xc4 && t <= 0xc6) || (t >= 0xd9 && t <= 0xdb))
        return raw(r, &p, &len);
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        if (vg_mpr_array(r, &n) < 0)
            return -1;
        for (uint32_t i = 0; i < n; i++)
            if (skip_depth(r, depth + 1) < 0)
                return -1;
        return 0;
    }
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        if (vg_mpr_map(r, &n) < 0)
            return -1;
        for (uint32_t i = 0; i < 2 * n; i++)
            if (skip_depth(r, depth + 1) < 0)
                return -1;
        return 0;
    }
    r->p++;
    switch (t) {
    case 0xcc: case 0xd0: return take_be(r, 1, &x);
    case 0xcd: case 0xd1: return take_be(r, 2, &x);
    case 0xce: case 0xd2: case 0xca: return take_be(r, 4, &x);
    case 0xcf: case 0xd3: case 0xcb: return take_be(r, 8, &x);
    default: return fail(r);   /* ext types are never written here */
    }
}


int
vg_mpr_skip(vg_mpr *r)
{
    return skip_depth(r, 0);
}


int
vg_mpr_done(const vg_mpr *r)
{
    return !r->err && r->p == r->end;
}
