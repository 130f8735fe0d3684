/* colors: clothing colour estimates on a box's pixels (see colors.h). */
#include "pipeline/colors.h"

#include <string.h>

static const char *const names[VG_COLOR_COUNT] = {
    NULL, "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
};


const char *
vg_color_name(int c)
{
    return c > VG_COLOR_NONE && c < VG_COLOR_COUNT ? names[c] : NULL;
}


int
vg_color_from_name(const char *name, size_t len)
{
    for (int c = 1; c < VG_COLOR_COUNT; c++)
        if (strlen(names[c]) == len && memcmp(names[c], name, len) == 0)
            return c;
    return VG_COLOR_NONE;
}


/*
 * HSV with V = max/255, S = (max - min)/max, H in degrees; in this order:
 *   V < 0.22                          black
 *   S < 0.18, or S < 0.28 and V < 0.4 white (V >= 0.75) or grey
 *   H < 15 or H >= 345                pink when S < 0.45 and V >= 0.7, else red
 *   15 <= H < 45                      orange when V >= 0.6, else brown
 *   45 <= H < 70                      yellow when V >= 0.5, else brown
 *   70 <= H < 170                     green
 *   170 <= H < 255                    blue
 *   255 <= H < 290                    purple
 *   290 <= H < 345                    pink
 * Integer arithmetic: H = 60 * (sector + (next - prev) / chroma).
 */
int
vg_color_of_rgb(uint8_t r, uint8_t g, uint8_t b)
{
    int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    int c = mx - mn;
    if (mx * 100 < 22 * 255)
        return VG_COLOR_BLACK;
    if (c * 100 < 18 * mx || (c * 100 < 28 * mx && mx * 100 < 40 * 255))
        return mx * 100 >= 75 * 255 ? VG_COLOR_WHITE : VG_COLOR_GREY;
    int h;                              /* degrees, 0..359 */
    if (mx == r)
        h = (60 * (g - b) / c + 360) % 360;
    else if (mx == g)
        h = 120 + 60 * (b - r) / c;
    else
        h = 240 + 60 * (r - g) / c;
    int v100 = mx * 100 / 255, s100 = c * 100 / mx;
    if (h < 15 || h >= 345)
        return s100 < 45 && v100 >= 70 ? VG_COLOR_PINK : VG_COLOR_RED;
    if (h < 45)
        return v100 >= 60 ? VG_COLOR_ORANGE : VG_COLOR_BROWN;
    if (h < 70)
        return v100 >= 50 ? VG_COLOR_YELLOW : VG_COLOR_BROWN;
    if (h < 170)
        return VG_COLOR_GREEN;
    if (h < 255)
        return VG_COLOR_BLUE;
    if (h < 290)
        return VG_COLOR_PURPLE;
    return VG_COLOR_PINK;
}


/* The most frequent colour of the rows [ya, yb) x columns [xa, xb) of im, on a grid of at most VG_COLORS_SAMPLES. */
static int
dominant(const vg_image *im, int xa, int xb, int ya, int yb)
{
    if (xb <= xa || yb <= ya)
        return VG_COLOR_NONE;
    unsigned votes[VG_COLOR_COUNT] = { 0 };
    int side = 16;                      /* side * side == VG_COLORS_SAMPLES */
    int nx = xb - xa < side ? xb - xa : side, ny = yb - ya < side ? yb - ya : side;
    for (int j = 0; j < ny; j++) {
        int y = ya + (int)((2 * j + 1) * (long)(yb - ya) / (2 * ny));
        const uint8_t *row = im->rgb + (size_t)y * (size_t)im->w * 3;
        for (int i = 0; i < nx; i++) {
            int x = xa + (int)((2 * i + 1) * (long)(xb - xa) / (2 * nx));
            const uint8_t *p = row + (size_t)x * 3;
            votes[vg_color_of_rgb(p[0], p[1], p[2])]++;
        }
    }
    int best = VG_COLOR_NONE;
    for (int c = 1; c < VG_COLOR_COUNT; c++)
        if (votes[c] > votes[best])
            best = c;
    return best;
}


static int
clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}


void
vg_colors_estimate(const vg_image *im, int x0, int y0, int x1, int y1, int *upper, int *lower)
{
    *upper = *lower = VG_COLOR_NONE;
    if (!im || !im->rgb || im->w <= 0 || im->h <= 0 || x1 < x0 || y1 < y0)
        return;
    int fw = im->full_w > 0 ? im->full_w : im->w, fh = im->full_h > 0 ? im->full_h : im->h;
    /* the box in the decoded pixels (reduced decodes scale it down), end exclusive */
    long bx0 = (long)x0 * im->w / fw, bx1 = ((long)x1 + 1) * im->w / fw;
    long by0 = (long)y0 * im->h / fh, by1 = ((long)y1 + 1) * im->h / fh;
    long bw = bx1 - bx0, bh = by1 - by0;
    int xa = clampi((int)(bx0 + bw / 4), 0, im->w), xb = clampi((int)(bx0 + 3 * bw / 4), 0, im->w);
    int ua = clampi((int)(by0 + 15 * bh / 100), 0, im->h), ub = clampi((int)(by0 + 50 * bh / 100), 0, im->h);
    int la = ub, lb = clampi((int)(by0 + 90 * bh / 100), 0, im->h);
    *upper = dominant(im, xa, xb, ua, ub);
    *lower = dominant(im, xa, xb, la, lb);
}


void
vg_colors_persons(const vg_image *im, vg_detection *dets, size_t n)
{
    int done = 0;
    for (size_t i = 0; i < n && done < VG_COLORS_MAX_BOXES; i++) {
        vg_detection *d = &dets[i];
        if (!d->label || strcmp(d->label, VG_COLORS_LABEL) != 0)
            continue;
        int u, l;
        vg_colors_estimate(im, d->x_min, d->y_min, d->x_max, d->y_max, &u, &l);
        d->upper_color = (uint8_t)u;
        d->lower_color = (uint8_t)l;
        done++;
    }
}
