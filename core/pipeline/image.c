/*
 * image: libvips decoding with limits, darknet-exact letterboxing, the
 * OpenCV-exact stretch, and annotated JPEGs (see image.h). Runs in
 * workers only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "base/error.h"
#include "pipeline/image.h"
#include "pipeline/jpegdec.h"
#include "pipeline/overlay.h"
#include "pipeline/rawimg.h"
#include "base/log.h"

#define VG_MODEL_LABEL_MAX_TEXT 160   /* label (<= 128 bytes) + " 100%" */
/*
 * Scans a JPEG may have. Each scan of a progressive JPEG makes libjpeg walk
 * every block of the image again, and a scan can cost a dozen bytes (one
 * end-of-band run): a 300 KB file of 20,000 scans takes seconds of CPU.
 * Real encoders write at most a few dozen; libjpeg-turbo suggests 500.
 */
#define VG_IMAGE_MAX_SCANS 500

static int vips_started;
static int text_broken;        /* vips_text failed once: draw boxes without labels */


/* Copies the libvips error buffer into err as one line and clears it. */
static void
take_vips_error(const char *what, char *err, size_t errlen)
{
    const char *e = vips_error_buffer();
    char line[384];
    size_t o = 0;
    for (const char *p = e; *p && o + 1 < sizeof line; p++) {
        char c = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
        if (c == ' ' && (o == 0 || line[o - 1] == ' '))
            continue;
        line[o++] = c;
    }
    while (o > 0 && line[o - 1] == ' ')
        o--;
    line[o] = '\0';
    if (o)
        snprintf(err, errlen, "%s: %s", what, line);
    else
        snprintf(err, errlen, "%s", what);
    vips_error_clear();
}


static void
glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud)
{
    (void)ud;
    /* libvips warnings (e.g. "read gave 3 warnings") are about client images */
    vg_debug("image", "%s%s%s", domain ? domain : "", domain ? ": " : "", msg ? msg : "");
    (void)level;
}


int
vg_image_init(char *err, size_t errlen)
{
    if (vips_started)
        return 0;
    if (VIPS_INIT("vigia")) {
        take_vips_error("libvips failed to start", err, errlen);
        return VG_E_BACKEND;
    }
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
#if VIPS_MAJOR_VERSION > 8 || (VIPS_MAJOR_VERSION == 8 && VIPS_MINOR_VERSION >= 13)
    vips_block_untrusted_set(TRUE);
#endif
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                      G_LOG_LEVEL_DEBUG | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION, glib_log, NULL);
    g_log_set_handler("GLib-GObject", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, glib_log, NULL);
    vips_started = 1;
    return 0;
}


void
vg_image_shutdown(void)
{
    if (vips_started)
        vips_shutdown();
    vips_started = 0;
}


const char *
vg_image_sniff(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (!p)
        return NULL;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return "jpeg";
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "webp";
    return NULL;
}


static void
unref(VipsImage **im)
{
    if (*im) {
        g_object_unref(*im);
        *im = NULL;
    }
}


/*
 * Counts the scans (SOS markers) of a JPEG up to `limit`, walking its
 * segments by their lengths and skipping each scan's entropy-coded data;
 * what it cannot walk is left for libjpeg to refuse.
 */
static int
jpeg_scans(const uint8_t *p, size_t n, int limit)
{
    size_t i = 2;   /* after SOI */
    int scans = 0;
    while (i + 4 <= n && scans < limit) {
        if (p[i] != 0xFF)
            break;
        uint8_t m = p[i + 1];
        if (m == 0xFF) {                /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD9)                  /* EOI */
            break;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {   /* TEM, RSTn: no length */
            i += 2;
            continue;
        }
        i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
        if (m != 0xDA)
            continue;
        scans++;
        /* entropy-coded data ends at a 0xFF that is not stuffing (00) or a restart marker */
        while (i < n) {
            const uint8_t *ff = memchr(p + i, 0xFF, n - i);
            if (!ff) {
                i = n;
                break;
            }
            i = (size_t)(ff - p);
            if (i + 1 < n && p[i + 1] != 0x00 && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7))
                break;
            i += 2;
        }
    }
    return scans;
}


/*
 * The reduction (1, 2, 4 or 8) at which a `fmt` image of w x h (as shown,
 * after auto-rotation) still has min_w x min_h pixels: 1 for PNG, which has
 * no scaled decoding, and when no minimum is given.
 */
static int
decode_reduction(const char *fmt, int w, int h, int min_w, int min_h)
{
    if (min_w <= 0 || min_h <= 0 || strcmp(fmt, "png") == 0)
        return 1;
    int s = 8;
    while (s > 1 && (w / s < min_w || h / s < min_h))
        s /= 2;
    return s;
}


/* The loader of `fmt` on data, reduced by `shrink` (1: full size); only the header is read. */
static int
load_header(const char *fmt, const void *data, size_t len, int shrink, VipsImage **img)
{
    if (strcmp(fmt, "jpeg") == 0)
        return vips_jpegload_buffer((void *)data, len, img, "fail_on", VIPS_FAIL_ON_TRUNCATED,
                                    "shrink", shrink, NULL);
    if (strcmp(fmt, "png") == 0)
        return vips_pngload_buffer((void *)data, len, img, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    return vips_webpload_buffer((void *)data, len, img, "fail_on", VIPS_FAIL_ON_TRUNCATED,
                                "scale", 1.0 / shrink, NULL);
}


int
vg_image_decode(const void *data, size_t len, const vg_image_limits *lim,
                vg_image *out, char *err, size_t errlen)
{
    return vg_image_decode_at(data, len, lim, 0, 0, out, err, errlen);
}


/*
 * Every check made before a pixel is decoded: empty, encoded bytes, format,
 * JPEG scans, header, size against the limits. Returns 1 for raw pixels
 * (rawimg: nothing loaded), 0 with *img (the header only), *fmt and the
 * size as sent (*w x *h, after auto-rotation), or a code with err set.
 */
static int
load_checked(const void *data, size_t len, const vg_image_limits *lim, const char **fmtp, VipsImage **img,
             int *full_w, int *full_h, char *err, size_t errlen)
{
    if (!data || len == 0) {
        snprintf(err, errlen, "empty image");
        return VG_E_NOTIMAGE;
    }
    if (lim && lim->max_bytes && len > lim->max_bytes) {
        snprintf(err, errlen, "image of %zu bytes exceeds the limit of %zu", len, lim->max_bytes);
        return VG_E_TOOBIG;
    }
    if (vg_rawimg_is(data, len))   /* pixels already decoded (rawimg.h) */
        return 1;
    const char *fmt = vg_image_sniff(data, len);
    if (!fmt) {
        snprintf(err, errlen, "not a JPEG, PNG or WebP image");
        return VG_E_NOTIMAGE;
    }
    if (strcmp(fmt, "jpeg") == 0 && jpeg_scans(data, len, VG_IMAGE_MAX_SCANS + 1) > VG_IMAGE_MAX_SCANS) {
        snprintf(err, errlen, "jpeg with more than %d scans exceeds the limits", VG_IMAGE_MAX_SCANS);
        return VG_E_TOOBIG;
    }
    if (vg_image_init(err, errlen) != 0)
        return VG_E_BACKEND;

    /* Only the header is read here: the loaders are lazy. */
    if (load_header(fmt, data, len, 1, img) != 0) {
        char what[64];
        snprintf(what, sizeof what, "undecodable %s", fmt);
        take_vips_error(what, err, errlen);
        return VG_E_DECODE;
    }
    int w = vips_image_get_width(*img), h = vips_image_get_height(*img);
    if (w <= 0 || h <= 0) {
        snprintf(err, errlen, "%s with an empty size %dx%d", fmt, w, h);
        unref(img);
        return VG_E_DECODE;
    }
    if (lim && ((lim->max_side && ((uint32_t)w > lim->max_side || (uint32_t)h > lim->max_side)) ||
                (lim->max_pixels && (uint64_t)w * (uint64_t)h > lim->max_pixels))) {
        snprintf(err, errlen, "%s of %dx%d pixels exceeds the limits (%u per side, %llu pixels)",
                 fmt, w, h, lim->max_side, (unsigned long long)lim->max_pixels);
        unref(img);
        return VG_E_TOOBIG;
    }
    int swap = vips_image_get_orientation_swap(*img);
    *full_w = swap ? h : w;
    *full_h = swap ? w : h;
    *fmtp = fmt;
    return 0;
}


int
vg_image_probe(const void *data, size_t len, const vg_image_limits *lim, int *w, int *h, char *err,
               size_t errlen)
{
    VipsImage *img = NULL;
    const char *fmt = NULL;
    int rc = load_checked(data, len, lim, &fmt, &img, w, h, err, errlen);
    if (rc == 1) {
        snprintf(err, errlen, "raw pixels, not an encoded image");
        rc = VG_E_NOTIMAGE;
    }
    unref(&img);
    if (rc != 0 && vips_started)
        vips_error_clear();
    return rc;
}


int
vg_image_decode_at(const void *data, size_t len, const vg_image_limits *lim, int min_w, int min_h,
                   vg_image *out, char *err, size_t errlen)
{
    VipsImage *img = NULL, *rot = NULL, *srgb = NULL, *rgb = NULL, *u8 = NULL;
    const char *fmt = NULL;
    int rc = VG_E_DECODE;
    void *pix = NULL;
    size_t size = 0;

    out->w = out->h = out->full_w = out->full_h = 0;
    out->rgb = NULL;
    int lr = load_checked(data, len, lim, &fmt, &img, &out->full_w, &out->full_h, err, errlen);
    if (lr == 1)
        return vg_rawimg_decode(data, len, lim, out, err, errlen);
    if (lr != 0) {   /* nothing to release; libvips may not even have started (vips_error_clear would crash) */
        out->full_w = out->full_h = 0;
        return lr;
    }
    int w = vips_image_get_width(img), h = vips_image_get_height(img);
    int shrink = decode_reduction(fmt, out->full_w, out->full_h, min_w, min_h);
    if (strcmp(fmt, "jpeg") == 0) {   /* libjpeg straight, unless the colours need libvips */
        int r = vg_jpegdec_decode(data, len, shrink, vips_image_get_orientation(img), out, err, errlen);
        if (r != VG_JPEGDEC_DECLINED) {
            rc = r;
            if (rc == 0 && shrink == 1) {
                out->full_w = out->w;
                out->full_h = out->h;
            }
            goto out;
        }
    }
    if (shrink > 1) {
        /* the header again, at the reduced size the decoder will produce */
        unref(&img);
        if (load_header(fmt, data, len, shrink, &img) != 0) {
            char what[64];
            snprintf(what, sizeof what, "undecodable %s", fmt);
            take_vips_error(what, err, errlen);
            goto out;
        }
        int rw = vips_image_get_width(img), rh = vips_image_get_height(img);
        if (rw <= 0 || rh <= 0 || rw > w || rh > h) {
            snprintf(err, errlen, "%s decoded at 1/%d gave %dx%d from %dx%d", fmt, shrink, rw, rh, w, h);
            goto out;
        }
    }
    if (vips_autorot(img, &rot, NULL) != 0) {
        take_vips_error("auto-rotation failed", err, errlen);
        goto out;
    }
    if (vips_colourspace(rot, &srgb, VIPS_INTERPRETATION_sRGB, NULL) != 0) {
        take_vips_error("colour conversion failed", err, errlen);
        goto out;
    }
    /* darknet (OpenCV IMREAD_COLOR) ignores alpha rather than flattening it */
    if (vips_image_get_bands(srgb) > 3) {
        if (vips_extract_band(srgb, &rgb, 0, "n", 3, NULL) != 0) {
            take_vips_error("band extraction failed", err, errlen);
            goto out;
        }
    } else {
        rgb = srgb;
        g_object_ref(rgb);
    }
    if (vips_image_get_bands(rgb) != 3) {
        snprintf(err, errlen, "%s with %d bands after sRGB conversion", fmt, vips_image_get_bands(rgb));
        goto out;
    }
    if (vips_cast_uchar(rgb, &u8, NULL) != 0) {
        take_vips_error("pixel conversion failed", err, errlen);
        goto out;
    }
    /* This is where the pixels are decoded: truncation shows up here. */
    pix = vips_image_write_to_memory(u8, &size);
    if (!pix) {
        char what[64];
        snprintf(what, sizeof what, "undecodable %s", fmt);
        take_vips_error(what, err, errlen);
        goto out;
    }
    int ow = vips_image_get_width(u8), oh = vips_image_get_height(u8);
    if (size != (size_t)ow * (size_t)oh * 3) {
        snprintf(err, errlen, "decoder returned %zu bytes for %dx%d", size, ow, oh);
        g_free(pix);
        goto out;
    }
    out->w = ow;
    out->h = oh;
    if (shrink == 1) {
        out->full_w = ow;
        out->full_h = oh;
    }
    out->rgb = pix;
    rc = 0;
out:
    if (rc != 0)
        out->full_w = out->full_h = 0;
    unref(&u8);
    unref(&rgb);
    unref(&srgb);
    unref(&rot);
    unref(&img);
    if (rc != 0)
        vips_error_clear();
    return rc;
}


/*
 * darknet resize_image() on the 8-bit source read as x/255.0f, then
 * embed_image() into a 0.5 canvas. The float expressions and their order
 * follow darknet's so the tensor is bit-identical.
 */
int
vg_image_letterbox(const vg_image *im, int net_w, int net_h, float *chw)
{
    int nw, nh;
    const int W = im->w, H = im->h, C = 3;

    /* the geometry of the image as sent, which boxes are mapped back to (a reduced decode rounds) */
    vg_post_letterbox_size(im->full_w > 0 ? im->full_w : W, im->full_h > 0 ? im->full_h : H, net_w, net_h,
                           &nw, &nh);
    if (nw > net_w)
        nw = net_w;
    if (nh > net_h)
        nh = net_h;
    float *part = malloc((size_t)nw * (size_t)H * C * sizeof *part);
    if (!part)
        return -ENOMEM;

    float w_scale = nw > 1 ? (float)(W - 1) / (nw - 1) : 0.0f;
    float h_scale = nh > 1 ? (float)(H - 1) / (nh - 1) : 0.0f;
    const uint8_t *src = im->rgb;

    /* horizontal pass: part is planar nw x H */
    for (int k = 0; k < C; ++k) {
        for (int r = 0; r < H; ++r) {
            const uint8_t *row = src + (size_t)r * W * C + k;
            float *prow = part + ((size_t)k * H + r) * nw;
            for (int c = 0; c < nw; ++c) {
                float val;
                if (c == nw - 1 || W == 1) {
                    val = row[(size_t)(W - 1) * C] / 255.0f;
                } else {
                    float sx = c * w_scale;
                    int ix = (int)sx;
                    float dx = sx - ix;
                    float a = row[(size_t)ix * C] / 255.0f;
                    float b = row[(size_t)(ix + 1) * C] / 255.0f;
                    val = (1 - dx) * a + dx * b;
                }
                prow[c] = val;
            }
        }
    }

    /* canvas */
    size_t plane = (size_t)net_w * net_h;
    for (size_t i = 0; i < plane * C; i++)
        chw[i] = .5f;
    int ox = (net_w - nw) / 2, oy = (net_h - nh) / 2;

    /* vertical pass, written straight into the canvas */
    for (int k = 0; k < C; ++k) {
        for (int r = 0; r < nh; ++r) {
            float sy = r * h_scale;
            int iy = (int)sy;
            float dy = sy - iy;
            const float *p0 = part + ((size_t)k * H + iy) * nw;
            float *dst = chw + k * plane + (size_t)(r + oy) * net_w + ox;
            for (int c = 0; c < nw; ++c)
                dst[c] = (1 - dy) * p0[c];
            if (r == nh - 1 || H == 1)
                continue;
            const float *p1 = p0 + nw;
            for (int c = 0; c < nw; ++c)
                dst[c] += dy * p1[c];
        }
    }
    free(part);
    return 0;
}


/*
 * Source index and 11-bit weights of each destination column (or row) of
 * a bilinear resize from `src` to `dst` samples, on pixel centres: what
 * OpenCV's cv::resize(INTER_LINEAR) computes for 8-bit images.
 */
static void
stretch_taps(int dst, int src, int *idx, int16_t (*wt)[2])
{
    double scale = (double)src / dst;
    for (int d = 0; d < dst; d++) {
        double f = (d + 0.5) * scale - 0.5;
        int s = (int)floor(f);
        f -= s;
        if (s < 0) {
            s = 0;
            f = 0;
        }
        if (s >= src - 1) {
            s = src - 1;
            f = 0;
        }
        idx[d] = s;
        wt[d][0] = (int16_t)lrint((1.0 - f) * 2048);
        wt[d][1] = (int16_t)lrint(f * 2048);
    }
}


/*
 * A stretch to net_w x net_h, as AlexeyAB darknet's training loader and
 * OpenCV DNN's blobFromImage (no crop) feed these models: bilinear on pixel
 * centres with 11-bit fixed-point weights, rounded back to 8 bits the way
 * OpenCV's vectorised vertical pass rounds, then x / 255.0f.
 */
int
vg_image_stretch(const vg_image *im, int net_w, int net_h, float *chw)
{
    const int W = im->w, H = im->h, C = 3;
    size_t plane = (size_t)net_w * net_h;
    int *xi = malloc((size_t)net_w * sizeof *xi), *yi = malloc((size_t)net_h * sizeof *yi);
    int16_t (*xw)[2] = malloc((size_t)net_w * sizeof *xw), (*yw)[2] = malloc((size_t)net_h * sizeof *yw);
    int32_t *rows = malloc((size_t)2 * net_w * C * sizeof *rows);   /* two horizontal passes */
    int rc = 0;

    if (!xi || !yi || !xw || !yw || !rows) {
        rc = -ENOMEM;
        goto out;
    }
    stretch_taps(net_w, W, xi, xw);
    stretch_taps(net_h, H, yi, yw);
    for (int r = 0; r < net_h; r++) {
        int sy[2] = { yi[r], yi[r] + 1 < H ? yi[r] + 1 : H - 1 };
        for (int t = 0; t < 2; t++) {
            const uint8_t *row = im->rgb + (size_t)sy[t] * W * C;
            int32_t *h = rows + (size_t)t * net_w * C;
            for (int c = 0; c < net_w; c++) {
                const uint8_t *p0 = row + (size_t)xi[c] * C;
                const uint8_t *p1 = xi[c] + 1 < W ? p0 + C : p0;
                for (int k = 0; k < C; k++)
                    h[c * C + k] = p0[k] * xw[c][0] + p1[k] * xw[c][1];
            }
        }
        for (int c = 0; c < net_w; c++) {
            for (int k = 0; k < C; k++) {
                int32_t a = rows[c * C + k] >> 4, b = rows[(size_t)net_w * C + c * C + k] >> 4;
                int v = (((yw[r][0] * a) >> 16) + ((yw[r][1] * b) >> 16) + 2) >> 2;
                v = v < 0 ? 0 : v > 255 ? 255 : v;
                chw[k * plane + (size_t)r * net_w + c] = v / 255.0f;
            }
        }
    }
out:
    free(xi);
    free(yi);
    free(xw);
    free(yw);
    free(rows);
    return rc;
}


/* ---- annotation ---------------------------------------------------------- */

void
vg_image_class_colour(int k, uint8_t rgb[3])
{
    /* golden-ratio hue steps: neighbouring class ids get distant hues */
    double hue = fmod(0.07 + k * 0.6180339887498949, 1.0) * 6.0;
    double s = 0.85, v = 0.95;
    int i = (int)hue;
    double f = hue - i;
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (i % 6) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
    }
    rgb[0] = (uint8_t)lround(r * 255);
    rgb[1] = (uint8_t)lround(g * 255);
    rgb[2] = (uint8_t)lround(b * 255);
}


static void
fill_rect(uint8_t *px, int W, int H, int x0, int y0, int x1, int y1, const uint8_t c[3])
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W - 1) x1 = W - 1;
    if (y1 > H - 1) y1 = H - 1;
    for (int y = y0; y <= y1; y++) {
        uint8_t *p = px + ((size_t)y * W + x0) * 3;
        for (int x = x0; x <= x1; x++, p += 3) {
            p[0] = c[0];
            p[1] = c[1];
            p[2] = c[2];
        }
    }
}


static void
draw_box(uint8_t *px, int W, int H, const vg_detection *d, int t, const uint8_t c[3])
{
    fill_rect(px, W, H, d->x_min, d->y_min, d->x_max, d->y_min + t - 1, c);
    fill_rect(px, W, H, d->x_min, d->y_max - t + 1, d->x_max, d->y_max, c);
    fill_rect(px, W, H, d->x_min, d->y_min, d->x_min + t - 1, d->y_max, c);
    fill_rect(px, W, H, d->x_max - t + 1, d->y_min, d->x_max, d->y_max, c);
}


/* Renders `text` as an 8-bit coverage mask; NULL when no font works. */
static uint8_t *
render_text(const char *text, int px_size, int *tw, int *th)
{
    VipsImage *t = NULL, *u = NULL;
    uint8_t *mask = NULL;
    char font[64];

    if (text_broken)
        return NULL;
    snprintf(font, sizeof font, "sans bold %d", px_size);
    if (vips_text(&t, text, "font", font, "dpi", 72, NULL) != 0 ||
        vips_cast_uchar(t, &u, NULL) != 0) {
        char e[256];
        take_vips_error("text rendering failed", e, sizeof e);
        vg_warn("image", "%s; annotated images get boxes without labels", e);
        text_broken = 1;
        goto out;
    }
    size_t size = 0;
    mask = vips_image_write_to_memory(u, &size);
    *tw = vips_image_get_width(u);
    *th = vips_image_get_height(u);
    if (mask && size != (size_t)*tw * (size_t)*th) {
        g_free(mask);
        mask = NULL;
    }
out:
    unref(&u);
    unref(&t);
    return mask;
}


/*
 * `text` on a filled tag of colour c, above the point (x, y) or below it
 * when there is no room above.
 */
static void
draw_tag(uint8_t *px, int W, int H, int x, int y, const char *label_text, int font_px, const uint8_t c[3])
{
    char text[VG_MODEL_LABEL_MAX_TEXT];
    int tw = 0, th = 0;

    snprintf(text, sizeof text, "%s", label_text);
    /* vips_text takes Pango markup: drop the characters that would change it */
    for (char *p = text; *p; p++)
        if (*p == '<' || *p == '>' || *p == '&')
            *p = ' ';
    uint8_t *mask = render_text(text, font_px, &tw, &th);
    if (!mask)
        return;
    int pad = font_px / 5 + 1;
    int bw = tw + 2 * pad, bh = th + 2 * pad;
    int x0 = x, y0 = y - bh;
    if (y0 < 0)
        y0 = y;                   /* no room above: below */
    if (x0 + bw > W)
        x0 = W - bw;
    if (x0 < 0)
        x0 = 0;
    fill_rect(px, W, H, x0, y0, x0 + bw - 1, y0 + bh - 1, c);
    /* black or white text, whichever reads better on the colour */
    int lum = (299 * c[0] + 587 * c[1] + 114 * c[2]) / 1000;
    uint8_t ink = lum > 140 ? 0 : 255;
    for (int yy = 0; yy < th; yy++) {
        int py = y0 + pad + yy;
        if (py < 0 || py >= H)
            continue;
        for (int xx = 0; xx < tw; xx++) {
            int pxx = x0 + pad + xx;
            if (pxx < 0 || pxx >= W)
                continue;
            unsigned a = mask[(size_t)yy * tw + xx];
            if (!a)
                continue;
            uint8_t *p = px + ((size_t)py * W + pxx) * 3;
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (uint8_t)((p[ch] * (255 - a) + ink * a + 127) / 255);
        }
    }
    g_free(mask);
}


static void
draw_label(uint8_t *px, int W, int H, const vg_detection *d, int font_px, const uint8_t c[3])
{
    char text[VG_MODEL_LABEL_MAX_TEXT];
    snprintf(text, sizeof text, "%s %.0f%%", d->label ? d->label : "?", d->confidence * 100.0);
    draw_tag(px, W, H, d->x_min, d->y_min, text, font_px, c);
}


/* Line thickness and label size for an image of W x H. */
static void
pen_size(int W, int H, int *t, int *font_px)
{
    int side = W < H ? W : H;
    *t = side / 250 + 1;
    *font_px = side / 40;
    if (*font_px < 10)
        *font_px = 10;
    if (*font_px > 48)
        *font_px = 48;
}


/* Encodes px (W x H RGB, freed here) as a JPEG of `quality`; *jpeg is malloc'd. */
static int
encode_px(uint8_t *px, int W, int H, int quality, uint8_t **jpeg, size_t *jpeg_len, char *err, size_t errlen)
{
    VipsImage *vi = NULL;
    void *buf = NULL;
    size_t len = 0;
    int rc = VG_E_BACKEND;

    if (quality < 1 || quality > 100)
        quality = 85;
    vi = vips_image_new_from_memory(px, (size_t)W * H * 3, W, H, 3, VIPS_FORMAT_UCHAR);
    if (!vi) {
        take_vips_error("annotation failed", err, errlen);
        goto out;
    }
    if (vips_jpegsave_buffer(vi, &buf, &len, "Q", quality, "strip", TRUE, NULL) != 0) {
        take_vips_error("JPEG encoding failed", err, errlen);
        goto out;
    }
    *jpeg = malloc(len);
    if (!*jpeg) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    memcpy(*jpeg, buf, len);
    *jpeg_len = len;
    rc = 0;
out:
    g_free(buf);
    unref(&vi);
    free(px);
    return rc;
}


/* A copy of im's pixels, or NULL (with err) when out of memory. */
static uint8_t *
copy_px(const vg_image *im, char *err, size_t errlen)
{
    uint8_t *px = malloc((size_t)im->w * im->h * 3);
    if (!px)
        snprintf(err, errlen, "out of memory");
    else
        memcpy(px, im->rgb, (size_t)im->w * im->h * 3);
    return px;
}


int
vg_image_annotate(const vg_image *im, const vg_detection *dets, size_t n, int quality,
                  uint8_t **jpeg, size_t *jpeg_len, char *err, size_t errlen)
{
    *jpeg = NULL;
    *jpeg_len = 0;
    if (vg_image_init(err, errlen) != 0)
        return VG_E_BACKEND;
    uint8_t *px = copy_px(im, err, errlen);
    if (!px)
        return -ENOMEM;
    int t, font_px;
    pen_size(im->w, im->h, &t, &font_px);
    /* boxes first, lowest confidence first, so labels and strong boxes stay on top */
    for (size_t i = n; i-- > 0;) {
        uint8_t c[3];
        vg_image_class_colour(dets[i].class_id, c);
        draw_box(px, im->w, im->h, &dets[i], t, c);
    }
    for (size_t i = n; i-- > 0;) {
        uint8_t c[3];
        vg_image_class_colour(dets[i].class_id, c);
        draw_label(px, im->w, im->h, &dets[i], font_px, c);
    }
    return encode_px(px, im->w, im->h, quality, jpeg, jpeg_len, err, errlen);
}


/* A segment t pixels thick: a t x t square at every point (Bresenham). */
static void
draw_segment(uint8_t *px, int W, int H, int x0, int y0, int x1, int y1, int t, const uint8_t c[3])
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy, h = t / 2;
    for (;;) {
        fill_rect(px, W, H, x0 - h, y0 - h, x0 - h + t - 1, y0 - h + t - 1, c);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}


/*
 * A line, an arrow from its middle towards its right side looking from a
 * to b (its `forward` side, docs/events.md), and its counts.
 */
static void
draw_line(uint8_t *px, int W, int H, const vg_overlay_line *l, int t, int font_px)
{
    const uint8_t *c = vg_overlay_line_rgb;
    draw_segment(px, W, H, l->a[0], l->a[1], l->b[0], l->b[1], t, c);
    double dx = l->b[0] - l->a[0], dy = l->b[1] - l->a[1];
    double len = sqrt(dx * dx + dy * dy);
    double mx = (l->a[0] + l->b[0]) / 2.0, my = (l->a[1] + l->b[1]) / 2.0;
    if (len >= 1) {
        double ux = dx / len, uy = dy / len;        /* along the line */
        double nx = -uy, ny = ux;                   /* its right side, y down */
        double al = 3.0 * font_px, hl = font_px;
        double tx = mx + nx * al, ty = my + ny * al;
        draw_segment(px, W, H, (int)lround(mx), (int)lround(my), (int)lround(tx), (int)lround(ty), t, c);
        for (int s = -1; s <= 1; s += 2)
            draw_segment(px, W, H, (int)lround(tx), (int)lround(ty),
                         (int)lround(tx - nx * hl + s * ux * hl * 0.6), (int)lround(ty - ny * hl + s * uy * hl * 0.6),
                         t, c);
    }
    char text[96];
    snprintf(text, sizeof text, "%s: %lld fwd / %lld back", l->name, l->forward, l->backward);
    draw_tag(px, W, H, l->a[0], l->a[1], text, font_px, c);
}


int
vg_image_overlay(const vg_image *im, const vg_overlay *o, int quality, uint8_t **jpeg, size_t *jpeg_len,
                 char *err, size_t errlen)
{
    *jpeg = NULL;
    *jpeg_len = 0;
    if (vg_image_init(err, errlen) != 0)
        return VG_E_BACKEND;
    uint8_t *px = copy_px(im, err, errlen);
    if (!px)
        return -ENOMEM;
    int W = im->w, H = im->h, t, font_px;
    pen_size(W, H, &t, &font_px);
    int st = t < 3 ? 3 : t;             /* shapes: thick enough to survive the JPEG */
    for (int i = 0; i < o->nzones; i++) {
        const vg_overlay_zone *z = &o->zones[i];
        for (int k = 0; k < z->np; k++) {
            const int *p = z->pts[k], *q = z->pts[(k + 1) % z->np];
            draw_segment(px, W, H, p[0], p[1], q[0], q[1], st, vg_overlay_zone_rgb);
        }
        if (z->np)
            draw_tag(px, W, H, z->pts[0][0], z->pts[0][1], z->name, font_px, vg_overlay_zone_rgb);
    }
    for (int i = 0; i < o->nlines; i++)
        draw_line(px, W, H, &o->lines[i], st, font_px);
    for (int i = o->nboxes; i-- > 0;) {
        const vg_overlay_box *b = &o->boxes[i];
        vg_detection d = { .class_id = b->cls, .x_min = b->x0, .y_min = b->y0, .x_max = b->x1, .y_max = b->y1 };
        uint8_t c[3];
        vg_image_class_colour(b->cls, c);
        draw_box(px, W, H, &d, t, c);
    }
    for (int i = o->nboxes; i-- > 0;) {
        const vg_overlay_box *b = &o->boxes[i];
        char text[VG_OVERLAY_NAME_MAX + 32];
        const char *name = b->label >= 0 && b->label < o->nlabels ? o->labels[b->label] : "?";
        if (b->track)
            snprintf(text, sizeof text, "%s #%llu", name, (unsigned long long)b->track);
        else
            snprintf(text, sizeof text, "%s", name);
        uint8_t c[3];
        vg_image_class_colour(b->cls, c);
        draw_tag(px, W, H, b->x0, b->y0, text, font_px, c);
    }
    return encode_px(px, W, H, quality, jpeg, jpeg_len, err, errlen);
}
