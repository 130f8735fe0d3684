/*
 * backends/cuda/gpu_kernels.h: launching the CUDA engine's kernels
 * (kernels.cu) on a stream, from C (gpu.c).
 *
 * Each launcher queues one kernel that computes n output elements with the
 * element function of the same name in kernels.h, and returns the launch
 * status (cudaGetLastError() as an int: 0 = cudaSuccess). Pointers are
 * device pointers. Nothing is allocated; the calls are safe to capture in
 * a CUDA graph.
 */
#ifndef VGCU_GPU_KERNELS_H
#define VGCU_GPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VGCU_KERNEL_HIDDEN __attribute__((visibility("hidden")))

/* y[i] = act(y[i] + bias[channel]) for i < n (n = batch x c x hw) */
VGCU_KERNEL_HIDDEN int vgcu_launch_bias_act(cudaStream_t s, float *y, const float *bias, size_t hw, int c,
                                            int act, size_t n);
VGCU_KERNEL_HIDDEN int vgcu_launch_maxpool(cudaStream_t s, const float *in, float *out, vgk_shape sh, int size,
                                           int stride, int pad, size_t n);
VGCU_KERNEL_HIDDEN int vgcu_launch_upsample(cudaStream_t s, const float *in, float *out, vgk_shape sh,
                                            int stride, float scale, size_t n);
VGCU_KERNEL_HIDDEN int vgcu_launch_shortcut(cudaStream_t s, const vgk_shortcut_args *a, float *out, size_t n);
VGCU_KERNEL_HIDDEN int vgcu_launch_yolo(cudaStream_t s, const float *in, float *out, const vgk_yolo_args *a,
                                        size_t n);
/*
 * The candidates of `batch` images of one head: every cell and anchor whose
 * objectness is above *thresh (a device float) takes the next slot of its
 * image (atomically: counts[b] counts them all, even past cap) and, when
 * the slot is below cap, writes its key and record at [b * cap + slot].
 */
VGCU_KERNEL_HIDDEN int vgcu_launch_candidates(cudaStream_t s, const float *out, const vgk_yolo_args *a,
                                              int batch, const float *thresh, uint32_t *counts, uint32_t cap,
                                              uint64_t *keys, float *recs);

#ifdef __cplusplus
}
#endif

#endif /* VGCU_GPU_KERNELS_H */
