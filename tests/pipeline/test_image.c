/*
 * test_image: decoding limits (bombs, truncation, garbage, huge sizes),
 * formats, EXIF orientation, the libjpeg path against libvips' pixels,
 * letterbox geometry, annotation, and the tensors a backend may ask for
 * (u8, NHWC, BGR, mean/std).
 * libvips runs in this process: this test never forks.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "base/error.h"
#include "pipeline/image.h"
#include "pipeline/jpegdec.h"
#include "pt.h"

static const vg_image_limits lim = { 32u << 20, 40000000, 16384 };


static int
setup(void **state)
{
    (void)state;
    char err[256];
    return vg_image_init(err, sizeof err);
}


/* Encodes a vips image with `saver` ("jpegsave_buffer" ...) into malloc'd bytes. */
static uint8_t *
encode(VipsImage *im, const char *fmt, size_t *n)
{
    void *buf = NULL;
    size_t len = 0;
    int r = strcmp(fmt, "jpeg") == 0 ? vips_jpegsave_buffer(im, &buf, &len, NULL)
          : strcmp(fmt, "webp") == 0 ? vips_webpsave_buffer(im, &buf, &len, NULL)
          : vips_pngsave_buffer(im, &buf, &len, NULL);
    assert_int_equal(r, 0);
    uint8_t *out = malloc(len);
    memcpy(out, buf, len);
    g_free(buf);
    *n = len;
    return out;
}


static VipsImage *
solid(int w, int h, int bands, double v)
{
    VipsImage *black = NULL, *lin = NULL, *u8 = NULL;
    assert_int_equal(vips_black(&black, w, h, "bands", bands, NULL), 0);
    assert_int_equal(vips_linear1(black, &lin, 1, v, NULL), 0);
    assert_int_equal(vips_cast_uchar(lin, &u8, NULL), 0);
    g_object_unref(black);
    g_object_unref(lin);
    return u8;
}


static void
test_decode_formats(void **state)
{
    (void)state;
    const char *dog = pt_shared_file("images/dog.jpg");
    char err[512];
    vg_image im;
    if (dog) {
        size_t n = 0;
        uint8_t *b = pt_read(dog, &n);
        assert_string_equal(vg_image_sniff(b, n), "jpeg");
        assert_int_equal(vg_image_decode(b, n, &lim, &im, err, sizeof err), 0);
        assert_int_equal(im.w, 768);
        assert_int_equal(im.h, 576);
        vg_image_release(&im);
        free(b);
    }
    const char *fmts[] = { "png", "webp", "jpeg" };
    for (int f = 0; f < 3; f++) {
        for (int bands = 1; bands <= 4; bands++) {
            VipsImage *s = solid(40, 30, bands, 100);
            size_t n;
            uint8_t *b = encode(s, fmts[f], &n);
            g_object_unref(s);
            if (strcmp(fmts[f], "jpeg") == 0 && (bands == 2 || bands == 4)) {
                free(b);
                continue;   /* JPEG has no alpha */
            }
            assert_string_equal(vg_image_sniff(b, n), fmts[f]);
            if (vg_image_decode(b, n, &lim, &im, err, sizeof err) != 0)
                fail_msg("%s with %d bands: %s", fmts[f], bands, err);
            assert_int_equal(im.w, 40);
            assert_int_equal(im.h, 30);
            /* grey 100 everywhere (lossy formats: close), alpha dropped */
            for (int k = 0; k < 3; k++)
                assert_in_range(im.rgb[(15 * 40 + 20) * 3 + k], 96, 104);
            vg_image_release(&im);
            free(b);
        }
    }
    /* 16-bit PNG */
    VipsImage *s = solid(8, 8, 3, 100), *u16 = NULL, *scaled = NULL;
    assert_int_equal(vips_linear1(s, &scaled, 257, 0, NULL), 0);
    assert_int_equal(vips_cast_ushort(scaled, &u16, NULL), 0);
    vips_image_set_int(u16, "interpretation", VIPS_INTERPRETATION_RGB16);
    u16->Type = VIPS_INTERPRETATION_RGB16;
    size_t n;
    uint8_t *b = encode(u16, "png", &n);
    assert_int_equal(vg_image_decode(b, n, &lim, &im, err, sizeof err), 0);
    assert_in_range(im.rgb[0], 99, 101);
    vg_image_release(&im);
    free(b);
    g_object_unref(s);
    g_object_unref(scaled);
    g_object_unref(u16);
}


static void
test_orientation(void **state)
{
    (void)state;
    VipsImage *s = solid(40, 20, 3, 80);
    VipsImage *c = NULL;
    assert_int_equal(vips_copy(s, &c, NULL), 0);
    vips_image_set_int(c, VIPS_META_ORIENTATION, 6);   /* rotate 90 to display */
    size_t n;
    uint8_t *b = encode(c, "jpeg", &n);
    vg_image im;
    char err[256];
    assert_int_equal(vg_image_decode(b, n, &lim, &im, err, sizeof err), 0);
    assert_int_equal(im.w, 20);
    assert_int_equal(im.h, 40);
    vg_image_release(&im);
    /* the size a backend that decodes itself is told: as sent, rotated, nothing decoded */
    int pw = 0, ph = 0;
    assert_int_equal(vg_image_probe(b, n, &lim, &pw, &ph, err, sizeof err), 0);
    assert_int_equal(pw, 20);
    assert_int_equal(ph, 40);
    vg_image_limits small = { 0, 0, 39 };
    assert_int_equal(vg_image_probe(b, n, &small, &pw, &ph, err, sizeof err), VG_E_TOOBIG);
    assert_int_equal(vg_image_probe(b, 10, &lim, &pw, &ph, err, sizeof err), VG_E_DECODE);
    assert_int_equal(vg_image_probe("GIF89a....", 10, &lim, &pw, &ph, err, sizeof err), VG_E_NOTIMAGE);
    free(b);
    g_object_unref(c);
    g_object_unref(s);
}


/* libvips' own decode of a JPEG: jpegload at 1/shrink, autorot, sRGB, 3 bands, uchar (image.c before jpegdec). */
static uint8_t *
vips_reference(const uint8_t *b, size_t n, int shrink, int *w, int *h)
{
    VipsImage *img = NULL, *rot = NULL, *srgb = NULL, *u8 = NULL;
    assert_int_equal(vips_jpegload_buffer((void *)b, n, &img, "shrink", shrink, NULL), 0);
    assert_int_equal(vips_autorot(img, &rot, NULL), 0);
    assert_int_equal(vips_colourspace(rot, &srgb, VIPS_INTERPRETATION_sRGB, NULL), 0);
    assert_int_equal(vips_cast_uchar(srgb, &u8, NULL), 0);
    size_t size = 0;
    uint8_t *pix = vips_image_write_to_memory(u8, &size);
    *w = vips_image_get_width(u8);
    *h = vips_image_get_height(u8);
    assert_int_equal(size, (size_t)*w * (size_t)*h * 3);
    g_object_unref(u8);
    g_object_unref(srgb);
    g_object_unref(rot);
    g_object_unref(img);
    return pix;
}


/*
 * JPEGs are decoded through libjpeg directly (jpegdec.c): the pixels are
 * libvips' own, byte for byte, at every reduction and EXIF orientation, for
 * colour and greyscale images; CMYK ones still decode (through libvips).
 */
static void
test_jpeg_as_libvips(void **state)
{
    (void)state;
    const char *dog = pt_shared_file("images/dog.jpg");
    if (!dog) {
        skip();
        return;
    }
    VipsImage *src = NULL, *grey = NULL;
    assert_int_equal(vips_jpegload(dog, &src, NULL), 0);
    assert_int_equal(vips_colourspace(src, &grey, VIPS_INTERPRETATION_B_W, NULL), 0);
    VipsImage *kinds[] = { src, grey };
    char err[512];
    for (int k = 0; k < 2; k++) {
        for (int o = 1; o <= 8; o++) {
            VipsImage *c = NULL;
            assert_int_equal(vips_copy(kinds[k], &c, NULL), 0);
            vips_image_set_int(c, VIPS_META_ORIENTATION, o);
            size_t n;
            uint8_t *b = encode(c, "jpeg", &n);
            g_object_unref(c);
            for (int shrink = 1; shrink <= 8; shrink *= 2) {
                int rw, rh;
                uint8_t *want = vips_reference(b, n, shrink, &rw, &rh);
                vg_image im;
                /* the minimum that makes decode_at choose this reduction of a 768x576 image */
                int min = shrink == 1 ? 0 : 576 / shrink;
                if (vg_image_decode_at(b, n, &lim, min, min, &im, err, sizeof err) != 0)
                    fail_msg("%s orientation %d 1/%d: %s", k ? "grey" : "colour", o, shrink, err);
                if (im.w != rw || im.h != rh || memcmp(im.rgb, want, (size_t)rw * (size_t)rh * 3) != 0)
                    fail_msg("%s orientation %d 1/%d: %dx%d differs from libvips' %dx%d", k ? "grey" : "colour", o,
                             shrink, im.w, im.h, rw, rh);
                assert_int_equal(im.full_w, o >= 5 ? 576 : 768);
                vg_image_release(&im);
                /* and it was jpegdec that decoded it */
                if (vg_jpegdec_decode(b, n, shrink, o, &im, err, sizeof err) != 0)
                    fail_msg("jpegdec, %s orientation %d 1/%d: %s", k ? "grey" : "colour", o, shrink, err);
                assert_true(im.w == rw && im.h == rh && memcmp(im.rgb, want, (size_t)rw * (size_t)rh * 3) == 0);
                vg_image_release(&im);
                g_free(want);
            }
            free(b);
        }
    }
    /* CMYK: not jpegdec's; libvips converts it */
    VipsImage *cmyk = NULL;
    assert_int_equal(vips_colourspace(src, &cmyk, VIPS_INTERPRETATION_CMYK, NULL), 0);
    size_t n;
    uint8_t *b = encode(cmyk, "jpeg", &n);
    vg_image im;
    assert_int_equal(vg_jpegdec_decode(b, n, 1, 1, &im, err, sizeof err), VG_JPEGDEC_DECLINED);
    if (vg_image_decode(b, n, &lim, &im, err, sizeof err) != 0)
        fail_msg("cmyk: %s", err);
    assert_int_equal(im.w, 768);
    vg_image_release(&im);
    free(b);
    g_object_unref(cmyk);
    g_object_unref(grey);
    g_object_unref(src);
}


static void
test_refusals(void **state)
{
    (void)state;
    vg_image im;
    char err[512];
    /* nothing, garbage, other formats */
    assert_int_equal(vg_image_decode("", 0, &lim, &im, err, sizeof err), VG_E_NOTIMAGE);
    assert_int_equal(vg_image_decode(NULL, 10, &lim, &im, err, sizeof err), VG_E_NOTIMAGE);
    uint8_t noise[1000];
    srand(3);
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)rand();
    noise[0] = 0;
    assert_int_equal(vg_image_decode(noise, sizeof noise, &lim, &im, err, sizeof err), VG_E_NOTIMAGE);
    const char *svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100000\" height=\"100000\"/>";
    assert_int_equal(vg_image_decode(svg, strlen(svg), &lim, &im, err, sizeof err), VG_E_NOTIMAGE);
    const char gif[] = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    assert_int_equal(vg_image_decode(gif, sizeof gif - 1, &lim, &im, err, sizeof err), VG_E_NOTIMAGE);
    /* a JPEG signature followed by garbage */
    noise[0] = 0xff; noise[1] = 0xd8; noise[2] = 0xff;
    assert_int_equal(vg_image_decode(noise, sizeof noise, &lim, &im, err, sizeof err), VG_E_DECODE);
    assert_null(im.rgb);

    /* truncated JPEG and PNG: an error, not a grey half-image */
    const char *dog = pt_shared_file("images/dog.jpg");
    if (dog) {
        size_t n = 0;
        uint8_t *b = pt_read(dog, &n);
        for (size_t cut = 100; cut < n; cut += n / 7) {
            int rc = vg_image_decode(b, cut, &lim, &im, err, sizeof err);
            if (rc != VG_E_DECODE)
                fail_msg("dog.jpg cut at %zu: %d", cut, rc);
            rc = vg_image_decode_at(b, cut, &lim, 100, 100, &im, err, sizeof err);
            if (rc != VG_E_DECODE)
                fail_msg("dog.jpg cut at %zu, reduced: %d", cut, rc);
        }
        /* only the end-of-image marker missing: libvips refuses it too */
        int rc = vg_image_decode(b, n - 2, &lim, &im, err, sizeof err);
        VipsImage *v = NULL;
        int vrc = vips_jpegload_buffer(b, n - 2, &v, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
        void *vp = vrc == 0 ? vips_image_write_to_memory(v, NULL) : NULL;
        if ((rc == 0) != (vp != NULL))
            fail_msg("dog.jpg without its EOI: vigia %d, libvips %s", rc, vp ? "decodes it" : "refuses it");
        if (rc == 0)
            vg_image_release(&im);
        g_free(vp);
        if (v)
            g_object_unref(v);
        vips_error_clear();
        /* over max_bytes */
        vg_image_limits small = { 1000, 40000000, 16384 };
        assert_int_equal(vg_image_decode(b, n, &small, &im, err, sizeof err), VG_E_TOOBIG);
        free(b);
    }
    size_t pn;
    uint8_t *png = pt_png(50, 50, NULL, 1, 2, 3, 0, 0, &pn);
    assert_int_equal(vg_image_decode(png, pn / 2, &lim, &im, err, sizeof err), VG_E_DECODE);
    /* sides and pixels */
    vg_image_limits side = { 1u << 20, 40000000, 49 };
    assert_int_equal(vg_image_decode(png, pn, &side, &im, err, sizeof err), VG_E_TOOBIG);
    assert_non_null(strstr(err, "50x50"));
    vg_image_limits pix = { 1u << 20, 2499, 16384 };
    assert_int_equal(vg_image_decode(png, pn, &pix, &im, err, sizeof err), VG_E_TOOBIG);
    free(png);
    /* a bomb: a tiny PNG declaring 100000 x 100000 pixels, refused from its header */
    uint8_t *bomb = pt_png(4, 4, NULL, 0, 0, 0, 100000, 100000, &pn);
    assert_int_equal(vg_image_decode(bomb, pn, &lim, &im, err, sizeof err), VG_E_TOOBIG);
    free(bomb);
    /* a JPEG whose SOF claims 65000 x 65000 */
    VipsImage *s = solid(16, 16, 3, 50);
    size_t jn;
    uint8_t *jpg = encode(s, "jpeg", &jn);
    g_object_unref(s);
    int patched = 0;
    for (size_t i = 2; i + 9 < jn; i++)
        if (jpg[i] == 0xff && (jpg[i + 1] == 0xc0 || jpg[i + 1] == 0xc2)) {
            jpg[i + 5] = 0xfd; jpg[i + 6] = 0xe8;   /* height 65000 */
            jpg[i + 7] = 0xfd; jpg[i + 8] = 0xe8;   /* width 65000 */
            patched = 1;
            break;
        }
    assert_true(patched);
    assert_int_equal(vg_image_decode(jpg, jn, &lim, &im, err, sizeof err), VG_E_TOOBIG);
    free(jpg);
}


static void
test_letterbox(void **state)
{
    (void)state;
    /* 100x50 uniform image into 64x64: rows 16..47 carry it, the rest is 0.5 */
    vg_image im = { .w = 100, .h = 50, .rgb = malloc(100 * 50 * 3) };
    for (int i = 0; i < 100 * 50; i++) {
        im.rgb[3 * i] = 255;
        im.rgb[3 * i + 1] = 0;
        im.rgb[3 * i + 2] = 51;
    }
    float *t = malloc(sizeof(float) * 3 * 64 * 64);
    assert_int_equal(vg_image_letterbox(&im, 64, 64, t), 0);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            float r = t[y * 64 + x], g = t[64 * 64 + y * 64 + x], b = t[2 * 64 * 64 + y * 64 + x];
            if (y < 16 || y >= 48) {
                assert_true(r == 0.5f && g == 0.5f && b == 0.5f);
            } else {
                assert_true(fabsf(r - 1.0f) < 1e-6f);
                assert_true(g == 0.0f);
                assert_true(fabsf(b - 0.2f) < 1e-6f);
            }
        }
    /* a 1-pixel-wide image and one already at the network size */
    vg_image thin = { .w = 1, .h = 300, .rgb = malloc(300 * 3) };
    memset(thin.rgb, 200, 300 * 3);
    assert_int_equal(vg_image_letterbox(&thin, 64, 64, t), 0);
    assert_true(fabsf(t[10 * 64 + 31] - 200 / 255.0f) < 1e-6f);   /* 1 column at x = (64 - 1) / 2 */
    assert_true(t[10 * 64 + 0] == 0.5f);
    free(thin.rgb);
    vg_image same = { .w = 64, .h = 64, .rgb = malloc(64 * 64 * 3) };
    for (int i = 0; i < 64 * 64 * 3; i++)
        same.rgb[i] = (uint8_t)(i * 13);
    assert_int_equal(vg_image_letterbox(&same, 64, 64, t), 0);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 64 * 64; i++)
            assert_true(t[k * 64 * 64 + i] == same.rgb[i * 3 + k] / 255.0f);   /* identity */
    free(same.rgb);
    free(t);
    free(im.rgb);
}


static void
test_stretch(void **state)
{
    (void)state;
    /* 100x50 uniform image into 64x64: every pixel carries it, no grey band */
    vg_image im = { .w = 100, .h = 50, .rgb = malloc(100 * 50 * 3) };
    for (int i = 0; i < 100 * 50; i++) {
        im.rgb[3 * i] = 255;
        im.rgb[3 * i + 1] = 0;
        im.rgb[3 * i + 2] = 51;
    }
    float *t = malloc(sizeof(float) * 3 * 64 * 64);
    assert_int_equal(vg_image_stretch(&im, 64, 64, t), 0);
    for (int i = 0; i < 64 * 64; i++) {
        assert_true(t[i] == 1.0f);
        assert_true(t[64 * 64 + i] == 0.0f);
        assert_true(t[2 * 64 * 64 + i] == 51 / 255.0f);
    }
    /* a 4x1 ramp doubled to 8x1, on pixel centres as cv::resize(INTER_LINEAR):
     * output x samples input (x + 0.5) / 2 - 0.5, clamped at both edges */
    uint8_t ramp[12] = { 0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40 };
    vg_image r = { .w = 4, .h = 1, .rgb = ramp };
    static const int want[8] = { 0, 25, 75, 125, 175, 160, 80, 40 };   /* what cv2.resize gives */
    assert_int_equal(vg_image_stretch(&r, 8, 1, t), 0);
    for (int x = 0; x < 8; x++)
        assert_true(t[x] == want[x] / 255.0f);
    /* the same size is the identity */
    vg_image same = { .w = 64, .h = 64, .rgb = malloc(64 * 64 * 3) };
    for (int i = 0; i < 64 * 64 * 3; i++)
        same.rgb[i] = (uint8_t)(i * 13);
    assert_int_equal(vg_image_stretch(&same, 64, 64, t), 0);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 64 * 64; i++)
            assert_true(t[k * 64 * 64 + i] == same.rgb[i * 3 + k] / 255.0f);
    free(same.rgb);
    free(t);
    free(im.rgb);
}


static void
test_annotate(void **state)
{
    (void)state;
    vg_image im = { .w = 200, .h = 100, .rgb = malloc(200 * 100 * 3) };
    memset(im.rgb, 128, 200 * 100 * 3);
    vg_detection d[2] = {
        { .class_id = 3, .label = "car", .confidence = 0.91f, .x_min = 20, .y_min = 30, .x_max = 120, .y_max = 90 },
        { .class_id = 0, .label = "person", .confidence = 0.5f, .x_min = 150, .y_min = 5, .x_max = 195, .y_max = 95 },
    };
    uint8_t *jpeg;
    size_t n;
    char err[256];
    assert_int_equal(vg_image_annotate(&im, d, 2, 90, &jpeg, &n, err, sizeof err), 0);
    assert_string_equal(vg_image_sniff(jpeg, n), "jpeg");
    vg_image out;
    assert_int_equal(vg_image_decode(jpeg, n, &lim, &out, err, sizeof err), 0);
    assert_int_equal(out.w, 200);
    assert_int_equal(out.h, 100);
    /* the left edge of the car box, mid-height, has the class colour */
    uint8_t c[3];
    vg_image_class_colour(3, c);
    const uint8_t *p = out.rgb + (60 * 200 + 20) * 3;
    for (int k = 0; k < 3; k++)
        assert_in_range(p[k], c[k] > 40 ? c[k] - 40 : 0, c[k] < 215 ? c[k] + 40 : 255);
    /* inside the box, untouched grey */
    p = out.rgb + (60 * 200 + 70) * 3;
    assert_in_range(p[0], 118, 138);
    vg_image_release(&out);
    free(jpeg);
    /* distinct colours for neighbouring classes */
    uint8_t c0[3], c1[3];
    vg_image_class_colour(0, c0);
    vg_image_class_colour(1, c1);
    assert_true(abs(c0[0] - c1[0]) + abs(c0[1] - c1[1]) + abs(c0[2] - c1[2]) > 100);
    free(im.rgb);
}


/*
 * The tensor conversions against the plainest reference: each element
 * computed from the 8-bit pixel it comes from. The planar float input is
 * what the resizers write (a stretch to the image's own size, which is
 * exact: resize none relies on that).
 */
static void
test_tensor_formats(void **state)
{
    (void)state;
    enum { W = 7, H = 5 };
    const size_t plane = W * H;
    uint8_t px[W * H * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)((i * 37 + 11) % 256);
    vg_image im = { .w = W, .h = H, .rgb = px, .full_w = W, .full_h = H };
    float chw[3 * W * H];
    assert_int_equal(vg_image_stretch(&im, W, H, chw), 0);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            assert_true(chw[c * plane + i] == px[i * 3 + c] / 255.0f);

    struct {
        vigia_input_desc d;
        int planar_rgb;
    } cases[] = {
        { { 0 }, 1 },
        { { .dtype = VIGIA_DTYPE_U8 }, 0 },
        { { .dtype = VIGIA_DTYPE_U8, .layout = VIGIA_LAYOUT_NHWC, .channels = VIGIA_CHANNELS_BGR }, 0 },
        { { .layout = VIGIA_LAYOUT_NHWC, .mean = { 0.485f, 0.456f, 0.406f }, .std = { 0.229f, 0.224f, 0.225f } }, 0 },
        { { .channels = VIGIA_CHANNELS_BGR, .mean = { 0.5f, 0, 0.25f } }, 0 },
        { { .std = { 1, 1, 1 } }, 1 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const vigia_input_desc *d = &cases[k].d;
        int u8 = d->dtype == VIGIA_DTYPE_U8, nhwc = d->layout == VIGIA_LAYOUT_NHWC;
        assert_int_equal(vg_tensor_is_planar_rgb(d), cases[k].planar_rgb);
        assert_int_equal(vg_tensor_bytes(d, W, H), plane * 3 * (u8 ? 1 : sizeof(float)));
        union {
            uint8_t u[3 * W * H];
            float f[3 * W * H];
        } out;
        memset(&out, 0xa5, sizeof out);
        vg_tensor_from_chw(chw, W, H, d, &out);
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) {
                int src = d->channels == VIGIA_CHANNELS_BGR ? 2 - c : c;
                uint8_t v = px[i * 3 + src];
                size_t at = nhwc ? i * 3 + c : c * plane + i;
                if (u8) {
                    assert_int_equal(out.u[at], v);
                } else {
                    float sd = d->std[c] != 0 ? d->std[c] : 1;
                    float want = (v / 255.0f - d->mean[c]) / sd;
                    assert_true(fabsf(out.f[at] - want) <= 1e-6f * (1 + fabsf(want)));
                }
            }
    }
    vigia_input_desc enc = { .dtype = VIGIA_DTYPE_ENCODED };
    assert_int_equal(vg_tensor_bytes(&enc, W, H), 0);
    assert_int_equal(vg_tensor_is_planar_rgb(&enc), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_formats),
        cmocka_unit_test(test_orientation),
        cmocka_unit_test(test_jpeg_as_libvips),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_letterbox),
        cmocka_unit_test(test_stretch),
        cmocka_unit_test(test_annotate),
        cmocka_unit_test(test_tensor_formats),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
