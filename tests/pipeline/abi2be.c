/*
 * abi2be: a backend that exercises what ABI 2 lets a model say and do,
 * chosen by its manifest section [abi2be] (test_abi):
 *   input = f32 | u8_nhwc_bgr | meanstd_nhwc | encoded | none
 *                  the tensor it asks for (none: 64x64 images as they are)
 *   task = detect | classify
 *   output = candidates | boxes      boxes: two same-class boxes, its own NMS "done"
 *   fail = no | again_once | again | fatal_once | odd_images
 *   labels = none | same | other | null   its own labels: none, red/blue, cyan/blue, red/NULL
 * Classes: 0 "red", 1 "blue", from the centre colour of each image (read
 * back through the layout, channel order and normalisation it asked for);
 * an encoded image is checked to be JPEG or PNG and answers class 0.
 * describe() reports "abi2be worker W device D" as its device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigia/backend.h>

static const float mean[3] = { 0.5f, 0.25f, 0.125f }, stdv[3] = { 0.5f, 0.25f, 2.0f };

struct vigia_model {
    const char *input, *task, *output, *fail, *labels;
    int calls, max_batch, w, h;
    char device[64];
};


static int
be_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    static const char *const inputs[] = { "f32", "u8_nhwc_bgr", "meanstd_nhwc", "encoded", "none", NULL };
    static const char *const tasks[] = { "detect", "classify", NULL };
    static const char *const outputs[] = { "candidates", "boxes", NULL };
    static const char *const fails[] = { "no", "again_once", "again", "fatal_once", "odd_images", NULL };
    static const char *const labels[] = { "none", "same", "other", "null", NULL };
    vigia_model m = { .max_batch = man->max_batch, .w = 64, .h = 64 };
    int rc;
    (void)host;
    if ((rc = man->get_string(man, "abi2be.input", inputs, "f32", &m.input, err, errlen)) != 0 ||
        (rc = man->get_string(man, "abi2be.task", tasks, "detect", &m.task, err, errlen)) != 0 ||
        (rc = man->get_string(man, "abi2be.output", outputs, "candidates", &m.output, err, errlen)) != 0 ||
        (rc = man->get_string(man, "abi2be.fail", fails, "no", &m.fail, err, errlen)) != 0 ||
        (rc = man->get_string(man, "abi2be.labels", labels, "none", &m.labels, err, errlen)) != 0)
        return rc;
    snprintf(m.device, sizeof m.device, "abi2be worker %d device %d", man->worker, man->device);
    if (!(*out = malloc(sizeof m)))
        return VIGIA_ENOMEM;
    **out = m;
    return 0;
}


static int
be_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    info->input_w = m->w;
    info->input_h = m->h;
    info->input_c = 3;
    info->classes = 2;
    info->max_batch = m->max_batch;
    info->device = m->device;
    info->task = strcmp(m->task, "classify") == 0 ? VIGIA_TASK_CLASSIFY : VIGIA_TASK_DETECT;
    info->output = info->task == VIGIA_TASK_CLASSIFY ? VIGIA_OUTPUT_SCORES
                 : strcmp(m->output, "boxes") == 0 ? VIGIA_OUTPUT_BOXES : VIGIA_OUTPUT_CANDIDATES;
    static const char *const same[] = { "red", "blue" }, *const other[] = { "cyan", "blue" },
                             *const null[] = { "red", NULL };
    info->labels = strcmp(m->labels, "same") == 0 ? same : strcmp(m->labels, "other") == 0 ? other
                 : strcmp(m->labels, "null") == 0 ? null : NULL;
    if (strcmp(m->input, "u8_nhwc_bgr") == 0) {
        info->input.dtype = VIGIA_DTYPE_U8;
        info->input.layout = VIGIA_LAYOUT_NHWC;
        info->input.channels = VIGIA_CHANNELS_BGR;
    } else if (strcmp(m->input, "meanstd_nhwc") == 0) {
        info->input.layout = VIGIA_LAYOUT_NHWC;
        memcpy(info->input.mean, mean, sizeof mean);
        memcpy(info->input.std, stdv, sizeof stdv);
    } else if (strcmp(m->input, "encoded") == 0) {
        info->input.dtype = VIGIA_DTYPE_ENCODED;
    } else if (strcmp(m->input, "none") == 0) {
        info->input.resize = VIGIA_RESIZE_NONE;
    }
    return 0;
}


/* The centre pixel of image b as RGB in [0, 1], read as describe() asked. */
static void
centre(const vigia_model *m, const vigia_batch *in, int b, float rgb[3])
{
    size_t plane = (size_t)m->w * m->h, i = (size_t)(m->h / 2) * m->w + m->w / 2;
    const void *t = in->images[b].data;
    for (int c = 0; c < 3; c++) {
        if (strcmp(m->input, "u8_nhwc_bgr") == 0)
            rgb[c] = ((const unsigned char *)t)[i * 3 + (2 - c)] / 255.0f;
        else if (strcmp(m->input, "meanstd_nhwc") == 0)
            rgb[c] = ((const float *)t)[i * 3 + c] * stdv[c] + mean[c];
        else
            rgb[c] = ((const float *)t)[c * plane + i];
    }
}


static int
be_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    m->calls++;
    if (in->count < 1 || (int)in->count > m->max_batch)
        return snprintf(err, errlen, "batch %u, max %d", in->count, m->max_batch), VIGIA_ENOTSUP;
    if ((strcmp(m->fail, "again_once") == 0 && m->calls == 1) || strcmp(m->fail, "again") == 0)
        return snprintf(err, errlen, "device busy (call %d)", m->calls), VIGIA_EAGAIN;
    if (strcmp(m->fail, "fatal_once") == 0 && m->calls == 1)
        return snprintf(err, errlen, "device lost"), VIGIA_EFATAL;
    for (uint32_t b = 0; b < in->count; b++) {
        vigia_candidates *o = &out[b];
        int k = 0;
        if (strcmp(m->fail, "odd_images") == 0 && b % 2) {
            o->status = VIGIA_EINVAL;
            snprintf(o->err, o->errlen, "odd image %u", b);
            continue;
        }
        if (strcmp(m->input, "encoded") == 0) {
            const unsigned char *p = in->images[b].data;
            int jpeg = in->images[b].len > 3 && p[0] == 0xff && p[1] == 0xd8;
            if (!jpeg || in->images[b].width <= 0 || in->images[b].height <= 0) {
                o->status = VIGIA_EINVAL;
                snprintf(o->err, o->errlen, "not the jpeg expected");
                continue;
            }
        } else {
            float rgb[3];
            centre(m, in, (int)b, rgb);
            k = rgb[2] > rgb[0];
        }
        if (o->scores) {
            o->scores[k] = 0.9f;
            o->scores[1 - k] = 0.2f;
            o->count = 1;
            continue;
        }
        int n = strcmp(m->output, "boxes") == 0 ? 2 : 1;
        for (int i = 0; i < n && (uint32_t)i < o->capacity; i++) {
            o->box[4 * i] = o->box[4 * i + 1] = 0.5f;
            o->box[4 * i + 2] = o->box[4 * i + 3] = 0.5f - 0.01f * (float)i;
            o->objectness[i] = 1;
            o->prob[2 * i + k] = 0.9f;
            o->prob[2 * i + 1 - k] = 0;
            o->count++;
        }
    }
    return 0;
}


static void
be_close(vigia_model *m)
{
    free(m);
}


static const char *const keys[] = { "input", "task", "output", "fail", "labels", NULL };

static const vigia_backend table = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = "abi2be",
    .version = "1",
    .open = be_open,
    .describe = be_describe,
    .infer = be_infer,
    .close = be_close,
    .keys = keys,
};


VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &table;
}
