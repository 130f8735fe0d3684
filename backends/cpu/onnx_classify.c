/*
 * backends/cpu/onnx_classify.c: an ONNX image classifier over the ONNX
 * reader, rewrites and executor (see onnx_classify.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_classify.h"
#include "onnx_exec.h"
#include "onnx_model.h"

struct vgc_onnx_classify {
    vgc_onnx_graph *g;
    vgc_onnx_exec *ex;
    int w, h;                 /* input side */
    int classes;              /* scores per image */
    int softmax;              /* the graph ends in its own Softmax: its output is taken as it is */
};


/* Whether the graph's output v comes from a Softmax through shape-only nodes. */
static int ends_in_softmax(const vgc_onnx_graph *g, int v)
{
    for (int hops = 0; hops < 16 && v >= 0 && g->val[v].producer >= 0; hops++) {
        const vgc_onnx_node *n = &g->node[g->val[v].producer];

        switch (n->op) {
        case VGC_OP_SOFTMAX:
            return 1;
        case VGC_OP_RESHAPE: case VGC_OP_FLATTEN: case VGC_OP_SQUEEZE: case VGC_OP_UNSQUEEZE:
        case VGC_OP_IDENTITY:
            v = n->nin > 0 ? n->in[0] : -1;
            break;
        default:
            return 0;
        }
    }
    return 0;
}


int vgc_onnx_classify_open(vgc_onnx_classify **out, const char *path, int width, int height,
                           int *not_classifier, char *err, size_t errlen)
{
    vgc_onnx_graph *g;
    int rc;

    *out = NULL;
    *not_classifier = 0;
    if ((rc = vgc_onnx_graph_open(&g, path, width, height, err, errlen)))
        return rc;
    if (!vgc_onnx_graph_classifies(g))
        *not_classifier = 1;
    return vgc_onnx_classify_open_graph(out, g, 1, err, errlen);
}


int vgc_onnx_classify_open_graph(vgc_onnx_classify **out, vgc_onnx_graph *g, int threads, char *err, size_t errlen)
{
    vgc_onnx_classify *c;
    const vgc_onnx_value *y = &g->val[g->out[0]];
    int rc;

    *out = NULL;
    if (!vgc_onnx_graph_classifies(g)) {
        rc = vgc_fail(err, errlen, VIGIA_ENOTSUP, "output '%s' is not one score per class ([1, classes])", y->name);
        vgc_onnx_destroy(g);
        return rc;
    }
    if (!(c = calloc(1, sizeof(*c)))) {
        vgc_onnx_destroy(g);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
    c->g = g;
    c->h = (int)g->val[g->in[0]].dims[2];
    c->w = (int)g->val[g->in[0]].dims[3];
    c->classes = (int)y->dims[1];
    c->softmax = ends_in_softmax(g, g->out[0]);
    if ((rc = vgc_onnx_exec_create_owner(&c->ex, g, threads, err, errlen))) {
        vgc_onnx_classify_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}


void vgc_onnx_classify_input_size(const vgc_onnx_classify *c, int *w, int *h)
{
    *w = c->w;
    *h = c->h;
}


int vgc_onnx_classify_classes(const vgc_onnx_classify *c)
{
    return c->classes;
}


int vgc_onnx_classify_softmax(const vgc_onnx_classify *c)
{
    return c->softmax;
}


int vgc_onnx_classify_input(const vigia_manifest *m, const float mean[3], const float std[3], vigia_input_desc *in,
                            char *err, size_t errlen)
{
    static const char *const orders[] = { "rgb", "bgr", NULL };
    const char *order;
    int rc, bgr;

    if ((rc = m->get_string(m, "cpu.channels", orders, "rgb", &order, err, errlen)))
        return rc;
    bgr = strcmp(order, "bgr") == 0;
    memset(in, 0, sizeof *in);
    in->dtype = VIGIA_DTYPE_F32;
    in->layout = VIGIA_LAYOUT_NCHW;
    in->channels = bgr ? VIGIA_CHANNELS_BGR : VIGIA_CHANNELS_RGB;
    /* a classifier looks at the whole frame: stretched, unless the manifest says otherwise */
    in->resize = m->get(m, "resize") ? VIGIA_RESIZE_MODEL : VIGIA_RESIZE_STRETCH;
    for (int i = 0; i < 3; i++) {      /* the ABI indexes them in the tensor's channel order */
        in->mean[i] = mean[bgr ? 2 - i : i];
        in->std[i] = std[bgr ? 2 - i : i];
    }
    return 0;
}


int vgc_onnx_classify_run(vgc_onnx_classify *c, const float *image, float *scores, char *err, size_t errlen)
{
    const float *y;
    float mx = -INFINITY;
    double sum = 0;
    int rc;

    if ((rc = vgc_onnx_exec_run(c->ex, &image, err, errlen)))
        return rc;
    y = vgc_onnx_exec_output(c->ex, 0);
    if (c->softmax) {
        for (int k = 0; k < c->classes; k++)
            scores[k] = isfinite(y[k]) ? fminf(fmaxf(y[k], 0.0f), 1.0f) : 0.0f;
        return 0;
    }
    for (int k = 0; k < c->classes; k++)
        if (isfinite(y[k]))
            mx = fmaxf(mx, y[k]);
    if (!isfinite(mx))
        return vgc_fail(err, errlen, VIGIA_EBACKEND, "the graph's output has no finite score");
    for (int k = 0; k < c->classes; k++)
        sum += (scores[k] = isfinite(y[k]) ? expf(y[k] - mx) : 0.0f);
    for (int k = 0; k < c->classes; k++)
        scores[k] = (float)(scores[k] / sum);
    return 0;
}


void vgc_onnx_classify_destroy(vgc_onnx_classify *c)
{
    if (!c)
        return;
    vgc_onnx_exec_destroy(c->ex);
    vgc_onnx_destroy(c->g);
    free(c);
}
