/*
 * backends/cuda/gpu.h: a plan (plan.h) loaded on a GPU and run there:
 * convolutions through cuDNN, every other layer through the kernels of
 * kernels.cu, candidates selected on the device.
 *
 * Everything a model needs on the device (weights, activation arena,
 * input, cuDNN workspace, candidate records) and its pinned host buffers
 * are allocated once by vgcu_gpu_create(); vgcu_gpu_infer() allocates
 * nothing. Each model has its own CUDA stream and cuDNN handle (a vigia
 * worker opens one model, so one stream per worker).
 *
 * Threading: a vgcu_gpu is used by one thread at a time (the plugin ABI's
 * rule).
 *
 * Errors: functions return 0 or a negative VIGIA_E* code and write a
 * lowercase one-line message into err.
 */
#ifndef VGCU_GPU_H
#define VGCU_GPU_H

#include <stddef.h>

#include "plan.h"

/* How a plan is loaded on the GPU. Zero means "default" for every field. */
typedef struct vgcu_gpu_options {
    int device;               /* CUDA device ordinal */
    int tf32;                 /* let cuDNN use TF32 tensor cores (faster, ~1e-3 relative error per layer) */
    int no_graphs;            /* launch layer by layer instead of replaying a CUDA graph per batch size */
    int heuristic_algos;      /* cuDNN's heuristics instead of timing every algorithm at load */
    int no_fusion;            /* never use cuDNN's fused convolution + bias + activation */
    size_t workspace_limit;   /* cuDNN workspace, bytes (0 = 256 MiB) */
} vgcu_gpu_options;

typedef struct vgcu_gpu vgcu_gpu;

/*
 * Is there a GPU this build can use? 0, or VIGIA_ENODEV with the reason
 * (no driver: CUDA error 35; no device: 100; a device older than sm_75),
 * or VIGIA_EBACKEND for other CUDA errors. Never crashes without a
 * driver. Initialises the CUDA runtime: call it after fork(), as open.
 */
VGC_HIDDEN int vgcu_probe(int device, char *err, size_t errlen);

/*
 * One line about device `device` for logs and benchmarks: name, compute
 * capability, memory, driver, runtime and cuDNN versions (a static
 * buffer). Call after a successful vgcu_probe().
 */
VGC_HIDDEN const char *vgcu_gpu_describe_device(int device);

/*
 * Load plan p on the GPU (the gpu takes ownership of p, also on failure).
 * Chooses the cuDNN algorithm of every convolution for every batch size
 * it will run (powers of two up to p->max_batch, and p->max_batch),
 * tries the fused convolution where cuDNN has it, captures the CUDA
 * graphs. On success *out must be freed with vgcu_gpu_destroy().
 */
VGC_HIDDEN int vgcu_gpu_create(vgcu_gpu **out, vgcu_plan *p, const vgcu_gpu_options *opt,
                               char *err, size_t errlen);

/* Free everything; NULL is fine. */
VGC_HIDDEN void vgcu_gpu_destroy(vgcu_gpu *g);

/*
 * Run `batch` images (1..max_batch; input: batch x c x h x w floats on the
 * host) and fill out[0..batch) as the plugin ABI defines candidates
 * (vgcu_candidates_finish()). A batch runs as the smallest planned batch
 * size that holds it; the extra images' results are ignored.
 */
VGC_HIDDEN int vgcu_gpu_infer(vgcu_gpu *g, const float *input, int batch, float thresh,
                              vigia_candidates *out, char *err, size_t errlen);

/* The same; index[b], when index is not NULL, receives image b's darknet indexes (tests). */
VGC_HIDDEN int vgcu_gpu_infer_indexed(vgcu_gpu *g, const float *input, int batch, float thresh,
                                      vigia_candidates *out, uint32_t *const *index, char *err, size_t errlen);

/*
 * Only the forward pass, from the input already on the device (the last
 * infer's), for benchmarks: `batch` images, no copies, then wait for the
 * GPU. Returns 0 or an error.
 */
VGC_HIDDEN int vgcu_gpu_forward_only(vgcu_gpu *g, int batch, char *err, size_t errlen);

/*
 * Copy layer i's output for image b of the last infer to host (out_size
 * floats). Meaningful for every layer only with plan option keep_outputs.
 */
VGC_HIDDEN int vgcu_gpu_layer_output(vgcu_gpu *g, int i, int b, float *host, char *err, size_t errlen);

/* The plan, the device description ("cuda:0 NVIDIA H100 ..."), and what was chosen at load. */
VGC_HIDDEN const vgcu_plan *vgcu_gpu_plan(const vgcu_gpu *g);
VGC_HIDDEN const char *vgcu_gpu_device(const vgcu_gpu *g);
VGC_HIDDEN const char *vgcu_gpu_summary(const vgcu_gpu *g);
/* Bytes of device memory this model holds. */
VGC_HIDDEN size_t vgcu_gpu_device_bytes(const vgcu_gpu *g);

#endif /* VGCU_GPU_H */
