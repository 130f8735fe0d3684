/*
 * template: a complete, minimal vigia backend to copy when writing your own.
 *
 * It is a real detector, if a simple one: its "weights" file lists one
 * colour per class, and it finds regions of that colour. Replace what is
 * inside open(), infer() and close() with your engine; keep the rest.
 *
 * Build (against the installed header only):
 *     cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags vigia-backend) \
 *        template.c -o vigia-backend-template.so -lm
 * or `make` with the Makefile beside this file. Check it:
 *     vigia-plugin-check ./vigia-backend-template.so example
 *
 * The weights file (text):
 *     vigia-template 1 CLASSES         first line: magic, format version, class count
 *     R G B TOLERANCE                  one line per class, 0..255 each
 *
 * Manifest keys of its own section, [template] (declared in template_keys,
 * so the host refuses a typo there):
 *     cell = 8                         pixels per cell side, 4..64
 *
 * How it detects: the network input (planar RGB floats in [0, 1], the
 * default input of describe(): set info->input for another) is cut
 * into CELL x CELL pixel cells; a cell whose mean colour lies within the
 * class tolerance of a class colour belongs to that class; each
 * 4-connected group of same-class cells is one candidate box, with
 * objectness = the share of its bounding box the group fills.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vigia/backend.h>

#define TPL_NAME "template"
#define TPL_VERSION "1.0"
#define CELL_DEFAULT 8             /* pixels per cell side */
#define MAX_CLASSES 256
#define MAX_SIDE 4096

typedef struct colour {
    float r, g, b, tol;            /* in [0, 1] */
} colour;

/* Everything one loaded model needs. vigia_model is opaque to the host. */
struct vigia_model {
    int w, h;                      /* input size */
    int cell_px;                   /* pixels per cell side */
    int classes;
    int max_batch;
    colour *colours;               /* one per class */
    int gw, gh;                    /* grid of cells */
    int *cell;                     /* class of each cell, -1 = none (scratch) */
    int *stack;                    /* flood fill (scratch) */
    const vigia_host *host;
};


/* Errors: a negative VIGIA_E* code and a one-line lowercase message. */
static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}


static void
note(const vigia_host *host, enum vigia_log_level level, const char *msg)
{
    /* entries of the host table may be NULL in other hosts: check first */
    if (host && host->struct_size >= offsetof(vigia_host, log) + sizeof host->log && host->log)
        host->log(level, msg);
}


static int
load_weights(vigia_model *m, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char line[256];
    int version = 0, n = 0, rc = 0;

    /* validate before reading: a missing or odd file is an error, never exit() */
    if (!path || !path[0])
        return fail(err, errlen, VIGIA_EINVAL, "the manifest names no weights file");
    if (stat(path, &st) != 0)
        return fail(err, errlen, VIGIA_ENOENT, "weights %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size > 1 << 20)
        return fail(err, errlen, VIGIA_EINVAL, "weights %s: not a small regular file", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, VIGIA_ENOENT, "weights %s: %s", path, strerror(errno));
    if (!fgets(line, sizeof line, f) || sscanf(line, "vigia-template %d %d", &version, &n) != 2 ||
        version != 1 || n < 1 || n > MAX_CLASSES) {
        rc = fail(err, errlen, VIGIA_EINVAL, "weights %s: not a vigia-template 1 file", path);
        goto out;
    }
    m->colours = calloc((size_t)n, sizeof *m->colours);
    if (!m->colours) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < n; k++) {
        int r, g, b, t;
        if (!fgets(line, sizeof line, f) || sscanf(line, "%d %d %d %d", &r, &g, &b, &t) != 4 ||
            r < 0 || r > 255 || g < 0 || g > 255 || b < 0 || b > 255 || t < 0 || t > 255) {
            rc = fail(err, errlen, VIGIA_EINVAL, "weights %s: class %d: expected 'R G B TOLERANCE' (truncated?)",
                      path, k);
            goto out;
        }
        m->colours[k] = (colour){ r / 255.0f, g / 255.0f, b / 255.0f, t / 255.0f };
    }
    m->classes = n;
out:
    fclose(f);
    return rc;
}


static void tpl_close(vigia_model *m);


static int
tpl_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    vigia_model *m;
    int rc;
    long long cell;

    *out = NULL;
    /* a host of our major speaks our structs, whatever its minor */
    if (!host || VIGIA_ABI_MAJOR(host->abi_version) != VIGIA_BACKEND_ABI_MAJOR)
        return fail(err, errlen, VIGIA_ENOTSUP, "host speaks ABI %u, this backend %u",
                    host ? VIGIA_ABI_MAJOR(host->abi_version) : 0, VIGIA_BACKEND_ABI_MAJOR);
    if (!man || man->max_batch < 1)
        return fail(err, errlen, VIGIA_EINVAL, "bad manifest");
    /* typed manifest access: a bad value comes back as an error naming file, line and key */
    if ((rc = man->get_int(man, "template.cell", 4, 64, CELL_DEFAULT, &cell, err, errlen)) != 0)
        return rc;
    m = calloc(1, sizeof *m);
    if (!m)
        return fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    m->host = host;
    m->w = man->input_w > 0 ? man->input_w : 320;
    m->h = man->input_h > 0 ? man->input_h : 320;
    m->max_batch = man->max_batch;
    m->cell_px = (int)cell;
    if (m->w < m->cell_px || m->h < m->cell_px || m->w > MAX_SIDE || m->h > MAX_SIDE) {
        rc = fail(err, errlen, VIGIA_ENOTSUP, "input %dx%d outside %d..%d", m->w, m->h, m->cell_px, MAX_SIDE);
        goto fail_out;
    }
    if ((rc = load_weights(m, man->weights_path, err, errlen)) != 0)
        goto fail_out;
    m->gw = m->w / m->cell_px;
    m->gh = m->h / m->cell_px;
    m->cell = malloc(sizeof *m->cell * (size_t)m->gw * m->gh);
    m->stack = malloc(sizeof *m->stack * (size_t)m->gw * m->gh);
    if (!m->cell || !m->stack) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail_out;
    }
    note(host, VIGIA_LOG_DEBUG, "template: model loaded");
    *out = m;
    return 0;
fail_out:
    tpl_close(m);
    return rc;
}


static int
tpl_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    if (!m || !info)
        return fail(err, errlen, VIGIA_EINVAL, "no model");
    info->input_w = m->w;
    info->input_h = m->h;
    info->input_c = 3;
    info->classes = m->classes;
    info->max_batch = m->max_batch;
    info->device = "cpu (template colour matcher)";
    info->gflops = 0;
    /* what it does and takes; zeros (the defaults) would say the same */
    info->task = VIGIA_TASK_DETECT;
    info->output = VIGIA_OUTPUT_CANDIDATES;        /* the host runs NMS */
    info->input.dtype = VIGIA_DTYPE_F32;           /* planar RGB floats in [0, 1] */
    info->input.layout = VIGIA_LAYOUT_NCHW;
    info->input.channels = VIGIA_CHANNELS_RGB;
    info->input.resize = VIGIA_RESIZE_MODEL;       /* letterbox or stretch, as the manifest says */
    info->labels = NULL;                           /* the manifest's names file */
    return 0;
}


/* Which class the mean colour of cell (cx, cy) matches, or -1. */
static int
classify(const vigia_model *m, const float *img, int cx, int cy)
{
    size_t plane = (size_t)m->w * m->h;
    double sum[3] = { 0, 0, 0 };
    int cell = m->cell_px;
    for (int y = cy * cell; y < (cy + 1) * cell; y++)
        for (int x = cx * cell; x < (cx + 1) * cell; x++)
            for (int c = 0; c < 3; c++)
                sum[c] += img[c * plane + (size_t)y * m->w + x];
    float r = (float)(sum[0] / (cell * cell)), g = (float)(sum[1] / (cell * cell)),
          b = (float)(sum[2] / (cell * cell));
    int best = -1;
    float best_d = 0;
    for (int k = 0; k < m->classes; k++) {
        const colour *c = &m->colours[k];
        float d = fmaxf(fabsf(r - c->r), fmaxf(fabsf(g - c->g), fabsf(b - c->b)));
        if (d <= c->tol && (best < 0 || d < best_d)) {
            best = k;
            best_d = d;
        }
    }
    return best;
}


static int
tpl_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    if (!m || !in || !in->input || !out)
        return fail(err, errlen, VIGIA_EINVAL, "missing argument");
    const float *input = in->input;
    int batch = (int)in->count;
    float threshold = in->threshold;
    int cell = m->cell_px;
    if (batch < 1 || batch > m->max_batch)
        return fail(err, errlen, VIGIA_ENOTSUP, "batch %d outside 1..%d", batch, m->max_batch);
    size_t per = (size_t)3 * m->w * m->h, ncell = (size_t)m->gw * m->gh;
    for (int b = 0; b < batch; b++) {
        const float *img = input + per * (size_t)b;
        vigia_candidates *o = &out[b];
        o->count = 0;
        o->truncated = 0;
        for (int cy = 0; cy < m->gh; cy++)
            for (int cx = 0; cx < m->gw; cx++)
                m->cell[cy * m->gw + cx] = classify(m, img, cx, cy);
        /* each 4-connected group of same-class cells is one candidate */
        for (size_t start = 0; start < ncell; start++) {
            int k = m->cell[start];
            if (k < 0)
                continue;
            int x0 = m->gw, y0 = m->gh, x1 = -1, y1 = -1, filled = 0, sp = 0;
            m->stack[sp++] = (int)start;
            m->cell[start] = -1;
            while (sp > 0) {
                int i = m->stack[--sp], x = i % m->gw, y = i / m->gw;
                filled++;
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
                const int nb[4][2] = { { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } };
                for (int d = 0; d < 4; d++) {
                    int nx = x + nb[d][0], ny = y + nb[d][1];
                    if (nx < 0 || ny < 0 || nx >= m->gw || ny >= m->gh)
                        continue;
                    int j = ny * m->gw + nx;
                    if (m->cell[j] == k) {
                        m->cell[j] = -1;
                        m->stack[sp++] = j;
                    }
                }
            }
            float obj = (float)filled / (float)((x1 - x0 + 1) * (y1 - y0 + 1));
            if (!(obj > threshold))
                continue;
            uint32_t i = o->count;
            if (i >= o->capacity) {
                o->truncated = 1;   /* a full backend keeps the highest objectness */
                continue;
            }
            o->box[4 * i] = ((x0 + x1 + 1) * cell / 2.0f) / m->w;       /* centre, fraction of input */
            o->box[4 * i + 1] = ((y0 + y1 + 1) * cell / 2.0f) / m->h;
            o->box[4 * i + 2] = (float)((x1 - x0 + 1) * cell) / m->w;
            o->box[4 * i + 3] = (float)((y1 - y0 + 1) * cell) / m->h;
            if (o->objectness)
                o->objectness[i] = obj;
            for (int c = 0; c < m->classes; c++)
                o->prob[(size_t)i * m->classes + c] = c == k ? obj : 0;
            o->count++;
        }
    }
    return 0;
}


static void
tpl_close(vigia_model *m)
{
    if (!m)
        return;
    free(m->colours);
    free(m->cell);
    free(m->stack);
    free(m);
}


/* The keys of [template], without the section; the host refuses any other there. */
static const char *const template_keys[] = { "cell", NULL };


static const vigia_backend template_backend = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = TPL_NAME,
    .version = TPL_VERSION,
    .probe = NULL,                 /* no hardware to look for: always usable */
    .open = tpl_open,
    .describe = tpl_describe,
    .infer = tpl_infer,
    .close = tpl_close,
    .keys = template_keys,
};


/* The one exported symbol. Everything else stays static (-fvisibility=hidden). */
VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &template_backend;
}
