/*
 * backends/cpu/onnx_exec.h: runs an ONNX graph (onnx_read.h, optionally
 * rewritten by onnx_rewrite.h) on the engine's kernels.
 *
 * vgc_onnx_exec_create() plans once: it checks that every live node can be
 * run (refusing with the node and op otherwise), makes each Conv one of the
 * engine's convolution layers (packed weights, Winograd where the memory
 * headroom allows, depthwise, 1x1 GEMM), and places every intermediate value
 * in one arena, reusing space once a value's last reader has run.
 * vgc_onnx_exec_run() then computes the graph for one set of inputs; the
 * convolutions split among `threads` compute threads (the engine's task
 * pool; 1: the calling thread alone), the other operators run on the
 * calling thread.
 *
 * The graph is borrowed: it must outlive the executor and not change.
 * Errors: 0 or a negative VIGIA_E* code with a one-line message in err.
 */
#ifndef VGC_ONNX_EXEC_H
#define VGC_ONNX_EXEC_H

#include "onnx_read.h"

typedef struct vgc_onnx_exec vgc_onnx_exec;

/* Plan g. Fails with VIGIA_ENOTSUP (a node we cannot run), VIGIA_EINVAL, VIGIA_ENOMEM. */
VGC_HIDDEN int vgc_onnx_exec_create(vgc_onnx_exec **out, const vgc_onnx_graph *g, char *err, size_t errlen);

/* The same with `threads` compute threads (1 to VGC_MAX_THREADS, else VIGIA_EINVAL). */
VGC_HIDDEN int vgc_onnx_exec_create_threads(vgc_onnx_exec **out, const vgc_onnx_graph *g, int threads, char *err,
                                            size_t errlen);

/*
 * The same for the one executor of a graph its caller owns: the constants
 * that only the executor's packed copies read (a Conv's weights, a Gemm's
 * B) are freed from g as they are packed, so that a model is held once,
 * not twice, and the load's peak is not the model's size twice over.
 */
VGC_HIDDEN int vgc_onnx_exec_create_owner(vgc_onnx_exec **out, vgc_onnx_graph *g, int threads, char *err,
                                          size_t errlen);

/*
 * Run once: inputs[i] holds graph input i (g->in[i]) with the shape the
 * graph gives it; it is read, never written, and may be freed on return.
 */
VGC_HIDDEN int vgc_onnx_exec_run(vgc_onnx_exec *ex, const float *const *inputs, char *err, size_t errlen);

/* Graph output i (g->out[i]) of the last run; valid until the next run or destroy. */
VGC_HIDDEN const float *vgc_onnx_exec_output(const vgc_onnx_exec *ex, int i);

/* Floats of the activation arena (for tests of buffer reuse). */
VGC_HIDDEN size_t vgc_onnx_exec_arena_floats(const vgc_onnx_exec *ex);

/*
 * Run the convolutions in opt->precision (int8, bf16) where they qualify
 * (q8.h: vgc_q8_attach; the rest stay fp32); *note says what runs ("int8
 * amx, 12 of 20 convolutions") or, for fp32, why it fell back. Call once,
 * after create, before the first run.
 */
VGC_HIDDEN int vgc_onnx_exec_precision(vgc_onnx_exec *ex, const vgc_options *opt, const char **note, char *err,
                                       size_t errlen);

/*
 * After vgc_onnx_exec_precision chose int8: static input ranges measured
 * over the tensors of dir, cached at cache_path (q8_calib.h:
 * vgc_q8_calibrate; model_path is hashed into the cache's key).
 */
VGC_HIDDEN int vgc_onnx_exec_calibrate(vgc_onnx_exec *ex, const char *dir, const char *cache_path,
                                       const char *model_path, char *note, size_t notelen, char *err, size_t errlen);

/* Free; NULL is fine. */
VGC_HIDDEN void vgc_onnx_exec_destroy(vgc_onnx_exec *ex);

/*
 * Profiling (benchmarks): once switched on, every run times each node.
 * vgc_onnx_exec_profile fills seconds[i] (g->nnode entries) with node i's
 * total and answers the runs timed.
 */
VGC_HIDDEN int vgc_onnx_exec_profile_on(vgc_onnx_exec *ex);
VGC_HIDDEN int vgc_onnx_exec_profile(const vgc_onnx_exec *ex, double *seconds);

#endif /* VGC_ONNX_EXEC_H */
