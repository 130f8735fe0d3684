/*
 * mpk: msgpack helpers for the store's records and messages.
 *
 * Writing wraps msgpack-c's packer around a vg_buf. Reading is a bounded
 * cursor over a byte range that allocates nothing: a value whose declared
 * length runs past the end, a wrong type or nesting deeper than
 * VG_MPK_MAX_DEPTH sets the cursor's error flag and every later read
 * fails, so a caller can read a whole record and check once at the end.
 * Strings and byte arrays point into the input and live as long as it.
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
void vg_mpw_u64(vg_mpw *w, uint64_t v);
void vg_mpw_i64(vg_mpw *w, int64_t v);
void vg_mpw_f64(vg_mpw *w, double v);
void vg_mpw_bool(vg_mpw *w, int v);
void vg_mpw_nil(vg_mpw *w);

/* ---- reading ---- */
typedef struct vg_mpr {
    const uint8_t *p;            /* next byte */
    const uint8_t *end;
    int err;                     /* sticky: a read failed */
} vg_mpr;

void vg_mpr_init(vg_mpr *r, const void *p, size_t n);
/* Each returns 0, or -1 (and sets r->err) when the next value is not of that type. */
int vg_mpr_array(vg_mpr *r, uint32_t *n);
int vg_mpr_map(vg_mpr *r, uint32_t *n);
int vg_mpr_str(vg_mpr *r, vg_str *s);                 /* str (or bin) */
int vg_mpr_bin(vg_mpr *r, const uint8_t **p, size_t *n); /* bin (or str) */
int vg_mpr_u64(vg_mpr *r, uint64_t *v);               /* a non-negative integer */
int vg_mpr_i64(vg_mpr *r, int64_t *v);                /* any integer within int64 */
int vg_mpr_f64(vg_mpr *r, double *v);                 /* float or integer */
int vg_mpr_bool(vg_mpr *r, int *v);
/* 1 (consumed) when the next value is nil, else 0. */
int vg_mpr_nil(vg_mpr *r);
/* Skips one value of any type. */
int vg_mpr_skip(vg_mpr *r);
/* Copies a str value into out (NUL-terminated, cap bytes with the NUL); -1 if longer. */
int vg_mpr_strcpy(vg_mpr *r, char *out, size_t cap);
/* 1 when everything was read without error and nothing is left. */
int vg_mpr_done(const vg_mpr *r);

#endif
