/*
 * backends/cpu/onnx_head.h: what an ONNX detector's one output holds and how
 * it becomes the plugin ABI's candidates. Three layouts:
 *
 *   yolov5  [1, N, 5 + C]  rows of centre x, centre y, width, height (pixels
 *                          of the input), objectness, C class scores
 *   yolov8  [1, 4 + C, N]  the same without objectness, channel-major
 *                          (YOLOv8 and YOLOv11 exports)
 *   boxes   [1, N, 6]      final boxes: x1, y1, x2, y2, score, class
 *                          (an export with NMS in the graph), or
 *           [1, N, 7]      batch, x1, y1, x2, y2, class, score (YOLOv7's
 *                          end-to-end export); also rank 2 [N, 6 | 7]
 *
 * The manifest names the layout (`head = yolov5 | yolov8 | boxes`) or it is
 * detected from the shape: [1, A, B] with 5 <= A < B is yolov8, [N, 6 | 7]
 * is boxes, any other [1, N, 6 or more] yolov5 (a [1, N, 6 | 7] of final
 * boxes cannot be told from a 1- or 2-class yolov5 head: the manifest
 * says head = boxes).
 */
#ifndef VGC_ONNX_HEAD_H
#define VGC_ONNX_HEAD_H

#include <stdint.h>

#include "engine.h"

enum vgc_head_kind { VGC_HEAD_YOLOV5 = 0, VGC_HEAD_YOLOV8 = 1, VGC_HEAD_BOXES = 2 };

/* A head's layout, from vgc_onnx_head_pick(). */
typedef struct vgc_onnx_head {
    int kind;                 /* enum vgc_head_kind */
    int detected;             /* 1: from the output's shape; 0: the manifest said */
    int n;                    /* candidate rows */
    int classes;              /* classes per row (boxes: the labels') */
    int cols;                 /* yolov5: 5 + classes; boxes: 6 or 7 */
} vgc_onnx_head;

/* "yolov5", "yolov8" or "boxes". */
VGC_HIDDEN const char *vgc_onnx_head_name(int kind);

/*
 * Choose the layout of an output of `rank` dims (name: the output's, for
 * messages): want is "yolov5", "yolov8", "boxes", or NULL/"auto" to detect it;
 * classes is the labels' count (0: unknown), which a boxes head needs and
 * the others must match. VIGIA_ENOTSUP with the shape and the reason when
 * the output is not that layout.
 */
VGC_HIDDEN int vgc_onnx_head_pick(vgc_onnx_head *h, const char *want, const int64_t *dims, int rank, int classes,
                                  const char *name, char *err, size_t errlen);

/*
 * Decode out (the output tensor) into c: the rows whose confidence
 * (objectness for yolov5, the best class score for yolov8, the score for
 * boxes) is above thresh, in row order; over c->capacity, the most
 * confident kept, most confident first, and c->truncated set. order is
 * scratch of h->n entries.
 */
typedef struct vgc_head_row {
    float conf;
    int i;
} vgc_head_row;

VGC_HIDDEN void vgc_onnx_head_decode(const vgc_onnx_head *h, const float *out, int in_w, int in_h, float thresh,
                                     vgc_head_row *order, vigia_candidates *c);

#endif /* VGC_ONNX_HEAD_H */
