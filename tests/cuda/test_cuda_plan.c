/*
 * tests/cuda/test_cuda_plan.c: the CUDA engine's plan (backends/cuda/plan.c)
 * run on the host (emul.c) against the CPU engine. Needs no GPU and no
 * CUDA: it builds and runs everywhere, and checks what the GPU path takes
 * from the plan:
 *
 * - emul_*: every model in ../shared/models on the shared images, Debian's
 *   yolov3-tiny with random weights: every layer's output within 1e-3 of
 *   the CPU engine's, candidates the same (1 px, 1e-3). This checks the
 *   weight layout and shapes handed to cuDNN, the arena offsets, and the
 *   arithmetic of every non-convolution kernel (kernels.h).
 * - all_layer_kinds: a small network with every layer and option the CPU
 *   engine has (mish, swish, relu6, route groups, several shortcut
 *   sources, shortcuts between sizes, alpha/beta, grouped and depthwise
 *   convolutions, maxpool 2/1 and 3/2, upsample scale, new_coords,
 *   scale_x_y) through both.
 * - arena: buffers whose lives overlap never overlap in memory; reused
 *   buffers give the same heads as one buffer per layer; batch 3 in a plan
 *   for 4 equals three batches of 1, bit for bit.
 * - candidates: the host's conversion of records into the ABI's candidate
 *   sets, fed the CPU engine's own heads, equals vgc_net_candidates() at
 *   every capacity (truncation, ties) and several thresholds.
 * - refusals: bad options, missing files, a network without heads.
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

#include "engine.h"
#include "plan.h"
#include "emul.h"
#include "cpu_util.h"
#include "cuda_check.h"

static const char *const image_names[] = {
    "dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg", "scream.jpg",
};
#define NIMAGES (int)(sizeof image_names / sizeof image_names[0])
#define TINY_CFG "/usr/share/darknet/cfg/yolov3-tiny.cfg"

static const char *model_file(const char *model, const char *ext)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];

    snprintf(b, sizeof bufs[0], "%s.%s", model, ext);
    return cu_shared_path("models", b);
}


static const char *layer_name(enum vgc_layer_type t)
{
    static const char *const names[] = { "conv", "maxpool", "route", "shortcut", "upsample", "dropout", "yolo" };

    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}


typedef struct equiv_case {
    const char *name;
    const char *cfg;          /* path */
    const char *weights;      /* path, or NULL for random weights */
    int images;               /* how many of the shared images */
    float thresh;
} equiv_case;

/*
 * The CPU engine (every output kept) and the emulated plan (every output
 * kept) on the same letterboxed images: every layer, then the candidates.
 */
static void run_equiv(const equiv_case *ec)
{
    char err[VIGIA_ERRLEN];
    vgc_options co = { .keep_outputs = 1, .no_weights = !ec->weights, .seed = 11 };
    vgcu_options go = { .keep_outputs = 1, .no_weights = !ec->weights, .seed = 11 };
    vgc_net *net = NULL;
    vgcu_plan *p = NULL;
    vgcu_cand_work work;
    float *arena, *x;
    const float **heads;
    double worst_layer = 0, worst_px = 0, worst_p = 0;
    int total = 0;

    if (vgc_net_load(&net, ec->cfg, ec->weights, &co, err, sizeof err) < 0)
        fail_msg("cpu engine: %s", err);
    if (vgcu_plan_create(&p, ec->cfg, ec->weights, &go, err, sizeof err) < 0)
        fail_msg("plan: %s", err);
    assert_int_equal(p->n, vgc_net_layers(net));
    assert_int_equal(p->max_cand, vgc_net_max_candidates(net));
    assert_true(fabs(p->flops - vgc_net_flops(net)) < 1);
    arena = calloc(p->arena_floats + 1, sizeof(float));
    x = malloc(p->in_size * sizeof(float));
    heads = calloc((size_t)p->nheads, sizeof *heads);
    assert_true(arena && x && heads);
    assert_int_equal(vgcu_cand_work_init(&work, p), 0);
    for (int im = 0; im < ec->images && im < NIMAGES; im++) {
        cu_geom g;
        cc_cands ref, got;
        int matched;
        double wpx, wp;
        char what[256];

        if (cu_letterbox_file(cu_shared_path("images", image_names[im]), p->w, p->h, x, &g) < 0)
            fail_msg("cannot decode %s", image_names[im]);
        assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
        vgcu_emul_forward(p, arena, x, 1);
        for (int i = 0; i < p->n; i++) {
            const vgc_layer *l = &p->layers[i].l;
            double e;
            size_t bad = cu_compare(vgc_net_output(net, i, 0), arena + p->layers[i].off, l->out_size, CC_TOL, &e);

            if (bad)
                fail_msg("%s, %s: layer %d (%s, cfg line %d) differs in %zu of %zu values (max err %.3g)",
                         ec->name, image_names[im], i, layer_name(l->type), l->line, bad, l->out_size, e);
            worst_layer = fmax(worst_layer, e);
        }
        cc_cands_init(&ref, p->max_cand, p->classes);
        cc_cands_init(&got, p->max_cand, p->classes);
        assert_int_equal(vgc_net_candidates(net, 0, ec->thresh, &ref.c, ref.index), 0);
        vgcu_emul_heads(p, arena, 0, heads);
        vgcu_candidates_host(p, heads, ec->thresh, &work, &got.c, got.index);
        snprintf(what, sizeof what, "%s, %s", ec->name, image_names[im]);
        if (cc_match(what, &g, p->classes, ec->thresh, &ref, &got, &matched, &wpx, &wp))
            fail_msg("%s: candidates differ", what);
        total += matched;
        worst_px = fmax(worst_px, wpx);
        worst_p = fmax(worst_p, wp);
        cc_cands_free(&ref);
        cc_cands_free(&got);
    }
    print_message("# %s: %d layers within %.2e, %d candidates, boxes within %.4f px, probabilities %.2e\n",
                  ec->name, p->n, worst_layer, total, worst_px, worst_p);
    vgcu_cand_work_release(&work);
    free(heads);
    free(x);
    free(arena);
    vgcu_plan_destroy(p);
    vgc_net_destroy(net);
}


static void test_equiv(void **state)
{
    run_equiv(*state);
}

/* ---- every layer kind ------------------------------------------------------------------------ */

static const char *write_cfg(const char *dir, const char *name, const char *text)
{
    static char path[4096];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    return path;
}


static void test_all_layer_kinds(void **state)
{
    const char *dir = cu_tmpdir();
    char err[VIGIA_ERRLEN];
    vgc_options co = { .keep_outputs = 1, .no_weights = 1, .seed = 5 };
    vgcu_options go = { .keep_outputs = 1, .no_weights = 1, .seed = 5 };
    vgc_net *net = NULL;
    vgcu_plan *p = NULL;
    float *arena, *x;
    double worst = 0;

    (void)state;
    assert_non_null(dir);
    write_cfg(dir, "all.cfg", cc_all_layers_cfg);
    {
        char cfg[4096];

        snprintf(cfg, sizeof cfg, "%s/all.cfg", dir);
        if (vgc_net_load(&net, cfg, NULL, &co, err, sizeof err) < 0)
            fail_msg("cpu engine: %s", err);
        if (vgcu_plan_create(&p, cfg, NULL, &go, err, sizeof err) < 0)
            fail_msg("plan: %s", err);
    }
    arena = calloc(p->arena_floats, sizeof(float));
    x = malloc(p->in_size * sizeof(float));
    assert_true(arena && x);
    for (size_t i = 0; i < p->in_size; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
    vgcu_emul_forward(p, arena, x, 1);
    for (int i = 0; i < p->n; i++) {
        const vgc_layer *l = &p->layers[i].l;
        double e;
        size_t bad = cu_compare(vgc_net_output(net, i, 0), arena + p->layers[i].off, l->out_size, 1e-4, &e);

        if (bad)
            fail_msg("layer %d (%s) differs in %zu of %zu values (max err %.3g)", i, layer_name(l->type), bad,
                     l->out_size, e);
        worst = fmax(worst, e);
    }
    {
        vgcu_cand_work work;
        const float *heads[2];
        cc_cands ref, got;
        int matched;
        double wpx, wp;

        assert_int_equal(p->nheads, 2);
        assert_int_equal(vgcu_cand_work_init(&work, p), 0);
        cc_cands_init(&ref, p->max_cand, p->classes);
        cc_cands_init(&got, p->max_cand, p->classes);
        assert_int_equal(vgc_net_candidates(net, 0, 0.05f, &ref.c, ref.index), 0);
        vgcu_emul_heads(p, arena, 0, heads);
        vgcu_candidates_host(p, heads, 0.05f, &work, &got.c, got.index);
        if (cc_match("all layer kinds", NULL, p->classes, 0.05f, &ref, &got, &matched, &wpx, &wp))
            fail_msg("candidates differ");
        assert_true(matched > 0);
        print_message("# all layer kinds: %d layers within %.2e, %d candidates (new_coords and scale_x_y heads)\n",
                      p->n, worst, matched);
        cc_cands_free(&ref);
        cc_cands_free(&got);
        vgcu_cand_work_release(&work);
    }
    free(arena);
    free(x);
    vgcu_plan_destroy(p);
    vgc_net_destroy(net);
    cu_rmtree(dir);
}

/* ---- the arena ---------------------------------------------------------------------------------- */

static void check_no_overlap(const vgcu_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *a = &p->layers[i];
        size_t asz = a->l.out_size * (size_t)p->max_batch;

        if (a->root != i)
            continue;
        assert_true(a->off + asz <= p->arena_floats);
        assert_int_equal(a->off % VGCU_ALIGN_FLOATS, 0);
        for (int j = i + 1; j < p->n; j++) {
            const vgcu_layer *b = &p->layers[j];
            size_t bsz = b->l.out_size * (size_t)p->max_batch;

            if (b->root != j || j > a->last_use)
                continue;
            /* alive together: [i, last_use(i)] contains j */
            if (a->off < b->off + bsz && b->off < a->off + asz)
                fail_msg("layers %d and %d are alive together but share arena floats", i, j);
        }
    }
}


static void test_arena(void **state)
{
    const char *cfg = model_file("yolo-fastest-1.1", "cfg"), *wts = model_file("yolo-fastest-1.1", "weights");
    char err[VIGIA_ERRLEN];
    vgcu_options keep = { .keep_outputs = 1, .max_batch = 4 }, reuse = { .max_batch = 4 };
    vgcu_plan *pk = NULL, *pr = NULL;
    float *ak, *ar, *a1, *x;
    const float *hk[8], *hr[8], *h1[8];

    (void)state;
    if (vgcu_plan_create(&pk, cfg, wts, &keep, err, sizeof err) < 0 ||
        vgcu_plan_create(&pr, cfg, wts, &reuse, err, sizeof err) < 0)
        fail_msg("plan: %s", err);
    check_no_overlap(pk);
    check_no_overlap(pr);
    assert_true(pr->arena_floats < pk->arena_floats);
    print_message("# yolo-fastest-1.1 at batch 4: arena %.1f MiB with reuse, %.1f MiB with every output kept\n",
                  pr->arena_floats * 4.0 / 1048576, pk->arena_floats * 4.0 / 1048576);
    assert_true(pk->nheads <= 8);
    ak = calloc(pk->arena_floats, sizeof(float));
    ar = calloc(pr->arena_floats, sizeof(float));
    a1 = calloc(pr->arena_floats, sizeof(float));
    x = malloc(3 * pk->in_size * sizeof(float));
    assert_true(ak && ar && a1 && x);
    for (int b = 0; b < 3; b++)
        if (cu_letterbox_file(cu_shared_path("images", image_names[b + 1]), pk->w, pk->h, x + b * pk->in_size, NULL) < 0)
            fail_msg("cannot decode %s", image_names[b + 1]);
    /* garbage in the reused arena must not matter */
    for (size_t i = 0; i < pr->arena_floats; i++)
        ar[i] = a1[i] = NAN;
    vgcu_emul_forward(pk, ak, x, 3);
    vgcu_emul_forward(pr, ar, x, 3);
    for (int b = 0; b < 3; b++) {
        vgcu_emul_forward(pr, a1, x + b * pr->in_size, 1);
        vgcu_emul_heads(pk, ak, b, hk);
        vgcu_emul_heads(pr, ar, b, hr);
        vgcu_emul_heads(pr, a1, 0, h1);
        for (int k = 0; k < pr->nheads; k++) {
            size_t n = 0;

            for (int i = 0; i < pr->n; i++)
                if (pr->layers[i].ordinal == k)
                    n = pr->layers[i].l.out_size;
            assert_memory_equal(hk[k], hr[k], n * sizeof(float));
            assert_memory_equal(hr[k], h1[k], n * sizeof(float));
        }
    }
    free(ak);
    free(ar);
    free(a1);
    free(x);
    vgcu_plan_destroy(pk);
    vgcu_plan_destroy(pr);
}

/* ---- candidates: records into candidate sets ------------------------------------------------------ */

static void test_candidates(void **state)
{
    const char *cfg = model_file("yolo-fastest-1.1-xl", "cfg"), *wts = model_file("yolo-fastest-1.1-xl", "weights");
    static const float threshes[] = { 0.001f, 0.05f, 0.25f, 0.5f, 0.9f };
    char err[VIGIA_ERRLEN];
    vgc_options co = { .max_batch = 1 };
    vgc_net *net = NULL;
    vgcu_plan *p = NULL;
    vgcu_cand_work work;
    float *x;
    const float *heads[8];
    int checked = 0;

    (void)state;
    if (vgc_net_load(&net, cfg, wts, &co, err, sizeof err) < 0 ||
        vgcu_plan_create(&p, cfg, wts, NULL, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_equal(vgcu_cand_work_init(&work, p), 0);
    x = malloc(p->in_size * sizeof(float));
    assert_non_null(x);
    assert_int_equal(cu_letterbox_file(cu_shared_path("images", "horses.jpg"), p->w, p->h, x, NULL), 0);
    assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
    /* the CPU engine's own heads, so both sides see the same numbers */
    for (int i = 0; i < p->n; i++)
        if (p->layers[i].ordinal >= 0)
            heads[p->layers[i].ordinal] = vgc_net_output(net, i, 0);
    for (size_t t = 0; t < sizeof threshes / sizeof threshes[0]; t++) {
        cc_cands all;
        uint32_t n;

        cc_cands_init(&all, p->max_cand, p->classes);
        assert_int_equal(vgc_net_candidates(net, 0, threshes[t], &all.c, all.index), 0);
        n = all.c.count;
        cc_cands_free(&all);
        for (uint32_t cap = 0; cap <= n + 1; cap += cap < 8 ? 1 : (n / 7 + 1)) {
            cc_cands ref, got;

            cc_cands_init(&ref, (int)cap, p->classes);
            cc_cands_init(&got, (int)cap, p->classes);
            assert_int_equal(vgc_net_candidates(net, 0, threshes[t], &ref.c, ref.index), 0);
            vgcu_candidates_host(p, heads, threshes[t], &work, &got.c, got.index);
            assert_int_equal(got.c.count, ref.c.count);
            assert_int_equal(got.c.truncated, ref.c.truncated);
            assert_memory_equal(got.index, ref.index, ref.c.count * sizeof(uint32_t));
            assert_memory_equal(got.c.objectness, ref.c.objectness, ref.c.count * sizeof(float));
            assert_memory_equal(got.c.prob, ref.c.prob, (size_t)ref.c.count * p->classes * sizeof(float));
            for (uint32_t i = 0; i < 4 * ref.c.count; i++)
                assert_true(fabsf(got.c.box[i] - ref.c.box[i]) <= 1e-6f * fmaxf(1, fabsf(ref.c.box[i])));
            checked++;
            cc_cands_free(&ref);
            cc_cands_free(&got);
        }
        print_message("# threshold %.3f: %u candidates, every capacity from 0 to %u agrees\n", threshes[t], n, n + 1);
    }
    assert_true(checked > 20);
    free(x);
    vgcu_cand_work_release(&work);
    vgcu_plan_destroy(p);
    vgc_net_destroy(net);
}

/* ---- refusals ---------------------------------------------------------------------------------------- */

static void test_refusals(void **state)
{
    const char *dir = cu_tmpdir();
    char err[VIGIA_ERRLEN], cfg[4096];
    vgcu_plan *p = NULL;
    vgcu_options o = { 0 };

    (void)state;
    assert_non_null(dir);
    assert_int_equal(vgcu_plan_create(&p, "/nonexistent.cfg", "/nonexistent.weights", NULL, err, sizeof err),
                     VIGIA_ENOENT);
    assert_null(p);
    assert_int_equal(vgcu_plan_create(&p, model_file("yoloface-50k", "cfg"), "/nonexistent.weights", NULL, err,
                                      sizeof err), VIGIA_ENOENT);
    assert_int_equal(vgcu_plan_create(&p, model_file("yoloface-50k", "cfg"), model_file("yoloface-500k", "weights"),
                                      NULL, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "belongs to another cfg"));
    o.max_batch = VGCU_MAX_BATCH + 1;
    assert_int_equal(vgcu_plan_create(&p, model_file("yoloface-50k", "cfg"), model_file("yoloface-50k", "weights"),
                                      &o, err, sizeof err), VIGIA_EINVAL);
    o.max_batch = 64;
    o.max_bytes = 1 << 20;
    assert_int_equal(vgcu_plan_create(&p, model_file("yoloface-50k", "cfg"), model_file("yoloface-50k", "weights"),
                                      &o, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "device memory"));
    print_message("# %s\n", err);
    snprintf(cfg, sizeof cfg, "%s/nohead.cfg", dir);
    write_cfg(dir, "nohead.cfg", "[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=4\nsize=3\npad=1\n");
    o = (vgcu_options){ .no_weights = 1 };
    assert_int_equal(vgcu_plan_create(&p, cfg, NULL, &o, err, sizeof err), VIGIA_ENOTSUP);
    write_cfg(dir, "gray.cfg", "[net]\nwidth=32\nheight=32\nchannels=1\n[convolutional]\nfilters=7\nsize=1\n"
                               "[yolo]\nmask=0\nanchors=1,1\nnum=1\nclasses=2\n");
    snprintf(cfg, sizeof cfg, "%s/gray.cfg", dir);
    assert_int_equal(vgcu_plan_create(&p, cfg, NULL, &o, err, sizeof err), VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "channels"));
    write_cfg(dir, "lstm.cfg", "[net]\nwidth=32\nheight=32\nchannels=3\n[lstm]\noutput=4\n");
    snprintf(cfg, sizeof cfg, "%s/lstm.cfg", dir);
    assert_int_equal(vgcu_plan_create(&p, cfg, NULL, &o, err, sizeof err), VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "line 5"));
    assert_null(p);
    vgcu_plan_destroy(NULL);
    cu_rmtree(dir);
}

/* ---- main ---------------------------------------------------------------------------------------------- */

static void skipped(void **state)
{
    (void)state;
}


#define MAX_TESTS 24

int main(int argc, char **argv)
{
    static struct CMUnitTest tests[MAX_TESTS];
    static char names[MAX_TESTS][256];
    static equiv_case cases[8];
    static char cfgs[8][512], wts[8][512];
    static const char *const models[] = {
        "yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1_body", "MobileNetV2-YOLOv3-Nano-coco",
        "yoloface-500k", "yoloface-50k",
    };
    const char *no_models = "# SKIP ../shared/models not found (set VIGIA_SHARED)";
    int n = 0, nc = 0, have_models = cu_file_exists(model_file("yoloface-50k", "weights"));

    (void)argc;
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

    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++, nc++) {
        char nm[128];

        snprintf(cfgs[nc], sizeof cfgs[0], "%s", model_file(models[m], "cfg"));
        snprintf(wts[nc], sizeof wts[0], "%s", model_file(models[m], "weights"));
        cases[nc] = (equiv_case){ models[m], cfgs[nc], wts[nc], m < 2 ? NIMAGES : 2, 0.25f };
        snprintf(nm, sizeof nm, "emul %s", models[m]);
        ADD(test_equiv, nm, &cases[nc], !have_models, no_models);
    }
    cases[nc] = (equiv_case){ "yolov3-tiny (random weights)", TINY_CFG, NULL, 1, 0.5f };
    ADD(test_equiv, "emul yolov3-tiny (random weights)", &cases[nc], !cu_file_exists(TINY_CFG),
        "# SKIP Debian darknet cfgs not installed");
    nc++;
    ADD(test_all_layer_kinds, "all_layer_kinds", NULL, 0, "");
    ADD(test_arena, "arena_reuse_and_batch", NULL, !have_models, no_models);
    ADD(test_candidates, "candidates_order_and_truncation", NULL, !have_models, no_models);
    ADD(test_refusals, "refusals", NULL, !have_models, no_models);
    if (getenv("VGCU_TEST_FILTER"))
        cmocka_set_test_filter(getenv("VGCU_TEST_FILTER"));
    {
        int rc = _cmocka_run_group_tests("cuda_plan", tests, (size_t)n, NULL, NULL);

        cu_images_shutdown();
        return rc;
    }
}
