/*
 * overlay: what an MJPEG overlay draws on a live stream's frame, after the
 * master's tracker and scene ran on its answer: the final boxes with
 * "label #track", the zones' outlines, the lines with an arrow towards
 * their `forward` side, and each line's counts. The master fills one and
 * sends it with an overlay job (pool/ipc.h); a worker draws it
 * (vg_image_overlay, image.h). Every array is bounded here, so a decoded
 * overlay is a fixed-size value.
 */
#ifndef VG_OVERLAY_H
#define VG_OVERLAY_H

#include <stdint.h>

#include "pipeline/postprocess.h"

#define VG_OVERLAY_MAX_BOXES  VG_POST_MAX_DETECTIONS
#define VG_OVERLAY_MAX_ZONES  16
#define VG_OVERLAY_MAX_LINES  16
#define VG_OVERLAY_MAX_POINTS 32       /* of a zone's polygon */
#define VG_OVERLAY_MAX_LABELS 32       /* distinct labels of the boxes */
#define VG_OVERLAY_NAME_MAX   32       /* bytes of a label's, zone's or line's name, with the NUL */
#define VG_OVERLAY_COORD_MAX  100000     /* largest coordinate, pixels, as for the scenes */
#define VG_OVERLAY_COUNT_MAX  (1ll << 40)

typedef struct vg_overlay_box {
    int x0, y0, x1, y1;                /* inclusive pixels */
    int cls;                           /* class index: the box's colour */
    int label;                         /* into labels, or -1: none */
    uint64_t track;                    /* 0: not a confirmed track (no "#id") */
} vg_overlay_box;

typedef struct vg_overlay_zone {
    char name[VG_OVERLAY_NAME_MAX];
    int np;                            /* 3..VG_OVERLAY_MAX_POINTS */
    int pts[VG_OVERLAY_MAX_POINTS][2];
} vg_overlay_zone;

typedef struct vg_overlay_line {
    char name[VG_OVERLAY_NAME_MAX];
    int a[2], b[2];                    /* from, to */
    long long forward, backward;       /* crossings so far, every label */
} vg_overlay_line;

typedef struct vg_overlay {
    char labels[VG_OVERLAY_MAX_LABELS][VG_OVERLAY_NAME_MAX];
    int nlabels;
    vg_overlay_box boxes[VG_OVERLAY_MAX_BOXES];
    int nboxes;
    vg_overlay_zone zones[VG_OVERLAY_MAX_ZONES];
    int nzones;
    vg_overlay_line lines[VG_OVERLAY_MAX_LINES];
    int nlines;
} vg_overlay;

/*
 * The index of `label` in o->labels, added when new; -1 when the table is
 * full, or the label is empty or too long (the box is drawn without it).
 */
int vg_overlay_label(vg_overlay *o, const char *label);

/* Zone and line colours (sRGB), as vg_image_overlay() draws them. */
extern const uint8_t vg_overlay_zone_rgb[3];
extern const uint8_t vg_overlay_line_rgb[3];

#endif
