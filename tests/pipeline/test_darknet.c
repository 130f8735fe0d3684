/*
 * test_darknet: the darknet backend through vigia's own pipeline (libvips
 * decode, letterbox (`resize = letterbox`), postprocess) against libdarknet's complete detector
 * path (darknet-ref), on every image of ../shared/images and every shared
 * model whose cfg has no scale_x_y other than 1: same letterboxed tensor
 * bit for bit, same detections (label, confidence to 1e-3, box to 1 px).
 * Also checks the figures of ../shared/models/README.md for dog.jpg.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "pipeline/detector.h"
#include "pipeline/image.h"
#include "pipeline/model.h"
#include "pt.h"

#define MAXDET 256
#define MAXIMG 16

typedef struct rdet {
    int cls;
    float prob;
    int l, t, r, b;
} rdet;

typedef struct rimg {
    char path[PATH_MAX];
    int w, h;
    unsigned long long tensor;
    rdet d[MAXDET];
    int n;
} rimg;

static const char *images[] = { "dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg",
                                "person.jpg", "scream.jpg" };
#define NIMAGES (sizeof images / sizeof images[0])


static const char *
built(const char *rel)
{
    static char p[4][PATH_MAX];
    static int slot;
    char *o = p[slot++ % 4];
    const char *b = getenv("VIGIA_BUILDDIR");
    snprintf(o, PATH_MAX, "%s/%s", b && *b ? b : VIGIA_BUILDDIR, rel);
    return o;
}


static uint64_t
fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}


/* Runs darknet-ref on every image; returns how many images it answered. */
static int
reference(const char *cfg, const char *weights, rimg *out)
{
    char cmd[8192];
    int o = snprintf(cmd, sizeof cmd, "QT_QPA_PLATFORM=offscreen '%s' '%s' '%s' 0.25", built("tests/pipeline/darknet-ref"),
                 cfg, weights);
    for (size_t i = 0; i < NIMAGES; i++)
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, " '%s/images/%s'", pt_shared(), images[i]);
    snprintf(cmd + o, sizeof cmd - (size_t)o, " 2>/dev/null");
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    char line[1024];
    int k = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "image ", 6) == 0 && k + 1 < MAXIMG) {
            k++;
            memset(&out[k], 0, sizeof out[k]);
            sscanf(line + 6, "%4095s %d %d", out[k].path, &out[k].w, &out[k].h);
        } else if (k >= 0 && strncmp(line, "tensor ", 7) == 0) {
            sscanf(line + 7, "%llx", &out[k].tensor);
        } else if (k >= 0 && strncmp(line, "det ", 4) == 0 && out[k].n < MAXDET) {
            rdet *d = &out[k].d[out[k].n++];
            sscanf(line + 4, "%d %f %d %d %d %d", &d->cls, &d->prob, &d->l, &d->t, &d->r, &d->b);
        }
    }
    pclose(f);
    return k + 1;
}


/* Matches ours against the reference; fails with a readable message. */
static void
compare(const char *model, const rimg *ref, const vg_detect_result *res, const vg_model *m)
{
    if (res->status != 0)
        fail_msg("%s %s: %s", model, ref->path, res->err);
    assert_int_equal(res->w, ref->w);
    assert_int_equal(res->h, ref->h);
    if ((int)res->n != ref->n)
        fail_msg("%s %s: %zu detections, darknet has %d", model, ref->path, res->n, ref->n);
    int used[MAXDET] = { 0 };
    for (int i = 0; i < ref->n; i++) {
        const rdet *r = &ref->d[i];
        int hit = -1;
        for (size_t k = 0; k < res->n && hit < 0; k++) {
            const vg_detection *d = &res->dets[k];
            if (used[k] || d->class_id != r->cls || fabsf(d->confidence - r->prob) > 1e-3f)
                continue;
            if (abs(d->x_min - r->l) > 1 || abs(d->y_min - r->t) > 1 || abs(d->x_max - r->r) > 1 ||
                abs(d->y_max - r->b) > 1)
                continue;
            hit = (int)k;
        }
        if (hit < 0)
            fail_msg("%s %s: darknet's %s %.4f [%d %d %d %d] has no match", model, ref->path,
                     m->labels[r->cls], r->prob, r->l, r->t, r->r, r->b);
        used[hit] = 1;
    }
}


static void
run_model(const char *name, const char *names_file)
{
    char cfg[PATH_MAX + 128], weights[PATH_MAX + 128], names[PATH_MAX + 128], err[512];
    snprintf(cfg, sizeof cfg, "%s/models/%s.cfg", pt_shared(), name);
    snprintf(weights, sizeof weights, "%s/models/%s.weights", pt_shared(), name);
    snprintf(names, sizeof names, "%s/models/%s", pt_shared(), names_file);
    const char *plugin = built("backends/darknet/vigia-backend-darknet.so");
    if (access(cfg, R_OK) || access(weights, R_OK) || access(plugin, R_OK) ||
        access(built("tests/pipeline/darknet-ref"), X_OK)) {
        print_message("# %s: model files, the darknet backend or darknet-ref missing\n", name);
        skip();
        return;
    }
    static rimg ref[MAXIMG];
    int nref = reference(cfg, weights, ref);
    assert_int_equal(nref, (int)NIMAGES);

    char *dir = pt_tmpdir("dn");
    char conf[4 * PATH_MAX + 512];
    /*
     * nms_kind = default: darknet-ref runs libdarknet 2018's do_nms_sort
     * (plain IoU), while these cfgs ask for AlexeyAB's greedynms (DIoU),
     * which vigia honours by default.
     */
    snprintf(conf, sizeof conf, "backend = %s\ncfg = %s\nweights = %s\nresize = letterbox\nnms_kind = default\n",
             plugin, cfg, weights);
    char labels[64 * 1024];
    size_t ln = 0;
    uint8_t *lb = pt_read(names, &ln);
    assert_non_null(lb);
    assert_true(ln < sizeof labels);
    memcpy(labels, lb, ln);
    labels[ln] = '\0';
    free(lb);
    assert_int_equal(pt_make_model(dir, name, labels, conf), 0);
    char mdir[PATH_MAX + 128];
    snprintf(mdir, sizeof mdir, "%s/%s", dir, name);
    vg_model *m;
    if (vg_model_load(mdir, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    vg_detector *d;
    /* full decode: libdarknet decodes every image at full size */
    vg_detector_options o = { .limits = { 1u << 26, 100000000, 20000 }, .full_decode = 1 };
    if (vg_detector_open(m, &o, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(vg_detector_backend(d), "darknet");
    const vigia_model_info *info = vg_detector_info(d);
    float *tensor = malloc(sizeof(float) * 3 * (size_t)info->input_w * info->input_h);
    for (size_t i = 0; i < NIMAGES; i++) {
        size_t n = 0;
        uint8_t *img = pt_read(ref[i].path, &n);
        assert_non_null(img);
        /* the tensor, bit for bit */
        vg_image im;
        assert_int_equal(vg_image_decode(img, n, &o.limits, &im, err, sizeof err), 0);
        assert_int_equal(vg_image_letterbox(&im, info->input_w, info->input_h, tensor), 0);
        unsigned long long h = fnv1a(tensor, sizeof(float) * 3 * (size_t)info->input_w * info->input_h);
        if (h != ref[i].tensor)
            fail_msg("%s %s: letterboxed tensor differs from darknet's", name, images[i]);
        vg_image_release(&im);
        /* the detections */
        vg_detect_input in = { .image = img, .len = n, .threshold = 0.25f, .nms = 0.45f };
        vg_detect_result res;
        assert_int_equal(vg_detector_run(d, 1, &in, &res), 0);
        compare(name, &ref[i], &res, m);
        print_message("# %s %s: %zu detections match darknet\n", name, images[i], res.n);
        vg_detect_result_release(&res);
        free(img);
    }
    free(tensor);
    vg_detector_close(d);
    vg_model_destroy(m);
    pt_rmtree(dir);
}


static void test_fastest(void **state) { (void)state; run_model("yolo-fastest-1.1", "coco.names"); }
static void test_fastest_xl(void **state) { (void)state; run_model("yolo-fastest-1.1-xl", "coco.names"); }
static void test_body(void **state) { (void)state; run_model("yolo-fastest-1.1_body", "body.names"); }
static void test_face500k(void **state) { (void)state; run_model("yoloface-500k", "face.names"); }
static void test_face50k(void **state) { (void)state; run_model("yoloface-50k", "face.names"); }


/* ../shared/models/README.md: "darknet detector test ... dog.jpg -thresh 0.25" */
static void
readme_case(const char *name, const char *const *expect, size_t nexpect)
{
    char cfg[PATH_MAX + 128], weights[PATH_MAX + 128], err[512];
    snprintf(cfg, sizeof cfg, "%s/models/%s.cfg", pt_shared(), name);
    snprintf(weights, sizeof weights, "%s/models/%s.weights", pt_shared(), name);
    const char *plugin = built("backends/darknet/vigia-backend-darknet.so");
    const char *coco = pt_shared_file("models/coco.names");
    const char *dog = pt_shared_file("images/dog.jpg");
    if (access(cfg, R_OK) || access(plugin, R_OK) || !coco || !dog) {
        skip();
        return;
    }
    char *dir = pt_tmpdir("readme");
    char conf[4 * PATH_MAX + 512], labels[8192];
    size_t ln = 0;
    uint8_t *lb = pt_read(coco, &ln);
    memcpy(labels, lb, ln);
    labels[ln] = '\0';
    free(lb);
    /* no `resize`: the cfg says stretch (no letter_box), but libdarknet only letterboxes */
    /* nms_kind = default: the README's figures come from pjreddie's darknet, whose NMS is plain IoU */
    snprintf(conf, sizeof conf, "backend = %s\ncfg = %s\nweights = %s\nnms_kind = default\n", plugin, cfg, weights);
    assert_int_equal(pt_make_model(dir, name, labels, conf), 0);
    char mdir[PATH_MAX + 128];
    snprintf(mdir, sizeof mdir, "%s/%s", dir, name);
    vg_model *m;
    assert_int_equal(vg_model_load(mdir, &m, err, sizeof err), 0);
    assert_int_equal(m->resize, VG_RESIZE_STRETCH);
    vg_detector *d;
    assert_int_equal(vg_detector_open(m, NULL, &d, err, sizeof err), 0);
    assert_string_equal(vg_detector_resize(d), "letterbox");
    assert_string_equal(vg_detector_resize_why(d), "backend darknet only letterboxes");
    size_t n = 0;
    uint8_t *img = pt_read(dog, &n);
    vg_detect_input in = { .image = img, .len = n, .threshold = 0.25f, .nms = 0.45f };
    vg_detect_result res;
    assert_int_equal(vg_detector_run(d, 1, &in, &res), 0);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, nexpect);
    int used[32] = { 0 };
    for (size_t i = 0; i < nexpect; i++) {
        int found = 0;
        for (size_t k = 0; k < res.n && !found; k++) {
            char s[64];
            snprintf(s, sizeof s, "%s: %.0f%%", res.dets[k].label, res.dets[k].confidence * 100);
            if (!used[k] && strcmp(s, expect[i]) == 0)
                used[k] = found = 1;
        }
        if (!found)
            fail_msg("%s dog.jpg: README's '%s' not found", name, expect[i]);
    }
    vg_detect_result_release(&res);
    free(img);
    vg_detector_close(d);
    vg_model_destroy(m);
    pt_rmtree(dir);
}


static void
test_readme(void **state)
{
    (void)state;
    static const char *const xl[] = { "dog: 94%", "cat: 45%", "dog: 35%", "car: 88%", "truck: 26%", "bicycle: 86%" };
    readme_case("yolo-fastest-1.1-xl", xl, 6);
    static const char *const f[] = { "dog: 61%", "bicycle: 43%", "cat: 28%", "car: 54%", "car: 37%", "bicycle: 60%" };
    readme_case("yolo-fastest-1.1", f, 6);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme),
        cmocka_unit_test(test_fastest_xl),
        cmocka_unit_test(test_fastest),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_face500k),
        cmocka_unit_test(test_face50k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
