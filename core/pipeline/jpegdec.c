/* jpegdec: see jpegdec.h. */
#include "pipeline/jpegdec.h"

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <jpeglib.h>
#include <jerror.h>

#include "base/error.h"

typedef struct errmgr {
    struct jpeg_error_mgr pub;
    jmp_buf fail;
    int truncated;                 /* libjpeg met the end of the data before the image's end */
    char msg[JMSG_LENGTH_MAX];
} errmgr;


/* An error: the message is kept, and the decode unwinds to vg_jpegdec_decode. */
static void
on_error(j_common_ptr c)
{
    errmgr *e = (errmgr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->fail, 1);
}


/* Warnings: a cut-short file is an error (libjpeg would pad it grey); corrupt-data warnings are not, as in libvips. */
static void
on_message(j_common_ptr c, int level)
{
    errmgr *e = (errmgr *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF && !e->truncated) {
        e->truncated = 1;
        c->err->format_message(c, e->msg);
    }
}


/* Where the pixel shown at (x, y) is stored, for EXIF orientation o of a stored w x h image. */
static inline void
source_of(int o, int w, int h, int x, int y, int *sx, int *sy)
{
    switch (o) {
    case 2: *sx = w - 1 - x; *sy = y; break;                 /* mirrored */
    case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;         /* rotated 180 */
    case 4: *sx = x; *sy = h - 1 - y; break;                 /* flipped */
    case 5: *sx = y; *sy = x; break;                         /* transposed */
    case 6: *sx = y; *sy = h - 1 - x; break;                 /* shown rotated 90 clockwise */
    case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;         /* transversed */
    case 8: *sx = w - 1 - y; *sy = x; break;                 /* shown rotated 90 anticlockwise */
    default: *sx = x; *sy = y; break;
    }
}


/* The stored w x h RGB pixels as shown under orientation o (2..8), in a new buffer; NULL when out of memory. */
static uint8_t *
orient(const uint8_t *src, int w, int h, int o, int *ow, int *oh)
{
    int swap = o >= 5;
    *ow = swap ? h : w;
    *oh = swap ? w : h;
    uint8_t *dst = g_try_malloc((size_t)w * (size_t)h * 3);
    if (!dst)
        return NULL;
    for (int y = 0; y < *oh; y++) {
        uint8_t *d = dst + (size_t)y * (size_t)*ow * 3;
        for (int x = 0; x < *ow; x++, d += 3) {
            int sx, sy;
            source_of(o, w, h, x, y, &sx, &sy);
            const uint8_t *s = src + ((size_t)sy * (size_t)w + (size_t)sx) * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    return dst;
}


int
vg_jpegdec_decode(const void *data, size_t len, int shrink, int orientation, vg_image *out, char *err,
                  size_t errlen)
{
    struct jpeg_decompress_struct c;
    errmgr e;
    /* volatile: read after a longjmp */
    uint8_t *volatile pix = NULL;
    volatile int rc = VG_E_DECODE;

    memset(&e, 0, sizeof e);
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    jpeg_create_decompress(&c);
    if (setjmp(e.fail)) {
        snprintf(err, errlen, "undecodable jpeg: %s", e.msg);
        goto out;
    }
    jpeg_mem_src(&c, (const unsigned char *)data, (unsigned long)len);
    jpeg_read_header(&c, TRUE);
    if (c.jpeg_color_space != JCS_YCbCr && c.jpeg_color_space != JCS_GRAYSCALE && c.jpeg_color_space != JCS_RGB) {
        rc = VG_JPEGDEC_DECLINED;
        goto out;
    }
    c.out_color_space = JCS_RGB;
    c.scale_num = 1;
    c.scale_denom = (unsigned)(shrink == 2 || shrink == 4 || shrink == 8 ? shrink : 1);
    jpeg_start_decompress(&c);
    int w = (int)c.output_width, h = (int)c.output_height;
    if (c.output_components != 3 || w <= 0 || h <= 0) {
        snprintf(err, errlen, "undecodable jpeg: %d components at %dx%d", c.output_components, w, h);
        goto out;
    }
    size_t stride = (size_t)w * 3;
    pix = g_try_malloc(stride * (size_t)h);
    if (!pix) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    while (c.output_scanline < c.output_height) {
        JSAMPROW row = pix + (size_t)c.output_scanline * stride;
        jpeg_read_scanlines(&c, &row, 1);
        if (e.truncated)
            break;
    }
    if (e.truncated) {
        snprintf(err, errlen, "undecodable jpeg: %s", e.msg);
        goto out;
    }
    jpeg_finish_decompress(&c);
    if (e.truncated) {   /* the end of image marker itself was missing */
        snprintf(err, errlen, "undecodable jpeg: %s", e.msg);
        goto out;
    }
    if (orientation >= 2 && orientation <= 8) {
        int ow, oh;
        uint8_t *o = orient(pix, w, h, orientation, &ow, &oh);
        if (!o) {
            rc = -ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        g_free(pix);
        pix = o;
        w = ow;
        h = oh;
    }
    out->w = w;
    out->h = h;
    out->rgb = pix;
    pix = NULL;
    rc = 0;
out:
    jpeg_destroy_decompress(&c);
    g_free(pix);
    return rc;
}
