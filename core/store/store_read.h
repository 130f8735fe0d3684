/*
 * store_read: the master's reads of the database, for the layers above the
 * store (auth, the API routes), which never see LMDB.
 *
 * Each call opens one short read-only snapshot (the client's reader
 * transaction, renewed: vg_db_read), reads, copies out what it returns and
 * ends the snapshot before returning, so nothing stays open across loop
 * turns. A list page and its next cursor come from one snapshot. Callbacks
 * run inside the snapshot: the record bytes they get are valid only during
 * the call, and they must not call into the store.
 *
 * Errors: 0; a lookup's answer (VG_E_NOTFOUND, VG_E_CORRUPT for a damaged
 * record, VG_E_TOKEN_*); or VG_E_STORE_IO (VG_E_FULL) when the store could
 * not be read: no snapshot, or an LMDB failure (vg_store_read_failed()).
 * Walks over many records stop early at a damaged entry or an LMDB failure
 * and still answer 0 with what they saw.
 */
#ifndef VG_STORE_READ_H
#define VG_STORE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "store/records.h"

typedef struct vg_store vg_store;

/* 1 when rc says the store could not be read at all, rather than answering. */
int vg_store_read_failed(int rc);

/* ---- users, sessions, API keys ---- */
int vg_store_user_get(vg_store *s, uint64_t uid, vg_user *u);
/* By name or email, case-insensitively. */
int vg_store_user_find(vg_store *s, const char *login, vg_user *u);
int vg_store_user_count(vg_store *s, size_t *n);
/* Calls fn for each user in id order; stops early when fn returns non-zero. */
int vg_store_user_list(vg_store *s, int (*fn)(const vg_user *u, void *ud), void *ud);
/* The user's activity counters, all zero when it has none (or on any error). */
int vg_store_user_activity(vg_store *s, uint64_t uid, vg_user_activity *a);
/*
 * The user of an access token and, when `family` is not NULL, whether its
 * login session is live at `now`: VG_E_TOKEN_REVOKED or VG_E_TOKEN_EXPIRED
 * when not (the user is read first: VG_E_NOTFOUND wins).
 */
int vg_store_family_check(vg_store *s, uint64_t uid, const uint8_t *family, int64_t now, vg_user *u);
/* The user and family of a refresh token (its SHA-256). */
int vg_store_session_lookup(vg_store *s, const uint8_t hash[32], uint64_t *uid, uint8_t family[VG_DB_FAMILY]);
/* The API key with this SHA-256 and its user; VG_E_TOKEN_REVOKED for a revoked key. */
int vg_store_apikey_find(vg_store *s, const uint8_t hash[32], vg_apikey *k, vg_user *u);
/* Calls fn for each key of uid (revoked ones too); stops early when fn returns non-zero. */
int vg_store_apikey_list(vg_store *s, uint64_t uid, int (*fn)(const vg_apikey *k, void *ud), void *ud);

/* ---- detections and feedback ---- */
/* A stored record (bytes valid during the call); returns 0 when it was taken. */
typedef int (*vg_store_record_fn)(const uint8_t key[VG_DB_DETKEY], const void *p, size_t n, void *ud);

/* Where a page of a newest-first list ended. */
typedef struct vg_store_page {
    size_t count;                      /* records the callback took */
    int has_next;                      /* more may follow: pass `next` as the cursor */
    uint8_t next[VG_DB_DETKEY];
} vg_store_page;

/* Which detections a page lists (all conditions apply). */
typedef struct vg_det_filter {
    uint64_t since, until;             /* microseconds, until exclusive (UINT64_MAX: open) */
    uint8_t cursor[VG_DB_DETKEY];      /* the previous page's next, when has_cursor */
    int has_cursor;
    char label[VG_DB_LABEL_MAX + 1], source[VG_DB_SOURCE_MAX + 1], model[VG_DB_LABEL_MAX + 1];
    int has_label, has_source, has_model, has_user;
    uint64_t user;
    int limit;                         /* records per page (the caller bounds it) */
} vg_det_filter;

/*
 * A page of detections, newest first, below the cursor: fn gets each record
 * that passes the filter. One page looks at 20000 index entries at most
 * and then ends with a cursor (a page may so come back short or empty).
 */
int vg_store_detections_page(vg_store *s, const vg_det_filter *f, vg_store_record_fn fn, void *ud,
                             vg_store_page *page);
/*
 * A page of track events (docs/events.md), newest first, below the
 * cursor and within [since, until) of f (the other conditions of f are
 * not used: fn filters): fn gets each event's JSON. One page looks at
 * 20000 events at most and then ends with a cursor.
 */
int vg_store_events_page(vg_store *s, const vg_det_filter *f, vg_store_record_fn fn, void *ud, vg_store_page *page);
/* A named camera's stored zones and lines (JSON) appended to out; VG_E_NOTFOUND when none. */
int vg_store_camera_get(vg_store *s, const char *id, vg_buf *out);
/* One detection: fn's result, VG_E_NOTFOUND, or a store error. */
int vg_store_detection_get(vg_store *s, const uint8_t key[VG_DB_DETKEY], vg_store_record_fn fn, void *ud);
/* The hash of a detection's kept image: 0 with *kept (0 when none), or VG_E_NOTFOUND. */
int vg_store_detection_image(vg_store *s, const uint8_t key[VG_DB_DETKEY], uint8_t sha[32], int *kept);
/*
 * A page of feedback, newest first, below `cursor` (NULL: from the newest),
 * on the detection `det` or on all (NULL). An unreadable index gives an
 * empty page.
 */
int vg_store_feedback_page(vg_store *s, const uint8_t *det, const uint8_t *cursor, int limit,
                           vg_store_record_fn fn, void *ud, vg_store_page *page);
/*
 * Walks the newest `max` feedback records, newest first, and counts them
 * in *walked. on_feedback gets each readable one and returns 1 to have the
 * detection it is about read: on_detection then gets that detection (not
 * called when it is gone or damaged).
 */
int vg_store_feedback_scan(vg_store *s, size_t max, int (*on_feedback)(const vg_feedback_view *f, void *ud),
                           void (*on_detection)(const vg_det_view *d, void *ud), void *ud, size_t *walked);

/* ---- aggregates ---- */
/* `count` consecutive hours ('h') or days ('d') of the aggregates, from `start` (unix seconds). */
typedef struct vg_agg_span {
    char kind;
    int64_t start;
    int count;
} vg_agg_span;

/* Sums each span's stored buckets into one (missing ones count nothing) and passes it to fn, in order. */
int vg_store_stats(vg_store *s, const vg_agg_span *spans, size_t n,
                   void (*fn)(size_t i, const vg_agg_bucket *b, void *ud), void *ud);

#endif
