/*
 * backends/cpu/onnx_rewrite.c: graph rewriting at load (constant folding,
 * BatchNormalization and activation fusion into Conv, no-op removal).
 * See onnx_rewrite.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_rewrite.h"

static int live(const vgc_onnx_node *n)
{
    return !n->removed && !n->folded;
}


static int is_graph_output(const vgc_onnx_graph *g, int v)
{
    for (int i = 0; i < g->nout; i++)
        if (g->out[i] == v)
            return 1;
    return 0;
}


/* Readers of value v: inputs of live nodes, plus one per graph output naming it. */
static int uses(const vgc_onnx_graph *g, int v)
{
    int n = is_graph_output(g, v);

    for (int i = 0; i < g->nnode; i++) {
        if (!live(&g->node[i]))
            continue;
        for (int k = 0; k < g->node[i].nin; k++)
            n += g->node[i].in[k] == v;
    }
    return n;
}


/* The only live node reading v (v not a graph output), or -1. */
static int sole_reader(const vgc_onnx_graph *g, int v)
{
    int who = -1;

    if (uses(g, v) != 1)
        return -1;
    for (int i = 0; i < g->nnode; i++) {
        if (!live(&g->node[i]))
            continue;
        for (int k = 0; k < g->node[i].nin; k++)
            if (g->node[i].in[k] == v)
                who = i;
    }
    return who;
}


static float attr_float(const vgc_onnx_node *n, const char *name, float def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(n, name);

    return a && a->type == VGC_AT_FLOAT ? a->f : def;
}


/* ---- constant folding of float layout ops ------------------------------------------- */

/* dst = x transposed by perm (x's dims, rank r). */
static void transpose_const(const float *x, const int64_t *dims, int r, const int64_t *perm, float *dst)
{
    int64_t stride[VGC_ONNX_MAX_RANK], odims[VGC_ONNX_MAX_RANK], ostride[VGC_ONNX_MAX_RANK], idx[VGC_ONNX_MAX_RANK];
    int64_t count = 1, s = 1;

    for (int i = r - 1; i >= 0; i--) {
        stride[i] = s;
        s *= dims[i];
    }
    for (int i = 0; i < r; i++) {
        odims[i] = dims[perm[i]];
        ostride[i] = stride[perm[i]];
        count *= odims[i];
        idx[i] = 0;
    }
    for (int64_t o = 0; o < count; o++) {
        int64_t off = 0;
        for (int i = 0; i < r; i++)
            off += idx[i] * ostride[i];
        dst[o] = x[off];
        for (int i = r - 1; i >= 0 && ++idx[i] == odims[i]; i--)
            idx[i] = 0;
    }
}


static int fold_layout(vgc_onnx_graph *g, vgc_onnx_node *n, char *err, size_t errlen)
{
    const vgc_onnx_value *x;
    vgc_onnx_value *y;
    int64_t perm[VGC_ONNX_MAX_RANK];

    if (n->nin < 1 || n->in[0] < 0 || n->nout != 1)
        return 0;
    x = &g->val[n->in[0]];
    y = &g->val[n->out[0]];
    if (!x->data || x->dtype != VGC_DT_FLOAT || y->data)
        return 0;
    y->data = malloc((size_t)(y->count ? y->count : 1) * sizeof(float));
    if (!y->data)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory folding '%s'", n->name);
    if (n->op == VGC_OP_TRANSPOSE) {
        const vgc_onnx_attr *p = vgc_onnx_attr_get(n, "perm");
        for (int i = 0; i < x->rank; i++)
            perm[i] = p && p->n == x->rank ? p->ints[i] : x->rank - 1 - i;
        transpose_const(x->data, x->dims, x->rank, perm, y->data);
    } else {
        memcpy(y->data, x->data, (size_t)x->count * sizeof(float));
    }
    n->folded = 1;
    return 0;
}

/* ---- fusions into Conv ------------------------------------------------------------------- */

/* Fold BatchNormalization node b into Conv node c (c's output read by b alone). */
static int fold_bn(vgc_onnx_graph *g, vgc_onnx_node *c, vgc_onnx_node *b)
{
    vgc_onnx_value *w = &g->val[c->in[1]];
    vgc_onnx_value *bias = c->nin > 2 && c->in[2] >= 0 ? &g->val[c->in[2]] : NULL;
    const float *s = g->val[b->in[1]].data, *m = g->val[b->in[3]].data, *v = g->val[b->in[4]].data;
    vgc_onnx_value *bb = &g->val[b->in[2]];
    const float eps = attr_float(b, "epsilon", 1e-5f);
    const int64_t f = w->dims[0], per = w->count / f;

    if (b->nout != 1 || !s || !m || !v || !bb->data || uses(g, c->in[1]) != 1 ||
        (bias && (uses(g, c->in[2]) != 1 || !bias->data)) || (!bias && uses(g, b->in[2]) != 1))
        return 0;
    /* BN's own bias becomes the conv's bias: y = (conv + b0 - m) * s / sqrt(v + eps) + bb */
    for (int64_t o = 0; o < f; o++) {
        const double k = (double)s[o] / sqrt((double)v[o] + (double)eps);
        const float b0 = bias ? ((float *)bias->data)[o] : 0.0f;
        float *wo = (float *)w->data + o * per;
        for (int64_t i = 0; i < per; i++)
            wo[i] = (float)(wo[i] * k);
        ((float *)bb->data)[o] = (float)(((double)b0 - m[o]) * k + ((float *)bb->data)[o]);
    }
    if (!bias) {
        int *in = realloc(c->in, 3 * sizeof(int));
        if (!in)
            return VIGIA_ENOMEM;
        c->in = in;
        c->nin = 3;
    }
    c->in[2] = b->in[2];
    c->out[0] = b->out[0];
    g->val[c->out[0]].producer = (int)(c - g->node);
    b->removed = 1;
    return 1;
}


/* A constant scalar float input k of n, or def when omitted. */
static int scalar_in(const vgc_onnx_graph *g, const vgc_onnx_node *n, int k, float def, float *out)
{
    const vgc_onnx_value *v;

    *out = def;
    if (n->nin <= k || n->in[k] < 0)
        return 1;
    v = &g->val[n->in[k]];
    if (!v->data || v->dtype != VGC_DT_FLOAT || v->count != 1)
        return 0;
    *out = *(const float *)v->data;
    return 1;
}


/* Fuse the activation node a reading c's output alone (c a Conv, or a same-shape Add); 1 when done. */
static int fuse_act(vgc_onnx_graph *g, vgc_onnx_node *c, vgc_onnx_node *a)
{
    int act = VGC_OA_NONE;
    float p = 0, q = 0;

    if (a->nout != 1 || a->nin < 1 || a->in[0] != c->out[0])
        return 0;
    switch (a->op) {
    case VGC_OP_RELU: act = VGC_OA_RELU; break;
    case VGC_OP_LEAKY_RELU: act = VGC_OA_LEAKY; p = attr_float(a, "alpha", 0.01f); break;
    case VGC_OP_SIGMOID: act = VGC_OA_SIGMOID; break;
    case VGC_OP_HARD_SIGMOID:
        act = VGC_OA_HARD_SIGMOID;
        p = attr_float(a, "alpha", 0.2f);
        q = attr_float(a, "beta", 0.5f);
        break;
    case VGC_OP_HARD_SWISH: act = VGC_OA_HARD_SWISH; break;
    case VGC_OP_CLIP:
        if (!scalar_in(g, a, 1, -INFINITY, &p) || !scalar_in(g, a, 2, INFINITY, &q))
            return 0;
        act = VGC_OA_CLIP;
        break;
    default:
        return 0;
    }
    c->act = act;
    c->act_a = p;
    c->act_b = q;
    c->out[0] = a->out[0];
    g->val[c->out[0]].producer = (int)(c - g->node);
    a->removed = 1;
    return 1;
}


/* SiLU after Conv c: y = Mul(x, Sigmoid(x)) with x read by those two alone. */
static int fuse_silu(vgc_onnx_graph *g, vgc_onnx_node *c)
{
    const int x = c->out[0];
    int sig = -1, mul = -1, s, other;

    if (is_graph_output(g, x) || uses(g, x) != 2)
        return 0;
    for (int i = 0; i < g->nnode; i++) {
        const vgc_onnx_node *n = &g->node[i];
        if (!live(n))
            continue;
        if (n->op == VGC_OP_SIGMOID && n->nin == 1 && n->in[0] == x)
            sig = i;
        else if (n->op == VGC_OP_MUL && n->nin == 2 && (n->in[0] == x || n->in[1] == x))
            mul = i;
    }
    if (sig < 0 || mul < 0)
        return 0;
    s = g->node[sig].out[0];
    other = g->node[mul].in[0] == x ? g->node[mul].in[1] : g->node[mul].in[0];
    if (other != s || sole_reader(g, s) != mul || g->val[g->node[mul].out[0]].dims[1] != g->val[x].dims[1] ||
        g->val[g->node[mul].out[0]].count != g->val[x].count)
        return 0;
    c->act = VGC_OA_SILU;
    c->out[0] = g->node[mul].out[0];
    g->val[c->out[0]].producer = (int)(c - g->node);
    g->node[sig].removed = g->node[mul].removed = 1;
    return 1;
}

/* ---- no-ops ----------------------------------------------------------------------------- */

static int is_noop(const vgc_onnx_graph *g, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x, *y;

    if (n->nin < 1 || n->in[0] < 0 || n->nout != 1)
        return 0;
    if (n->op == VGC_OP_IDENTITY)
        return 1;
    if (n->op != VGC_OP_RESHAPE)
        return 0;
    x = &g->val[n->in[0]];
    y = &g->val[n->out[0]];
    return x->rank == y->rank && memcmp(x->dims, y->dims, (size_t)x->rank * sizeof(int64_t)) == 0;
}


/* Take no-op n out: its readers read its input, or its input's producer writes its output. */
static void remove_noop(vgc_onnx_graph *g, vgc_onnx_node *n)
{
    const int x = n->in[0], y = n->out[0];
    const int p = g->val[x].producer;

    if (!is_graph_output(g, y)) {
        for (int i = 0; i < g->nnode; i++)
            for (int k = 0; k < g->node[i].nin; k++)
                if (live(&g->node[i]) && g->node[i].in[k] == y)
                    g->node[i].in[k] = x;
        n->removed = 1;
        return;
    }
    if (p < 0 || !live(&g->node[p]) || sole_reader(g, x) != (int)(n - g->node))
        return;                   /* an output naming a graph input or a shared value: keep the copy */
    for (int k = 0; k < g->node[p].nout; k++)
        if (g->node[p].out[k] == x)
            g->node[p].out[k] = y;
    g->val[y].producer = p;
    n->removed = 1;
}


int vgc_onnx_rewrite(vgc_onnx_graph *g, char *err, size_t errlen)
{
    int rc;

    for (int i = 0; i < g->nnode; i++) {
        vgc_onnx_node *n = &g->node[i];
        if (!live(n))
            continue;
        switch (n->op) {
        case VGC_OP_IDENTITY: case VGC_OP_RESHAPE: case VGC_OP_FLATTEN: case VGC_OP_SQUEEZE:
        case VGC_OP_UNSQUEEZE: case VGC_OP_TRANSPOSE:
            if ((rc = fold_layout(g, n, err, errlen)))
                return rc;
            break;
        default:
            break;
        }
    }
    for (int i = 0; i < g->nnode; i++) {
        vgc_onnx_node *c = &g->node[i];
        int r;

        if (!live(c) || c->op != VGC_OP_CONV || is_graph_output(g, c->out[0]))
            continue;
        r = sole_reader(g, c->out[0]);
        if (r >= 0 && g->node[r].op == VGC_OP_BATCH_NORM) {
            if ((rc = fold_bn(g, c, &g->node[r])) < 0)
                return vgc_fail(err, errlen, rc, "out of memory");
            if (is_graph_output(g, c->out[0]))
                continue;
            r = sole_reader(g, c->out[0]);
        }
        if (r >= 0)
            fuse_act(g, c, &g->node[r]);
        else
            fuse_silu(g, c);
    }
    /* a residual Add and the Relu after it (resnet's blocks): one pass over the tensor, not two */
    for (int i = 0; i < g->nnode; i++) {
        vgc_onnx_node *c = &g->node[i];
        int r;
        if (live(c) && c->op == VGC_OP_ADD && c->nin == 2 && c->nout == 1 && c->in[0] >= 0 && c->in[1] >= 0 &&
            g->val[c->in[0]].count == g->val[c->out[0]].count && g->val[c->in[1]].count == g->val[c->out[0]].count &&
            !is_graph_output(g, c->out[0]) && (r = sole_reader(g, c->out[0])) >= 0)
            fuse_act(g, c, &g->node[r]);
    }
    for (int i = 0; i < g->nnode; i++)
        if (live(&g->node[i]) && is_noop(g, &g->node[i]))
            remove_noop(g, &g->node[i]);
    return 0;
}


int vgc_onnx_live_nodes(const vgc_onnx_graph *g)
{
    int n = 0;

    for (int i = 0; i < g->nnode; i++)
        n += live(&g->node[i]);
    return n;
}
