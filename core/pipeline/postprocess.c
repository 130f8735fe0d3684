/*
 * postprocess: letterbox correction, darknet-style per-class NMS,
 * thresholds and pixel boxes (see postprocess.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "pipeline/postprocess.h"

typedef struct pbox {
    float x, y, w, h;
} pbox;


void
vg_post_letterbox_size(int img_w, int img_h, int net_w, int net_h, int *new_w, int *new_h)
{
    /* darknet letterbox_image()/correct_yolo_boxes(): integer arithmetic as there */
    if (((float)net_w / img_w) < ((float)net_h / img_h)) {
        *new_w = net_w;
        *new_h = (img_h * net_w) / img_w;
    } else {
        *new_h = net_h;
        *new_w = (img_w * net_h) / img_h;
    }
    if (*new_w < 1)
        *new_w = 1;
    if (*new_h < 1)
        *new_h = 1;
}


static float
overlap(float x1, float w1, float x2, float w2)
{
    float l1 = x1 - w1 / 2;
    float l2 = x2 - w2 / 2;
    float left = l1 > l2 ? l1 : l2;
    float r1 = x1 + w1 / 2;
    float r2 = x2 + w2 / 2;
    float right = r1 < r2 ? r1 : r2;
    return right - left;
}


static float
iou(const pbox *a, const pbox *b)
{
    float w = overlap(a->x, a->w, b->x, b->w);
    float h = overlap(a->y, a->h, b->y, b->h);
    if (w < 0 || h < 0)
        return 0;
    float inter = w * h;
    float uni = a->w * a->h + b->w * b->h - inter;
    if (!(uni > 0))
        return 0;
    return inter / uni;
}


/*
 * Distance-IoU as AlexeyAB's darknet computes it for NMS (src/box.c
 * box_diou, box_diounms): IoU minus (d2 / c2)^beta, d2 the squared distance
 * of the centres, c2 the squared diagonal of the smallest box enclosing
 * both; plain IoU when c2 is 0. Same float/double steps as there.
 */
static float
diou(const pbox *a, const pbox *b, float beta)
{
    float top = fminf(a->y - a->h / 2, b->y - b->h / 2);
    float bot = fmaxf(a->y + a->h / 2, b->y + b->h / 2);
    float left = fminf(a->x - a->w / 2, b->x - b->w / 2);
    float right = fmaxf(a->x + a->w / 2, b->x + b->w / 2);
    float w = right - left, h = bot - top;
    float c = w * w + h * h;
    float i = iou(a, b);
    if (c == 0)
        return i;
    float d = (a->x - b->x) * (a->x - b->x) + (a->y - b->y) * (a->y - b->y);
    float u = (float)pow(d / c, beta);
    return i - u;
}


/* qsort context: C11 qsort has none, so sort (prob, index) pairs. */
typedef struct ranked {
    float prob;
    uint32_t idx;
} ranked;


/* Three-way comparisons for the sorts below: -1, 0 or 1 as a goes before, with or after b. */
static int
larger_first(float a, float b)
{
    return (a < b) - (a > b);
}


static int
smaller_first(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}


/* Highest probability first, then the lower index: ties sort the same with every qsort. */
static int
cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    int c = larger_first(a->prob, b->prob);
    return c ? c : smaller_first(a->idx, b->idx);
}


/* Most confident first, then by class, top and left: the same boxes give the same order. */
static int
cmp_det(const void *pa, const void *pb)
{
    const vg_detection *a = pa, *b = pb;
    int c = larger_first(a->confidence, b->confidence);
    if (!c)
        c = smaller_first(a->class_id, b->class_id);
    if (!c)
        c = smaller_first(a->y_min, b->y_min);
    return c ? c : smaller_first(a->x_min, b->x_min);
}


static int
clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}


int
vg_post_run(vigia_candidates *cand, const vg_post_params *p, vg_detection **out, size_t *nout)
{
    pbox *boxes = NULL;
    ranked *order = NULL;
    vg_detection *dets = NULL;
    uint8_t *valid = NULL;
    size_t ndets = 0, cap = 0;
    int rc = 0, new_w, new_h;

    *out = NULL;
    *nout = 0;
    if (!cand || !p || p->classes <= 0 || p->net_w <= 0 || p->net_h <= 0 ||
        p->img_w <= 0 || p->img_h <= 0 || !(p->threshold >= 0) || !(p->nms >= 0) ||
        !(p->diou_beta >= 0 && p->diou_beta <= VG_POST_MAX_DIOU_BETA))
        return VG_E_INVAL;
    uint32_t n = cand->count;
    if (n > cand->capacity)
        return VG_E_INVAL;
    if (n == 0)
        return 0;
    if (!cand->box || !cand->prob)
        return VG_E_INVAL;

    boxes = malloc(n * sizeof *boxes);
    order = malloc(n * sizeof *order);
    valid = malloc(n);
    if (!boxes || !order || !valid) {
        rc = -ENOMEM;
        goto out;
    }

    /* 1. letterbox correction (darknet correct_yolo_boxes, relative = 1); identity for a stretch */
    int netw = p->net_w, neth = p->net_h;
    if (p->stretch) {
        new_w = netw;              /* fractions of the input are fractions of the image */
        new_h = neth;
    } else {
        vg_post_letterbox_size(p->img_w, p->img_h, p->net_w, p->net_h, &new_w, &new_h);
    }
    for (uint32_t i = 0; i < n; i++) {
        pbox b = { cand->box[4 * i], cand->box[4 * i + 1], cand->box[4 * i + 2], cand->box[4 * i + 3] };
        float obj = cand->objectness ? cand->objectness[i] : 1.0f;
        valid[i] = isfinite(b.x) && isfinite(b.y) && isfinite(b.w) && isfinite(b.h) &&
                   b.w >= 0 && b.h >= 0 && isfinite(obj) && obj != 0;
        b.x = (float)((b.x - (netw - new_w) / 2. / netw) / ((float)new_w / netw));
        b.y = (float)((b.y - (neth - new_h) / 2. / neth) / ((float)new_h / neth));
        b.w *= (float)netw / new_w;
        b.h *= (float)neth / new_h;
        boxes[i] = b;
        float *pr = cand->prob + (size_t)i * p->classes;
        for (int k = 0; k < p->classes; k++)
            if (!isfinite(pr[k]) || pr[k] < 0 || !valid[i])
                pr[k] = 0;
    }

    /* 2. per-class NMS, highest probability first (darknet do_nms_sort; with DIoU AlexeyAB's diounms_sort) */
    if (p->nms > 0) {
        for (int k = 0; k < p->classes; k++) {
            if (p->class_mask && !p->class_mask[k])
                continue;
            uint32_t m = 0;
            for (uint32_t i = 0; i < n; i++) {
                float pr = cand->prob[(size_t)i * p->classes + k];
                if (pr > 0) {
                    order[m].prob = pr;
                    order[m].idx = i;
                    m++;
                }
            }
            if (m < 2)
                continue;
            qsort(order, m, sizeof *order, cmp_ranked);
            for (uint32_t a = 0; a < m; a++) {
                uint32_t ia = order[a].idx;
                if (cand->prob[(size_t)ia * p->classes + k] == 0)
                    continue;
                for (uint32_t b = a + 1; b < m; b++) {
                    uint32_t ib = order[b].idx;
                    float o = p->diou_beta > 0 ? diou(&boxes[ia], &boxes[ib], p->diou_beta)
                                               : iou(&boxes[ia], &boxes[ib]);
                    if (o > p->nms)
                        cand->prob[(size_t)ib * p->classes + k] = 0;
                }
            }
        }
    }

    /* 3. one detection per (box, class) above the threshold (draw_detections) */
    for (uint32_t i = 0; i < n; i++) {
        if (!valid[i])
            continue;
        const pbox *b = &boxes[i];
        for (int k = 0; k < p->classes; k++) {
            float pr = cand->prob[(size_t)i * p->classes + k];
            if (!(pr > p->threshold))
                continue;
            if (p->class_mask && !p->class_mask[k])
                continue;
            if (ndets == cap) {
                size_t ncap = cap ? 2 * cap : 16;
                vg_detection *nd = realloc(dets, ncap * sizeof *nd);
                if (!nd) {
                    rc = -ENOMEM;
                    goto out;
                }
                dets = nd;
                cap = ncap;
            }
            vg_detection *d = &dets[ndets++];
            memset(d, 0, sizeof *d);   /* no attribute estimated yet */
            /* darknet: int left = (b.x-b.w/2.)*im.w; ... then clamp */
            double l = (b->x - b->w / 2.) * p->img_w;
            double r = (b->x + b->w / 2.) * p->img_w;
            double t = (b->y - b->h / 2.) * p->img_h;
            double bt = (b->y + b->h / 2.) * p->img_h;
            /* keep the doubles in int range before truncating */
            l = fmax(fmin(l, 1e9), -1e9);
            r = fmax(fmin(r, 1e9), -1e9);
            t = fmax(fmin(t, 1e9), -1e9);
            bt = fmax(fmin(bt, 1e9), -1e9);
            d->class_id = k;
            d->label = NULL;
            d->confidence = pr > 1.0f ? 1.0f : pr;
            d->x_min = clampi((int)l, 0, p->img_w - 1);
            d->x_max = clampi((int)r, 0, p->img_w - 1);
            d->y_min = clampi((int)t, 0, p->img_h - 1);
            d->y_max = clampi((int)bt, 0, p->img_h - 1);
        }
    }
    if (ndets > 1)
        qsort(dets, ndets, sizeof *dets, cmp_det);
    if (ndets > VG_POST_MAX_DETECTIONS)
        ndets = VG_POST_MAX_DETECTIONS;
    *out = dets;
    *nout = ndets;
    dets = NULL;
out:
    free(dets);
    free(boxes);
    free(order);
    free(valid);
    return rc;
}


int
vg_post_scores(const float *scores, const vg_post_params *p, vg_detection **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!scores || !p || p->classes <= 0 || p->img_w <= 0 || p->img_h <= 0 || !(p->threshold >= 0))
        return VG_E_INVAL;
    vg_detection best[VG_POST_MAX_CLASSES];
    size_t n = 0;
    for (int k = 0; k < p->classes; k++) {
        float s = isfinite(scores[k]) ? scores[k] : 0;
        if (!(s > p->threshold) || (p->class_mask && !p->class_mask[k]))
            continue;
        /* insertion into the top list, highest first; equal scores keep class order */
        size_t at = n;
        while (at > 0 && best[at - 1].confidence < s)
            at--;
        if (at == VG_POST_MAX_CLASSES)
            continue;
        if (n < VG_POST_MAX_CLASSES)
            n++;
        memmove(&best[at + 1], &best[at], (n - 1 - at) * sizeof *best);
        best[at] = (vg_detection){ .class_id = k, .confidence = s > 1.0f ? 1.0f : s,
                                   .x_max = p->img_w - 1, .y_max = p->img_h - 1 };
    }
    if (n == 0)
        return 0;
    *out = malloc(n * sizeof **out);
    if (!*out)
        return -ENOMEM;
    memcpy(*out, best, n * sizeof *best);
    *nout = n;
    return 0;
}
