/*
 * faultbe: one broken backend per fault the server must catch, built from
 * this file once per fault with -DFAULT_<NAME> (tests/pipeline/local.mk):
 * vigia-backend-fault-<name>.so. Each is a plugin a careless author could
 * ship; every one answers one good box in the middle (class 0 at 0.9) except
 * for its fault, so a test sees the server refuse exactly the fault.
 *
 *   FAULT_OVERCAP   count = capacity + 1 (writes nothing past the arrays)
 *   FAULT_OUTSIDE   a second box wholly right of the input (centre x 1.5) at 0.95
 *   FAULT_NAN       a second box with a NaN centre at 0.95
 *   FAULT_NEGATIVE  a second box with a negative width at 0.95
 *   FAULT_PIXELS    the one box in pixels of the input, not fractions
 *   FAULT_NOISY     a 10 KiB line on stdout, then 200 lines of 1 KiB on stderr, per infer
 *   FAULT_SEGV      SIGSEGV in every infer
 *   FAULT_LEAK      64 MiB kept (and touched) per infer
 *   FAULT_HANG      infer never returns
 *
 * Input 64x64 (or the manifest's), 2 classes, any batch.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vigia/backend.h>

#if defined(FAULT_OVERCAP)
#define FAULT_NAME "fault-overcap"
#elif defined(FAULT_OUTSIDE)
#define FAULT_NAME "fault-outside"
#elif defined(FAULT_NAN)
#define FAULT_NAME "fault-nan"
#elif defined(FAULT_NEGATIVE)
#define FAULT_NAME "fault-negative"
#elif defined(FAULT_PIXELS)
#define FAULT_NAME "fault-pixels"
#elif defined(FAULT_NOISY)
#define FAULT_NAME "fault-noisy"
#elif defined(FAULT_SEGV)
#define FAULT_NAME "fault-segv"
#elif defined(FAULT_LEAK)
#define FAULT_NAME "fault-leak"
#elif defined(FAULT_HANG)
#define FAULT_NAME "fault-hang"
#else
#error "build faultbe.c with one -DFAULT_<NAME>"
#endif

struct vigia_model {
    int w, h, max_batch;
    void **kept;                   /* FAULT_LEAK: what was never freed */
    size_t nkept;
};


static int
fb_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    (void)host;
    vigia_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return VIGIA_ENOMEM;
    }
    m->w = man->input_w > 0 ? man->input_w : 64;
    m->h = man->input_h > 0 ? man->input_h : 64;
    m->max_batch = man->max_batch;
    *out = m;
    return 0;
}


static int
fb_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    info->input_w = m->w;
    info->input_h = m->h;
    info->input_c = 3;
    info->classes = 2;
    info->max_batch = m->max_batch;
    info->device = "test";
    info->gflops = 0;
    return 0;
}


/* Candidate i of o: box (x, y, w, h), class 0 at p. */
static void
put(vigia_candidates *o, uint32_t i, float x, float y, float w, float h, float p)
{
    o->box[4 * i] = x;
    o->box[4 * i + 1] = y;
    o->box[4 * i + 2] = w;
    o->box[4 * i + 3] = h;
    if (o->objectness)
        o->objectness[i] = 1;
    o->prob[2 * i] = p;
    o->prob[2 * i + 1] = 0;
}


/* The fault's extra candidate after the good one, if it has one; returns the count. */
static uint32_t
fault_boxes(vigia_model *m, vigia_candidates *o)
{
    (void)m;
    (void)o;
#if defined(FAULT_OUTSIDE)
    put(o, 1, 1.5f, 0.5f, 0.2f, 0.2f, 0.95f);
    return 2;
#elif defined(FAULT_NAN)
    put(o, 1, nanf(""), 0.5f, 0.2f, 0.2f, 0.95f);
    return 2;
#elif defined(FAULT_NEGATIVE)
    put(o, 1, 0.5f, 0.5f, -0.2f, 0.2f, 0.95f);
    return 2;
#elif defined(FAULT_PIXELS)
    put(o, 0, 0.5f * m->w, 0.5f * m->h, 0.5f * m->w, 0.5f * m->h, 0.9f);
    return 1;
#elif defined(FAULT_OVERCAP)
    return o->capacity + 1;
#else
    return 1;
#endif
}


static void
fault_side_effects(vigia_model *m)
{
#if defined(FAULT_SEGV)
    (void)m;
    raise(SIGSEGV);
#elif defined(FAULT_HANG)
    (void)m;
    for (;;)
        pause();
#elif defined(FAULT_LEAK)
    size_t sz = (size_t)64 << 20;
    char *p = malloc(sz);
    void **nk = realloc(m->kept, (m->nkept + 1) * sizeof *nk);
    if (nk)
        m->kept = nk;
    if (p && nk) {
        memset(p, 1, sz);
        m->kept[m->nkept++] = p;
    } else {
        free(p);
    }
#elif defined(FAULT_NOISY)
    (void)m;
    static char big[10 * 1024];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\n';
    fwrite(big, 1, sizeof big, stdout);
    fflush(stdout);
    char line[1024];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 200; i++)
        (void)!write(2, line, sizeof line);
#else
    (void)m;
#endif
}


static int
fb_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    int batch = (int)in->count;
    if (batch < 1 || batch > m->max_batch) {
        snprintf(err, errlen, "batch %d", batch);
        return VIGIA_ENOTSUP;
    }
    fault_side_effects(m);
    for (int b = 0; b < batch; b++) {
        vigia_candidates *o = &out[b];
        o->truncated = 0;
        o->count = 0;
        if (o->capacity < 2)
            continue;
        put(o, 0, 0.5f, 0.5f, 0.5f, 0.5f, 0.9f);
        o->count = fault_boxes(m, o);
    }
    return 0;
}


static void
fb_close(vigia_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nkept; i++)
        free(m->kept[i]);
    free(m->kept);
    free(m);
}


static const vigia_backend fb = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = FAULT_NAME,
    .version = "1",
    .probe = NULL,
    .open = fb_open,
    .describe = fb_describe,
    .infer = fb_infer,
    .close = fb_close,
};


VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &fb;
}
