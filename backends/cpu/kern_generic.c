/*
 * backends/cpu/kern_generic.c: the kernels in portable C (one float per
 * "vector"), for CPUs without AVX2, and the scalar activation every
 * variant matches.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"

float vgc_act_scalar(float x, enum vgc_act act)
{
    switch (act) {
    case VGC_ACT_LINEAR:
        return x;
    case VGC_ACT_LEAKY:
        return x > 0 ? x : 0.1f * x;
    case VGC_ACT_RELU:
        return x > 0 ? x : 0;
    case VGC_ACT_RELU6:
        return x < 0 ? 0 : (x > 6 ? 6 : x);
    case VGC_ACT_LOGISTIC:
        return 1.0f / (1.0f + expf(-x));
    case VGC_ACT_MISH: {
        /* AlexeyAB: x * tanh(softplus(x)), softplus thresholded at 20 */
        float sp = x > 20 ? x : (x < -20 ? expf(x) : log1pf(expf(x)));

        return x * tanhf(sp);
    }
    case VGC_ACT_SWISH:
        return x / (1.0f + expf(-x));
    }
    return x;
}

float vgc_act_bound(float lo, float hi, enum vgc_act act)
{
    switch (act) {
    case VGC_ACT_LINEAR:
    case VGC_ACT_LEAKY:
    case VGC_ACT_RELU:
    case VGC_ACT_RELU6:
    case VGC_ACT_LOGISTIC:
        lo = fabsf(vgc_act_scalar(lo, act)), hi = fabsf(vgc_act_scalar(hi, act));
        return lo > hi ? lo : hi;
    default:
        return -1.0f;
    }
}


#define VW 1
typedef float vf;
#define VSET1(x) (x)
#define VZERO 0.0f
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VLOADN(p, n) ((void)(n), *(p))
#define VSTOREN(p, v, n) ((void)(n), *(p) = (v))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VDIV(a, b) ((a) / (b))
#define VEXP(x) expf(x)
#define VDEINT(lo, hi, ev, od) (*(ev) = (lo), *(od) = (hi))
#define VINTER(a, b, lo, hi) (*(lo) = (a), *(hi) = (b))
#define VMUL(a, b) ((a) * (b))
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define KLEVEL VGC_SIMD_GENERIC
#define KNAME(x) x##_generic

static void gemm_blas_generic(const float *a, int m, int k, const float *b, size_t ldb, int n,
                              float *c, size_t ldc, const float *bias, enum vgc_act act);

#include "kern_tmpl.h"

/* Without AVX2, GEMMs go to OpenBLAS (A in plain row-major order: panels of one row). */
static void gemm_blas_generic(const float *a, int m, int k, const float *b, size_t ldb, int n,
                              float *c, size_t ldc, const float *bias, enum vgc_act act)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, (int)ldb, 0.0f, c,
                (int)ldc);
    for (int r = 0; r < m; r++)
        bias_act_generic(c + (size_t)r * ldc, (size_t)n, bias ? bias[r] : 0.0f, act);
}
