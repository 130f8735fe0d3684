/*
 * tests/cuda/test_cuda_gpu.c: the CUDA engine on a GPU against the CPU
 * engine (the equivalence suite). Every test reports itself as a
 * TAP SKIP ("no CUDA device (...)") on a machine without a usable GPU;
 * none passes silently there.
 *
 * - gpu_equiv_*: every model in ../shared/models on every shared image,
 *   Debian's yolov3-tiny (416) and yolov3 (320) with random weights, and a
 *   network with every layer kind: every layer's output within 1e-3 of the
 *   CPU engine's (relative to max(1, |x|)), the candidates the same (boxes
 *   within 1 px in the original image, objectness and probabilities within
 *   1e-3).
 * - gpu_variants: CUDA graphs off, cuDNN heuristics instead of timed
 *   algorithms, no fused convolutions: the same results; TF32: runs (its
 *   differences are printed, not asserted).
 * - gpu_batch: batch sizes 1, 2, 3, 5, 8 in a plan for 8 (buckets 1, 2, 4,
 *   8), in mixed order: every image equals the CPU engine's.
 * - gpu_many_candidates: more candidates than the device keeps (yolov3 at
 *   416, threshold 0), more than the first copy brings back, and
 *   truncation to a small capacity.
 * - gpu_repeat: 50 runs of one image give identical candidates.
 * - gpu_plugin_abi: the plugin through dlopen: probe, open, describe,
 *   infer, refusals, ten open/close cycles without losing device memory.
 *
 * VGCU_TEST_FILTER=pattern runs the matching tests only (compute-sanitizer
 * runs use it, tests/cuda/test_cuda_memcheck.sh).
 */
#include "vg_build.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "engine.h"
#include "plan.h"
#include "gpu.h"
#include "cpu_util.h"
#include "cuda_check.h"

static const char *const image_names[] = {
    "dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg", "scream.jpg",
};
#define NIMAGES (int)(sizeof image_names / sizeof image_names[0])
#define TINY_CFG "/usr/share/darknet/cfg/yolov3-tiny.cfg"
#define YOLOV3_CFG "/usr/share/darknet/cfg/yolov3.cfg"

static const char *model_file(const char *model, const char *ext)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];

    snprintf(b, sizeof bufs[0], "%s.%s", model, ext);
    return cu_shared_path("models", b);
}


/* A cfg path for a network of another input size (the CPU engine and the plan both take it from opts). */
typedef struct gcase {
    const char *name;
    const char *cfg;
    const char *weights;      /* NULL: random weights (seed 11) */
    int w, h;                 /* input size, 0 = the cfg's */
    int images;
    float thresh;
    vgcu_gpu_options go;
} gcase;

static vgc_net *cpu_load(const gcase *c, int keep)
{
    char err[VIGIA_ERRLEN];
    vgc_options o = { .keep_outputs = keep, .no_weights = !c->weights, .seed = 11, .input_w = c->w, .input_h = c->h };
    vgc_net *net = NULL;

    if (vgc_net_load(&net, c->cfg, c->weights, &o, err, sizeof err) < 0)
        fail_msg("cpu engine: %s", err);
    return net;
}


static vgcu_gpu *gpu_load(const gcase *c, int keep, int max_batch)
{
    char err[VIGIA_ERRLEN];
    vgcu_options o = { .keep_outputs = keep, .no_weights = !c->weights, .seed = 11, .input_w = c->w,
                       .input_h = c->h, .max_batch = max_batch };
    vgcu_plan *p = NULL;
    vgcu_gpu *g = NULL;
    double t0 = cu_now();

    if (vgcu_plan_create(&p, c->cfg, c->weights, &o, err, sizeof err) < 0)
        fail_msg("plan: %s", err);
    if (vgcu_gpu_create(&g, p, &c->go, err, sizeof err) < 0)
        fail_msg("gpu: %s", err);
    print_message("# %s: loaded in %.2f s on %s: %s\n", c->name, cu_now() - t0, vgcu_gpu_device(g),
                  vgcu_gpu_summary(g));
    return g;
}


static float *letterbox(const vgcu_plan *p, int im, cu_geom *g)
{
    float *x = malloc(p->in_size * sizeof(float));

    assert_non_null(x);
    if (cu_letterbox_file(cu_shared_path("images", image_names[im % NIMAGES]), p->w, p->h, x, g) < 0)
        fail_msg("cannot decode %s", image_names[im % NIMAGES]);
    return x;
}


/* CPU candidates of one image (already forwarded as image b). */
static void cpu_cands(vgc_net *net, int b, float thresh, cc_cands *k, int cap, int classes)
{
    cc_cands_init(k, cap, classes);
    assert_int_equal(vgc_net_candidates(net, b, thresh, &k->c, k->index), 0);
}

/* ---- equivalence, layer by layer ----------------------------------------------------------------- */

static void run_equiv(const gcase *c, int layers)
{
    char err[VIGIA_ERRLEN];
    vgc_net *net = cpu_load(c, layers);
    vgcu_gpu *g = gpu_load(c, layers, 1);
    const vgcu_plan *p = vgcu_gpu_plan(g);
    size_t most = 0;
    float *buf;
    double worst_layer = 0, worst_px = 0, worst_p = 0;
    int total = 0, worst_at = -1;

    for (int i = 0; i < p->n; i++)
        if (p->layers[i].l.out_size > most)
            most = p->layers[i].l.out_size;
    buf = malloc(most * sizeof(float));
    assert_non_null(buf);
    for (int im = 0; im < c->images; im++) {
        cu_geom geo;
        float *x = letterbox(p, im, &geo);
        cc_cands ref, got;
        uint32_t *idx[1];
        int matched;
        double wpx, wp;
        char what[256];

        assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
        cc_cands_init(&got, p->max_cand, p->classes);
        idx[0] = got.index;
        if (vgcu_gpu_infer_indexed(g, x, 1, c->thresh, &got.c, idx, err, sizeof err) < 0)
            fail_msg("infer: %s", err);
        for (int i = 0; layers && i < p->n; i++) {
            const vgc_layer *l = &p->layers[i].l;
            double e;
            size_t bad;

            assert_int_equal(vgcu_gpu_layer_output(g, i, 0, buf, err, sizeof err), 0);
            bad = cu_compare(vgc_net_output(net, i, 0), buf, l->out_size, CC_TOL, &e);
            if (bad)
                fail_msg("%s, %s: layer %d (type %d, cfg line %d) differs in %zu of %zu values (max err %.3g)",
                         c->name, image_names[im % NIMAGES], i, (int)l->type, l->line, bad, l->out_size, e);
            if (e > worst_layer) {
                worst_layer = e;
                worst_at = i;
            }
        }
        cpu_cands(net, 0, c->thresh, &ref, p->max_cand, p->classes);
        snprintf(what, sizeof what, "%s, %s", c->name, image_names[im % NIMAGES]);
        if (cc_match(what, c->weights ? &geo : NULL, p->classes, c->thresh, &ref, &got, &matched, &wpx, &wp))
            fail_msg("%s: candidates differ", what);
        total += matched;
        worst_px = fmax(worst_px, wpx);
        worst_p = fmax(worst_p, wp);
        cc_cands_free(&ref);
        cc_cands_free(&got);
        free(x);
    }
    if (layers)
        print_message("# %s: %d layers within %.2e (worst: layer %d), ", c->name, p->n, worst_layer, worst_at);
    else
        print_message("# %s: ", c->name);
    print_message("%d candidates, boxes within %.4f px, probabilities %.2e\n", total, worst_px, worst_p);
    free(buf);
    vgcu_gpu_destroy(g);
    vgc_net_destroy(net);
}


static void test_equiv(void **state)
{
    run_equiv(*state, 1);
}


static void test_all_layer_kinds(void **state)
{
    static char cfg[4096];
    const char *dir = cu_tmpdir();
    gcase c = { "all layer kinds", cfg, NULL, 0, 0, 1, 0.05f, { 0 } };
    FILE *fp;

    (void)state;
    assert_non_null(dir);
    snprintf(cfg, sizeof cfg, "%s/all.cfg", dir);
    fp = fopen(cfg, "w");
    assert_non_null(fp);
    fputs(cc_all_layers_cfg, fp);
    assert_int_equal(fclose(fp), 0);
    run_equiv(&c, 1);
    cu_rmtree(dir);
}

/* ---- options ---------------------------------------------------------------------------------------- */

static void test_variants(void **state)
{
    static const struct { const char *name; vgcu_gpu_options go; } v[] = {
        { "graphs off", { .no_graphs = 1 } },
        { "cudnn heuristics", { .heuristic_algos = 1 } },
        { "no fusion", { .no_fusion = 1 } },
        { "small workspace", { .workspace_limit = 1 << 20 } },
    };
    const char *xl_cfg = model_file("yolo-fastest-1.1-xl", "cfg"), *xl_w = model_file("yolo-fastest-1.1-xl", "weights");

    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char nm[128];
        gcase xl = { nm, xl_cfg, xl_w, 0, 0, 2, 0.25f, v[i].go };
        gcase tiny = { nm, TINY_CFG, NULL, 0, 0, 1, 0.5f, v[i].go };

        snprintf(nm, sizeof nm, "yolo-fastest-1.1-xl, %s", v[i].name);
        run_equiv(&xl, 1);
        if (cu_file_exists(TINY_CFG)) {
            snprintf(nm, sizeof nm, "yolov3-tiny, %s", v[i].name);
            run_equiv(&tiny, 1);
        }
    }
    /* TF32: not exact; how far it is goes in the log */
    {
        gcase c = { "yolo-fastest-1.1-xl, tf32", xl_cfg, xl_w, 0, 0, 1, 0.25f, { .tf32 = 1 } };
        vgc_net *net = cpu_load(&c, 0);
        vgcu_gpu *g = gpu_load(&c, 0, 1);
        const vgcu_plan *p = vgcu_gpu_plan(g);
        cu_geom geo;
        float *x = letterbox(p, 0, &geo);
        cc_cands ref, got;
        char err[VIGIA_ERRLEN];
        int matched;
        double wpx, wp;
        uint32_t *idx[1];

        assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
        cpu_cands(net, 0, 0.25f, &ref, p->max_cand, p->classes);
        cc_cands_init(&got, p->max_cand, p->classes);
        idx[0] = got.index;
        assert_int_equal(vgcu_gpu_infer_indexed(g, x, 1, 0.25f, &got.c, idx, err, sizeof err), 0);
        cc_match("tf32 (informative)", &geo, p->classes, 0.25f, &ref, &got, &matched, &wpx, &wp);
        print_message("# tf32: %u vs %u candidates on dog.jpg, %d matched, boxes within %.3f px, probabilities %.2e\n",
                      got.c.count, ref.c.count, matched, wpx, wp);
        assert_true(got.c.count > 0);
        cc_cands_free(&ref);
        cc_cands_free(&got);
        free(x);
        vgcu_gpu_destroy(g);
        vgc_net_destroy(net);
    }
}

/* ---- batches ------------------------------------------------------------------------------------------ */

static void run_batch(const gcase *c)
{
    static const int sizes[] = { 1, 8, 3, 2, 5, 1, 4, 7 };
    char err[VIGIA_ERRLEN];
    vgc_net *net = cpu_load(c, 0);
    vgcu_gpu *g = gpu_load(c, 0, 8);
    const vgcu_plan *p = vgcu_gpu_plan(g);
    float *x = malloc(8 * p->in_size * sizeof(float));
    cu_geom geo[8];
    int checked = 0;

    assert_non_null(x);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int batch = sizes[s];
        cc_cands got[8];
        uint32_t *idx[8];

        /* a different set of images each time: image b of this batch is shared image (s + b) */
        for (int b = 0; b < batch; b++) {
            if (cu_letterbox_file(cu_shared_path("images", image_names[(s + (size_t)b) % NIMAGES]), p->w, p->h,
                                  x + (size_t)b * p->in_size, &geo[b]) < 0)
                fail_msg("decode");
            cc_cands_init(&got[b], p->max_cand, p->classes);
            idx[b] = got[b].index;
        }
        /* infer takes an array of candidate sets */
        {
            vigia_candidates sets[8];

            for (int b = 0; b < batch; b++)
                sets[b] = got[b].c;
            if (vgcu_gpu_infer_indexed(g, x, batch, c->thresh, sets, idx, err, sizeof err) < 0)
                fail_msg("infer: %s", err);
            for (int b = 0; b < batch; b++)
                got[b].c = sets[b];
        }
        for (int b = 0; b < batch; b++) {
            cc_cands ref;
            char what[160];
            int matched;
            double wpx, wp;

            assert_int_equal(vgc_net_forward(net, x + (size_t)b * p->in_size, 1, err, sizeof err), 0);
            cpu_cands(net, 0, c->thresh, &ref, p->max_cand, p->classes);
            snprintf(what, sizeof what, "%s, batch %d, image %d", c->name, batch, b);
            if (cc_match(what, c->weights ? &geo[b] : NULL, p->classes, c->thresh, &ref, &got[b], &matched, &wpx, &wp))
                fail_msg("%s: candidates differ", what);
            checked++;
            cc_cands_free(&ref);
            cc_cands_free(&got[b]);
        }
    }
    print_message("# %s: batch sizes 1..8 in mixed order, %d images equal the cpu engine's\n", c->name, checked);
    free(x);
    vgcu_gpu_destroy(g);
    vgc_net_destroy(net);
}


static void test_batch(void **state)
{
    gcase xl = { "yolo-fastest-1.1-xl", model_file("yolo-fastest-1.1-xl", "cfg"),
                 model_file("yolo-fastest-1.1-xl", "weights"), 0, 0, 0, 0.25f, { 0 } };
    gcase tiny = { "yolov3-tiny (random weights)", TINY_CFG, NULL, 0, 0, 0, 0.5f, { 0 } };

    (void)state;
    run_batch(&xl);
    if (cu_file_exists(TINY_CFG))
        run_batch(&tiny);
}

/* ---- candidates beyond what the device keeps --------------------------------------------------------- */

static void test_many_candidates(void **state)
{
    gcase c = { "yolov3 416 (random weights)", YOLOV3_CFG, NULL, 416, 416, 1, 0, { 0 } };
    static const float threshes[] = { 0.0f, 0.3f, 0.6f };
    char err[VIGIA_ERRLEN];
    vgc_net *net;
    vgcu_gpu *g;
    const vgcu_plan *p;
    float *x;

    (void)state;
    net = cpu_load(&c, 0);
    g = gpu_load(&c, 0, 1);
    p = vgcu_gpu_plan(g);
    assert_true(p->max_cand > 4096);
    x = letterbox(p, 3, NULL);
    assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
    for (size_t t = 0; t < sizeof threshes / sizeof threshes[0]; t++) {
        cc_cands ref, got;
        uint32_t *idx[1];
        int matched;
        double wpx, wp;

        cpu_cands(net, 0, threshes[t], &ref, p->max_cand, p->classes);
        cc_cands_init(&got, p->max_cand, p->classes);
        idx[0] = got.index;
        assert_int_equal(vgcu_gpu_infer_indexed(g, x, 1, threshes[t], &got.c, idx, err, sizeof err), 0);
        if (cc_match("many candidates", NULL, p->classes, threshes[t], &ref, &got, &matched, &wpx, &wp))
            fail_msg("threshold %.2f: candidates differ", threshes[t]);
        print_message("# threshold %.2f: %d candidates (of %d cells x anchors) equal the cpu engine's\n",
                      threshes[t], matched, p->max_cand);
        cc_cands_free(&ref);
        cc_cands_free(&got);
    }
    /* truncation: the 100 highest objectness values */
    {
        cc_cands ref, got;
        float cut;

        cpu_cands(net, 0, 0.0f, &ref, 100, p->classes);
        cc_cands_init(&got, 100, p->classes);
        assert_int_equal(vgcu_gpu_infer(g, x, 1, 0.0f, &got.c, err, sizeof err), 0);
        assert_int_equal(got.c.count, 100);
        assert_int_equal(got.c.truncated, 1);
        assert_int_equal(ref.c.truncated, 1);
        cut = 1;
        for (uint32_t i = 0; i < ref.c.count; i++)
            cut = fminf(cut, ref.c.objectness[i]);
        for (uint32_t i = 0; i < got.c.count; i++)
            assert_true(got.c.objectness[i] >= cut - (float)CC_TOL);
        cc_cands_free(&ref);
        cc_cands_free(&got);
    }
    free(x);
    vgcu_gpu_destroy(g);
    vgc_net_destroy(net);
}


static void test_repeat(void **state)
{
    gcase c = { "yolo-fastest-1.1", model_file("yolo-fastest-1.1", "cfg"), model_file("yolo-fastest-1.1", "weights"),
                0, 0, 1, 0.1f, { 0 } };
    char err[VIGIA_ERRLEN];
    vgcu_gpu *g = gpu_load(&c, 0, 1);
    const vgcu_plan *p = vgcu_gpu_plan(g);
    float *x = letterbox(p, 0, NULL);
    cc_cands first, again;

    (void)state;
    cc_cands_init(&first, p->max_cand, p->classes);
    cc_cands_init(&again, p->max_cand, p->classes);
    assert_int_equal(vgcu_gpu_infer(g, x, 1, 0.1f, &first.c, err, sizeof err), 0);
    for (int r = 0; r < 50; r++) {
        assert_int_equal(vgcu_gpu_infer(g, x, 1, 0.1f, &again.c, err, sizeof err), 0);
        assert_int_equal(again.c.count, first.c.count);
        assert_memory_equal(again.c.box, first.c.box, 4 * first.c.count * sizeof(float));
        assert_memory_equal(again.c.prob, first.c.prob, (size_t)first.c.count * p->classes * sizeof(float));
    }
    cc_cands_free(&first);
    cc_cands_free(&again);
    free(x);
    vgcu_gpu_destroy(g);
}

/* ---- the plugin ------------------------------------------------------------------------------------------ */

/* One manifest key a test sets: { key, value, NULL } (see cu_manifest_init). */
static const char *manifest_kv[3];

/* The infer() call of ABI 2 on `batch` float tensors. */
static int plugin_infer(const vigia_backend *be, vigia_model *model, const float *x, int batch, float thr,
                        vigia_candidates *out, char *err, size_t errlen)
{
    vigia_batch b = { .struct_size = sizeof b, .count = (uint32_t)batch, .input = x, .threshold = thr };

    return be->infer(model, &b, out, err, errlen);
}


static void host_log(enum vigia_log_level level, const char *msg)
{
    (void)level;
    print_message("# plugin log: %s\n", msg);
}


static void test_plugin(void **state)
{
    const char *bdir = getenv("VIGIA_BUILDDIR");
    char so[4096], err[VIGIA_ERRLEN];
    vigia_host host = { VIGIA_BACKEND_ABI_VERSION, sizeof(vigia_host), host_log, { 0 } };
    vigia_manifest m = { .name = "yoloface-50k", .max_batch = 2, .threads = 1 };
    vigia_backend_entry_fn entry;
    const vigia_backend *be;
    vigia_model *model = NULL;
    vigia_model_info info;
    vigia_candidates out[2];
    size_t free0 = 0, free1 = 0, total = 0, sz;
    float *x;
    void *dl, *sym;

    (void)state;
#ifdef VIGIA_BUILDDIR
    if (!bdir || !*bdir)
        bdir = VIGIA_BUILDDIR;
#endif
    snprintf(so, sizeof so, "%s/backends/cuda/vigia-backend-cuda.so", bdir ? bdir : ".");
    dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        fail_msg("dlopen %s: %s", so, dlerror());
    sym = dlsym(dl, VIGIA_BACKEND_ENTRY);
    assert_non_null(sym);
    memcpy(&entry, &sym, sizeof entry);
    be = entry();
    assert_string_equal(be->name, "cuda");
    assert_int_equal(be->probe(&host, err, sizeof err), 0);
    cu_manifest_init(&m, manifest_kv);
    m.cfg_path = model_file("yoloface-50k", "cfg");
    m.weights_path = "/nonexistent.weights";
    assert_int_equal(be->open(&host, &m, &model, err, sizeof err), VIGIA_ENOENT);
    m.weights_path = model_file("yoloface-50k", "weights");
    manifest_kv[0] = "cuda.math";
    manifest_kv[1] = "fp16";
    assert_int_equal(be->open(&host, &m, &model, err, sizeof err), VIGIA_EINVAL);
    assert_null(model);
    manifest_kv[0] = "cuda.device";
    manifest_kv[1] = "63";
    assert_int_equal(be->open(&host, &m, &model, err, sizeof err), VIGIA_ENODEV);
    manifest_kv[0] = NULL;
    /* the first model settles the CUDA context, then ten cycles must give back what they take */
    assert_int_equal(be->open(&host, &m, &model, err, sizeof err), 0);
    be->close(model);
    assert_int_equal(cudaMemGetInfo(&free0, &total), cudaSuccess);
    for (int i = 0; i < 10; i++) {
        model = NULL;
        if (be->open(&host, &m, &model, err, sizeof err) != 0)
            fail_msg("open: %s", err);
        be->close(model);
    }
    assert_int_equal(cudaMemGetInfo(&free1, &total), cudaSuccess);
    print_message("# ten open/close cycles: free device memory %.1f -> %.1f MiB\n", free0 / 1048576.0,
                  free1 / 1048576.0);
    assert_true(free1 + ((size_t)16 << 20) >= free0);
    assert_int_equal(be->open(&host, &m, &model, err, sizeof err), 0);
    assert_int_equal(be->describe(model, &info, err, sizeof err), 0);
    assert_int_equal(info.input_w, 56);
    assert_int_equal(info.input_c, 3);
    assert_int_equal(info.classes, 1);
    assert_int_equal(info.max_batch, 2);
    assert_non_null(strstr(info.device, "cuda:0"));
    print_message("# device \"%s\", %.4f gflops\n", info.device, info.gflops);
    sz = (size_t)3 * 56 * 56;
    x = malloc(2 * sz * sizeof(float));
    assert_non_null(x);
    assert_int_equal(cu_letterbox_file(cu_shared_path("images", "person.jpg"), 56, 56, x, NULL), 0);
    assert_int_equal(cu_letterbox_file(cu_shared_path("images", "scream.jpg"), 56, 56, x + sz, NULL), 0);
    for (int b = 0; b < 2; b++) {
        out[b].capacity = 64;
        out[b].box = calloc(64 * 4, sizeof(float));
        out[b].objectness = calloc(64, sizeof(float));
        out[b].prob = calloc(64, sizeof(float));
    }
    assert_int_equal(plugin_infer(be, model, x, 2, 0.5f, out, err, sizeof err), 0);
    for (int b = 0; b < 2; b++)
        assert_true(out[b].count >= 1);
    assert_int_equal(plugin_infer(be, model, x, 3, 0.5f, out, err, sizeof err), VIGIA_EINVAL);
    assert_int_equal(plugin_infer(be, model, NULL, 1, 0.5f, out, err, sizeof err), VIGIA_EINVAL);
    out[0].capacity = 1;
    assert_int_equal(plugin_infer(be, model, x, 1, 0.01f, out, err, sizeof err), 0);
    assert_int_equal(out[0].count, 1);
    assert_int_equal(out[0].truncated, 1);
    be->close(model);
    be->close(NULL);
    for (int b = 0; b < 2; b++) {
        free(out[b].box);
        free(out[b].objectness);
        free(out[b].prob);
    }
    free(x);
    dlclose(dl);
}

/* ---- main ------------------------------------------------------------------------------------------------ */

static void skipped(void **state)
{
    (void)state;
}


#define MAX_TESTS 32

int main(int argc, char **argv)
{
    static struct CMUnitTest tests[MAX_TESTS];
    static char names[MAX_TESTS][640];
    static gcase cases[12];
    static char cfgs[12][512], wts[12][512];
    static const char *const models[] = {
        "yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1_body", "MobileNetV2-YOLOv3-Nano-coco",
        "yoloface-500k", "yoloface-50k",
    };
    char gpu_why[VIGIA_ERRLEN], no_gpu[VIGIA_ERRLEN + 64];
    const char *no_models = "# SKIP ../shared/models not found (set VIGIA_SHARED)";
    const char *no_debian = "# SKIP Debian darknet cfgs not installed";
    int n = 0, nc = 0, have_models = cu_file_exists(model_file("yoloface-50k", "weights"));
    int no_dev = vgcu_probe(0, gpu_why, sizeof gpu_why) != 0;

    (void)argc;
    snprintf(no_gpu, sizeof no_gpu, "# SKIP no CUDA device (%s)", gpu_why);
    if (cu_images_init(argv[0]) < 0)
        return 1;
#define ADD(fn, nm, st, skip_if, why)                                                   \
    do {                                                                                \
        snprintf(names[n], sizeof names[0], "%s%s%s", (nm), (skip_if) ? " " : "",      \
                 (skip_if) ? (why) : "");                                               \
        tests[n] = (struct CMUnitTest){ names[n], (skip_if) ? skipped : (fn), NULL,     \
                                        NULL, (st) };                                   \
        n++;                                                                            \
    } while (0)
#define ADD_GPU(fn, nm, st, missing, why) ADD(fn, nm, st, no_dev || (missing), no_dev ? no_gpu : (why))

    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++, nc++) {
        char nm[128];

        snprintf(cfgs[nc], sizeof cfgs[0], "%s", model_file(models[m], "cfg"));
        snprintf(wts[nc], sizeof wts[0], "%s", model_file(models[m], "weights"));
        cases[nc] = (gcase){ models[m], cfgs[nc], wts[nc], 0, 0, NIMAGES, 0.25f, { 0 } };
        snprintf(nm, sizeof nm, "gpu_equiv %s", models[m]);
        ADD_GPU(test_equiv, nm, &cases[nc], !have_models, no_models);
    }
    cases[nc] = (gcase){ "yolo-fastest-1.1-xl at 256x192", cfgs[1], wts[1], 256, 192, 2, 0.25f, { 0 } };
    ADD_GPU(test_equiv, "gpu_equiv yolo-fastest-1.1-xl at 256x192", &cases[nc], !have_models, no_models);
    nc++;
    cases[nc] = (gcase){ "yolov3-tiny (random weights)", TINY_CFG, NULL, 0, 0, 1, 0.5f, { 0 } };
    ADD_GPU(test_equiv, "gpu_equiv yolov3-tiny (random weights)", &cases[nc], !cu_file_exists(TINY_CFG), no_debian);
    nc++;
    cases[nc] = (gcase){ "yolov3 at 320x320 (random weights)", YOLOV3_CFG, NULL, 320, 320, 1, 0.5f, { 0 } };
    ADD_GPU(test_equiv, "gpu_equiv yolov3 at 320x320 (random weights)", &cases[nc], !cu_file_exists(YOLOV3_CFG),
            no_debian);
    nc++;
    ADD_GPU(test_all_layer_kinds, "gpu_all_layer_kinds", NULL, 0, "");
    ADD_GPU(test_variants, "gpu_variants", NULL, !have_models, no_models);
    ADD_GPU(test_batch, "gpu_batch", NULL, !have_models, no_models);
    ADD_GPU(test_many_candidates, "gpu_many_candidates", NULL, !cu_file_exists(YOLOV3_CFG), no_debian);
    ADD_GPU(test_repeat, "gpu_repeat", NULL, !have_models, no_models);
    ADD_GPU(test_plugin, "gpu_plugin_abi", NULL, !have_models, no_models);
    if (getenv("VGCU_TEST_FILTER"))
        cmocka_set_test_filter(getenv("VGCU_TEST_FILTER"));
    {
        int rc = _cmocka_run_group_tests("cuda_gpu", tests, (size_t)n, NULL, NULL);

        cu_images_shutdown();
        return rc;
    }
}
