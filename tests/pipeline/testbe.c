/*
 * testbe: a backend plugin for the pool tests, whose misbehaviour is
 * chosen by the manifest and by the colour of the image, so that one
 * model can serve good and bad jobs side by side.
 *
 * Manifest keys ([test] section, read as "test.KEY"):
 *   open = ok | crash | exit | fail | hang   what open() does
 *   delay_ms = N                             how long a green image takes (default 300)
 *   open_delay_ms = N                        open() takes this long first (a slow load)
 *   leak_mb = N                              memory kept per infer (never freed)
 * Image colour (mean of the tensor's centre):
 *   red    -> the worker crashes (SIGSEGV)
 *   blue   -> infer() never returns
 *   green  -> infer() sleeps delay_ms, then answers
 *   else   -> one box in the middle: class 1 if bright (mean > 0.5), else class 0
 * Input size: the manifest's width/height, else 64x64. Classes: 2.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vigia/backend.h>

struct vigia_model {
    int w, h, classes, max_batch;
    int delay_ms, leak_mb;
    void **leaks;
    size_t nleaks;
};


static const char *
get(const vigia_manifest *m, const char *key)
{
    return m->get ? m->get(m, key) : NULL;
}


static int
tb_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    (void)host;
    const char *mode = get(man, "test.open");
    const char *od = get(man, "test.open_delay_ms");
    if (od && atoi(od) > 0) {
        struct timespec ts = { atoi(od) / 1000, (long)(atoi(od) % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (mode && strcmp(mode, "crash") == 0)
        raise(SIGSEGV);
    if (mode && strcmp(mode, "exit") == 0)
        exit(0);                  /* what libdarknet does on a missing file */
    if (mode && strcmp(mode, "hang") == 0)
        for (;;)
            pause();
    if (mode && strcmp(mode, "fail") == 0) {
        snprintf(err, errlen, "test backend told to fail");
        return VIGIA_EBACKEND;
    }
    vigia_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return VIGIA_ENOMEM;
    }
    m->w = man->input_w > 0 ? man->input_w : 64;
    m->h = man->input_h > 0 ? man->input_h : 64;
    m->classes = 2;
    m->max_batch = man->max_batch;
    const char *d = get(man, "test.delay_ms");
    m->delay_ms = d ? atoi(d) : 300;
    const char *l = get(man, "test.leak_mb");
    m->leak_mb = l ? atoi(l) : 0;
    *out = m;
    return 0;
}


static int
tb_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    info->input_w = m->w;
    info->input_h = m->h;
    info->input_c = 3;
    info->classes = m->classes;
    info->max_batch = m->max_batch;
    info->device = "test";
    info->gflops = 0;
    return 0;
}


static int
tb_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    const float *input = in->input;
    int batch = (int)in->count;
    float threshold = in->threshold;
    size_t plane = (size_t)m->w * m->h;
    if (batch < 1 || batch > m->max_batch) {
        snprintf(err, errlen, "batch %d", batch);
        return VIGIA_ENOTSUP;
    }
    for (int b = 0; b < batch; b++) {
        const float *t = input + (size_t)b * 3 * plane;
        double mean[3] = { 0, 0, 0 };
        int n = 0;
        for (int y = m->h / 2 - 4; y < m->h / 2 + 4; y++)
            for (int x = m->w / 2 - 4; x < m->w / 2 + 4; x++, n++)
                for (int c = 0; c < 3; c++)
                    mean[c] += t[c * plane + (size_t)y * m->w + x];
        for (int c = 0; c < 3; c++)
            mean[c] /= n;
        int red = mean[0] > 0.9 && mean[1] < 0.1 && mean[2] < 0.1;
        int green = mean[1] > 0.9 && mean[0] < 0.1 && mean[2] < 0.1;
        int blue = mean[2] > 0.9 && mean[0] < 0.1 && mean[1] < 0.1;
        if (red)
            raise(SIGSEGV);
        if (blue)
            for (;;)
                pause();
        if (green) {
            struct timespec ts = { m->delay_ms / 1000, (long)(m->delay_ms % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) != 0)
                ;
        }
        if (m->leak_mb > 0) {
            size_t sz = (size_t)m->leak_mb << 20;
            char *p = malloc(sz);
            void **nl = realloc(m->leaks, (m->nleaks + 1) * sizeof *nl);
            if (p && nl) {
                memset(p, 1, sz);
                m->leaks = nl;
                m->leaks[m->nleaks++] = p;
            } else {
                free(p);
                if (nl)
                    m->leaks = nl;
            }
        }
        double bright = (mean[0] + mean[1] + mean[2]) / 3;
        vigia_candidates *o = &out[b];
        o->count = 0;
        o->truncated = 0;
        if (o->capacity < 1)
            continue;
        o->box[0] = 0.5f;
        o->box[1] = 0.5f;
        o->box[2] = 0.5f;
        o->box[3] = 0.5f;
        if (o->objectness)
            o->objectness[0] = 1;
        float p = 0.9f;
        o->prob[0] = bright > 0.5 ? 0 : (p > threshold ? p : 0);
        o->prob[1] = bright > 0.5 ? (p > threshold ? p : 0) : 0;
        o->count = 1;
    }
    return 0;
}


static void
tb_close(vigia_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nleaks; i++)
        free(m->leaks[i]);
    free(m->leaks);
    free(m);
}


static const vigia_backend tb = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = "testbe",
    .version = "1",
    .probe = NULL,
    .open = tb_open,
    .describe = tb_describe,
    .infer = tb_infer,
    .close = tb_close,
};


VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &tb;
}
