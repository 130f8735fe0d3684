/*
 * test_abi: the backend contract as the host keeps it (ABI 2): versions,
 * the ABI 1 compatibility path (the ABI 1 template built from the ABI 1
 * header), typed manifest access and declared keys, and what a model may
 * describe (input tensors, tasks, outputs) and answer (transient,
 * permanent and per-image failures), with the abi2be plugin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pt.h"

#include "base/error.h"
#include "pipeline/backend_loader.h"
#include "pipeline/detector.h"
#include "pipeline/model.h"
#include "pipeline/rawimg.h"

static char dir[PATH_MAX];


static const char *
builddir(void)
{
    const char *b = getenv("VIGIA_BUILDDIR");
    return b && *b ? b : ".";
}


static const char *
srcdir(void)
{
    const char *s = getenv("VIGIA_SRCDIR");
    return s && *s ? s : ".";
}


/* A model directory NAME under dir/ with the template example's files and `extra` appended to model.conf. */
static void
example_model(const char *name, const char *backend, const char *extra, char *out, size_t outlen)
{
    char path[PATH_MAX + 64], text[2048];
    snprintf(out, outlen, "%s/%s", dir, name);
    mkdir(out, 0755);
    const char *files[] = { "colours.weights", "colours.names" };
    for (int i = 0; i < 2; i++) {
        char src[PATH_MAX];
        size_t n = 0;
        snprintf(src, sizeof src, "%s/plugins/template/example/%s", srcdir(), files[i]);
        uint8_t *b = pt_read(src, &n);
        assert_non_null(b);
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        assert_int_equal(pt_write(path, b, n), 0);
        free(b);
    }
    snprintf(text, sizeof text, "[model]\nbackend = %s\nweights = colours.weights\nnames = colours.names\n"
             "width = 128\nheight = 128\nthreshold = 0.5\n%s", backend, extra);
    snprintf(path, sizeof path, "%s/model.conf", out);
    assert_int_equal(pt_write(path, text, strlen(text)), 0);
}


/* A raw 200x100 RGB image: grey, a red square at (20..79, 20..79), a blue one at (120..179, 10..49). */
static uint8_t *
test_image(size_t *len)
{
    vg_rawimg_desc d = { .dtype = VG_RAWIMG_U8, .layout = VG_RAWIMG_HWC, .w = 200, .h = 100, .scale = 1 };
    *len = VG_RAWIMG_HEADER + vg_rawimg_data_size(&d);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    vg_rawimg_header(&d, b);
    uint8_t *px = b + VG_RAWIMG_HEADER;
    for (int y = 0; y < 100; y++)
        for (int x = 0; x < 200; x++) {
            uint8_t *p = px + ((size_t)y * 200 + x) * 3;
            int red = x >= 20 && x < 80 && y >= 20 && y < 80, blue = x >= 120 && x < 180 && y >= 10 && y < 50;
            p[0] = red ? 230 : blue ? 40 : 128;
            p[1] = red ? 30 : blue ? 60 : 128;
            p[2] = red ? 30 : blue ? 220 : 128;
        }
    return b;
}


static void
detect(const char *model_dir, vg_detect_result *r, char *why, size_t whylen)
{
    vg_model *m = NULL;
    vg_detector *d = NULL;
    char err[1024];
    size_t len;
    assert_int_equal(vg_model_load(model_dir, &m, err, sizeof err), 0);
    if (vg_detector_open(m, NULL, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    snprintf(why, whylen, "%s", vg_detector_why(d));
    uint8_t *img = test_image(&len);
    vg_detect_input in = { .image = img, .len = len, .threshold = -1, .nms = -1 };
    assert_int_equal(vg_detector_run(d, 1, &in, r), 0);
    free(img);
    vg_detector_close(d);
    vg_model_destroy(m);
}


/* The ABI 1 template, built from the ABI 1 header, answers as the ABI 2 template does. */
static void
test_abi1_template(void **state)
{
    (void)state;
    char m1[PATH_MAX + 32], m2[PATH_MAX + 32], be1[PATH_MAX], be2[PATH_MAX], why[512];
    snprintf(be1, sizeof be1, "%s/tests/pipeline/vigia-backend-abi1tpl.so", builddir());
    snprintf(be2, sizeof be2, "%s/plugins/template/vigia-backend-template.so", builddir());
    char *a1 = realpath(be1, NULL), *a2 = realpath(be2, NULL);
    assert_non_null(a1);
    assert_non_null(a2);
    example_model("tpl1", a1, "", m1, sizeof m1);
    example_model("tpl2", a2, "", m2, sizeof m2);

    vg_backend *be = NULL;
    char err[512];
    assert_int_equal(vg_backend_load(NULL, a1, &be, err, sizeof err), 0);
    assert_int_equal(be->abi_major, 1);
    assert_non_null(be->abi1);
    assert_string_equal(be->table.name, "template");
    vg_backend_unload(be);

    vg_detect_result r1, r2;
    detect(m1, &r1, why, sizeof why);
    detect(m2, &r2, why, sizeof why);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r2.status, 0);
    assert_int_equal(r1.n, 2);
    assert_int_equal(r2.n, r1.n);
    for (size_t i = 0; i < r1.n; i++) {
        assert_int_equal(r1.dets[i].class_id, r2.dets[i].class_id);
        assert_int_equal(r1.dets[i].x_min, r2.dets[i].x_min);
        assert_int_equal(r1.dets[i].y_min, r2.dets[i].y_min);
        assert_int_equal(r1.dets[i].x_max, r2.dets[i].x_max);
        assert_int_equal(r1.dets[i].y_max, r2.dets[i].y_max);
        assert_true(r1.dets[i].confidence == r2.dets[i].confidence);
    }
    vg_detect_result_release(&r1);
    vg_detect_result_release(&r2);
    free(a1);
    free(a2);
}


/* Same major, any minor: accepted; another major: refused; a short table: refused. */
static void
test_versions(void **state)
{
    (void)state;
    vg_backend *be = NULL;
    char err[512], path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plugins/template/vigia-backend-template.so", builddir());
    char *abs = realpath(path, NULL);
    assert_non_null(abs);
    assert_int_equal(vg_backend_load(NULL, abs, &be, err, sizeof err), 0);
    assert_int_equal(be->abi_major, VIGIA_BACKEND_ABI_MAJOR);
    assert_null(be->abi1);
    vigia_backend t = be->table;
    t.abi_version = VIGIA_ABI(VIGIA_BACKEND_ABI_MAJOR, 9);
    assert_int_equal(vg_backend_check(&t, err, sizeof err), 0);
    t.abi_version = VIGIA_ABI(VIGIA_BACKEND_ABI_MAJOR + 1, 0);
    assert_int_equal(vg_backend_check(&t, err, sizeof err), VG_E_NOBACKEND);
    assert_non_null(strstr(err, "ABI 3.0"));
    t.abi_version = VIGIA_BACKEND_ABI_VERSION;
    t.struct_size = offsetof(vigia_backend, close);
    assert_int_equal(vg_backend_check(&t, err, sizeof err), VG_E_NOBACKEND);
    t.struct_size = sizeof t;
    static const char *const bad_keys[] = { "ok", "Not.Ok", NULL };
    t.keys = bad_keys;
    assert_int_equal(vg_backend_check(&t, err, sizeof err), VG_E_NOBACKEND);
    assert_int_equal(VIGIA_ABI_MAJOR(1u), 1);
    assert_int_equal(VIGIA_ABI_MINOR(1u), 0);
    assert_int_equal(VIGIA_ABI_MAJOR(VIGIA_ABI(2, 3)), 2);
    assert_int_equal(VIGIA_ABI_MINOR(VIGIA_ABI(2, 3)), 3);
    vg_backend_unload(be);
    free(abs);
}


/* Typed getters: values, defaults, and errors naming file, line and key. */
static void
test_typed_getters(void **state)
{
    (void)state;
    char mdir[PATH_MAX + 32], err[1024];
    example_model("typed", "template", "devices = 0, 2,5\n[x]\nn = 12\nbad = 12a\nf = 0.5\nyes = On\nno = 0\n"
                  "maybe = perhaps\nmode = fast\n", mdir, sizeof mdir);
    vg_model *m = NULL;
    assert_int_equal(vg_model_load(mdir, &m, err, sizeof err), 0);
    long long i;
    double f;
    int b;
    const char *s;
    static const char *const modes[] = { "fast", "slow", NULL };
    assert_int_equal(vg_model_get_int(m, "x.n", 0, 100, 7, &i, err, sizeof err), 0);
    assert_int_equal(i, 12);
    assert_int_equal(vg_model_get_int(m, "x.absent", 0, 100, 7, &i, err, sizeof err), 0);
    assert_int_equal(i, 7);
    assert_int_equal(vg_model_get_int(m, "x.n", 0, 10, 7, &i, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "model.conf:10: x.n: must be an integer in [0, 10], not '12'"));
    assert_int_equal(vg_model_get_int(m, "x.bad", 0, 100, 7, &i, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "model.conf:11: x.bad:"));
    assert_int_equal(vg_model_get_float(m, "x.f", 0, 1, 0, &f, err, sizeof err), 0);
    assert_true(f == 0.5);
    assert_int_equal(vg_model_get_float(m, "x.f", 0.6, 1, 0, &f, err, sizeof err), VG_E_MANIFEST);
    assert_int_equal(vg_model_get_bool(m, "x.yes", 0, &b, err, sizeof err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(vg_model_get_bool(m, "x.no", 1, &b, err, sizeof err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(vg_model_get_bool(m, "x.maybe", 1, &b, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "model.conf:15: x.maybe: must be true or false"));
    assert_int_equal(vg_model_get_string(m, "x.mode", modes, "slow", &s, err, sizeof err), 0);
    assert_string_equal(s, "fast");
    assert_int_equal(vg_model_get_string(m, "x.f", modes, "slow", &s, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "x.f: must be one of fast, slow, not '0.5'"));
    assert_int_equal(vg_model_get_string(m, "x.none", modes, "slow", &s, err, sizeof err), 0);
    assert_string_equal(s, "slow");
    /* the manifest a plugin gets calls the same, with the ABI's code */
    vigia_manifest man;
    vg_backend_manifest(m, 4, &man);
    assert_int_equal(man.struct_size, sizeof man);
    assert_int_equal(man.worker, 4);
    assert_int_equal(man.device, 2);                 /* devices 0, 2, 5: worker 4 -> 4 mod 3 = 1 */
    assert_int_equal(man.get_int(&man, "x.n", 0, 10, 7, &i, err, sizeof err), VIGIA_EINVAL);
    assert_string_equal(man.get(&man, "x.mode"), "fast");
    assert_int_equal(vg_model_device(m, 3), 0);
    vg_model_destroy(m);
    example_model("typed2", "template", "devices = 0,x\n", mdir, sizeof mdir);
    assert_int_equal(vg_model_load(mdir, &m, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "model.conf:8: devices:"));
}


/* A key the backend does not declare in its section is refused at load, naming file, line and key. */
static void
test_declared_keys(void **state)
{
    (void)state;
    char mdir[PATH_MAX + 32], path[PATH_MAX], err[1024], why[512];
    snprintf(path, sizeof path, "%s/plugins/template/vigia-backend-template.so", builddir());
    char *abs = realpath(path, NULL);
    assert_non_null(abs);
    example_model("keys", abs, "[template]\ncel = 16\n", mdir, sizeof mdir);
    vg_model *m = NULL;
    vg_detector *d = NULL;
    assert_int_equal(vg_model_load(mdir, &m, err, sizeof err), 0);   /* the master cannot know a plugin's keys */
    assert_int_equal(vg_detector_open(m, NULL, &d, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "model.conf:9: template.cel: unknown key 'cel' in [template] (backend template "
                            "reads cell)"));
    vg_model_destroy(m);
    /* a declared key with a bad value: the typed getter's message comes back from open() */
    example_model("keys", abs, "[template]\ncell = 3\n", mdir, sizeof mdir);
    assert_int_equal(vg_model_load(mdir, &m, err, sizeof err), 0);
    assert_int_equal(vg_detector_open(m, NULL, &d, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "model.conf:9: template.cell: must be an integer in [4, 64], not '3'"));
    vg_model_destroy(m);
    /* and a good one is used: 16-pixel cells still find both squares */
    example_model("keys", abs, "[template]\ncell = 16\n", mdir, sizeof mdir);
    vg_detect_result r;
    detect(mdir, &r, why, sizeof why);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 2);
    vg_detect_result_release(&r);
    free(abs);
}


/* ---- what ABI 2 lets a model say and do (abi2be) ------------------------------ */

/* A model of abi2be with `keys` in its [abi2be] section and `extra` in [model]; `names`: with a names file. */
static vg_model *
abi2_model_names(const char *extra, const char *keys, int names)
{
    char mdir[PATH_MAX + 32], path[PATH_MAX + 64], text[2048], so[PATH_MAX], err[1024];
    snprintf(so, sizeof so, "%s/tests/pipeline/vigia-backend-abi2be.so", builddir());
    char *abs = realpath(so, NULL);
    assert_non_null(abs);
    snprintf(mdir, sizeof mdir, "%s/abi2", dir);
    mkdir(mdir, 0755);
    snprintf(path, sizeof path, "%s/colours.names", mdir);
    assert_int_equal(pt_write(path, "red\nblue\n", 9), 0);
    snprintf(text, sizeof text, "[model]\nbackend = %s\n%swidth = 64\nheight = 64\nbatch = 4\n"
             "threshold = 0.5\n%s[abi2be]\n%s", abs, names ? "names = colours.names\n" : "", extra, keys);
    snprintf(path, sizeof path, "%s/model.conf", mdir);
    assert_int_equal(pt_write(path, text, strlen(text)), 0);
    free(abs);
    vg_model *m = NULL;
    if (vg_model_load(mdir, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    return m;
}


static vg_model *
abi2_model(const char *extra, const char *keys)
{
    return abi2_model_names(extra, keys, 1);
}


/* A raw w x h image of one colour. */
static uint8_t *
solid_image(int w, int h, uint8_t r, uint8_t g, uint8_t b, size_t *len)
{
    vg_rawimg_desc d = { .dtype = VG_RAWIMG_U8, .layout = VG_RAWIMG_HWC, .w = (uint32_t)w, .h = (uint32_t)h,
                         .scale = 1 };
    *len = VG_RAWIMG_HEADER + vg_rawimg_data_size(&d);
    uint8_t *img = malloc(*len);
    assert_non_null(img);
    vg_rawimg_header(&d, img);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        img[VG_RAWIMG_HEADER + 3 * i] = r;
        img[VG_RAWIMG_HEADER + 3 * i + 1] = g;
        img[VG_RAWIMG_HEADER + 3 * i + 2] = b;
    }
    return img;
}


/* Runs n images (red, blue, red, ... of w x h, or the given bytes) through a detector of m. */
static int
run_images(vg_detector *d, size_t n, int w, int h, const uint8_t *bytes, size_t blen, vg_detect_result *r)
{
    uint8_t *img[4] = { NULL };
    vg_detect_input in[4] = { { 0 } };
    assert_true(n >= 1 && n <= 4);
    for (size_t i = 0; i < n; i++) {
        size_t len = blen;
        img[i] = bytes ? NULL : solid_image(w, h, i % 2 ? 20 : 230, 30, i % 2 ? 220 : 20, &len);
        in[i] = (vg_detect_input){ .image = bytes ? bytes : img[i], .len = len, .threshold = -1, .nms = -1 };
    }
    int rc = vg_detector_run(d, n, in, r);
    for (size_t i = 0; i < n; i++)
        free(img[i]);
    return rc;
}


static vg_detector *
open_detector(const vg_model *m, int worker)
{
    vg_detector *d = NULL;
    char err[1024];
    vg_detector_options o = { .worker = worker };
    if (vg_detector_open(m, &o, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    return d;
}


/* The tensor the backend asked for reaches it: a BGR or normalised read gives the colour back. */
static void
test_input_descriptors(void **state)
{
    (void)state;
    const char *inputs[] = { "f32", "u8_nhwc_bgr", "meanstd_nhwc" };
    for (size_t k = 0; k < 3; k++) {
        char keys[64];
        snprintf(keys, sizeof keys, "input = %s\n", inputs[k]);
        vg_model *m = abi2_model("devices = 1, 4\n", keys);
        vg_detector *d = open_detector(m, 3);
        assert_string_equal(vg_detector_info(d)->device, "abi2be worker 3 device 4");
        vg_detect_result r[2];
        assert_int_equal(run_images(d, 2, 100, 80, NULL, 0, r), 0);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(r[i].status, 0);
            assert_int_equal(r[i].n, 1);
            assert_int_equal(r[i].dets[0].class_id, i);     /* red, then blue */
            assert_string_equal(r[i].dets[0].label, i ? "blue" : "red");
            vg_detect_result_release(&r[i]);
        }
        vg_detector_close(d);
        vg_model_destroy(m);
    }
}


/* resize none: an image at the input size goes as it is; another size fails alone. */
static void
test_resize_none(void **state)
{
    (void)state;
    vg_model *m = abi2_model("", "input = none\n");
    vg_detector *d = open_detector(m, 0);
    assert_string_equal(vg_detector_resize_why(d), "backend abi2be takes images at its input size");
    size_t l1, l2;
    uint8_t *ok = solid_image(64, 64, 20, 30, 220, &l1), *big = solid_image(100, 80, 20, 30, 220, &l2);
    vg_detect_input in[2] = { { .image = ok, .len = l1, .threshold = -1, .nms = -1 },
                              { .image = big, .len = l2, .threshold = -1, .nms = -1 } };
    vg_detect_result r[2];
    assert_int_equal(vg_detector_run(d, 2, in, r), 0);
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].dets[0].class_id, 1);
    assert_int_equal(r[1].status, VG_E_INVAL);
    assert_non_null(strstr(r[1].err, "takes 64x64 images as they are (resize none); this one is 100x80"));
    vg_detect_result_release(&r[0]);
    vg_detect_result_release(&r[1]);
    free(ok);
    free(big);
    vg_detector_close(d);
    vg_model_destroy(m);
}


/* encoded: the backend gets the file's bytes and the size as sent; raw pixels are refused. */
static void
test_encoded(void **state)
{
    (void)state;
    vg_model *m = abi2_model("", "input = encoded\n");
    vg_detector *d = open_detector(m, 0);
    uint8_t px[120 * 90 * 3];
    memset(px, 200, sizeof px);
    vg_image im = { .w = 120, .h = 90, .rgb = px, .full_w = 120, .full_h = 90 };
    uint8_t *jpeg = NULL;
    size_t jlen = 0;
    char err[256];
    assert_int_equal(vg_image_annotate(&im, NULL, 0, 90, &jpeg, &jlen, err, sizeof err), 0);
    vg_detect_result r[1];
    assert_int_equal(run_images(d, 1, 0, 0, jpeg, jlen, r), 0);
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[0].w, 120);
    assert_int_equal(r[0].h, 90);
    assert_int_equal(r[0].n, 1);
    /* the centre half of the image itself (no letterbox): 30..90 x 22..67 */
    assert_int_equal(r[0].dets[0].x_min, 30);
    assert_int_equal(r[0].dets[0].x_max, 90);
    vg_detect_result_release(&r[0]);
    assert_int_equal(run_images(d, 1, 64, 64, NULL, 0, r), 0);
    assert_int_equal(r[0].status, VG_E_NOTIMAGE);
    free(jpeg);
    vg_detector_close(d);
    vg_model_destroy(m);
}


/* Final boxes skip the host's NMS; a classifier's scores become whole-image answers. */
static void
test_outputs(void **state)
{
    (void)state;
    const char *keys[] = { "output = candidates\n", "output = boxes\n", "task = classify\n" };
    const size_t want[] = { 1, 2, 1 };
    for (int k = 0; k < 3; k++) {
        vg_model *m = abi2_model("", keys[k]);
        vg_detector *d = open_detector(m, 0);
        vg_detect_result r[2];
        assert_int_equal(run_images(d, 2, 100, 80, NULL, 0, r), 0);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(r[i].status, 0);
            assert_int_equal(r[i].n, want[k]);
            assert_int_equal(r[i].dets[0].class_id, i);
            if (k == 2) {
                assert_true(r[i].dets[0].confidence == 0.9f);
                assert_int_equal(r[i].dets[0].x_min, 0);
                assert_int_equal(r[i].dets[0].y_min, 0);
                assert_int_equal(r[i].dets[0].x_max, 99);
                assert_int_equal(r[i].dets[0].y_max, 79);
            }
            vg_detect_result_release(&r[i]);
        }
        vg_detector_close(d);
        vg_model_destroy(m);
    }
}


/* Transient: run once more; permanent: the detector stays failed; one image failing alone. */
static void
test_failures(void **state)
{
    (void)state;
    vg_detect_result r[2];

    vg_model *m = abi2_model("", "fail = again_once\n");
    vg_detector *d = open_detector(m, 0);
    assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), 0);
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[0].n, 1);
    vg_detect_result_release(&r[0]);
    vg_detector_close(d);
    vg_model_destroy(m);

    m = abi2_model("", "fail = again\n");
    d = open_detector(m, 0);
    assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), VG_E_BACKEND);
    assert_int_equal(r[0].status, VG_E_BACKEND);
    assert_non_null(strstr(r[0].err, "device busy (call 2)"));     /* tried twice, not more */
    assert_null(vg_detector_failed(d));
    assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), VG_E_BACKEND);
    assert_non_null(strstr(r[0].err, "device busy (call 4)"));     /* still usable: tried again */
    vg_detector_close(d);
    vg_model_destroy(m);

    m = abi2_model("", "fail = fatal_once\n");
    d = open_detector(m, 0);
    assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), VG_E_BACKEND);
    assert_non_null(vg_detector_failed(d));
    assert_non_null(strstr(vg_detector_failed(d), "abi2be: the backend can no longer run the model: device lost"));
    assert_non_null(strstr(r[0].err, "device lost"));
    /* the backend would answer now: the model stays failed all the same */
    assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), VG_E_BACKEND);
    assert_non_null(strstr(r[0].err, "device lost"));
    vg_detector_close(d);
    vg_model_destroy(m);

    m = abi2_model("", "fail = odd_images\n");
    d = open_detector(m, 0);
    assert_int_equal(run_images(d, 2, 100, 80, NULL, 0, r), 0);
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[1].status, VG_E_DECODE);
    assert_string_equal(r[1].err, "abi2be: odd image 1");
    vg_detect_result_release(&r[0]);
    vg_detect_result_release(&r[1]);
    vg_detector_close(d);
    vg_model_destroy(m);
}


/* A backend's labels: checked; the names file wins where they differ. */
static void
test_labels(void **state)
{
    (void)state;
    const char *modes[] = { "labels = same\n", "labels = other\n" };
    for (int k = 0; k < 2; k++) {
        vg_model *m = abi2_model("", modes[k]);
        vg_detector *d = open_detector(m, 0);
        vg_detect_result r[1];
        assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), 0);
        assert_int_equal(r[0].n, 1);
        assert_string_equal(r[0].dets[0].label, "red");
        assert_string_equal(vg_detector_labels(d)[0], "red");
        vg_detect_result_release(&r[0]);
        vg_detector_close(d);
        vg_model_destroy(m);
    }
    vg_model *m = abi2_model("", "labels = null\n");
    vg_detector *d = NULL;
    char err[512];
    assert_int_equal(vg_detector_open(m, NULL, &d, err, sizeof err), VG_E_BACKEND);
    assert_non_null(strstr(err, "abi2be: describe() gave label 1 NULL"));
    vg_model_destroy(m);
}


/* No names file: the plugin's labels name the classes; a plugin without labels is refused. */
static void
test_labels_without_names(void **state)
{
    (void)state;
    vg_model *m = abi2_model_names("", "labels = other\n", 0);
    assert_null(m->names_path);
    assert_string_equal(vg_model_labels_source(m), "plugin");
    vg_detector *d = open_detector(m, 0);
    vg_detect_result r[1];
    assert_int_equal(run_images(d, 1, 100, 80, NULL, 0, r), 0);
    assert_int_equal(r[0].n, 1);
    assert_string_equal(r[0].dets[0].label, "cyan");
    vg_detect_result_release(&r[0]);
    vg_detector_close(d);
    vg_model_destroy(m);

    m = abi2_model_names("", "labels = none\n", 0);
    d = NULL;
    char err[1024];
    assert_int_equal(vg_detector_open(m, NULL, &d, err, sizeof err), VG_E_MANIFEST);
    assert_non_null(strstr(err, "has no 'names' and backend abi2be supplies no labels"));
    vg_model_destroy(m);
}


/* The classification example of the SDK: a score per class, one image refused alone. */
static void
test_classify_example(void **state)
{
    (void)state;
    char mdir[PATH_MAX + 32], path[PATH_MAX + 64], so[PATH_MAX], text[1024], err[1024];
    snprintf(so, sizeof so, "%s/plugins/template/vigia-backend-classify.so", builddir());
    char *abs = realpath(so, NULL);
    assert_non_null(abs);
    snprintf(mdir, sizeof mdir, "%s/cls", dir);
    mkdir(mdir, 0755);
    snprintf(path, sizeof path, "%s/colours.names", mdir);
    assert_int_equal(pt_write(path, "red\ngreen\nblue\n", 15), 0);
    snprintf(text, sizeof text, "[model]\nbackend = %s\nnames = colours.names\nthreshold = 0.3\nbatch = 2\n"
             "[classify]\nmargin = 40\n", abs);
    snprintf(path, sizeof path, "%s/model.conf", mdir);
    assert_int_equal(pt_write(path, text, strlen(text)), 0);
    free(abs);
    vg_model *m = NULL;
    assert_int_equal(vg_model_load(mdir, &m, err, sizeof err), 0);
    vg_detector *d = open_detector(m, 0);
    size_t l1, l2;
    uint8_t *blue = solid_image(90, 60, 20, 30, 220, &l1), *grey = solid_image(90, 60, 128, 128, 128, &l2);
    vg_detect_input in[2] = { { .image = blue, .len = l1, .threshold = -1, .nms = -1 },
                              { .image = grey, .len = l2, .threshold = -1, .nms = -1 } };
    vg_detect_result r[2];
    assert_int_equal(vg_detector_run(d, 2, in, r), 0);
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[0].n, 1);
    assert_string_equal(r[0].dets[0].label, "blue");
    assert_true(r[0].dets[0].confidence == 1.0f);
    assert_int_equal(r[0].dets[0].x_max, 89);
    assert_int_equal(r[0].dets[0].y_max, 59);
    assert_int_equal(r[1].status, VG_E_DECODE);
    assert_string_equal(r[1].err, "classify: no colour stands out by 40");
    vg_detect_result_release(&r[0]);
    free(blue);
    free(grey);
    vg_detector_close(d);
    vg_model_destroy(m);
}


int
main(void)
{
    snprintf(dir, sizeof dir, "%s/vigia-test-abi-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi1_template),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_declared_keys),
        cmocka_unit_test(test_input_descriptors),
        cmocka_unit_test(test_resize_none),
        cmocka_unit_test(test_encoded),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_labels_without_names),
        cmocka_unit_test(test_classify_example),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
