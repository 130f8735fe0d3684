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
void vg_mpw_f32(vg_mpw *w, float v) { msgpack_pack_float(&w->pk, v); }
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


void
vg_mpw_bin_header(vg_mpw *w, size_t n)
{
    msgpack_pack_bin(&w->pk, n);
}

/* ---- reading ---------------------------------------------------------- */

void
vg_mpr_init(vg_mpr *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->err = 0;
    r->max_depth = VG_MPK_MAX_DEPTH;
    r->max_items = 0;
}


/* Records why the first failed read failed; returns -1. */
static int
fail(vg_mpr *r, int why)
{
    if (!r->err)
        r->err = why;
    return -1;
}


/* Big-endian integer of n bytes at the cursor; advances. */
static int
take_be(vg_mpr *r, size_t n, uint64_t *v)
{
    if ((size_t)(r->end - r->p) < n)
        return fail(r, VG_MPR_TRUNCATED);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | r->p[i];
    r->p += n;
    *v = x;
    return 0;
}


/* The next type byte, not consumed. */
static int
peek(vg_mpr *r, uint8_t *t)
{
    if (r->err)
        return -1;
    if (r->p >= r->end)
        return fail(r, VG_MPR_TRUNCATED);
    *t = *r->p;
    return 0;
}


enum vg_mpk_type
vg_mpr_type(const vg_mpr *r)
{
    if (r->err || r->p >= r->end)
        return VG_MPK_END;
    uint8_t t = *r->p;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3))
        return VG_MPK_INT;
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf)
        return VG_MPK_MAP;
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd)
        return VG_MPK_ARRAY;
    if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb))
        return VG_MPK_STR;
    if (t >= 0xc4 && t <= 0xc6)
        return VG_MPK_BIN;
    if (t == 0xc0)
        return VG_MPK_NIL;
    if (t == 0xc2 || t == 0xc3)
        return VG_MPK_BOOL;
    if (t == 0xca || t == 0xcb)
        return VG_MPK_FLOAT;
    return VG_MPK_OTHER;
}


/*
 * An array or map header: `fix` is its fix type's high nibble, `t16` its
 * 16-bit type (the 32-bit one follows), `per` the values per entry. The
 * count must fit the bytes left (one each at least) and max_items.
 */
static int
container(vg_mpr *r, uint8_t fix, uint8_t t16, unsigned per, uint32_t *n)
{
    uint8_t t;
    uint64_t v;
    if (peek(r, &t) < 0)
        return -1;
    if ((t & 0xf0) == fix) {
        r->p++;
        v = t & 0x0f;
    } else if (t == t16 || t == t16 + 1) {
        r->p++;
        if (take_be(r, t == t16 ? 2 : 4, &v) < 0)
            return -1;
    } else {
        return fail(r, VG_MPR_TYPE);
    }
    if (v > (uint64_t)(r->end - r->p) / per || (r->max_items && v * per > r->max_items))
        return fail(r, VG_MPR_COUNT);
    *n = (uint32_t)v;
    return 0;
}


int
vg_mpr_array(vg_mpr *r, uint32_t *n)
{
    return container(r, 0x90, 0xdc, 1, n);
}


int
vg_mpr_map(vg_mpr *r, uint32_t *n)
{
    return container(r, 0x80, 0xde, 2, n);
}


/* A str (want_str) and/or bin (want_bin) value: sets p/n. */
static int
raw(vg_mpr *r, int want_str, int want_bin, const uint8_t **p, size_t *n)
{
    uint8_t t;
    uint64_t len;
    if (peek(r, &t) < 0)
        return -1;
    int is_str = (t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb);
    int is_bin = t >= 0xc4 && t <= 0xc6;
    if (!((is_str && want_str) || (is_bin && want_bin)))
        return fail(r, VG_MPR_TYPE);
    r->p++;
    if ((t & 0xe0) == 0xa0)
        len = t & 0x1f;
    else if (take_be(r, (size_t)1 << (is_str ? t - 0xd9 : t - 0xc4), &len) < 0)
        return -1;
    if (len > (uint64_t)(r->end - r->p))
        return fail(r, VG_MPR_TRUNCATED);
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}


/* A str (or, with or_bin, a bin) as a vg_str. */
static int
text(vg_mpr *r, int or_bin, vg_str *s)
{
    const uint8_t *p;
    size_t n;
    if (raw(r, 1, or_bin, &p, &n) < 0)
        return -1;
    s->p = (const char *)p;
    s->n = n;
    return 0;
}


int
vg_mpr_str(vg_mpr *r, vg_str *s)
{
    return text(r, 1, s);
}


int
vg_mpr_str_only(vg_mpr *r, vg_str *s)
{
    return text(r, 0, s);
}


int
vg_mpr_bin(vg_mpr *r, const uint8_t **p, size_t *n)
{
    return raw(r, 1, 1, p, n);
}


int
vg_mpr_bin_only(vg_mpr *r, const uint8_t **p, size_t *n)
{
    return raw(r, 0, 1, p, n);
}


int
vg_mpr_strcpy(vg_mpr *r, char *out, size_t cap)
{
    vg_str s;
    if (vg_mpr_str(r, &s) < 0)
        return -1;
    if (s.n >= cap)
        return fail(r, VG_MPR_RANGE);
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
    return 0;
}


/* Any integer: *x its 64 bits (two's complement when negative), *neg 1 when it is below zero. */
static int
integer(vg_mpr *r, uint64_t *x, int *neg)
{
    uint8_t t;
    if (peek(r, &t) < 0)
        return -1;
    if (t <= 0x7f || t >= 0xe0) {
        r->p++;
        *x = (uint64_t)(int64_t)(int8_t)t;
        *neg = t >= 0xe0;
        return 0;
    }
    if (t < 0xcc || t > 0xd3)
        return fail(r, VG_MPR_TYPE);
    r->p++;
    unsigned bits = 8u << ((t - 0xcc) & 3);
    if (take_be(r, bits / 8, x) < 0)
        return -1;
    *neg = t >= 0xd0 && (*x >> (bits - 1)) & 1;
    if (*neg && bits < 64)
        *x |= ~(uint64_t)0 << bits;      /* sign-extend */
    return 0;
}


/* An integer within [lo, hi]; with saturate a uint64 above INT64_MAX reads as INT64_MAX. */
static int
signed_in(vg_mpr *r, int64_t lo, int64_t hi, int saturate, int64_t *v)
{
    uint64_t x;
    int neg;
    if (integer(r, &x, &neg) < 0)
        return -1;
    if (!neg && x > INT64_MAX) {
        if (!saturate)
            return fail(r, VG_MPR_RANGE);
        x = INT64_MAX;
    }
    if ((int64_t)x < lo || (int64_t)x > hi)
        return fail(r, VG_MPR_RANGE);
    *v = (int64_t)x;
    return 0;
}


int
vg_mpr_i64_in(vg_mpr *r, int64_t lo, int64_t hi, int64_t *v)
{
    return signed_in(r, lo, hi, 0, v);
}


int
vg_mpr_i64(vg_mpr *r, int64_t *v)
{
    return signed_in(r, INT64_MIN, INT64_MAX, 0, v);
}


int
vg_mpr_i64_sat(vg_mpr *r, int64_t *v)
{
    return signed_in(r, INT64_MIN, INT64_MAX, 1, v);
}


int
vg_mpr_u64(vg_mpr *r, uint64_t *v)
{
    uint64_t x;
    int neg;
    if (integer(r, &x, &neg) < 0)
        return -1;
    if (neg)
        return fail(r, VG_MPR_RANGE);
    *v = x;
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
        return fail(r, VG_MPR_TYPE);
    r->p++;
    *v = t == 0xc3;
    return 0;
}


int
vg_mpr_nil(vg_mpr *r)
{
    if (vg_mpr_type(r) != VG_MPK_NIL)
        return 0;
    r->p++;
    return 1;
}


static int
skip_depth(vg_mpr *r, int depth)
{
    uint32_t n;
    uint64_t u;
    int64_t i;
    double d;
    int b;
    const uint8_t *p;
    size_t len;
    if (depth > r->max_depth)
        return fail(r, VG_MPR_DEPTH);
    switch (vg_mpr_type(r)) {
    case VG_MPK_END:
        return fail(r, VG_MPR_TRUNCATED);
    case VG_MPK_NIL:
        r->p++;
        return 0;
    case VG_MPK_BOOL:
        return vg_mpr_bool(r, &b);
    case VG_MPK_INT:
        return *r->p == 0xcf ? vg_mpr_u64(r, &u) : vg_mpr_i64(r, &i);
    case VG_MPK_FLOAT:
        return vg_mpr_f64(r, &d);
    case VG_MPK_STR:
    case VG_MPK_BIN:
        return vg_mpr_bin(r, &p, &len);
    case VG_MPK_ARRAY:
    case VG_MPK_MAP: {
        int map = vg_mpr_type(r) == VG_MPK_MAP;
        if ((map ? vg_mpr_map(r, &n) : vg_mpr_array(r, &n)) < 0)
            return -1;
        for (uint64_t k = 0; k < (uint64_t)n << map; k++)
            if (skip_depth(r, depth + 1) < 0)
                return -1;
        return 0;
    }
    default:
        return fail(r, VG_MPR_TYPE);   /* ext types are never written here */
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
