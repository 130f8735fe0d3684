/*
 * tests/cpu/cpu_util.c: see cpu_util.h.
 */
#include "vg_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#ifdef HAVE_DARKNET
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <darknet.h>
#pragma GCC diagnostic pop
#endif

#include "cpu_util.h"

const char *cu_shared_dir(void)
{
    static char buf[4096];
    const char *env = getenv("VIGIA_SHARED");

    if (env && *env)
        return env;
    env = getenv("VIGIA_SRCDIR");
#ifdef VIGIA_SRCDIR
    if (!env || !*env)
        env = VIGIA_SRCDIR;
#endif
    snprintf(buf, sizeof buf, "%s/../shared", env ? env : ".");
    return buf;
}


const char *cu_shared_path(const char *sub, const char *name)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];

    snprintf(b, sizeof bufs[0], "%s/%s/%s", cu_shared_dir(), sub, name);
    return b;
}


int cu_file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}


const char *cu_tmpdir(void)
{
    static char buf[4096];
    const char *t = getenv("TMPDIR");

    snprintf(buf, sizeof buf, "%s/vgc-test-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf) ? buf : NULL;
}


void cu_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}


int cu_write_cfg_variant(const char *src, const char *dst, int width, int height)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    char line[8192];
    int in_net = 0, rc = 0;

    if (!in || !out) {
        rc = -1;
        goto done;
    }
    while (fgets(line, sizeof line, in)) {
        char key[64];

        if (line[0] == '[')
            in_net = strncmp(line, "[net]", 5) == 0;
        if (in_net && sscanf(line, " %63[a-z_] =", key) == 1) {
            if (strcmp(key, "batch") == 0 || strcmp(key, "subdivisions") == 0) {
                fprintf(out, "%s=1\n", key);
                continue;
            }
            if (width && strcmp(key, "width") == 0) {
                fprintf(out, "width=%d\n", width);
                continue;
            }
            if (height && strcmp(key, "height") == 0) {
                fprintf(out, "height=%d\n", height);
                continue;
            }
        }
        fputs(line, out);
    }
done:
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}


int cu_images_init(const char *argv0)
{
    if (VIPS_INIT(argv0))
        return -1;
    vips_cache_set_max(0);
    return 0;
}


void cu_images_shutdown(void)
{
    vips_shutdown();
}


/* Bilinear resize of a planar c x h x w image, the way darknet's resize_image does it. */
static void resize_bilinear(const float *im, int c, int h, int w, float *out, int nh, int nw)
{
    float *part = malloc((size_t)c * h * nw * sizeof(float));
    float ws = nw > 1 ? (float)(w - 1) / (float)(nw - 1) : 0;
    float hs = nh > 1 ? (float)(h - 1) / (float)(nh - 1) : 0;

    if (!part)
        abort();
    for (int k = 0; k < c; k++) {
        for (int r = 0; r < h; r++) {
            const float *row = im + ((size_t)k * h + r) * w;

            for (int x = 0; x < nw; x++) {
                float v;

                if (x == nw - 1 || w == 1) {
                    v = row[w - 1];
                } else {
                    float sx = x * ws;
                    int ix = (int)sx;
                    float dx = sx - ix;

                    v = (1 - dx) * row[ix] + dx * row[ix + 1];
                }
                part[((size_t)k * h + r) * nw + x] = v;
            }
        }
    }
    for (int k = 0; k < c; k++) {
        for (int r = 0; r < nh; r++) {
            float sy = r * hs;
            int iy = (int)sy;
            float dy = sy - iy;
            float *dst = out + ((size_t)k * nh + r) * nw;
            const float *a = part + ((size_t)k * h + iy) * nw;

            for (int x = 0; x < nw; x++)
                dst[x] = (1 - dy) * a[x];
            if (r == nh - 1 || h == 1)
                continue;
            for (int x = 0; x < nw; x++)
                dst[x] += dy * a[nw + x];
        }
    }
    free(part);
}


int cu_letterbox_file(const char *path, int net_w, int net_h, float *out, cu_geom *geom)
{
    VipsImage *im = NULL, *rgb = NULL, *u8 = NULL;
    unsigned char *pix = NULL;
    float *planar = NULL, *resized = NULL;
    size_t size;
    int rc = -1, w, h, nw, nh;

    im = vips_image_new_from_file(path, NULL);
    if (!im)
        goto out;
    if (vips_image_get_bands(im) < 3) {
        if (vips_colourspace(im, &rgb, VIPS_INTERPRETATION_sRGB, NULL))
            goto out;
    } else if (vips_extract_band(im, &rgb, 0, "n", 3, NULL)) {
        goto out;
    }
    if (vips_cast_uchar(rgb, &u8, NULL))
        goto out;
    pix = vips_image_write_to_memory(u8, &size);
    if (!pix)
        goto out;
    w = vips_image_get_width(u8);
    h = vips_image_get_height(u8);
    planar = malloc((size_t)3 * w * h * sizeof(float));
    if (!planar)
        goto out;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                planar[((size_t)k * h + y) * w + x] = pix[((size_t)y * w + x) * 3 + k] / 255.0f;
    if ((float)net_w / w < (float)net_h / h) {
        nw = net_w;
        nh = (h * net_w) / w;
    } else {
        nh = net_h;
        nw = (w * net_h) / h;
    }
    resized = malloc((size_t)3 * nw * nh * sizeof(float));
    if (!resized)
        goto out;
    resize_bilinear(planar, 3, h, w, resized, nh, nw);
    for (size_t i = 0; i < (size_t)3 * net_w * net_h; i++)
        out[i] = 0.5f;
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < nh; y++)
            memcpy(out + ((size_t)k * net_h + y + (net_h - nh) / 2) * net_w + (net_w - nw) / 2,
                   resized + ((size_t)k * nh + y) * nw, (size_t)nw * sizeof(float));
    if (geom)
        *geom = (cu_geom){ w, h, net_w, net_h, nw, nh };
    rc = 0;
out:
    if (rc < 0)
        vips_error_clear();
    free(resized);
    free(planar);
    g_free(pix);
    if (u8)
        g_object_unref(u8);
    if (rgb)
        g_object_unref(rgb);
    if (im)
        g_object_unref(im);
    return rc;
}


void cu_box_to_pixels(const cu_geom *g, const float *bx, double px[4])
{
    double x = (bx[0] - (g->net_w - g->new_w) / 2.0 / g->net_w) / ((double)g->new_w / g->net_w);
    double y = (bx[1] - (g->net_h - g->new_h) / 2.0 / g->net_h) / ((double)g->new_h / g->net_h);
    double w = bx[2] * (double)g->net_w / g->new_w;
    double h = bx[3] * (double)g->net_h / g->new_h;

    px[0] = (x - w / 2) * g->im_w;
    px[1] = (y - h / 2) * g->im_h;
    px[2] = (x + w / 2) * g->im_w;
    px[3] = (y + h / 2) * g->im_h;
}


size_t cu_compare(const float *ref, const float *got, size_t n, double tol, double *max_err)
{
    size_t bad = 0;
    double worst = 0;

    for (size_t i = 0; i < n; i++) {
        double r = ref[i], d = fabs((double)got[i] - r) / fmax(1.0, fabs(r));

        if (!(d <= tol))
            bad++;
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    if (max_err)
        *max_err = worst;
    return bad;
}


double cu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#ifdef HAVE_DARKNET

/* Run f with fd 2 pointed at /dev/null (darknet prints its layer table there). */
static int quiet_stderr(void)
{
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);

    fflush(stderr);
    if (devnull >= 0) {
        dup2(devnull, 2);
        close(devnull);
    }
    return saved;
}


static void restore_stderr(int saved)
{
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
}


struct network *cu_dn_load(const char *cfg, const char *weights)
{
    network *net;
    int saved;

    /* darknet exit()s on a missing file: check first */
    if (!cu_file_exists(cfg) || (weights && !cu_file_exists(weights))) {
        fprintf(stderr, "darknet: missing %s or %s\n", cfg, weights ? weights : "-");
        return NULL;
    }
    saved = quiet_stderr();
    net = load_network((char *)cfg, (char *)weights, 0);
    restore_stderr(saved);
    if (net)
        set_batch_network(net, 1);
    return net;
}


void cu_dn_free(struct network *net)
{
    if (net)
        free_network(net);
}


float *cu_dn_predict(struct network *net, float *input)
{
    return network_predict(net, input);
}


int cu_dn_layers(struct network *net)
{
    return net->n;
}


const float *cu_dn_layer_output(struct network *net, int i, size_t *n, int *is_yolo)
{
    *n = (size_t)net->layers[i].outputs;
    if (is_yolo)
        *is_yolo = net->layers[i].type == YOLO;
    return net->layers[i].output;
}


int cu_dn_candidates(struct network *net, float thresh, int classes, int cap, float *bx,
                     float *obj, float *prob)
{
    int n = 0;
    detection *d = get_network_boxes(net, net->w, net->h, thresh, 0, NULL, 1, &n);

    if (n > cap) {
        free_detections(d, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        bx[4 * i + 0] = d[i].bbox.x;
        bx[4 * i + 1] = d[i].bbox.y;
        bx[4 * i + 2] = d[i].bbox.w;
        bx[4 * i + 3] = d[i].bbox.h;
        obj[i] = d[i].objectness;
        for (int c = 0; c < classes; c++)
            prob[(size_t)i * classes + c] = c < d[i].classes ? d[i].prob[c] : 0;
    }
    free_detections(d, n);
    return n;
}

#endif


/* ---- a manifest without the host ------------------------------------------ */

static const char *
kv_get(const vigia_manifest *m, const char *key)
{
    const char **kv = (const char **)(uintptr_t)m->host_ctx;
    for (size_t i = 0; kv && kv[i]; i += 2)
        if (strcmp(kv[i], key) == 0)
            return kv[i + 1];
    return NULL;
}


static int
kv_int(const vigia_manifest *m, const char *key, long long lo, long long hi, long long def, long long *out,
       char *err, size_t errlen)
{
    const char *v = kv_get(m, key);
    char *end;
    *out = def;
    if (!v)
        return 0;
    *out = strtoll(v, &end, 10);
    if (end == v || *end || *out < lo || *out > hi)
        return snprintf(err, errlen, "%s: '%s' is not an integer in [%lld, %lld]", key, v, lo, hi), VIGIA_EINVAL;
    return 0;
}


static int
kv_float(const vigia_manifest *m, const char *key, double lo, double hi, double def, double *out, char *err,
         size_t errlen)
{
    const char *v = kv_get(m, key);
    char *end;
    *out = def;
    if (!v)
        return 0;
    *out = strtod(v, &end);
    if (end == v || *end || !(*out >= lo && *out <= hi))
        return snprintf(err, errlen, "%s: '%s' is not a number in [%g, %g]", key, v, lo, hi), VIGIA_EINVAL;
    return 0;
}


static int
kv_bool(const vigia_manifest *m, const char *key, int def, int *out, char *err, size_t errlen)
{
    const char *v = kv_get(m, key);
    *out = v ? strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0 : def;
    if (v && !*out && strcmp(v, "false") && strcmp(v, "off") && strcmp(v, "0"))
        return snprintf(err, errlen, "%s: '%s' is not a boolean", key, v), VIGIA_EINVAL;
    return 0;
}


static int
kv_string(const vigia_manifest *m, const char *key, const char *const *choices, const char *def,
          const char **out, char *err, size_t errlen)
{
    const char *v = kv_get(m, key);
    *out = v ? v : def;
    for (size_t i = 0; v && choices && choices[i]; i++)
        if (strcmp(v, choices[i]) == 0)
            return 0;
    if (v && choices)
        return snprintf(err, errlen, "%s: '%s' is not one of the choices", key, v), VIGIA_EINVAL;
    return 0;
}


void
cu_manifest_init(vigia_manifest *m, const char **kv)
{
    m->struct_size = sizeof *m;
    m->device = -1;
    m->get = kv_get;
    m->get_int = kv_int;
    m->get_float = kv_float;
    m->get_bool = kv_bool;
    m->get_string = kv_string;
    m->host_ctx = kv;
}
