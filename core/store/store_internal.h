/*
 * store_internal: what the store client (store_client.c) shares with the
 * master's reads (store_read.c); nothing outside core/store includes it.
 */
#ifndef VG_STORE_INTERNAL_H
#define VG_STORE_INTERNAL_H

struct vg_db;
struct vg_store;

/* The client's read-only environment (opened by vg_store_create). */
struct vg_db *vg_store__db(struct vg_store *s);

#endif
