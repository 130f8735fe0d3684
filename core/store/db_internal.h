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

/*
 * Records stored as msgpack maps, described by a table of their fields:
 * the key, the type and where the value lives in the C struct. Encoding
 * writes every field in table order; decoding zeroes the struct, reads the
 * fields it knows (skipping others) and answers VG_E_CORRUPT for a damaged
 * map. A BIN field of another length is left zero.
 */
typedef enum vg_db__type {
    VG_DB__U64,                        /* uint64_t */
    VG_DB__I64,                        /* int64_t */
    VG_DB__BOOL,                       /* int */
    VG_DB__STR,                        /* char[size], NUL-terminated */
    VG_DB__ROLE,                       /* int VG_ROLE_*, stored by name */
    VG_DB__BIN,                        /* uint8_t[size] */
} vg_db__type;

typedef struct vg_db__field {
    const char *key;
    vg_db__type type;
    size_t off, size;
} vg_db__field;

typedef struct vg_db__record {
    const vg_db__field *fields;
    size_t nfields;
    size_t size;                       /* of the C struct */
} vg_db__record;

/* A field: (struct type, member, key, VG_DB__ type without the prefix). */
#define VG_DB__FIELD(rec, member, key, type) \
    { key, VG_DB__##type, offsetof(rec, member), sizeof(((rec *)0)->member) }
#define VG_DB__RECORD(rec, table) { table, sizeof (table) / sizeof (table)[0], sizeof(rec) }

void vg_db__encode(vg_buf *out, const vg_db__record *rec, const void *r);
int vg_db__decode(const void *p, size_t n, const vg_db__record *rec, void *r);

/*
 * Walks a msgpack map: field() reads (or skips) the value of each key.
 * A value it fails to read stops the walk; VG_E_CORRUPT then, else 0.
 */
struct vg_mpr;
int vg_db__map_read(const void *p, size_t n, void (*field)(struct vg_mpr *r, vg_str key, void *ud), void *ud);

/* Lower-case copy of s into out (at most cap - 1 bytes); returns its length. */
size_t vg_db__lower_copy(char *out, size_t cap, const char *s);

/* Single values: put, delete (a missing key is 0), get. */
int vg_db__put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn, unsigned flags);
int vg_db__del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn);
int vg_db__get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *out);
/* Puts b's bytes and releases b (either way). */
int vg_db__put_buf(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, vg_buf *b, unsigned flags);
/* Encodes and puts record r (an LMDB code). */
int vg_db__put_record(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const struct vg_db__record *rec,
                      const void *r, unsigned flags);
/* Reads and decodes one record: 0, VG_E_NOTFOUND, VG_E_CORRUPT or another VG_E_* code. */
int vg_db__get_record(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const struct vg_db__record *rec, void *out);
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
/* db_apikeys.c: revokes every live API key of uid (a VG_E_* code). */
int vg_db__apikeys_revoke(struct vg_db *db, MDB_txn *txn, uint64_t uid);
/* db_aggregates.c: counts one stored detection (`objects` in all) into the batch's aggregates. */
void vg_db__agg_detection(struct vg_db_agg *a, const vg_det_meta *m, uint64_t objects);

#endif
