/*
 * backends/cpu/onnx_classify.h: an ONNX image classifier for the cpu plugin:
 * a graph read, rewritten and planned (onnx_read.h, onnx_rewrite.h,
 * onnx_exec.h) whose one output holds one score per class, [1, C] or
 * [1, C, 1, 1] (torchvision's resnet and mobilenet exports, most Keras and
 * timm exports), turned into the plugin ABI's scores.
 *
 * Scores: when the graph ends in a Softmax (possibly followed by shape-only
 * nodes: Reshape, Flatten, Squeeze, Identity) its output is taken as
 * probabilities; otherwise the output is logits and a softmax is applied
 * here. vgc_onnx_classify_softmax() says which.
 *
 * The graph takes one image [1, 3, H, W] (planar floats, prepared by the
 * host as the manifest says: vgc_onnx_classify_input()); a dynamic batch is
 * fixed at 1 and dynamic sides from the size asked for. One thread uses a
 * classifier at a time. Errors: 0 or a negative VIGIA_E* code, a one-line
 * message in err.
 */
#ifndef VGC_ONNX_CLASSIFY_H
#define VGC_ONNX_CLASSIFY_H

#include "engine.h"
#include "onnx_exec.h"
#include "onnx_read.h"

typedef struct vgc_onnx_classify vgc_onnx_classify;

/*
 * Open path; width and height (0 = the graph's) fix dynamic sides. When the
 * graph reads fine but its output is not one score per class, fails with
 * VIGIA_ENOTSUP and sets *not_classifier; other failures are the reader's
 * and executor's (vgc_onnx_graph_open, onnx_model.h).
 */
VGC_HIDDEN int vgc_onnx_classify_open(vgc_onnx_classify **out, const char *path, int width, int height,
                                      int *not_classifier, char *err, size_t errlen);

/*
 * A classifier on a graph open already (vgc_onnx_graph_open), which it takes
 * (freed on failure too), with `threads` compute threads (onnx_exec.h).
 * VIGIA_ENOTSUP when vgc_onnx_graph_classifies() says no.
 */
VGC_HIDDEN int vgc_onnx_classify_open_graph(vgc_onnx_classify **out, vgc_onnx_graph *g, int threads,
                                            char *err, size_t errlen);

/* The input size, the classes, and whether the scores are the graph's own softmax (1) or ours (0). */
VGC_HIDDEN void vgc_onnx_classify_input_size(const vgc_onnx_classify *c, int *w, int *h);
VGC_HIDDEN int vgc_onnx_classify_classes(const vgc_onnx_classify *c);
VGC_HIDDEN int vgc_onnx_classify_softmax(const vgc_onnx_classify *c);

/*
 * The tensor a classifier wants: planar floats, (pixel / 255 - mean) / std
 * per channel (mean and std as the manifest's [model] keys give them: 0..1
 * units, RGB order whatever `channels` is), stretched to the input unless
 * the manifest says `resize`; [cpu] `channels = rgb | bgr`. Fails with
 * VIGIA_EINVAL and the manifest's message for a bad value.
 */
VGC_HIDDEN int vgc_onnx_classify_input(const vigia_manifest *m, const float mean[3], const float std[3],
                                       vigia_input_desc *in, char *err, size_t errlen);

/* Run one image (3 x h x w floats) and write scores[classes] in [0, 1]. */
VGC_HIDDEN int vgc_onnx_classify_run(vgc_onnx_classify *c, const float *image, float *scores,
                                     char *err, size_t errlen);

/* Free; NULL is fine. */
/* The executor that runs the graph (precision, calibration: onnx_exec.h). */
VGC_HIDDEN vgc_onnx_exec *vgc_onnx_classify_exec(vgc_onnx_classify *c);

VGC_HIDDEN void vgc_onnx_classify_destroy(vgc_onnx_classify *c);

#endif /* VGC_ONNX_CLASSIFY_H */
