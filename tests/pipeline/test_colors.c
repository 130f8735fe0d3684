/*
 * test_colors: the clothing colour estimate on synthetic images: a person
 * box painted with known upper and lower colours under noise and shading,
 * on a background that fills the box's outer columns; reduced decodes;
 * only person boxes get colours.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pipeline/colors.h"

static uint32_t seed = 12345;

static int
noise(int amp)
{
    seed = seed * 1103515245u + 12345u;
    return (int)((seed >> 16) % (uint32_t)(2 * amp + 1)) - amp;
}


static uint8_t
clamp8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}


typedef struct paint {
    uint8_t upper[3], lower[3];
    double shade_lo;                   /* brightness from shade_lo (top of a region) to 1 (its bottom) */
    int amp;                           /* brightness noise per pixel, +-amp, and a third of it per channel */
} paint;


/*
 * A w x h image (as sent: fw x fh) of a grass-green background with a
 * person at (x0, y0)-(x1, y1) in full pixels: a skin-coloured head on top,
 * the painted upper and lower body in the central part of the box, the
 * background around them.
 */
static vg_image
person_image(int w, int h, int fw, int fh, int x0, int y0, int x1, int y1, const paint *p)
{
    vg_image im = { .w = w, .h = h, .full_w = fw, .full_h = fh };
    im.rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double fx = (double)x * fw / w, fy = (double)y * fh / h;
            uint8_t base[3] = { 60, 150, 50 };
            const uint8_t *c = base;
            double shade = 1;
            double bw = x1 - x0 + 1, bh = y1 - y0 + 1;
            double rx = (fx - x0) / bw, ry = (fy - y0) / bh;
            static const uint8_t skin[3] = { 225, 180, 150 };
            if (rx >= 0.2 && rx < 0.8 && ry >= 0 && ry < 1) {
                if (ry < 0.14) {
                    c = skin;
                } else if (ry < 0.5) {
                    c = p->upper;
                    shade = p->shade_lo + (1 - p->shade_lo) * (ry - 0.14) / 0.36;
                } else {
                    c = p->lower;
                    shade = p->shade_lo + (1 - p->shade_lo) * (ry - 0.5) / 0.5;
                }
            }
            int common = noise(p->amp);
            uint8_t *o = im.rgb + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++)
                o[k] = clamp8((int)(c[k] * shade) + common + noise(p->amp / 3));
        }
    }
    return im;
}


static void
expect(const paint *p, const char *up, const char *lo)
{
    vg_image im = person_image(320, 240, 320, 240, 100, 20, 179, 229, p);
    int u, l;
    vg_colors_estimate(&im, 100, 20, 179, 229, &u, &l);
    if (!vg_color_name(u) || strcmp(vg_color_name(u), up) || !vg_color_name(l) || strcmp(vg_color_name(l), lo))
        fail_msg("painted %s/%s, estimated %s/%s", up, lo, vg_color_name(u) ? vg_color_name(u) : "none",
                 vg_color_name(l) ? vg_color_name(l) : "none");
    free(im.rgb);
}


static void
test_palette(void **state)
{
    (void)state;
    static const struct { uint8_t r, g, b; const char *name; } t[] = {
        { 10, 10, 10, "black" },    { 245, 245, 240, "white" }, { 128, 128, 128, "grey" },
        { 70, 70, 75, "grey" },     { 200, 30, 30, "red" },     { 240, 130, 20, "orange" },
        { 220, 200, 40, "yellow" }, { 40, 150, 60, "green" },   { 40, 60, 190, "blue" },
        { 110, 40, 160, "purple" }, { 240, 140, 190, "pink" },  { 120, 70, 30, "brown" },
        { 250, 160, 170, "pink" },  { 20, 160, 200, "blue" },   { 100, 90, 20, "brown" },
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        const char *got = vg_color_name(vg_color_of_rgb(t[i].r, t[i].g, t[i].b));
        if (strcmp(got, t[i].name))
            fail_msg("(%d, %d, %d): %s, want %s", t[i].r, t[i].g, t[i].b, got, t[i].name);
    }
    assert_null(vg_color_name(VG_COLOR_NONE));
    assert_null(vg_color_name(VG_COLOR_COUNT));
    assert_int_equal(vg_color_from_name("blue", 4), VG_COLOR_BLUE);
    assert_int_equal(vg_color_from_name("blu", 3), VG_COLOR_NONE);
}


static void
test_painted_boxes(void **state)
{
    (void)state;
    paint p = { { 200, 30, 30 }, { 40, 60, 190 }, 0.65, 20 };
    expect(&p, "red", "blue");
    p = (paint){ { 240, 238, 235 }, { 20, 20, 22 }, 0.92, 10 };
    expect(&p, "white", "black");
    p = (paint){ { 220, 200, 40 }, { 128, 128, 128 }, 0.75, 18 };
    expect(&p, "yellow", "grey");
    p = (paint){ { 40, 150, 60 }, { 110, 60, 25 }, 0.8, 12 };
    expect(&p, "green", "brown");
    p = (paint){ { 240, 140, 190 }, { 110, 40, 160 }, 0.8, 15 };
    expect(&p, "pink", "purple");
    p = (paint){ { 240, 130, 20 }, { 30, 50, 140 }, 0.7, 20 };
    expect(&p, "orange", "blue");
}


/* The background in the box's outer columns and the head do not count: the central columns and body rows do. */
static void
test_regions(void **state)
{
    (void)state;
    paint p = { { 200, 30, 30 }, { 200, 30, 30 }, 1, 0 };
    vg_image im = person_image(320, 240, 320, 240, 100, 20, 179, 229, &p);
    int u, l;
    vg_colors_estimate(&im, 100, 20, 179, 229, &u, &l);
    assert_int_equal(u, VG_COLOR_RED);
    assert_int_equal(l, VG_COLOR_RED);
    /* a box twice as wide, the person in its middle half: still the person's colour */
    vg_colors_estimate(&im, 60, 20, 219, 229, &u, &l);
    assert_int_equal(u, VG_COLOR_RED);
    /* a box over the background alone */
    vg_colors_estimate(&im, 200, 20, 279, 229, &u, &l);
    assert_int_equal(u, VG_COLOR_GREEN);
    /* a box too small to sample, and a box upside down */
    vg_colors_estimate(&im, 10, 10, 10, 10, &u, &l);
    assert_int_equal(u, VG_COLOR_NONE);
    assert_int_equal(l, VG_COLOR_NONE);
    vg_colors_estimate(&im, 10, 10, 5, 5, &u, &l);
    assert_int_equal(u, VG_COLOR_NONE);
    free(im.rgb);
}


/* An image decoded reduced (a quarter of its side): the box, in full pixels, is scaled to it. */
static void
test_reduced(void **state)
{
    (void)state;
    paint p = { { 40, 60, 190 }, { 220, 200, 40 }, 0.7, 15 };
    vg_image im = person_image(160, 120, 640, 480, 200, 40, 359, 459, &p);
    int u, l;
    vg_colors_estimate(&im, 200, 40, 359, 459, &u, &l);
    assert_int_equal(u, VG_COLOR_BLUE);
    assert_int_equal(l, VG_COLOR_YELLOW);
    /* a box on the image's last pixels stays inside the reduced image */
    vg_colors_estimate(&im, 600, 400, 639, 479, &u, &l);
    assert_int_equal(u, VG_COLOR_GREEN);
    free(im.rgb);
}


static void
test_persons_only(void **state)
{
    (void)state;
    paint p = { { 200, 30, 30 }, { 40, 60, 190 }, 0.8, 10 };
    vg_image im = person_image(320, 240, 320, 240, 100, 20, 179, 229, &p);
    vg_detection d[VG_COLORS_MAX_BOXES + 2];
    memset(d, 0, sizeof d);
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        d[i] = (vg_detection){ .label = i == 1 ? "dog" : "person", .x_min = 100, .y_min = 20, .x_max = 179,
                               .y_max = 229 };
    vg_colors_persons(&im, d, sizeof d / sizeof *d);
    assert_int_equal(d[0].upper_color, VG_COLOR_RED);
    assert_int_equal(d[0].lower_color, VG_COLOR_BLUE);
    assert_int_equal(d[1].upper_color, 0);                              /* a dog */
    assert_int_equal(d[VG_COLORS_MAX_BOXES].upper_color, VG_COLOR_RED); /* the 64th person */
    assert_int_equal(d[VG_COLORS_MAX_BOXES + 1].upper_color, 0);        /* beyond the cap */
    vg_image none = { 0 };
    d[0].upper_color = 0;
    vg_colors_persons(&none, d, 1);                                     /* no pixels: no estimate */
    assert_int_equal(d[0].upper_color, 0);
    free(im.rgb);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_palette),
        cmocka_unit_test(test_painted_boxes),
        cmocka_unit_test(test_regions),
        cmocka_unit_test(test_reduced),
        cmocka_unit_test(test_persons_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
