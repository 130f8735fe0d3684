/* db_detections: detections with their indexes, and feedback on them (see db.h). */
#include "store/db.h"

#include <string.h>

#include "base/mpk.h"
#include "store/db_internal.h"

/* Adds (put) or removes the entry of detection key under an index value (cut to VG_DB_LABEL_MAX bytes). */
static int
index_entry(MDB_txn *txn, MDB_dbi dbi, const char *val, size_t vn, const uint8_t key[16], int put)
{
    uint8_t k[VG_DB_LABEL_MAX + 1 + 16];
    if (vn > VG_DB_LABEL_MAX)
        vn = VG_DB_LABEL_MAX;
    memcpy(k, val, vn);
    k[vn] = 0;
    memcpy(k + vn + 1, key, 16);
    return put ? vg_db__put(txn, dbi, k, vn + 17, "", 0, 0) : vg_db__del(txn, dbi, k, vn + 17);
}


int
vg_db_det_add(vg_db *db, MDB_txn *txn, const vg_det_meta *m, const void *value, size_t len, vg_db_agg *agg)
{
    int rc = vg_db__put(txn, db->detections, m->key, 16, value, len, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 0;   /* the same record sent twice (a retry) */
    if (rc != 0)
        return vg_db_err(rc);
    uint8_t uk[24];
    vg_db_be64(uk, m->uid);
    memcpy(uk + 8, m->key, 16);
    if ((rc = vg_db__put(txn, db->idx_user, uk, 24, "", 0, 0)) != 0)
        return vg_db_err(rc);
    if (m->source.n && (rc = index_entry(txn, db->idx_source, m->source.p, m->source.n, m->key, 1)) != 0)
        return vg_db_err(rc);
    if (m->model.n && (rc = index_entry(txn, db->idx_model, m->model.p, m->model.n, m->key, 1)) != 0)
        return vg_db_err(rc);
    uint64_t objects = 0;
    for (uint32_t i = 0; i < m->nlabels; i++) {
        if ((rc = index_entry(txn, db->idx_label, m->labels[i].p, m->labels[i].n, m->key, 1)) != 0)
            return vg_db_err(rc);
        objects += m->counts[i];
    }
    if (!agg)
        return 0;
    vg_db__agg_detection(agg, m, objects);
    return 0;
}


/* One key of a stored detection (a vg_db__map_read field()). */
static void
det_record_field(vg_mpr *r, vg_str k, void *ud)
{
    vg_det_record *d = ud;
    vg_str *str = vg_str_eq(k, "un") ? &d->user : vg_str_eq(k, "src") ? &d->source : vg_str_eq(k, "m") ? &d->model
                : vg_str_eq(k, "b") ? &d->backend : vg_str_eq(k, "ik") ? &d->image_kind : NULL;
    if (str) {
        vg_mpr_str(r, str);
    } else if (vg_str_eq(k, "u")) {
        vg_mpr_u64(r, &d->uid);
    } else if (vg_str_eq(k, "w")) {
        vg_mpr_i64(r, &d->width);
    } else if (vg_str_eq(k, "h")) {
        vg_mpr_i64(r, &d->height);
    } else if (vg_str_eq(k, "tk")) {
        vg_mpr_i64(r, &d->task);
    } else if (vg_str_eq(k, "img")) {
        size_t bn;
        if (!vg_mpr_nil(r) && vg_mpr_bin(r, &d->image, &bn) == 0 && bn != 32)
            d->image = NULL;
    } else if (vg_str_eq(k, "d")) {
        d->dets = r->p;
        vg_mpr_skip(r);
        d->dets_len = (size_t)(r->p - d->dets);
    } else if (vg_str_eq(k, "t")) {
        uint32_t tn;
        if (vg_mpr_array(r, &tn) == 0)
            for (uint32_t j = 0; j < tn; j++)   /* more than six: the last ones land on total */
                vg_mpr_u64(r, &d->timings_us[j < 6 ? j : 5]);
    } else {
        vg_mpr_skip(r);
    }
}


int
vg_det_record_decode(const void *p, size_t n, vg_det_record *d)
{
    memset(d, 0, sizeof *d);
    d->user = d->source = d->model = d->backend = (vg_str){ "", 0 };
    d->image_kind = (vg_str){ "none", 4 };
    return vg_db__map_read(p, n, det_record_field, d);
}


int
vg_det_record_walk(const vg_det_record *d, void (*fn)(const vg_det_entry *e, void *ud), void *ud)
{
    if (!d->dets)
        return 0;
    vg_mpr r;
    uint32_t nd = 0, f;
    vg_mpr_init(&r, d->dets, d->dets_len);
    vg_mpr_array(&r, &nd);
    for (uint32_t j = 0; j < nd && !r.err; j++) {
        vg_det_entry e;
        memset(&e, 0, sizeof e);
        if (vg_mpr_array(&r, &f) < 0 || f != 7 || vg_mpr_str(&r, &e.label) < 0)
            return VG_E_CORRUPT;
        vg_mpr_i64(&r, &e.class_id);
        vg_mpr_f64(&r, &e.confidence);
        for (int b = 0; b < 4; b++)
            vg_mpr_i64(&r, &e.box[b]);
        if (!r.err)
            fn(&e, ud);
    }
    return r.err ? VG_E_CORRUPT : 0;
}


/* Adds a detection's label to the view's distinct labels (a vg_det_record_walk fn). */
static void
view_label(const vg_det_entry *e, void *ud)
{
    vg_det_view *v = ud;
    uint32_t l = 0;
    while (l < v->nlabels && !(v->labels[l].n == e->label.n && memcmp(v->labels[l].p, e->label.p, e->label.n) == 0))
        l++;
    if (l == v->nlabels && v->nlabels < 256)
        v->labels[v->nlabels++] = e->label;
}


int
vg_det_view_decode(const void *p, size_t n, vg_det_view *v)
{
    vg_det_record d;
    memset(v, 0, sizeof *v);
    int rc = vg_det_record_decode(p, n, &d);
    if (rc != 0)
        return rc;
    v->uid = d.uid;
    v->source = d.source;
    v->model = d.model;
    v->image = d.image;
    return vg_det_record_walk(&d, view_label, v);
}


int
vg_db_det_delete(vg_db *db, MDB_txn *txn, const uint8_t key[16], uint8_t image[32], int *has_image)
{
    MDB_val v;
    vg_det_view dv;
    *has_image = 0;
    int rc = vg_db__get(txn, db->detections, key, 16, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if (vg_det_view_decode(v.mv_data, v.mv_size, &dv) == 0) {
        /* copy what we need before the delete frees the page */
        char src[VG_DB_SOURCE_MAX + 1], model[VG_DB_LABEL_MAX + 1];
        size_t sn = dv.source.n < sizeof src ? dv.source.n : sizeof src - 1;
        size_t mn = dv.model.n < sizeof model ? dv.model.n : sizeof model - 1;
        memcpy(src, dv.source.p, sn);
        memcpy(model, dv.model.p, mn);
        if (dv.image) {
            memcpy(image, dv.image, 32);
            *has_image = 1;
        }
        uint8_t uk[24];
        vg_db_be64(uk, dv.uid);
        memcpy(uk + 8, key, 16);
        if ((rc = vg_db__del(txn, db->idx_user, uk, 24)) != 0)
            return vg_db_err(rc);
        for (uint32_t i = 0; i < dv.nlabels; i++) {
            char l[VG_DB_LABEL_MAX + 1];
            size_t ln = dv.labels[i].n < sizeof l ? dv.labels[i].n : sizeof l - 1;
            memcpy(l, dv.labels[i].p, ln);
            if ((rc = index_entry(txn, db->idx_label, l, ln, key, 0)) != 0)
                return vg_db_err(rc);
        }
        if ((sn && (rc = index_entry(txn, db->idx_source, src, sn, key, 0)) != 0) ||
            (mn && (rc = index_entry(txn, db->idx_model, model, mn, key, 0)) != 0))
            return vg_db_err(rc);
    }
    return vg_db_err(vg_db__del(txn, db->detections, key, 16));
}

/* ---- feedback ---------------------------------------------------------------- */

int
vg_db_feedback_add(vg_db *db, MDB_txn *txn, const uint8_t key[16], const uint8_t det[16], uint64_t uid,
                   const void *value, size_t len, vg_db_agg *agg)
{
    MDB_val v;
    int rc = vg_db__get(txn, db->detections, det, 16, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = vg_db__put(txn, db->feedback, key, 16, value, len, MDB_NOOVERWRITE)) != 0)
        return rc == MDB_KEYEXIST ? 0 : vg_db_err(rc);
    uint8_t ik[32];
    memcpy(ik, det, 16);
    memcpy(ik + 16, key, 16);
    if ((rc = vg_db__put(txn, db->idx_feedback, ik, 32, "", 0, 0)) != 0)
        return vg_db_err(rc);
    if (agg)
        vg_db_agg_feedback(agg, uid);
    return 0;
}


/* One key of a stored feedback record (a vg_db__map_read field()). */
static void
feedback_field(vg_mpr *r, vg_str k, void *ud)
{
    vg_feedback_view *f = ud;
    if (vg_str_eq(k, "det")) {
        const uint8_t *b;
        size_t bn;
        if (vg_mpr_bin(r, &b, &bn) == 0 && bn == 16) {
            memcpy(f->det, b, 16);
            f->has_det = 1;
        }
    } else if (vg_str_eq(k, "u")) {
        vg_mpr_u64(r, &f->uid);
    } else if (vg_str_eq(k, "un")) {
        vg_mpr_str(r, &f->user);
    } else if (vg_str_eq(k, "ok")) {
        if (!vg_mpr_nil(r))
            vg_mpr_bool(r, &f->correct);
    } else if (vg_str_eq(k, "label")) {
        if (!vg_mpr_nil(r))
            vg_mpr_str(r, &f->label);
    } else if (vg_str_eq(k, "text")) {
        if (!vg_mpr_nil(r))
            vg_mpr_str(r, &f->text);
    } else {
        vg_mpr_skip(r);
    }
}


int
vg_feedback_view_decode(const void *p, size_t n, vg_feedback_view *f)
{
    memset(f, 0, sizeof *f);
    f->user = (vg_str){ "", 0 };
    f->correct = -1;
    return vg_db__map_read(p, n, feedback_field, f);
}
