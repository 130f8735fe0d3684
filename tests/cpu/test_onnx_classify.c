/*
 * tests/cpu/test_onnx_classify.c: ONNX image classifiers in the cpu engine
 * (backends/cpu/onnx_classify.h) and behind the cpu plugin, through
 * vg_detector (decode, resize, the manifest's preprocessing, infer, top-k).
 *
 * The graphs are tests/cpu/make_classifiers.py's (tests/cpu/classify/):
 * - reference: torchvision's resnet18 and mobilenet_v2 architectures (random
 *   weights) and the trained shapes classifier give PyTorch's outputs on its
 *   two fixed inputs within 1e-4 relative (to the output's largest
 *   magnitude), and the same top-1.
 * - scores: resnet18 ends in logits, so the scores are their softmax; shapes
 *   ends in its own Softmax, taken as it is; either way they match the
 *   reference's softmax and sum to 1.
 * - refusal: a detection head is no classifier (not_classifier set).
 * - plugin: the shapes classifier, trained on 32x32 images, names the shape
 *   of every image drawn here (64x48 PNGs: another size, other colours), as
 *   task classify, one answer per class, best first.
 * - preprocessing: mean, std and [cpu] channels reach the tensor as the ABI
 *   says (BGR order, (pixel / 255 - mean) / std).
 */
#include "vg_build.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "onnx_classify.h"
#include "onnx_exec.h"
#include "onnx_read.h"
#include "onnx_rewrite.h"
#include "pipeline/detector.h"
#include "pipeline/model.h"
#include "pt.h"

static char err[512];

static const char *graph_path(const char *name, const char *ext)
{
    char rel[256];

    snprintf(rel, sizeof rel, "tests/cpu/classify/%s.%s", name, ext);
    return pt_tree_file(0, rel);
}


static int argmax(const float *v, int n)
{
    int b = 0;

    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}


static const struct { const char *name; int side, classes, softmax; } nets[] = {
    { "resnet18", 96, 10, 0 }, { "mobilenet_v2", 96, 10, 0 }, { "shapes", 32, 3, 1 },
};


/* Each graph, run by the executor (one thread, then two) and by the classifier, against PyTorch's outputs. */
static void test_reference(void **state)
{
    (void)state;
    for (size_t t = 0; t < 2 * sizeof nets / sizeof nets[0]; t++) {
        const size_t k = t % (sizeof nets / sizeof nets[0]);
        const int threads = 1 + (int)(t / (sizeof nets / sizeof nets[0]));
        const size_t in = (size_t)3 * nets[k].side * nets[k].side, out = (size_t)nets[k].classes;
        size_t len = 0;
        float *ref = (float *)(void *)pt_read(graph_path(nets[k].name, "ref"), &len);
        vgc_onnx_options opt = { 0 };
        vgc_onnx_graph *g = NULL;
        vgc_onnx_exec *ex = NULL;
        vgc_onnx_classify *c = NULL;
        float scores[16];
        int other = -1;

        assert_non_null(ref);
        assert_int_equal(len, 2 * (in + out) * sizeof(float));
        if (vgc_onnx_load(&g, graph_path(nets[k].name, "onnx"), &opt, err, sizeof err) ||
            vgc_onnx_rewrite(g, err, sizeof err) || vgc_onnx_exec_create_threads(&ex, g, threads, err, sizeof err))
            fail_msg("%s: %s", nets[k].name, err);
        if (vgc_onnx_classify_open(&c, graph_path(nets[k].name, "onnx"), 0, 0, &other, err, sizeof err))
            fail_msg("%s: %s", nets[k].name, err);
        assert_int_equal(other, 0);
        assert_int_equal(vgc_onnx_classify_classes(c), nets[k].classes);
        assert_int_equal(vgc_onnx_classify_softmax(c), nets[k].softmax);
        for (int i = 0; i < 2; i++) {
            const float *x = ref + i * (in + out), *want = x + in, *y;
            double big = 0, worst = 0, sum = 0, mx = -INFINITY, z = 0;

            assert_int_equal(vgc_onnx_exec_run(ex, &x, err, sizeof err), 0);
            y = vgc_onnx_exec_output(ex, 0);
            for (size_t j = 0; j < out; j++)
                big = fmax(big, fabs(want[j]));
            for (size_t j = 0; j < out; j++)
                worst = fmax(worst, fabs(y[j] - want[j]) / big);
            print_message("# %s input %d, %d thread%s: max relative error %.2e, top-1 %d\n", nets[k].name, i, threads,
                          threads > 1 ? "s" : "", worst, argmax(want, (int)out));
            assert_true(worst <= 1e-4);
            assert_int_equal(argmax(y, (int)out), argmax(want, (int)out));

            /* the classifier's scores: the reference's softmax (or the reference itself) */
            assert_int_equal(vgc_onnx_classify_run(c, x, scores, err, sizeof err), 0);
            for (size_t j = 0; j < out; j++)
                mx = fmax(mx, want[j]);
            for (size_t j = 0; j < out; j++)
                z += exp(want[j] - mx);
            for (size_t j = 0; j < out; j++) {
                double p = nets[k].softmax ? want[j] : exp(want[j] - mx) / z;
                assert_true(fabs(scores[j] - p) <= 1e-4);
                sum += scores[j];
            }
            assert_true(fabs(sum - 1) < 1e-5);
            /* the reference's best class scores the best (mobilenet_v2's untrained logits differ by less
               than a float's precision once they are probabilities: a tie, not another class) */
            assert_true(scores[argmax(want, (int)out)] >= scores[argmax(scores, (int)out)] - 1e-7f);
        }
        vgc_onnx_classify_destroy(c);
        vgc_onnx_exec_destroy(ex);
        vgc_onnx_destroy(g);
        free(ref);
    }
}


static void test_refusal(void **state)
{
    vgc_onnx_classify *c = NULL;
    int other = 0;

    (void)state;
    assert_int_equal(vgc_onnx_classify_open(&c, pt_tree_file(0, "tests/cpu/onnx/yolov5_head.onnx"),
                                            0, 0, &other, err, sizeof err), VIGIA_ENOTSUP);
    assert_null(c);
    assert_int_equal(other, 1);
    assert_non_null(strstr(err, "one score per class"));
    /* a file that does not read is a plain failure, not "try a detector" */
    assert_true(vgc_onnx_classify_open(&c, pt_tree_file(0, "tests/cpu/onnx/bad_op.onnx"),
                                       0, 0, &other, err, sizeof err) < 0);
    assert_int_equal(other, 0);
}


/* A model directory `name` on the cpu plugin whose weights are a copy of graph `name`, with `extra` manifest lines. */
static vg_model *make_model(char *dir, const char *name, const char *labels, const char *extra)
{
    char conf[2 * PATH_MAX], path[PATH_MAX + 96];
    size_t n = 0;
    uint8_t *bytes = pt_read(graph_path(name, "onnx"), &n);
    vg_model *m = NULL;

    assert_non_null(bytes);
    snprintf(conf, sizeof conf, "backend = %s\nweights = %s.onnx\n%s",
             pt_tree_file(1, "backends/cpu/vigia-backend-cpu.so"), name, extra);
    if (pt_make_model(dir, name, labels, conf) != 0 ||
        snprintf(path, sizeof path, "%s/%s/%s.onnx", dir, name, name) < 0 || pt_write(path, bytes, n) != 0)
        fail_msg("cannot write model %s in %s", name, dir);
    free(bytes);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (vg_model_load(path, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    return m;
}


#define IMG_W 64
#define IMG_H 48

/* Draws shape k (0 circle, 1 square, 2 triangle) in colour fg on bg, centred at cx, cy, radius r. */
static void draw(uint8_t *rgb, int k, const uint8_t fg[3], const uint8_t bg[3], double cx, double cy, double r)
{
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) {
            double px = x + 0.5, py = y + 0.5, t;
            int in;

            if (k == 0)
                in = (px - cx) * (px - cx) + (py - cy) * (py - cy) <= r * r;
            else if (k == 1)
                in = fabs(px - cx) <= r * 0.85 && fabs(py - cy) <= r * 0.85;
            else {   /* apex up, base at cy + 0.8 r */
                t = (py - (cy - r)) / (1.8 * r);
                in = t >= 0 && t <= 1 && fabs(px - cx) <= t * r;
            }
            memcpy(rgb + 3 * (y * IMG_W + x), in ? fg : bg, 3);
        }
}


static void test_plugin(void **state)
{
    static const uint8_t colours[][2][3] = {
        { { 230, 30, 30 }, { 20, 20, 20 } }, { { 250, 250, 250 }, { 30, 60, 160 } },
        { { 20, 200, 40 }, { 240, 240, 200 } }, { { 10, 10, 10 }, { 200, 200, 200 } },
    };
    static const char *const names[] = { "circle", "square", "triangle" };
    char *dir = pt_tmpdir("onnxcls");
    vg_model *m = make_model(dir, "shapes", "circle\nsquare\ntriangle\n", "threads = 2\n");  /* the manifest's */
    vg_detector *d = NULL;
    uint8_t rgb[IMG_W * IMG_H * 3];
    int right = 0, total = 0;

    (void)state;
    if (vg_detector_open(m, NULL, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(vg_detector_info(d)->task, VIGIA_TASK_CLASSIFY);
    assert_int_equal(vg_detector_info(d)->output, VIGIA_OUTPUT_SCORES);
    assert_int_equal(vg_detector_info(d)->classes, 3);
    assert_int_equal(vg_detector_info(d)->input_w, 32);
    assert_non_null(strstr(vg_detector_info(d)->device, "the graph's softmax"));
    assert_non_null(strstr(vg_detector_info(d)->device, "2 threads"));
    assert_string_equal(vg_detector_resize(d), "stretch");
    for (int k = 0; k < 3; k++)
        for (size_t c = 0; c < sizeof colours / sizeof colours[0]; c++) {
            size_t len = 0;
            vg_detect_result res;
            uint8_t *png;

            draw(rgb, k, colours[c][0], colours[c][1], 22 + 6.0 * (double)c, 20 + 2.0 * (double)k, 13);
            png = pt_png(IMG_W, IMG_H, rgb, 0, 0, 0, 0, 0, &len);
            assert_non_null(png);
            vg_detect_input in = { .image = png, .len = len, .threshold = 0.0f, .nms = 0.0f,
                                    .class_mask = NULL, .annotate = 0, .quality = 0 };
            assert_int_equal(vg_detector_run(d, 1, &in, &res), 0);
            assert_int_equal(res.status, 0);
            assert_int_equal(res.n, 3);                 /* every class, best first */
            assert_true(res.dets[0].confidence >= res.dets[1].confidence);
            assert_true(res.dets[1].confidence >= res.dets[2].confidence);
            assert_true(fabs(res.dets[0].confidence + res.dets[1].confidence + res.dets[2].confidence - 1) < 1e-3);
            assert_int_equal(res.dets[0].x_max, IMG_W - 1);   /* the whole image */
            print_message("# %s on colours %zu: %s %.3f\n", names[k], c, res.dets[0].label,
                          (double)res.dets[0].confidence);
            right += res.dets[0].class_id == k && strcmp(res.dets[0].label, names[k]) == 0;
            total++;
            vg_detect_result_release(&res);
            free(png);
        }
    print_message("# %d of %d shapes named right\n", right, total);
    assert_int_equal(right, total);
    vg_detector_close(d);
    vg_model_destroy(m);
    pt_rmtree(dir);
}


static void test_preprocessing(void **state)
{
    char *dir = pt_tmpdir("onnxcls");
    vg_model *m = make_model(dir, "resnet18", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n",
                             "mean = 0.5, 0.25, 0.125\nstd = 0.5,0.25,0.8\n[cpu]\nchannels = bgr\n");
    vg_detector *d = NULL;
    uint8_t rgb[96 * 96 * 3];
    size_t len = 0;
    vigia_image view;
    float *t;
    uint8_t *png;

    (void)state;
    if (vg_detector_open(m, NULL, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(strstr(vg_detector_info(d)->device, "softmax of the logits"));
    for (size_t i = 0; i < sizeof rgb; i += 3) {
        rgb[i] = 255;
        rgb[i + 1] = 51;
        rgb[i + 2] = 0;
    }
    png = pt_png(96, 96, rgb, 0, 0, 0, 0, 0, &len);
    t = malloc(vg_detector_input_bytes(d));
    assert_non_null(png);
    assert_non_null(t);
    assert_int_equal(vg_detector_prepare(d, png, len, t, &view, err, sizeof err), 0);
    /* planar B, G, R: (0 - 0.125) / 0.8, (0.2 - 0.25) / 0.25, (1 - 0.5) / 0.5 */
    assert_true(fabsf(t[0] - -0.15625f) < 1e-3f);
    assert_true(fabsf(t[96 * 96] - -0.2f) < 1e-2f);
    assert_true(fabsf(t[2 * 96 * 96] - 1.0f) < 1e-3f);
    free(t);
    free(png);
    vg_detector_close(d);
    vg_model_destroy(m);
    pt_rmtree(dir);

    /* a bad value is refused at open, naming the key */
    dir = pt_tmpdir("onnxcls");
    m = make_model(dir, "resnet18", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "std = 1,0,1\n");
    assert_true(vg_detector_open(m, NULL, &d, err, sizeof err) != 0);
    assert_non_null(strstr(err, "std: '1,0,1'"));
    vg_model_destroy(m);
    pt_rmtree(dir);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_plugin),
        cmocka_unit_test(test_preprocessing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
