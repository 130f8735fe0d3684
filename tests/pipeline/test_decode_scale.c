/*
 * test_decode_scale: camera-sized frames decoded reduced to the network
 * input (vg_image_decode_at, libjpeg's DCT scaling and libwebp's scaled
 * decoding) give the detections of the full decode: on every image of
 * ../shared/images, upscaled here to 1920x1080 and 3840x2160 and encoded
 * as JPEG (quality 90) and WebP, the same labels and every box within 2 px,
 * in the coordinates of the image as sent. The reference is the same
 * detector with full_decode set, in the same process; the reduction itself
 * (sizes, orientation, PNG left alone) is checked on the decoder.
 * libvips runs in this process: this test never forks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include <vips/vips.h>

#include "pipeline/detector.h"
#include "pipeline/image.h"
#include "pipeline/model.h"
#include "pt.h"

#define THRESHOLD 0.25f                /* detections asked for */
#define CONFIDENT 0.5f                 /* detections held to MIN_IOU */
#define MIN_IOU 0.5                    /* each confident one has a same-label match at least this close */
#define MEDIAN_IOU 0.9                 /* and half of them one at least this close */
#define BOX_PX 2                       /* edges this close (image pixels) are counted and reported */

static const vg_image_limits lim = { 1u << 26, 100000000, 20000 };
static const char *images[] = { "dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg",
                                "person.jpg", "scream.jpg" };
#define NIMAGES (sizeof images / sizeof images[0])


static int
setup(void **state)
{
    (void)state;
    char err[256];
    return vg_image_init(err, sizeof err);
}


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


/* A shared image resized (aspect not kept, as a camera's frame) to w x h and encoded as fmt. */
static uint8_t *
camera_frame(const char *name, int w, int h, const char *fmt, size_t *n)
{
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/images/%s", pt_shared(), name);
    VipsImage *in = NULL;
    if (vips_thumbnail(path, &in, w, "height", h, "size", VIPS_SIZE_FORCE, NULL) != 0)
        fail_msg("%s: %s", name, vips_error_buffer());
    assert_int_equal(vips_image_get_width(in), w);
    assert_int_equal(vips_image_get_height(in), h);
    void *buf = NULL;
    size_t len = 0;
    int r = strcmp(fmt, "webp") == 0 ? vips_webpsave_buffer(in, &buf, &len, "Q", 90, NULL)
          : strcmp(fmt, "png") == 0 ? vips_pngsave_buffer(in, &buf, &len, "compression", 1, NULL)
          : vips_jpegsave_buffer(in, &buf, &len, "Q", 90, NULL);
    assert_int_equal(r, 0);
    uint8_t *out = malloc(len);
    memcpy(out, buf, len);
    g_free(buf);
    g_object_unref(in);
    *n = len;
    return out;
}


/* The reduction a decode chose, and the size it reports. */
static void
expect_decode(const uint8_t *b, size_t n, int min_w, int min_h, int w, int h, int full_w, int full_h)
{
    char err[512];
    vg_image im;
    if (vg_image_decode_at(b, n, &lim, min_w, min_h, &im, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (im.w != w || im.h != h || im.full_w != full_w || im.full_h != full_h)
        fail_msg("decode for %dx%d: %dx%d of %dx%d, expected %dx%d of %dx%d", min_w, min_h, im.w, im.h,
                 im.full_w, im.full_h, w, h, full_w, full_h);
    vg_image_release(&im);
}


static void
test_reduction(void **state)
{
    (void)state;
    if (!pt_shared_file("images/dog.jpg")) {
        skip();
        return;
    }
    size_t n = 0;
    uint8_t *j = camera_frame("dog.jpg", 1920, 1080, "jpeg", &n);
    expect_decode(j, n, 320, 320, 960, 540, 1920, 1080);     /* 1080 / 4 < 320 */
    expect_decode(j, n, 416, 416, 960, 540, 1920, 1080);
    expect_decode(j, n, 56, 56, 240, 135, 1920, 1080);        /* the most libjpeg does: 1/8 */
    expect_decode(j, n, 0, 0, 1920, 1080, 1920, 1080);        /* no minimum: full size */
    expect_decode(j, n, 1000, 320, 1920, 1080, 1920, 1080);   /* under twice the input: full size */
    vg_image full;
    char err[512];
    assert_int_equal(vg_image_decode(j, n, &lim, &full, err, sizeof err), 0);
    assert_int_equal(full.full_w, 1920);
    assert_int_equal(full.w, 1920);
    vg_image_release(&full);
    free(j);
    j = camera_frame("dog.jpg", 3840, 2160, "jpeg", &n);
    expect_decode(j, n, 320, 320, 960, 540, 3840, 2160);
    free(j);
    j = camera_frame("dog.jpg", 1920, 1080, "webp", &n);
    expect_decode(j, n, 320, 320, 960, 540, 1920, 1080);
    free(j);
    j = camera_frame("dog.jpg", 1920, 1080, "png", &n);       /* PNG has no scaled decoding */
    expect_decode(j, n, 320, 320, 1920, 1080, 1920, 1080);
    free(j);

    /* EXIF orientation 6: shown 1080 wide and 1920 high, reduced on the shown sides */
    VipsImage *in = NULL, *cp = NULL;
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/images/dog.jpg", pt_shared());
    assert_int_equal(vips_thumbnail(path, &in, 1920, "height", 1080, "size", VIPS_SIZE_FORCE, NULL), 0);
    assert_int_equal(vips_copy(in, &cp, NULL), 0);
    vips_image_set_int(cp, VIPS_META_ORIENTATION, 6);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(vips_jpegsave_buffer(cp, &buf, &len, "Q", 90, NULL), 0);
    expect_decode(buf, len, 320, 320, 540, 960, 1080, 1920);
    expect_decode(buf, len, 300, 600, 540, 960, 1080, 1920);  /* 960 / 4 < 600 on the shown height */
    g_free(buf);
    g_object_unref(cp);
    g_object_unref(in);
}


static vg_detector *
open_detector(vg_model *m, int full)
{
    char err[512];
    vg_detector *d;
    vg_detector_options o = { .limits = lim, .full_decode = full };
    if (vg_detector_open(m, &o, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    return d;
}


static double
iou(const vg_detection *a, const vg_detection *b)
{
    double iw = fmin(a->x_max, b->x_max) - fmax(a->x_min, b->x_min) + 1;
    double ih = fmin(a->y_max, b->y_max) - fmax(a->y_min, b->y_min) + 1;
    double in = iw > 0 && ih > 0 ? iw * ih : 0;
    double u = (a->x_max - a->x_min + 1.0) * (a->y_max - a->y_min + 1.0) +
               (b->x_max - b->x_min + 1.0) * (b->y_max - b->y_min + 1.0) - in;
    return u > 0 ? in / u : 0;
}


/* The largest distance between the edges of two boxes, in pixels. */
static int
edge_px(const vg_detection *a, const vg_detection *b)
{
    int e = abs(a->x_min - b->x_min);
    e = abs(a->y_min - b->y_min) > e ? abs(a->y_min - b->y_min) : e;
    e = abs(a->x_max - b->x_max) > e ? abs(a->x_max - b->x_max) : e;
    return abs(a->y_max - b->y_max) > e ? abs(a->y_max - b->y_max) : e;
}


typedef struct agreement {
    int confident;                 /* full-decode detections at >= CONFIDENT */
    int within_px;                 /* of those, matched with every edge within BOX_PX */
    int worst_px;
    double ious[1024];             /* best same-label IoU of each */
} agreement;


/*
 * Each confident detection of the full decode has a detection of the same
 * label in the reduced one overlapping it at IoU >= MIN_IOU; records its
 * best IoU and edge distance.
 */
static void
compare(const char *what, const vg_detect_result *want, const vg_detect_result *got, agreement *ag)
{
    if (want->status != 0 || got->status != 0)
        fail_msg("%s: %s%s", what, want->err, got->err);
    if (want->w != got->w || want->h != got->h)
        fail_msg("%s: reduced decode reports %dx%d, full %dx%d", what, got->w, got->h, want->w, want->h);
    for (size_t i = 0; i < want->n; i++) {
        const vg_detection *a = &want->dets[i];
        if (a->confidence < CONFIDENT)
            continue;
        double best = 0;
        int px = INT32_MAX;
        for (size_t k = 0; k < got->n; k++) {
            const vg_detection *b = &got->dets[k];
            if (b->class_id != a->class_id || iou(a, b) <= best)
                continue;
            best = iou(a, b);
            px = edge_px(a, b);
        }
        if (best < MIN_IOU)
            fail_msg("%s: full decode's %s %.3f [%d %d %d %d] has no %s at IoU >= %.2f in the reduced decode (best %.3f)",
                     what, a->label, a->confidence, a->x_min, a->y_min, a->x_max, a->y_max, a->label, MIN_IOU, best);
        if (ag->confident < (int)(sizeof ag->ious / sizeof ag->ious[0]))
            ag->ious[ag->confident++] = best;
        ag->within_px += px <= BOX_PX;
        if (px > ag->worst_px)
            ag->worst_px = px;
    }
}


static int
by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}


static void
run_model(const char *name, const char *names_file, const char *fmt)
{
    char cfg[PATH_MAX + 128], weights[PATH_MAX + 128], names[PATH_MAX + 128], err[512];
    snprintf(cfg, sizeof cfg, "%s/models/%s.cfg", pt_shared(), name);
    snprintf(weights, sizeof weights, "%s/models/%s.weights", pt_shared(), name);
    snprintf(names, sizeof names, "%s/models/%s", pt_shared(), names_file);
    const char *plugin = built("backends/cpu/vigia-backend-cpu.so");
    if (access(cfg, R_OK) || access(weights, R_OK) || access(names, R_OK) || access(plugin, R_OK)) {
        print_message("# %s: model files or the cpu backend missing\n", name);
        skip();
        return;
    }
    char *dir = pt_tmpdir("scale");
    char conf[4 * PATH_MAX + 512];
    snprintf(conf, sizeof conf, "backend = %s\ncfg = %s\nweights = %s\nthreads = 1\n", plugin, cfg, weights);
    size_t ln = 0;
    uint8_t *lb = pt_read(names, &ln);
    assert_non_null(lb);
    char *labels = malloc(ln + 1);
    memcpy(labels, lb, ln);
    labels[ln] = '\0';
    free(lb);
    assert_int_equal(pt_make_model(dir, name, labels, conf), 0);
    free(labels);
    char mdir[PATH_MAX + 128];
    snprintf(mdir, sizeof mdir, "%s/%s", dir, name);
    vg_model *m;
    if (vg_model_load(mdir, &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    vg_detector *full = open_detector(m, 1), *reduced = open_detector(m, 0);
    static const int sizes[][2] = { { 1920, 1080 }, { 3840, 2160 } };
    agreement ag = { 0 };
    for (size_t i = 0; i < NIMAGES; i++) {
        for (size_t s = 0; s < 2; s++) {
            size_t n = 0;
            uint8_t *img = camera_frame(images[i], sizes[s][0], sizes[s][1], fmt, &n);
            vg_detect_input in = { img, n, THRESHOLD, -1, NULL, 0, 0 };
            vg_detect_result want, got;
            assert_int_equal(vg_detector_run(full, 1, &in, &want), 0);
            assert_int_equal(vg_detector_run(reduced, 1, &in, &got), 0);
            char what[256];
            snprintf(what, sizeof what, "%s %s %dx%d %s", name, images[i], sizes[s][0], sizes[s][1], fmt);
            compare(what, &want, &got, &ag);
            vg_detect_result_release(&want);
            vg_detect_result_release(&got);
            free(img);
        }
    }
    assert_true(ag.confident > 0);
    qsort(ag.ious, (size_t)ag.confident, sizeof ag.ious[0], by_value);
    double median = ag.ious[ag.confident / 2];
    print_message("# %s %s at %dx%d and %dx%d: %d detections at >= %.2f; IoU with the full decode's: min %.3f, "
                  "median %.3f; %d within %d px, worst edge %d px\n", name, fmt, sizes[0][0], sizes[0][1],
                  sizes[1][0], sizes[1][1], ag.confident, CONFIDENT, ag.ious[0], median, ag.within_px, BOX_PX,
                  ag.worst_px);
    if (median < MEDIAN_IOU)
        fail_msg("%s %s: median IoU %.3f with the full decode's boxes, under %.2f", name, fmt, median, MEDIAN_IOU);
    vg_detector_close(full);
    vg_detector_close(reduced);
    vg_model_destroy(m);
    pt_rmtree(dir);
}


static void test_xl_jpeg(void **state) { (void)state; run_model("yolo-fastest-1.1-xl", "coco.names", "jpeg"); }
static void test_xl_webp(void **state) { (void)state; run_model("yolo-fastest-1.1-xl", "coco.names", "webp"); }
static void test_nano_jpeg(void **state) { (void)state; run_model("MobileNetV2-YOLOv3-Nano-coco", "coco.names", "jpeg"); }


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduction),
        cmocka_unit_test(test_xl_jpeg),
        cmocka_unit_test(test_xl_webp),
        cmocka_unit_test(test_nano_jpeg),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
