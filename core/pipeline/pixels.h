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

#endif
