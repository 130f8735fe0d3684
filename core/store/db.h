/*
 * db: the LMDB schema (DESIGN.md §4) and every record operation on it,
 * inside core/store only (the record types are in store/records.h).
 *
 * One environment under DATA/db with named databases; values are msgpack
 * maps (docs/storage.md lists their fields):
 *
 *   meta            "schema" -> u64 version, "next_uid", "next_kid" -> u64,
 *                   "repl_ms", "repl_seq" -> u64 (the last replicated entry applied),
 *                   "repl_epoch" -> u64 (the stream it was read from; absent: 0),
 *                   "ro:ORIGIN" -> u64 (the last sequence number applied of node ORIGIN),
 *                   "outbox_next" -> u64 (the last number given to an outbox entry)
 *   outbox          number (8 bytes BE) -> a replicated entry of this node, written
 *                   in the commit of its write, deleted once the state Redis took it
 *   users           uid (8 bytes BE) -> user
 *   users_by_name   lower-case name  -> uid
 *   users_by_email  lower-case email -> uid
 *   sessions        SHA-256 of a refresh token -> session (user, family, expiry, used)
 *   families        uid | family (24 bytes) -> family (expiry, revoked)
 *   apikeys         uid | kid (16 bytes) -> API key (name, role, revoked)
 *   apikeys_by_hash SHA-256 of the key -> uid | kid
 *   detections      time_us (8 BE) | 8 random bytes -> detection
 *   idx_label, idx_source, idx_model   value \0 | detection key -> ""
 *   idx_user        uid | detection key -> ""
 *   feedback        time_us | random (16) -> feedback
 *   idx_feedback    detection key | feedback key -> ""
 *   aggregates      'h' | hour (4 BE), 'd' | day (4 BE) -> bucket; 'u' | uid -> user activity
 *   images          SHA-256 -> reference count and size (files under DATA/images)
 *
 * Writers: the store process (all writes of a running server, in group
 * commits) and `vigia user add` (its own short write transaction; LMDB
 * serialises writers across processes). Readers: the master, with short
 * read-only transactions. Functions taking an MDB_txn run inside the
 * caller's transaction and never commit or abort it; values they return
 * are copied out of the map.
 *
 * Errors: 0, a negative VG_E_* code (base/error.h), or an LMDB/errno code mapped
 * to VG_E_FULL (MDB_MAP_FULL, ENOSPC) or VG_E_STORE_IO.
 *
 * The implementation is split by record kind: db.c (environment,
 * transactions, keys, migrations), db_users.c, db_sessions.c (sessions and
 * families), db_apikeys.c, db_detections.c (detections and feedback),
 * db_images.c and db_aggregates.c; db_internal.h holds what they share.
 */
#ifndef VG_DB_H
#define VG_DB_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "base/buf.h"
#include "base/error.h"
#include "store/records.h"

#define VG_DB_SCHEMA 1                 /* the version this code writes */

typedef struct vg_db {
    MDB_env *env;
    MDB_dbi meta, users, users_by_name, users_by_email, sessions, families, apikeys,
        apikeys_by_hash, detections, idx_label, idx_source, idx_model, idx_user, feedback,
        idx_feedback, aggregates, images,
        events,                        /* track events: time-ordered key -> the event's JSON */
        cameras;                       /* a named camera's zones and lines: id -> JSON */
    MDB_dbi outbox;                /* replicated entries not yet taken by the state Redis (store/repl.h) */
    int has_outbox;                /* 0: a read-only open of a database made before it */
    int readonly;
    size_t map_size;                   /* current map size */
    size_t map_max;                    /* growth stops here (VG_E_FULL beyond) */
    MDB_txn *rtxn;                     /* reader: a reset read txn kept for renewal */
    int rtxn_live;
    char dir[1024];                    /* the environment's directory */
} vg_db;

typedef struct vg_db_options {
    size_t map_size;                   /* initial map size */
    size_t map_max;                    /* largest map */
    int readonly;                      /* the master's reader */
    int nosync;                        /* tests of the peer only: MDB_NOSYNC */
} vg_db_options;

/*
 * Opens DATA/db (created by a writer; a reader needs it to exist), opens
 * every named database and, for a writer, creates or migrates the schema.
 * A schema newer than VG_DB_SCHEMA is refused. Returns 0 or -1 with err.
 */
int vg_db_open(vg_db *db, const char *data_dir, const vg_db_options *o, char *err, size_t errlen);
void vg_db_close(vg_db *db);

/* Begins a transaction, following a map grown by another process. */
int vg_db_begin(vg_db *db, int write, MDB_txn **txn);
/* Reader: a read transaction reused across calls; end it before returning to the loop. */
int vg_db_read(vg_db *db, MDB_txn **txn);
void vg_db_read_end(vg_db *db);
/* Writer: doubles the map (up to map_max). 0, or VG_E_FULL at the cap. No txn may be open. */
int vg_db_grow(vg_db *db);
/* Clears reader slots of dead processes (a master killed with -9). Returns how many. */
int vg_db_reader_check(vg_db *db);
/* Used and total bytes of the map. */
void vg_db_usage(vg_db *db, size_t *used, size_t *total);

/* Maps an LMDB/errno result to a VG_E_* code (0 stays 0). */
int vg_db_err(int rc);

/* ---- replication (core/store/repl.h) ---- */
/* The id (ms-seq) of the last replicated entry applied: 0-0 when none. */
int vg_db_repl_get(vg_db *db, MDB_txn *txn, uint64_t *ms, uint64_t *seq);
int vg_db_repl_put(vg_db *db, MDB_txn *txn, uint64_t ms, uint64_t seq);
/* The last sequence number applied of origin node `origin` (at most 64 bytes; 0: none), and its update. */
int vg_db_repl_origin_get(vg_db *db, MDB_txn *txn, const char *origin, size_t n, uint64_t *oseq);
int vg_db_repl_origin_put(vg_db *db, MDB_txn *txn, const char *origin, size_t n, uint64_t oseq);
/* Appends entry p (n bytes) to the outbox under the next number (*num). */
int vg_db_outbox_put(vg_db *db, MDB_txn *txn, const void *p, size_t n, uint64_t *num);
/* How many entries the outbox holds (0 without one). */
size_t vg_db_outbox_count(vg_db *db, MDB_txn *txn);
/* Deletes the outbox entries numbered up to `upto`. */
int vg_db_outbox_done(vg_db *db, MDB_txn *txn, uint64_t upto);
/* Calls each() for the outbox entries numbered above `after`, in order, at most max; how many, or an error. */
int vg_db_outbox_read(vg_db *db, MDB_txn *txn, uint64_t after, size_t max,
                      void (*each)(uint64_t num, const void *p, size_t n, void *ud), void *ud);
/* The epoch of the stream that id belongs to (0: none recorded), and its update. */
int vg_db_repl_epoch_get(vg_db *db, MDB_txn *txn, uint64_t *epoch);
int vg_db_repl_epoch_put(vg_db *db, MDB_txn *txn, uint64_t epoch);

/* ---- track events (db_events.c) ---- */
/* Stores an event's JSON under its time-ordered key (a key stored twice is kept once). */
int vg_db_event_add(vg_db *db, MDB_txn *txn, const uint8_t key[16], const void *json, size_t n);
/* Deletes at most `budget` of the oldest events from before limit_us; *n says how many. */
int vg_db_events_prune(vg_db *db, MDB_txn *txn, uint64_t limit_us, int budget, int *n);

/* ---- cameras (db_events.c) ---- */
/* Stores a camera's zones and lines (JSON); n == 0 removes them. */
int vg_db_camera_put(vg_db *db, MDB_txn *txn, const char *id, size_t idn, const void *json, size_t n);

/* ---- users ---- */
/*
 * Assigns u->id, or keeps a non-zero u->id (an entry replicated from another
 * node, core/store/repl.h: the next id assigned here then follows it).
 * VG_E_CONFLICT when the name, email or that id is taken.
 */
int vg_db_user_create(vg_db *db, MDB_txn *txn, vg_user *u);
/*
 * VG_E_NOTFOUND, VG_E_CONFLICT (email), VG_E_LASTADMIN. A new password ends
 * every session, revokes every API key of the user and clears must_change.
 */
int vg_db_user_update(vg_db *db, MDB_txn *txn, uint64_t uid, const vg_user_patch *p);
/* Removes the user, its names, sessions and API keys (its detections stay). */
int vg_db_user_delete(vg_db *db, MDB_txn *txn, uint64_t uid);
int vg_db_user_get(vg_db *db, MDB_txn *txn, uint64_t uid, vg_user *u);
/* By name or email, case-insensitively. */
int vg_db_user_find(vg_db *db, MDB_txn *txn, const char *login, vg_user *u);
/* Number of users. */
int vg_db_user_count(vg_db *db, MDB_txn *txn, size_t *n);
/* Calls fn for each user in id order; stops early when fn returns non-zero. */
int vg_db_user_each(vg_db *db, MDB_txn *txn, int (*fn)(const vg_user *u, void *ud), void *ud);
/* A stored user record. */
int vg_user_decode(const void *p, size_t n, vg_user *u);

/* ---- sessions (refresh tokens) ---- */
/* Stores a new refresh token (its SHA-256) opening `family` for uid. */
int vg_db_session_create(vg_db *db, MDB_txn *txn, const uint8_t hash[32], uint64_t uid,
                         const uint8_t family[VG_DB_FAMILY], int64_t expires, int64_t now);
/*
 * Rotation: the old token must be live and unused; it is marked used and
 * the new one joins its family (expiring with it). A used token coming
 * back revokes the whole family (VG_E_TOKEN_REUSED), except within `grace`
 * seconds of its exchange while its successor is still unused (the answer
 * was lost: the successor is superseded and the exchange is made again;
 * grace 0: never). Sets *uid and family.
 * VG_E_NOTFOUND, VG_E_TOKEN_EXPIRED, VG_E_TOKEN_REVOKED, VG_E_TOKEN_REUSED.
 */
int vg_db_session_rotate(vg_db *db, MDB_txn *txn, const uint8_t old_hash[32], const uint8_t new_hash[32],
                         int64_t now, int64_t expires, int64_t grace, uint64_t *uid,
                         uint8_t family[VG_DB_FAMILY]);
/* Revokes a family (logout). VG_E_NOTFOUND. */
int vg_db_family_revoke(vg_db *db, MDB_txn *txn, uint64_t uid, const uint8_t family[VG_DB_FAMILY]);
/* 0 when the family exists, is not revoked and not expired at `now`; else VG_E_TOKEN_REVOKED. */
int vg_db_family_check(vg_db *db, MDB_txn *txn, uint64_t uid, const uint8_t family[VG_DB_FAMILY], int64_t now);
/* The family and user of a refresh token (for logout by refresh token). */
int vg_db_session_lookup(vg_db *db, MDB_txn *txn, const uint8_t hash[32], uint64_t *uid,
                         uint8_t family[VG_DB_FAMILY]);

/* ---- API keys ---- */
/* Assigns k->kid, or keeps a non-zero one (replicated) as vg_db_user_create keeps an id. */
int vg_db_apikey_create(vg_db *db, MDB_txn *txn, const uint8_t hash[32], vg_apikey *k);
int vg_db_apikey_revoke(vg_db *db, MDB_txn *txn, uint64_t uid, uint64_t kid);
int vg_db_apikey_find(vg_db *db, MDB_txn *txn, const uint8_t hash[32], vg_apikey *k);
/* Calls fn for each key of uid (revoked ones too); stops early when fn returns non-zero. */
int vg_db_apikey_list(vg_db *db, MDB_txn *txn, uint64_t uid, int (*fn)(const vg_apikey *k, void *ud), void *ud);

/* ---- detections ---- */
/*
 * Stores one detection: the record, its index entries and its share of
 * the aggregates (through `agg`, flushed by vg_db_agg_flush before commit).
 */
typedef struct vg_db_agg vg_db_agg;
vg_db_agg *vg_db_agg_create(void);
void vg_db_agg_destroy(vg_db_agg *a);
void vg_db_agg_clear(vg_db_agg *a);
int vg_db_agg_flush(vg_db *db, MDB_txn *txn, vg_db_agg *a);
void vg_db_agg_login(vg_db_agg *a, uint64_t uid, int64_t now);
void vg_db_agg_feedback(vg_db_agg *a, uint64_t uid);

int vg_db_det_add(vg_db *db, MDB_txn *txn, const vg_det_meta *m, const void *value, size_t len,
                  vg_db_agg *agg);
/* Deletes a detection and its index entries; *image gets its image hash (or all zero). */
int vg_db_det_delete(vg_db *db, MDB_txn *txn, const uint8_t key[VG_DB_DETKEY], uint8_t image[32], int *has_image);

/* ---- feedback ---- */
/* VG_E_NOTFOUND when the detection does not exist. */
int vg_db_feedback_add(vg_db *db, MDB_txn *txn, const uint8_t key[VG_DB_DETKEY], const uint8_t det[VG_DB_DETKEY],
                       uint64_t uid, const void *value, size_t len, vg_db_agg *agg);

/* ---- images (content-addressed files; the store writes them) ---- */
/* Counts one more reference; *is_new tells the caller to write the file. */
int vg_db_image_ref(vg_db *db, MDB_txn *txn, const uint8_t sha[32], uint64_t size, int64_t now, int *is_new);
/* One reference less; *gone when the file should be removed. */
int vg_db_image_unref(vg_db *db, MDB_txn *txn, const uint8_t sha[32], int *gone);

/* ---- aggregates ---- */
/*
 * One unique tracked object of `label` and/or one person track's voted
 * colours (upper, lower), counted into the hour and day buckets of t_ms
 * (unix ms). Each of label, upper and lower may be empty (p NULL or n 0):
 * not counted.
 */
void vg_db_agg_unique(vg_db_agg *a, uint64_t t_ms, vg_str label, vg_str upper, vg_str lower);
/* A user's activity counters (all zero when it has none). */
int vg_db_user_activity(vg_db *db, MDB_txn *txn, uint64_t uid, vg_user_activity *a);

#endif
