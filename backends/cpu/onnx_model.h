/*
 * backends/cpu/onnx_model.h: an ONNX detector for the cpu plugin: a graph
 * read, rewritten and planned (onnx_read.h, onnx_rewrite.h, onnx_exec.h),
 * whose one output is a detection head (onnx_head.h: yolov5, yolov8 or
 * final boxes), turned into the plugin ABI's candidates.
 *
 * The graph takes one image [1, 3, H, W] (planar RGB in [0, 1]); a dynamic
 * batch is fixed at 1 and dynamic sides from the size asked for. One thread
 * uses a model at a time. Errors: 0 or a negative VIGIA_E* code, a one-line
 * message in err.
 */
#ifndef VGC_ONNX_MODEL_H
#define VGC_ONNX_MODEL_H

#include "engine.h"
#include "onnx_head.h"
#include "onnx_exec.h"
#include "onnx_read.h"

typedef struct vgc_onnx_model vgc_onnx_model;

/*
 * Read and rewrite the graph at path, for one image: one input [1, 3, H, W]
 * (width and height, 0 = the graph's, fix dynamic sides) and one output,
 * else VIGIA_ENOTSUP; the reader's and rewriter's refusals otherwise. The
 * plugin reads a file once with this and opens the model the graph is.
 */
VGC_HIDDEN int vgc_onnx_graph_open(vgc_onnx_graph **out, const char *path, int width, int height, char *err,
                                   size_t errlen);

/*
 * Whether an open graph (vgc_onnx_graph_open) is a classifier: its output
 * one score per class, [1, C] or [1, C, 1, 1] (onnx_classify.h); else a
 * detector (a head: onnx_head.h).
 */
VGC_HIDDEN int vgc_onnx_graph_classifies(const vgc_onnx_graph *g);

/*
 * A detector on an open graph, which it takes (freed on failure too), with
 * the head named (below) and `threads` compute threads (onnx_exec.h).
 */
VGC_HIDDEN int vgc_onnx_model_open_graph(vgc_onnx_model **out, vgc_onnx_graph *g, const char *head, int classes,
                                         int threads, char *err, size_t errlen);

/*
 * Open path; width and height (0 = the graph's) fix dynamic sides. Fails
 * with what the reader and executor refuse, and VIGIA_ENOTSUP for a graph
 * whose input or output is not the shape above. The head is detected.
 */
VGC_HIDDEN int vgc_onnx_model_open(vgc_onnx_model **out, const char *path, int width, int height,
                                   char *err, size_t errlen);

/*
 * The same with the head named ("yolov5", "yolov8", "boxes"; NULL or
 * "auto": detected) and the labels' count (0: unknown; a boxes head needs it).
 */
VGC_HIDDEN int vgc_onnx_model_open_head(vgc_onnx_model **out, const char *path, int width, int height,
                                        const char *head, int classes, char *err, size_t errlen);

/* The input size and the classes of the head. */
VGC_HIDDEN void vgc_onnx_model_input_size(const vgc_onnx_model *m, int *w, int *h);
VGC_HIDDEN int vgc_onnx_model_classes(const vgc_onnx_model *m);

/* The output's layout, and whether it was detected. */
VGC_HIDDEN const vgc_onnx_head *vgc_onnx_model_head(const vgc_onnx_model *m);

/*
 * Run one image (3 x h x w floats) and write its candidates: the rows whose
 * confidence is above thresh, the highest first kept when more than
 * out->capacity (truncated set): vgc_onnx_head_decode().
 */
VGC_HIDDEN int vgc_onnx_model_detect(vgc_onnx_model *m, const float *image, float thresh,
                                     vigia_candidates *out, char *err, size_t errlen);

/* The executor that runs the graph (precision, calibration: onnx_exec.h). */
VGC_HIDDEN vgc_onnx_exec *vgc_onnx_model_exec(vgc_onnx_model *m);

/* Free; NULL is fine. */
VGC_HIDDEN void vgc_onnx_model_destroy(vgc_onnx_model *m);

#endif /* VGC_ONNX_MODEL_H */
