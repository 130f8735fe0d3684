/*
 * libFuzzer harness for image decoding in a worker (core/pipeline/image.c with
 * libvips, core/pipeline/rawimg.c for decoded tensors), under the limits workers
 * run with. libvips is started once in this process, which never forks.
 *
 * The input is the encoded image (or a rawimg header and pixels).
 * Invariants:
 *  - the answer is 0, VG_E_NOTIMAGE, VG_E_TOOBIG, VG_E_DECODE or
 *    -ENOMEM, with a message on error;
 *  - nothing but JPEG, PNG, WebP (by signature) and rawimg decodes;
 *  - a decoded image respects the limits (side, pixels) and owns exactly
 *    w * h * 3 bytes (all read here, under ASan);
 *  - decoded for a 16x12 input (vg_image_decode_at), it is no larger than the
 *    full decode, no smaller than 16x12 where that is, and reports the full size;
 *  - the letterbox of a decoded image into 64x48 holds values in [0, 1];
 *  - annotating it with boxes that fit gives a JPEG that decodes back to
 *    the same size.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "pipeline/image.h"
#include "base/log.h"
#include "pipeline/rawimg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__lsan_default_suppressions(void);

static const vg_image_limits limits = { .max_bytes = 1 << 20, .max_pixels = 1 << 20, .max_side = 4096 };


/* fontconfig keeps what it loads for the label text until exit (as tests/lsan.supp says) */
const char *
__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libpangoft2\nleak:libpango-1.0.so\n";
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    vg_log_set_level(VG_LOG_OFF);
    if (vg_image_init(err, sizeof err) != 0)
        abort();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    vg_image im;
    int rc = vg_image_decode(data, size, &limits, &im, err, sizeof err);
    if (rc != 0) {
        if ((rc != VG_E_NOTIMAGE && rc != VG_E_TOOBIG && rc != VG_E_DECODE && rc != -ENOMEM) || !err[0] ||
            im.rgb)
            abort();
        return 0;
    }
    if (!vg_image_sniff(data, size) && !vg_rawimg_is(data, size))
        abort();   /* decoded something that is not one of ours */
    if (im.w < 1 || im.h < 1 || (uint32_t)im.w > limits.max_side || (uint32_t)im.h > limits.max_side ||
        (uint64_t)im.w * (uint64_t)im.h > limits.max_pixels || !im.rgb)
        abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)im.w * im.h * 3; i++)
        sum += im.rgb[i];
    (void)sum;

    if (im.full_w != im.w || im.full_h != im.h)
        abort();   /* a full decode is never reduced */

    /* the same bytes decoded for a 16x12 input: reduced (JPEG, WebP) but never below it */
    vg_image red;
    if (vg_image_decode_at(data, size, &limits, 16, 12, &red, err, sizeof err) == 0) {
        if (red.full_w != im.w || red.full_h != im.h || red.w > im.w || red.h > im.h || !red.rgb ||
            red.w < (im.w < 16 ? im.w : 16) || red.h < (im.h < 12 ? im.h : 12))
            abort();
        sum = 0;
        for (size_t i = 0; i < (size_t)red.w * red.h * 3; i++)
            sum += red.rgb[i];
        vg_image_release(&red);
    } else if (red.rgb) {
        abort();
    }

    float *chw = malloc(3 * 64 * 48 * sizeof *chw);
    if (vg_image_letterbox(&im, 64, 48, chw) != 0)
        abort();
    for (int i = 0; i < 3 * 64 * 48; i++)
        if (!(chw[i] >= 0 && chw[i] <= 1))
            abort();
    free(chw);

    if ((uint64_t)im.w * im.h <= 256 * 256) {
        vg_detection d[2] = {
            { .class_id = 0, .label = "person", .confidence = 0.9f, .x_min = 0, .y_min = 0,
              .x_max = im.w - 1, .y_max = im.h - 1 },
            { .class_id = 79, .label = NULL, .confidence = 0.1f, .x_min = im.w / 2, .y_min = im.h / 2,
              .x_max = im.w / 2, .y_max = im.h / 2 },
        };
        uint8_t *jpeg = NULL;
        size_t jlen = 0;
        if (vg_image_annotate(&im, d, 2, 75, &jpeg, &jlen, err, sizeof err) != 0)
            abort();
        vg_image back;
        if (vg_image_decode(jpeg, jlen, &limits, &back, err, sizeof err) != 0 || back.w != im.w || back.h != im.h)
            abort();
        vg_image_release(&back);
        free(jpeg);
    }
    vg_image_release(&im);
    return 0;
}
