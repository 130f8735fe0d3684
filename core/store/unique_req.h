/*
 * unique_req: the store request UNIQUE_ADD (store.h) as bytes and back:
 * the master writes it (store_write.c), the store process reads it
 * (store.c), from this node or replicated from another (repl.h), so its
 * reader is bounded like any network input.
 */
#ifndef VG_STORE_UNIQUE_REQ_H
#define VG_STORE_UNIQUE_REQ_H

#include <stdint.h>

#include "base/buf.h"
#include "base/mpk.h"

#define VG_UNIQUE_MAX_MS 253402300799999ull   /* the last ms of the year 9999 */

/* One unique tracked object and/or one person track's colours (empty strings: p NULL, n 0). */
typedef struct vg_unique_req {
    uint64_t t_ms;                     /* unix ms, 1 .. VG_UNIQUE_MAX_MS */
    vg_str label, upper, lower;        /* each at most VG_DB_LABEL_MAX bytes (records.h) */
} vg_unique_req;

/* Appends the msgpack array [op, t_ms, label|nil, upper|nil, lower|nil]. VG_E_INVAL when a field is out of bounds. */
int vg_unique_req_encode(vg_buf *out, int op, const vg_unique_req *q);

/*
 * Reads the elements after the op (cnt elements in the array, op
 * included) from r; strings point into r's bytes. 0, or
 * VG_E_STORE_PROTO (a count, type or bound wrong).
 */
int vg_unique_req_decode(vg_mpr *r, uint32_t cnt, vg_unique_req *q);

#endif
