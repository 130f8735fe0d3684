/*
 * pixels: a decoded image, its release, and the limits on decoding one:
 * what the two decoders share (image.h, with libvips, for JPEG/PNG/WebP;
 * rawimg.h for pixels that arrive already decoded), so that neither needs
 * the other's header.
 */
#ifndef VG_PIXELS_H
#define VG_PIXELS_H

#include <stddef.h>
#include <stdint.h>

#include <vigia/backend.h>

/* What a decoder accepts, checked before any pixel is decoded. */
typedef struct vg_image_limits {
    size_t max_bytes;              /* encoded size */
    uint64_t max_pixels;           /* width * height */
    uint32_t max_side;             /* width and height */
} vg_image_limits;

/*
 * Decoded pixels: 8-bit sRGB, interleaved (HWC), alpha dropped. A decoder
 * may reduce the image while decoding it (image.h): w x h is then smaller
 * than full_w x full_h, the size of the image as sent (after auto-rotation),
 * which is the size detections are reported in.
 */
typedef struct vg_image {
    int w, h;
    uint8_t *rgb;                  /* w * h * 3 bytes, owned (glib's allocator) */
    int full_w, full_h;            /* as sent; == w, h when decoded at full size; 0: w, h */
} vg_image;

/* Frees the pixels of an image either decoder made; `im` becomes empty. NULL is a no-op. */
void vg_image_release(vg_image *im);

/*
 * Tensors as a backend describes its input (vigia_input_desc: dtype,
 * layout, channel order, mean/std). The host prepares every image as
 * planar RGB floats in [0, 1] (image.h) and converts from there.
 */

/* Bytes of one w x h image's tensor (0 for ENCODED). */
size_t vg_tensor_bytes(const vigia_input_desc *d, int w, int h);

/* 1 when the description is the planar RGB [0, 1] floats the resizers write (no conversion). */
int vg_tensor_is_planar_rgb(const vigia_input_desc *d);

/*
 * Writes planar RGB floats in [0, 1] (`chw`, 3 x h x w) as `d` asks into
 * `out` (vg_tensor_bytes() bytes): U8 = round(v * 255); F32 = (v - mean[c])
 * / std[c] (std 0 = 1), c in the output's channel order; NHWC interleaves;
 * BGR swaps the first and last channel. Not for ENCODED.
 */
void vg_tensor_from_chw(const float *chw, int w, int h, const vigia_input_desc *d, void *out);

#endif
