/*
 * backends/cpu/onnx_model.c: a YOLOv5-style ONNX detector over the ONNX
 * reader, rewrites and executor (see onnx_model.h).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_exec.h"
#include "onnx_model.h"
#include "onnx_read.h"
#include "onnx_rewrite.h"

struct row;

struct vgc_onnx_model {
    vgc_onnx_graph *g;
    vgc_onnx_exec *ex;
    int w, h;                 /* input side */
    int n, classes;           /* rows of the head, classes per row */
    struct row *order;        /* n: candidate rows, sorted when there are too many */
};

/* A candidate row and its objectness. */
struct row {
    float obj;
    int i;
};


int vgc_onnx_model_open(vgc_onnx_model **out, const char *path, int width, int height, char *err, size_t errlen)
{
    vgc_onnx_options opt = { .batch = 1, .width = width, .height = height };
    vgc_onnx_model *m = calloc(1, sizeof(*m));
    const vgc_onnx_value *x, *y;
    int rc;

    *out = NULL;
    if (!m)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    if ((rc = vgc_onnx_load(&m->g, path, &opt, err, errlen)) || (rc = vgc_onnx_rewrite(m->g, err, errlen)))
        goto fail;
    if (m->g->nin != 1 || m->g->nout != 1) {
        rc = vgc_fail(err, errlen, VIGIA_ENOTSUP, "the graph has %d inputs and %d outputs; a detector has one each",
                      m->g->nin, m->g->nout);
        goto fail;
    }
    x = &m->g->val[m->g->in[0]];
    y = &m->g->val[m->g->out[0]];
    if (x->rank != 4 || x->dims[0] != 1 || x->dims[1] != 3 || x->dims[2] > VGC_MAX_DIM || x->dims[3] > VGC_MAX_DIM) {
        rc = vgc_fail(err, errlen, VIGIA_ENOTSUP, "input '%s' is not [1, 3, height, width]", x->name);
        goto fail;
    }
    if (y->rank != 3 || y->dims[0] != 1 || y->dims[2] < 6 || y->dims[2] - 5 > VGC_MAX_CLASSES ||
        y->dims[1] > ((int64_t)1 << 24)) {
        rc = vgc_fail(err, errlen, VIGIA_ENOTSUP,
                      "output '%s' is not a YOLOv5-style head [1, boxes, 5 + classes]", y->name);
        goto fail;
    }
    m->h = (int)x->dims[2];
    m->w = (int)x->dims[3];
    m->n = (int)y->dims[1];
    m->classes = (int)y->dims[2] - 5;
    m->order = malloc((size_t)m->n * sizeof(struct row));
    if (!m->order) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = vgc_onnx_exec_create(&m->ex, m->g, err, errlen)))
        goto fail;
    *out = m;
    return 0;
fail:
    vgc_onnx_model_destroy(m);
    return rc;
}


void vgc_onnx_model_input_size(const vgc_onnx_model *m, int *w, int *h)
{
    *w = m->w;
    *h = m->h;
}


int vgc_onnx_model_classes(const vgc_onnx_model *m)
{
    return m->classes;
}


/* qsort: rows by objectness, highest first, then in row order. */
static int by_objectness(const void *a, const void *b)
{
    const struct row *x = a, *y = b;

    return x->obj < y->obj ? 1 : x->obj > y->obj ? -1 : x->i - y->i;
}


int vgc_onnx_model_detect(vgc_onnx_model *m, const float *image, float thresh, vigia_candidates *out,
                          char *err, size_t errlen)
{
    const int stride = 5 + m->classes;
    const float *rows;
    int rc, n = 0;

    if ((rc = vgc_onnx_exec_run(m->ex, &image, err, errlen)))
        return rc;
    rows = vgc_onnx_exec_output(m->ex, 0);
    for (int i = 0; i < m->n; i++)
        if (rows[(size_t)i * stride + 4] > thresh)
            m->order[n++] = (struct row){ rows[(size_t)i * stride + 4], i };
    out->truncated = (uint32_t)n > out->capacity;
    if (out->truncated) {
        qsort(m->order, (size_t)n, sizeof(struct row), by_objectness);
        n = (int)out->capacity;
    }
    for (int k = 0; k < n; k++) {
        const float *r = rows + (size_t)m->order[k].i * stride;
        out->box[4 * k + 0] = r[0] / (float)m->w;
        out->box[4 * k + 1] = r[1] / (float)m->h;
        out->box[4 * k + 2] = r[2] / (float)m->w;
        out->box[4 * k + 3] = r[3] / (float)m->h;
        out->objectness[k] = r[4];
        for (int c = 0; c < m->classes; c++) {
            const float p = r[4] * r[5 + c];
            out->prob[(size_t)k * m->classes + c] = p > thresh ? p : 0.0f;
        }
    }
    out->count = (uint32_t)n;
    return 0;
}


void vgc_onnx_model_destroy(vgc_onnx_model *m)
{
    if (!m)
        return;
    vgc_onnx_exec_destroy(m->ex);
    vgc_onnx_destroy(m->g);
    free(m->order);
    free(m);
}
