/*
 * backends/cpu/onnx_shape.c: static shape inference for the ONNX reader.
 *
 * vgc_onnx__infer() gives the outputs of one node their element type and
 * shape from its inputs' (which the file order guarantees are known), and
 * computes at load the small int64 tensors exports build shapes with
 * (Shape, Gather, Unsqueeze, Concat, Slice, arithmetic...), so that the
 * Reshape, Slice, Resize, Split... reading them get static shapes too. What
 * cannot be inferred statically is refused, naming the node and op.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx_read.h"

/* One inference step: the graph, the node and the error sink. */
typedef struct infer_ctx {
    vgc_onnx_graph *g;
    vgc_onnx_node *n;
    char *err;
    size_t errlen;
} infer_ctx;

#define FAIL(c, code, ...) fail_node((c), (code), __VA_ARGS__)

__attribute__((format(printf, 3, 4)))
static int fail_node(const infer_ctx *c, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vgc_fail(c->err, c->errlen, code, "node '%s' (%s): %s", c->n->name,
                    vgc_onnx_op_name(c->n->op), msg);
}


static vgc_onnx_value *in_val(const infer_ctx *c, int i)
{
    return i < c->n->nin && c->n->in[i] >= 0 ? &c->g->val[c->n->in[i]] : NULL;
}


static int64_t attr_int(const infer_ctx *c, const char *name, int64_t def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(c->n, name);
    return a && a->type == VGC_AT_INT ? a->i : def;
}


/* Set output k's type and shape; allocates its data when `constant`. */
static int out_set(const infer_ctx *c, int k, int dtype, const int64_t *dims, int rank, int constant)
{
    vgc_onnx_value *v;
    int64_t count = 1;

    if (k >= c->n->nout || c->n->out[k] < 0)
        return 0;
    v = &c->g->val[c->n->out[k]];
    if (rank < 0 || rank > VGC_ONNX_MAX_RANK)
        return FAIL(c, VIGIA_ENOTSUP, "output of rank %d", rank);
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > VGC_ONNX_MAX_DIM)
            return FAIL(c, VIGIA_EINVAL, "output dimension %d is %lld", i, (long long)dims[i]);
        v->dims[i] = dims[i];
        count *= dims[i];
        if (count > VGC_ONNX_MAX_ELEMS)
            return FAIL(c, VIGIA_EINVAL, "output has more than %lld elements", (long long)VGC_ONNX_MAX_ELEMS);
    }
    v->rank = rank;
    v->count = count;
    v->dtype = dtype;
    if (constant) {
        if (count > VGC_ONNX_MAX_FOLD)
            return FAIL(c, VIGIA_ENOTSUP, "a constant of %lld elements to compute at load", (long long)count);
        v->data = calloc((size_t)(count ? count : 1), sizeof(int64_t));
        if (!v->data)
            return FAIL(c, VIGIA_ENOMEM, "out of memory");
    }
    return 0;
}


/* The input i must be a constant int64 tensor (shape arguments). */
static int need_const_i64(const infer_ctx *c, int i, const char *what, const vgc_onnx_value **out)
{
    const vgc_onnx_value *v = in_val(c, i);

    if (!v)
        return FAIL(c, VIGIA_EINVAL, "no %s input", what);
    if (!v->data || v->dtype != VGC_DT_INT64)
        return FAIL(c, VIGIA_ENOTSUP, "%s '%.64s' is not an int64 constant at load", what, v->name);
    if (v->rank > 1)
        return FAIL(c, VIGIA_EINVAL, "%s is not a list", what);
    *out = v;
    return 0;
}


/* Normalise axis a of a rank-r tensor (negative counts from the end). */
static int axis_norm(const infer_ctx *c, int64_t a, int r, int *out)
{
    *out = 0;
    if (a < -r || a >= r || r == 0)
        return FAIL(c, VIGIA_EINVAL, "axis %lld out of range for rank %d", (long long)a, r);
    *out = (int)(a < 0 ? a + r : a);
    return 0;
}


static int need_inputs(const infer_ctx *c, int lo, int hi)
{
    if (c->n->nin < lo || c->n->nin > hi)
        return FAIL(c, VIGIA_EINVAL, "%d inputs, expected %d to %d", c->n->nin, lo, hi);
    for (int i = 0; i < lo; i++)
        if (c->n->in[i] < 0)
            return FAIL(c, VIGIA_EINVAL, "required input %d is empty", i);
    return 0;
}


static int need_outputs(const infer_ctx *c, int hi)
{
    if (c->n->nout > hi)
        return FAIL(c, VIGIA_ENOTSUP, "%d outputs, at most %d supported", c->n->nout, hi);
    return 0;
}


/* ---- elementwise ------------------------------------------------------------------- */

/*
 * An Identity of a float constant (torch.onnx shares equal initializers,
 * a convolution's zero biases say, through Identity nodes): its output
 * becomes a constant too, so that a Conv reading it has its weights at
 * load. Copies stop at the initializers' own size (no amplification);
 * past that the Identity stays a node.
 */
static int copy_float_constant(const infer_ctx *c, const vgc_onnx_value *x)
{
    vgc_onnx_graph *g = c->g;
    vgc_onnx_value *y = &g->val[c->n->out[0]];

    if (!g->copy_set) {
        g->copy_left = 0;
        for (int i = 0; i < g->nval; i++)
            if (g->val[i].is_init && g->val[i].data && g->val[i].dtype == VGC_DT_FLOAT)
                g->copy_left += g->val[i].count;
        g->copy_set = 1;
    }
    if (x->count > g->copy_left || y->data)
        return 0;
    y->data = malloc((size_t)(x->count ? x->count : 1) * sizeof(float));
    if (!y->data)
        return FAIL(c, VIGIA_ENOMEM, "out of memory");
    memcpy(y->data, x->data, (size_t)x->count * sizeof(float));
    g->copy_left -= x->count;
    c->n->folded = 1;
    return 0;
}


static int infer_unary(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int rc = need_outputs(c, 1), constant;

    if (rc)
        return rc;
    if (x->dtype != VGC_DT_FLOAT && c->n->op != VGC_OP_IDENTITY)
        return FAIL(c, VIGIA_ENOTSUP, "input '%.64s' is not float32", x->name);
    constant = c->n->op == VGC_OP_IDENTITY && x->data && x->dtype == VGC_DT_INT64;
    rc = out_set(c, 0, x->dtype, x->dims, x->rank, constant);
    if (rc == 0 && constant) {
        memcpy(c->g->val[c->n->out[0]].data, x->data, (size_t)x->count * sizeof(int64_t));
        c->n->folded = 1;
    }
    if (rc == 0 && c->n->op == VGC_OP_IDENTITY && x->data && x->dtype == VGC_DT_FLOAT)
        rc = copy_float_constant(c, x);
    return rc;
}


static int infer_binary(const infer_ctx *c)
{
    const vgc_onnx_value *a = in_val(c, 0), *b = in_val(c, 1);
    int64_t dims[VGC_ONNX_MAX_RANK];
    int r, rc, fold;

    if ((rc = need_inputs(c, 2, 2)) || (rc = need_outputs(c, 1)))
        return rc;
    r = a->rank > b->rank ? a->rank : b->rank;
    if (a->dtype != b->dtype && c->n->op != VGC_OP_POW)
        return FAIL(c, VIGIA_EINVAL, "inputs of different element types");
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return FAIL(c, VIGIA_EINVAL, "shapes do not broadcast (dimension %d: %lld and %lld)", i,
                        (long long)da, (long long)db);
        dims[i] = da == 1 ? db : da;
    }
    fold = a->dtype == VGC_DT_INT64 && a->data && b->data && c->n->op != VGC_OP_POW;
    if (a->dtype == VGC_DT_INT64 && !fold)
        return FAIL(c, VIGIA_ENOTSUP, "int64 arithmetic on values not known at load");
    rc = out_set(c, 0, a->dtype, dims, r, fold);
    if (rc || !fold)
        return rc;
    {
        vgc_onnx_value *o = &c->g->val[c->n->out[0]];
        const int64_t *pa = a->data, *pb = b->data;
        int64_t *po = o->data;
        for (int64_t k = 0; k < o->count; k++) {
            /* index of k in a and b under broadcasting */
            int64_t rem = k, ka = 0, kb = 0, sa = 1, sb = 1;
            for (int i = r - 1; i >= 0; i--) {
                int64_t idx = rem % dims[i];
                int ia = i - (r - a->rank), ib = i - (r - b->rank);
                rem /= dims[i];
                if (ia >= 0) {
                    ka += (a->dims[ia] == 1 ? 0 : idx) * sa;
                    sa *= a->dims[ia];
                }
                if (ib >= 0) {
                    kb += (b->dims[ib] == 1 ? 0 : idx) * sb;
                    sb *= b->dims[ib];
                }
            }
            switch (c->n->op) {
            case VGC_OP_ADD: po[k] = (int64_t)((uint64_t)pa[ka] + (uint64_t)pb[kb]); break;
            case VGC_OP_SUB: po[k] = (int64_t)((uint64_t)pa[ka] - (uint64_t)pb[kb]); break;
            case VGC_OP_MUL: po[k] = (int64_t)((uint64_t)pa[ka] * (uint64_t)pb[kb]); break;
            default:
                if (pb[kb] == 0 || (pa[ka] == INT64_MIN && pb[kb] == -1))
                    return FAIL(c, VIGIA_EINVAL, "integer division by zero or overflow at load");
                po[k] = pa[ka] / pb[kb];
            }
        }
        c->n->folded = 1;
    }
    return 0;
}


/* ---- convolution and pooling --------------------------------------------------------- */

/* Spatial attributes of Conv, ConvTranspose, MaxPool, AveragePool (2-D only). */
typedef struct window {
    int64_t k[2], s[2], d[2], pb[2], pe[2];
    int same_upper, same_lower, valid;
} window;

static int ints_attr(const infer_ctx *c, const char *name, int want, int64_t *dst, int64_t def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(c->n, name);

    for (int i = 0; i < want; i++)
        dst[i] = def;
    if (!a)
        return 0;
    if (a->type != VGC_AT_INTS || a->n != want)
        return FAIL(c, VIGIA_EINVAL, "attribute '%s' must hold %d integers", name, want);
    for (int i = 0; i < want; i++)
        dst[i] = a->ints[i];
    return 0;
}


static int window_read(const infer_ctx *c, window *w, const int64_t *kernel)
{
    const vgc_onnx_attr *ap = vgc_onnx_attr_get(c->n, "auto_pad");
    int64_t pads[4];
    int rc;

    memset(w, 0, sizeof(*w));
    if ((rc = ints_attr(c, "kernel_shape", 2, w->k, 0)) || (rc = ints_attr(c, "strides", 2, w->s, 1)) ||
        (rc = ints_attr(c, "dilations", 2, w->d, 1)) || (rc = ints_attr(c, "pads", 4, pads, 0)))
        return rc;
    for (int i = 0; i < 2; i++) {
        if (kernel && vgc_onnx_attr_get(c->n, "kernel_shape") && w->k[i] != kernel[i])
            return FAIL(c, VIGIA_EINVAL, "kernel_shape disagrees with the weights");
        if (kernel)
            w->k[i] = kernel[i];
        w->pb[i] = pads[i];
        w->pe[i] = pads[i + 2];
        if (w->k[i] < 1 || w->k[i] > VGC_MAX_KERNEL || w->s[i] < 1 || w->s[i] > 64 || w->d[i] < 1 ||
            w->d[i] > 64 || w->pb[i] < 0 || w->pe[i] < 0 || w->pb[i] > 64 || w->pe[i] > 64)
            return FAIL(c, VIGIA_ENOTSUP, "kernel %lld, stride %lld, dilation %lld or pads %lld/%lld out of range",
                        (long long)w->k[i], (long long)w->s[i], (long long)w->d[i], (long long)w->pb[i],
                        (long long)w->pe[i]);
    }
    if (ap && ap->type == VGC_AT_STRING && strcmp(ap->s, "NOTSET") != 0) {
        w->same_upper = strcmp(ap->s, "SAME_UPPER") == 0;
        w->same_lower = strcmp(ap->s, "SAME_LOWER") == 0;
        w->valid = strcmp(ap->s, "VALID") == 0;
        if (!w->same_upper && !w->same_lower && !w->valid)
            return FAIL(c, VIGIA_EINVAL, "auto_pad '%.32s'", ap->s);
    }
    return 0;
}


/* Output side of a forward window over `in` (resolving auto_pad into pads). */
static int window_out(const infer_ctx *c, window *w, int i, int64_t in, int ceil_mode, int64_t *out)
{
    int64_t ext = (w->k[i] - 1) * w->d[i] + 1, o;

    if (w->same_upper || w->same_lower) {
        int64_t total;
        o = (in + w->s[i] - 1) / w->s[i];
        total = (o - 1) * w->s[i] + ext - in;
        if (total < 0)
            total = 0;
        w->pb[i] = w->same_upper ? total / 2 : total - total / 2;
        w->pe[i] = total - w->pb[i];
    } else if (w->valid) {
        w->pb[i] = w->pe[i] = 0;
    }
    in += w->pb[i] + w->pe[i];
    if (in < ext)
        return FAIL(c, VIGIA_EINVAL, "window %lld is larger than the padded input %lld", (long long)ext,
                    (long long)in);
    o = ceil_mode ? (in - ext + w->s[i] - 1) / w->s[i] + 1 : (in - ext) / w->s[i] + 1;
    if (ceil_mode && (o - 1) * w->s[i] >= in - w->pe[i])
        o--;                      /* the last window must start inside the input or left pad */
    *out = o;
    return 0;
}


static int infer_conv(const infer_ctx *c, int transpose)
{
    const vgc_onnx_value *x = in_val(c, 0), *wt = in_val(c, 1), *b = in_val(c, 2);
    int64_t group = attr_int(c, "group", 1), dims[4], cin_w, m;
    window w;
    int rc;

    if ((rc = need_inputs(c, 2, 3)) || (rc = need_outputs(c, 1)))
        return rc;
    if (x->rank != 4 || wt->rank != 4)
        return FAIL(c, VIGIA_ENOTSUP, "only 2-D convolutions (4-D input and weights) are supported");
    if (!wt->data || wt->dtype != VGC_DT_FLOAT || (b && (!b->data || b->dtype != VGC_DT_FLOAT)))
        return FAIL(c, VIGIA_ENOTSUP, "weights and bias must be float32 initializers");
    if ((rc = window_read(c, &w, wt->dims + 2)))
        return rc;
    if (group < 1 || group > x->dims[1] || x->dims[1] % group)
        return FAIL(c, VIGIA_EINVAL, "group %lld does not divide %lld channels", (long long)group,
                    (long long)x->dims[1]);
    if (!transpose) {
        m = wt->dims[0];
        cin_w = wt->dims[1];
        if (cin_w * group != x->dims[1] || m % group)
            return FAIL(c, VIGIA_EINVAL, "weights [%lld, %lld, ...] do not fit %lld input channels in %lld groups",
                        (long long)m, (long long)cin_w, (long long)x->dims[1], (long long)group);
    } else {
        if (wt->dims[0] != x->dims[1])
            return FAIL(c, VIGIA_EINVAL, "weights have %lld input channels, the input %lld",
                        (long long)wt->dims[0], (long long)x->dims[1]);
        m = wt->dims[1] * group;
        if (vgc_onnx_attr_get(c->n, "output_shape"))
            return FAIL(c, VIGIA_ENOTSUP, "attribute output_shape is not supported (give pads)");
    }
    if (b && (b->rank != 1 || b->dims[0] != m))
        return FAIL(c, VIGIA_EINVAL, "bias does not have %lld entries", (long long)m);
    dims[0] = x->dims[0];
    dims[1] = m;
    for (int i = 0; i < 2; i++) {
        if (!transpose) {
            if ((rc = window_out(c, &w, i, x->dims[2 + i], 0, &dims[2 + i])))
                return rc;
        } else {
            int64_t op[2], ext = (w.k[i] - 1) * w.d[i] + 1;
            if ((rc = ints_attr(c, "output_padding", 2, op, 0)))
                return rc;
            if (w.same_upper || w.same_lower || w.valid)
                return FAIL(c, VIGIA_ENOTSUP, "auto_pad on ConvTranspose is not supported");
            if (op[i] < 0 || op[i] >= w.s[i])
                return FAIL(c, VIGIA_EINVAL, "output_padding %lld", (long long)op[i]);
            dims[2 + i] = w.s[i] * (x->dims[2 + i] - 1) + op[i] + ext - w.pb[i] - w.pe[i];
            if (dims[2 + i] < 1)
                return FAIL(c, VIGIA_EINVAL, "output would be empty");
        }
    }
    return out_set(c, 0, VGC_DT_FLOAT, dims, 4, 0);
}


static int infer_pool(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int64_t dims[4];
    window w;
    int rc;

    if ((rc = need_inputs(c, 1, 1)) || (rc = need_outputs(c, 1)))
        return rc;
    if (x->rank != 4)
        return FAIL(c, VIGIA_ENOTSUP, "only 2-D pooling (4-D input) is supported");
    if (c->n->op == VGC_OP_GLOBAL_AVG_POOL) {
        dims[0] = x->dims[0], dims[1] = x->dims[1], dims[2] = dims[3] = 1;
        return out_set(c, 0, VGC_DT_FLOAT, dims, 4, 0);
    }
    if (!vgc_onnx_attr_get(c->n, "kernel_shape"))
        return FAIL(c, VIGIA_EINVAL, "no kernel_shape");
    if ((rc = window_read(c, &w, NULL)))
        return rc;
    if (c->n->op == VGC_OP_AVG_POOL && (w.d[0] != 1 || w.d[1] != 1))
        return FAIL(c, VIGIA_ENOTSUP, "dilated average pooling");
    if (c->n->op == VGC_OP_MAX_POOL && attr_int(c, "storage_order", 0))
        return FAIL(c, VIGIA_ENOTSUP, "storage_order 1");
    dims[0] = x->dims[0], dims[1] = x->dims[1];
    for (int i = 0; i < 2; i++)
        if ((rc = window_out(c, &w, i, x->dims[2 + i], attr_int(c, "ceil_mode", 0) != 0, &dims[2 + i])))
            return rc;
    return out_set(c, 0, VGC_DT_FLOAT, dims, 4, 0);
}


static int infer_bn(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int rc;

    if ((rc = need_inputs(c, 5, 5)) || (rc = need_outputs(c, 1)))
        return rc;
    if (attr_int(c, "training_mode", 0))
        return FAIL(c, VIGIA_ENOTSUP, "training_mode 1");
    if (x->rank < 2)
        return FAIL(c, VIGIA_EINVAL, "input of rank %d", x->rank);
    for (int i = 1; i < 5; i++) {
        const vgc_onnx_value *p = in_val(c, i);
        if (!p->data || p->dtype != VGC_DT_FLOAT || p->rank != 1 || p->dims[0] != x->dims[1])
            return FAIL(c, VIGIA_ENOTSUP, "parameter '%.64s' is not a float32 initializer of %lld entries",
                        p->name, (long long)x->dims[1]);
    }
    return infer_unary(c);
}


static int infer_clip(const infer_ctx *c)
{
    int rc;

    if ((rc = need_inputs(c, 1, 3)))
        return rc;
    for (int i = 1; i < c->n->nin; i++) {
        const vgc_onnx_value *v = in_val(c, i);
        if (v && (!v->data || v->dtype != VGC_DT_FLOAT || v->count != 1))
            return FAIL(c, VIGIA_ENOTSUP, "min and max must be float32 scalar constants");
    }
    return infer_unary(c);
}


/* ---- layout ------------------------------------------------------------------------ */

static int infer_concat(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int64_t dims[VGC_ONNX_MAX_RANK];
    int axis, rc, fold = 1;

    if ((rc = need_inputs(c, 1, VGC_ONNX_MAX_NODE_IO)) || (rc = need_outputs(c, 1)))
        return rc;
    if (!vgc_onnx_attr_get(c->n, "axis"))
        return FAIL(c, VIGIA_EINVAL, "no axis");
    if ((rc = axis_norm(c, attr_int(c, "axis", 0), x->rank, &axis)))
        return rc;
    memcpy(dims, x->dims, sizeof(dims));
    dims[axis] = 0;
    for (int i = 0; i < c->n->nin; i++) {
        const vgc_onnx_value *v = in_val(c, i);
        if (!v)
            return FAIL(c, VIGIA_EINVAL, "input %d is empty", i);
        if (v->rank != x->rank || v->dtype != x->dtype)
            return FAIL(c, VIGIA_EINVAL, "input '%.64s' differs in rank or type", v->name);
        for (int d = 0; d < x->rank; d++)
            if (d != axis && v->dims[d] != x->dims[d])
                return FAIL(c, VIGIA_EINVAL, "input '%.64s' differs in dimension %d", v->name, d);
        dims[axis] += v->dims[axis];
        fold &= v->data != NULL;
    }
    fold &= x->dtype == VGC_DT_INT64;
    if (x->dtype == VGC_DT_INT64 && !fold)
        return FAIL(c, VIGIA_ENOTSUP, "int64 values not known at load");
    if ((rc = out_set(c, 0, x->dtype, dims, x->rank, fold)) || !fold)
        return rc;
    {
        /* outer x (axis dims x inner) blocks, input after input */
        int64_t outer = 1, inner = 1, pos = 0;
        int64_t *o = c->g->val[c->n->out[0]].data;
        for (int d = 0; d < axis; d++)
            outer *= dims[d];
        for (int d = axis + 1; d < x->rank; d++)
            inner *= dims[d];
        for (int64_t k = 0; k < outer; k++)
            for (int i = 0; i < c->n->nin; i++) {
                const vgc_onnx_value *v = in_val(c, i);
                int64_t blk = v->dims[axis] * inner;
                memcpy(o + pos, (const int64_t *)v->data + k * blk, (size_t)blk * sizeof(int64_t));
                pos += blk;
            }
        c->n->folded = 1;
    }
    return 0;
}


/* Axes from the attribute (opset < 13) or the input (>= 13); *n = -1 when absent. */
static int axes_get(const infer_ctx *c, int input, int64_t *axes, int *n)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(c->n, "axes");
    const vgc_onnx_value *v = in_val(c, input);
    int rc;

    *n = -1;
    if (a) {
        if (a->type != VGC_AT_INTS || a->n > VGC_ONNX_MAX_RANK)
            return FAIL(c, VIGIA_EINVAL, "bad axes");
        memcpy(axes, a->ints, (size_t)a->n * sizeof(int64_t));
        *n = a->n;
    } else if (v) {
        if ((rc = need_const_i64(c, input, "axes", &v)))
            return rc;
        if (v->count > VGC_ONNX_MAX_RANK)
            return FAIL(c, VIGIA_EINVAL, "too many axes");
        memcpy(axes, v->data, (size_t)v->count * sizeof(int64_t));
        *n = (int)v->count;
    }
    return 0;
}


/* Output with x's data copied (reshapes of constants), folded when x is an int64 constant. */
static int out_reshaped(const infer_ctx *c, const vgc_onnx_value *x, const int64_t *dims, int rank)
{
    int fold = x->data && x->dtype == VGC_DT_INT64;
    int rc = out_set(c, 0, x->dtype, dims, rank, fold);

    if (rc || !fold)
        return rc;
    memcpy(c->g->val[c->n->out[0]].data, x->data, (size_t)x->count * sizeof(int64_t));
    c->n->folded = 1;
    return 0;
}


static int infer_squeeze(const infer_ctx *c, int unsqueeze)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int64_t axes[VGC_ONNX_MAX_RANK], dims[VGC_ONNX_MAX_RANK];
    int na, rank = 0, rc, mark[VGC_ONNX_MAX_RANK] = { 0 };

    if ((rc = need_inputs(c, 1, 2)) || (rc = need_outputs(c, 1)) || (rc = axes_get(c, 1, axes, &na)))
        return rc;
    if (unsqueeze) {
        int r = x->rank + (na > 0 ? na : 0), k = 0;
        if (na <= 0 || r > VGC_ONNX_MAX_RANK)
            return FAIL(c, VIGIA_EINVAL, "axes missing or rank too large");
        for (int i = 0; i < na; i++) {
            int a;
            if ((rc = axis_norm(c, axes[i], r, &a)))
                return rc;
            if (mark[a]++)
                return FAIL(c, VIGIA_EINVAL, "axis %d repeated", a);
        }
        for (int i = 0; i < r; i++)
            dims[i] = mark[i] ? 1 : x->dims[k++];
        return out_reshaped(c, x, dims, r);
    }
    for (int i = 0; i < na; i++) {
        int a;
        if ((rc = axis_norm(c, axes[i], x->rank, &a)))
            return rc;
        if (x->dims[a] != 1)
            return FAIL(c, VIGIA_EINVAL, "axis %d has size %lld, not 1", a, (long long)x->dims[a]);
        mark[a] = 1;
    }
    for (int i = 0; i < x->rank; i++)
        if (!(na < 0 ? x->dims[i] == 1 : mark[i]))
            dims[rank++] = x->dims[i];
    return out_reshaped(c, x, dims, rank);
}


static int infer_reshape(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0), *s;
    int64_t dims[VGC_ONNX_MAX_RANK], known = 1;
    int rc, infer_at = -1, allowzero = attr_int(c, "allowzero", 0) != 0;

    if ((rc = need_inputs(c, 2, 2)) || (rc = need_outputs(c, 1)) || (rc = need_const_i64(c, 1, "shape", &s)))
        return rc;
    if (s->count > VGC_ONNX_MAX_RANK)
        return FAIL(c, VIGIA_ENOTSUP, "target rank %lld", (long long)s->count);
    for (int i = 0; i < (int)s->count; i++) {
        int64_t d = ((const int64_t *)s->data)[i];
        if (d == 0 && !allowzero) {
            if (i >= x->rank)
                return FAIL(c, VIGIA_EINVAL, "0 in shape copies a dimension the input lacks");
            d = x->dims[i];
        }
        if (d == -1) {
            if (infer_at >= 0)
                return FAIL(c, VIGIA_EINVAL, "more than one -1 in shape");
            infer_at = i;
            d = 1;
        } else if (d < 0 || d > VGC_ONNX_MAX_DIM) {
            return FAIL(c, VIGIA_EINVAL, "shape entry %lld", (long long)d);
        }
        dims[i] = d;
        known *= d;
    }
    if (infer_at >= 0) {
        if (known == 0 || x->count % known)
            return FAIL(c, VIGIA_EINVAL, "cannot infer -1: %lld elements into %lld", (long long)x->count,
                        (long long)known);
        dims[infer_at] = x->count / known;
        known = x->count;
    }
    if (known != x->count)
        return FAIL(c, VIGIA_EINVAL, "%lld elements reshaped to %lld", (long long)x->count, (long long)known);
    return out_reshaped(c, x, dims, (int)s->count);
}


static int infer_flatten(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int64_t dims[2] = { 1, 1 }, a = attr_int(c, "axis", 1);
    int rc;

    if ((rc = need_inputs(c, 1, 1)) || (rc = need_outputs(c, 1)))
        return rc;
    if (a < -x->rank || a > x->rank)
        return FAIL(c, VIGIA_EINVAL, "axis %lld", (long long)a);
    if (a < 0)
        a += x->rank;
    for (int i = 0; i < x->rank; i++)
        dims[i >= a] *= x->dims[i];
    return out_reshaped(c, x, dims, 2);
}


static int infer_transpose(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    const vgc_onnx_attr *p = vgc_onnx_attr_get(c->n, "perm");
    int64_t dims[VGC_ONNX_MAX_RANK];
    int seen[VGC_ONNX_MAX_RANK] = { 0 }, rc;

    if ((rc = need_inputs(c, 1, 1)) || (rc = need_outputs(c, 1)))
        return rc;
    if (x->dtype != VGC_DT_FLOAT)
        return FAIL(c, VIGIA_ENOTSUP, "transpose of int64 values");
    if (p && (p->type != VGC_AT_INTS || p->n != x->rank))
        return FAIL(c, VIGIA_EINVAL, "perm does not have %d entries", x->rank);
    for (int i = 0; i < x->rank; i++) {
        int64_t k = p ? p->ints[i] : x->rank - 1 - i;
        if (k < 0 || k >= x->rank || seen[k]++)
            return FAIL(c, VIGIA_EINVAL, "perm is not a permutation");
        dims[i] = x->dims[k];
    }
    return out_set(c, 0, VGC_DT_FLOAT, dims, x->rank, 0);
}


static int infer_split(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0), *sv = NULL;
    const vgc_onnx_attr *sa = vgc_onnx_attr_get(c->n, "split");
    int64_t dims[VGC_ONNX_MAX_RANK], total = 0;
    int axis, rc, nout = c->n->nout;

    if ((rc = need_inputs(c, 1, 2)))
        return rc;
    if ((rc = axis_norm(c, attr_int(c, "axis", 0), x->rank, &axis)))
        return rc;
    if (x->dtype != VGC_DT_FLOAT)
        return FAIL(c, VIGIA_ENOTSUP, "split of int64 values");
    if (in_val(c, 1) && (rc = need_const_i64(c, 1, "split", &sv)))
        return rc;
    if ((sa && (sa->type != VGC_AT_INTS || sa->n != nout)) || (sv && sv->count != nout))
        return FAIL(c, VIGIA_EINVAL, "split does not list %d sizes", nout);
    memcpy(dims, x->dims, sizeof(dims));
    for (int k = 0; k < nout; k++) {
        int64_t s;
        if (sa)
            s = sa->ints[k];
        else if (sv)
            s = ((const int64_t *)sv->data)[k];
        else   /* equal parts, the last one smaller (opset 18) */
            s = k < nout - 1 ? (x->dims[axis] + nout - 1) / nout
                             : x->dims[axis] - (nout - 1) * ((x->dims[axis] + nout - 1) / nout);
        if (s < 0 || s > x->dims[axis])
            return FAIL(c, VIGIA_EINVAL, "split size %lld", (long long)s);
        total += s;
        dims[axis] = s;
        if ((rc = out_set(c, k, VGC_DT_FLOAT, dims, x->rank, 0)))
            return rc;
    }
    if (total != x->dims[axis])
        return FAIL(c, VIGIA_EINVAL, "split sizes add up to %lld, not %lld", (long long)total,
                    (long long)x->dims[axis]);
    return 0;
}


/* Clamp a Slice bound as the ONNX operator does. */
static int64_t slice_clamp(int64_t v, int64_t dim, int64_t step, int is_end)
{
    int64_t lo = step > 0 || !is_end ? 0 : -1, hi = step > 0 ? dim : dim - 1;

    if (v < 0)
        v += dim;
    return v < lo ? lo : v > hi ? hi : v;
}


static int infer_slice(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0), *st, *en, *ax = NULL, *sp = NULL;
    int64_t dims[VGC_ONNX_MAX_RANK], start[VGC_ONNX_MAX_RANK], step[VGC_ONNX_MAX_RANK];
    int rc, done[VGC_ONNX_MAX_RANK] = { 0 }, fold;

    if ((rc = need_inputs(c, 3, 5)) || (rc = need_outputs(c, 1)) ||
        (rc = need_const_i64(c, 1, "starts", &st)) || (rc = need_const_i64(c, 2, "ends", &en)))
        return rc;
    if (in_val(c, 3) && (rc = need_const_i64(c, 3, "axes", &ax)))
        return rc;
    if (in_val(c, 4) && (rc = need_const_i64(c, 4, "steps", &sp)))
        return rc;
    if (st->count != en->count || (ax && ax->count != st->count) || (sp && sp->count != st->count) ||
        st->count > x->rank)
        return FAIL(c, VIGIA_EINVAL, "starts, ends, axes and steps differ in length");
    memcpy(dims, x->dims, sizeof(dims));
    for (int i = 0; i < x->rank; i++)
        start[i] = 0, step[i] = 1;
    for (int i = 0; i < (int)st->count; i++) {
        int a;
        int64_t s = sp ? ((const int64_t *)sp->data)[i] : 1, b, e;
        if ((rc = axis_norm(c, ax ? ((const int64_t *)ax->data)[i] : i, x->rank, &a)))
            return rc;
        if (done[a]++)
            return FAIL(c, VIGIA_EINVAL, "axis %d repeated", a);
        if (s == 0 || s < -VGC_ONNX_MAX_DIM || s > VGC_ONNX_MAX_DIM)
            return FAIL(c, VIGIA_EINVAL, "step %lld", (long long)s);
        b = ((const int64_t *)st->data)[i];
        e = ((const int64_t *)en->data)[i];
        b = b < -INT64_MAX / 2 ? -INT64_MAX / 2 : b > INT64_MAX / 2 ? INT64_MAX / 2 : b;
        e = e < -INT64_MAX / 2 ? -INT64_MAX / 2 : e > INT64_MAX / 2 ? INT64_MAX / 2 : e;
        b = slice_clamp(b, x->dims[a], s, 0);
        e = slice_clamp(e, x->dims[a], s, 1);
        dims[a] = s > 0 ? (e > b ? (e - b + s - 1) / s : 0) : (b > e ? (b - e - s - 1) / -s : 0);
        start[a] = b;
        step[a] = s;
    }
    fold = x->data && x->dtype == VGC_DT_INT64;
    if (x->dtype == VGC_DT_INT64 && !fold)
        return FAIL(c, VIGIA_ENOTSUP, "int64 values not known at load");
    if ((rc = out_set(c, 0, x->dtype, dims, x->rank, fold)) || !fold)
        return rc;
    {
        vgc_onnx_value *o = &c->g->val[c->n->out[0]];
        int64_t *po = o->data;
        for (int64_t k = 0; k < o->count; k++) {
            int64_t rem = k, src = 0, stride = 1;
            for (int i = x->rank - 1; i >= 0; i--) {
                int64_t idx = rem % dims[i];
                rem /= dims[i];
                src += (start[i] + idx * step[i]) * stride;
                stride *= x->dims[i];
            }
            po[k] = ((const int64_t *)x->data)[src];
        }
        c->n->folded = 1;
    }
    return 0;
}


static int infer_gather(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0), *ix = in_val(c, 1);
    int64_t dims[VGC_ONNX_MAX_RANK];
    int axis, rank = 0, rc, fold;

    if ((rc = need_inputs(c, 2, 2)) || (rc = need_outputs(c, 1)))
        return rc;
    if ((rc = axis_norm(c, attr_int(c, "axis", 0), x->rank, &axis)))
        return rc;
    if (ix->dtype != VGC_DT_INT64 || !ix->data)
        return FAIL(c, VIGIA_ENOTSUP, "indices must be an int64 constant");
    if (x->rank - 1 + ix->rank > VGC_ONNX_MAX_RANK)
        return FAIL(c, VIGIA_ENOTSUP, "output rank too large");
    for (int64_t k = 0; k < ix->count; k++) {
        int64_t i = ((const int64_t *)ix->data)[k];
        if (i < -x->dims[axis] || i >= x->dims[axis])
            return FAIL(c, VIGIA_EINVAL, "index %lld out of range", (long long)i);
    }
    for (int i = 0; i < axis; i++)
        dims[rank++] = x->dims[i];
    for (int i = 0; i < ix->rank; i++)
        dims[rank++] = ix->dims[i];
    for (int i = axis + 1; i < x->rank; i++)
        dims[rank++] = x->dims[i];
    fold = x->data && x->dtype == VGC_DT_INT64;
    if (x->dtype == VGC_DT_INT64 && !fold)
        return FAIL(c, VIGIA_ENOTSUP, "int64 values not known at load");
    if ((rc = out_set(c, 0, x->dtype, dims, rank, fold)) || !fold)
        return rc;
    {
        int64_t outer = 1, inner = 1, *po = c->g->val[c->n->out[0]].data, pos = 0;
        for (int i = 0; i < axis; i++)
            outer *= x->dims[i];
        for (int i = axis + 1; i < x->rank; i++)
            inner *= x->dims[i];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < ix->count; k++) {
                int64_t i = ((const int64_t *)ix->data)[k];
                if (i < 0)
                    i += x->dims[axis];
                memcpy(po + pos, (const int64_t *)x->data + (o * x->dims[axis] + i) * inner,
                       (size_t)inner * sizeof(int64_t));
                pos += inner;
            }
        c->n->folded = 1;
    }
    return 0;
}


static int infer_resize(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0), *sc, *sz;
    const vgc_onnx_attr *mode = vgc_onnx_attr_get(c->n, "mode");
    const vgc_onnx_attr *ct = vgc_onnx_attr_get(c->n, "coordinate_transformation_mode");
    int upsample = c->n->op == VGC_OP_UPSAMPLE, rc;
    int64_t dims[VGC_ONNX_MAX_RANK];

    if ((rc = need_inputs(c, upsample ? 2 : 1, upsample ? 2 : 4)) || (rc = need_outputs(c, 1)))
        return rc;
    sc = in_val(c, upsample ? 1 : 2);
    sz = upsample ? NULL : in_val(c, 3);
    if (mode && mode->type == VGC_AT_STRING && strcmp(mode->s, "nearest") != 0 && strcmp(mode->s, "linear") != 0)
        return FAIL(c, VIGIA_ENOTSUP, "mode '%.32s' (nearest and linear are supported)", mode->s);
    if (ct && ct->type == VGC_AT_STRING && strcmp(ct->s, "tf_crop_and_resize") == 0)
        return FAIL(c, VIGIA_ENOTSUP, "coordinate_transformation_mode tf_crop_and_resize");
    if (vgc_onnx_attr_get(c->n, "axes") || attr_int(c, "antialias", 0))
        return FAIL(c, VIGIA_ENOTSUP, "axes and antialias are not supported");
    if (x->rank != 4 || x->dtype != VGC_DT_FLOAT)
        return FAIL(c, VIGIA_ENOTSUP, "only 4-D float32 inputs are resized");
    if (sz && sz->count) {
        if (sz->dtype != VGC_DT_INT64 || !sz->data || sz->count != 4)
            return FAIL(c, VIGIA_ENOTSUP, "sizes must be 4 int64 constants");
        memcpy(dims, sz->data, 4 * sizeof(int64_t));
    } else if (sc && sc->count) {
        if (sc->dtype != VGC_DT_FLOAT || !sc->data || sc->count != 4)
            return FAIL(c, VIGIA_ENOTSUP, "scales must be 4 float32 constants");
        for (int i = 0; i < 4; i++) {
            float s = ((const float *)sc->data)[i];
            double d = floor((double)x->dims[i] * s);
            if (!(s > 0.0f) || !(d >= 1.0) || d > (double)VGC_ONNX_MAX_DIM)
                return FAIL(c, VIGIA_EINVAL, "scale %g", (double)s);
            dims[i] = (int64_t)d;
        }
    } else {
        return FAIL(c, VIGIA_EINVAL, "neither scales nor sizes");
    }
    if (dims[0] != x->dims[0] || dims[1] != x->dims[1])
        return FAIL(c, VIGIA_ENOTSUP, "resizing the batch or channel axis");
    return out_set(c, 0, VGC_DT_FLOAT, dims, 4, 0);
}


static int infer_matmul(const infer_ctx *c, int gemm)
{
    const vgc_onnx_value *a = in_val(c, 0), *b = in_val(c, 1);
    int64_t dims[VGC_ONNX_MAX_RANK];
    int rc, r;

    if ((rc = need_inputs(c, 2, gemm ? 3 : 2)) || (rc = need_outputs(c, 1)))
        return rc;
    if (a->dtype != VGC_DT_FLOAT || b->dtype != VGC_DT_FLOAT)
        return FAIL(c, VIGIA_ENOTSUP, "inputs must be float32");
    if (gemm) {
        int ta = attr_int(c, "transA", 0) != 0, tb = attr_int(c, "transB", 0) != 0;
        const vgc_onnx_value *cc = in_val(c, 2);
        if (a->rank != 2 || b->rank != 2)
            return FAIL(c, VIGIA_EINVAL, "A and B must be matrices");
        if (a->dims[ta ? 0 : 1] != b->dims[tb ? 1 : 0])
            return FAIL(c, VIGIA_EINVAL, "inner dimensions %lld and %lld differ", (long long)a->dims[ta ? 0 : 1],
                        (long long)b->dims[tb ? 1 : 0]);
        dims[0] = a->dims[ta ? 1 : 0];
        dims[1] = b->dims[tb ? 0 : 1];
        if (cc) {
            for (int i = 0; i < cc->rank; i++) {
                int64_t d = cc->dims[i], want = dims[2 - cc->rank + i];
                if (cc->rank > 2 || (d != 1 && d != want))
                    return FAIL(c, VIGIA_EINVAL, "C does not broadcast to the output");
            }
        }
        return out_set(c, 0, VGC_DT_FLOAT, dims, 2, 0);
    }
    if (a->rank < 1 || b->rank < 1)
        return FAIL(c, VIGIA_EINVAL, "scalar operands");
    {
        int64_t ad[VGC_ONNX_MAX_RANK + 1], bd[VGC_ONNX_MAX_RANK + 1];
        int ar = a->rank, br = b->rank, out_r = 0;
        memcpy(ad, a->dims, sizeof(int64_t) * (size_t)ar);
        memcpy(bd, b->dims, sizeof(int64_t) * (size_t)br);
        if (ar == 1)
            ad[1] = ad[0], ad[0] = 1, ar = 2;   /* [K] -> [1, K], dropped after */
        if (br == 1)
            bd[1] = 1, br = 2;                  /* [K] -> [K, 1], dropped after */
        if (ad[ar - 1] != bd[br - 2])
            return FAIL(c, VIGIA_EINVAL, "inner dimensions %lld and %lld differ", (long long)ad[ar - 1],
                        (long long)bd[br - 2]);
        r = ar > br ? ar : br;
        for (int i = 0; i < r - 2; i++) {
            int ia = i - (r - ar), ib = i - (r - br);
            int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
            if (da != db && da != 1 && db != 1)
                return FAIL(c, VIGIA_EINVAL, "batch dimensions do not broadcast");
            dims[out_r++] = da == 1 ? db : da;
        }
        if (a->rank != 1)
            dims[out_r++] = ad[ar - 2];
        if (b->rank != 1)
            dims[out_r++] = bd[br - 1];
        return out_set(c, 0, VGC_DT_FLOAT, dims, out_r, 0);
    }
}


/* ---- constants ------------------------------------------------------------------------ */

static int infer_shape(const infer_ctx *c)
{
    const vgc_onnx_value *x = in_val(c, 0);
    int64_t s = attr_int(c, "start", 0), e = attr_int(c, "end", x->rank), dims[1];
    int rc;

    if ((rc = need_inputs(c, 1, 1)) || (rc = need_outputs(c, 1)))
        return rc;
    if (s < 0)
        s += x->rank;
    if (e < 0)
        e += x->rank;
    s = s < 0 ? 0 : s > x->rank ? x->rank : s;
    e = e < 0 ? 0 : e > x->rank ? x->rank : e;
    dims[0] = e > s ? e - s : 0;
    if ((rc = out_set(c, 0, VGC_DT_INT64, dims, 1, 1)))
        return rc;
    memcpy(c->g->val[c->n->out[0]].data, x->dims + s, (size_t)dims[0] * sizeof(int64_t));
    c->n->folded = 1;
    return 0;
}


/* Move a tensor attribute's data to output 0. */
static int out_from_tensor(const infer_ctx *c, int t)
{
    vgc_onnx_value *src = &c->g->val[t], *o = &c->g->val[c->n->out[0]];

    memcpy(o->dims, src->dims, sizeof(o->dims));
    o->rank = src->rank;
    o->count = src->count;
    o->dtype = src->dtype;
    o->data = src->data;
    src->data = NULL;
    c->n->folded = 1;
    return 0;
}


static int infer_constant(const infer_ctx *c)
{
    const vgc_onnx_attr *a;
    vgc_onnx_value *o = &c->g->val[c->n->out[0]];
    int rc;

    if ((rc = need_inputs(c, 0, 0)) || (rc = need_outputs(c, 1)))
        return rc;
    if (c->n->nattr != 1)
        return FAIL(c, VIGIA_EINVAL, "exactly one attribute expected");
    a = &c->n->attr[0];
    if (strcmp(a->name, "value") == 0 && a->type == VGC_AT_TENSOR)
        return out_from_tensor(c, a->tensor);
    if ((strcmp(a->name, "value_float") == 0 && a->type == VGC_AT_FLOAT) ||
        (strcmp(a->name, "value_int") == 0 && a->type == VGC_AT_INT)) {
        int isf = a->type == VGC_AT_FLOAT;
        o->rank = 0;
        o->count = 1;
        o->dtype = isf ? VGC_DT_FLOAT : VGC_DT_INT64;
        o->data = malloc(sizeof(int64_t));
        if (!o->data)
            return FAIL(c, VIGIA_ENOMEM, "out of memory");
        if (isf)
            *(float *)o->data = a->f;
        else
            *(int64_t *)o->data = a->i;
    } else if ((strcmp(a->name, "value_floats") == 0 && a->type == VGC_AT_FLOATS) ||
               (strcmp(a->name, "value_ints") == 0 && a->type == VGC_AT_INTS)) {
        int isf = a->type == VGC_AT_FLOATS;
        o->rank = 1;
        o->dims[0] = o->count = a->n;
        o->dtype = isf ? VGC_DT_FLOAT : VGC_DT_INT64;
        o->data = malloc((size_t)(a->n + 1) * sizeof(int64_t));
        if (!o->data)
            return FAIL(c, VIGIA_ENOMEM, "out of memory");
        if (a->n)
            memcpy(o->data, isf ? (void *)a->floats : (void *)a->ints,
                   (size_t)a->n * (isf ? sizeof(float) : sizeof(int64_t)));
    } else {
        return FAIL(c, VIGIA_ENOTSUP, "attribute '%s' of this type", a->name);
    }
    c->n->folded = 1;
    return 0;
}


static int infer_constant_of_shape(const infer_ctx *c)
{
    const vgc_onnx_value *s;
    const vgc_onnx_attr *a = vgc_onnx_attr_get(c->n, "value");
    const vgc_onnx_value *fill = NULL;
    vgc_onnx_value *o;
    int rc, dtype = VGC_DT_FLOAT;

    if ((rc = need_inputs(c, 1, 1)) || (rc = need_outputs(c, 1)) || (rc = need_const_i64(c, 0, "shape", &s)))
        return rc;
    if (s->count > VGC_ONNX_MAX_RANK)
        return FAIL(c, VIGIA_ENOTSUP, "rank %lld", (long long)s->count);
    if (a) {
        if (a->type != VGC_AT_TENSOR || c->g->val[a->tensor].count != 1)
            return FAIL(c, VIGIA_EINVAL, "value must be a one-element tensor");
        fill = &c->g->val[a->tensor];
        dtype = fill->dtype;
    }
    if ((rc = out_set(c, 0, dtype, s->data, (int)s->count, 1)))
        return rc;
    o = &c->g->val[c->n->out[0]];
    for (int64_t k = 0; fill && k < o->count; k++) {
        if (dtype == VGC_DT_FLOAT)
            ((float *)o->data)[k] = *(const float *)fill->data;
        else
            ((int64_t *)o->data)[k] = *(const int64_t *)fill->data;
    }
    c->n->folded = 1;
    return 0;
}


int vgc_onnx__infer(vgc_onnx_graph *g, int i, char *err, size_t errlen)
{
    infer_ctx c = { g, &g->node[i], err, errlen };
    enum vgc_onnx_op op = c.n->op;
    int rc, minin = op == VGC_OP_CONSTANT ? 0 : 1;

    if ((rc = need_inputs(&c, minin, VGC_ONNX_MAX_NODE_IO)))
        return rc;
    switch (op) {
    case VGC_OP_CONV: return infer_conv(&c, 0);
    case VGC_OP_CONV_TRANSPOSE: return infer_conv(&c, 1);
    case VGC_OP_BATCH_NORM: return infer_bn(&c);
    case VGC_OP_CLIP: return infer_clip(&c);
    case VGC_OP_RELU: case VGC_OP_LEAKY_RELU: case VGC_OP_SIGMOID: case VGC_OP_HARD_SIGMOID:
    case VGC_OP_HARD_SWISH: case VGC_OP_SQRT: case VGC_OP_EXP: case VGC_OP_IDENTITY:
        return (rc = need_inputs(&c, 1, 1)) ? rc : infer_unary(&c);
    case VGC_OP_SOFTMAX: {
        int axis;
        const vgc_onnx_value *x = in_val(&c, 0);
        if ((rc = need_inputs(&c, 1, 1)) ||
            (rc = axis_norm(&c, attr_int(&c, "axis", g->opset >= 13 ? -1 : 1), x->rank, &axis)))
            return rc;
        return infer_unary(&c);
    }
    case VGC_OP_MAX_POOL: case VGC_OP_AVG_POOL: case VGC_OP_GLOBAL_AVG_POOL: return infer_pool(&c);
    case VGC_OP_ADD: case VGC_OP_SUB: case VGC_OP_MUL: case VGC_OP_DIV: case VGC_OP_POW:
        return infer_binary(&c);
    case VGC_OP_CONCAT: return infer_concat(&c);
    case VGC_OP_SPLIT: return infer_split(&c);
    case VGC_OP_SLICE: return infer_slice(&c);
    case VGC_OP_GATHER: return infer_gather(&c);
    case VGC_OP_RESHAPE: return infer_reshape(&c);
    case VGC_OP_FLATTEN: return infer_flatten(&c);
    case VGC_OP_SQUEEZE: return infer_squeeze(&c, 0);
    case VGC_OP_UNSQUEEZE: return infer_squeeze(&c, 1);
    case VGC_OP_TRANSPOSE: return infer_transpose(&c);
    case VGC_OP_RESIZE: case VGC_OP_UPSAMPLE: return infer_resize(&c);
    case VGC_OP_MATMUL: return infer_matmul(&c, 0);
    case VGC_OP_GEMM: return infer_matmul(&c, 1);
    case VGC_OP_SHAPE: return infer_shape(&c);
    case VGC_OP_CONSTANT: return infer_constant(&c);
    case VGC_OP_CONSTANT_OF_SHAPE: return infer_constant_of_shape(&c);
    case VGC_OP_COUNT: break;
    }
    return FAIL(&c, VIGIA_ENOTSUP, "not supported");
}
