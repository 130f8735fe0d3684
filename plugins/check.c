/*
 * vigia-plugin-check LIB.so MODEL_DIR: the conformance suite for backend
 * plugins. Each check runs in its own child process under a time limit, so
 * a plugin that crashes, hangs or exit()s fails that check and the suite
 * goes on. Prints one line per check and a verdict; exit status 0 when no
 * check failed, 1 otherwise, 2 on usage errors.
 *
 * What is checked: the library loads with RTLD_NOW|RTLD_LOCAL and exports
 * vigia_backend_entry; the table matches this host's ABI (and the host
 * refuses another ABI version); probe answers; open/describe on the model;
 * infer on batch 1 (finite, in-range, deterministic output), thresholds,
 * small candidate capacities, every batch size up to max_batch and a
 * refusal beyond it; missing or truncated files refused with a message
 * (never exit()); repeated open/close without growing memory; nothing
 * written to stdout.
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
} ctx;

typedef int (*check_fn)(ctx *c, char *msg, size_t n);

static int no_device;              /* probe said ENODEV: model checks are skipped */


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


/* One infer() call on `batch` float tensors at `t`, as the host makes it. */
static int
run_infer(ctx *c, vigia_model *m, const float *t, int batch, float thr, vigia_candidates *out, char *e, size_t n)
{
    vigia_image views[VG_MODEL_MAX_BATCH + 1];
    vigia_batch b = { .struct_size = sizeof b, .count = (uint32_t)batch, .input = t, .images = views,
                      .threshold = thr };
    memset(views, 0, sizeof views);
    for (int i = 0; i < batch && i <= VG_MODEL_MAX_BATCH; i++)
        views[i].struct_size = sizeof views[i];
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
    /* stdout may be a JSON stream: a backend must not write there */
    int p[2];
    if (pipe(p) != 0)
        return say(msg, n, R_FAIL, "pipe: %s", strerror(errno));
    fflush(stdout);
    int saved = dup(1);
    dup2(p[1], 1);
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    vigia_model *m = NULL;
    vigia_model_info info;
    r = open_model(c, &c->man, &m, &info, msg, n);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char junk[64];
    ssize_t got = read(p[0], junk, sizeof junk);
    close(p[0]);
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
    else if (got > 0)
        r = say(msg, n, R_WARN, "writes to stdout while loading (vigia detect prints JSON there)");
    else
        r = say(msg, n, R_PASS, "%dx%dx%d, %d classes, batch <= %d, on %s", info.input_w, info.input_h,
                info.input_c, info.classes, info.max_batch, info.device);
    vg_backend_close(c->be, m);
    return r;
}


/*
 * The output checks feed planar RGB float tensors to a detector. For any
 * other model they are skipped (and the model closed): R_SKIP with why.
 */
static int
feedable(ctx *c, vigia_model *m, const vigia_model_info *info, char *msg, size_t n)
{
    const vigia_input_desc *in = &info->input;
    if (info->task == VIGIA_TASK_DETECT && in->dtype == VIGIA_DTYPE_F32 && in->layout == VIGIA_LAYOUT_NCHW &&
        in->channels == VIGIA_CHANNELS_RGB)
        return R_PASS;
    vg_backend_close(c->be, m);
    return say(msg, n, R_SKIP, "task %u, input dtype %u layout %u channels %u: these checks feed planar RGB "
               "floats to a detector", info->task, in->dtype, in->layout, in->channels);
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


static void
fill_tensor(float *t, size_t n, int kind, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        t[i] = kind == 0 ? 0.5f : (float)rand() / (float)RAND_MAX;
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
    size_t per = (size_t)info.input_w * info.input_h * 3;
    float *t = malloc(per * sizeof(float));
    if (!t || cset_init(&a, 1, info.classes, CAP) || cset_init(&b, 1, info.classes, CAP))
        return say(msg, n, R_FAIL, "out of memory");
    uint32_t total = 0;
    for (int kind = 0; kind < 2; kind++) {
        fill_tensor(t, per, kind, 7);
        for (int rep = 0; rep < 2; rep++) {
            cset *s = rep ? &b : &a;
            int rc = run_infer(c, m, t, 1, 0.25f, s->c, e, sizeof e);
            if (rc != 0)
                return say(msg, n, R_FAIL, "infer (%s tensor) failed (%d): %s", kind ? "random" : "grey", rc, e);
            const char *bad = validate(&s->c[0], info.classes, why, sizeof why);
            if (bad)
                return say(msg, n, R_FAIL, "%s", bad);
        }
        if (a.c[0].count != b.c[0].count ||
            memcmp(a.box, b.box, a.c[0].count * 4 * sizeof(float)) != 0 ||
            memcmp(a.prob, b.prob, (size_t)a.c[0].count * info.classes * sizeof(float)) != 0)
            return say(msg, n, R_FAIL, "the same input gave different candidates twice");
        total += a.c[0].count;
    }
    vg_backend_close(c->be, m);
    cset_free(&a);
    cset_free(&b);
    free(t);
    return say(msg, n, R_PASS, "finite, in range and deterministic (%u candidates on 2 tensors)", total);
}


/* Real-looking input: the model's own example image when there is one is not
 * required; a smooth random field makes most detectors fire a little. */
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
    size_t per = (size_t)info.input_w * info.input_h * 3;
    float *t = malloc(per * sizeof(float));
    if (!t || cset_init(&lo, 1, info.classes, CAP) || cset_init(&hi, 1, info.classes, CAP))
        return say(msg, n, R_FAIL, "out of memory");
    fill_tensor(t, per, 1, 11);
    if (run_infer(c, m, t, 1, 0.05f, lo.c, e, sizeof e) != 0 || run_infer(c, m, t, 1, 0.9f, hi.c, e, sizeof e) != 0)
        return say(msg, n, R_FAIL, "infer failed: %s", e);
    size_t nlo = 0, nhi = 0;
    for (uint32_t i = 0; i < lo.c[0].count; i++)
        for (int k = 0; k < info.classes; k++)
            nlo += lo.prob[(size_t)i * info.classes + k] > 0.9f;
    for (uint32_t i = 0; i < hi.c[0].count; i++)
        for (int k = 0; k < info.classes; k++) {
            float p = hi.prob[(size_t)i * info.classes + k];
            if (p > 0 && p <= 0.9f)
                return say(msg, n, R_FAIL, "threshold 0.9 returned a probability of %g", p);
            nhi += p > 0.9f;
        }
    vg_backend_close(c->be, m);
    cset_free(&lo);
    cset_free(&hi);
    free(t);
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
    size_t per = (size_t)info.input_w * info.input_h * 3;
    float *t = malloc(per * sizeof(float));
    for (uint32_t cap = 0; cap <= 2; cap++) {
        cset s;
        if (!t || cset_init(&s, 1, info.classes, cap ? cap : 1))
            return say(msg, n, R_FAIL, "out of memory");
        s.c[0].capacity = cap;
        fill_tensor(t, per, 1, 5);
        int rc = run_infer(c, m, t, 1, 0.01f, s.c, e, sizeof e);
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
    free(t);
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
    size_t per = (size_t)info.input_w * info.input_h * 3;
    float *t = malloc(per * sizeof(float) * (size_t)(mb + 1));
    cset one, all;
    if (!t || cset_init(&one, 1, info.classes, CAP) || cset_init(&all, mb + 1, info.classes, CAP))
        return say(msg, n, R_FAIL, "out of memory");
    for (int b = 0; b <= mb; b++)
        fill_tensor(t + per * (size_t)b, per, 1, 100 + (unsigned)b);
    for (int batch = 1; batch <= mb; batch++) {
        if (run_infer(c, m, t, batch, 0.25f, all.c, e, sizeof e) != 0)
            return say(msg, n, R_FAIL, "batch %d (max %d) failed: %s", batch, info.max_batch, e);
        /* each image of the batch answers as it does alone */
        for (int b = 0; b < batch; b++) {
            if (run_infer(c, m, t + per * (size_t)b, 1, 0.25f, one.c, e, sizeof e) != 0)
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
    int over = run_infer(c, m, t, info.max_batch + 1, 0.25f, all.c, e, sizeof e);
    int zero = run_infer(c, m, t, 0, 0.25f, all.c, e, sizeof e);
    vg_backend_close(c->be, m);
    cset_free(&one);
    cset_free(&all);
    free(t);
    if (info.max_batch + 1 <= mb + 1 && over == 0)
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
    { "infer batch 1", c_infer, 120, 1 },
    { "threshold", c_threshold, 120, 1 },
    { "candidate capacity", c_capacity, 120, 1 },
    { "batch sizes", c_batch, 300, 1 },
    { "missing files", c_missing, 120, 1 },
    { "truncated weights", c_truncated, 120, 1 },
    { "open/close cycles", c_cycles, 600, 1 },
};


static int
run_check(ctx *c, const check *k, char *msg, size_t n)
{
    int p[2];
    if (pipe(p) != 0)
        return say(msg, n, R_FAIL, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return say(msg, n, R_FAIL, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        signal(SIGALRM, SIG_DFL);
        alarm(k->timeout_s);
        char m[512] = "";
        int r = k->fn(c, m, sizeof m);
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
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) == SIGALRM)
            return say(msg, n, R_FAIL, "timed out after %u s", k->timeout_s);
        return say(msg, n, R_FAIL, "crashed: signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    }
    int code = WEXITSTATUS(st);
    if (code < EXIT_BASE || code > EXIT_BASE + R_SKIP)
        return say(msg, n, R_FAIL, "the plugin called exit(%d)", code);
    return code - EXIT_BASE;
}


int
main(int argc, char **argv)
{
    ctx c;
    char err[512];
    int passed = 0, warned = 0, failed = 0, skipped = 0;

    if (argc != 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: vigia-plugin-check LIB.so MODEL_DIR\n"
                        "Runs the backend conformance suite; exit status 0 when every check passes.\n");
        return argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? 0 : 2;
    }
    memset(&c, 0, sizeof c);
    vg_log_set_blocking(1);
    vg_log_set_level(VG_LOG_WARN);
    char lib[PATH_MAX];
    if (!realpath(argv[1], lib)) {
        fprintf(stderr, "vigia-plugin-check: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    c.lib = lib;
    if (vg_model_load(argv[2], &c.m, err, sizeof err) != 0) {
        fprintf(stderr, "vigia-plugin-check: %s\n", err);
        return 2;
    }
    vg_backend_manifest(c.m, 0, &c.man);
    if (c.man.max_batch < 1)
        c.man.max_batch = 1;
    const char *t = getenv("TMPDIR");
    snprintf(c.tmp, sizeof c.tmp, "%s/vigia-plugin-check-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(c.tmp)) {
        fprintf(stderr, "vigia-plugin-check: %s: %s\n", c.tmp, strerror(errno));
        return 2;
    }
    printf("vigia-plugin-check: %s with model %s (%s)\n", argv[1], c.m->name, c.m->dir);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const check *k = &checks[i];
        char msg[768] = "";
        int r;
        if (k->needs_device && no_device)
            r = say(msg, sizeof msg, R_SKIP, "no device");
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
    vg_model_destroy(c.m);
    return failed ? 1 : 0;
}
