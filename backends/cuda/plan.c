/*
 * backends/cuda/plan.c: a network's plan for the CUDA engine (plan.h):
 * the CPU engine reads and checks the cfg and weights, this file copies its
 * layer list, lays the folded weights out as cuDNN wants them, plans the
 * device arena, and turns candidate records into the ABI's candidate sets.
 *
 * Pure host C: no CUDA header is needed here, so the plan and its tests
 * build everywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static size_t align_floats(size_t n)
{
    return (n + VGCU_ALIGN_FLOATS - 1) / VGCU_ALIGN_FLOATS * VGCU_ALIGN_FLOATS;
}


static int fail(char *err, size_t errlen, int code, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return code;
}


static int root_of(const vgcu_plan *p, int i)
{
    while (p->layers[i].l.alias >= 0)
        i = p->layers[i].l.alias;
    return i;
}


static void mark_use(vgcu_plan *p, int src, int user)
{
    int r = root_of(p, src);

    if (p->layers[r].last_use < user)
        p->layers[r].last_use = user;
}


typedef struct block {
    size_t off, size;         /* floats */
} block;

/*
 * Give every layer that owns a buffer an arena offset: a buffer is free
 * after its last reader has run (the GPU runs the layers in order on one
 * stream), and a new one takes the lowest gap that fits. Aliases
 * ([dropout], a [route] of one whole layer) read their root's buffer.
 */
static int plan_memory(vgcu_plan *p, int keep, char *err, size_t errlen)
{
    block *live = calloc((size_t)p->n + 1, sizeof *live);
    int *owner = calloc((size_t)p->n + 1, sizeof *owner);
    int nlive = 0, rc = 0;
    size_t top = 0;

    if (!live || !owner) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < p->n; i++) {
        const vgc_layer *l = &p->layers[i].l;

        p->layers[i].last_use = i;
        if (i > 0 && l->type != VGC_L_ROUTE)
            mark_use(p, i - 1, i);
        if (l->type == VGC_L_ROUTE || l->type == VGC_L_SHORTCUT)
            for (int k = 0; k < l->nsrc; k++)
                mark_use(p, l->src[k], i);
    }
    for (int i = 0; i < p->n; i++)
        if (keep || p->layers[i].l.type == VGC_L_YOLO || i == p->n - 1)
            mark_use(p, i, p->n);
    for (int i = 0; i < p->n; i++) {
        vgcu_layer *L = &p->layers[i];
        size_t size, off = 0;
        int at;

        L->root = root_of(p, i);
        if (L->root != i)
            continue;
        for (int k = 0; k < nlive;) {
            if (p->layers[owner[k]].last_use < i) {
                memmove(&live[k], &live[k + 1], (size_t)(nlive - k - 1) * sizeof *live);
                memmove(&owner[k], &owner[k + 1], (size_t)(nlive - k - 1) * sizeof *owner);
                nlive--;
            } else {
                k++;
            }
        }
        size = align_floats(L->l.out_size * (size_t)p->max_batch);
        for (at = 0; at < nlive; at++) {
            if (live[at].off - off >= size)
                break;
            off = live[at].off + live[at].size;
        }
        memmove(&live[at + 1], &live[at], (size_t)(nlive - at) * sizeof *live);
        memmove(&owner[at + 1], &owner[at], (size_t)(nlive - at) * sizeof *owner);
        live[at] = (block){ off, size };
        owner[at] = i;
        nlive++;
        L->off = off;
        if (off + size > top)
            top = off + size;
    }
    for (int i = 0; i < p->n; i++)
        p->layers[i].off = p->layers[p->layers[i].root].off;
    p->arena_floats = top;
out:
    free(live);
    free(owner);
    return rc;
}


size_t vgcu_plan_device_bytes(const vgcu_plan *p)
{
    return (p->params_floats + p->arena_floats + align_floats(p->in_size * (size_t)p->max_batch)) *
           sizeof(float);
}


int vgcu_plan_create(vgcu_plan **out, const char *cfg_path, const char *weights_path,
                     const vgcu_options *opt_in, char *err, size_t errlen)
{
    vgcu_options opt = opt_in ? *opt_in : (vgcu_options){ 0 };
    vgc_options co = { 0 };
    vgc_net *net = NULL;
    vgcu_plan *p = NULL;
    size_t max_bytes = opt.max_bytes ? opt.max_bytes : VGCU_MAX_DEVICE_BYTES;
    int rc, nyolo = 0;

    *out = NULL;
    if (opt.max_batch < 0 || opt.max_batch > VGCU_MAX_BATCH)
        return snprintf(err, errlen, "batch %d is not in [1, %d]", opt.max_batch, VGCU_MAX_BATCH), VIGIA_EINVAL;
    /* the CPU engine reads and checks everything; plain weights, no Winograd, one image */
    co.input_w = opt.input_w;
    co.input_h = opt.input_h;
    co.max_batch = 1;
    co.threads = 1;
    co.simd = VGC_SIMD_GENERIC;
    co.no_winograd = 1;
    co.ignore_scale_x_y = opt.ignore_scale_x_y;
    co.no_weights = opt.no_weights;
    co.seed = opt.seed;
    if ((rc = vgc_net_load(&net, cfg_path, opt.no_weights ? NULL : weights_path, &co, err, errlen)) < 0)
        return rc;
    p = calloc(1, sizeof *p);
    if (!p) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail;
    }
    vgc_net_input_size(net, &p->w, &p->h, &p->c);
    if (p->c != 3) {
        rc = VIGIA_ENOTSUP;
        snprintf(err, errlen, "the network takes %d channels; vigia sends 3 (rgb)", p->c);
        goto fail;
    }
    p->classes = vgc_net_classes(net);
    if (p->classes < 1) {
        rc = fail(err, errlen, VIGIA_ENOTSUP, "the network has no [yolo] layer");
        goto fail;
    }
    p->n = vgc_net_layers(net);
    p->in_size = (size_t)p->w * (size_t)p->h * (size_t)p->c;
    p->max_batch = opt.max_batch ? opt.max_batch : 1;
    p->max_cand = vgc_net_max_candidates(net);
    p->ignore_scale_x_y = opt.ignore_scale_x_y;
    p->flops = vgc_net_flops(net);
    p->layers = calloc((size_t)p->n, sizeof *p->layers);
    if (!p->layers) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p->n; i++) {
        vgcu_layer *L = &p->layers[i];

        L->l = *vgc_net_layer(net, i);
        L->l.weights = L->l.biases = NULL;
        L->l.packed = NULL;
        L->l.out = NULL;
        L->ordinal = L->l.type == VGC_L_YOLO ? nyolo++ : -1;
        if (L->l.type == VGC_L_CONV) {
            L->boff = p->params_floats;
            L->woff = L->boff + align_floats((size_t)L->l.filters);
            p->params_floats = L->woff + align_floats(L->l.nweights);
        }
    }
    p->nheads = nyolo;
    if (p->params_floats * sizeof(float) > max_bytes) {
        rc = VIGIA_EINVAL;
        snprintf(err, errlen, "the weights take %zu MiB, more than the %zu MiB allowed",
                 p->params_floats * sizeof(float) >> 20, max_bytes >> 20);
        goto fail;
    }
    p->params = calloc(p->params_floats ? p->params_floats : 1, sizeof(float));
    if (!p->params) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory for the weights");
        goto fail;
    }
    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];
        const vgc_layer *cl = vgc_net_layer(net, i);
        const int per = (cl->c / cl->groups) * cl->size * cl->size;

        if (cl->type != VGC_L_CONV)
            continue;
        memcpy(p->params + L->boff, cl->biases, (size_t)cl->filters * sizeof(float));
        for (int f = 0; f < cl->filters; f++)
            for (int k = 0; k < per; k++)
                p->params[L->woff + (size_t)f * (size_t)per + (size_t)k] = vgc_layer_weight(net, cl, f, k);
    }
    vgc_net_destroy(net);
    net = NULL;
    if ((rc = plan_memory(p, opt.keep_outputs, err, errlen)) < 0)
        goto fail;
    if (vgcu_plan_device_bytes(p) > max_bytes) {
        rc = VIGIA_EINVAL;
        snprintf(err, errlen, "the network needs %zu MiB of device memory at batch %d, more than the %zu MiB allowed",
                 vgcu_plan_device_bytes(p) >> 20, p->max_batch, max_bytes >> 20);
        goto fail;
    }
    *out = p;
    return 0;

fail:
    vgc_net_destroy(net);
    vgcu_plan_destroy(p);
    return rc;
}


void vgcu_plan_destroy(vgcu_plan *p)
{
    if (!p)
        return;
    free(p->layers);
    free(p->params);
    free(p);
}


int vgcu_plan_input_of(const vgcu_plan *p, int i)
{
    return i == 0 ? -1 : p->layers[i - 1].root;
}


void vgcu_plan_yolo_args(const vgcu_plan *p, int i, vgk_yolo_args *a)
{
    const vgc_layer *l = &p->layers[i].l;

    memset(a, 0, sizeof *a);
    a->w = l->w;
    a->h = l->h;
    a->n = l->n;
    a->classes = l->classes;
    a->new_coords = l->new_coords;
    a->scale_x_y = p->ignore_scale_x_y ? 1.0f : l->scale_x_y;
    a->size = l->out_size;
    a->net_w = p->w;
    a->net_h = p->h;
    for (int k = 0; k < l->n && k < 64; k++) {
        a->anchors[2 * k] = l->anchors[2 * l->mask[k]];
        a->anchors[2 * k + 1] = l->anchors[2 * l->mask[k] + 1];
    }
    a->ordinal = (uint32_t)p->layers[i].ordinal;
}


void vgcu_plan_shortcut_args(const vgcu_plan *p, int i, const float *arena, const float *input,
                             vgk_shortcut_args *a)
{
    const vgc_layer *l = &p->layers[i].l;
    const int in = vgcu_plan_input_of(p, i);

    memset(a, 0, sizeof *a);
    a->x = in < 0 ? input : arena + p->layers[in].off;
    a->w = l->out_w;
    a->h = l->out_h;
    a->c = l->out_c;
    a->size = l->out_size;
    a->nsrc = l->nsrc;
    for (int k = 0; k < l->nsrc && k < VGK_MAX_SOURCES; k++) {
        const vgcu_layer *s = &p->layers[l->src[k]];

        a->src[k] = arena + s->off;
        a->sw[k] = s->l.out_w;
        a->sh[k] = s->l.out_h;
        a->sc[k] = s->l.out_c;
        a->ssize[k] = s->l.out_size;
    }
    a->alpha = l->alpha;
    a->beta = l->beta;
    a->act = (int)l->act;
}

/* ---- candidates ---------------------------------------------------------------------- */

int vgcu_cand_work_init(vgcu_cand_work *w, const vgcu_plan *p)
{
    size_t n = (size_t)p->max_cand + 1;

    memset(w, 0, sizeof *w);
    w->keys = malloc(n * sizeof *w->keys);
    w->recs = malloc(n * VGK_REC_FLOATS(p->classes) * sizeof(float));
    w->order = malloc(n * sizeof *w->order);
    w->objs = malloc(n * sizeof *w->objs);
    w->max_cand = (uint32_t)p->max_cand;
    if (!w->keys || !w->recs || !w->order || !w->objs) {
        vgcu_cand_work_release(w);
        return VIGIA_ENOMEM;
    }
    return 0;
}


void vgcu_cand_work_release(vgcu_cand_work *w)
{
    free(w->keys);
    free(w->recs);
    free(w->order);
    free(w->objs);
    memset(w, 0, sizeof *w);
}


static int by_key(const void *a, const void *b)
{
    const vgcu_key_index *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}


static int by_value_desc(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;

    return x > y ? -1 : x < y;
}


void vgcu_candidates_finish(int classes, const uint64_t *keys, const float *recs, uint32_t count,
                            vgcu_cand_work *w, vigia_candidates *out, uint32_t *index)
{
    const size_t R = VGK_REC_FLOATS(classes);
    uint32_t written = 0, ties = out->capacity;
    float cut = 0;

    if (count > w->max_cand)
        count = w->max_cand;
    for (uint32_t i = 0; i < count; i++)
        w->order[i] = (vgcu_key_index){ keys[i], i };
    qsort(w->order, count, sizeof *w->order, by_key);
    out->truncated = count > out->capacity;
    if (out->truncated) {
        uint32_t above = 0;

        if (out->capacity == 0) {
            out->count = 0;
            return;
        }
        /* the capacity-th highest objectness; keep what is above it and as many equal as fit */
        for (uint32_t i = 0; i < count; i++)
            w->objs[i] = recs[(size_t)i * R + 4];
        qsort(w->objs, count, sizeof *w->objs, by_value_desc);
        cut = w->objs[out->capacity - 1];
        for (uint32_t i = 0; i < count; i++)
            if (w->objs[i] > cut)
                above++;
        ties = out->capacity - above;
    }
    for (uint32_t s = 0; s < count; s++) {
        const float *r = recs + (size_t)w->order[s].index * R;
        const uint64_t key = w->order[s].key;

        if (out->truncated) {
            if (r[4] < cut)
                continue;
            if (r[4] == cut) {
                if (ties == 0)
                    continue;
                ties--;
            }
        }
        memcpy(out->box + 4 * (size_t)written, r, 4 * sizeof(float));
        out->objectness[written] = r[4];
        memcpy(out->prob + (size_t)classes * written, r + 5, (size_t)classes * sizeof(float));
        if (index)
            index[written] = (uint32_t)(key >> 32) << 24 | (uint32_t)(((key >> 6) & 0x3ffffff) * 64 + (key & 63));
        written++;
    }
    out->count = written;
}


void vgcu_candidates_host(const vgcu_plan *p, const float *const *heads, float thresh, vgcu_cand_work *w,
                          vigia_candidates *out, uint32_t *index)
{
    const size_t R = VGK_REC_FLOATS(p->classes);
    uint32_t count = 0;

    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];
        vgk_yolo_args a;
        size_t cells;

        if (L->l.type != VGC_L_YOLO)
            continue;
        vgcu_plan_yolo_args(p, i, &a);
        cells = (size_t)a.w * (size_t)a.h * (size_t)a.n;
        for (size_t j = 0; j < cells; j++) {
            if (!vgk_candidate_passes(heads[L->ordinal], &a, 0, j, thresh) || count >= w->max_cand)
                continue;
            vgk_candidate_write(heads[L->ordinal], &a, 0, j, thresh, &w->keys[count],
                                w->recs + (size_t)count * R);
            count++;
        }
    }
    vgcu_candidates_finish(p->classes, w->keys, w->recs, count, w, out, index);
}
