/*
 * classify: a complete, minimal classification backend to copy, beside the
 * detection template (template.c). It shows what ABI 2 lets a model say:
 * a task (classify), its output (a score per class), the tensor it wants
 * (8-bit, interleaved: NHWC), its own labels, a typed manifest key it
 * declares, and a failure of one image that does not fail the batch.
 *
 * Build (against the installed header only):
 *     cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags vigia-backend) \
 *        classify.c -o vigia-backend-classify.so
 * or `make` with the Makefile beside this file; check it:
 *     vigia-plugin-check ./vigia-backend-classify.so classify-example
 *
 * The "network": three classes, red, green and blue; the score of a class is
 * the share of the image's pixels whose channel of that colour exceeds both
 * others by at least `margin` (manifest key [classify] margin, 0..255,
 * default 40). A wholly grey image (every score 0) is refused alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <vigia/backend.h>

#define CLS_SIDE 64                /* the input: 64 x 64, stretched by the host */

static const char *const labels[] = { "red", "green", "blue" };

struct vigia_model {
    int margin;
    int max_batch;
};


static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}


static int
cls_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    long long margin;
    int rc;

    *out = NULL;
    if (!host || VIGIA_ABI_MAJOR(host->abi_version) != VIGIA_BACKEND_ABI_MAJOR)
        return fail(err, errlen, VIGIA_ENOTSUP, "host speaks ABI %u, this backend %u",
                    host ? VIGIA_ABI_MAJOR(host->abi_version) : 0, VIGIA_BACKEND_ABI_MAJOR);
    if (!man || man->max_batch < 1)
        return fail(err, errlen, VIGIA_EINVAL, "bad manifest");
    if ((rc = man->get_int(man, "classify.margin", 0, 255, 40, &margin, err, errlen)) != 0)
        return rc;
    vigia_model *m = calloc(1, sizeof *m);
    if (!m)
        return fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    m->margin = (int)margin;
    m->max_batch = man->max_batch;
    *out = m;
    return 0;
}


static int
cls_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    if (!m || !info)
        return fail(err, errlen, VIGIA_EINVAL, "no model");
    info->task = VIGIA_TASK_CLASSIFY;
    info->output = VIGIA_OUTPUT_SCORES;
    info->input_w = info->input_h = CLS_SIDE;
    info->input_c = 3;
    info->input.dtype = VIGIA_DTYPE_U8;            /* the 8-bit pixels ... */
    info->input.layout = VIGIA_LAYOUT_NHWC;        /* ... interleaved, RGBRGB... */
    info->input.resize = VIGIA_RESIZE_STRETCH;     /* a classifier looks at the whole frame */
    info->classes = 3;
    info->labels = labels;                         /* a names file in the manifest wins over these */
    info->max_batch = m->max_batch;
    info->device = "cpu (classify example)";
    return 0;
}


static int
cls_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    if (!m || !in || !in->input || !out)
        return fail(err, errlen, VIGIA_EINVAL, "missing argument");
    if (in->count < 1 || (int)in->count > m->max_batch)
        return fail(err, errlen, VIGIA_ENOTSUP, "batch %u outside 1..%d", in->count, m->max_batch);
    for (uint32_t b = 0; b < in->count; b++) {
        const unsigned char *px = in->images[b].data;
        vigia_candidates *o = &out[b];
        long hits[3] = { 0, 0, 0 };
        for (int i = 0; i < CLS_SIDE * CLS_SIDE; i++, px += 3)
            for (int c = 0; c < 3; c++)
                hits[c] += px[c] >= px[(c + 1) % 3] + m->margin && px[c] >= px[(c + 2) % 3] + m->margin;
        if (!hits[0] && !hits[1] && !hits[2]) {
            /* this image alone fails; the others of the batch are answered */
            o->status = VIGIA_EINVAL;
            snprintf(o->err, o->errlen, "no colour stands out by %d", m->margin);
            continue;
        }
        for (int c = 0; c < 3; c++)
            o->scores[c] = (float)hits[c] / (CLS_SIDE * CLS_SIDE);
        o->count = 1;
    }
    return 0;
}


static void
cls_close(vigia_model *m)
{
    free(m);
}


/* The keys of [classify]; the host refuses any other there. */
static const char *const cls_keys[] = { "margin", NULL };

static const vigia_backend classify_backend = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = "classify",
    .version = "1.0",
    .open = cls_open,
    .describe = cls_describe,
    .infer = cls_infer,
    .close = cls_close,
    .keys = cls_keys,
};


VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &classify_backend;
}
