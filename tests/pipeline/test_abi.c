/*
 * test_abi: the backend contract as the host keeps it (ABI 2): versions,
 * the ABI 1 compatibility path (the ABI 1 template built from the ABI 1
 * header), typed manifest access and declared keys.
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
        size_t n;
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
    snprintf(be2, sizeof be2, "%s/tests/pipeline/vigia-backend-abi2tpl.so", builddir());
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
    snprintf(path, sizeof path, "%s/tests/pipeline/vigia-backend-abi2tpl.so", builddir());
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
    snprintf(path, sizeof path, "%s/tests/pipeline/vigia-backend-abi2tpl.so", builddir());
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
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
