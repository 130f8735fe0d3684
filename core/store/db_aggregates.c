/* db_aggregates: hourly and daily buckets (detections, unique tracked objects) and user activity, updated per batch (see db.h). */
#include "store/db.h"

#include <stdlib.h>
#include <string.h>

#include "base/mpk.h"
#include "store/db_internal.h"

const double vg_db_lat_bounds_ms[VG_DB_LAT_BUCKETS] = {
    1, 2, 5, 10, 20, 35, 50, 75, 100, 200, 500, 1000, 5000, 1e300
};


void
vg_agg_key(uint8_t out[5], char kind, uint32_t index)
{
    out[0] = (uint8_t)kind;
    out[1] = (uint8_t)(index >> 24);
    out[2] = (uint8_t)(index >> 16);
    out[3] = (uint8_t)(index >> 8);
    out[4] = (uint8_t)index;
}


void
vg_agg_bucket_init(vg_agg_bucket *b)
{
    memset(b, 0, sizeof *b);
}


void
vg_agg_bucket_release(vg_agg_bucket *b)
{
    free(b->labels);
    free(b->models);
    free(b->unique);
    free(b->upper);
    free(b->lower);
    memset(b, 0, sizeof *b);
}


static vg_agg_named *
named_find(vg_agg_named **arr, int *n, const char *name, size_t len)
{
    if (len > VG_DB_LABEL_MAX)
        len = VG_DB_LABEL_MAX;
    for (int i = 0; i < *n; i++)
        if (strlen((*arr)[i].name) == len && memcmp((*arr)[i].name, name, len) == 0)
            return &(*arr)[i];
    *arr = vg_xrealloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    vg_agg_named *e = &(*arr)[(*n)++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    return e;
}


static int
lat_bucket(uint64_t us)
{
    double ms = (double)us / 1000.0;
    for (int i = 0; i < VG_DB_LAT_BUCKETS - 1; i++)
        if (ms <= vg_db_lat_bounds_ms[i])
            return i;
    return VG_DB_LAT_BUCKETS - 1;
}


static void
read_hist(vg_mpr *r, uint64_t hist[VG_DB_LAT_BUCKETS])
{
    uint32_t n;
    if (vg_mpr_array(r, &n) < 0)
        return;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = 0;
        vg_mpr_u64(r, &v);
        if (i < VG_DB_LAT_BUCKETS)
            hist[i] += v;
    }
}


static void
write_hist(vg_mpw *w, const uint64_t hist[VG_DB_LAT_BUCKETS])
{
    vg_mpw_array(w, VG_DB_LAT_BUCKETS);
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++)
        vg_mpw_u64(w, hist[i]);
}


/* A map of name -> count added into the `objects` of arr's entries. */
static void
read_counts(vg_mpr *r, vg_agg_named **arr, int *n)
{
    uint32_t m;
    if (vg_mpr_map(r, &m) < 0)
        return;
    for (uint32_t j = 0; j < m && !r->err; j++) {
        vg_str name;
        uint64_t v = 0;
        if (vg_mpr_str(r, &name) < 0 || vg_mpr_u64(r, &v) < 0)
            break;
        named_find(arr, n, name.p, name.n)->objects += v;
    }
}


static void
write_counts(vg_mpw *w, const char *key, const vg_agg_named *arr, int n)
{
    vg_mpw_cstr(w, key);
    vg_mpw_map(w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        vg_mpw_cstr(w, arr[i].name);
        vg_mpw_u64(w, arr[i].objects);
    }
}


static void
merge_counts(vg_agg_named **dst, int *dn, const vg_agg_named *src, int sn)
{
    for (int i = 0; i < sn; i++)
        named_find(dst, dn, src[i].name, strlen(src[i].name))->objects += src[i].objects;
}


/* One key of a stored bucket, added into the bucket (a vg_db__map_read field()). */
static void
bucket_field(vg_mpr *r, vg_str k, void *ud)
{
    vg_agg_bucket *b = ud;
    uint64_t v = 0;
    uint32_t m;
    if (vg_str_eq(k, "n")) {
        vg_mpr_u64(r, &v);
        b->n += v;
    } else if (vg_str_eq(k, "o")) {
        vg_mpr_u64(r, &v);
        b->objects += v;
    } else if (vg_str_eq(k, "ls")) {
        vg_mpr_u64(r, &v);
        b->lat_sum_us += v;
    } else if (vg_str_eq(k, "lat")) {
        read_hist(r, b->hist);
    } else if (vg_str_eq(k, "l") && vg_mpr_map(r, &m) == 0) {
        for (uint32_t j = 0; j < m && !r->err; j++) {
            vg_str name;
            if (vg_mpr_str(r, &name) < 0 || vg_mpr_u64(r, &v) < 0)
                break;
            named_find(&b->labels, &b->nlabels, name.p, name.n)->objects += v;
        }
    } else if (vg_str_eq(k, "u")) {
        read_counts(r, &b->unique, &b->nunique);
    } else if (vg_str_eq(k, "cu")) {
        read_counts(r, &b->upper, &b->nupper);
    } else if (vg_str_eq(k, "cl")) {
        read_counts(r, &b->lower, &b->nlower);
    } else if (vg_str_eq(k, "m") && vg_mpr_map(r, &m) == 0) {
        for (uint32_t j = 0; j < m && !r->err; j++) {
            vg_str name;
            uint32_t an;
            if (vg_mpr_str(r, &name) < 0 || vg_mpr_array(r, &an) < 0 || an != 4)
                break;
            vg_agg_named *e = named_find(&b->models, &b->nmodels, name.p, name.n);
            uint64_t a = 0, o = 0, s = 0;
            vg_mpr_u64(r, &a);
            vg_mpr_u64(r, &o);
            vg_mpr_u64(r, &s);
            e->n += a;
            e->objects += o;
            e->lat_sum_us += s;
            read_hist(r, e->hist);
        }
    } else {
        vg_mpr_skip(r);
    }
}


int
vg_agg_bucket_decode(const void *p, size_t n, vg_agg_bucket *b)
{
    return vg_db__map_read(p, n, bucket_field, b);
}


static void
bucket_encode(vg_buf *out, const vg_agg_bucket *b)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    /* the tracked objects' maps only when they count something: older buckets stay as they were */
    vg_mpw_map(&w, 6 + (b->nunique > 0) + (b->nupper > 0) + (b->nlower > 0));
    vg_mpw_cstr(&w, "n"); vg_mpw_u64(&w, b->n);
    vg_mpw_cstr(&w, "o"); vg_mpw_u64(&w, b->objects);
    vg_mpw_cstr(&w, "ls"); vg_mpw_u64(&w, b->lat_sum_us);
    vg_mpw_cstr(&w, "lat"); write_hist(&w, b->hist);
    vg_mpw_cstr(&w, "l");
    vg_mpw_map(&w, (uint32_t)b->nlabels);
    for (int i = 0; i < b->nlabels; i++) {
        vg_mpw_cstr(&w, b->labels[i].name);
        vg_mpw_u64(&w, b->labels[i].objects);
    }
    vg_mpw_cstr(&w, "m");
    vg_mpw_map(&w, (uint32_t)b->nmodels);
    for (int i = 0; i < b->nmodels; i++) {
        const vg_agg_named *e = &b->models[i];
        vg_mpw_cstr(&w, e->name);
        vg_mpw_array(&w, 4);
        vg_mpw_u64(&w, e->n);
        vg_mpw_u64(&w, e->objects);
        vg_mpw_u64(&w, e->lat_sum_us);
        write_hist(&w, e->hist);
    }
    if (b->nunique)
        write_counts(&w, "u", b->unique, b->nunique);
    if (b->nupper)
        write_counts(&w, "cu", b->upper, b->nupper);
    if (b->nlower)
        write_counts(&w, "cl", b->lower, b->nlower);
}


void
vg_agg_bucket_merge(vg_agg_bucket *dst, const vg_agg_bucket *src)
{
    dst->n += src->n;
    dst->objects += src->objects;
    dst->lat_sum_us += src->lat_sum_us;
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++)
        dst->hist[i] += src->hist[i];
    for (int i = 0; i < src->nlabels; i++)
        named_find(&dst->labels, &dst->nlabels, src->labels[i].name, strlen(src->labels[i].name))->objects +=
            src->labels[i].objects;
    for (int i = 0; i < src->nmodels; i++) {
        const vg_agg_named *s = &src->models[i];
        vg_agg_named *d = named_find(&dst->models, &dst->nmodels, s->name, strlen(s->name));
        d->n += s->n;
        d->objects += s->objects;
        d->lat_sum_us += s->lat_sum_us;
        for (int j = 0; j < VG_DB_LAT_BUCKETS; j++)
            d->hist[j] += s->hist[j];
    }
    merge_counts(&dst->unique, &dst->nunique, src->unique, src->nunique);
    merge_counts(&dst->upper, &dst->nupper, src->upper, src->nupper);
    merge_counts(&dst->lower, &dst->nlower, src->lower, src->nlower);
}


double
vg_agg_percentile(const uint64_t hist[VG_DB_LAT_BUCKETS], double q)
{
    uint64_t total = 0;
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    double want = q * (double)total, cum = 0;
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++) {
        if (hist[i] == 0)
            continue;
        if (cum + (double)hist[i] >= want) {
            double lo = i ? vg_db_lat_bounds_ms[i - 1] : 0;
            if (i == VG_DB_LAT_BUCKETS - 1)
                return lo;
            double hi = vg_db_lat_bounds_ms[i];
            return lo + (hi - lo) * ((want - cum) / (double)hist[i]);
        }
        cum += (double)hist[i];
    }
    return vg_db_lat_bounds_ms[VG_DB_LAT_BUCKETS - 2];
}


/* Pending changes of one batch, applied once per key at commit. */
typedef struct agg_entry {
    uint8_t key[9];
    size_t klen;
    vg_agg_bucket b;               /* hour/day buckets */
    vg_user_activity a;            /* 'u' entries: deltas (last_* are maxima) */
} agg_entry;

struct vg_db_agg {
    agg_entry *e;
    int n, cap;
};


vg_db_agg *
vg_db_agg_create(void)
{
    return vg_xcalloc(1, sizeof(vg_db_agg));
}


void
vg_db_agg_clear(vg_db_agg *a)
{
    for (int i = 0; i < a->n; i++)
        vg_agg_bucket_release(&a->e[i].b);
    a->n = 0;
}


void
vg_db_agg_destroy(vg_db_agg *a)
{
    if (!a)
        return;
    vg_db_agg_clear(a);
    free(a->e);
    free(a);
}


static agg_entry *
agg_get(vg_db_agg *a, const uint8_t *key, size_t klen)
{
    for (int i = a->n - 1; i >= 0; i--)
        if (a->e[i].klen == klen && memcmp(a->e[i].key, key, klen) == 0)
            return &a->e[i];
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->e = vg_xrealloc(a->e, (size_t)a->cap * sizeof *a->e);
    }
    agg_entry *e = &a->e[a->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, klen);
    e->klen = klen;
    return e;
}


static agg_entry *
agg_user(vg_db_agg *a, uint64_t uid)
{
    uint8_t k[9];
    k[0] = 'u';
    vg_db_be64(k + 1, uid);
    return agg_get(a, k, 9);
}


void
vg_db_agg_login(vg_db_agg *a, uint64_t uid, int64_t now)
{
    agg_entry *e = agg_user(a, uid);
    e->a.logins++;
    if (now > e->a.last_login)
        e->a.last_login = now;
}


void
vg_db_agg_feedback(vg_db_agg *a, uint64_t uid)
{
    agg_user(a, uid)->a.feedback++;
}


/* A user's activity entry ('u' | uid); a damaged one keeps what could be read. */
static const vg_db__field activity_fields[] = {
    VG_DB__FIELD(vg_user_activity, detections, "det", U64), VG_DB__FIELD(vg_user_activity, objects, "obj", U64),
    VG_DB__FIELD(vg_user_activity, feedback, "fb", U64), VG_DB__FIELD(vg_user_activity, logins, "logins", U64),
    VG_DB__FIELD(vg_user_activity, last_detection_us, "last", I64),
    VG_DB__FIELD(vg_user_activity, last_login, "login", I64),
};
static const vg_db__record activity_record = VG_DB__RECORD(vg_user_activity, activity_fields);


int
vg_db_user_activity(vg_db *db, MDB_txn *txn, uint64_t uid, vg_user_activity *a)
{
    uint8_t k[9];
    MDB_val v;
    memset(a, 0, sizeof *a);
    k[0] = 'u';
    vg_db_be64(k + 1, uid);
    int rc = vg_db__get(txn, db->aggregates, k, 9, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return vg_db_err(rc);
    vg_db__decode(v.mv_data, v.mv_size, &activity_record, a);
    return 0;
}


int
vg_db_agg_flush(vg_db *db, MDB_txn *txn, vg_db_agg *a)
{
    vg_buf b;
    vg_buf_init(&b);
    int rc = 0;
    for (int i = 0; i < a->n && rc == 0; i++) {
        agg_entry *e = &a->e[i];
        MDB_val v;
        int found = vg_db__get(txn, db->aggregates, e->key, e->klen, &v) == 0;
        b.len = 0;
        if (e->key[0] == 'u') {
            vg_user_activity cur;
            memset(&cur, 0, sizeof cur);
            if (found)
                vg_db__decode(v.mv_data, v.mv_size, &activity_record, &cur);
            cur.detections += e->a.detections;
            cur.objects += e->a.objects;
            cur.feedback += e->a.feedback;
            cur.logins += e->a.logins;
            if (e->a.last_detection_us > cur.last_detection_us)
                cur.last_detection_us = e->a.last_detection_us;
            if (e->a.last_login > cur.last_login)
                cur.last_login = e->a.last_login;
            vg_db__encode(&b, &activity_record, &cur);
        } else {
            vg_agg_bucket cur;
            vg_agg_bucket_init(&cur);
            if (found && vg_agg_bucket_decode(v.mv_data, v.mv_size, &cur) != 0) {
                vg_agg_bucket_release(&cur);
                vg_agg_bucket_init(&cur);   /* a damaged bucket restarts from this batch */
            }
            vg_agg_bucket_merge(&cur, &e->b);
            bucket_encode(&b, &cur);
            vg_agg_bucket_release(&cur);
        }
        rc = vg_db__put(txn, db->aggregates, e->key, e->klen, b.data, b.len, 0);
    }
    vg_buf_release(&b);
    if (rc == 0)
        vg_db_agg_clear(a);
    return vg_db_err(rc);
}


void
vg_db__agg_detection(vg_db_agg *agg, const vg_det_meta *m, uint64_t objects)
{
    uint64_t t = vg_db_key_time(m->key);
    uint32_t hour = (uint32_t)(t / 3600000000ull), day = (uint32_t)(t / 86400000000ull);
    int lb = lat_bucket(m->total_us);
    for (int pass = 0; pass < 2; pass++) {
        uint8_t k[5];
        vg_agg_key(k, pass ? 'd' : 'h', pass ? day : hour);
        vg_agg_bucket *b = &agg_get(agg, k, 5)->b;
        b->n++;
        b->objects += objects;
        b->lat_sum_us += m->total_us;
        b->hist[lb]++;
        for (uint32_t i = 0; i < m->nlabels; i++)
            named_find(&b->labels, &b->nlabels, m->labels[i].p, m->labels[i].n)->objects += m->counts[i];
        vg_agg_named *e = named_find(&b->models, &b->nmodels, m->model.p, m->model.n);
        e->n++;
        e->objects += objects;
        e->lat_sum_us += m->total_us;
        e->hist[lb]++;
    }
    agg_entry *u = agg_user(agg, m->uid);
    u->a.detections++;
    u->a.objects += objects;
    if ((int64_t)t > u->a.last_detection_us)
        u->a.last_detection_us = (int64_t)t;
}


void
vg_db_agg_unique(vg_db_agg *agg, uint64_t t_ms, vg_str label, vg_str upper, vg_str lower)
{
    uint32_t hour = (uint32_t)(t_ms / 3600000ull), day = (uint32_t)(t_ms / 86400000ull);
    for (int pass = 0; pass < 2; pass++) {
        uint8_t k[5];
        vg_agg_key(k, pass ? 'd' : 'h', pass ? day : hour);
        vg_agg_bucket *b = &agg_get(agg, k, 5)->b;
        if (label.p && label.n)
            named_find(&b->unique, &b->nunique, label.p, label.n)->objects++;
        if (upper.p && upper.n)
            named_find(&b->upper, &b->nupper, upper.p, upper.n)->objects++;
        if (lower.p && lower.n)
            named_find(&b->lower, &b->nlower, lower.p, lower.n)->objects++;
    }
}
