/*
 * store_internal: what the store client (store_client.c) shares with the
 * master's reads and writes (store_read.c, store_write.c); nothing outside
 * core/store includes it.
 */
#ifndef VG_STORE_INTERNAL_H
#define VG_STORE_INTERNAL_H

#include <stdint.h>

#include "base/mpk.h"

struct vg_db;
struct vg_store;

/* The client's read-only environment (opened by vg_store_create). */
struct vg_db *vg_store__db(struct vg_store *s);

/* A request being written for the store or the hasher: [op, ...]. */
typedef struct vg_store__request {
    vg_buf b;
    vg_mpw w;                          /* writes into b */
} vg_store__request;

/* Starts request op followed by n more elements; the caller sends q->b and releases it. */
void vg_store__request_begin(vg_store__request *q, int op, uint32_t n);

#endif
