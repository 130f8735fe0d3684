/*
 * jsonw: writes JSON into a vg_buf. Commas are placed for the caller;
 * nesting is limited to VG_JSONW_DEPTH. Strings are escaped (invalid
 * UTF-8 bytes become U+FFFD, so output is always valid JSON).
 * Parsing JSON is done with jansson, not here.
 */
#ifndef VG_JSONW_H
#define VG_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VG_JSONW_DEPTH 32

typedef struct vg_jsonw {
    vg_buf *out;
    int depth;
    uint8_t first[VG_JSONW_DEPTH]; /* 1 until the level's first element is written */
    uint8_t after_key;             /* a key was just written: no comma before the value */
} vg_jsonw;

void vg_jsonw_init(vg_jsonw *w, vg_buf *out);
void vg_jsonw_obj(vg_jsonw *w);        /* { */
void vg_jsonw_obj_end(vg_jsonw *w);    /* } */
void vg_jsonw_arr(vg_jsonw *w);        /* [ */
void vg_jsonw_arr_end(vg_jsonw *w);    /* ] */
void vg_jsonw_key(vg_jsonw *w, const char *key);
void vg_jsonw_str(vg_jsonw *w, const char *s, size_t n);
void vg_jsonw_cstr(vg_jsonw *w, const char *s);   /* NULL writes null */
void vg_jsonw_int(vg_jsonw *w, int64_t v);
void vg_jsonw_uint(vg_jsonw *w, uint64_t v);
void vg_jsonw_double(vg_jsonw *w, double v);      /* non-finite writes null */
void vg_jsonw_double_prec(vg_jsonw *w, double v, int digits);
/* v with exactly `decimals` (1..9) digits after the point, without printf ("12.300"). */
void vg_jsonw_fixed(vg_jsonw *w, double v, int decimals);
void vg_jsonw_bool(vg_jsonw *w, int v);
void vg_jsonw_null(vg_jsonw *w);
/* Already-serialised JSON, written as one value. */
void vg_jsonw_raw(vg_jsonw *w, const char *json, size_t n);

/* A member of the current object: the key, then the value (vg_jsonw_key + the writer above). */
void vg_jsonw_kstr(vg_jsonw *w, const char *key, const char *s);   /* NULL writes null */
void vg_jsonw_kint(vg_jsonw *w, const char *key, int64_t v);
void vg_jsonw_kuint(vg_jsonw *w, const char *key, uint64_t v);
void vg_jsonw_kdouble(vg_jsonw *w, const char *key, double v, int digits);   /* vg_jsonw_double_prec */
void vg_jsonw_kbool(vg_jsonw *w, const char *key, int v);
void vg_jsonw_kobj(vg_jsonw *w, const char *key);   /* "key":{ */
void vg_jsonw_karr(vg_jsonw *w, const char *key);   /* "key":[ */

/* Appends s as a quoted JSON string to b. */
void vg_json_quote(vg_buf *b, const char *s, size_t n);

#endif
