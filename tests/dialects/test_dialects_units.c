/*
 * Unit tests of issue 8's pure pieces: the rawimg container (header round
 * trip, every refusal, conversions of uint8/float32, HWC/CHW, RGB/BGR,
 * limits) and the comparison's IoU matching; and of what the dialects
 * share: the detection renderer (text and jansson, each dialect's flags)
 * and base64 images as clients send them (data URLs, line breaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/compare_api.h"
#include "api/detect_opts.h"
#include "api/render.h"
#include "base/base64.h"
#include "base/error.h"
#include "base/jsonw.h"
#include "pool/pool.h"
#include "pipeline/postprocess.h"
#include "pipeline/rawimg.h"

/* A header + data buffer for d, data filled by the caller. */
static uint8_t *
make(const vg_rawimg_desc *d, size_t *len)
{
    size_t n = vg_rawimg_data_size(d);
    assert_true(n > 0);
    uint8_t *b = calloc(1, VG_RAWIMG_HEADER + n);
    vg_rawimg_header(d, b);
    *len = VG_RAWIMG_HEADER + n;
    return b;
}


static void
header_round_trip(void **state)
{
    (void)state;
    vg_rawimg_desc d = { VG_RAWIMG_F32, VG_RAWIMG_CHW, 7, 5, 255.0f, VG_RAWIMG_BGR }, back;
    size_t len;
    uint8_t *b = make(&d, &len);
    char err[128];
    assert_true(vg_rawimg_is(b, len));
    assert_int_equal(vg_rawimg_parse(b, len, &back, err, sizeof err), 0);
    assert_int_equal(back.dtype, VG_RAWIMG_F32);
    assert_int_equal(back.layout, VG_RAWIMG_CHW);
    assert_int_equal(back.w, 7);
    assert_int_equal(back.h, 5);
    assert_true(back.scale == 255.0f);
    assert_int_equal(back.flags, VG_RAWIMG_BGR);
    assert_int_equal(vg_rawimg_data_size(&back), 7 * 5 * 3 * 4);
    free(b);
}


static void
header_refusals(void **state)
{
    (void)state;
    vg_rawimg_desc d = { VG_RAWIMG_U8, VG_RAWIMG_HWC, 4, 4, 1, 0 }, back;
    size_t len;
    uint8_t *b = make(&d, &len);
    char err[128];
    /* not ours, truncated, every header field out of range, sizes that disagree */
    assert_false(vg_rawimg_is("\xff\xd8\xff", 3));
    assert_int_equal(vg_rawimg_parse(b, 20, &back, err, sizeof err), -1);
    uint8_t *c = malloc(len);
    struct { size_t at; uint8_t v; } bad[] = {
        { 8, 2 }, { 9, 0 }, { 9, 3 }, { 10, 0 }, { 10, 9 }, { 11, 1 }, { 24, 2 }, { 30, 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(c, b, len);
        c[bad[i].at] = bad[i].v;
        assert_int_equal(vg_rawimg_parse(c, len, &back, err, sizeof err), -1);
    }
    memcpy(c, b, len);
    memset(c + 12, 0, 4);   /* width 0 */
    assert_int_equal(vg_rawimg_parse(c, len, &back, err, sizeof err), -1);
    memcpy(c, b, len);
    memset(c + 12, 0xff, 8);   /* 2^32-1 squared: the size would overflow */
    assert_int_equal(vg_rawimg_parse(c, len, &back, err, sizeof err), -1);
    memcpy(c, b, len);
    float nan = NAN;
    memcpy(c + 20, &nan, 4);
    assert_int_equal(vg_rawimg_parse(c, len, &back, err, sizeof err), -1);
    assert_int_equal(vg_rawimg_parse(b, len - 1, &back, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs"));
    vg_image im;
    assert_int_equal(vg_rawimg_decode(b, len - 1, NULL, &im, err, sizeof err), VG_E_DECODE);
    assert_null(im.rgb);
    free(c);
    free(b);
}


static void
decode_u8(void **state)
{
    (void)state;
    char err[128];
    vg_image im;
    size_t len;
    /* 2x1: HWC RGB, CHW RGB and HWC BGR all give the same pixels */
    const uint8_t hwc[6] = { 1, 2, 3, 4, 5, 6 }, chw[6] = { 1, 4, 2, 5, 3, 6 }, bgr[6] = { 3, 2, 1, 6, 5, 4 };
    struct { int layout; unsigned flags; const uint8_t *px; } cases[] = {
        { VG_RAWIMG_HWC, 0, hwc }, { VG_RAWIMG_CHW, 0, chw }, { VG_RAWIMG_HWC, VG_RAWIMG_BGR, bgr },
    };
    for (size_t i = 0; i < 3; i++) {
        vg_rawimg_desc d = { VG_RAWIMG_U8, cases[i].layout, 2, 1, 1, cases[i].flags };
        uint8_t *b = make(&d, &len);
        memcpy(b + VG_RAWIMG_HEADER, cases[i].px, 6);
        assert_int_equal(vg_rawimg_decode(b, len, NULL, &im, err, sizeof err), 0);
        assert_int_equal(im.w, 2);
        assert_int_equal(im.h, 1);
        assert_memory_equal(im.rgb, hwc, 6);
        vg_image_release(&im);
        free(b);
    }
}


static void
decode_f32(void **state)
{
    (void)state;
    char err[128];
    vg_image im;
    size_t len;
    /* 0..1 data with scale 255, the same guessed, 0..255 data guessed, clamping and rounding */
    float unit[6] = { 0, 1.0f / 255, 0.5f, 1, -3, 2 / 255.0f + 0.0019f };
    float full[6] = { 0, 1, 127.5f, 255, 300, 2.4f };
    const uint8_t want[6] = { 0, 1, 128, 255, 0, 2 }, want_full[6] = { 0, 1, 128, 255, 255, 2 };
    float scales[2] = { 255, 0 };
    for (int i = 0; i < 2; i++) {
        vg_rawimg_desc d = { VG_RAWIMG_F32, VG_RAWIMG_HWC, 2, 1, scales[i], 0 };
        uint8_t *b = make(&d, &len);
        memcpy(b + VG_RAWIMG_HEADER, unit, sizeof unit);
        assert_int_equal(vg_rawimg_decode(b, len, NULL, &im, err, sizeof err), 0);
        assert_memory_equal(im.rgb, want, 6);
        vg_image_release(&im);
        free(b);
    }
    vg_rawimg_desc d = { VG_RAWIMG_F32, VG_RAWIMG_HWC, 2, 1, 0, 0 };
    uint8_t *b = make(&d, &len);
    memcpy(b + VG_RAWIMG_HEADER, full, sizeof full);
    assert_int_equal(vg_rawimg_decode(b, len, NULL, &im, err, sizeof err), 0);
    assert_memory_equal(im.rgb, want_full, 6);
    vg_image_release(&im);
    /* a NaN or an infinity is refused */
    float inf = INFINITY;
    memcpy(b + VG_RAWIMG_HEADER + 8, &inf, 4);
    assert_int_equal(vg_rawimg_decode(b, len, NULL, &im, err, sizeof err), VG_E_DECODE);
    assert_non_null(strstr(err, "finite"));
    free(b);
}


static void
decode_limits(void **state)
{
    (void)state;
    char err[128];
    vg_image im;
    size_t len;
    vg_rawimg_desc d = { VG_RAWIMG_U8, VG_RAWIMG_HWC, 40, 30, 1, 0 };
    uint8_t *b = make(&d, &len);
    vg_image_limits side = { 0, 0, 39 }, pixels = { 0, 1199, 0 }, ok = { 0, 1200, 40 };
    assert_int_equal(vg_rawimg_decode(b, len, &side, &im, err, sizeof err), VG_E_TOOBIG);
    assert_int_equal(vg_rawimg_decode(b, len, &pixels, &im, err, sizeof err), VG_E_TOOBIG);
    assert_int_equal(vg_rawimg_decode(b, len, &ok, &im, err, sizeof err), 0);
    vg_image_release(&im);
    free(b);
}


static vg_detection
det(const char *label, float conf, int x0, int y0, int x1, int y1)
{
    vg_detection d = { .class_id = 0, .label = label, .confidence = conf,
                       .x_min = x0, .y_min = y0, .x_max = x1, .y_max = y1 };
    return d;
}


static void
iou_and_matching(void **state)
{
    (void)state;
    vg_detection a = det("dog", 0.9f, 0, 0, 9, 9), b = det("dog", 0.8f, 5, 0, 14, 9);
    assert_true(fabs(vg_compare_iou(&a, &a) - 1.0) < 1e-9);
    assert_true(fabs(vg_compare_iou(&a, &b) - 50.0 / 150.0) < 1e-9);
    vg_detection far = det("dog", 0.5f, 100, 100, 110, 110);
    assert_true(vg_compare_iou(&a, &far) == 0);

    /* same label needed; each detection is used once; most confident first */
    vg_detection x[] = { det("dog", 0.9f, 0, 0, 9, 9), det("dog", 0.8f, 1, 0, 10, 9), det("cat", 0.7f, 50, 50, 60, 60) };
    vg_detection y[] = { det("dog", 0.95f, 0, 0, 9, 9), det("cat", 0.6f, 0, 0, 9, 9), det("cat", 0.5f, 50, 50, 60, 60) };
    double sum = 0;
    assert_int_equal(vg_compare_match(x, 3, y, 3, 0.5, &sum), 2);   /* dog-dog, cat-cat; the second dog is left */
    assert_true(fabs(sum - 2.0) < 1e-9);
    assert_int_equal(vg_compare_match(x, 3, y, 3, 1.0, NULL), 2);
    assert_int_equal(vg_compare_match(x, 3, NULL, 0, 0.5, NULL), 0);
    assert_int_equal(vg_compare_match(&a, 1, &b, 1, 0.34, NULL), 0);
    assert_int_equal(vg_compare_match(&a, 1, &b, 1, 0.33, NULL), 1);
}


/* A result of two detections, the second one's label not UTF-8. */
static void
sample(vg_pool_result *res, vg_detection d[2])
{
    memset(res, 0, sizeof *res);
    d[0] = (vg_detection){ .class_id = 16, .label = "dog", .confidence = 0.93554f,
                           .x_min = 112, .y_min = 162, .x_max = 417, .y_max = 540 };
    d[1] = (vg_detection){ .class_id = 2, .label = "c\xffr", .confidence = 0.05432f,
                           .x_min = 1, .y_min = 2, .x_max = 3, .y_max = 4 };
    res->model = "m";
    res->backend = "cpu";
    res->width = 768;
    res->height = 576;
    res->count = 2;
    res->detections = d;
    res->queue_us = 4;
    res->decode_us = 24244;
    res->total_us = 70900;
}


static void
render_text(void **state)
{
    (void)state;
    vg_pool_result res;
    vg_detection d[2];
    sample(&res, d);
    vg_buf b;
    vg_buf_init(&b);
    vg_jsonw w;
    vg_jsonw_init(&w, &b);
    vg_render o;
    vg_render_text(&o, &w);
    vg_jsonw_obj(&w);
    vg_render_result(&o, &res, VG_DETJ_CLASS_ID | VG_DETJ_BOX);
    vg_render_jpeg(&o, "annotated_jpeg", "hi", 2);
    vg_jsonw_obj_end(&w);
    assert_string_equal(vg_buf_cstr(&b),
        "{\"model\":\"m\",\"backend\":\"cpu\",\"image\":{\"width\":768,\"height\":576},\"count\":2,"
        "\"detections\":[{\"label\":\"dog\",\"class_id\":16,\"confidence\":0.9355,"
        "\"box\":{\"x_min\":112,\"y_min\":162,\"x_max\":417,\"y_max\":540}},"
        "{\"label\":\"c\\ufffdr\",\"class_id\":2,\"confidence\":0.05432,"
        "\"box\":{\"x_min\":1,\"y_min\":2,\"x_max\":3,\"y_max\":4}}],"
        "\"timings_ms\":{\"queue\":0.004,\"decode\":24.24,\"infer\":0,\"post\":0,\"annotate\":0,\"total\":70.9},"
        "\"annotated_jpeg\":\"aGk=\"}");
    /* DeepStack's flat detections, without class ids */
    b.len = 0;
    vg_jsonw_init(&w, &b);
    vg_detection_json(&w, &d[0], 0);
    assert_string_equal(vg_buf_cstr(&b),
        "{\"label\":\"dog\",\"confidence\":0.9355,\"x_min\":112,\"y_min\":162,\"x_max\":417,\"y_max\":540}");
    vg_buf_release(&b);
}


static void
render_tree(void **state)
{
    (void)state;
    vg_pool_result res;
    vg_detection d[2];
    sample(&res, d);
    json_t *m = json_object();
    vg_render o;
    vg_render_tree(&o, m);
    vg_render_result(&o, &res, VG_DETJ_CLASS_ID | VG_DETJ_BOX | VG_DETJ_FLAT_SIZE);
    char *text = json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(7));
    /* flat size, confidences rounded to 4 decimals, milliseconds as they are; the label that is
       not UTF-8 leaves its detection out (the count stays the result's) */
    assert_string_equal(text,
        "{\"model\":\"m\",\"backend\":\"cpu\",\"width\":768,\"height\":576,\"count\":2,"
        "\"detections\":[{\"label\":\"dog\",\"class_id\":16,\"confidence\":0.9355,"
        "\"box\":{\"x_min\":112,\"y_min\":162,\"x_max\":417,\"y_max\":540}}],"
        "\"timings_ms\":{\"queue\":0.004,\"decode\":24.244,\"infer\":0.0,\"post\":0.0,\"annotate\":0.0,"
        "\"total\":70.9}}");
    free(text);
    json_decref(m);
}


/* A result's members as /v1/detect writes them, through w. */
static void
text_result(vg_jsonw *w, const vg_pool_result *res)
{
    vg_render o;
    vg_render_text(&o, w);
    vg_render_result(&o, res, VG_DETJ_CLASS_ID | VG_DETJ_BOX);
}


/* A classifier's result: "task" and "classifications" without boxes; k and its cut; DeepStack's scene. */
static void
render_classification(void **state)
{
    (void)state;
    vg_pool_result res;
    vg_detection d[2];
    sample(&res, d);
    d[1].label = "cat";
    res.task = VG_POOL_TASK_CLASSIFY;
    vg_buf b;
    vg_buf_init(&b);
    vg_jsonw w;
    vg_jsonw_init(&w, &b);
    vg_jsonw_obj(&w);
    text_result(&w, &res);
    vg_jsonw_obj_end(&w);
    assert_string_equal(vg_buf_cstr(&b),
        "{\"model\":\"m\",\"backend\":\"cpu\",\"image\":{\"width\":768,\"height\":576},\"count\":2,"
        "\"task\":\"classify\",\"classifications\":[{\"label\":\"dog\",\"class_id\":16,\"confidence\":0.9355},"
        "{\"label\":\"cat\",\"class_id\":2,\"confidence\":0.05432}],"
        "\"timings_ms\":{\"queue\":0.004,\"decode\":24.24,\"infer\":0,\"post\":0,\"annotate\":0,\"total\":70.9}}");
    b.len = 0;
    vg_jsonw_init(&w, &b);
    vg_render_scene(&w, &res, 1);
    assert_string_equal(vg_buf_cstr(&b),
                        "{\"success\":true,\"label\":\"dog\",\"confidence\":0.9355,\"duration\":70,\"stored\":false}");

    /* k: 1 .. VG_POST_MAX_CLASSES; the cut keeps a classification's k best, never a detection's */
    vg_detect_opts opt;
    char err[128];
    vg_detect_opts_init(&opt);
    assert_int_equal(vg_detect_opts_set(&opt, "k", "1", err, sizeof err), 0);
    assert_int_equal(opt.top_k, 1);
    assert_int_equal(vg_detect_opts_set(&opt, "k", "0", err, sizeof err), -1);
    assert_int_equal(vg_detect_opts_set(&opt, "k", "11", err, sizeof err), -1);
    assert_int_equal(vg_detect_opts_set(&opt, "k", "2x", err, sizeof err), -1);
    assert_non_null(strstr(err, "k must be an integer in [1, 10]"));
    assert_int_equal(opt.top_k, 1);
    vg_detect_opts_cut(&opt, &res);
    assert_int_equal(res.count, 1);
    res.count = 2;
    res.task = VG_POOL_TASK_DETECT;
    vg_detect_opts_cut(&opt, &res);
    assert_int_equal(res.count, 2);
    vg_buf_release(&b);
}


static void
base64_images(void **state)
{
    (void)state;
    uint8_t out[16];
    const char *s = "data:image/jpeg;base64,aGk=";
    size_t n = strlen(s);
    assert_int_equal(vg_base64_strip_data_url(&s, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(vg_base64_decode(s, n, out, sizeof out, VG_BASE64_STD), 2);
    assert_memory_equal(out, "hi", 2);
    s = "data:image/jpeg;base64";
    n = strlen(s);
    assert_int_equal(vg_base64_strip_data_url(&s, &n), -1);
    s = "aGk=";
    n = 4;
    assert_int_equal(vg_base64_strip_data_url(&s, &n), 0);   /* not a data URL: as it was */
    assert_int_equal(n, 4);
    /* line breaks as encoders write them; spaces only before a break or at the end */
    assert_int_equal(vg_base64_decode("aGVs\r\nbG8= \n", 12, out, sizeof out, VG_BASE64_STD), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(vg_base64_decode("aGVs bG8=", 9, out, sizeof out, VG_BASE64_STD), -1);
    assert_int_equal(vg_base64_decode("aGk=aGk=", 8, out, sizeof out, VG_BASE64_STD), -1);
    assert_int_equal(vg_base64_decode("aGk-", 4, out, sizeof out, VG_BASE64_STD), -1);
    assert_int_equal(vg_base64_decode("aGk", 3, out, sizeof out, VG_BASE64_URL), 2);
    vg_buf b;
    vg_buf_init(&b);
    vg_base64_encode(&b, "\xfb\xff", 2, VG_BASE64_STD);
    vg_base64_encode(&b, "\xfb\xff", 2, VG_BASE64_URL);
    assert_string_equal(vg_buf_cstr(&b), "+/8=-_8");
    vg_buf_release(&b);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_round_trip),
        cmocka_unit_test(header_refusals),
        cmocka_unit_test(decode_u8),
        cmocka_unit_test(decode_f32),
        cmocka_unit_test(decode_limits),
        cmocka_unit_test(iou_and_matching),
        cmocka_unit_test(render_text),
        cmocka_unit_test(render_tree),
        cmocka_unit_test(render_classification),
        cmocka_unit_test(base64_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
