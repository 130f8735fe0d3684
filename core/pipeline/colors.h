/*
 * colors: colour estimates of a person's clothing, from the decoded
 * pixels inside a detection's box (docs/api.md, "Attributes").
 *
 * Two regions of the box, both over its central half of columns (25% to
 * 75% of the width, where a standing person's torso and legs are, with
 * the least background): the upper body, rows 15% to 50% of the height
 * (below the head), and the lower body, rows 50% to 90% (above the feet).
 * Each region is sampled on a grid of at most VG_COLORS_SAMPLES pixels,
 * each pixel is named from a fixed palette in HSV (thresholds in
 * colors.c and docs/api.md), and the region's colour is the name most of
 * its samples got. They are estimates: lighting, shadows and the
 * background inside the box all move them.
 *
 * Pure computation on an 8-bit RGB image: safe anywhere, allocates
 * nothing. Cost: at most 2 * VG_COLORS_SAMPLES pixels per box, and
 * VG_COLORS_MAX_BOXES boxes per image.
 */
#ifndef VG_COLORS_H
#define VG_COLORS_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/pixels.h"
#include "pipeline/postprocess.h"

#define VG_COLORS_SAMPLES 256          /* pixels sampled per region at most (a 16 x 16 grid) */
#define VG_COLORS_MAX_BOXES 64         /* person boxes estimated per image; the rest get none */
#define VG_COLORS_LABEL "person"       /* the label whose boxes get colours */

/* The palette: 0 is "no estimate" (a region too small to sample). */
enum vg_color {
    VG_COLOR_NONE = 0,
    VG_COLOR_BLACK, VG_COLOR_WHITE, VG_COLOR_GREY, VG_COLOR_RED, VG_COLOR_ORANGE, VG_COLOR_YELLOW,
    VG_COLOR_GREEN, VG_COLOR_BLUE, VG_COLOR_PURPLE, VG_COLOR_PINK, VG_COLOR_BROWN,
    VG_COLOR_COUNT                     /* palette entries, NONE included */
};

/* Attribute flags a job may ask for (vg_pool_job.attributes, the IPC's "attr"). */
#define VG_ATTR_COLORS 1

/* The colour's name ("red"), or NULL for VG_COLOR_NONE and anything out of range. */
const char *vg_color_name(int c);
/* The palette index of a name, or VG_COLOR_NONE. */
int vg_color_from_name(const char *name, size_t len);

/* The palette colour of one pixel. */
int vg_color_of_rgb(uint8_t r, uint8_t g, uint8_t b);

/*
 * The dominant colours of the box (x0, y0)-(x1, y1) (inclusive pixels of
 * the image as sent, full_w x full_h; im may be decoded reduced) into
 * *upper and *lower: palette indices, VG_COLOR_NONE where a region has
 * no pixel to sample.
 */
void vg_colors_estimate(const vg_image *im, int x0, int y0, int x1, int y1, int *upper, int *lower);

/*
 * Sets upper_color and lower_color of every detection labelled
 * VG_COLORS_LABEL (the first VG_COLORS_MAX_BOXES of them) in dets[0..n).
 */
void vg_colors_persons(const vg_image *im, vg_detection *dets, size_t n);

#endif
