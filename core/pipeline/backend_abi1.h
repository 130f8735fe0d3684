/*
 * backend_abi1: ABI 1 plugins presented as ABI 2 (the compatibility path).
 *
 * ABI 1 (vigia 1.x, abi_version 1) is a contract we published: plugins
 * built against it keep loading. This module holds its layout (the structs
 * below mirror the ABI 1 header field for field; tests/pipeline/abi1 keeps
 * that header and builds a plugin against it) and adapts each call: an
 * ABI 2 manifest becomes an ABI 1 one, describe() fills an ABI 2 info
 * (task detect, candidates, planar RGB floats, letterboxed when the
 * plugin's only_resize says so), infer() takes the batch's float tensors.
 *
 * The model handle the adapter returns wraps the plugin's; pass it only to
 * the functions here. Same threading as the plugin: one thread per model.
 */
#ifndef VG_BACKEND_ABI1_H
#define VG_BACKEND_ABI1_H

#include <stddef.h>
#include <stdint.h>

#include <vigia/backend.h>

#define VG_ABI1_VERSION 1u

typedef struct vg_abi1_host {
    uint32_t abi_version;
    uint32_t struct_size;
    void (*log)(enum vigia_log_level level, const char *msg);
    void *reserved[6];
} vg_abi1_host;

typedef struct vg_abi1_manifest {
    const char *name, *dir, *cfg_path, *weights_path;
    int input_w, input_h;
    int max_batch;
    int threads;
    const char *(*get)(const void *ctx, const char *key);
    const void *get_ctx;
} vg_abi1_manifest;

typedef struct vg_abi1_info {
    int input_w, input_h, input_c;
    int classes;
    int max_batch;
    const char *device;
    double gflops;
} vg_abi1_info;

typedef struct vg_abi1_candidates {
    uint32_t capacity;
    uint32_t count;
    uint32_t truncated;
    float *box;
    float *objectness;
    float *prob;
} vg_abi1_candidates;

typedef struct vg_abi1_model vg_abi1_model;   /* the ABI 1 plugin's own handle */

typedef struct vg_abi1_backend {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *name;
    const char *version;
    int (*probe)(const vg_abi1_host *host, char *err, size_t errlen);
    int (*open)(const vg_abi1_host *host, const vg_abi1_manifest *manifest, vg_abi1_model **out,
                char *err, size_t errlen);
    int (*describe)(vg_abi1_model *model, vg_abi1_info *info, char *err, size_t errlen);
    int (*infer)(vg_abi1_model *model, const float *input, int batch, float threshold,
                 vg_abi1_candidates *out, char *err, size_t errlen);
    void (*close)(vg_abi1_model *model);
    const char *only_resize;
    void *reserved[7];
} vg_abi1_backend;

/* Mandatory parts of an ABI 1 table (size, open, describe, infer, close): 0 or -1 with err set. */
int vg_abi1_check(const vg_abi1_backend *t, char *err, size_t errlen);

/* The calls, as ABI 2 callers make them. `host` is the ABI 2 host table. */
int vg_abi1_probe(const vg_abi1_backend *t, const vigia_host *host, char *err, size_t errlen);
int vg_abi1_open(const vg_abi1_backend *t, const vigia_host *host, const vigia_manifest *man,
                 vigia_model **out, char *err, size_t errlen);
int vg_abi1_describe(vigia_model *model, vigia_model_info *info, char *err, size_t errlen);
/* F32 tensors only (what describe() announced); per-image status stays 0. */
int vg_abi1_infer(vigia_model *model, const vigia_batch *batch, vigia_candidates *out, char *err, size_t errlen);
void vg_abi1_close(vigia_model *model);

#endif
