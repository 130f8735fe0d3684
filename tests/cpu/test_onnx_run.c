/*
 * tests/cpu/test_onnx_run.c: the ONNX path's rewrites (backends/cpu/onnx_rewrite.h)
 * and executor (backends/cpu/onnx_exec.h) on the graphs in tests/cpu/onnx.
 *
 * - reference: every graph with a .ref file (tests/cpu/make_onnx_models.py:
 *   a fixed input and the output numpy computed op by op) gives numpy's
 *   output within 1e-4 relative, rewritten and not.
 * - rewrite_equal: the rewritten graph's outputs equal the unrewritten
 *   graph's within 1e-5 relative.
 * Relative means to the output's largest magnitude (see compare()).
 * - rewrite_nodes: the node list of rw_fuse.onnx and ops_conv.onnx after the
 *   rewrites: which nodes went, which activation each Conv took in.
 * - refusal: a node the executor cannot run is named at load.
 * - arena: values whose lifetimes do not overlap share memory.
 * - head: the YOLOv5-style head's candidates (onnx_model.h), all of them
 *   and the best few when over capacity.
 * - head_v8, head_boxes: the YOLOv8-style head ([1, 4 + C, N], detected from
 *   the shape) and final boxes ([1, N, 6] named by the caller, [N, 7]
 *   detected) decoded from the graph's output against the same decoding of
 *   numpy's output (the .ref file); heads that do not fit are refused.
 */
#include "vg_build.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_exec.h"
#include "onnx_model.h"
#include "onnx_read.h"
#include "onnx_rewrite.h"

static char err[VIGIA_ERRLEN];

static const char *const graphs[] = {
    "ops_conv.onnx", "ops_act.onnx", "ops_pool.onnx", "ops_layout.onnx", "ops_shape.onnx",
    "ops_opset11.onnx", "yolov5_head.onnx", "yolov8_head.onnx", "rw_fuse.onnx",
    "boxes6_head.onnx", "boxes7_head.onnx", "norm_probe.onnx",
    "../torch/torch_yolov5.onnx", "../torch/torch_yolov8.onnx",   /* tests/cpu/make_torch_models.py */
};

static const char *model_path(const char *name)
{
    static char buf[4096];
    const char *src = getenv("VIGIA_SRCDIR");

    snprintf(buf, sizeof buf, "%s/tests/cpu/onnx/%s", src && *src ? src : VGC_TEST_SRCDIR, name);
    return buf;
}


/* Read name (ops_shape.onnx with the sizes its reference used), rewritten or not. */
static vgc_onnx_graph *load(const char *name, int rewrite)
{
    vgc_onnx_options opt = { 0 };
    vgc_onnx_graph *g = NULL;
    int rc;

    if (strcmp(name, "ops_shape.onnx") == 0) {
        opt.batch = 2;
        opt.height = 8;
        opt.width = 10;
    }
    rc = vgc_onnx_load(&g, model_path(name), &opt, err, sizeof err);
    if (rc == 0 && rewrite)
        rc = vgc_onnx_rewrite(g, err, sizeof err);
    if (rc)
        print_error("%s: %s\n", name, err);
    assert_int_equal(rc, 0);
    return g;
}


/* The reference file of a graph: inputs then outputs, float32. */
static float *read_ref(const char *name, size_t *n)
{
    char path[4200];
    FILE *f;
    long len;
    float *buf;

    snprintf(path, sizeof path, "%.*s.ref", (int)(strlen(model_path(name)) - 5), model_path(name));
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    rewind(f);
    buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len / sizeof(float);
    return buf;
}


/* Run g with `threads` compute threads on the inputs at the start of ref; returns the executor. */
static vgc_onnx_exec *run_threads(const vgc_onnx_graph *g, const float *ref, size_t *used, int threads)
{
    const float *in[VGC_ONNX_MAX_IO];
    vgc_onnx_exec *ex = NULL;
    size_t at = 0;
    int rc;

    for (int i = 0; i < g->nin; i++) {
        in[i] = ref + at;
        at += (size_t)g->val[g->in[i]].count;
    }
    rc = vgc_onnx_exec_create_threads(&ex, g, threads, err, sizeof err);
    if (rc == 0)
        rc = vgc_onnx_exec_run(ex, in, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    *used = at;
    return ex;
}


static vgc_onnx_exec *run(const vgc_onnx_graph *g, const float *ref, size_t *used)
{
    return run_threads(g, ref, used, 1);
}


/*
 * Outputs equal want within tol relative to the output's scale, max(1, max |want|):
 * an element near zero that is the difference of large sums carries their rounding.
 * Returns the worst error seen.
 */
static double compare(const char *name, const char *what, const float *got, const float *want, int64_t n,
                      double tol)
{
    double worst = 0, scale = 1;

    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / scale;
        if (!(e <= tol)) {
            print_error("%s %s[%lld]: %g, want %g\n", name, what, (long long)i, (double)got[i], (double)want[i]);
            fail();
        }
        worst = fmax(worst, e);
    }
    return worst;
}


/* Every graph, as read and rewritten, on one thread and on two, against PyTorch's outputs. */
static void test_reference(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof graphs / sizeof graphs[0]; k++)
        for (int rewrite = 0; rewrite < 4; rewrite++) {
            const int threads = 1 + rewrite / 2;
            vgc_onnx_graph *g = load(graphs[k], rewrite % 2);
            size_t n, at;
            float *ref = read_ref(graphs[k], &n);
            vgc_onnx_exec *ex = run_threads(g, ref, &at, threads);
            double worst = 0;

            for (int o = 0; o < g->nout; o++) {
                const int64_t cnt = g->val[g->out[o]].count;
                assert_true(at + (size_t)cnt <= n);
                worst = fmax(worst, compare(graphs[k], g->val[g->out[o]].name, vgc_onnx_exec_output(ex, o),
                                            ref + at, cnt, 1e-4));
                at += (size_t)cnt;
            }
            assert_int_equal(at, n);
            printf("# %s%s, %d thread%s: worst error %.2g\n", graphs[k], rewrite % 2 ? " (rewritten)" : "", threads,
                   threads > 1 ? "s" : "", worst);
            vgc_onnx_exec_destroy(ex);
            vgc_onnx_destroy(g);
            free(ref);
        }
}


static void test_rewrite_equal(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof graphs / sizeof graphs[0]; k++) {
        vgc_onnx_graph *g0 = load(graphs[k], 0), *g1 = load(graphs[k], 1);
        size_t n, at;
        float *ref = read_ref(graphs[k], &n);
        vgc_onnx_exec *e0 = run(g0, ref, &at), *e1 = run(g1, ref, &at);

        assert_int_equal(g0->nout, g1->nout);
        for (int o = 0; o < g0->nout; o++) {
            assert_string_equal(g0->val[g0->out[o]].name, g1->val[g1->out[o]].name);
            compare(graphs[k], g0->val[g0->out[o]].name, vgc_onnx_exec_output(e1, o), vgc_onnx_exec_output(e0, o),
                    g0->val[g0->out[o]].count, 1e-5);
        }
        vgc_onnx_exec_destroy(e0);
        vgc_onnx_exec_destroy(e1);
        vgc_onnx_destroy(g0);
        vgc_onnx_destroy(g1);
        free(ref);
    }
}


/* The live nodes of g as "name:act" joined by spaces (act when not none). */
static void live_list(const vgc_onnx_graph *g, char *buf, size_t len)
{
    size_t at = 0;

    buf[0] = '\0';
    for (int i = 0; i < g->nnode && at < len; i++) {
        const vgc_onnx_node *n = &g->node[i];
        if (n->removed || n->folded)
            continue;
        at += (size_t)snprintf(buf + at, len - at, at ? " %s" : "%s", n->name);
        if (n->act && at < len)
            at += (size_t)snprintf(buf + at, len - at, ":%d(%g,%g)", n->act, (double)n->act_a, (double)n->act_b);
    }
}


static void test_rewrite_nodes(void **state)
{
    vgc_onnx_graph *g = load("rw_fuse.onnx", 1);
    char buf[2048], want[1024];
    int add = vgc_onnx_find(g, "a9");

    (void)state;
    live_list(g, buf, sizeof buf);
    snprintf(want, sizeof want,
             "c_bn_relu:%d(0,0) c_bn_leaky:%d(0.2,0) c_silu:%d(0,0) c_hsig:%d(0.3,0.4) c_hswish:%d(0,0) "
             "c_relu6:%d(0,6) c_clip:%d(0,1) c_sigmoid:%d(0,0) add last c_out relu_out",
             VGC_OA_RELU, VGC_OA_LEAKY, VGC_OA_SILU, VGC_OA_HARD_SIGMOID, VGC_OA_HARD_SWISH, VGC_OA_CLIP,
             VGC_OA_CLIP, VGC_OA_SIGMOID);
    assert_string_equal(buf, want);
    assert_int_equal(vgc_onnx_live_nodes(g), 12);
    /* the float constant computed at load is the Add's second input, [4, 1, 1] */
    assert_true(add >= 0);
    assert_non_null(g->val[g->node[g->val[add].producer].in[1]].data);
    assert_int_equal(g->val[g->node[g->val[add].producer].in[1]].rank, 3);
    /* Identity and the same-shape Reshape are gone: the last Relu reads the Add */
    assert_int_equal(g->node[g->val[vgc_onnx_find(g, "y")].producer].in[0], add);
    vgc_onnx_destroy(g);

    g = load("ops_conv.onnx", 1);
    live_list(g, buf, sizeof buf);
    snprintf(want, sizeof want, "conv1:%d(0.1,0) dw:%d(0,0) dilated deconv #8", VGC_OA_LEAKY, VGC_OA_SILU);
    assert_string_equal(buf, want);
    vgc_onnx_destroy(g);
}


static void test_refusal(void **state)
{
    vgc_onnx_graph *g = load("bad_exec.onnx", 1);
    vgc_onnx_exec *ex = (vgc_onnx_exec *)&ex;

    (void)state;
    assert_int_equal(vgc_onnx_exec_create(&ex, g, err, sizeof err), VIGIA_ENOTSUP);
    assert_null(ex);
    assert_non_null(strstr(err, "'mv'"));
    assert_non_null(strstr(err, "MatMul"));
    vgc_onnx_destroy(g);
}


static void test_arena(void **state)
{
    vgc_onnx_graph *g = load("yolov8_head.onnx", 1);
    vgc_onnx_exec *ex = NULL;
    size_t sum = 0;

    (void)state;
    assert_int_equal(vgc_onnx_exec_create(&ex, g, err, sizeof err), 0);
    for (int v = 0; v < g->nval; v++)
        if (!g->val[v].data && !g->val[v].is_input && g->val[v].producer >= 0 &&
            !g->node[g->val[v].producer].removed)
            sum += (size_t)g->val[v].count;
    printf("# yolov8_head: arena %zu floats, values %zu floats\n", vgc_onnx_exec_arena_floats(ex), sum);
    assert_true(vgc_onnx_exec_arena_floats(ex) < sum);
    vgc_onnx_exec_destroy(ex);
    vgc_onnx_destroy(g);
}


static void test_head(void **state)
{
    enum { CAP = 960 };
    vgc_onnx_model *m = NULL;
    size_t n;
    float *ref = read_ref("yolov5_head.onnx", &n);
    const float *rows = ref + 3 * 32 * 32;   /* numpy's output, after the input */
    float *box = malloc(4 * CAP * sizeof(float)), *obj = malloc(CAP * sizeof(float));
    float *prob = malloc(2 * CAP * sizeof(float));
    vigia_candidates c = { .struct_size = sizeof c, .capacity = CAP, .box = box, .objectness = obj, .prob = prob };
    uint32_t above = 0;

    (void)state;
    assert_int_equal(vgc_onnx_model_open(&m, model_path("yolov5_head.onnx"), 0, 0, err, sizeof err), 0);
    assert_int_equal(vgc_onnx_model_classes(m), 2);
    assert_int_equal(vgc_onnx_model_detect(m, ref, 0.5f, &c, err, sizeof err), 0);
    for (int i = 0; i < 960; i++)
        above += rows[i * 7 + 4] > 0.5f;
    assert_true(above > 10 && above < 960);
    assert_int_equal(c.count, above);
    assert_int_equal(c.truncated, 0);
    for (uint32_t k = 0, i = 0; k < c.count; k++, i++) {
        while (!(rows[i * 7 + 4] > 0.5f))
            i++;                  /* rows in order: the k-th candidate is the k-th row above */
        assert_true(fabsf(box[4 * k] - rows[i * 7] / 32) < 1e-5f);
        assert_true(fabsf(box[4 * k + 3] - rows[i * 7 + 3] / 32) < 1e-5f);
        assert_true(fabsf(obj[k] - rows[i * 7 + 4]) < 1e-5f);
        for (int cl = 0; cl < 2; cl++) {
            float p = rows[i * 7 + 4] * rows[i * 7 + 5 + cl];
            assert_true(fabsf(prob[2 * k + cl] - (p > 0.5f ? p : 0.0f)) < 1e-5f);
        }
    }
    /* over capacity: the 10 highest objectnesses, highest first */
    c.capacity = 10;
    assert_int_equal(vgc_onnx_model_detect(m, ref, 0.5f, &c, err, sizeof err), 0);
    assert_int_equal(c.count, 10);
    assert_int_equal(c.truncated, 1);
    for (int k = 1; k < 10; k++)
        assert_true(obj[k - 1] >= obj[k]);
    {
        int higher = 0;
        for (int i = 0; i < 960; i++)
            higher += rows[i * 7 + 4] > obj[9] + 1e-5f;
        assert_true(higher <= 9);   /* none left out ranks above the 10th kept */
    }
    vgc_onnx_model_destroy(m);
    assert_int_equal(vgc_onnx_model_open(&m, model_path("ops_conv.onnx"), 0, 0, err, sizeof err), VIGIA_ENOTSUP);
    assert_null(m);
    free(box);
    free(obj);
    free(prob);
    free(ref);
}


/* Candidate sets with room for cap boxes of `classes` classes. */
typedef struct cands {
    vigia_candidates c;
    float *box, *obj, *prob;
} cands;

static void cands_init(cands *k, uint32_t cap, int classes)
{
    k->box = malloc(4 * cap * sizeof(float));
    k->obj = malloc(cap * sizeof(float));
    k->prob = malloc((size_t)classes * cap * sizeof(float));
    assert_true(k->box && k->obj && k->prob);
    k->c = (vigia_candidates){ .struct_size = sizeof k->c, .capacity = cap, .box = k->box, .objectness = k->obj,
                               .prob = k->prob };
}

static void cands_free(cands *k)
{
    free(k->box);
    free(k->obj);
    free(k->prob);
}


static void test_head_v8(void **state)
{
    enum { N = 320, C = 3 };
    const float T = 0.7f;
    vgc_onnx_model *m = NULL;
    size_t n;
    float *ref = read_ref("yolov8_head.onnx", &n);
    const float *y = ref + 3 * 32 * 32;       /* numpy's [1, 4 + C, N] */
    cands k;
    uint32_t want = 0;

    (void)state;
    assert_int_equal(n, 3 * 32 * 32 + (4 + C) * N);
    cands_init(&k, N, C);
    assert_int_equal(vgc_onnx_model_open(&m, model_path("yolov8_head.onnx"), 0, 0, err, sizeof err), 0);
    assert_int_equal(vgc_onnx_model_head(m)->kind, VGC_HEAD_YOLOV8);
    assert_int_equal(vgc_onnx_model_head(m)->detected, 1);
    assert_int_equal(vgc_onnx_model_classes(m), C);
    assert_int_equal(vgc_onnx_model_detect(m, ref, T, &k.c, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        float best = 0;
        for (int c = 0; c < C; c++)
            best = fmaxf(best, y[(4 + c) * N + i]);
        if (!(best > T))
            continue;
        assert_true(want < k.c.count);
        const float *b = k.box + 4 * want, *p = k.prob + C * want;
        for (int j = 0; j < 4; j++)       /* xywh in pixels of the 32x32 input, as fractions */
            assert_true(fabsf(b[j] - y[j * N + i] / 32) < 1e-4f * fmaxf(1, fabsf(y[j * N + i] / 32)));
        assert_true(k.obj[want] == 1.0f);
        for (int c = 0; c < C; c++) {
            float v = y[(4 + c) * N + i];
            assert_true(fabsf(p[c] - (v > T ? v : 0)) < 1e-4f);
        }
        want++;
    }
    printf("# yolov8_head: %u of %d rows above %.2f\n", want, N, (double)T);
    assert_true(want > 5 && want < N);
    assert_int_equal(k.c.count, want);
    assert_int_equal(k.c.truncated, 0);
    /* over capacity: the best class scores first */
    k.c.capacity = 4;
    assert_int_equal(vgc_onnx_model_detect(m, ref, T, &k.c, err, sizeof err), 0);
    assert_int_equal(k.c.count, 4);
    assert_int_equal(k.c.truncated, 1);
    for (int j = 1; j < 4; j++) {
        float a = fmaxf(fmaxf(k.prob[C * (j - 1)], k.prob[C * (j - 1) + 1]), k.prob[C * (j - 1) + 2]);
        float b = fmaxf(fmaxf(k.prob[C * j], k.prob[C * j + 1]), k.prob[C * j + 2]);
        assert_true(a >= b);
    }
    vgc_onnx_model_destroy(m);
    /* named: a boxes head needs 6 or 7 columns; an unknown name is refused */
    assert_int_equal(vgc_onnx_model_open_head(&m, model_path("yolov8_head.onnx"), 0, 0, "boxes", 3, err, sizeof err),
                     VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "is not a boxes head"));
    assert_int_equal(vgc_onnx_model_open_head(&m, model_path("yolov8_head.onnx"), 0, 0, "ssd", 0, err, sizeof err),
                     VIGIA_EINVAL);
    assert_null(m);
    cands_free(&k);
    free(ref);
}


/* Final boxes: graph's decode against numpy's rows; cols 6 (x1 y1 x2 y2 score class) or 7 (b x1 y1 x2 y2 class score). */
static void check_boxes(const char *graph, const char *head, int cols)
{
    enum { N = 16, C = 3 };
    const float T = 0.3f;
    vgc_onnx_model *m = NULL;
    size_t n;
    float *ref = read_ref(graph, &n);
    const float *y = ref + 3 * 32 * 32;
    cands k;
    uint32_t want = 0;

    assert_int_equal(n, 3 * 32 * 32 + N * cols);
    cands_init(&k, N, C);
    /* the class count comes from the labels: without it a boxes head is refused */
    assert_int_equal(vgc_onnx_model_open_head(&m, model_path(graph), 0, 0, head, 0, err, sizeof err), VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "labels"));
    assert_int_equal(vgc_onnx_model_open_head(&m, model_path(graph), 0, 0, head, C, err, sizeof err), 0);
    assert_int_equal(vgc_onnx_model_head(m)->kind, VGC_HEAD_BOXES);
    assert_int_equal(vgc_onnx_model_head(m)->detected, head == NULL);
    assert_int_equal(vgc_onnx_model_detect(m, ref, T, &k.c, err, sizeof err), 0);
    for (int i = 0; i < N; i++) {
        const float *r = y + i * cols, *q = cols == 7 ? r + 1 : r;
        const float score = cols == 7 ? r[6] : r[4];
        const int cls = (int)r[5];
        if (!(score > T))
            continue;
        assert_true(want < k.c.count);
        const float *b = k.box + 4 * want, *p = k.prob + C * want;
        assert_true(fabsf(b[0] - (q[0] + q[2]) / 64) < 1e-5f);
        assert_true(fabsf(b[1] - (q[1] + q[3]) / 64) < 1e-5f);
        assert_true(fabsf(b[2] - (q[2] - q[0]) / 32) < 1e-5f);
        assert_true(fabsf(b[3] - (q[3] - q[1]) / 32) < 1e-5f);
        assert_true(b[2] > 0 && b[3] > 0);
        for (int c = 0; c < C; c++)
            assert_true(fabsf(p[c] - (c == cls ? score : 0)) < 1e-5f);
        want++;
    }
    printf("# %s: %u of %d boxes above %.2f\n", graph, want, N, (double)T);
    assert_true(want > 2 && want < N);
    assert_int_equal(k.c.count, want);
    vgc_onnx_model_destroy(m);
    cands_free(&k);
    free(ref);
}


static void test_head_boxes(void **state)
{
    vgc_onnx_model *m = NULL;

    (void)state;
    check_boxes("boxes6_head.onnx", "boxes", 6);
    check_boxes("boxes7_head.onnx", NULL, 7);
    /* [1, 16, 6] says nothing by itself: read as a 1-class yolov5 head unless named */
    assert_int_equal(vgc_onnx_model_open(&m, model_path("boxes6_head.onnx"), 0, 0, err, sizeof err), 0);
    assert_int_equal(vgc_onnx_model_head(m)->kind, VGC_HEAD_YOLOV5);
    assert_int_equal(vgc_onnx_model_classes(m), 1);
    vgc_onnx_model_destroy(m);
    /* a yolov8 head needs [1, 4 + C, N] */
    assert_int_equal(vgc_onnx_model_open_head(&m, model_path("boxes7_head.onnx"), 0, 0, "yolov8", 3, err, sizeof err),
                     VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "is not a yolov8 head"));
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_rewrite_equal),
        cmocka_unit_test(test_rewrite_nodes),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_head_v8),
        cmocka_unit_test(test_head_boxes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
