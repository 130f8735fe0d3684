/*
 * vigia-plugin-check [--image FILE] [--expect LABEL] [--timeout S] LIB.so
 * MODEL_DIR: the conformance suite for backend plugins. Each check runs in
 * its own child process under a time limit, so a plugin that crashes,
 * hangs or exit()s fails that check and the suite goes on; after a check
 * timed out, the later checks that infer are skipped. Prints one line per
 * check and a verdict; exit status 0 when no check failed, 1 otherwise, 2
 * on usage errors.
 *
 * Every infer is fed a real image prepared by the host's own pipeline
 * (pipeline/detector: decode, resize, the tensor the model's input
 * descriptor asks for, or the encoded bytes): --image, else the model
 * directory's sample.jpg or sample.png, else a built-in sample (red, green
 * and blue blocks on grey). Its answer is judged as the server judges it
 * (candcheck: count, finite, in range, not pixels), and with --expect the
 * label must be found (a classifier's top-1).
 *
 * What is checked: the library loads with RTLD_NOW|RTLD_LOCAL and exports
 * vigia_backend_entry; the table matches this host's ABI (and the host
 * refuses another ABI version); probe answers; open/describe on the model;
 * the real image through the server's path, with the expected label;
 * resident memory over repeated infers; infer on batch 1 (finite,
 * in-range, deterministic output), thresholds, small candidate capacities,
 * every batch size up to max_batch and a refusal beyond it; missing or
 * truncated files refused with a message (never exit()); repeated
 * open/close without growing memory. A check whose plugin wrote to stdout
 * fails (vigia detect prints JSON there); what it wrote to stderr is shown
 * cut short.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/backend_loader.h"
#include "base/log.h"
#include "pipeline/detector.h"
#include "pipeline/image.h"
#include "pipeline/model.h"
#include "pool/worker.h"

#define CAP 4096
#define EXIT_BASE 40               /* a check's child exits with EXIT_BASE + result */

enum result { R_PASS = 0, R_WARN = 1, R_FAIL = 2, R_SKIP = 3 };

typedef struct ctx {
    const char *lib;
    vg_model *m;
    vg_backend *be;
    const vigia_backend *ops;      /* be->table: name, version, ABI (the calls go through be) */
    vigia_manifest man;
    char tmp[PATH_MAX];            /* a scratch directory */
    unsigned char *img;            /* the real image's encoded bytes (malloc'd) */
    size_t img_len;
    const char *img_name;          /* where it came from, for messages */
    const char *expect;            /* --expect: the label it must give; NULL: none */
} ctx;

typedef int (*check_fn)(ctx *c, char *msg, size_t n);

static int no_device;              /* probe said ENODEV: model checks are skipped */
static int timed_out;              /* a check timed out: later infer checks are skipped */
static unsigned timeout_all;       /* --timeout: every check's limit; 0: the table's */


static int
say(char *msg, size_t n, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return r;
}


/* Loads the plugin in this (child) process, as a worker does (any ABI it loads). */
static int
load(ctx *c, char *msg, size_t n)
{
    char e[512];
    if (vg_backend_load(NULL, c->lib, &c->be, e, sizeof e) != 0)
        return say(msg, n, R_FAIL, "%s", e);
    c->ops = &c->be->table;
    return R_PASS;
}


/*
 * The real image as this model's backend takes it, prepared once by the
 * host's own pipeline and copied into `copies` batch slots.
 */
typedef struct feed {
    unsigned char *t;              /* copies tensors back to back; NULL for ENCODED */
    size_t per;                    /* bytes of one */
    vigia_image views[VG_MODEL_MAX_BATCH + 1];
} feed;


static int
feed_init(ctx *c, int copies, feed *f, char *msg, size_t n)
{
    vg_detector_options o = { .backend = c->lib };
    vg_detector *d = NULL;
    char e[512];
    vigia_image v;
    memset(f, 0, sizeof *f);
    if (vg_detector_open(c->m, &o, &d, e, sizeof e) != 0)
        return say(msg, n, R_FAIL, "the host's pipeline cannot open the model: %s", e);
    f->per = vg_detector_input_bytes(d);
    f->t = f->per ? malloc(f->per * (size_t)copies) : NULL;
    if (f->per && !f->t) {
        vg_detector_close(d);
        return say(msg, n, R_FAIL, "out of memory");
    }
    int rc = vg_detector_prepare(d, c->img, c->img_len, f->t, &v, e, sizeof e);
    vg_detector_close(d);
    if (rc != 0) {
        free(f->t);
        return say(msg, n, R_FAIL, "%s: the host cannot prepare it for this model: %s", c->img_name, e);
    }
    for (int i = 0; i < copies && i <= VG_MODEL_MAX_BATCH; i++) {
        f->views[i] = v;
        if (f->t) {
            if (i)
                memcpy(f->t + f->per * (size_t)i, f->t, f->per);
            f->views[i].data = f->t + f->per * (size_t)i;
        }
    }
    return R_PASS;
}


/* One infer() call on the first `batch` images of f, as the host makes it (answers zeroed first). */
static int
run_infer(ctx *c, vigia_model *m, const feed *f, int batch, float thr, vigia_candidates *out, char *e, size_t n)
{
    for (int i = 0; i < batch && i < VG_MODEL_MAX_BATCH; i++) {
        out[i].count = out[i].truncated = 0;
        out[i].status = 0;
        if (out[i].err)
            out[i].err[0] = '\0';
    }
    vigia_batch b = { .struct_size = sizeof b, .count = (uint32_t)batch, .input = f->t, .images = f->views,
                      .threshold = thr };
    return vg_backend_infer(c->be, m, &b, out, e, n);
}


static int
open_model(ctx *c, const vigia_manifest *man, vigia_model **m, vigia_model_info *info, char *msg, size_t n)
{
    char e[VIGIA_ERRLEN] = "";
    int rc = vg_backend_open(c->be, vg_backend_host(), man, m, e, sizeof e);
    if (rc != 0 || !*m)
        return say(msg, n, R_FAIL, "open failed (%d): %s", rc, e[0] ? e : "no message");
    rc = vg_backend_describe(c->be, *m, info, e, sizeof e);
    if (rc != 0)
        return say(msg, n, R_FAIL, "describe failed (%d): %s", rc, e);
    return R_PASS;
}


/* ---- the checks -------------------------------------------------------------- */

static int
c_load(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    if (!c->ops->version || !c->ops->version[0])
        return say(msg, n, R_WARN, "backend '%s' has no version string", c->ops->name);
    if (c->be->abi1)
        return say(msg, n, R_WARN, "backend '%s' %s speaks ABI 1: it loads through the compatibility path; "
                   "rebuild it against ABI %u", c->ops->name, c->ops->version, VIGIA_BACKEND_ABI_MAJOR);
    return say(msg, n, R_PASS, "backend '%s' %s, ABI %u.%u, table of %u bytes", c->ops->name,
               c->ops->version, VIGIA_ABI_MAJOR(c->ops->abi_version), VIGIA_ABI_MINOR(c->ops->abi_version),
               c->ops->struct_size);
}


static int
c_abi_refused(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    if (c->be->abi1)
        return say(msg, n, R_SKIP, "an ABI 1 table");
    vigia_backend copy = *c->ops;
    copy.abi_version = VIGIA_ABI(VIGIA_BACKEND_ABI_MAJOR + 1, 0);
    char e[256];
    if (vg_backend_check(&copy, e, sizeof e) == 0)
        return say(msg, n, R_FAIL, "the host accepted a table of ABI %u", VIGIA_BACKEND_ABI_MAJOR + 1);
    copy.abi_version = VIGIA_BACKEND_ABI_VERSION;
    copy.struct_size = 16;
    if (vg_backend_check(&copy, e, sizeof e) == 0)
        return say(msg, n, R_FAIL, "the host accepted a truncated table");
    return say(msg, n, R_PASS, "a table of another ABI major or a short one is refused");
}


static int
c_probe(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    char e[VIGIA_ERRLEN];
    memset(e, 'x', sizeof e);
    int rc = vg_backend_probe(c->be, vg_backend_host(), e, sizeof e);
    if (rc == VIGIA_ENODEV) {
        if (!memchr(e, '\0', sizeof e))
            return say(msg, n, R_FAIL, "probe returned ENODEV with an unterminated message");
        return say(msg, n, R_SKIP, "no device here (%s): model checks skipped", e);
    }
    if (rc != 0)
        return say(msg, n, R_FAIL, "probe failed (%d)", rc);
    return say(msg, n, R_PASS, "usable here");
}


static int
c_foreign_host(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    vigia_host h = *vg_backend_host();
    h.abi_version = VIGIA_ABI(VIGIA_BACKEND_ABI_MAJOR + 1, 0);
    vigia_model *m = NULL;
    char e[VIGIA_ERRLEN] = "";
    int rc = vg_backend_open(c->be, &h, &c->man, &m, e, sizeof e);
    if (rc == 0) {
        if (m)
            vg_backend_close(c->be, m);
        return say(msg, n, R_WARN, "open() accepted a host of ABI %u", h.abi_version);
    }
    return say(msg, n, R_PASS, "refused: %s", e[0] ? e : "(no message)");
}


static int
c_open(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    vigia_model *m = NULL;
    vigia_model_info info;
    r = open_model(c, &c->man, &m, &info, msg, n);
    if (r != R_PASS)
        return r;
    if (info.input_w < 1 || info.input_h < 1 || info.input_w > VG_MODEL_MAX_SIDE || info.input_h > VG_MODEL_MAX_SIDE)
        r = say(msg, n, R_FAIL, "describe: input %dx%d", info.input_w, info.input_h);
    else if (info.input_c != 3)
        r = say(msg, n, R_FAIL, "describe: %d channels (vigia feeds 3)", info.input_c);
    else if (info.classes != c->m->classes)
        r = say(msg, n, R_FAIL, "describe: %d classes, the model's names file has %d", info.classes, c->m->classes);
    else if (info.max_batch < 1)
        r = say(msg, n, R_FAIL, "describe: max_batch %d", info.max_batch);
    else if (!info.device)
        r = say(msg, n, R_FAIL, "describe: device is NULL");
    else
        r = say(msg, n, R_PASS, "%dx%dx%d, %d classes, batch <= %d, on %s", info.input_w, info.input_h,
                info.input_c, info.classes, info.max_batch, info.device);
    vg_backend_close(c->be, m);
    return r;
}


/*
 * The candidate checks below judge a detector's candidates; a classifier
 * is judged on its scores by "real image". R_SKIP (model closed) for one.
 */
static int
feedable(ctx *c, vigia_model *m, const vigia_model_info *info, char *msg, size_t n)
{
    if (info->task == VIGIA_TASK_DETECT)
        return R_PASS;
    vg_backend_close(c->be, m);
    return say(msg, n, R_SKIP, "task %u: a classifier is judged on its scores by \"real image\"", info->task);
}


typedef struct cset {
    vigia_candidates c[VG_MODEL_MAX_BATCH];
    float *box, *obj, *prob;
    char err[VG_MODEL_MAX_BATCH][VIGIA_ERRLEN];   /* per-image messages */
} cset;


static int
cset_init(cset *s, int batch, int classes, uint32_t cap)
{
    s->box = calloc((size_t)batch * (cap ? cap : 1) * 4, sizeof(float));
    s->obj = calloc((size_t)batch * (cap ? cap : 1), sizeof(float));
    s->prob = calloc((size_t)batch * (cap ? cap : 1) * (size_t)classes, sizeof(float));
    if (!s->box || !s->obj || !s->prob)
        return -1;
    for (int b = 0; b < batch; b++) {
        s->c[b] = (vigia_candidates){ .struct_size = sizeof s->c[b], .capacity = cap,
                                      .box = s->box + (size_t)b * cap * 4, .objectness = s->obj + (size_t)b * cap,
                                      .prob = s->prob + (size_t)b * cap * (size_t)classes,
                                      .err = s->err[b], .errlen = VIGIA_ERRLEN };
    }
    return 0;
}


static void
cset_free(cset *s)
{
    free(s->box);
    free(s->obj);
    free(s->prob);
}


/* Output sanity of one candidate set; returns a message or NULL. */
static const char *
validate(const vigia_candidates *o, int classes, char *buf, size_t n)
{
    if (o->count > o->capacity) {
        snprintf(buf, n, "count %u exceeds capacity %u", o->count, o->capacity);
        return buf;
    }
    for (uint32_t i = 0; i < o->count; i++) {
        for (int k = 0; k < 4; k++)
            if (!isfinite(o->box[4 * i + k])) {
                snprintf(buf, n, "candidate %u: non-finite box", i);
                return buf;
            }
        if (o->box[4 * i + 2] < 0 || o->box[4 * i + 3] < 0) {
            snprintf(buf, n, "candidate %u: negative width or height", i);
            return buf;
        }
        if (o->objectness && !(o->objectness[i] >= 0 && o->objectness[i] <= 1.0001f)) {
            snprintf(buf, n, "candidate %u: objectness %g outside [0, 1]", i, o->objectness[i]);
            return buf;
        }
        for (int k = 0; k < classes; k++) {
            float p = o->prob[(size_t)i * classes + k];
            if (!(p >= 0 && p <= 1.0001f)) {
                snprintf(buf, n, "candidate %u class %d: probability %g outside [0, 1]", i, k, p);
                return buf;
            }
        }
    }
    return NULL;
}


static int
c_infer(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    vigia_model *m = NULL;
    vigia_model_info info;
    cset a, b;
    char e[VIGIA_ERRLEN], why[256];
    if (r != R_PASS || (r = open_model(c, &c->man, &m, &info, msg, n)) != R_PASS ||
        (r = feedable(c, m, &info, msg, n)) != R_PASS)
        return r;
    feed f;
    if ((r = feed_init(c, 1, &f, msg, n)) != R_PASS)
        return r;
    if (cset_init(&a, 1, info.classes, CAP) || cset_init(&b, 1, info.classes, CAP))
        return say(msg, n, R_FAIL, "out of memory");
    for (int rep = 0; rep < 2; rep++) {
        cset *s = rep ? &b : &a;
        int rc = run_infer(c, m, &f, 1, 0.25f, s->c, e, sizeof e);
        if (rc != 0)
            return say(msg, n, R_FAIL, "infer on %s failed (%d): %s", c->img_name, rc, e);
        const char *bad = validate(&s->c[0], info.classes, why, sizeof why);
        if (bad)
            return say(msg, n, R_FAIL, "%s", bad);
    }
    if (a.c[0].count != b.c[0].count ||
        memcmp(a.box, b.box, a.c[0].count * 4 * sizeof(float)) != 0 ||
        memcmp(a.prob, b.prob, (size_t)a.c[0].count * info.classes * sizeof(float)) != 0)
        return say(msg, n, R_FAIL, "the same input gave different candidates twice");
    uint32_t total = a.c[0].count;
    vg_backend_close(c->be, m);
    cset_free(&a);
    cset_free(&b);
    free(f.t);
    return say(msg, n, R_PASS, "finite, in range and deterministic (%u candidates on %s)", total, c->img_name);
}


static int
c_threshold(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    vigia_model *m = NULL;
    vigia_model_info info;
    cset lo, hi;
    char e[VIGIA_ERRLEN];
    if (r != R_PASS || (r = open_model(c, &c->man, &m, &info, msg, n)) != R_PASS ||
        (r = feedable(c, m, &info, msg, n)) != R_PASS)
        return r;
    feed f;
    if ((r = feed_init(c, 1, &f, msg, n)) != R_PASS)
        return r;
    if (cset_init(&lo, 1, info.classes, CAP) || cset_init(&hi, 1, info.classes, CAP))
        return say(msg, n, R_FAIL, "out of memory");
    if (run_infer(c, m, &f, 1, 0.05f, lo.c, e, sizeof e) != 0 || run_infer(c, m, &f, 1, 0.9f, hi.c, e, sizeof e) != 0)
        return say(msg, n, R_FAIL, "infer failed: %s", e);
    size_t nlo = 0, nhi = 0;
    for (uint32_t i = 0; i < lo.c[0].count; i++)
        for (int k = 0; k < info.classes; k++)
            nlo += lo.prob[(size_t)i * info.classes + k] > 0.9f;
    for (uint32_t i = 0; i < hi.c[0].count; i++)
        for (int k = 0; k < info.classes; k++) {
            float p = hi.prob[(size_t)i * info.classes + k];
            if (p > 0 && p < 0.9f)
                return say(msg, n, R_FAIL, "threshold 0.9 returned a probability of %g", p);
            nhi += p > 0.9f;
        }
    vg_backend_close(c->be, m);
    cset_free(&lo);
    cset_free(&hi);
    free(f.t);
    if (nhi != nlo)
        return say(msg, n, R_WARN, "%zu class scores above 0.9 at threshold 0.9 but %zu at 0.05", nhi, nlo);
    return say(msg, n, R_PASS, "probabilities at or under the threshold are zeroed");
}


static int
c_capacity(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    vigia_model *m = NULL;
    vigia_model_info info;
    char e[VIGIA_ERRLEN], why[256];
    if (r != R_PASS || (r = open_model(c, &c->man, &m, &info, msg, n)) != R_PASS ||
        (r = feedable(c, m, &info, msg, n)) != R_PASS)
        return r;
    feed f;
    if ((r = feed_init(c, 1, &f, msg, n)) != R_PASS)
        return r;
    for (uint32_t cap = 0; cap <= 2; cap++) {
        cset s;
        if (cset_init(&s, 1, info.classes, cap ? cap : 1))
            return say(msg, n, R_FAIL, "out of memory");
        s.c[0].capacity = cap;
        int rc = run_infer(c, m, &f, 1, 0.01f, s.c, e, sizeof e);
        if (rc != 0)
            return say(msg, n, R_FAIL, "infer with capacity %u failed: %s", cap, e);
        if (s.c[0].count > cap)
            return say(msg, n, R_FAIL, "capacity %u but count %u", cap, s.c[0].count);
        const char *bad = validate(&s.c[0], info.classes, why, sizeof why);
        if (bad)
            return say(msg, n, R_FAIL, "%s", bad);
        cset_free(&s);
    }
    vg_backend_close(c->be, m);
    free(f.t);
    return say(msg, n, R_PASS, "capacities 0, 1 and 2 respected");
}


static int
c_batch(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    vigia_model *m = NULL;
    vigia_model_info info;
    char e[VIGIA_ERRLEN];
    vigia_manifest man = c->man;
    man.max_batch = 4;
    if (r != R_PASS || (r = open_model(c, &man, &m, &info, msg, n)) != R_PASS ||
        (r = feedable(c, m, &info, msg, n)) != R_PASS)
        return r;
    int mb = info.max_batch > VG_MODEL_MAX_BATCH - 1 ? VG_MODEL_MAX_BATCH - 1 : info.max_batch;
    feed f;
    cset one, all;
    if ((r = feed_init(c, mb + 1, &f, msg, n)) != R_PASS)
        return r;
    if (cset_init(&one, 1, info.classes, CAP) || cset_init(&all, mb + 1, info.classes, CAP))
        return say(msg, n, R_FAIL, "out of memory");
    for (int batch = 1; batch <= mb; batch++) {
        if (run_infer(c, m, &f, batch, 0.25f, all.c, e, sizeof e) != 0)
            return say(msg, n, R_FAIL, "batch %d (max %d) failed: %s", batch, info.max_batch, e);
        /* each image of the batch answers as it does alone */
        for (int b = 0; b < batch; b++) {
            if (run_infer(c, m, &f, 1, 0.25f, one.c, e, sizeof e) != 0)
                return say(msg, n, R_FAIL, "batch 1 failed: %s", e);
            if (one.c[0].count != all.c[b].count)
                return say(msg, n, R_FAIL, "image %d of a batch of %d: %u candidates, alone %u", b, batch,
                           all.c[b].count, one.c[0].count);
            for (uint32_t i = 0; i < one.c[0].count; i++)
                for (int k = 0; k < 4; k++)
                    if (fabsf(one.c[0].box[4 * i + k] - all.c[b].box[4 * i + k]) > 1e-4f)
                        return say(msg, n, R_FAIL, "image %d of a batch of %d: boxes differ from alone", b, batch);
        }
    }
    int over = info.max_batch + 1 <= mb + 1 ? run_infer(c, m, &f, info.max_batch + 1, 0.25f, all.c, e, sizeof e)
                                            : VIGIA_ENOTSUP;
    int zero = run_infer(c, m, &f, 0, 0.25f, all.c, e, sizeof e);
    vg_backend_close(c->be, m);
    cset_free(&one);
    cset_free(&all);
    free(f.t);
    if (over == 0)
        return say(msg, n, R_FAIL, "a batch of %d (max_batch + 1) was accepted", info.max_batch + 1);
    if (zero == 0)
        return say(msg, n, R_FAIL, "a batch of 0 was accepted");
    return say(msg, n, R_PASS, "batches 1..%d agree with single images; %d and 0 refused", mb,
               info.max_batch + 1);
}


static int
c_missing(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    int tried = 0;
    const char *which[2] = { "weights", "cfg" };
    for (int w = 0; w < 2; w++) {
        vigia_manifest man = c->man;
        const char **field = w == 0 ? &man.weights_path : &man.cfg_path;
        if (!*field)
            continue;
        tried++;
        *field = "/nonexistent/vigia-plugin-check/missing.file";
        vigia_model *m = NULL;
        char e[VIGIA_ERRLEN] = "";
        int rc = vg_backend_open(c->be, vg_backend_host(), &man, &m, e, sizeof e);
        if (rc == 0) {
            if (m)
                vg_backend_close(c->be, m);
            return say(msg, n, R_FAIL, "a missing %s file was accepted", which[w]);
        }
        if (!e[0])
            return say(msg, n, R_FAIL, "a missing %s file was refused without a message", which[w]);
    }
    if (!tried)
        return say(msg, n, R_SKIP, "the manifest names no cfg or weights");
    return say(msg, n, R_PASS, "missing files refused with a message (no exit())");
}


static int
c_truncated(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
    if (!c->man.weights_path)
        return say(msg, n, R_SKIP, "the manifest names no weights");
    FILE *in = fopen(c->man.weights_path, "rb");
    if (!in)
        return say(msg, n, R_FAIL, "%s: %s", c->man.weights_path, strerror(errno));
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    rewind(in);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/truncated.weights", c->tmp);
    FILE *out = fopen(path, "wb");
    if (!out) {
        fclose(in);
        return say(msg, n, R_FAIL, "%s: %s", path, strerror(errno));
    }
    char buf[65536];
    long left = size / 2;
    while (left > 0) {
        size_t k = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, in);
        if (k == 0)
            break;
        fwrite(buf, 1, k, out);
        left -= (long)k;
    }
    fclose(in);
    fclose(out);
    vigia_manifest man = c->man;
    man.weights_path = path;
    vigia_model *m = NULL;
    char e[VIGIA_ERRLEN] = "";
    int rc = vg_backend_open(c->be, vg_backend_host(), &man, &m, e, sizeof e);
    if (rc == 0) {
        if (m)
            vg_backend_close(c->be, m);
        return say(msg, n, R_FAIL, "weights cut to %ld of %ld bytes were accepted", size / 2, size);
    }
    return say(msg, n, R_PASS, "refused: %s", e[0] ? e : "(no message)");
}


static int
c_cycles(ctx *c, char *msg, size_t n)
{
    int r = load(c, msg, n);
    if (r != R_PASS)
        return r;
#if defined(__SANITIZE_ADDRESS__)
    /* freed memory sits in ASan's quarantine: resident size says nothing */
    return say(msg, n, R_SKIP, "built with AddressSanitizer: RSS is not a leak measure here");
#endif
    size_t rss5 = 0;
    const int cycles = 30;
    for (int i = 0; i < cycles; i++) {
        vigia_model *m = NULL;
        vigia_model_info info;
        if ((r = open_model(c, &c->man, &m, &info, msg, n)) != R_PASS)
            return r;
        vg_backend_close(c->be, m);
        if (i == 4)
            rss5 = vg_worker_rss(0);
    }
    size_t rss = vg_worker_rss(0);
    double grew = rss > rss5 ? (double)(rss - rss5) / (1 << 20) : 0;
    if (grew > 16)
        return say(msg, n, R_FAIL, "resident memory grew %.1f MiB over %d open/close cycles", grew, cycles - 5);
    return say(msg, n, R_PASS, "%d cycles, resident memory %+.1f MiB after the first 5", cycles, grew);
}


/* Opens the model through the host's own path (the server's detector) with this plugin. */
static int
open_detector(ctx *c, vg_detector **d, char *msg, size_t n)
{
    vg_detector_options o = { .backend = c->lib };
    char e[512];
    if (vg_detector_open(c->m, &o, d, e, sizeof e) != 0)
        return say(msg, n, R_FAIL, "the host cannot open the model with it: %s", e);
    return R_PASS;
}


/* The real image as the server runs it: judged as the server judges it, and --expect found. */
static int
c_image(ctx *c, char *msg, size_t n)
{
    vg_detector *d = NULL;
    int r = open_detector(c, &d, msg, n);
    if (r != R_PASS)
        return r;
    const vigia_model_info *info = vg_detector_info(d);
    vg_detect_input x = { .image = c->img, .len = c->img_len, .threshold = -1, .nms = -1 };
    vg_detect_result res;
    int rc = vg_detector_run(d, 1, &x, &res);
    if (rc != 0 || res.status != 0) {
        r = say(msg, n, R_FAIL, "%s: %s", c->img_name, res.err[0] ? res.err : "failed");
        goto done;
    }
    const vg_detection *best = NULL;
    for (size_t i = 0; i < res.n; i++) {
        const vg_detection *t = &res.dets[i];
        if (!(t->confidence > 0 && t->confidence <= 1.0001f) || t->x_min < 0 || t->y_min < 0 ||
            t->x_max >= res.w || t->y_max >= res.h || t->x_min > t->x_max || t->y_min > t->y_max) {
            r = say(msg, n, R_FAIL, "%s: detection %zu (%s %g at %d,%d-%d,%d) is outside the %dx%d image",
                    c->img_name, i, t->label, (double)t->confidence, t->x_min, t->y_min, t->x_max, t->y_max,
                    res.w, res.h);
            goto done;
        }
        /* a classifier's top-1, or the expected label's best box */
        int wanted = info->task == VIGIA_TASK_CLASSIFY || !c->expect || strcmp(t->label, c->expect) == 0;
        if (wanted && (!best || t->confidence > best->confidence))
            best = t;
    }
    if (c->expect && (!best || strcmp(best->label, c->expect) != 0)) {
        if (best)
            r = say(msg, n, R_FAIL, "%s: top-1 is '%s' at %.2f, expected '%s'", c->img_name, best->label,
                    (double)best->confidence, c->expect);
        else
            r = say(msg, n, R_FAIL, "%s: expected '%s' not found (%zu detections)", c->img_name, c->expect, res.n);
        goto done;
    }
    if (best)
        r = say(msg, n, R_PASS, "%s: %zu %s, %s'%s' at %.2f", c->img_name, res.n,
                info->task == VIGIA_TASK_CLASSIFY ? "scores" : "detections", c->expect ? "found " : "best ",
                best->label, (double)best->confidence);
    else
        r = say(msg, n, R_PASS, "%s: nothing found (give --image and --expect for a real test)", c->img_name);
done:
    vg_detect_result_release(&res);
    vg_detector_close(d);
    return r;
}


/* Resident memory over repeated infers of the real image (a plugin that keeps what it allocates). */
static int
c_infer_memory(ctx *c, char *msg, size_t n)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)c;
    return say(msg, n, R_SKIP, "built with AddressSanitizer: RSS is not a leak measure here");
#else
    vg_detector *d = NULL;
    int r = open_detector(c, &d, msg, n);
    if (r != R_PASS)
        return r;
    const int warm = 3, runs = 30;
    const double limit_mib = 32;
    vg_detect_input x = { .image = c->img, .len = c->img_len, .threshold = -1, .nms = -1 };
    size_t rss0 = 0;
    r = R_PASS;
    double grew = 0;
    for (int i = 0; i < warm + runs; i++) {
        vg_detect_result res;
        vg_detector_run(d, 1, &x, &res);
        vg_detect_result_release(&res);
        if (i == warm - 1)
            rss0 = vg_worker_rss(0);
        if (i < warm)
            continue;
        size_t rss = vg_worker_rss(0);
        grew = rss > rss0 ? (double)(rss - rss0) / (1 << 20) : 0;
        if (grew > limit_mib) {
            r = say(msg, n, R_FAIL, "resident memory grew %.1f MiB in %d infers after the first %d "
                    "(%.1f MiB per image): it keeps what it allocates", grew, i + 1 - warm, warm,
                    grew / (i + 1 - warm));
            break;
        }
    }
    vg_detector_close(d);
    if (r == R_PASS)
        r = say(msg, n, R_PASS, "%d infers, resident memory %+.1f MiB after the first %d", runs, grew, warm);
    return r;
#endif
}


/* ---- driver -------------------------------------------------------------------- */

typedef struct check {
    const char *name;
    check_fn fn;
    unsigned timeout_s;
    int needs_device;
} check;

static const check checks[] = {
    { "loads", c_load, 60, 0 },
    { "host refuses other ABIs", c_abi_refused, 60, 0 },
    { "probe", c_probe, 60, 0 },
    { "refuses a foreign host", c_foreign_host, 120, 1 },
    { "open and describe", c_open, 120, 1 },
    { "real image", c_image, 120, 1 },
    { "memory over repeated infers", c_infer_memory, 300, 1 },
    { "infer batch 1", c_infer, 120, 1 },
    { "threshold", c_threshold, 120, 1 },
    { "candidate capacity", c_capacity, 120, 1 },
    { "batch sizes", c_batch, 300, 1 },
    { "missing files", c_missing, 120, 1 },
    { "truncated weights", c_truncated, 120, 1 },
    { "open/close cycles", c_cycles, 600, 1 },
};


/* Bytes of a file, 0 if none. */
static long
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}


/* Shows the first bytes a check's plugin wrote to stderr, tagged, and how much there was. */
static void
show_stderr(const char *path, const char *name)
{
    long size = file_size(path);
    FILE *f = size > 0 ? fopen(path, "rb") : NULL;
    if (!f)
        return;
    char buf[1024];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    fprintf(stderr, "--- stderr of \"%s\" (%ld bytes%s) ---\n%s%s", name, size,
            size > (long)got ? ", the first 1 KiB" : "", buf, got && buf[got - 1] != '\n' ? "\n" : "");
    fflush(stderr);
}


/*
 * Runs one check in a child: its stdout and stderr go to files, so what a
 * plugin writes there is seen (stdout: a failure) and cannot flood ours.
 */
static int
run_check(ctx *c, const check *k, char *msg, size_t n)
{
    unsigned limit = timeout_all ? timeout_all : k->timeout_s;
    char out_path[PATH_MAX + 16], err_path[PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/stdout", c->tmp);
    snprintf(err_path, sizeof err_path, "%s/stderr", c->tmp);
    int p[2];
    if (pipe(p) != 0)
        return say(msg, n, R_FAIL, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return say(msg, n, R_FAIL, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(EXIT_BASE + R_FAIL);
        close(o);
        close(e);
        signal(SIGALRM, SIG_DFL);
        alarm(limit);
        char m[512] = "";
        int r = k->fn(c, m, sizeof m);
        fflush(NULL);
        if (write(p[1], m, strlen(m)) < 0)
            r = R_FAIL;
        _exit(EXIT_BASE + r);   /* any other status means the plugin exit()ed */
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(p[0], msg + got, n - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got >= n - 1)
            break;
    }
    msg[got] = '\0';
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    show_stderr(err_path, k->name);
    long wrote = file_size(out_path);
    unlink(out_path);
    unlink(err_path);
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) == SIGALRM) {
            timed_out = 1;
            return say(msg, n, R_FAIL, "timed out after %u s", limit);
        }
        return say(msg, n, R_FAIL, "crashed: signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    }
    int code = WEXITSTATUS(st);
    if (code < EXIT_BASE || code > EXIT_BASE + R_SKIP)
        return say(msg, n, R_FAIL, "the plugin called exit(%d)", code);
    if (wrote > 0 && code - EXIT_BASE != R_FAIL)
        return say(msg, n, R_FAIL, "the plugin wrote %ld bytes to stdout (vigia detect prints JSON there; "
                   "use the host's log)", wrote);
    return code - EXIT_BASE;
}


/* Reads a whole file (an image) into *out. 0, or -1 with err set. */
static int
read_file(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (!f || size <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: %s", path, f && size == 0 ? "empty" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    *out = malloc((size_t)size);
    *len = *out ? fread(*out, 1, (size_t)size, f) : 0;
    fclose(f);
    if (*len != (size_t)size) {
        snprintf(err, errlen, "%s: cannot read it", path);
        return -1;
    }
    return 0;
}


/*
 * The built-in sample: red, green and blue blocks on mid grey, 256x192,
 * encoded as JPEG in a child process (libvips must not run in this one,
 * which forks the checks). 0, or -1 with err set.
 */
static int
make_sample(ctx *c, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sample.jpg", c->tmp);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        enum { W = 256, H = 192 };
        static uint8_t rgb[W * H * 3];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *px = rgb + 3 * ((size_t)y * W + x);
                int block = y >= 48 && y < 144 ? (x >= 16 && x < 80 ? 0 : x >= 96 && x < 160 ? 1 :
                                                  x >= 176 && x < 240 ? 2 : -1) : -1;
                for (int k = 0; k < 3; k++)
                    px[k] = block < 0 ? 128 : block == k ? 230 : 20;
            }
        vg_image im = { .w = W, .h = H, .rgb = rgb, .full_w = W, .full_h = H };
        uint8_t *jpeg = NULL;
        size_t len = 0;
        char e[256];
        FILE *f;
        if (vg_image_init(e, sizeof e) != 0 || vg_image_annotate(&im, NULL, 0, 95, &jpeg, &len, e, sizeof e) != 0 ||
            !(f = fopen(path, "wb")) || fwrite(jpeg, 1, len, f) != len || fclose(f) != 0)
            _exit(1);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, errlen, "cannot make the built-in sample image");
        return -1;
    }
    int rc = read_file(path, &c->img, &c->img_len, err, errlen);
    unlink(path);
    c->img_name = "the built-in sample";
    return rc;
}


/* The real image: --image, the model's sample.jpg or sample.png, or the built-in one. */
static int
pick_image(ctx *c, const char *image, char *err, size_t errlen)
{
    static char sample[PATH_MAX + 16];
    if (image) {
        c->img_name = image;
        return read_file(image, &c->img, &c->img_len, err, errlen);
    }
    static const char *const names[] = { "sample.jpg", "sample.png" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(sample, sizeof sample, "%s/%s", c->m->dir, names[i]);
        if (access(sample, R_OK) == 0) {
            c->img_name = sample;
            return read_file(sample, &c->img, &c->img_len, err, errlen);
        }
    }
    return make_sample(c, err, errlen);
}


static int
usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: vigia-plugin-check [--image FILE] [--expect LABEL] [--timeout SECONDS] LIB.so MODEL_DIR\n"
            "Runs the backend conformance suite; exit status 0 when every check passes, 1 when one\n"
            "fails, 2 on usage errors.\n"
            "  --image FILE      the real image every infer is given (default: MODEL_DIR/sample.jpg or\n"
            "                    sample.png, else a built-in one of red, green and blue blocks)\n"
            "  --expect LABEL    the label the image must give (a classifier's top-1)\n"
            "  --timeout SECONDS the limit of every check (default: each check's own)\n"
            "  --help, -h        this text\n");
    return status;
}


int
main(int argc, char **argv)
{
    ctx c;
    char err[512];
    int passed = 0, warned = 0, failed = 0, skipped = 0;
    const char *image = NULL, *pos[2];
    int npos = 0;

    memset(&c, 0, sizeof c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(0);
        if ((strcmp(a, "--image") == 0 || strcmp(a, "--expect") == 0 || strcmp(a, "--timeout") == 0) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'i')
                image = v;
            else if (a[2] == 'e')
                c.expect = v;
            else {
                char *end;
                unsigned long t = strtoul(v, &end, 10);
                if (*end || t < 1 || t > 86400) {
                    fprintf(stderr, "vigia-plugin-check: --timeout: '%s' is not a number of seconds in [1, 86400]\n", v);
                    return 2;
                }
                timeout_all = (unsigned)t;
            }
        } else if (a[0] == '-' || npos == 2) {
            return usage(2);
        } else {
            pos[npos++] = a;
        }
    }
    if (npos != 2)
        return usage(2);
    vg_log_set_blocking(1);
    vg_log_set_level(VG_LOG_WARN);
    char lib[PATH_MAX];
    if (!realpath(pos[0], lib)) {
        fprintf(stderr, "vigia-plugin-check: %s: %s\n", pos[0], strerror(errno));
        return 2;
    }
    c.lib = lib;
    if (vg_model_load(pos[1], &c.m, err, sizeof err) != 0) {
        fprintf(stderr, "vigia-plugin-check: %s\n", err);
        return 2;
    }
    if (c.expect) {
        int known = 0;
        for (int k = 0; k < c.m->classes && !known; k++)
            known = strcmp(c.m->labels[k], c.expect) == 0;
        if (!known) {
            fprintf(stderr, "vigia-plugin-check: --expect: model %s has no label '%s'\n", c.m->name, c.expect);
            vg_model_destroy(c.m);
            return 2;
        }
    }
    vg_backend_manifest(c.m, 0, &c.man);
    if (c.man.max_batch < 1)
        c.man.max_batch = 1;
    const char *t = getenv("TMPDIR");
    snprintf(c.tmp, sizeof c.tmp, "%s/vigia-plugin-check-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(c.tmp)) {
        fprintf(stderr, "vigia-plugin-check: %s: %s\n", c.tmp, strerror(errno));
        vg_model_destroy(c.m);
        return 2;
    }
    if (pick_image(&c, image, err, sizeof err) != 0) {
        fprintf(stderr, "vigia-plugin-check: %s\n", err);
        rmdir(c.tmp);
        vg_model_destroy(c.m);
        return 2;
    }
    printf("vigia-plugin-check: %s with model %s (%s), image %s%s%s\n", pos[0], c.m->name, c.m->dir, c.img_name,
           c.expect ? ", expecting " : "", c.expect ? c.expect : "");
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const check *k = &checks[i];
        char msg[768] = "";
        int r;
        if (k->needs_device && no_device)
            r = say(msg, sizeof msg, R_SKIP, "no device");
        else if (k->needs_device && timed_out)
            r = say(msg, sizeof msg, R_SKIP, "an earlier check timed out");
        else
            r = run_check(&c, k, msg, sizeof msg);
        if (k->fn == c_probe && r == R_SKIP)
            no_device = 1;
        static const char *const tag[] = { "ok  ", "warn", "FAIL", "skip" };
        printf("  %s  %s: %s\n", tag[r], k->name, msg);
        fflush(stdout);
        passed += r == R_PASS;
        warned += r == R_WARN;
        failed += r == R_FAIL;
        skipped += r == R_SKIP;
        if (k->fn == c_load && r == R_FAIL)
            break;   /* nothing else can run */
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/truncated.weights", c.tmp);
    unlink(path);
    rmdir(c.tmp);
    printf("verdict: %s (%d passed, %d warnings, %d failed, %d skipped)\n", failed ? "FAIL" : "PASS",
           passed, warned, failed, skipped);
    free(c.img);
    vg_model_destroy(c.m);
    return failed ? 1 : 0;
}
