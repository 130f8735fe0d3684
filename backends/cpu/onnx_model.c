/*
 * backends/cpu/onnx_model.c: an ONNX detector over the ONNX reader,
 * rewrites and executor, its output decoded by onnx_head.h (see
 * onnx_model.h).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_exec.h"
#include "onnx_head.h"
#include "onnx_model.h"
#include "onnx_rewrite.h"

struct vgc_onnx_model {
    vgc_onnx_graph *g;
    vgc_onnx_exec *ex;
    int w, h;                 /* input side */
    vgc_onnx_head head;       /* the output's layout */
    vgc_head_row *order;      /* head.n: candidate rows, sorted when there are too many */
};


/* int8 / bf16: as vgc_onnx_exec_precision, on the model's executor. */
int vgc_onnx_model_precision(vgc_onnx_model *m, const vgc_options *opt, const char **note, char *err, size_t errlen)
{
    return vgc_onnx_exec_precision(m->ex, opt, note, err, errlen);
}


/* int8 static ranges: as vgc_onnx_exec_calibrate, on the model's executor. */
int vgc_onnx_model_calibrate(vgc_onnx_model *m, const char *dir, const char *cache_path, const char *model_path,
                             char *note, size_t notelen, char *err, size_t errlen)
{
    return vgc_onnx_exec_calibrate(m->ex, dir, cache_path, model_path, note, notelen, err, errlen);
}


int vgc_onnx_graph_open(vgc_onnx_graph **out, const char *path, int width, int height, char *err, size_t errlen)
{
    vgc_onnx_options opt = { .batch = 1, .width = width, .height = height };
    vgc_onnx_graph *g = NULL;
    const vgc_onnx_value *x;
    int rc;

    *out = NULL;
    if ((rc = vgc_onnx_load(&g, path, &opt, err, errlen)) || (rc = vgc_onnx_rewrite(g, err, errlen)))
        goto fail;
    if (g->nin != 1 || g->nout != 1) {
        rc = vgc_fail(err, errlen, VIGIA_ENOTSUP,
                      "the graph has %d inputs and %d outputs; a detector or a classifier has one each", g->nin,
                      g->nout);
        goto fail;
    }
    x = &g->val[g->in[0]];
    if (x->rank != 4 || x->dims[0] != 1 || x->dims[1] != 3 || x->dims[2] > VGC_MAX_DIM || x->dims[3] > VGC_MAX_DIM) {
        rc = vgc_fail(err, errlen, VIGIA_ENOTSUP, "input '%s' is not [1, 3, height, width]", x->name);
        goto fail;
    }
    *out = g;
    return 0;
fail:
    vgc_onnx_destroy(g);
    return rc;
}


int vgc_onnx_graph_classifies(const vgc_onnx_graph *g)
{
    const vgc_onnx_value *y = &g->val[g->out[0]];

    return y->dims[0] == 1 && (y->rank == 2 || (y->rank == 4 && y->dims[2] == 1 && y->dims[3] == 1)) &&
           y->dims[1] >= 1 && y->dims[1] <= VGC_MAX_CLASSES;
}


int vgc_onnx_model_open(vgc_onnx_model **out, const char *path, int width, int height, char *err, size_t errlen)
{
    return vgc_onnx_model_open_head(out, path, width, height, NULL, 0, err, errlen);
}


int vgc_onnx_model_open_head(vgc_onnx_model **out, const char *path, int width, int height, const char *head,
                             int classes, char *err, size_t errlen)
{
    vgc_onnx_graph *g;
    int rc;

    *out = NULL;
    if ((rc = vgc_onnx_graph_open(&g, path, width, height, err, errlen)))
        return rc;
    return vgc_onnx_model_open_graph(out, g, head, classes, 1, err, errlen);
}


int vgc_onnx_model_open_graph(vgc_onnx_model **out, vgc_onnx_graph *g, const char *head, int classes, int threads,
                              char *err, size_t errlen)
{
    vgc_onnx_model *m = calloc(1, sizeof(*m));
    const vgc_onnx_value *x, *y;
    int rc;

    *out = NULL;
    if (!m) {
        vgc_onnx_destroy(g);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
    m->g = g;
    x = &g->val[g->in[0]];
    y = &g->val[g->out[0]];
    m->h = (int)x->dims[2];
    m->w = (int)x->dims[3];
    if ((rc = vgc_onnx_head_pick(&m->head, head, y->dims, y->rank, classes, y->name, err, errlen)))
        goto fail;
    m->order = malloc((size_t)m->head.n * sizeof *m->order);
    if (!m->order) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = vgc_onnx_exec_create_owner(&m->ex, m->g, threads, err, errlen)))
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
    return m->head.classes;
}


const vgc_onnx_head *vgc_onnx_model_head(const vgc_onnx_model *m)
{
    return &m->head;
}


int vgc_onnx_model_detect(vgc_onnx_model *m, const float *image, float thresh, vigia_candidates *out,
                          char *err, size_t errlen)
{
    int rc;

    if ((rc = vgc_onnx_exec_run(m->ex, &image, err, errlen)))
        return rc;
    vgc_onnx_head_decode(&m->head, vgc_onnx_exec_output(m->ex, 0), m->w, m->h, thresh, m->order, out);
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
