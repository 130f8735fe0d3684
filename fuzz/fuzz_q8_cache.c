/*
 * fuzz/fuzz_q8_cache.c: libFuzzer harness for the int8 calibration
 * cache reader (backends/cpu/q8_cache.c). The layer and channel counts
 * and the key the reader expects are taken from the input itself (the
 * channel count kept small), so that inputs get past
 * those checks to the checksum and the ranges; every input must end in a
 * clear error or ranges that are finite, contain 0 and are ordered.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "q8_calib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { CHANS = 4096 };
    static float ranges[2 * (VGC_MAX_LAYERS + CHANS)];
    char err[VIGIA_ERRLEN];
    unsigned images = 0;
    uint32_t layers = 1, chans = 0;
    uint64_t key = 0;

    if (size >= 32) {
        memcpy(&layers, data + 12, 4);
        memcpy(&key, data + 16, 8);
        memcpy(&chans, data + 28, 4);
    }
    if (layers < 1 || layers > VGC_MAX_LAYERS)
        layers = 1 + layers % VGC_MAX_LAYERS;
    chans %= CHANS;
    err[0] = '\0';
    if (vgc_q8_cache_parse(data, size, (int)layers, (int)chans, key, ranges, &images, err, sizeof err) < 0) {
        if (!err[0] || strlen(err) >= sizeof err)
            abort();
        return 0;
    }
    if (images < 1 || images > VGC_Q8_CALIB_MAX_FILES)
        abort();
    for (uint32_t i = 0; i < layers + chans; i++)
        if (!isfinite(ranges[2 * i]) || !isfinite(ranges[2 * i + 1]) || ranges[2 * i] > 0 ||
            ranges[2 * i + 1] < 0)
            abort();
    return 0;
}
