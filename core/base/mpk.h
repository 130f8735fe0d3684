/*
 * mpk: the server's msgpack reader and writer (store records and messages,
 * the worker protocol in pool/ipc.c, WebSocket messages in http/wire.c).
 *
 * Writing wraps msgpack-c's packer around a vg_buf; integers take their
 * smallest encoding.
 *
 * Reading is a bounded cursor over a byte range that allocates nothing
 * (msgpack-c's unpacker would allocate whatever element counts a hostile
 * input declares). Every length is checked against the bytes left before
 * it is used: a str/bin whose length runs past the end, a map or array
 * declaring more entries than the bytes left could hold (each takes one
 * byte at least) or than r->max_items, a wrong type, or nesting deeper than
 * r->max_depth in vg_mpr_skip() fails the read. A failure is sticky: it
 * sets r->err (why, enum vg_mpr_err) and every later read fails, so a
 * caller can read a whole record and check once at the end. Strings and
 * byte arrays point into the input and live as long as it; an empty one
 * points into it too (never NULL).
 */
#ifndef VG_MPK_H
#define VG_MPK_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "base/buf.h"

#define VG_MPK_MAX_DEPTH 16

/* ---- writing ---- */
typedef struct vg_mpw {
    msgpack_packer pk;           /* appends to `out` */
    vg_buf *out;
} vg_mpw;

void vg_mpw_init(vg_mpw *w, vg_buf *out);
void vg_mpw_array(vg_mpw *w, uint32_t n);
void vg_mpw_map(vg_mpw *w, uint32_t n);
void vg_mpw_str(vg_mpw *w, const char *s, size_t n);
void vg_mpw_cstr(vg_mpw *w, const char *s);          /* NULL writes nil */
void vg_mpw_bin(vg_mpw *w, const void *p, size_t n);
/* Only the header of a bin of n bytes: the caller appends (or sends) the bytes after it. */
void vg_mpw_bin_header(vg_mpw *w, size_t n);
void vg_mpw_u64(vg_mpw *w, uint64_t v);
void vg_mpw_i64(vg_mpw *w, int64_t v);
void vg_mpw_f32(vg_mpw *w, float v);
void vg_mpw_f64(vg_mpw *w, double v);
void vg_mpw_bool(vg_mpw *w, int v);
void vg_mpw_nil(vg_mpw *w);

/* ---- reading ---- */

/* Why a read failed (vg_mpr.err). */
enum vg_mpr_err {
    VG_MPR_OK = 0,
    VG_MPR_TRUNCATED,    /* the input ends inside a value or before the next one */
    VG_MPR_TYPE,         /* not the type asked for, or no msgpack type (r->p stays on its type byte) */
    VG_MPR_COUNT,        /* a map or array declares more entries than the bytes left or max_items */
    VG_MPR_DEPTH,        /* vg_mpr_skip(): nested deeper than max_depth */
    VG_MPR_RANGE         /* an integer outside the range asked for; a string longer than its room */
};

/* What the next value is, by its type byte. */
enum vg_mpk_type {
    VG_MPK_END,          /* nothing left, or an earlier read failed */
    VG_MPK_NIL,
    VG_MPK_BOOL,
    VG_MPK_INT,          /* any integer encoding, signed or not */
    VG_MPK_FLOAT,        /* float 32 or 64 */
    VG_MPK_STR,
    VG_MPK_BIN,
    VG_MPK_ARRAY,
    VG_MPK_MAP,
    VG_MPK_OTHER         /* ext types and the unused 0xc1: every read refuses them */
};

typedef struct vg_mpr {
    const uint8_t *p;            /* next byte */
    const uint8_t *end;
    int err;                     /* sticky: 0, or the enum vg_mpr_err of the first failure */
    int max_depth;               /* vg_mpr_skip(): levels of nesting below the value skipped */
    uint32_t max_items;          /* entries one array or map may declare, a map's keys and
                                    values both counted; 0: as many as the bytes left hold */
} vg_mpr;

/* A cursor over n bytes at p, with max_depth VG_MPK_MAX_DEPTH and no item limit. */
void vg_mpr_init(vg_mpr *r, const void *p, size_t n);
/* The type of the next value, without reading it. */
enum vg_mpk_type vg_mpr_type(const vg_mpr *r);
/* Each returns 0, or -1 (and sets r->err) when the next value is not of that type. */
int vg_mpr_array(vg_mpr *r, uint32_t *n);
int vg_mpr_map(vg_mpr *r, uint32_t *n);
int vg_mpr_str(vg_mpr *r, vg_str *s);                 /* str (or bin) */
int vg_mpr_bin(vg_mpr *r, const uint8_t **p, size_t *n); /* bin (or str) */
int vg_mpr_str_only(vg_mpr *r, vg_str *s);            /* str; a bin is VG_MPR_TYPE */
int vg_mpr_bin_only(vg_mpr *r, const uint8_t **p, size_t *n); /* bin; a str is VG_MPR_TYPE */
int vg_mpr_u64(vg_mpr *r, uint64_t *v);               /* a non-negative integer */
int vg_mpr_i64(vg_mpr *r, int64_t *v);                /* any integer within int64 */
/* An integer in [lo, hi]; outside is VG_MPR_RANGE. */
int vg_mpr_i64_in(vg_mpr *r, int64_t lo, int64_t hi, int64_t *v);
/* Any integer; a uint64 above INT64_MAX reads as INT64_MAX. */
int vg_mpr_i64_sat(vg_mpr *r, int64_t *v);
int vg_mpr_f64(vg_mpr *r, double *v);                 /* float or integer */
int vg_mpr_bool(vg_mpr *r, int *v);
/* 1 (consumed) when the next value is nil, else 0. */
int vg_mpr_nil(vg_mpr *r);
/* Skips one value of any type, nested at most r->max_depth levels below it. */
int vg_mpr_skip(vg_mpr *r);
/* Copies a str value into out (NUL-terminated, cap bytes with the NUL); -1 if longer. */
int vg_mpr_strcpy(vg_mpr *r, char *out, size_t cap);
/* 1 when everything was read without error and nothing is left. */
int vg_mpr_done(const vg_mpr *r);

#endif
