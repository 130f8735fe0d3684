/*
 * backends/cpu/q8_ref.c: the scalar int8 GEMM, the reference every SIMD
 * int8 kernel is tested against (and the one machines without AVX2 run).
 */
#include "q8.h"

static void gemm_ref(const vgc_q8_gemm *g)
{
    for (int m = 0; m < g->m; m++) {
        const int8_t *a = g->a + (size_t)m * g->kp;
        float *c = g->c + (size_t)m * g->ldc;

        for (int n = 0; n < g->n; n++) {
            int32_t acc = 0;

            for (int k = 0; k < g->kp; k++)
                acc += (int32_t)a[k] * (int32_t)g->b[((size_t)(k >> 2) * g->ldb + n) * 4 + (k & 3)];
            c[n] = vgc_act_scalar((float)(acc - g->comp[m]) * g->scale[m] + g->bias[m], g->act);
        }
    }
}

const vgc_q8_kernels vgc_q8_ref = { VGC_Q8_REF, "ref", 127, 0, gemm_ref };


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

const vgc_q8_kernels vgc_bf16_ref = { VGC_BF16_REF, "bf16_ref", 0, 1, gemm_bf16_ref };
