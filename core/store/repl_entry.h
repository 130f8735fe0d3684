/*
 * repl_entry: what a committed store request becomes on the replication
 * stream (store/repl.h): the request in the form another node's store
 * applies. Users and API keys carry the id assigned here; a detection goes
 * without its image (the image stays on the node that made it, its record
 * says "img": nil elsewhere); a refresh token spent twice is replicated
 * too, so its session is revoked everywhere; track events and cameras'
 * zones and lines go as they are. Pure: no I/O.
 */
#ifndef VG_STORE_REPL_ENTRY_H
#define VG_STORE_REPL_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/mpk.h"

/*
 * The entry of request req (its msgpack without the tail) answered with
 * status, rest reading the answer after the status (NULL: none). 1 with
 * the entry appended to out; 0 when it is not replicated (a sync, a
 * failed write); VG_E_STORE_PROTO when req or rest is malformed (out as
 * it was).
 */
int vg_store_repl_entry(const uint8_t *req, size_t n, int status, vg_mpr *rest, vg_buf *out);

/*
 * Whether entry p (n bytes) stores a camera's zones and lines: 1 with its
 * id (1..VG_DB_SOURCE_MAX bytes) and the stored shapes (*shapes_n 0: the
 * camera's were removed), pointing into p; else 0.
 */
int vg_store_repl_entry_camera(const uint8_t *p, size_t n, vg_str *id, const uint8_t **shapes, size_t *shapes_n);

#endif
