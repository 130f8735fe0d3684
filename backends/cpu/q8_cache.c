/*
 * backends/cpu/q8_cache.c: the int8 calibration cache's bytes (q8_calib.h):
 * parse (every field checked: this reads a file anyone could have written),
 * format, and the hash that keys and checks it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "q8_calib.h"

static const char magic[8] = { 'V', 'G', 'C', 'Q', '8', 'C', 'A', 'L' };


uint64_t vgc_q8_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;

        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}


static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}


static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}


static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}


static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}


static float getf(const uint8_t *p)
{
    uint32_t u = get32(p);
    float f;

    memcpy(&f, &u, 4);
    return f;
}


int vgc_q8_cache_parse(const uint8_t *buf, size_t len, int layers, int chans, uint64_t key, float *ranges,
                       unsigned *images, char *err, size_t errlen)
{
    size_t body;

    if (layers < 1 || layers > VGC_MAX_LAYERS)
        return snprintf(err, errlen, "int8 cache: bad layer count %d", layers), VIGIA_EINVAL;
    if (chans < 0 || chans > VGC_Q8_CALIB_MAX_CHANS)
        return snprintf(err, errlen, "int8 cache: bad channel count %d", chans), VIGIA_EINVAL;
    body = vgc_q8_cache_size(layers, chans) - 8;
    if (len < 40 || memcmp(buf, magic, sizeof magic) != 0)
        return snprintf(err, errlen, "int8 cache: not a calibration cache"), VIGIA_EINVAL;
    if (get32(buf + 8) != VGC_Q8_CALIB_VERSION)
        return snprintf(err, errlen, "int8 cache: version %u, this build reads version %u%s", get32(buf + 8),
                        VGC_Q8_CALIB_VERSION,
                        get32(buf + 8) == 1 ? " (version 1 has no per-channel depthwise ranges)" : ""),
               VIGIA_EINVAL;
    if (get32(buf + 12) != (uint32_t)layers || get32(buf + 28) != (uint32_t)chans || len != body + 8)
        return snprintf(err, errlen, "int8 cache: %zu bytes for %u layers and %u channels, the network has %d and %d",
                        len, get32(buf + 12), get32(buf + 28), layers, chans), VIGIA_EINVAL;
    if (get64(buf + body) != vgc_q8_hash(VGC_Q8_HASH_SEED, buf, body))
        return snprintf(err, errlen, "int8 cache: bad checksum"), VIGIA_EINVAL;
    if (get64(buf + 16) != key)
        return snprintf(err, errlen, "int8 cache: stale (the model, its input size or the calibration set changed)"),
               VIGIA_EINVAL;
    if (get32(buf + 24) < 1 || get32(buf + 24) > VGC_Q8_CALIB_MAX_FILES)
        return snprintf(err, errlen, "int8 cache: bad image count %u", get32(buf + 24)), VIGIA_EINVAL;
    for (int i = 0; i < layers + chans; i++) {
        const float lo = getf(buf + 32 + 8 * (size_t)i), hi = getf(buf + 36 + 8 * (size_t)i);

        /* isfinite first: comparisons with a NaN are all false */
        if (!isfinite(lo) || !isfinite(hi) || lo > hi || lo > 0 || hi < 0 || lo < -VGC_Q8_CALIB_MAX_RANGE ||
            hi > VGC_Q8_CALIB_MAX_RANGE)
            return (i < layers ? snprintf(err, errlen, "int8 cache: bad range of layer %d", i)
                               : snprintf(err, errlen, "int8 cache: bad range of channel %d", i - layers)),
                   VIGIA_EINVAL;
        ranges[2 * i] = lo;
        ranges[2 * i + 1] = hi;
    }
    *images = get32(buf + 24);
    return 0;
}


void vgc_q8_cache_format(uint8_t *buf, int layers, int chans, uint64_t key, const float *ranges, unsigned images)
{
    const size_t body = vgc_q8_cache_size(layers, chans) - 8;

    memcpy(buf, magic, sizeof magic);
    put32(buf + 8, VGC_Q8_CALIB_VERSION);
    put32(buf + 12, (uint32_t)layers);
    put64(buf + 16, key);
    put32(buf + 24, images);
    put32(buf + 28, (uint32_t)chans);
    for (int i = 0; i < 2 * (layers + chans); i++) {
        uint32_t u;

        memcpy(&u, &ranges[i], 4);
        put32(buf + 32 + 4 * (size_t)i, u);
    }
    put64(buf + body, vgc_q8_hash(VGC_Q8_HASH_SEED, buf, body));
}
