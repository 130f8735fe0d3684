/* pixels: see pixels.h. */
#include "pipeline/pixels.h"

#include <glib.h>
#include <math.h>


void
vg_image_release(vg_image *im)
{
    if (!im)
        return;
    g_free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = im->full_w = im->full_h = 0;
}


size_t
vg_tensor_bytes(const vigia_input_desc *d, int w, int h)
{
    size_t n = (size_t)w * (size_t)h * 3;
    return d->dtype == VIGIA_DTYPE_ENCODED ? 0 : d->dtype == VIGIA_DTYPE_U8 ? n : n * sizeof(float);
}


int
vg_tensor_is_planar_rgb(const vigia_input_desc *d)
{
    for (int c = 0; c < 3; c++)
        if (d->mean[c] != 0 || (d->std[c] != 0 && d->std[c] != 1))
            return 0;
    return d->dtype == VIGIA_DTYPE_F32 && d->layout == VIGIA_LAYOUT_NCHW && d->channels == VIGIA_CHANNELS_RGB;
}


void
vg_tensor_from_chw(const float *chw, int w, int h, const vigia_input_desc *d, void *out)
{
    size_t plane = (size_t)w * (size_t)h;
    int nhwc = d->layout == VIGIA_LAYOUT_NHWC;
    for (int c = 0; c < 3; c++) {
        const float *src = chw + plane * (size_t)(d->channels == VIGIA_CHANNELS_BGR ? 2 - c : c);
        float mean = d->mean[c], scale = 1.0f / (d->std[c] != 0 ? d->std[c] : 1.0f);
        size_t at = nhwc ? (size_t)c : plane * (size_t)c, step = nhwc ? 3 : 1;
        if (d->dtype == VIGIA_DTYPE_U8) {
            uint8_t *o = (uint8_t *)out + at;
            for (size_t i = 0; i < plane; i++) {
                float v = src[i] * 255.0f;
                o[i * step] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : lrintf(v));
            }
        } else {
            float *o = (float *)out + at;
            for (size_t i = 0; i < plane; i++)
                o[i * step] = (src[i] - mean) * scale;
        }
    }
}
