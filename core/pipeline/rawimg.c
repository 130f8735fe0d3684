/* rawimg: see rawimg.h. */
#include "pipeline/rawimg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/error.h"

static const uint8_t magic[8] = { 0x89, 'V', 'G', 'R', 'A', 'W', '\r', '\n' };


static void
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}


static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}


size_t
vg_rawimg_data_size(const vg_rawimg_desc *d)
{
    if ((d->dtype != VG_RAWIMG_U8 && d->dtype != VG_RAWIMG_F32) ||
        (d->layout != VG_RAWIMG_HWC && d->layout != VG_RAWIMG_CHW) || d->w == 0 || d->h == 0)
        return 0;
    uint64_t n = (uint64_t)d->w * d->h * 3u * (d->dtype == VG_RAWIMG_F32 ? 4u : 1u);
    if (n > (uint64_t)SIZE_MAX - VG_RAWIMG_HEADER || n > UINT64_C(1) << 40)
        return 0;
    return (size_t)n;
}


void
vg_rawimg_header(const vg_rawimg_desc *d, uint8_t out[VG_RAWIMG_HEADER])
{
    memset(out, 0, VG_RAWIMG_HEADER);
    memcpy(out, magic, sizeof magic);
    out[8] = 1;
    out[9] = (uint8_t)d->dtype;
    out[10] = (uint8_t)d->layout;
    out[11] = 3;
    put_u32(out + 12, d->w);
    put_u32(out + 16, d->h);
    uint32_t s;
    memcpy(&s, &d->scale, 4);
    put_u32(out + 20, s);
    out[24] = (uint8_t)(d->flags & VG_RAWIMG_BGR);
}


int
vg_rawimg_is(const void *data, size_t len)
{
    return data && len >= sizeof magic && memcmp(data, magic, sizeof magic) == 0;
}


int
vg_rawimg_parse(const void *data, size_t len, vg_rawimg_desc *d, char *err, size_t errlen)
{
    const uint8_t *p = data;
    memset(d, 0, sizeof *d);
    if (!vg_rawimg_is(data, len) || len < VG_RAWIMG_HEADER) {
        snprintf(err, errlen, "truncated raw tensor header");
        return -1;
    }
    if (p[8] != 1 || p[11] != 3 || (p[24] & ~VG_RAWIMG_BGR) != 0) {
        snprintf(err, errlen, "unsupported raw tensor header (version %u, %u channels)", p[8], p[11]);
        return -1;
    }
    for (int i = 25; i < VG_RAWIMG_HEADER; i++)
        if (p[i]) {
            snprintf(err, errlen, "raw tensor header has reserved bytes set");
            return -1;
        }
    d->dtype = p[9];
    d->layout = p[10];
    d->w = get_u32(p + 12);
    d->h = get_u32(p + 16);
    uint32_t s = get_u32(p + 20);
    memcpy(&d->scale, &s, 4);
    d->flags = p[24];
    size_t need = vg_rawimg_data_size(d);
    if (need == 0 || !isfinite(d->scale) || d->scale < 0 || d->scale > 65536) {
        snprintf(err, errlen, "invalid raw tensor header (dtype %d, layout %d, %ux%u, scale %g)", d->dtype,
                 d->layout, d->w, d->h, (double)d->scale);
        return -1;
    }
    if (len - VG_RAWIMG_HEADER != need) {
        snprintf(err, errlen, "raw tensor of %ux%u needs %zu bytes of data, not %zu", d->w, d->h, need,
                 len - VG_RAWIMG_HEADER);
        return -1;
    }
    return 0;
}


/* The 0..255 value of one float, or -1 when it is not finite. */
static int
float_pixel(float v, float scale)
{
    if (!isfinite(v))
        return -1;
    float x = v * scale;
    if (!(x > 0))
        return 0;
    if (x >= 255)
        return 255;
    return (int)(x + 0.5f);
}


int
vg_rawimg_decode(const void *data, size_t len, const vg_image_limits *lim, vg_image *out,
                 char *err, size_t errlen)
{
    vg_rawimg_desc d;
    out->w = out->h = out->full_w = out->full_h = 0;
    out->rgb = NULL;
    if (vg_rawimg_parse(data, len, &d, err, errlen) != 0)
        return VG_E_DECODE;
    if (lim && ((lim->max_side && (d.w > lim->max_side || d.h > lim->max_side)) ||
                (lim->max_pixels && (uint64_t)d.w * d.h > lim->max_pixels))) {
        snprintf(err, errlen, "raw tensor of %ux%u pixels exceeds the limits (%u per side, %llu pixels)", d.w,
                 d.h, lim->max_side, (unsigned long long)lim->max_pixels);
        return VG_E_TOOBIG;
    }
    size_t n = (size_t)d.w * d.h;
    uint8_t *rgb = g_try_malloc(n * 3);
    if (!rgb) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const uint8_t *src = (const uint8_t *)data + VG_RAWIMG_HEADER;
    int bgr = (d.flags & VG_RAWIMG_BGR) != 0;
    if (d.dtype == VG_RAWIMG_U8) {
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                size_t at = d.layout == VG_RAWIMG_HWC ? i * 3 + (size_t)c : (size_t)c * n + i;
                rgb[i * 3 + (size_t)(bgr ? 2 - c : c)] = src[at];
            }
    } else {
        float scale = d.scale;
        if (scale == 0) {
            /* guess: data within [0, 1] is normalised */
            scale = 255;
            for (size_t i = 0; i < n * 3; i++) {
                float v;
                memcpy(&v, src + i * 4, 4);
                if (v > 1.0f) {
                    scale = 1;
                    break;
                }
            }
        }
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                size_t at = d.layout == VG_RAWIMG_HWC ? i * 3 + (size_t)c : (size_t)c * n + i;
                float v;
                memcpy(&v, src + at * 4, 4);
                int px = float_pixel(v, scale);
                if (px < 0) {
                    snprintf(err, errlen, "the tensor holds a value that is not a finite number");
                    g_free(rgb);
                    return VG_E_DECODE;
                }
                rgb[i * 3 + (size_t)(bgr ? 2 - c : c)] = (uint8_t)px;
            }
    }
    out->w = out->full_w = (int)d.w;
    out->h = out->full_h = (int)d.h;
    out->rgb = rgb;
    return 0;
}
