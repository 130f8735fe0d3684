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


/* Run g on the inputs at the start of ref; returns the executor. */
static vgc_onnx_exec *run(const vgc_onnx_graph *g, const float *ref, size_t *used)
{
    const float *in[VGC_ONNX_MAX_IO];
    vgc_onnx_exec *ex = NULL;
    size_t at = 0;
    int rc;

    for (int i = 0; i < g->nin; i++) {
        in[i] = ref + at;
        at += (size_t)g->val[g->in[i]].count;
    }
    rc = vgc_onnx_exec_create(&ex, g, err, sizeof err);
    if (rc == 0)
        rc = vgc_onnx_exec_run(ex, in, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    *used = at;
    return ex;
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


static void test_reference(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof graphs / sizeof graphs[0]; k++)
        for (int rewrite = 0; rewrite < 2; rewrite++) {
            vgc_onnx_graph *g = load(graphs[k], rewrite);
            size_t n, at;
            float *ref = read_ref(graphs[k], &n);
            vgc_onnx_exec *ex = run(g, ref, &at);
            double worst = 0;

            for (int o = 0; o < g->nout; o++) {
                const int64_t cnt = g->val[g->out[o]].count;
                assert_true(at + (size_t)cnt <= n);
                worst = fmax(worst, compare(graphs[k], g->val[g->out[o]].name, vgc_onnx_exec_output(ex, o),
                                            ref + at, cnt, 1e-4));
                at += (size_t)cnt;
            }
            assert_int_equal(at, n);
            printf("# %s%s: worst error %.2g\n", graphs[k], rewrite ? " (rewritten)" : "", worst);
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


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_rewrite_equal),
        cmocka_unit_test(test_rewrite_nodes),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_head),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
