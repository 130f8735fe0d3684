/*
 * jpegdec: the JPEG decode of a camera frame straight through libjpeg(-turbo),
 * the library libvips itself decodes JPEG with, without libvips' pipeline
 * around it (regions, a worker thread, the colour and format casts: about
 * a quarter of a reduced 1080p decode). The pixels are the ones libvips'
 * jpegload and autorot give, byte for byte (the same library, IDCT and
 * upsampling; tests/pipeline/test_image compares them), so image.c may use
 * either.
 *
 * Only what needs no colour management is taken: YCbCr, RGB and greyscale
 * JPEGs. CMYK and YCCK (Adobe) JPEGs are left to libvips (VG_JPEGDEC_DECLINED).
 * The caller has already checked the limits on the header's size and scans.
 */
#ifndef VG_JPEGDEC_H
#define VG_JPEGDEC_H

#include <stddef.h>

#include "pipeline/pixels.h"

#define VG_JPEGDEC_DECLINED 1          /* not an error: decode it another way */

/*
 * Decodes data reduced by `shrink` (1, 2, 4 or 8: libjpeg's DCT scaling) to
 * 8-bit RGB and applies the EXIF orientation `orientation` (1..8, as libvips
 * reads it; anything else is 1). Sets out->w, out->h and out->rgb (glib's
 * allocator, as pixels.h wants); full_w/full_h are the caller's. Returns 0,
 * VG_JPEGDEC_DECLINED, VG_E_DECODE (corrupt or cut short, with why in err)
 * or -ENOMEM.
 */
int vg_jpegdec_decode(const void *data, size_t len, int shrink, int orientation, vg_image *out, char *err,
                      size_t errlen);

#endif
