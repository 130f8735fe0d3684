/*
 * fuzz/fuzz_onnx_classify.c: libFuzzer harness for what the cpu engine
 * reads to run an ONNX classifier (backends/cpu/onnx_classify.c): the
 * manifest's mean, std ([model], input_norm.c) and [cpu] channels values, and a graph judged as a
 * classifier (its output shape, its ending in a Softmax).
 *
 * Input: the first byte picks the part. Even: the rest is three values
 * separated by NUL bytes, given as mean, std and cpu.channels (a
 * missing one is absent). Invariants: 0 or VIGIA_EINVAL with a message
 * naming the key; on 0 every mean lies in [0, 1], every std in
 * (0, 1], and the channel order is RGB or BGR with mean/std swapped
 * to match. Odd: the rest is an ONNX file (written to a temporary file,
 * as the plugin opens a path); vgc_onnx_classify_open() must refuse it with
 * a message, set not_classifier only for a graph that reads, or open it:
 * then one run on a zero image gives scores in [0, 1] summing to 1 (or
 * the graph's own softmax). Inputs over 4 MiB are skipped.
 *
 * Build: ./configure --enable-fuzzing CC=clang && make fuzz/fuzz_onnx_classify
 * Run:   fuzz/fuzz_onnx_classify fuzz/corpus/onnx_classify
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input_norm.h"
#include "onnx_classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The three values of an even input. */
typedef struct fz_keys {
    char buf[512];
    const char *mean, *std, *channels;
} fz_keys;


static const char *fz_get(const vigia_manifest *m, const char *key)
{
    const fz_keys *k = m->host_ctx;

    return !strcmp(key, "mean") ? k->mean : !strcmp(key, "std") ? k->std
         : !strcmp(key, "cpu.channels") ? k->channels : NULL;
}


static int fz_get_string(const vigia_manifest *m, const char *key, const char *const *choices, const char *def,
                         const char **out, char *err, size_t errlen)
{
    const char *v = fz_get(m, key);

    *out = v && *v ? v : def;
    for (int i = 0; choices && choices[i]; i++)
        if (!strcmp(choices[i], *out))
            return 0;
    if (!choices)
        return 0;
    snprintf(err, errlen, "%s: not one of the choices", key);
    return VIGIA_EINVAL;
}


static void fz_input(const uint8_t *data, size_t size)
{
    fz_keys k = { .mean = NULL };
    vigia_manifest m = { .struct_size = sizeof m, .get = fz_get, .get_string = fz_get_string, .host_ctx = &k };
    vigia_input_desc in;
    char err[VIGIA_ERRLEN] = "";
    const char **slot[3] = { &k.mean, &k.std, &k.channels };
    size_t n = size < sizeof k.buf - 1 ? size : sizeof k.buf - 1, at = 0;

    memcpy(k.buf, data, n);
    k.buf[n] = '\0';
    for (int i = 0; i < 3 && at <= n; i++) {
        *slot[i] = k.buf + at;
        at += strlen(k.buf + at) + 1;
    }
    float mean[3], std[3];
    int rc = vgc_input_norm(&m, mean, std, err, sizeof err);
    if (rc == 0)
        rc = vgc_onnx_classify_input(&m, mean, std, &in, err, sizeof err);
    if (rc != 0) {
        if (rc != VIGIA_EINVAL || !(strstr(err, "mean:") || strstr(err, "std:") || strstr(err, "cpu.channels")))
            abort();
        return;
    }
    if (in.dtype != VIGIA_DTYPE_F32 || in.layout != VIGIA_LAYOUT_NCHW || in.channels > VIGIA_CHANNELS_BGR)
        abort();
    for (int c = 0; c < 3; c++)
        if (!(in.mean[c] >= 0 && in.mean[c] <= 1 && in.std[c] > 0 && in.std[c] <= 1))
            abort();
}


static void fz_graph(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz-onnx-classify-XXXXXX", err[VIGIA_ERRLEN] = "";
    vgc_onnx_classify *c = NULL;
    int fd = mkstemp(path), other = 0, rc;

    if (fd < 0)
        return;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return;
    }
    close(fd);
    rc = vgc_onnx_classify_open(&c, path, 0, 0, &other, err, sizeof err);
    unlink(path);
    if (rc != 0) {
        if (c || !err[0] || (other && rc != VIGIA_ENOTSUP))
            abort();
        return;
    }
    int w, h, k = vgc_onnx_classify_classes(c);
    vgc_onnx_classify_input_size(c, &w, &h);
    if (k < 1 || w < 1 || h < 1)
        abort();
    if ((size_t)w * (size_t)h <= ((size_t)1 << 16) && k <= 100000) {
        float *img = calloc((size_t)3 * w * h, sizeof(float)), *scores = malloc((size_t)k * sizeof(float));
        if (img && scores && vgc_onnx_classify_run(c, img, scores, err, sizeof err) == 0) {
            double sum = 0;
            for (int i = 0; i < k; i++) {
                if (!(scores[i] >= 0 && scores[i] <= 1))
                    abort();
                sum += scores[i];
            }
            if (!vgc_onnx_classify_softmax(c) && fabs(sum - 1) > 1e-3)
                abort();
        }
        free(img);
        free(scores);
    }
    vgc_onnx_classify_destroy(c);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > ((size_t)4 << 20))
        return 0;
    if (data[0] & 1)
        fz_graph(data + 1, size - 1);
    else
        fz_input(data + 1, size - 1);
    return 0;
}
