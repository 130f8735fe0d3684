/*
 * backends/cpu/onnx_head.c: an ONNX detector's output layouts (yolov5,
 * yolov8, final boxes), chosen or detected, and decoded into candidates
 * (see onnx_head.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_head.h"

#define HEAD_MAX_ROWS ((int64_t)1 << 24)    /* rows (or channels) of an output */

static const char *const head_names[] = { "yolov5", "yolov8", "boxes" };


const char *vgc_onnx_head_name(int kind)
{
    return kind >= 0 && kind < 3 ? head_names[kind] : "?";
}


int vgc_onnx_head_pick(vgc_onnx_head *h, const char *want, const int64_t *dims, int rank, int classes,
                       const char *name, char *err, size_t errlen)
{
    int64_t a, b;
    int kind;
    char shape[96];

    if (rank == 3)
        snprintf(shape, sizeof shape, "[%lld, %lld, %lld]", (long long)dims[0], (long long)dims[1],
                 (long long)dims[2]);
    else if (rank == 2)
        snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)dims[0], (long long)dims[1]);
    else
        snprintf(shape, sizeof shape, "of rank %d", rank);
    if ((rank != 3 && rank != 2) || (rank == 3 && dims[0] != 1))
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' %s is not a detection head: expected [1, rows, "
                        "columns] (yolov5, boxes), [1, 4 + classes, rows] (yolov8) or [rows, 6 | 7] (boxes)",
                        name, shape);
    a = dims[rank - 2];
    b = dims[rank - 1];
    if (a < 1 || b < 1 || a > HEAD_MAX_ROWS || b > HEAD_MAX_ROWS || a * b > ((int64_t)1 << 28))
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' %s is empty or too large", name, shape);
    if (!want || !*want || strcmp(want, "auto") == 0) {
        h->detected = 1;
        if (rank == 3 && a >= 5 && a < b)
            kind = VGC_HEAD_YOLOV8;
        else if (rank == 2 && (b == 6 || b == 7))
            kind = VGC_HEAD_BOXES;
        else
            kind = VGC_HEAD_YOLOV5;
    } else {
        h->detected = 0;
        for (kind = 0; kind < 3 && strcmp(want, head_names[kind]) != 0; kind++)
            ;
        if (kind == 3)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "head '%s' is not one of yolov5, yolov8, boxes", want);
    }
    h->kind = kind;
    switch (kind) {
    case VGC_HEAD_YOLOV5:
        if (rank != 3 || b < 6 || b - 5 > VGC_MAX_CLASSES)
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' %s is not a yolov5 head [1, rows, 5 + classes]",
                            name, shape);
        h->n = (int)a;
        h->classes = (int)b - 5;
        h->cols = (int)b;
        break;
    case VGC_HEAD_YOLOV8:
        if (rank != 3 || a < 5 || a - 4 > VGC_MAX_CLASSES)
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' %s is not a yolov8 head [1, 4 + classes, rows]",
                            name, shape);
        h->n = (int)b;
        h->classes = (int)a - 4;
        h->cols = (int)a;
        break;
    default:
        if (b != 6 && b != 7)
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' %s is not a boxes head [1, rows, 6 | 7]",
                            name, shape);
        if (classes < 1 || classes > VGC_MAX_CLASSES)
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' %s holds final boxes, whose class count only "
                            "the labels file gives: name one (names)", name, shape);
        h->n = (int)a;
        h->classes = classes;
        h->cols = (int)b;
        break;
    }
    return 0;
}


/* qsort: rows by confidence, highest first, then in row order. */
static int by_confidence(const void *x, const void *y)
{
    const vgc_head_row *p = x, *q = y;

    return p->conf < q->conf ? 1 : p->conf > q->conf ? -1 : p->i - q->i;
}


/* A final box's class index, or -1 when it is not one of the head's classes. */
static int box_class(const vgc_onnx_head *h, float v)
{
    return isfinite(v) && v >= 0 && v < (float)h->classes && v == floorf(v) ? (int)v : -1;
}


/* The confidence of row i, or NAN when the row is not a candidate at all. */
static float row_confidence(const vgc_onnx_head *h, const float *out, int i)
{
    const float *r = out + (size_t)i * h->cols;
    float best;

    switch (h->kind) {
    case VGC_HEAD_YOLOV5:
        return r[4];
    case VGC_HEAD_YOLOV8:
        best = -INFINITY;
        for (int c = 0; c < h->classes; c++) {
            float v = out[(size_t)(4 + c) * h->n + i];
            if (v > best)
                best = v;
        }
        return best;
    default:
        if (h->cols == 7)
            return r[0] == 0 && box_class(h, r[5]) >= 0 ? r[6] : NAN;
        return box_class(h, r[5]) >= 0 ? r[4] : NAN;
    }
}


/* Write row i as candidate k. */
static void put_row(const vgc_onnx_head *h, const float *out, int i, int w, int hh, float thresh,
                    vigia_candidates *c, int k)
{
    float *box = c->box + 4 * (size_t)k, *prob = c->prob + (size_t)k * h->classes;
    const float *r = out + (size_t)i * h->cols;

    if (h->kind == VGC_HEAD_YOLOV5) {
        box[0] = r[0] / (float)w;
        box[1] = r[1] / (float)hh;
        box[2] = r[2] / (float)w;
        box[3] = r[3] / (float)hh;
        c->objectness[k] = r[4];
        for (int j = 0; j < h->classes; j++) {
            const float p = r[4] * r[5 + j];
            prob[j] = p > thresh ? p : 0.0f;
        }
    } else if (h->kind == VGC_HEAD_YOLOV8) {
        for (int j = 0; j < 4; j++)
            box[j] = out[(size_t)j * h->n + i] / (float)(j % 2 ? hh : w);
        c->objectness[k] = 1.0f;
        for (int j = 0; j < h->classes; j++) {
            const float p = out[(size_t)(4 + j) * h->n + i];
            prob[j] = p > thresh ? p : 0.0f;
        }
    } else {
        const float *q = h->cols == 7 ? r + 1 : r;            /* x1, y1, x2, y2 */
        const float score = h->cols == 7 ? r[6] : r[4];
        box[0] = (q[0] + q[2]) / 2 / (float)w;
        box[1] = (q[1] + q[3]) / 2 / (float)hh;
        box[2] = (q[2] - q[0]) / (float)w;
        box[3] = (q[3] - q[1]) / (float)hh;
        c->objectness[k] = 1.0f;
        memset(prob, 0, (size_t)h->classes * sizeof *prob);
        prob[box_class(h, r[5])] = score;
    }
}


void vgc_onnx_head_decode(const vgc_onnx_head *h, const float *out, int in_w, int in_h, float thresh,
                          vgc_head_row *order, vigia_candidates *c)
{
    int n = 0;

    for (int i = 0; i < h->n; i++) {
        const float conf = row_confidence(h, out, i);
        if (conf > thresh)
            order[n++] = (vgc_head_row){ conf, i };
    }
    c->truncated = (uint32_t)n > c->capacity;
    if (c->truncated) {
        qsort(order, (size_t)n, sizeof *order, by_confidence);
        n = (int)c->capacity;
    }
    for (int k = 0; k < n; k++)
        put_row(h, out, order[k].i, in_w, in_h, thresh, c, k);
    c->count = (uint32_t)n;
}
