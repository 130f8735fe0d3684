/* tracker: see tracker.h. */
#include "analytics/tracker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

#define VOTES 4                     /* labels a track counts; a fifth replaces the least seen */

/*
 * One coordinate (centre x, centre y, width or height) under a
 * constant-velocity model: position, velocity per second and their
 * covariance. The noises scale with the box's size, so that a big near
 * object and a small far one are followed alike.
 */
typedef struct kf1 {
    double x, v;                /* position (px) and velocity (px/s) */
    double p00, p01, p11;       /* covariance */
} kf1;

typedef struct vote {
    char label[VG_TRACK_LABEL_MAX];
    uint32_t n;                 /* frames seen with this label */
} vote;

typedef struct trk {
    vg_track pub;               /* what callers see */
    kf1 kf[4];                  /* cx, cy, w, h */
    double pred[4];             /* this frame's predicted box: x_min, y_min, x_max, y_max */
    vote votes[VOTES];
    int det;                    /* the detection matched in this frame, -1: none */
} trk;

typedef struct pair {
    float iou;
    int t, d;
} pair;

struct vg_tracker {
    trk *tracks;                /* alive tracks, in creation order */
    size_t n, cap;
    pair *pairs;                /* scratch: candidate matches of one stage */
    size_t pairs_cap;
    int *det_track;             /* scratch: per detection, its track index or -1 */
    size_t det_cap;
    uint64_t next_id;           /* the id the next confirmed track gets */
    double last_ts;             /* the previous frame's time */
    int has_ts;
};

/* process noise: acceleration of about half a box size per s^2; measurement: a twentieth of it */
#define ACCEL 0.5
#define MEAS 0.05
#define VEL0 2.0                    /* a new track's velocity is unknown: a std of two box sizes per second */


void
vg_track_params_default(vg_track_params *p)
{
    p->max_missed = 30;
    p->min_hits = 2;
    p->max_tracks = 256;
    p->high = 0.5f;
    p->match_iou = 0.2f;
    p->low_iou = 0.4f;
}


vg_tracker *
vg_tracker_create(void)
{
    return vg_xcalloc(1, sizeof(vg_tracker));
}


void
vg_tracker_destroy(vg_tracker *t)
{
    if (!t)
        return;
    free(t->tracks);
    free(t->pairs);
    free(t->det_track);
    free(t);
}


size_t
vg_tracker_count(const vg_tracker *t)
{
    return t->n;
}


const vg_track *
vg_tracker_at(const vg_tracker *t, size_t i)
{
    return i < t->n ? &t->tracks[i].pub : NULL;
}

/* ------------------------------------------------------------------ */
/* the filter */

static void
kf_init(kf1 *k, double z, double size)
{
    double r = MEAS * size;
    k->x = z;
    k->v = 0;
    k->p00 = 4 * r * r;
    k->p01 = 0;
    k->p11 = (VEL0 * size) * (VEL0 * size);
}


static void
kf_predict(kf1 *k, double dt, double size)
{
    if (dt <= 0)
        return;
    double q = (ACCEL * size) * (ACCEL * size);
    k->x += k->v * dt;
    k->p00 += 2 * dt * k->p01 + dt * dt * k->p11 + q * dt * dt * dt / 3;
    k->p01 += dt * k->p11 + q * dt * dt / 2;
    k->p11 += q * dt;
}


static void
kf_update(kf1 *k, double z, double size)
{
    double r = MEAS * size;
    double s = k->p00 + r * r;
    double k0 = k->p00 / s, k1 = k->p01 / s;
    double y = z - k->x;
    k->x += k0 * y;
    k->v += k1 * y;
    double p00 = k->p00, p01 = k->p01;
    k->p00 = (1 - k0) * p00;
    k->p01 = (1 - k0) * p01;
    k->p11 -= k1 * p01;
}


static double
trk_size(const trk *k)
{
    double w = k->kf[2].x, h = k->kf[3].x;
    double s = w > h ? w : h;
    return s > 1 ? s : 1;
}


/* The predicted box from the state (sizes at least a pixel). */
static void
trk_box(trk *k)
{
    double w = k->kf[2].x > 1 ? k->kf[2].x : 1, h = k->kf[3].x > 1 ? k->kf[3].x : 1;
    k->pred[0] = k->kf[0].x - w / 2;
    k->pred[1] = k->kf[1].x - h / 2;
    k->pred[2] = k->kf[0].x + w / 2;
    k->pred[3] = k->kf[1].x + h / 2;
}


static void
det_measure(const vg_track_det *d, double z[4])
{
    z[0] = (d->x_min + d->x_max) / 2.0;
    z[1] = (d->y_min + d->y_max) / 2.0;
    z[2] = d->x_max - d->x_min;
    z[3] = d->y_max - d->y_min;
}


static float
iou(const double a[4], const vg_track_det *d)
{
    double ix = fmin(a[2], d->x_max) - fmax(a[0], d->x_min);
    double iy = fmin(a[3], d->y_max) - fmax(a[1], d->y_min);
    if (ix <= 0 || iy <= 0)
        return 0;
    double inter = ix * iy;
    double ua = (a[2] - a[0]) * (a[3] - a[1]) + (double)(d->x_max - d->x_min) * (d->y_max - d->y_min) - inter;
    return ua > 0 ? (float)(inter / ua) : 0;
}

/* ------------------------------------------------------------------ */
/* tracks */

/* The label seen most often (the first counted on a tie); points into k. */
static void
trk_label(trk *k)
{
    int best = 0;
    for (int i = 1; i < VOTES; i++)
        if (k->votes[i].n > k->votes[best].n)
            best = i;
    k->pub.label = k->votes[best].label;
}


static void
trk_vote(trk *k, const char *label)
{
    if (!label)
        label = "";
    int at = -1, least = 0;
    for (int i = 0; i < VOTES; i++) {
        if (k->votes[i].n && strncmp(k->votes[i].label, label, VG_TRACK_LABEL_MAX - 1) == 0) {
            at = i;
            break;
        }
        if (k->votes[i].n < k->votes[least].n)
            least = i;
    }
    if (at < 0) {
        at = least;
        size_t len = strlen(label);
        if (len >= VG_TRACK_LABEL_MAX)
            len = VG_TRACK_LABEL_MAX - 1;
        memcpy(k->votes[at].label, label, len);
        k->votes[at].label[len] = '\0';
        k->votes[at].n = 0;
    }
    k->votes[at].n++;
    trk_label(k);
}


/* A matched track takes its detection in. */
static void
trk_hit(vg_tracker *t, trk *k, const vg_track_det *d, int di, double ts, const vg_track_params *p)
{
    double z[4];
    det_measure(d, z);
    double size = trk_size(k);
    for (int i = 0; i < 4; i++)
        kf_update(&k->kf[i], z[i], size);
    k->det = di;
    k->pub.frames++;
    k->pub.missed = 0;
    k->pub.last_seen = ts;
    k->pub.box[0] = d->x_min;
    k->pub.box[1] = d->y_min;
    k->pub.box[2] = d->x_max;
    k->pub.box[3] = d->y_max;
    k->pub.confidence = d->confidence;
    if (d->confidence > k->pub.best_confidence)
        k->pub.best_confidence = d->confidence;
    trk_vote(k, d->label);
    k->pub.vx = (float)k->kf[0].v;
    k->pub.vy = (float)k->kf[1].v;
    if (!k->pub.id && k->pub.frames >= (uint32_t)p->min_hits)
        k->pub.id = ++t->next_id;
}


static void
trk_start(vg_tracker *t, const vg_track_det *d, int di, double ts, const vg_track_params *p)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->tracks = vg_xrealloc(t->tracks, t->cap * sizeof *t->tracks);
    }
    trk *k = &t->tracks[t->n++];
    memset(k, 0, sizeof *k);
    double z[4];
    det_measure(d, z);
    double size = fmax(fmax(z[2], z[3]), 1);
    for (int i = 0; i < 4; i++)
        kf_init(&k->kf[i], z[i], size);
    k->pub.first_seen = ts;
    k->pub.best_confidence = 0;
    k->det = -1;
    trk_hit(t, k, d, di, ts, p);
}


static int
cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->iou != y->iou)
        return x->iou < y->iou ? 1 : -1;
    if (x->t != y->t)
        return x->t - y->t;
    return x->d - y->d;
}


/*
 * One stage: detections whose confidence is on the stage's side of
 * p->high against the tracks not yet matched (confirmed ones only when
 * `confirmed_only`), greedily by best IoU above `gate`.
 */
static void
match(vg_tracker *t, const vg_track_det *dets, size_t n, int confident, int confirmed_only, float gate,
      double ts, const vg_track_params *p)
{
    size_t np = 0;
    for (size_t ti = 0; ti < t->n; ti++) {
        trk *k = &t->tracks[ti];
        if (k->det >= 0 || (confirmed_only && !k->pub.id))
            continue;
        for (size_t di = 0; di < n; di++) {
            if (t->det_track[di] >= 0 || (dets[di].confidence >= p->high) != confident)
                continue;
            float o = iou(k->pred, &dets[di]);
            if (o < gate || o <= 0)
                continue;
            if (np == t->pairs_cap) {
                t->pairs_cap = t->pairs_cap ? t->pairs_cap * 2 : 64;
                t->pairs = vg_xrealloc(t->pairs, t->pairs_cap * sizeof *t->pairs);
            }
            t->pairs[np++] = (pair){ o, (int)ti, (int)di };
        }
    }
    if (np > 1)   /* qsort on an empty, never-allocated array is undefined (NULL) */
        qsort(t->pairs, np, sizeof *t->pairs, cmp_pair);
    for (size_t i = 0; i < np; i++) {
        pair *c = &t->pairs[i];
        trk *k = &t->tracks[c->t];
        if (k->det >= 0 || t->det_track[c->d] >= 0)
            continue;
        t->det_track[c->d] = c->t;
        trk_hit(t, k, &dets[c->d], c->d, ts, p);
    }
}


size_t
vg_tracker_update(vg_tracker *t, const vg_track_params *p, double ts_ms, const vg_track_det *dets, size_t n,
                  const vg_track **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (n > VG_TRACK_MAX_DETS)
        n = VG_TRACK_MAX_DETS;
    double dt = t->has_ts && ts_ms > t->last_ts ? (ts_ms - t->last_ts) / 1000.0 : 0;
    if (!t->has_ts || ts_ms > t->last_ts)
        t->last_ts = ts_ms;
    t->has_ts = 1;
    if (n > t->det_cap) {
        t->det_cap = n;
        t->det_track = vg_xrealloc(t->det_track, n * sizeof *t->det_track);
    }
    for (size_t i = 0; i < n; i++)
        t->det_track[i] = -1;
    for (size_t ti = 0; ti < t->n; ti++) {
        trk *k = &t->tracks[ti];
        double size = trk_size(k);
        for (int i = 0; i < 4; i++)
            kf_predict(&k->kf[i], dt, size);
        trk_box(k);
        k->det = -1;
    }
    match(t, dets, n, 1, 0, p->match_iou, ts_ms, p);   /* confident detections, every track */
    match(t, dets, n, 0, 1, p->low_iou, ts_ms, p);     /* the rest, confirmed tracks left */

    /* unmatched tracks: a tentative one ends at once, a confirmed one after max_missed frames */
    size_t keep = 0;
    for (size_t ti = 0; ti < t->n; ti++) {
        trk *k = &t->tracks[ti];
        if (k->det < 0) {
            k->pub.missed++;
            if (!k->pub.id || k->pub.missed > (uint32_t)p->max_missed)
                continue;
        }
        if (keep != ti)
            t->tracks[keep] = *k;
        keep++;
    }
    t->n = keep;
    /* confident detections nobody took start tracks, while there is room */
    for (size_t di = 0; di < n; di++)
        if (t->det_track[di] < 0 && dets[di].confidence >= p->high && t->n < (size_t)p->max_tracks)
            trk_start(t, &dets[di], (int)di, ts_ms, p);

    /* tracks moved (compacted, grown): their labels point into them again */
    size_t reported = 0;
    for (size_t ti = 0; ti < t->n; ti++) {
        trk *k = &t->tracks[ti];
        trk_label(k);
        if (k->det >= 0 && k->pub.id) {
            out[k->det] = &k->pub;
            reported++;
        }
    }
    return reported;
}
