/*
 * db_internal: what the files of the LMDB schema share (db.c and the
 * db_<kind>.c files of each record kind); nothing outside them includes it.
 * Like db.h's functions, these run inside the caller's transaction and
 * return raw LMDB codes unless stated (vg_db_err() maps them).
 */
#ifndef VG_DB_INTERNAL_H
#define VG_DB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "base/buf.h"
#include "store/records.h"

struct vg_db;
struct vg_db_agg;

/* Lower-case copy of s into out (at most cap - 1 bytes); returns its length. */
size_t vg_db__lower_copy(char *out, size_t cap, const char *s);

/* Single values: put, delete (a missing key is 0), get. */
int vg_db__put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn, unsigned flags);
int vg_db__del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn);
int vg_db__get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *out);
/* Puts b's bytes and releases b (either way). */
int vg_db__put_buf(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, vg_buf *b, unsigned flags);
/* Deletes every key starting with prefix; calls fn (may be NULL) on each value first. */
int vg_db__del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t pn,
                      int (*fn)(const MDB_val *k, const MDB_val *v, void *ud), void *ud);

/* Counters of the meta database ("next_uid", "next_kid", "schema"). */
int vg_db__meta_get(struct vg_db *db, MDB_txn *txn, const char *name, uint64_t *v);
int vg_db__meta_put(struct vg_db *db, MDB_txn *txn, const char *name, uint64_t v);

/* db_sessions.c: deletes every family of uid (their refresh tokens then fail the family check). */
int vg_db__families_drop(struct vg_db *db, MDB_txn *txn, uint64_t uid);
/* db_apikeys.c: deletes every API key of uid and its hash entry. */
int vg_db__apikeys_drop(struct vg_db *db, MDB_txn *txn, uint64_t uid);
/* db_aggregates.c: counts one stored detection (`objects` in all) into the batch's aggregates. */
void vg_db__agg_detection(struct vg_db_agg *a, const vg_det_meta *m, uint64_t objects);

#endif
