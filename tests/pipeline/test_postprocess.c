/*
 * test_postprocess: letterbox correction, per-class NMS (IoU and DIoU), thresholds, class
 * filter and pixel boxes, on candidates built by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "pipeline/postprocess.h"

#define CAP 16
#define NC 3

typedef struct cands {
    float box[4 * CAP], obj[CAP], prob[NC * CAP];
    vigia_candidates c;
} cands;


static void
cands_init(cands *k)
{
    memset(k, 0, sizeof *k);
    k->c.capacity = CAP;
    k->c.box = k->box;
    k->c.objectness = k->obj;
    k->c.prob = k->prob;
}


static void
add(cands *k, float x, float y, float w, float h, int cls, float p)
{
    uint32_t i = k->c.count++;
    k->box[4 * i] = x;
    k->box[4 * i + 1] = y;
    k->box[4 * i + 2] = w;
    k->box[4 * i + 3] = h;
    k->obj[i] = 1;
    k->prob[NC * i + cls] = p;
}


static vg_post_params
params(int net, int iw, int ih, float thr, float nms)
{
    vg_post_params p = { .net_w = net, .net_h = net, .img_w = iw, .img_h = ih, .classes = NC,
                         .threshold = thr, .nms = nms, .class_mask = NULL };
    return p;
}


static void
test_letterbox_size(void **state)
{
    (void)state;
    int w, h;
    vg_post_letterbox_size(768, 576, 320, 320, &w, &h);
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    vg_post_letterbox_size(352, 448, 416, 416, &w, &h);
    assert_int_equal(w, 326);   /* (352 * 416) / 448 = 326.86 -> 326, as darknet */
    assert_int_equal(h, 416);
    vg_post_letterbox_size(500, 500, 320, 256, &w, &h);
    assert_int_equal(w, 256);
    assert_int_equal(h, 256);
    vg_post_letterbox_size(10000, 1, 320, 320, &w, &h);
    assert_int_equal(w, 320);
    assert_int_equal(h, 1);     /* never 0 */
}


static void
test_mapping(void **state)
{
    (void)state;
    cands k;
    cands_init(&k);
    /* 768x576 in 320x320: the picture occupies rows 40..279 of the input.
     * A box centred in the input, half its width and a third of the picture's
     * height, maps to the centre of the image. */
    add(&k, 0.5f, 0.5f, 0.5f, (240.0f / 320) / 3, 0, 0.9f);
    vg_post_params p = params(320, 768, 576, 0.25f, 0.45f);
    vg_detection *d;
    size_t n;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].class_id, 0);
    assert_true(fabsf(d[0].confidence - 0.9f) < 1e-6f);
    assert_int_equal(d[0].x_min, 192);          /* (0.5 - 0.25) * 768 */
    assert_int_equal(d[0].x_max, 576);
    assert_in_range(d[0].y_min, 191, 192);      /* (0.5 - 1/6) * 576, truncated as darknet does */
    assert_in_range(d[0].y_max, 383, 384);
    free(d);

    /* a box in the top padding band maps above the image: clamped to 0 */
    cands_init(&k);
    add(&k, 0.1f, 0.05f, 0.1f, 0.1f, 1, 0.8f);
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].y_min, 0);
    assert_int_equal(d[0].y_max, 0);
    assert_true(d[0].x_min >= 0 && d[0].x_max <= 767);
    free(d);

    /* a box wider than the image: clamped to 0..w-1 */
    cands_init(&k);
    add(&k, 0.5f, 0.5f, 2.0f, 2.0f, 2, 0.7f);
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(d[0].x_min, 0);
    assert_int_equal(d[0].x_max, 767);
    assert_int_equal(d[0].y_min, 0);
    assert_int_equal(d[0].y_max, 575);
    free(d);
}


static void
test_stretch_mapping(void **state)
{
    (void)state;
    cands k;
    cands_init(&k);
    /* a stretched input: fractions of the input are fractions of the image, no padding band */
    add(&k, 0.5f, 0.125f, 0.5f, 0.25f, 0, 0.9f);
    vg_post_params p = params(320, 768, 576, 0.25f, 0.45f);
    p.stretch = 1;
    vg_detection *d;
    size_t n;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].x_min, 192);          /* (0.5 - 0.25) * 768 */
    assert_int_equal(d[0].x_max, 576);
    assert_int_equal(d[0].y_min, 0);            /* (0.125 - 0.125) * 576 */
    assert_int_equal(d[0].y_max, 144);          /* 0.25 * 576 */
    free(d);
}


static void
test_nms(void **state)
{
    (void)state;
    cands k;
    cands_init(&k);
    add(&k, 0.50f, 0.50f, 0.40f, 0.40f, 0, 0.60f);
    add(&k, 0.52f, 0.50f, 0.40f, 0.40f, 0, 0.90f);   /* same class, IoU ~0.9: keeps 0.90 */
    add(&k, 0.51f, 0.50f, 0.40f, 0.40f, 1, 0.50f);   /* other class: NMS is per class */
    add(&k, 0.10f, 0.10f, 0.10f, 0.10f, 0, 0.40f);   /* same class, no overlap */
    vg_post_params p = params(100, 100, 100, 0.25f, 0.45f);
    vg_detection *d;
    size_t n;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 3);
    /* sorted by confidence */
    assert_true(fabsf(d[0].confidence - 0.90f) < 1e-6f && d[0].class_id == 0);
    assert_true(fabsf(d[1].confidence - 0.50f) < 1e-6f && d[1].class_id == 1);
    assert_true(fabsf(d[2].confidence - 0.40f) < 1e-6f && d[2].class_id == 0);
    free(d);

    /* nms = 0 turns it off */
    cands_init(&k);
    add(&k, 0.50f, 0.50f, 0.40f, 0.40f, 0, 0.60f);
    add(&k, 0.52f, 0.50f, 0.40f, 0.40f, 0, 0.90f);
    p.nms = 0;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 2);
    free(d);

    /* an IoU just under the threshold survives, just over does not */
    cands_init(&k);
    add(&k, 0.25f, 0.5f, 0.5f, 1.0f, 0, 0.9f);   /* [0, 0.5] */
    add(&k, 0.45f, 0.5f, 0.5f, 1.0f, 0, 0.8f);   /* [0.2, 0.7]: IoU 0.3/0.7 = 0.43 */
    p.nms = 0.45f;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 2);
    free(d);
    cands_init(&k);
    add(&k, 0.25f, 0.5f, 0.5f, 1.0f, 0, 0.9f);
    add(&k, 0.45f, 0.5f, 0.5f, 1.0f, 0, 0.8f);
    p.nms = 0.42f;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 1);
    free(d);
}


/* Two class-0 boxes: [0, 0.5] and [0.2, 0.7] wide, full height; how many survive NMS. */
static size_t
survivors(float nms, float diou_beta)
{
    cands k;
    cands_init(&k);
    add(&k, 0.25f, 0.5f, 0.5f, 1.0f, 0, 0.9f);
    add(&k, 0.45f, 0.5f, 0.5f, 1.0f, 0, 0.8f);
    vg_post_params p = params(100, 100, 100, 0.25f, nms);
    p.diou_beta = diou_beta;
    vg_detection *d;
    size_t n;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    free(d);
    return n;
}


/*
 * DIoU NMS as AlexeyAB's darknet runs it (src/box.c diounms_sort with
 * box_diou for greedynms, box_diounms for diounms): IoU - (d2/c2)^beta.
 * The pair above, by hand: IoU = 0.3 / 0.7 = 0.4286; the enclosing box is
 * [0, 0.7] x [0, 1], c2 = 0.49 + 1 = 1.49; the centres are 0.2 apart,
 * d2 = 0.04; d2/c2 = 0.026846. DIoU with beta 0.6 (greedynms) = 0.4286 -
 * 0.1141 = 0.3145; beta 1 = 0.4017; beta 0.2 = -0.0565 (never suppresses).
 */
static void
test_diou_nms(void **state)
{
    (void)state;
    /* nms = 0.35: IoU (0.4286) suppresses, DIoU^0.6 (0.3145) keeps */
    assert_int_equal(survivors(0.35f, 0), 1);
    assert_int_equal(survivors(0.35f, 0.6f), 2);
    /* the exponent 0.6 itself: 0.3145 lies between 0.31 and 0.32 */
    assert_int_equal(survivors(0.31f, 0.6f), 1);
    assert_int_equal(survivors(0.32f, 0.6f), 2);
    /* beta 1: 0.4017 between 0.40 and 0.41, where IoU still suppresses */
    assert_int_equal(survivors(0.40f, 1.0f), 1);
    assert_int_equal(survivors(0.41f, 1.0f), 2);
    assert_int_equal(survivors(0.41f, 0), 1);
    /* beta 0.2: DIoU below 0 keeps the pair at any threshold */
    assert_int_equal(survivors(0.01f, 0.2f), 2);
    assert_int_equal(survivors(0.01f, 0), 1);

    /* same centre: d2 = 0, DIoU = IoU = 0.04 / 0.16 = 0.25 for every beta */
    for (int b = 0; b < 3; b++) {
        float beta = b == 0 ? 0 : b == 1 ? 0.6f : 0.2f;
        cands k;
        vg_detection *d;
        size_t n;
        for (int t = 0; t < 2; t++) {
            cands_init(&k);
            add(&k, 0.5f, 0.5f, 0.4f, 0.4f, 0, 0.9f);
            add(&k, 0.5f, 0.5f, 0.2f, 0.2f, 0, 0.8f);
            vg_post_params p = params(100, 100, 100, 0.25f, t ? 0.26f : 0.24f);
            p.diou_beta = beta;
            assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
            assert_int_equal(n, t ? 2 : 1);
            free(d);
        }
    }

    /* an exponent outside (0, VG_POST_MAX_DIOU_BETA] is refused */
    cands k;
    cands_init(&k);
    add(&k, 0.5f, 0.5f, 0.4f, 0.4f, 0, 0.9f);
    vg_post_params p = params(100, 100, 100, 0.25f, 0.45f);
    vg_detection *d;
    size_t n;
    p.diou_beta = -1;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), VG_E_INVAL);
    p.diou_beta = NAN;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), VG_E_INVAL);
    p.diou_beta = VG_POST_MAX_DIOU_BETA + 1;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), VG_E_INVAL);
}


static void
test_threshold_and_filter(void **state)
{
    (void)state;
    cands k;
    cands_init(&k);
    add(&k, 0.2f, 0.2f, 0.1f, 0.1f, 0, 0.25f);   /* equal to the threshold: dropped (strict >) */
    add(&k, 0.5f, 0.5f, 0.1f, 0.1f, 1, 0.26f);
    add(&k, 0.8f, 0.8f, 0.1f, 0.1f, 2, 0.99f);
    k.prob[NC * 2 + 1] = 0.3f;                    /* one box, two classes: two detections */
    vg_post_params p = params(100, 100, 100, 0.25f, 0.45f);
    vg_detection *d;
    size_t n;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(d[0].class_id, 2);
    free(d);
    uint8_t mask[NC] = { 0, 1, 0 };
    p.class_mask = mask;
    cands_init(&k);
    add(&k, 0.2f, 0.2f, 0.1f, 0.1f, 0, 0.9f);
    add(&k, 0.5f, 0.5f, 0.1f, 0.1f, 1, 0.8f);
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].class_id, 1);
    free(d);
}


static void
test_malformed(void **state)
{
    (void)state;
    cands k;
    cands_init(&k);
    add(&k, NAN, 0.5f, 0.1f, 0.1f, 0, 0.9f);
    add(&k, 0.5f, 0.5f, -0.1f, 0.1f, 0, 0.9f);
    add(&k, 0.5f, 0.5f, 0.1f, 0.1f, 1, INFINITY);
    add(&k, 0.5f, 0.5f, 0.1f, 0.1f, 2, 0.7f);
    k.obj[3] = 0;                                   /* objectness 0: darknet skips it */
    add(&k, 0.3f, 0.3f, 0.1f, 0.1f, 2, 1.5f);      /* > 1: clamped */
    vg_post_params p = params(100, 100, 100, 0.25f, 0.45f);
    vg_detection *d;
    size_t n;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 1);
    assert_true(d[0].confidence <= 1.0f);
    free(d);
    k.c.count = CAP + 1;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), VG_E_INVAL);
    k.c.count = 0;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), 0);
    assert_int_equal(n, 0);
    assert_null(d);
    p.classes = 0;
    assert_int_equal(vg_post_run(&k.c, &p, &d, &n), VG_E_INVAL);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_letterbox_size),
        cmocka_unit_test(test_stretch_mapping),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_nms),
        cmocka_unit_test(test_diou_nms),
        cmocka_unit_test(test_threshold_and_filter),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
