/*
 * backends/cpu/net.c: from a parsed cfg to a list of layers with checked
 * shapes (vgc_net_build), and the cfg-only helpers (parameter count).
 *
 * Semantics follow darknet as Debian ships it (pjreddie, 2018) where the two
 * darknets agree, and AlexeyAB's fork for what only it has (route groups,
 * mish/swish/relu6, scale_x_y, new_coords, several shortcut sources). Every
 * option a layer does not understand is refused with its line number, except
 * training-only options, which are listed and ignored.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- option getters ------------------------------------------------------------ */

static vgc_kv *opt_find(vgc_section *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, key) == 0) {
            s->kv[i].used = 1;
            return &s->kv[i];
        }
    }
    return NULL;
}


static int parse_int(const char *v, long *out)
{
    char *end;

    if (!*v)
        return -1;
    errno = 0;
    *out = strtol(v, &end, 10);
    return (errno || *end) ? -1 : 0;
}


static int opt_int(vgc_section *s, const char *key, int def, int lo, int hi, int *out,
                   char *err, size_t errlen)
{
    vgc_kv *kv = opt_find(s, key);
    long v;

    if (!kv) {
        *out = def;
        return 0;
    }
    if (parse_int(kv->val, &v) < 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is not an integer",
                        kv->line, kv->key, kv->val);
    if (v < lo || v > hi)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is out of range [%d, %d]",
                        kv->line, kv->key, kv->val, lo, hi);
    *out = (int)v;
    return 0;
}


static int opt_float(vgc_section *s, const char *key, float def, float lo, float hi, float *out,
                     char *err, size_t errlen)
{
    vgc_kv *kv = opt_find(s, key);
    char *end;
    float v;

    if (!kv) {
        *out = def;
        return 0;
    }
    errno = 0;
    v = strtof(kv->val, &end);
    if (!*kv->val || *end || errno || !isfinite(v))
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is not a number",
                        kv->line, kv->key, kv->val);
    if (v < lo || v > hi)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is out of range [%g, %g]",
                        kv->line, kv->key, kv->val, (double)lo, (double)hi);
    *out = v;
    return 0;
}


/*
 * A comma-separated list of integers (a trailing comma is allowed). Returns
 * the count, 0 when the option is absent, or a negative error.
 */
static int opt_ints(vgc_section *s, const char *key, int *vals, int max, int *line,
                    char *err, size_t errlen)
{
    vgc_kv *kv = opt_find(s, key);
    const char *p;
    int n = 0;

    if (!kv)
        return 0;
    *line = kv->line;
    p = kv->val;
    while (*p) {
        char buf[32];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long v;

        if (n == max)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s` has more than %d values",
                            kv->line, kv->key, max);
        if (len == 0 || len >= sizeof buf)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is not a list of integers",
                            kv->line, kv->key, kv->val);
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (parse_int(buf, &v) < 0 || v < -1000000 || v > 1000000)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is not a list of integers",
                            kv->line, kv->key, kv->val);
        vals[n++] = (int)v;
        p = comma ? comma + 1 : p + len;
    }
    if (n == 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s` is empty", kv->line, kv->key);
    return n;
}


/* The same for floats. */
static int opt_floats(vgc_section *s, const char *key, float *vals, int max, int *line,
                      char *err, size_t errlen)
{
    vgc_kv *kv = opt_find(s, key);
    const char *p;
    int n = 0;

    if (!kv)
        return 0;
    *line = kv->line;
    p = kv->val;
    while (*p) {
        char buf[48], *end;
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        float v;

        if (n == max)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s` has more than %d values",
                            kv->line, kv->key, max);
        if (len == 0 || len >= sizeof buf)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is not a list of numbers",
                            kv->line, kv->key, kv->val);
        memcpy(buf, p, len);
        buf[len] = '\0';
        errno = 0;
        v = strtof(buf, &end);
        if (*end || errno || !isfinite(v))
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s=%s` is not a list of numbers",
                            kv->line, kv->key, kv->val);
        vals[n++] = v;
        p = comma ? comma + 1 : p + len;
    }
    if (n == 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: `%s` is empty", kv->line, kv->key);
    return n;
}


/* An option that must be absent or 0 (a feature we do not implement). */
static int opt_unsupported(vgc_section *s, const char *key, char *err, size_t errlen)
{
    vgc_kv *kv = opt_find(s, key);
    long v;

    if (!kv || (parse_int(kv->val, &v) == 0 && v == 0))
        return 0;
    return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: `%s=%s` in [%s] is not supported",
                    kv->line, kv->key, kv->val, s->type);
}


static int in_list(const char *key, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(key, *list) == 0)
            return 1;
    return 0;
}


/* Refuse an option nobody consumed unless it is known to be training-only. */
static int check_unused(vgc_section *s, const char *const *ignored, char *err, size_t errlen)
{
    for (int i = 0; i < s->nkv; i++) {
        vgc_kv *kv = &s->kv[i];

        if (!kv->used && !in_list(kv->key, ignored))
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: option `%s` of [%s] is not supported",
                            kv->line, kv->key, s->type);
    }
    return 0;
}


static int parse_act(vgc_section *s, const char *def, enum vgc_act *out, char *err, size_t errlen)
{
    static const struct { const char *name; enum vgc_act act; } acts[] = {
        { "linear", VGC_ACT_LINEAR }, { "leaky", VGC_ACT_LEAKY }, { "relu", VGC_ACT_RELU },
        { "relu6", VGC_ACT_RELU6 }, { "logistic", VGC_ACT_LOGISTIC }, { "mish", VGC_ACT_MISH },
        { "swish", VGC_ACT_SWISH },
    };
    vgc_kv *kv = opt_find(s, "activation");
    const char *name = kv ? kv->val : def;

    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        if (strcmp(name, acts[i].name) == 0) {
            *out = acts[i].act;
            return 0;
        }
    }
    return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: activation `%s` is not supported",
                    kv ? kv->line : s->line, name);
}


/* stride, or stride_x/stride_y when given (they must be equal). */
static int parse_stride(vgc_section *s, int def, int *out, char *err, size_t errlen)
{
    int sx, sy, st, rc;

    if ((rc = opt_int(s, "stride_x", -1, -1, 64, &sx, err, errlen)) < 0 ||
        (rc = opt_int(s, "stride_y", -1, -1, 64, &sy, err, errlen)) < 0 ||
        (rc = opt_int(s, "stride", def, 1, 64, &st, err, errlen)) < 0)
        return rc;
    if (sx < 1)
        sx = st;
    if (sy < 1)
        sy = st;
    if (sx != sy)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP,
                        "cfg line %d: stride_x=%d and stride_y=%d differ, which is not supported",
                        s->line, sx, sy);
    *out = sx;
    return 0;
}

/* ---- layers ---------------------------------------------------------------------- */

static const char *const conv_ignored[] = {
    "dot", "angle", "stopbackward", "train_only_bn", "assisted_excitation", "learning_rate",
    NULL
};

static int parse_conv(vgc_section *s, vgc_layer *l, char *err, size_t errlen)
{
    static const char *const unsupported[] = {
        "binary", "xnor", "bin_output", "flipped", "dontload", "dontloadscales", "numload",
        "antialiasing", "cbn", "sway", "rotate", "stretch", "stretch_sway", "deform",
        "coordconv", NULL
    };
    int rc, pad, padding, dilation;
    vgc_kv *share;

    for (const char *const *u = unsupported; *u; u++)
        if ((rc = opt_unsupported(s, *u, err, errlen)) < 0)
            return rc;
    if ((share = opt_find(s, "share_index")) != NULL)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: `share_index` is not supported",
                        share->line);
    if ((rc = opt_int(s, "filters", 1, 1, VGC_MAX_CHANNELS, &l->filters, err, errlen)) < 0 ||
        (rc = opt_int(s, "size", 1, 1, VGC_MAX_KERNEL, &l->size, err, errlen)) < 0 ||
        (rc = parse_stride(s, 1, &l->stride, err, errlen)) < 0 ||
        (rc = opt_int(s, "pad", 0, 0, 1000000, &pad, err, errlen)) < 0 ||
        (rc = opt_int(s, "padding", 0, 0, VGC_MAX_KERNEL, &padding, err, errlen)) < 0 ||
        (rc = opt_int(s, "groups", 1, 1, VGC_MAX_CHANNELS, &l->groups, err, errlen)) < 0 ||
        (rc = opt_int(s, "batch_normalize", 0, 0, 1, &l->batch_normalize, err, errlen)) < 0 ||
        (rc = opt_int(s, "dilation", 1, 1, 64, &dilation, err, errlen)) < 0 ||
        (rc = parse_act(s, "logistic", &l->act, err, errlen)) < 0)
        return rc;
    if (dilation != 1 && l->size != 1)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: dilated convolutions are not supported",
                        s->line);
    l->pad = pad ? l->size / 2 : padding;
    return check_unused(s, conv_ignored, err, errlen);
}


static int parse_maxpool(vgc_section *s, vgc_layer *l, char *err, size_t errlen)
{
    int rc;

    if ((rc = opt_unsupported(s, "maxpool_depth", err, errlen)) < 0 ||
        (rc = opt_unsupported(s, "antialiasing", err, errlen)) < 0 ||
        (rc = parse_stride(s, 1, &l->stride, err, errlen)) < 0 ||
        (rc = opt_int(s, "size", l->stride, 1, VGC_MAX_KERNEL, &l->size, err, errlen)) < 0 ||
        (rc = opt_int(s, "padding", l->size - 1, 0, VGC_MAX_KERNEL, &l->pad, err, errlen)) < 0)
        return rc;
    return check_unused(s, NULL, err, errlen);
}


/*
 * [yolo] keys this engine accepts without reading them. Each was checked
 * against AlexeyAB's darknet (src/parser.c parse_yolo, src/yolo_layer.c
 * forward_yolo_layer, src/detector.c, src/demo.c) for an effect on the
 * boxes of one image at inference; none has one:
 *  - read by the host, not here: nms_kind and beta_nms choose the NMS the
 *    host runs for every backend (core/pipeline/model.c, postprocess.c);
 *  - the loss, after forward_yolo_layer's `if (!state.train) return`:
 *    ignore_thresh, truth_thresh, iou_thresh (extra anchors per truth),
 *    iou_thresh_kind, iou_loss, iou_normalizer, cls_normalizer,
 *    obj_normalizer, delta_normalizer, uc_normalizer, max_delta,
 *    counters_per_class, label_smooth_eps, focal_loss, objectness_smooth,
 *    rescore;
 *  - the training data loader (src/detector.c train_detector, src/data.c):
 *    jitter, resize (random rescaling of training images, not the input
 *    geometry), random (multi-scale training), max (truth boxes per image);
 *  - video tracking on embeddings (src/demo.c set_track_id, never for a
 *    still image): embedding_layer, track_history_size, sim_thresh,
 *    dets_for_track, dets_for_show, track_ciou_norm;
 *  - printing: show_details; rewritten_box is read by no AlexeyAB source;
 *  - [region]-only training keys some cfgs copy into [yolo], where AlexeyAB
 *    does not read them: absolute, bias_match.
 * scale_x_y and new_coords change the boxes and are honoured (parse_yolo);
 * `map` is refused.
 */
static const char *const yolo_ignored[] = {
    "nms_kind", "beta_nms",
    "ignore_thresh", "truth_thresh", "iou_thresh", "iou_thresh_kind", "iou_loss", "iou_normalizer",
    "cls_normalizer", "obj_normalizer", "delta_normalizer", "uc_normalizer", "max_delta",
    "counters_per_class", "label_smooth_eps", "focal_loss", "objectness_smooth", "rescore",
    "jitter", "resize", "random", "max",
    "embedding_layer", "track_history_size", "sim_thresh", "dets_for_track", "dets_for_show",
    "track_ciou_norm",
    "show_details", "rewritten_box", "absolute", "bias_match", NULL
};

static int parse_yolo(vgc_section *s, vgc_layer *l, char *err, size_t errlen)
{
    int rc, nanch, line = s->line;
    vgc_kv *map;

    if ((map = opt_find(s, "map")) != NULL)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: `map` is not supported", map->line);
    if ((rc = opt_int(s, "classes", 20, 1, VGC_MAX_CLASSES, &l->classes, err, errlen)) < 0 ||
        (rc = opt_int(s, "num", 1, 1, VGC_MAX_ANCHORS, &l->total, err, errlen)) < 0 ||
        (rc = opt_float(s, "scale_x_y", 1.0f, 0.0f, 16.0f, &l->scale_x_y, err, errlen)) < 0 ||
        (rc = opt_int(s, "new_coords", 0, 0, 1, &l->new_coords, err, errlen)) < 0)
        return rc;
    rc = opt_ints(s, "mask", l->mask, VGC_MAX_ANCHORS, &line, err, errlen);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        l->n = l->total;
        for (int i = 0; i < l->n; i++)
            l->mask[i] = i;
    } else {
        l->n = rc;
        for (int i = 0; i < l->n; i++)
            if (l->mask[i] < 0 || l->mask[i] >= l->total)
                return vgc_fail(err, errlen, VIGIA_EINVAL,
                                "cfg line %d: mask value %d is not below num=%d", line, l->mask[i],
                                l->total);
    }
    nanch = opt_floats(s, "anchors", l->anchors, 2 * VGC_MAX_ANCHORS, &line, err, errlen);
    if (nanch < 0)
        return nanch;
    if (nanch == 0) {
        /* darknet's default: every anchor 0.5 */
        for (int i = 0; i < 2 * l->total; i++)
            l->anchors[i] = 0.5f;
    } else if (nanch != 2 * l->total) {
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: %d anchor values for num=%d (needs %d)",
                        line, nanch, l->total, 2 * l->total);
    }
    return check_unused(s, yolo_ignored, err, errlen);
}


/* Resolve a list of layer references (negative = relative to layer i). */
static int resolve_sources(vgc_section *s, const char *key, int i, vgc_layer *l, int max,
                           char *err, size_t errlen)
{
    int line = s->line;
    int n = opt_ints(s, key, l->src, max, &line, err, errlen);

    if (n < 0)
        return n;
    if (n == 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: [%s] needs `%s`", s->line, s->type, key);
    for (int k = 0; k < n; k++) {
        int idx = l->src[k] < 0 ? i + l->src[k] : l->src[k];

        if (idx < 0 || idx >= i)
            return vgc_fail(err, errlen, VIGIA_EINVAL,
                            "cfg line %d: [%s] of layer %d refers to layer %d, which is not before it",
                            line, s->type, i, idx);
        l->src[k] = idx;
    }
    l->nsrc = n;
    return 0;
}

/* ---- the whole network ------------------------------------------------------------- */

static const char *layer_name(enum vgc_layer_type t)
{
    switch (t) {
    case VGC_L_CONV: return "convolutional";
    case VGC_L_MAXPOOL: return "maxpool";
    case VGC_L_ROUTE: return "route";
    case VGC_L_SHORTCUT: return "shortcut";
    case VGC_L_UPSAMPLE: return "upsample";
    case VGC_L_DROPOUT: return "dropout";
    case VGC_L_YOLO: return "yolo";
    }
    return "?";
}


static int check_shape(const vgc_layer *l, char *err, size_t errlen)
{
    if (l->out_w < 1 || l->out_h < 1 || l->out_c < 1)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: [%s] would output an empty tensor (%dx%dx%d)",
                        l->line, layer_name(l->type), l->out_w, l->out_h, l->out_c);
    if (l->out_w > VGC_MAX_DIM || l->out_h > VGC_MAX_DIM || l->out_c > VGC_MAX_CHANNELS)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: [%s] output %dx%dx%d is too large",
                        l->line, layer_name(l->type), l->out_w, l->out_h, l->out_c);
    return 0;
}


/* Parse one layer section into l (index i) and work out its output shape. */
static int build_layer(vgc_net *net, vgc_section *s, int i, vgc_layer *l, const vgc_options *opt,
                       char *err, size_t errlen)
{
    const vgc_layer *prev = i ? &net->layers[i - 1] : NULL;
    const char *t = s->type;
    int rc = 0;

    l->line = s->line;
    l->w = prev ? prev->out_w : net->w;
    l->h = prev ? prev->out_h : net->h;
    l->c = prev ? prev->out_c : net->c;
    l->alias = -1;
    l->alpha = l->beta = l->scale = 1.0f;
    l->groups = 1;

    if (strcmp(t, "convolutional") == 0 || strcmp(t, "conv") == 0) {
        l->type = VGC_L_CONV;
        if ((rc = parse_conv(s, l, err, errlen)) < 0)
            return rc;
        if (l->c % l->groups || l->filters % l->groups)
            return vgc_fail(err, errlen, VIGIA_EINVAL,
                            "cfg line %d: groups=%d does not divide the %d input channels and %d filters",
                            s->line, l->groups, l->c, l->filters);
        if (l->w + 2 * l->pad < l->size || l->h + 2 * l->pad < l->size)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: kernel size %d is larger than the %dx%d input",
                            s->line, l->size, l->w, l->h);
        l->out_w = (l->w + 2 * l->pad - l->size) / l->stride + 1;
        l->out_h = (l->h + 2 * l->pad - l->size) / l->stride + 1;
        l->out_c = l->filters;
        l->nweights = (size_t)l->filters * (size_t)(l->c / l->groups) * (size_t)l->size * (size_t)l->size;
        if (l->groups == l->c && l->filters == l->c && l->groups > 1)
            l->kind = VGC_CONV_DW;
        else if (!opt->no_winograd && l->size == 3 && l->stride == 1 && l->pad == 1 && l->groups == 1 &&
                 l->c >= 16 && l->filters >= 16 && l->w >= 8 && l->h >= 8)
            l->kind = VGC_CONV_WINO, l->wino_m = 2;
        else if (l->size == 1 && l->stride == 1 && l->pad == 0 && l->groups == 1)
            l->kind = VGC_CONV_1X1;
        else
            l->kind = VGC_CONV_GEMM;
        net->flops += 2.0 * (double)l->nweights * l->out_w * l->out_h;
    } else if (strcmp(t, "maxpool") == 0 || strcmp(t, "max") == 0) {
        l->type = VGC_L_MAXPOOL;
        if ((rc = parse_maxpool(s, l, err, errlen)) < 0)
            return rc;
        if (l->w + l->pad < l->size || l->h + l->pad < l->size)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: pool size %d is larger than the %dx%d input",
                            s->line, l->size, l->w, l->h);
        l->out_w = (l->w + l->pad - l->size) / l->stride + 1;
        l->out_h = (l->h + l->pad - l->size) / l->stride + 1;
        l->out_c = l->c;
    } else if (strcmp(t, "route") == 0) {
        l->type = VGC_L_ROUTE;
        if ((rc = resolve_sources(s, "layers", i, l, VGC_MAX_SOURCES, err, errlen)) < 0 ||
            (rc = opt_int(s, "groups", 1, 1, VGC_MAX_CHANNELS, &l->groups, err, errlen)) < 0 ||
            (rc = opt_int(s, "group_id", 0, 0, l->groups - 1, &l->group_id, err, errlen)) < 0 ||
            (rc = check_unused(s, NULL, err, errlen)) < 0)
            return rc;
        l->out_w = net->layers[l->src[0]].out_w;
        l->out_h = net->layers[l->src[0]].out_h;
        l->out_c = 0;
        for (int k = 0; k < l->nsrc; k++) {
            const vgc_layer *src = &net->layers[l->src[k]];

            if (src->out_w != l->out_w || src->out_h != l->out_h)
                return vgc_fail(err, errlen, VIGIA_EINVAL,
                                "cfg line %d: route joins layer %d (%dx%d) and layer %d (%dx%d) of different sizes",
                                s->line, l->src[0], l->out_w, l->out_h, l->src[k], src->out_w, src->out_h);
            if (src->out_c % l->groups)
                return vgc_fail(err, errlen, VIGIA_EINVAL,
                                "cfg line %d: groups=%d does not divide the %d channels of layer %d",
                                s->line, l->groups, src->out_c, l->src[k]);
            l->out_c += src->out_c / l->groups;
        }
        if (l->out_c > VGC_MAX_CHANNELS)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: route output has too many channels", s->line);
    } else if (strcmp(t, "shortcut") == 0) {
        vgc_kv *kv;

        l->type = VGC_L_SHORTCUT;
        if ((rc = resolve_sources(s, "from", i, l, VGC_MAX_SOURCES, err, errlen)) < 0 ||
            (rc = parse_act(s, "linear", &l->act, err, errlen)) < 0 ||
            (rc = opt_float(s, "alpha", 1.0f, -1e6f, 1e6f, &l->alpha, err, errlen)) < 0 ||
            (rc = opt_float(s, "beta", 1.0f, -1e6f, 1e6f, &l->beta, err, errlen)) < 0)
            return rc;
        if (((kv = opt_find(s, "weights_type")) && strcmp(kv->val, "none") != 0) ||
            ((kv = opt_find(s, "weights_normalization")) && strcmp(kv->val, "none") != 0))
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: weighted shortcuts (`%s=%s`) are not supported",
                            kv->line, kv->key, kv->val);
        if ((rc = check_unused(s, NULL, err, errlen)) < 0)
            return rc;
        if (!prev)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: a shortcut cannot be the first layer", s->line);
        if (l->nsrc > 1 && (l->alpha != 1.0f || l->beta != 1.0f))
            return vgc_fail(err, errlen, VIGIA_ENOTSUP,
                            "cfg line %d: alpha/beta with several `from` layers are not supported", s->line);
        for (int k = 0; k < l->nsrc; k++) {
            const vgc_layer *src = &net->layers[l->src[k]];
            int w1 = src->out_w, h1 = src->out_h, w2 = l->w, h2 = l->h;

            if (l->nsrc > 1 ? (w1 != w2 || h1 != h2)
                            : (w1 / w2 != h1 / h2 || w2 / w1 != h2 / h1))
                return vgc_fail(err, errlen, VIGIA_EINVAL,
                                "cfg line %d: shortcut from layer %d (%dx%d) does not fit the %dx%d input",
                                s->line, l->src[k], w1, h1, w2, h2);
        }
        l->out_w = l->w;
        l->out_h = l->h;
        l->out_c = l->c;
    } else if (strcmp(t, "upsample") == 0) {
        l->type = VGC_L_UPSAMPLE;
        if ((rc = opt_int(s, "stride", 2, -64, 64, &l->stride, err, errlen)) < 0 ||
            (rc = opt_float(s, "scale", 1.0f, -1e6f, 1e6f, &l->scale, err, errlen)) < 0 ||
            (rc = check_unused(s, NULL, err, errlen)) < 0)
            return rc;
        if (l->stride < 1)
            return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: upsample stride=%d is not supported",
                            s->line, l->stride);
        l->out_w = l->w * l->stride;
        l->out_h = l->h * l->stride;
        l->out_c = l->c;
    } else if (strcmp(t, "dropout") == 0) {
        static const char *const ignored[] = {
            "probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs", NULL
        };

        l->type = VGC_L_DROPOUT;
        if ((rc = check_unused(s, ignored, err, errlen)) < 0)
            return rc;
        l->out_w = l->w;
        l->out_h = l->h;
        l->out_c = l->c;
    } else if (strcmp(t, "yolo") == 0) {
        l->type = VGC_L_YOLO;
        if ((rc = parse_yolo(s, l, err, errlen)) < 0)
            return rc;
        if ((long)l->c != (long)l->n * (l->classes + 5))
            return vgc_fail(err, errlen, VIGIA_EINVAL,
                            "cfg line %d: [yolo] gets %d channels but %d boxes of %d classes need %ld",
                            s->line, l->c, l->n, l->classes, (long)l->n * (l->classes + 5));
        l->out_w = l->w;
        l->out_h = l->h;
        l->out_c = l->c;
    } else if (strcmp(t, "net") == 0 || strcmp(t, "network") == 0) {
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: [%s] must be the first section only",
                        s->line, t);
    } else {
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "cfg line %d: layer type [%s] is not supported",
                        s->line, t);
    }
    if ((rc = check_shape(l, err, errlen)) < 0)
        return rc;
    l->out_size = (size_t)l->out_w * (size_t)l->out_h * (size_t)l->out_c;
    return 0;
}


int vgc_net_build(vgc_net *net, vgc_cfg *cfg, const vgc_options *opt, char *err, size_t errlen)
{
    vgc_section *s0 = &cfg->sec[0];
    int rc, w, h, c, nyolo = 0;

    if (strcmp(s0->type, "net") != 0 && strcmp(s0->type, "network") != 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: the first section must be [net], not [%s]",
                        s0->line, s0->type);
    if ((rc = opt_int(s0, "width", 0, 0, VGC_MAX_DIM, &w, err, errlen)) < 0 ||
        (rc = opt_int(s0, "height", 0, 0, VGC_MAX_DIM, &h, err, errlen)) < 0 ||
        (rc = opt_int(s0, "channels", 0, 0, VGC_MAX_CHANNELS, &c, err, errlen)) < 0)
        return rc;
    /* everything else in [net] is a training setting */
    if (opt->input_w > 0)
        w = opt->input_w;
    if (opt->input_h > 0)
        h = opt->input_h;
    if (w < 1 || h < 1 || c < 1 || w > VGC_MAX_DIM || h > VGC_MAX_DIM)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: [net] needs width, height and channels (got %dx%dx%d)",
                        s0->line, w, h, c);
    if (cfg->nsec < 2)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg has no layers");
    net->w = w;
    net->h = h;
    net->c = c;
    net->n = cfg->nsec - 1;
    net->layers = calloc((size_t)net->n, sizeof *net->layers);
    if (!net->layers)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];

        if ((rc = build_layer(net, &cfg->sec[i + 1], i, l, opt, err, errlen)) < 0)
            return rc;
        if (l->type == VGC_L_YOLO) {
            if (nyolo++ && l->classes != net->classes)
                return vgc_fail(err, errlen, VIGIA_ENOTSUP,
                                "cfg line %d: [yolo] heads with different class counts (%d, %d)",
                                l->line, net->classes, l->classes);
            net->classes = l->classes;
            if ((size_t)net->max_cand + (size_t)l->out_w * l->out_h * l->n > (size_t)1 << 26)
                return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d: too many candidate boxes", l->line);
            net->max_cand += l->out_w * l->out_h * l->n;
        }
    }
    return 0;
}


size_t vgc_net_param_count(const vgc_net *net)
{
    size_t n = 0;

    for (int i = 0; i < net->n; i++) {
        const vgc_layer *l = &net->layers[i];

        if (l->type == VGC_L_CONV)
            n += (size_t)l->filters * (l->batch_normalize ? 4 : 1) + l->nweights;
    }
    return n;
}
