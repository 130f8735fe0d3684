/*
 * image: decoding, letterboxing or stretching, and annotation, with libvips.
 *
 * Worker processes only (and one-shot tools that never fork afterwards):
 * vg_image_init() starts libvips, and a process that has run libvips must
 * not fork children that use it (DEPENDENCIES.md §3.6). The master never
 * calls anything here.
 *
 * Accepted inputs: JPEG, PNG and WebP, recognised by their signature; other
 * libvips loaders (SVG, PDF, ImageMagick, ...) are never reachable.
 * Decoding is bounded: encoded bytes, width, height and width*height are
 * checked against the limits from the header, before any pixel is decoded;
 * truncated or corrupt data is an error, not a grey image.
 */
#ifndef VG_IMAGE_H
#define VG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/pixels.h"
#include "pipeline/postprocess.h"

/*
 * Starts libvips in this process (idempotent): one worker thread, no
 * operation cache, untrusted loaders blocked, warnings into the debug log.
 * Returns 0 or VG_E_BACKEND with a message in err.
 */
int vg_image_init(char *err, size_t errlen);
/* Shuts libvips down (for leak checkers; the process should exit after). */
void vg_image_shutdown(void);

/*
 * Decodes an encoded image at full size, applying its EXIF orientation; free *out with
 * vg_image_release() (pixels.h). Errors, with a message in err:
 *   VG_E_NOTIMAGE  empty, or not JPEG/PNG/WebP
 *   VG_E_TOOBIG    over a limit (bytes, side, pixels)
 *   VG_E_DECODE    truncated or corrupt
 *   -ENOMEM
 */
int vg_image_decode(const void *data, size_t len, const vg_image_limits *lim,
                    vg_image *out, char *err, size_t errlen);

/*
 * vg_image_decode() for a consumer that needs no more than min_w x min_h
 * pixels (a network input): a JPEG or WebP at least twice that size on
 * both sides (after auto-rotation) is decoded reduced by 2, 4 or 8 (libjpeg's
 * DCT scaling, libwebp's scaled decoding), never below min_w x min_h; PNG
 * and raw pixels are decoded at full size. out->full_w x out->full_h is
 * the size as sent either way. min_w or min_h 0: full size. Limits apply
 * to the size as sent. Errors as vg_image_decode().
 */
int vg_image_decode_at(const void *data, size_t len, const vg_image_limits *lim, int min_w, int min_h,
                       vg_image *out, char *err, size_t errlen);

/*
 * The size of an encoded image as sent (after auto-rotation) with every
 * check vg_image_decode() makes before decoding, and no pixel decoded: for
 * a backend that decodes the image itself. Raw pixels (rawimg.h) are
 * VG_E_NOTIMAGE here. Other errors as vg_image_decode().
 */
int vg_image_probe(const void *data, size_t len, const vg_image_limits *lim, int *w, int *h,
                   char *err, size_t errlen);

/* "jpeg", "png", "webp", or NULL: what the signature of `data` says. */
const char *vg_image_sniff(const void *data, size_t len);

/*
 * darknet's letterbox_image(): scales im to fit net_w x net_h keeping its
 * aspect ratio (darknet's bilinear resize_image, bit for bit), centres it
 * on a 0.5 grey canvas and writes planar RGB floats in [0, 1] (CHW,
 * 3 * net_w * net_h) to `chw`. Returns 0 or -ENOMEM.
 */
int vg_image_letterbox(const vg_image *im, int net_w, int net_h, float *chw);

/*
 * The other geometry: im stretched to net_w x net_h without keeping its
 * aspect ratio, as cv::resize(INTER_LINEAR) does it on 8-bit pixels (what
 * OpenCV DNN's blobFromImage and AlexeyAB darknet's letter_box=0 feed a
 * network), then planar RGB floats x / 255.0f to `chw`. Returns 0 or -ENOMEM.
 */
int vg_image_stretch(const vg_image *im, int net_w, int net_h, float *chw);

/*
 * Draws the detections (a box and "label NN%" per detection, one colour
 * per class) on a copy of im and encodes it as a JPEG of `quality`
 * (1..100). *jpeg is malloc'd. Returns 0, VG_E_BACKEND or -ENOMEM.
 */
int vg_image_annotate(const vg_image *im, const vg_detection *dets, size_t n, int quality,
                      uint8_t **jpeg, size_t *jpeg_len, char *err, size_t errlen);

/*
 * Draws an MJPEG overlay (overlay.h: zone outlines, lines with their
 * arrows and counts, boxes labelled "label #track") on a copy of im and
 * encodes it as a JPEG of `quality`. *jpeg is malloc'd. Coordinates out of
 * the image are clipped. Returns 0, VG_E_BACKEND or -ENOMEM.
 */
struct vg_overlay;
int vg_image_overlay(const vg_image *im, const struct vg_overlay *o, int quality, uint8_t **jpeg, size_t *jpeg_len,
                     char *err, size_t errlen);

/* The colour of class k (sRGB), as used by vg_image_annotate(). */
void vg_image_class_colour(int k, uint8_t rgb[3]);

#endif
