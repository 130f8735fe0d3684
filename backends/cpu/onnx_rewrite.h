/*
 * backends/cpu/onnx_rewrite.h: graph rewriting at load for the ONNX path.
 *
 * vgc_onnx_rewrite() simplifies a graph vgc_onnx_read() built, in place:
 *   - layout ops (Identity, Reshape, Flatten, Squeeze, Unsqueeze, Transpose)
 *     of float constants are computed now, their outputs become constants;
 *   - a BatchNormalization after a Conv is folded into its weights and bias;
 *   - a Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Clip, or SiLU
 *     written as x*Sigmoid(x), after a Conv becomes the Conv's node.act;
 *   - Identity and a Reshape to the same shape are removed.
 * A rewritten node has removed set; graph outputs keep their names. A
 * rewrite that would change a value something else still reads (a conv
 * output also used elsewhere, shared weights) is not done.
 */
#ifndef VGC_ONNX_REWRITE_H
#define VGC_ONNX_REWRITE_H

#include "onnx_read.h"

/* Rewrite g in place. Fails only with VIGIA_ENOMEM. */
VGC_HIDDEN int vgc_onnx_rewrite(vgc_onnx_graph *g, char *err, size_t errlen);

/* Nodes of g still in the graph (not removed, not folded). */
VGC_HIDDEN int vgc_onnx_live_nodes(const vgc_onnx_graph *g);

#endif /* VGC_ONNX_REWRITE_H */
