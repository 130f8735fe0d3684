/*
 * backends/cuda/kernels.cu: the CUDA engine's kernels (all but the
 * convolutions, which are cuDNN's). Each kernel is a grid-stride loop over
 * its output elements that calls the element function of kernels.h, the
 * same code the host emulation runs in tests/cuda; nothing else happens
 * here, so the index arithmetic is in one place.
 */
#include "gpu_kernels.h"

#define THREADS 256
#define MAX_BLOCKS (1u << 20)

static unsigned blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;

    return b == 0 ? 1u : (b > MAX_BLOCKS ? MAX_BLOCKS : (unsigned)b);
}

#define FOR_EACH(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void k_bias_act(float *y, const float *bias, size_t hw, int c, int act, size_t n)
{
    FOR_EACH(i, n)
        vgk_bias_act(y, bias, hw, c, act, i);
}

__global__ void k_maxpool(const float *in, float *out, vgk_shape sh, int size, int stride, int pad, size_t n)
{
    FOR_EACH(i, n)
        out[i] = vgk_maxpool(in, sh, size, stride, pad, i);
}

__global__ void k_upsample(const float *in, float *out, vgk_shape sh, int stride, float scale, size_t n)
{
    FOR_EACH(i, n)
        out[i] = vgk_upsample(in, sh, stride, scale, i);
}

__global__ void k_shortcut(const vgk_shortcut_args a, float *out, size_t n)
{
    FOR_EACH(i, n)
        out[i] = vgk_shortcut(&a, i);
}

__global__ void k_yolo(const float *in, float *out, const vgk_yolo_args a, size_t n)
{
    FOR_EACH(i, n)
        out[i] = vgk_yolo(in, &a, i);
}

__global__ void k_candidates(const float *out, const vgk_yolo_args a, size_t cells, size_t n, const float *thresh,
                             uint32_t *counts, uint32_t cap, uint64_t *keys, float *recs)
{
    const float t = *thresh;
    const size_t R = VGK_REC_FLOATS(a.classes);

    FOR_EACH(i, n) {
        const int b = (int)(i / cells);
        const size_t j = i % cells;

        if (vgk_candidate_passes(out, &a, b, j, t)) {
            const uint32_t slot = atomicAdd(&counts[b], 1u);

            if (slot < cap) {
                const size_t at = (size_t)b * cap + slot;

                vgk_candidate_write(out, &a, b, j, t, &keys[at], recs + at * R);
            }
        }
    }
}

extern "C" {

int vgcu_launch_bias_act(cudaStream_t s, float *y, const float *bias, size_t hw, int c, int act, size_t n)
{
    k_bias_act<<<blocks_for(n), THREADS, 0, s>>>(y, bias, hw, c, act, n);
    return (int)cudaGetLastError();
}

int vgcu_launch_maxpool(cudaStream_t s, const float *in, float *out, vgk_shape sh, int size, int stride, int pad,
                        size_t n)
{
    k_maxpool<<<blocks_for(n), THREADS, 0, s>>>(in, out, sh, size, stride, pad, n);
    return (int)cudaGetLastError();
}

int vgcu_launch_upsample(cudaStream_t s, const float *in, float *out, vgk_shape sh, int stride, float scale,
                         size_t n)
{
    k_upsample<<<blocks_for(n), THREADS, 0, s>>>(in, out, sh, stride, scale, n);
    return (int)cudaGetLastError();
}

int vgcu_launch_shortcut(cudaStream_t s, const vgk_shortcut_args *a, float *out, size_t n)
{
    k_shortcut<<<blocks_for(n), THREADS, 0, s>>>(*a, out, n);
    return (int)cudaGetLastError();
}

int vgcu_launch_yolo(cudaStream_t s, const float *in, float *out, const vgk_yolo_args *a, size_t n)
{
    k_yolo<<<blocks_for(n), THREADS, 0, s>>>(in, out, *a, n);
    return (int)cudaGetLastError();
}

int vgcu_launch_candidates(cudaStream_t s, const float *out, const vgk_yolo_args *a, int batch, const float *thresh,
                           uint32_t *counts, uint32_t cap, uint64_t *keys, float *recs)
{
    const size_t cells = (size_t)a->w * (size_t)a->h * (size_t)a->n, n = cells * (size_t)batch;

    k_candidates<<<blocks_for(n), THREADS, 0, s>>>(out, *a, cells, n, thresh, counts, cap, keys, recs);
    return (int)cudaGetLastError();
}

} /* extern "C" */
