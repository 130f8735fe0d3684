/*
 * backends/cuda/emul.c: the plan run on the host (emul.h). Convolutions are
 * direct (slow and simple: the point is the weight layout and the shapes
 * cuDNN is given); every other layer calls the element function its CUDA
 * kernel calls.
 */
#include <string.h>

#include "emul.h"

/* What cuDNN computes for one conv layer (cross-correlation, groups), then bias and activation. */
static void conv_direct(const vgcu_plan *p, const vgc_layer *l, const float *w, const float *bias,
                        const float *in, float *out, int batch)
{
    const int cg = l->c / l->groups, fg = l->filters / l->groups;
    const size_t ihw = (size_t)l->w * l->h, ohw = (size_t)l->out_w * l->out_h;

    (void)p;
    for (int b = 0; b < batch; b++) {
        for (int f = 0; f < l->filters; f++) {
            const int g = f / fg;
            float *o = out + (size_t)b * l->out_size + (size_t)f * ohw;

            for (size_t k = 0; k < ohw; k++)
                o[k] = 0;
            for (int c = 0; c < cg; c++) {
                const float *plane = in + (size_t)b * ihw * l->c + (size_t)(g * cg + c) * ihw;

                for (int ky = 0; ky < l->size; ky++) {
                    for (int kx = 0; kx < l->size; kx++) {
                        const float wv = w[(((size_t)f * cg + c) * l->size + ky) * l->size + kx];

                        for (int y = 0; y < l->out_h; y++) {
                            const int iy = y * l->stride - l->pad + ky;
                            float *orow = o + (size_t)y * l->out_w;

                            if (iy < 0 || iy >= l->h)
                                continue;
                            for (int x = 0; x < l->out_w; x++) {
                                const int ix = x * l->stride - l->pad + kx;

                                if (ix >= 0 && ix < l->w)
                                    orow[x] += wv * plane[(size_t)iy * l->w + ix];
                            }
                        }
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < (size_t)batch * l->out_size; i++)
        vgk_bias_act(out, bias, ohw, l->filters, (int)l->act, i);
}


void vgcu_emul_forward(const vgcu_plan *p, float *arena, const float *input, int batch)
{
    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];
        const vgc_layer *l = &L->l;
        const int src = vgcu_plan_input_of(p, i);
        const float *in = src < 0 ? input : arena + p->layers[src].off;
        float *out = arena + L->off;
        const size_t total = (size_t)batch * l->out_size;
        const vgk_shape s = { l->w, l->h, l->c, l->out_w, l->out_h, l->out_c };

        switch (l->type) {
        case VGC_L_CONV:
            conv_direct(p, l, p->params + L->woff, p->params + L->boff, in, out, batch);
            break;
        case VGC_L_MAXPOOL:
            for (size_t k = 0; k < total; k++)
                out[k] = vgk_maxpool(in, s, l->size, l->stride, l->pad, k);
            break;
        case VGC_L_UPSAMPLE:
            for (size_t k = 0; k < total; k++)
                out[k] = vgk_upsample(in, s, l->stride, l->scale, k);
            break;
        case VGC_L_ROUTE:
            if (L->root != i)
                break;
            for (int b = 0; b < batch; b++) {
                float *dst = out + (size_t)b * l->out_size;

                for (int k = 0; k < l->nsrc; k++) {
                    const vgcu_layer *S = &p->layers[l->src[k]];
                    const size_t part = S->l.out_size / (size_t)l->groups;

                    memcpy(dst, arena + S->off + (size_t)b * S->l.out_size + part * (size_t)l->group_id,
                           part * sizeof(float));
                    dst += part;
                }
            }
            break;
        case VGC_L_SHORTCUT: {
            vgk_shortcut_args a;

            vgcu_plan_shortcut_args(p, i, arena, input, &a);
            for (size_t k = 0; k < total; k++)
                out[k] = vgk_shortcut(&a, k);
            break;
        }
        case VGC_L_DROPOUT:
            if (L->root == i)
                memcpy(out, in, total * sizeof(float));
            break;
        case VGC_L_YOLO: {
            vgk_yolo_args a;

            vgcu_plan_yolo_args(p, i, &a);
            for (size_t k = 0; k < total; k++)
                out[k] = vgk_yolo(in, &a, k);
            break;
        }
        }
    }
}


void vgcu_emul_heads(const vgcu_plan *p, const float *arena, int b, const float **heads)
{
    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];

        if (L->l.type == VGC_L_YOLO)
            heads[L->ordinal] = arena + L->off + (size_t)b * L->l.out_size;
    }
}
