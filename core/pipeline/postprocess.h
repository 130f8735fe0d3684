/*
 * postprocess: from a backend's candidate boxes (fractions of the
 * stretched or letterboxed network input, before NMS) to detections in
 * image pixels.
 *
 * It reproduces darknet's detector path (get_network_boxes with letterbox
 * correction, do_nms_sort or AlexeyAB's diounms_sort, draw_detections'
 * per-class threshold and pixel rounding) so a backend that matches darknet's raw output gives exactly
 * darknet's boxes. Pure computation: safe anywhere.
 */
#ifndef VG_POSTPROCESS_H
#define VG_POSTPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include <vigia/backend.h>

#define VG_POST_MAX_DETECTIONS 1000   /* detections kept per image, highest first */
#define VG_POST_MAX_DIOU_BETA  16     /* largest DIoU exponent (beta_nms) */

/* One detection, in pixels of the (auto-rotated) image. */
typedef struct vg_detection {
    int class_id;
    const char *label;             /* the model's class name (set by the caller) */
    float confidence;              /* objectness * class probability, (0, 1] */
    int x_min, y_min, x_max, y_max;/* inclusive, clamped to the image */
    uint8_t upper_color, lower_color;  /* colors.h palette indices when asked for (person), else 0 */
} vg_detection;

typedef struct vg_post_params {
    int net_w, net_h;              /* network input the candidates refer to */
    int img_w, img_h;              /* original image */
    int stretch;                   /* the input was stretched (no letterbox correction) */
    int classes;                   /* entries per candidate in prob[] */
    float threshold;               /* keep confidence > threshold (darknet's strict '>') */
    float nms;                     /* suppress same-class boxes whose overlap > nms; 0 = off */
    float diou_beta;               /* overlap: 0 = IoU (darknet do_nms_sort); > 0 = DIoU,
                                      IoU - (d2/c2)^diou_beta (AlexeyAB's greedynms: 0.6,
                                      diounms: beta_nms) */
    const uint8_t *class_mask;     /* classes bytes, non-zero = keep; NULL = all */
} vg_post_params;

/*
 * Letterbox correction (none for a stretched input), per-class NMS (modifies cand->prob in place),
 * threshold, class filter, pixel mapping. *out gets a malloc'd array of
 * *n detections (NULL when none) sorted by confidence, highest first,
 * labels NULL. Returns 0, VG_E_INVAL or -ENOMEM.
 */
int vg_post_run(vigia_candidates *cand, const vg_post_params *p, vg_detection **out, size_t *n);

/*
 * A classifier's answer: each class whose score is above p->threshold (and
 * kept by p->class_mask) becomes a detection covering the whole image,
 * highest first, at most VG_POST_MAX_CLASSES. Non-finite scores count as
 * 0. Returns 0, VG_E_INVAL or -ENOMEM; *out as vg_post_run().
 */
#define VG_POST_MAX_CLASSES 10
int vg_post_scores(const float *scores, const vg_post_params *p, vg_detection **out, size_t *n);

/* The letterboxed size darknet uses for an img_w x img_h image in net_w x net_h. */
void vg_post_letterbox_size(int img_w, int img_h, int net_w, int net_h, int *new_w, int *new_h);

#endif
