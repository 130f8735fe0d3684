/*
 * ipc: the message codecs of the master <-> worker protocol (see ipc.h);
 * the frames around them are base/frame's.
 *
 * Each message type is a table of its fields (below), in the order they
 * are written; one encoder and one decoder walk the tables. Messages are
 * written with base/mpk's writer and read with its cursor, which
 * allocates nothing (msgpack-c's unpacker would allocate whatever element
 * counts a hostile frame declares); only a RESULT's detections are
 * allocated, after their count is checked.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/frame.h"
#include "base/mpk.h"
#include "pipeline/colors.h"
#include "pool/ipc.h"

#define MAX_DEPTH 8          /* nesting skipped in unknown values */
#define MAX_KEYS  64         /* entries of a message's map */
#define MAX_US    (86400ull * 1000000u)   /* a timing: at most a day */

/* ---- the messages ---------------------------------------------------------- */

enum kind {
    F_U64,                   /* uint64_t */
    F_US,                    /* uint64_t microseconds, at most MAX_US */
    F_INT,                   /* int in [lo, hi] */
    F_UNIT,                  /* float in (-inf, 1]: a threshold, negative = the model's */
    F_F64,                   /* double, finite */
    F_STR,                   /* vg_str of at most VG_IPC_MAX_STR bytes (longer is cut when written) */
    F_BOOL,                  /* int, 0 or 1 */
    F_BIN,                   /* const uint8_t * and size_t (at len_off) */
    F_OPT_BIN,               /* the same, or nil (NULL) */
    F_DETS,                  /* a RESULT's detections: [class, confidence, x0, y0, x1, y1] each, and
                                upper and lower colours after them when either is set */
    F_LABELS,                /* a READY's labels: an array of non-empty strings */
    F_OVERLAY                /* a JOB's overlay: [labels, boxes, zones, lines] (see put_overlay), or nil */
};

typedef struct field {
    const char *key;
    enum kind kind;
    unsigned need;           /* its bit in the set of required keys, or 0 */
    int tail;                /* bytes: only their header is in the frame, the caller sends them */
    size_t off, len_off;     /* where it is in the message struct (and a byte string's length) */
    int64_t lo, hi;          /* F_INT: the range accepted */
} field;

#define JOB(f) offsetof(vg_ipc_job, f)
#define RDY(f) offsetof(vg_ipc_ready, f)
#define RES(f) offsetof(vg_ipc_result, f)

static const field job_fields[] = {
    { .key = "id", .kind = F_U64, .need = 1, .off = JOB(id) },
    { .key = "thr", .kind = F_UNIT, .off = JOB(threshold) },
    { .key = "nms", .kind = F_UNIT, .off = JOB(nms) },
    { .key = "cls", .kind = F_OPT_BIN, .off = JOB(class_mask), .len_off = JOB(mask_len) },
    { .key = "ann", .kind = F_BOOL, .off = JOB(annotate) },
    { .key = "q", .kind = F_INT, .off = JOB(quality), .lo = 0, .hi = 100 },
    { .key = "attr", .kind = F_INT, .off = JOB(attributes), .lo = 0, .hi = VG_ATTR_COLORS },
    { .key = "ov", .kind = F_OVERLAY },
    { .key = "img", .kind = F_BIN, .need = 2, .tail = 1, .off = JOB(image), .len_off = JOB(image_len) },
};

static const field ready_fields[] = {
    { .key = "pid", .kind = F_INT, .need = 1, .off = RDY(pid), .lo = 1, .hi = INT32_MAX },
    { .key = "be", .kind = F_STR, .need = 2, .off = RDY(backend) },
    { .key = "ver", .kind = F_STR, .off = RDY(version) },
    { .key = "dev", .kind = F_STR, .off = RDY(device) },
    { .key = "why", .kind = F_STR, .off = RDY(why) },
    { .key = "rs", .kind = F_STR, .off = RDY(resize) },
    { .key = "rsw", .kind = F_STR, .off = RDY(resize_why) },
    { .key = "hd", .kind = F_STR, .off = RDY(head) },
    { .key = "hdf", .kind = F_STR, .off = RDY(head_from) },
    { .key = "w", .kind = F_INT, .need = 4, .off = RDY(input_w), .lo = 1, .hi = 1 << 16 },
    { .key = "h", .kind = F_INT, .need = 8, .off = RDY(input_h), .lo = 1, .hi = 1 << 16 },
    { .key = "c", .kind = F_INT, .need = 16, .off = RDY(classes), .lo = 1, .hi = 1 << 20 },
    { .key = "mb", .kind = F_INT, .off = RDY(max_batch), .lo = 1, .hi = 1 << 16 },
    { .key = "gf", .kind = F_F64, .off = RDY(gflops) },
    { .key = "tk", .kind = F_INT, .off = RDY(task), .lo = 0, .hi = 1 },
    { .key = "lb", .kind = F_LABELS },
};

static const field fatal_fields[] = {
    { .key = "st", .kind = F_INT, .need = 1, .off = offsetof(vg_ipc_fatal, status), .lo = INT32_MIN, .hi = -1 },
    { .key = "msg", .kind = F_STR, .off = offsetof(vg_ipc_fatal, msg) },
};

static const field result_fields[] = {
    { .key = "id", .kind = F_U64, .need = 1, .off = RES(id) },
    { .key = "st", .kind = F_INT, .need = 2, .off = RES(status), .lo = INT32_MIN, .hi = 0 },
    { .key = "msg", .kind = F_STR, .off = RES(msg) },
    { .key = "w", .kind = F_INT, .off = RES(w), .lo = 0, .hi = INT32_MAX },
    { .key = "h", .kind = F_INT, .off = RES(h), .lo = 0, .hi = INT32_MAX },
    { .key = "d", .kind = F_DETS },
    { .key = "td", .kind = F_US, .off = RES(decode_us) },
    { .key = "ti", .kind = F_US, .off = RES(infer_us) },
    { .key = "tp", .kind = F_US, .off = RES(post_us) },
    { .key = "ta", .kind = F_US, .off = RES(annotate_us) },
    { .key = "rss", .kind = F_U64, .off = RES(rss) },
    { .key = "bye", .kind = F_BOOL, .off = RES(last) },
    { .key = "jpg", .kind = F_OPT_BIN, .tail = 1, .off = RES(jpeg), .len_off = RES(jpeg_len) },
};

typedef struct msg_def {
    const field *f;
    uint32_t n;
    unsigned need;           /* every required bit */
} msg_def;

#define FIELDS(a) a, sizeof a / sizeof *a

/* By enum vg_ipc_type. */
static const msg_def defs[] = {
    [VG_IPC_JOB] = { FIELDS(job_fields), 3 },
    [VG_IPC_QUIT] = { NULL, 0, 0 },
    [VG_IPC_READY] = { FIELDS(ready_fields), 31 },
    [VG_IPC_FATAL] = { FIELDS(fatal_fields), 1 },
    [VG_IPC_RESULT] = { FIELDS(result_fields), 3 },
};

/* ---- encoding -------------------------------------------------------------- */

static void
put_dets(vg_mpw *w, const vg_detection *dets, size_t n)
{
    vg_mpw_array(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const vg_detection *d = &dets[i];
        int colors = d->upper_color || d->lower_color;
        vg_mpw_array(w, colors ? 8 : 6);
        vg_mpw_i64(w, d->class_id);
        vg_mpw_f32(w, d->confidence);
        vg_mpw_i64(w, d->x_min);
        vg_mpw_i64(w, d->y_min);
        vg_mpw_i64(w, d->x_max);
        vg_mpw_i64(w, d->y_max);
        if (colors) {
            vg_mpw_i64(w, d->upper_color);
            vg_mpw_i64(w, d->lower_color);
        }
    }
}

/*
 * An overlay: [labels, boxes, zones, lines] with labels [str], boxes
 * [[x0, y0, x1, y1, class, label, track]], zones [[name, [x, y, x, y, ...]]],
 * lines [[name, ax, ay, bx, by, forward, backward]]; nil when none.
 */
static void
put_overlay(vg_mpw *w, const vg_overlay *o)
{
    if (!o) {
        vg_mpw_nil(w);
        return;
    }
    vg_mpw_array(w, 4);
    vg_mpw_array(w, (uint32_t)o->nlabels);
    for (int i = 0; i < o->nlabels; i++)
        vg_mpw_cstr(w, o->labels[i]);
    vg_mpw_array(w, (uint32_t)o->nboxes);
    for (int i = 0; i < o->nboxes; i++) {
        const vg_overlay_box *b = &o->boxes[i];
        vg_mpw_array(w, 7);
        vg_mpw_i64(w, b->x0);
        vg_mpw_i64(w, b->y0);
        vg_mpw_i64(w, b->x1);
        vg_mpw_i64(w, b->y1);
        vg_mpw_i64(w, b->cls);
        vg_mpw_i64(w, b->label);
        vg_mpw_u64(w, b->track);
    }
    vg_mpw_array(w, (uint32_t)o->nzones);
    for (int i = 0; i < o->nzones; i++) {
        const vg_overlay_zone *z = &o->zones[i];
        vg_mpw_array(w, 2);
        vg_mpw_cstr(w, z->name);
        vg_mpw_array(w, (uint32_t)z->np * 2);
        for (int k = 0; k < z->np; k++) {
            vg_mpw_i64(w, z->pts[k][0]);
            vg_mpw_i64(w, z->pts[k][1]);
        }
    }
    vg_mpw_array(w, (uint32_t)o->nlines);
    for (int i = 0; i < o->nlines; i++) {
        const vg_overlay_line *l = &o->lines[i];
        vg_mpw_array(w, 7);
        vg_mpw_cstr(w, l->name);
        vg_mpw_i64(w, l->a[0]);
        vg_mpw_i64(w, l->a[1]);
        vg_mpw_i64(w, l->b[0]);
        vg_mpw_i64(w, l->b[1]);
        vg_mpw_i64(w, l->forward);
        vg_mpw_i64(w, l->backward);
    }
}


/* 1 when o is within the limits of overlay.h (what the decoder accepts). */
static int
overlay_fits(const vg_overlay *o)
{
    if (o->nlabels < 0 || o->nlabels > VG_OVERLAY_MAX_LABELS || o->nboxes < 0 || o->nboxes > VG_OVERLAY_MAX_BOXES ||
        o->nzones < 0 || o->nzones > VG_OVERLAY_MAX_ZONES || o->nlines < 0 || o->nlines > VG_OVERLAY_MAX_LINES)
        return 0;
    for (int i = 0; i < o->nlabels; i++)
        if (!o->labels[i][0] || memchr(o->labels[i], 0, VG_OVERLAY_NAME_MAX) == NULL)
            return 0;
    for (int i = 0; i < o->nboxes; i++) {
        const vg_overlay_box *b = &o->boxes[i];
        if (b->x0 < 0 || b->y0 < 0 || b->x0 > b->x1 || b->y0 > b->y1 || b->x1 > VG_OVERLAY_COORD_MAX ||
            b->y1 > VG_OVERLAY_COORD_MAX || b->cls < 0 || b->cls > (1 << 20) || b->label < -1 ||
            b->label >= o->nlabels)
            return 0;
    }
    for (int i = 0; i < o->nzones; i++) {
        const vg_overlay_zone *z = &o->zones[i];
        if (z->np < 3 || z->np > VG_OVERLAY_MAX_POINTS || memchr(z->name, 0, VG_OVERLAY_NAME_MAX) == NULL)
            return 0;
        for (int k = 0; k < z->np; k++)
            if (z->pts[k][0] < 0 || z->pts[k][1] < 0 || z->pts[k][0] > VG_OVERLAY_COORD_MAX ||
                z->pts[k][1] > VG_OVERLAY_COORD_MAX)
                return 0;
    }
    for (int i = 0; i < o->nlines; i++) {
        const vg_overlay_line *l = &o->lines[i];
        if (memchr(l->name, 0, VG_OVERLAY_NAME_MAX) == NULL || l->forward < 0 || l->backward < 0 ||
            l->forward > VG_OVERLAY_COUNT_MAX || l->backward > VG_OVERLAY_COUNT_MAX)
            return 0;
        for (int k = 0; k < 2; k++)
            if (l->a[k] < 0 || l->b[k] < 0 || l->a[k] > VG_OVERLAY_COORD_MAX || l->b[k] > VG_OVERLAY_COORD_MAX)
                return 0;
    }
    return 1;
}


static void
put_field(vg_mpw *w, const field *f, const char *m, const vg_detection *dets)
{
    const void *at = m + f->off;
    vg_mpw_cstr(w, f->key);
    switch (f->kind) {
    case F_U64:
    case F_US:
        vg_mpw_u64(w, *(const uint64_t *)at);
        break;
    case F_INT:
        vg_mpw_i64(w, *(const int *)at);
        break;
    case F_BOOL:
        vg_mpw_bool(w, *(const int *)at);
        break;
    case F_UNIT:
        vg_mpw_f32(w, *(const float *)at);
        break;
    case F_F64:
        vg_mpw_f64(w, *(const double *)at);
        break;
    case F_STR: {
        const vg_str *s = at;
        vg_mpw_str(w, s->p, s->n > VG_IPC_MAX_STR ? VG_IPC_MAX_STR : s->n);
        break;
    }
    case F_BIN:
    case F_OPT_BIN: {
        const uint8_t *p = *(const uint8_t *const *)at;
        size_t n = *(const size_t *)(m + f->len_off);
        if (!p)
            vg_mpw_nil(w);
        else if (f->tail)
            vg_mpw_bin_header(w, n);
        else
            vg_mpw_bin(w, p, n);
        break;
    }
    case F_DETS:
        put_dets(w, dets, ((const vg_ipc_result *)(const void *)m)->ndet);
        break;
    case F_OVERLAY:
        put_overlay(w, ((const vg_ipc_job *)(const void *)m)->overlay);
        break;
    case F_LABELS: {
        const vg_ipc_ready *r = (const vg_ipc_ready *)(const void *)m;
        vg_mpw_array(w, (uint32_t)r->nlabels);
        for (size_t i = 0; i < r->nlabels; i++)
            vg_mpw_str(w, r->labels[i].p, r->labels[i].n);
        break;
    }
    }
}


/* One frame: the map of `type`'s fields read from `m`; `tail` bytes follow it. */
static int
encode(vg_buf *out, enum vg_ipc_type type, const void *m, const vg_detection *dets, size_t tail)
{
    const msg_def *d = &defs[type];
    vg_mpw w;
    size_t at = vg_frame_begin(out);
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 1 + d->n);
    vg_mpw_cstr(&w, "t");
    vg_mpw_i64(&w, type);
    for (uint32_t i = 0; i < d->n; i++)
        put_field(&w, &d->f[i], m, dets);
    return vg_frame_end(out, at, tail);
}


int
vg_ipc_encode_job(vg_buf *out, const vg_ipc_job *job)
{
    if (!job->image || job->image_len == 0 || job->image_len > VG_IPC_MAX_FRAME ||
        job->mask_len > 1u << 20 || (job->mask_len && !job->class_mask) ||
        (job->overlay && !overlay_fits(job->overlay)))
        return VG_E_INVAL;
    return encode(out, VG_IPC_JOB, job, NULL, job->image_len);
}


int
vg_ipc_encode_quit(vg_buf *out)
{
    return encode(out, VG_IPC_QUIT, NULL, NULL, 0);
}


/* 1 when a READY's labels are within the limits: none, or `classes` short non-empty ones. */
static int
labels_fit(const vg_ipc_ready *r)
{
    if (r->nlabels == 0)
        return 1;
    if (r->nlabels > VG_IPC_MAX_LABELS || r->nlabels != (size_t)r->classes || !r->labels)
        return 0;
    for (size_t i = 0; i < r->nlabels; i++)
        if (r->labels[i].n == 0 || r->labels[i].n > VG_IPC_MAX_LABEL)
            return 0;
    return 1;
}


int
vg_ipc_encode_ready(vg_buf *out, const vg_ipc_ready *r)
{
    if (!labels_fit(r))
        return VG_E_INVAL;
    return encode(out, VG_IPC_READY, r, NULL, 0);
}


int
vg_ipc_encode_fatal(vg_buf *out, int status, const char *msg)
{
    vg_ipc_fatal f = { .status = status, .msg = vg_str_of(msg) };
    return encode(out, VG_IPC_FATAL, &f, NULL, 0);
}


int
vg_ipc_encode_result(vg_buf *out, const vg_ipc_result *r, const vg_detection *dets)
{
    if (r->ndet > VG_POST_MAX_DETECTIONS || (r->ndet && !dets) || (r->jpeg_len && !r->jpeg))
        return VG_E_INVAL;
    return encode(out, VG_IPC_RESULT, r, dets, r->jpeg ? r->jpeg_len : 0);
}


/* ---- decoding -------------------------------------------------------------- */

static int
rd_int(vg_mpr *c, int *v, int64_t lo, int64_t hi)
{
    int64_t x;
    if (vg_mpr_i64_in(c, lo, hi, &x) < 0)
        return -1;
    *v = (int)x;
    return 0;
}


static int
decode_dets(vg_mpr *c, vg_ipc_result *r)
{
    uint32_t n;
    if (r->dets)
        return -1;           /* "d" twice */
    if (vg_mpr_array(c, &n) < 0 || n > VG_POST_MAX_DETECTIONS)
        return -1;
    r->ndet = n;
    if (n == 0)
        return 0;
    r->dets = calloc(n, sizeof *r->dets);
    if (!r->dets)
        return -2;
    for (size_t i = 0; i < n; i++) {
        vg_detection *d = &r->dets[i];
        uint32_t m;
        double conf;
        int up = 0, lo = 0;
        if (vg_mpr_array(c, &m) < 0 || (m != 6 && m != 8))
            return -1;
        if (rd_int(c, &d->class_id, 0, 1 << 20) || vg_mpr_f64(c, &conf) ||
            rd_int(c, &d->x_min, 0, INT32_MAX) || rd_int(c, &d->y_min, 0, INT32_MAX) ||
            rd_int(c, &d->x_max, 0, INT32_MAX) || rd_int(c, &d->y_max, 0, INT32_MAX) ||
            (m == 8 && (rd_int(c, &up, 0, VG_COLOR_COUNT - 1) || rd_int(c, &lo, 0, VG_COLOR_COUNT - 1))))
            return -1;
        d->upper_color = (uint8_t)up;
        d->lower_color = (uint8_t)lo;
        if (!(conf >= 0 && conf <= 1))
            return -1;
        d->confidence = (float)conf;
        d->label = NULL;
    }
    return 0;
}


static int
decode_labels(vg_mpr *c, vg_ipc_ready *r)
{
    uint32_t n;
    if (r->labels)
        return -1;           /* "lb" twice */
    if (vg_mpr_array(c, &n) < 0 || n > VG_IPC_MAX_LABELS)
        return -1;
    if (n == 0)
        return 0;
    r->labels = calloc(n, sizeof *r->labels);
    if (!r->labels)
        return -2;
    r->nlabels = n;
    for (size_t i = 0; i < n; i++)
        if (vg_mpr_str_only(c, &r->labels[i]) < 0 || r->labels[i].n == 0 || r->labels[i].n > VG_IPC_MAX_LABEL)
            return -1;
    return 0;
}


/* A name of at most VG_OVERLAY_NAME_MAX - 1 bytes, no NUL in it, into out. */
static int
rd_name(vg_mpr *c, char out[VG_OVERLAY_NAME_MAX], int may_be_empty)
{
    vg_str s;
    if (vg_mpr_str_only(c, &s) < 0 || s.n >= VG_OVERLAY_NAME_MAX || (!may_be_empty && s.n == 0) ||
        memchr(s.p, 0, s.n))
        return -1;
    memcpy(out, s.p, s.n);
    out[s.n] = '\0';
    return 0;
}


static int
rd_coord(vg_mpr *c, int *v)
{
    return rd_int(c, v, 0, VG_OVERLAY_COORD_MAX);
}


/* An array header of exactly n, or of at most max (n < 0). */
static int
rd_array(vg_mpr *c, uint32_t *got, int64_t n, uint32_t max)
{
    if (vg_mpr_array(c, got) < 0)
        return -1;
    return (n >= 0 && *got != (uint32_t)n) || *got > max ? -1 : 0;
}


static int
decode_overlay_items(vg_mpr *c, vg_overlay *o)
{
    uint32_t n, m;
    if (rd_array(c, &n, 4, 4) || rd_array(c, &n, -1, VG_OVERLAY_MAX_LABELS))
        return -1;
    for (uint32_t i = 0; i < n; i++)
        if (rd_name(c, o->labels[i], 0))
            return -1;
    o->nlabels = (int)n;
    if (rd_array(c, &n, -1, VG_OVERLAY_MAX_BOXES))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        vg_overlay_box *b = &o->boxes[i];
        if (rd_array(c, &m, 7, 7) || rd_coord(c, &b->x0) || rd_coord(c, &b->y0) || rd_coord(c, &b->x1) ||
            rd_coord(c, &b->y1) || rd_int(c, &b->cls, 0, 1 << 20) || rd_int(c, &b->label, -1, o->nlabels - 1) ||
            vg_mpr_u64(c, &b->track) || b->x0 > b->x1 || b->y0 > b->y1)
            return -1;
    }
    o->nboxes = (int)n;
    if (rd_array(c, &n, -1, VG_OVERLAY_MAX_ZONES))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        vg_overlay_zone *z = &o->zones[i];
        if (rd_array(c, &m, 2, 2) || rd_name(c, z->name, 1) || rd_array(c, &m, -1, 2 * VG_OVERLAY_MAX_POINTS) ||
            m < 6 || m % 2)
            return -1;
        z->np = (int)(m / 2);
        for (int k = 0; k < z->np; k++)
            if (rd_coord(c, &z->pts[k][0]) || rd_coord(c, &z->pts[k][1]))
                return -1;
    }
    o->nzones = (int)n;
    if (rd_array(c, &n, -1, VG_OVERLAY_MAX_LINES))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        vg_overlay_line *l = &o->lines[i];
        int64_t fw, bw;
        if (rd_array(c, &m, 7, 7) || rd_name(c, l->name, 1) || rd_coord(c, &l->a[0]) || rd_coord(c, &l->a[1]) ||
            rd_coord(c, &l->b[0]) || rd_coord(c, &l->b[1]) || vg_mpr_i64_in(c, 0, VG_OVERLAY_COUNT_MAX, &fw) < 0 ||
            vg_mpr_i64_in(c, 0, VG_OVERLAY_COUNT_MAX, &bw) < 0)
            return -1;
        l->forward = fw;
        l->backward = bw;
    }
    o->nlines = (int)n;
    return 0;
}


static int
decode_overlay(vg_mpr *c, vg_ipc_job *j)
{
    if (j->overlay)
        return -1;           /* "ov" twice */
    if (vg_mpr_nil(c))
        return 0;
    vg_overlay *o = calloc(1, sizeof *o);
    if (!o)
        return -2;
    j->overlay = o;          /* freed by the release, whole or not */
    return decode_overlay_items(c, o);
}


/* Reads field f's value into the message at m: 0, -1 (malformed) or -2 (no memory). */
static int
read_field(vg_mpr *c, const field *f, char *m)
{
    void *at = m + f->off;
    double d;
    switch (f->kind) {
    case F_U64:
        return vg_mpr_u64(c, at);
    case F_US:
        return vg_mpr_u64(c, at) < 0 || *(uint64_t *)at > MAX_US ? -1 : 0;
    case F_INT:
        return rd_int(c, at, f->lo, f->hi);
    case F_UNIT:
        if (vg_mpr_f64(c, &d) < 0 || !(d <= 1 && isfinite(d)))
            return -1;
        *(float *)at = (float)d;
        return 0;
    case F_F64:
        return vg_mpr_f64(c, at) < 0 || !isfinite(*(double *)at) ? -1 : 0;
    case F_STR:
        return vg_mpr_str_only(c, at) < 0 || ((vg_str *)at)->n > VG_IPC_MAX_STR ? -1 : 0;
    case F_BOOL:
        return vg_mpr_bool(c, at);
    case F_OPT_BIN:
        if (vg_mpr_nil(c))
            return 0;        /* leaves what an earlier same key set */
        /* fall through */
    case F_BIN:
        return vg_mpr_bin_only(c, at, (size_t *)(void *)(m + f->len_off));
    case F_DETS:
        return decode_dets(c, (vg_ipc_result *)(void *)m);
    case F_LABELS:
        return decode_labels(c, (vg_ipc_ready *)(void *)m);
    case F_OVERLAY:
        return decode_overlay(c, (vg_ipc_job *)(void *)m);
    }
    return -1;
}


/* The checks across fields, once all are read: 1 when the message is whole. */
static int
whole(vg_ipc_msg *msg, unsigned seen)
{
    if (seen != defs[msg->type].need)
        return 0;
    switch (msg->type) {
    case VG_IPC_JOB:
        return msg->u.job.image_len != 0;
    case VG_IPC_READY:
        if (msg->u.ready.max_batch < 1)
            msg->u.ready.max_batch = 1;
        return labels_fit(&msg->u.ready);
    case VG_IPC_RESULT:
        for (size_t i = 0; i < msg->u.result.ndet; i++) {
            const vg_detection *d = &msg->u.result.dets[i];
            if (d->x_min > d->x_max || d->y_min > d->y_max ||
                d->x_max >= msg->u.result.w || d->y_max >= msg->u.result.h)
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}


int
vg_ipc_decode(const uint8_t *p, size_t len, vg_ipc_msg *msg)
{
    vg_mpr c;
    uint32_t nkeys;
    int type = 0, r = 0;
    unsigned seen = 0;   /* bit per required key */
    vg_str k;

    memset(msg, 0, sizeof *msg);
    vg_mpr_init(&c, p, len);
    c.max_depth = MAX_DEPTH;
    /* "t" first: every encoder writes it first, so the fields can be typed */
    if (vg_mpr_map(&c, &nkeys) < 0 || nkeys > MAX_KEYS || nkeys < 1 || vg_mpr_str_only(&c, &k) < 0 ||
        !vg_str_eq(k, "t") || rd_int(&c, &type, VG_IPC_JOB, VG_IPC_RESULT) < 0)
        return VG_E_PROTO;
    msg->type = (enum vg_ipc_type)type;
    if (type == VG_IPC_JOB) {
        msg->u.job.threshold = -1;
        msg->u.job.nms = -1;
    }
    const msg_def *d = &defs[type];
    for (uint32_t i = 1; i < nkeys && r == 0; i++) {
        const field *f = NULL;
        if (vg_mpr_str_only(&c, &k) < 0) {
            r = -1;
            break;
        }
        for (uint32_t j = 0; j < d->n && !f; j++)
            if (vg_str_eq(k, d->f[j].key))
                f = &d->f[j];
        if (f) {
            seen |= f->need;
            r = read_field(&c, f, (char *)&msg->u);
        } else {
            r = vg_mpr_skip(&c);
        }
    }
    if (r == -2) {
        vg_ipc_msg_release(msg);
        return -ENOMEM;
    }
    if (r != 0 || !vg_mpr_done(&c) || !whole(msg, seen)) {
        vg_ipc_msg_release(msg);
        return VG_E_PROTO;
    }
    return 0;
}


void
vg_ipc_msg_release(vg_ipc_msg *msg)
{
    if (msg && msg->type == VG_IPC_RESULT) {
        free(msg->u.result.dets);
        msg->u.result.dets = NULL;
        msg->u.result.ndet = 0;
    }
    if (msg && msg->type == VG_IPC_JOB) {
        free((void *)msg->u.job.overlay);
        msg->u.job.overlay = NULL;
    }
    if (msg && msg->type == VG_IPC_READY) {
        free(msg->u.ready.labels);
        msg->u.ready.labels = NULL;
        msg->u.ready.nlabels = 0;
    }
}
