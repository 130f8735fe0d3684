/* store_read: see store_read.h. */
#include "store/store_read.h"

#include <string.h>

#include "store/db.h"
#include "store/store_internal.h"

#define SCAN_BUDGET 20000              /* index entries one page (detections, events) may look at */

/* The reads; each runs one function of db.h (or a walk below) in the snapshot. */
enum read_op {
    USER_GET, USER_FIND, USER_COUNT, USER_LIST, USER_ACTIVITY, FAMILY_CHECK, SESSION_LOOKUP, APIKEY_FIND,
    APIKEY_LIST, DETECTIONS_PAGE, EVENTS_PAGE, CAMERA_GET, DETECTION_GET, FEEDBACK_PAGE, FEEDBACK_SCAN, STATS,
};

/* One read: its arguments and where its answers go. */
typedef struct query {
    enum read_op op;
    uint64_t uid;
    const char *login;
    const uint8_t *key;                /* a hash or a record key */
    const uint8_t *family;
    const uint8_t *cursor;
    int64_t now;
    int limit;
    size_t max;
    const vg_det_filter *filter;
    const vg_agg_span *spans;
    size_t nspans;
    void *out, *out2;
    vg_store_page *page;
    int (*user_fn)(const vg_user *u, void *ud);
    int (*key_fn)(const vg_apikey *k, void *ud);
    vg_store_record_fn record_fn;
    int (*feedback_fn)(const vg_feedback_view *f, void *ud);
    void (*detection_fn)(const vg_det_view *d, void *ud);
    void (*bucket_fn)(size_t i, const vg_agg_bucket *b, void *ud);
    void *ud;
} query;

static int user_list(vg_db *db, MDB_txn *txn, query *q);
static int detections_page(vg_db *db, MDB_txn *txn, query *q);
static int events_page(vg_db *db, MDB_txn *txn, query *q);
static int camera_get(vg_db *db, MDB_txn *txn, query *q);
static int detection_get(vg_db *db, MDB_txn *txn, query *q);
static int feedback_page(vg_db *db, MDB_txn *txn, query *q);
static int feedback_scan(vg_db *db, MDB_txn *txn, query *q);
static int stats(vg_db *db, MDB_txn *txn, query *q);


/* Runs q inside the snapshot. */
static int
read_in(vg_db *db, MDB_txn *txn, query *q)
{
    int rc;
    switch (q->op) {
    case USER_GET: return vg_db_user_get(db, txn, q->uid, q->out);
    case USER_FIND: return vg_db_user_find(db, txn, q->login, q->out);
    case USER_COUNT: return vg_db_user_count(db, txn, q->out);
    case USER_LIST: return user_list(db, txn, q);
    case USER_ACTIVITY: return vg_db_user_activity(db, txn, q->uid, q->out);
    case FAMILY_CHECK:
        rc = vg_db_user_get(db, txn, q->uid, q->out);
        if (rc == 0 && q->family)
            rc = vg_db_family_check(db, txn, q->uid, q->family, q->now);
        return rc;
    case SESSION_LOOKUP: return vg_db_session_lookup(db, txn, q->key, q->out, q->out2);
    case APIKEY_FIND:
        rc = vg_db_apikey_find(db, txn, q->key, q->out);
        if (rc == 0)
            rc = vg_db_user_get(db, txn, ((vg_apikey *)q->out)->uid, q->out2);
        return rc;
    case APIKEY_LIST:
        vg_db_apikey_list(db, txn, q->uid, q->key_fn, q->ud);
        return 0;
    case DETECTIONS_PAGE: return detections_page(db, txn, q);
    case EVENTS_PAGE: return events_page(db, txn, q);
    case CAMERA_GET: return camera_get(db, txn, q);
    case DETECTION_GET: return detection_get(db, txn, q);
    case FEEDBACK_PAGE: return feedback_page(db, txn, q);
    case FEEDBACK_SCAN: return feedback_scan(db, txn, q);
    case STATS: return stats(db, txn, q);
    }
    return VG_E_INVAL;
}


/* Runs q in a read snapshot of the client's environment. */
static int
run(vg_store *s, query q)
{
    vg_db *db = vg_store__db(s);
    MDB_txn *txn;
    int rc = vg_db_read(db, &txn);
    if (rc != 0)
        return rc;
    rc = read_in(db, txn, &q);
    vg_db_read_end(db);
    return rc;
}


int
vg_store_read_failed(int rc)
{
    return rc == VG_E_STORE_IO || rc == VG_E_FULL;
}

/* ---- users, sessions, API keys ------------------------------------------------ */

int
vg_store_user_get(vg_store *s, uint64_t uid, vg_user *u)
{
    return run(s, (query){ .op = USER_GET, .uid = uid, .out = u });
}


int
vg_store_user_find(vg_store *s, const char *login, vg_user *u)
{
    return run(s, (query){ .op = USER_FIND, .login = login, .out = u });
}


int
vg_store_user_count(vg_store *s, size_t *n)
{
    return run(s, (query){ .op = USER_COUNT, .out = n });
}


static int
user_list(vg_db *db, MDB_txn *txn, query *q)
{
    vg_db_user_each(db, txn, q->user_fn, q->ud);
    return 0;
}


int
vg_store_user_list(vg_store *s, int (*fn)(const vg_user *u, void *ud), void *ud)
{
    return run(s, (query){ .op = USER_LIST, .user_fn = fn, .ud = ud });
}


int
vg_store_user_activity(vg_store *s, uint64_t uid, vg_user_activity *a)
{
    memset(a, 0, sizeof *a);
    return run(s, (query){ .op = USER_ACTIVITY, .uid = uid, .out = a });
}


int
vg_store_family_check(vg_store *s, uint64_t uid, const uint8_t *family, int64_t now, vg_user *u)
{
    return run(s, (query){ .op = FAMILY_CHECK, .uid = uid, .family = family, .now = now, .out = u });
}


int
vg_store_session_lookup(vg_store *s, const uint8_t hash[32], uint64_t *uid, uint8_t family[VG_DB_FAMILY])
{
    return run(s, (query){ .op = SESSION_LOOKUP, .key = hash, .out = uid, .out2 = family });
}


int
vg_store_apikey_find(vg_store *s, const uint8_t hash[32], vg_apikey *k, vg_user *u)
{
    return run(s, (query){ .op = APIKEY_FIND, .key = hash, .out = k, .out2 = u });
}


int
vg_store_apikey_list(vg_store *s, uint64_t uid, int (*fn)(const vg_apikey *k, void *ud), void *ud)
{
    return run(s, (query){ .op = APIKEY_LIST, .uid = uid, .key_fn = fn, .ud = ud });
}

/* ---- detections and feedback ---------------------------------------------------- */

/* Does a record pass the filters the driving index did not apply? */
static int
record_matches(const vg_det_filter *f, const void *p, size_t n)
{
    vg_det_view v;
    if (vg_det_view_decode(p, n, &v) != 0)
        return 0;
    if (f->has_user && v.uid != f->user)
        return 0;
    if (f->has_source && (v.source.n != strlen(f->source) || memcmp(v.source.p, f->source, v.source.n)))
        return 0;
    if (f->has_model && (v.model.n != strlen(f->model) || memcmp(v.model.p, f->model, v.model.n)))
        return 0;
    if (f->has_label) {
        size_t ln = strlen(f->label);
        for (uint32_t i = 0; i < v.nlabels; i++)
            if (v.labels[i].n == ln && memcmp(v.labels[i].p, f->label, ln) == 0)
                return 1;
        return 0;
    }
    return 1;
}


/* The database a page walks (an index when a filter has one) and the prefix of its keys. */
static MDB_dbi
driving_index(const vg_db *db, const vg_det_filter *f, uint8_t prefix[VG_DB_LABEL_MAX + 2], size_t *pn)
{
    const char *val;
    MDB_dbi dbi;
    if (f->has_label) {
        val = f->label;
        dbi = db->idx_label;
    } else if (f->has_source) {
        val = f->source;
        dbi = db->idx_source;
    } else if (f->has_user) {
        vg_db_be64(prefix, f->user);
        *pn = 8;
        return db->idx_user;
    } else if (f->has_model) {
        val = f->model;
        dbi = db->idx_model;
    } else {
        *pn = 0;
        return db->detections;
    }
    *pn = strlen(val) + 1;
    memcpy(prefix, val, *pn);
    return dbi;
}


/* Where a newest-first page starts: just below min(cursor, until). */
static void
page_bound(const vg_det_filter *f, uint8_t bound[16])
{
    if (f->until != UINT64_MAX) {
        vg_db_be64(bound, f->until);
        memset(bound + 8, 0, 8);
    } else {
        memset(bound, 0xff, 16);
    }
    if (f->has_cursor && memcmp(f->cursor, bound, 16) < 0)
        memcpy(bound, f->cursor, 16);
}


/* Ends a newest-first page: a cursor after `last` when it stopped before the end. */
static void
page_end(query *q, int more, size_t scanned, const uint8_t last[16])
{
    q->page->has_next = more && scanned > 0;
    if (q->page->has_next)
        memcpy(q->page->next, last, 16);
}


/*
 * A newest-first page of index dbi, whose keys are prefix (pn bytes) then a
 * 16-byte time key: walked backwards from just below min(cursor, until)
 * down to since, at most SCAN_BUDGET entries. With dets, an entry is a
 * detection (looked up in detections when dbi is one of its indexes) kept
 * when it matches the filter; else the entry itself is the record.
 */
static int
walk_page(vg_db *db, MDB_txn *txn, query *q, MDB_dbi dbi, const uint8_t *prefix, size_t pn, int dets)
{
    const vg_det_filter *f = q->filter;
    uint8_t bound[16];
    page_bound(f, bound);
    uint8_t start[VG_DB_LABEL_MAX + 2 + 16];
    if (pn)
        memcpy(start, prefix, pn);
    memcpy(start + pn, bound, 16);
    MDB_cursor *c;
    MDB_val k = { pn + 16, start }, v;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return vg_db_err(rc);
    size_t scanned = 0;
    int more = 0;
    uint8_t last[16] = { 0 };
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    while (rc == 0) {
        if (k.mv_size != pn + 16 || (pn && memcmp(k.mv_data, prefix, pn) != 0))
            break;
        const uint8_t *dk = (const uint8_t *)k.mv_data + pn;
        if (vg_db_key_time(dk) < f->since)
            break;
        if (q->page->count >= (size_t)f->limit || scanned >= SCAN_BUDGET) {
            more = 1;
            break;
        }
        scanned++;
        memcpy(last, dk, 16);
        MDB_val rv = v;
        int found = 1;
        if (dets && dbi != db->detections) {
            MDB_val dkey = { 16, (void *)dk };
            found = mdb_get(txn, db->detections, &dkey, &rv) == 0;
        }
        if (found && (!dets || record_matches(f, rv.mv_data, rv.mv_size)) &&
            q->record_fn(dk, rv.mv_data, rv.mv_size, q->ud) == 0)
            q->page->count++;
        rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
    }
    mdb_cursor_close(c);
    page_end(q, more, scanned, last);
    return 0;
}


static int
detections_page(vg_db *db, MDB_txn *txn, query *q)
{
    uint8_t prefix[VG_DB_LABEL_MAX + 2];
    size_t pn;
    MDB_dbi dbi = driving_index(db, q->filter, prefix, &pn);
    return walk_page(db, txn, q, dbi, prefix, pn, 1);
}


int
vg_store_detections_page(vg_store *s, const vg_det_filter *f, vg_store_record_fn fn, void *ud, vg_store_page *page)
{
    memset(page, 0, sizeof *page);
    return run(s, (query){ .op = DETECTIONS_PAGE, .filter = f, .record_fn = fn, .ud = ud, .page = page });
}


/* Events newest first, below min(cursor, until), down to since. */
static int
events_page(vg_db *db, MDB_txn *txn, query *q)
{
    return walk_page(db, txn, q, db->events, NULL, 0, 0);
}


int
vg_store_events_page(vg_store *s, const vg_det_filter *f, vg_store_record_fn fn, void *ud, vg_store_page *page)
{
    memset(page, 0, sizeof *page);
    return run(s, (query){ .op = EVENTS_PAGE, .filter = f, .record_fn = fn, .ud = ud, .page = page });
}


static int
camera_get(vg_db *db, MDB_txn *txn, query *q)
{
    MDB_val k = { strlen(q->login), (void *)q->login }, v;
    int rc = mdb_get(txn, db->cameras, &k, &v);
    if (rc != 0)
        return vg_db_err(rc);
    vg_buf_append(q->out, v.mv_data, v.mv_size);
    return 0;
}


int
vg_store_camera_get(vg_store *s, const char *id, vg_buf *out)
{
    return run(s, (query){ .op = CAMERA_GET, .login = id, .out = out });
}


static int
detection_get(vg_db *db, MDB_txn *txn, query *q)
{
    MDB_val k = { 16, (void *)q->key }, v;
    int rc = mdb_get(txn, db->detections, &k, &v);
    if (rc != 0)
        return vg_db_err(rc);
    return q->record_fn(q->key, v.mv_data, v.mv_size, q->ud);
}


int
vg_store_detection_get(vg_store *s, const uint8_t key[VG_DB_DETKEY], vg_store_record_fn fn, void *ud)
{
    return run(s, (query){ .op = DETECTION_GET, .key = key, .record_fn = fn, .ud = ud });
}


/* Where vg_store_detection_image() wants the hash. */
typedef struct image_out {
    uint8_t *sha;
    int *kept;
} image_out;


/* The record_fn of vg_store_detection_image(): its image hash, if any. */
static int
image_of(const uint8_t key[VG_DB_DETKEY], const void *p, size_t n, void *ud)
{
    image_out *o = ud;
    vg_det_view dv;
    (void)key;
    if (vg_det_view_decode(p, n, &dv) == 0 && dv.image) {
        memcpy(o->sha, dv.image, 32);
        *o->kept = 1;
    }
    return 0;
}


int
vg_store_detection_image(vg_store *s, const uint8_t key[VG_DB_DETKEY], uint8_t sha[32], int *kept)
{
    image_out o = { sha, kept };
    *kept = 0;
    return run(s, (query){ .op = DETECTION_GET, .key = key, .record_fn = image_of, .ud = &o });
}


static int
feedback_page(vg_db *db, MDB_txn *txn, query *q)
{
    const uint8_t *det = q->key;
    MDB_dbi dbi = det ? db->idx_feedback : db->feedback;
    size_t pn = det ? 16 : 0;
    uint8_t start[32];
    if (det)
        memcpy(start, det, 16);
    if (q->cursor)
        memcpy(start + pn, q->cursor, 16);
    else
        memset(start + pn, 0xff, 16);
    MDB_cursor *c;
    MDB_val k = { pn + 16, start }, v;
    int more = 0;
    uint8_t last[16] = { 0 };
    if (mdb_cursor_open(txn, dbi, &c) != 0)
        return 0;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    while (rc == 0 && k.mv_size == pn + 16 && (!pn || memcmp(k.mv_data, det, 16) == 0)) {
        if (q->page->count == (size_t)q->limit) {
            more = 1;
            break;
        }
        const uint8_t *fk = (const uint8_t *)k.mv_data + pn;
        memcpy(last, fk, 16);
        MDB_val fv = v;
        MDB_val key = { 16, (void *)fk };
        if ((!pn || mdb_get(txn, db->feedback, &key, &fv) == 0) && q->record_fn(fk, fv.mv_data, fv.mv_size, q->ud) == 0)
            q->page->count++;
        rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
    }
    mdb_cursor_close(c);
    q->page->has_next = more;
    if (more)
        memcpy(q->page->next, last, 16);
    return 0;
}


int
vg_store_feedback_page(vg_store *s, const uint8_t *det, const uint8_t *cursor, int limit, vg_store_record_fn fn,
                       void *ud, vg_store_page *page)
{
    memset(page, 0, sizeof *page);
    return run(s, (query){ .op = FEEDBACK_PAGE, .key = det, .cursor = cursor, .limit = limit, .record_fn = fn,
                           .ud = ud, .page = page });
}


static int
feedback_scan(vg_db *db, MDB_txn *txn, query *q)
{
    size_t *walked = q->out;
    MDB_cursor *cur;
    MDB_val k, v;
    if (mdb_cursor_open(txn, db->feedback, &cur) != 0)
        return 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    while (rc == 0 && *walked < q->max) {
        vg_feedback_view f;
        (*walked)++;
        if (vg_feedback_view_decode(v.mv_data, v.mv_size, &f) == 0 && f.has_det && q->feedback_fn(&f, q->ud)) {
            MDB_val dk = { 16, f.det }, dv;
            vg_det_view view;
            if (mdb_get(txn, db->detections, &dk, &dv) == 0 && vg_det_view_decode(dv.mv_data, dv.mv_size, &view) == 0)
                q->detection_fn(&view, q->ud);
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    mdb_cursor_close(cur);
    return 0;
}


int
vg_store_feedback_scan(vg_store *s, size_t max, int (*on_feedback)(const vg_feedback_view *f, void *ud),
                       void (*on_detection)(const vg_det_view *d, void *ud), void *ud, size_t *walked)
{
    *walked = 0;
    return run(s, (query){ .op = FEEDBACK_SCAN, .max = max, .feedback_fn = on_feedback, .detection_fn = on_detection,
                           .ud = ud, .out = walked });
}

/* ---- aggregates ------------------------------------------------------------------- */

static int
stats(vg_db *db, MDB_txn *txn, query *q)
{
    for (size_t i = 0; i < q->nspans; i++) {
        const vg_agg_span *sp = &q->spans[i];
        int64_t step = sp->kind == 'd' ? 86400 : 3600;
        vg_agg_bucket b;
        vg_agg_bucket_init(&b);
        for (int j = 0; j < sp->count; j++) {
            uint8_t k[5];
            vg_agg_key(k, sp->kind, (uint32_t)((sp->start + j * step) / step));
            MDB_val key = { 5, k }, v;
            if (mdb_get(txn, db->aggregates, &key, &v) == 0)
                vg_agg_bucket_decode(v.mv_data, v.mv_size, &b);
        }
        q->bucket_fn(i, &b, q->ud);
        vg_agg_bucket_release(&b);
    }
    return 0;
}


int
vg_store_stats(vg_store *s, const vg_agg_span *spans, size_t n, void (*fn)(size_t i, const vg_agg_bucket *b, void *ud),
               void *ud)
{
    return run(s, (query){ .op = STATS, .spans = spans, .nspans = n, .bucket_fn = fn, .ud = ud });
}
