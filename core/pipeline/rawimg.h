/*
 * rawimg: pixels that arrive already decoded (a KServe UINT8/FP32 tensor,
 * a Frigate zmq request), carried to a worker as an "image" like any other.
 *
 * The master puts a 32-byte header in front of the tensor's bytes (no
 * pixel is touched there: the bytes are copied as they came) and submits
 * the result to the pool as the job's image. In the worker,
 * vg_image_decode() recognises the header and hands the bytes to
 * vg_rawimg_decode(), which checks the size against the header and the
 * image limits and converts to 8-bit interleaved RGB; from there the job
 * is letterboxed, inferred and annotated as a decoded JPEG would be.
 *
 * Header (little-endian):
 *   0  8  magic "\x89VGRAW\r\n"
 *   8  1  version (1)
 *   9  1  dtype: 1 = uint8, 2 = float32
 *   10 1  layout: 1 = HWC (interleaved), 2 = CHW (planar)
 *   11 1  channels (3)
 *   12 4  width
 *   16 4  height
 *   20 4  scale, float32: a value times scale is the 0..255 pixel
 *         (1 for 0..255 data, 255 for 0..1 data, 0 = guess: 255 when no
 *         value exceeds 1, else 1)
 *   24 1  flags: bit 0 = channels are in BGR order
 *   25 7  zero
 * followed by width * height * 3 values of the dtype.
 */
#ifndef VG_RAWIMG_H
#define VG_RAWIMG_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/pixels.h"

#define VG_RAWIMG_HEADER 32

enum vg_rawimg_dtype { VG_RAWIMG_U8 = 1, VG_RAWIMG_F32 = 2 };
enum vg_rawimg_layout { VG_RAWIMG_HWC = 1, VG_RAWIMG_CHW = 2 };
#define VG_RAWIMG_BGR 1u

typedef struct vg_rawimg_desc {
    int dtype;                     /* enum vg_rawimg_dtype */
    int layout;                    /* enum vg_rawimg_layout */
    uint32_t w, h;
    float scale;                   /* see the header; 0 = guess */
    unsigned flags;                /* VG_RAWIMG_BGR */
} vg_rawimg_desc;

/* Bytes of pixel data the description needs; 0 when invalid or overflowing. */
size_t vg_rawimg_data_size(const vg_rawimg_desc *d);
/* Writes the header for d. */
void vg_rawimg_header(const vg_rawimg_desc *d, uint8_t out[VG_RAWIMG_HEADER]);
/* 1 when data starts with the rawimg magic. */
int vg_rawimg_is(const void *data, size_t len);
/* Reads a header back: 0, or -1 when it is malformed (err says why). */
int vg_rawimg_parse(const void *data, size_t len, vg_rawimg_desc *d, char *err, size_t errlen);

/*
 * Worker side: converts a header + pixels to out (8-bit RGB, HWC; free
 * with vg_image_release). Errors, with a message in err:
 *   VG_E_DECODE   malformed header, size mismatch, non-finite floats
 *   VG_E_TOOBIG   over a limit (side, pixels)
 *   -ENOMEM
 */
int vg_rawimg_decode(const void *data, size_t len, const vg_image_limits *lim, vg_image *out,
                     char *err, size_t errlen);

#endif
