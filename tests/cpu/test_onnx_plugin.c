/*
 * tests/cpu/test_onnx_plugin.c: an ONNX model behind the cpu plugin, through
 * vg_detector (the whole detection path: decode, resize, infer, postprocess).
 *
 * The model directory names tests/cpu/onnx/yolov5_head.onnx (a YOLOv5-style
 * head, [1, 960, 7]) as its weights, with no cfg. The detector's answer for
 * a generated image must be what the graph's own output gives when decoded
 * here by the ABI's rules: one detection per row and class whose
 * objectness x class score passes the threshold, its box the row's centre
 * and size scaled from the 32x32 input to the image (stretch), NMS off.
 * Also: a graph whose output is no detection head is refused, naming it.
 */
#include "vg_build.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "onnx_exec.h"
#include "onnx_read.h"
#include "pipeline/detector.h"
#include "pipeline/model.h"
#include "pt.h"

#define IMG_W 64
#define IMG_H 48
#define THRESH 0.6f

static char err[512];

static const char *path_in(const char *env, const char *def, const char *rel)
{
    static char p[4][PATH_MAX];
    static int slot;
    char *o = p[slot++ % 4];
    const char *b = getenv(env);

    snprintf(o, PATH_MAX, "%s/%s", b && *b ? b : def, rel);
    return o;
}


/* A model directory holding `graph` as its weights; returns the loaded model. */
static vg_model *make_model(char *dir, const char *graph)
{
    char conf[2 * PATH_MAX], mdir[PATH_MAX + 64], dst[PATH_MAX + 96];
    size_t n = 0;
    uint8_t *bytes = pt_read(path_in("VIGIA_SRCDIR", VIGIA_SRCDIR, graph), &n);
    vg_model *m = NULL;

    assert_non_null(bytes);
    snprintf(conf, sizeof conf, "backend = %s\nweights = graph.onnx\nresize = stretch\n",
             path_in("VIGIA_BUILDDIR", VIGIA_BUILDDIR, "backends/cpu/vigia-backend-cpu.so"));
    assert_int_equal(pt_make_model(dir, "v5", "first\nsecond\n", conf), 0);
    snprintf(mdir, sizeof mdir, "%s/v5", dir);
    snprintf(dst, sizeof dst, "%s/graph.onnx", mdir);
    assert_int_equal(pt_write(dst, bytes, n), 0);
    free(bytes);
    if (vg_model_load(mdir, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    return m;
}


/* The detections the graph's own output implies for the prepared tensor. */
static size_t expected(const float *tensor, vg_detection *want, size_t cap)
{
    vgc_onnx_options opt = { 0 };
    vgc_onnx_graph *g = NULL;
    vgc_onnx_exec *ex = NULL;
    const float *rows;
    size_t n = 0;

    assert_int_equal(vgc_onnx_load(&g, path_in("VIGIA_SRCDIR", VIGIA_SRCDIR, "tests/cpu/onnx/yolov5_head.onnx"),
                                   &opt, err, sizeof err), 0);
    assert_int_equal(vgc_onnx_exec_create(&ex, g, err, sizeof err), 0);
    assert_int_equal(vgc_onnx_exec_run(ex, &tensor, err, sizeof err), 0);
    rows = vgc_onnx_exec_output(ex, 0);
    for (int i = 0; i < 960; i++) {
        const float *r = rows + (size_t)i * 7;
        for (int c = 0; c < 2; c++) {
            float p = r[4] * r[5 + c];
            if (!(r[4] > THRESH) || !(p > THRESH))
                continue;
            assert_true(n < cap);
            want[n].class_id = c;
            want[n].confidence = p;
            want[n].x_min = (int)fmax(0, (r[0] / 32 - r[2] / 32 / 2.) * IMG_W);
            want[n].x_max = (int)fmin(IMG_W - 1, (r[0] / 32 + r[2] / 32 / 2.) * IMG_W);
            want[n].y_min = (int)fmax(0, (r[1] / 32 - r[3] / 32 / 2.) * IMG_H);
            want[n].y_max = (int)fmin(IMG_H - 1, (r[1] / 32 + r[3] / 32 / 2.) * IMG_H);
            n++;
        }
    }
    vgc_onnx_exec_destroy(ex);
    vgc_onnx_destroy(g);
    return n;
}


static void test_detector(void **state)
{
    char *dir = pt_tmpdir("onnx");
    vg_model *m = make_model(dir, "tests/cpu/onnx/yolov5_head.onnx");
    vg_detector *d = NULL;
    uint8_t rgb[IMG_W * IMG_H * 3];
    uint32_t seed = 21;
    size_t len = 0, nwant;
    vg_detection want[2 * 960];
    vg_detect_result res;
    vigia_image view;
    float *tensor;
    uint8_t *png;

    (void)state;
    if (vg_detector_open(m, NULL, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(vg_detector_backend(d), "cpu");
    assert_int_equal(vg_detector_info(d)->classes, 2);
    assert_int_equal(vg_detector_info(d)->input_w, 32);
    assert_int_equal(vg_detector_info(d)->input_h, 32);
    for (size_t i = 0; i < sizeof rgb; i++) {
        seed = seed * 1664525u + 1013904223u;
        rgb[i] = (uint8_t)(seed >> 24);
    }
    png = pt_png(IMG_W, IMG_H, rgb, 0, 0, 0, 0, 0, &len);
    assert_non_null(png);
    tensor = malloc(vg_detector_input_bytes(d));
    assert_non_null(tensor);
    assert_int_equal(vg_detector_prepare(d, png, len, tensor, &view, err, sizeof err), 0);
    nwant = expected(tensor, want, sizeof want / sizeof want[0]);
    {
        vg_detect_input in = { .image = png, .len = len, .threshold = THRESH, .nms = 0.0f };
        assert_int_equal(vg_detector_run(d, 1, &in, &res), 0);
    }
    assert_int_equal(res.status, 0);
    print_message("# %zu detections, %zu expected\n", res.n, nwant);
    assert_true(nwant > 0);
    assert_int_equal(res.n, nwant);
    for (size_t k = 0; k < nwant; k++) {
        size_t j = 0;
        while (j < res.n && !(res.dets[j].class_id == want[k].class_id &&
                              fabsf(res.dets[j].confidence - want[k].confidence) < 1e-5f &&
                              res.dets[j].x_min == want[k].x_min && res.dets[j].x_max == want[k].x_max &&
                              res.dets[j].y_min == want[k].y_min && res.dets[j].y_max == want[k].y_max))
            j++;
        if (j == res.n)
            fail_msg("expected detection %zu (class %d, %.4f, %d,%d-%d,%d) not found", k, want[k].class_id,
                     (double)want[k].confidence, want[k].x_min, want[k].y_min, want[k].x_max, want[k].y_max);
    }
    vg_detect_result_release(&res);
    free(tensor);
    free(png);
    vg_detector_close(d);
    vg_model_destroy(m);
    pt_rmtree(dir);
}


static void test_not_a_head(void **state)
{
    char *dir = pt_tmpdir("onnx");
    vg_model *m = make_model(dir, "tests/cpu/onnx/ops_conv.onnx");
    vg_detector *d = NULL;

    (void)state;
    assert_true(vg_detector_open(m, NULL, &d, err, sizeof err) != 0);
    assert_null(d);
    assert_non_null(strstr(err, "is not a detection head"));
    vg_model_destroy(m);
    pt_rmtree(dir);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector),
        cmocka_unit_test(test_not_a_head),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
