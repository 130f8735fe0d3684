/*
 * backends/cpu/q8_calib.h: int8 calibration: each int8 layer's input range
 * measured once over a folder of input tensors, and the cache file that
 * keeps the result beside the model so that a restart does not redo it.
 *
 * The calibration set is a folder of `*.f32` files, each one input tensor
 * exactly as infer() gets it (planar RGB floats, the network's input size,
 * the host's letterbox: `bench_engines dump-input W H IMAGE OUT.f32` writes
 * one with the host's own preprocessing). The plugin has no image decoder
 * (libvips is the host's), and a tensor made by the host's code is the
 * one thing that gives the ranges infer() will see.
 *
 * The cache (little-endian, 40 + 8 (n + c) bytes for a network of n
 * layers whose depthwise int8 layers have c input channels in all):
 *   "VGCQ8CAL"  u32 version (2)  u32 n  u64 key  u32 images  u32 c
 *   n x (f32 min, f32 max)       (min == max: the layer has no range)
 *   c x (f32 min, f32 max)       each depthwise layer's input channels, in slot order
 *   u64 checksum of everything before it
 * Version 1 (no channel ranges) is refused as any other version: the
 * network calibrates again and rewrites the file.
 * The key hashes what the ranges depend on: the cfg and weights files, the
 * input size, the int8 minimum of channels and the calibration folder's
 * listing (names, sizes, modification times). A cache whose key, layer
 * count or checksum differs is stale: calibration runs again and rewrites it.
 */
#ifndef VGC_Q8_CALIB_H
#define VGC_Q8_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define VGC_Q8_CALIB_VERSION 2u
#define VGC_Q8_CALIB_MAX_CHANS (1 << 20)    /* depthwise input channels in a cache */
#define VGC_Q8_CALIB_MAX_FILES 256          /* tensors in a calibration folder */
#define VGC_Q8_CALIB_MAX_RANGE 1e30f        /* |min|, |max| in a cache */

/* Bytes of the cache of a network of `layers` range slots and `chans` depthwise input channels. */
static inline size_t vgc_q8_cache_size(int layers, int chans)
{
    return 40 + 8 * ((size_t)layers + (size_t)chans);
}

/*
 * Parse a cache: 0 with (layers + chans) x 2 floats in ranges (the slots',
 * then the depthwise channels') and the number of images it was made from
 * in *images, or VIGIA_EINVAL with the reason (malformed, another version,
 * another network, a stale key).
 */
VGC_HIDDEN int vgc_q8_cache_parse(const uint8_t *buf, size_t len, int layers, int chans, uint64_t key,
                                  float *ranges, unsigned *images, char *err, size_t errlen);

/* Format a cache into buf (vgc_q8_cache_size(layers, chans) bytes). */
VGC_HIDDEN void vgc_q8_cache_format(uint8_t *buf, int layers, int chans, uint64_t key, const float *ranges,
                                    unsigned images);

/* 64-bit hash (FNV-1a by 8-byte words), chained through h; start with VGC_Q8_HASH_SEED. */
#define VGC_Q8_HASH_SEED 0xcbf29ce484222325ull
VGC_HIDDEN uint64_t vgc_q8_hash(uint64_t h, const void *p, size_t n);

/*
 * Give the int8 layers of a loaded int8 network static input ranges: from
 * the cache at cache_path when it is current, else by running the network
 * over the tensors of the folder `dir` (the union of each layer's input
 * ranges) and writing the cache (cache_path NULL: no cache). cfg_path and
 * weights_path are the files the network was loaded from (hashed into the
 * cache's key; NULL: not part of it). What was done goes into note (one
 * line: "int8 ranges from the cache (42 tensors)", "int8 calibrated on 42
 * tensors in 1.9 s, cache written", "..., cache not written: <why>").
 * Fails with VIGIA_EINVAL (a folder with no tensor, a tensor of another
 * size, too many, not finite), VIGIA_ENOENT (no such folder), VIGIA_ENOMEM.
 * A network not in int8 is left as it is (note empty).
 */
VGC_HIDDEN int vgc_q8_calibrate(vgc_net *net, const char *dir, const char *cache_path, const char *cfg_path,
                                const char *weights_path, char *note, size_t notelen, char *err, size_t errlen);

/*
 * The same for convolutions run by another runner (the ONNX executor) over
 * the q8 state of qnet (its attached layers, q8.h): run(ctx, x) computes
 * one c x h x w input tensor; model_path is hashed into the key.
 */
VGC_HIDDEN int vgc_q8_calibrate_with(vgc_net *qnet, int c, int w, int h,
                                     int (*run)(void *ctx, const float *x, char *err, size_t errlen), void *ctx,
                                     const char *dir, const char *cache_path, const char *model_path, char *note,
                                     size_t notelen, char *err, size_t errlen);

/* Range slots of a network: its layers, then its attached convolutions (q8.h). */
VGC_HIDDEN int vgc_q8_slots(const vgc_net *net);

/* Each slot's static input range (2 floats a slot; 0, 0: none, dynamic). */
VGC_HIDDEN void vgc_q8_ranges(const vgc_net *net, float *ranges);

/* Input channels of the depthwise int8 layers of a network, over its slots (their per-channel ranges). */
VGC_HIDDEN int vgc_q8_chans(const vgc_net *net);

/* Those channels' static ranges (2 floats a channel, in slot order; 0, 0 where the layer has none). */
VGC_HIDDEN void vgc_q8_chan_ranges(const vgc_net *net, float *ranges);

#endif /* VGC_Q8_CALIB_H */
