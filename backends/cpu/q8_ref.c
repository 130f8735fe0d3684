/*
 * backends/cpu/q8_ref.c: the scalar int8 GEMM, the reference every SIMD
 * int8 kernel is tested against (and the one machines without AVX2 run).
 */
#include "q8.h"

static void gemm_ref(const vgc_q8_gemm *g)
{
    int taps, cp;
    size_t gs;

    vgc_q8_walk(g, &taps, &cp, &gs);
    for (int m = 0; m < g->m; m++) {
        const int8_t *a = g->a + (size_t)m * g->kp;
        float *c = g->c + (size_t)m * g->ldc;

        for (int n = 0; n < g->n; n++) {
            int32_t acc = 0;

            for (int t = 0; t < taps; t++) {
                const uint8_t *b = g->b + vgc_q8_toff(g, t) + (size_t)n * 4;

                for (int k = 0; k < cp; k++)
                    acc += (int32_t)a[t * cp + k] * (int32_t)b[(size_t)(k >> 2) * gs + (k & 3)];
            }
            c[n] = vgc_act_scalar((float)(acc - g->comp[m]) * g->scale[m] + g->bias[m], g->act);
        }
    }
}

const vgc_q8_kernels vgc_q8_ref = { VGC_Q8_REF, "ref", 127, 0, gemm_ref, 0, 1 };


/* The bf16 form (q8.h): float accumulation of bf16 products, y = act(acc + bias). */
static void gemm_bf16_ref(const vgc_q8_gemm *g)
{
    const uint16_t *a0 = (const uint16_t *)(const void *)g->a;
    const uint16_t *b = (const uint16_t *)(const void *)g->b;

    for (int m = 0; m < g->m; m++) {
        const uint16_t *a = a0 + (size_t)m * g->kp;
        float *c = g->c + (size_t)m * g->ldc;

        for (int n = 0; n < g->n; n++) {
            float acc = 0;

            for (int k = 0; k < g->kp; k++)
                acc += vgc_bf16_to(a[k]) * vgc_bf16_to(b[((size_t)(k >> 1) * g->ldb + n) * 2 + (k & 1)]);
            c[n] = vgc_act_scalar(acc + g->bias[m], g->act);
        }
    }
}

const vgc_q8_kernels vgc_bf16_ref = { VGC_BF16_REF, "bf16_ref", 0, 1, gemm_bf16_ref, 0, 0 };


/* y to u8 as q8.c's quantize pass: y * qinv + qzp (qzp = zp + 0.5), clamped, truncated. */
static uint8_t dw_quantize(float y, float qinv, float qzp)
{
    float t = y * qinv;

    t = t + qzp;
    t = t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t;
    return (uint8_t)(int)t;
}


/* One depthwise channel (q8.h's vgc_q8_dw), every output a plain sum over the taps. */
void vgc_q8_dw_ref(const vgc_q8_dw *d)
{
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox++) {
            const size_t at = (size_t)oy * d->stride * d->ldi + (size_t)ox * d->stride;
            int32_t acc = 0;
            float y;

            for (int ky = 0; ky < d->size; ky++)
                for (int kx = 0; kx < d->size; kx++) {
                    const size_t i = at + (size_t)ky * d->ldi + kx;

                    acc += (int32_t)d->k[ky * d->size + kx] * (int32_t)(d->in16 ? d->in16[i] : d->in[i]);
                }
            y = vgc_act_scalar((float)(acc - d->comp) * d->scale + d->bias, d->act);
            if (d->qout)
                d->qout[(size_t)oy * d->ldq + ox] = dw_quantize(y, d->qinv, d->qzp);
            else if (d->out16)
                d->out16[2 * ((size_t)oy * d->ow + ox)] = vgc_s16_round(y, d->inv16, d->max16);
            else
                d->out[(size_t)oy * d->ldo + ox] = y;
        }
}
