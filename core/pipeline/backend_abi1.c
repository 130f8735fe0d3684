/*
 * backend_abi1: the ABI 1 compatibility path (see backend_abi1.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "pipeline/backend_abi1.h"
#include "pipeline/model.h"

/* The wrapper handed to the host as a vigia_model. */
struct vg_abi1_wrap {
    const vg_abi1_backend *t;
    vg_abi1_model *model;          /* the plugin's */
    vg_abi1_host host;             /* what the plugin was opened with (it may keep the pointer) */
    vigia_manifest man;            /* a copy of the ABI 2 manifest, for get() */
};


int
vg_abi1_check(const vg_abi1_backend *t, char *err, size_t errlen)
{
    if (t->struct_size < offsetof(vg_abi1_backend, only_resize)) {
        snprintf(err, errlen, "table of %u bytes is shorter than ABI 1's %zu", t->struct_size,
                 offsetof(vg_abi1_backend, only_resize));
        return -1;
    }
    if (!t->open || !t->describe || !t->infer || !t->close) {
        snprintf(err, errlen, "ABI 1 backend lacks open, describe, infer or close");
        return -1;
    }
    return 0;
}


/* ABI 1 hosts sent abi_version 1; a foreign (test) host keeps its own number. */
static void
host_of(const vigia_host *host, vg_abi1_host *out)
{
    memset(out, 0, sizeof *out);
    out->abi_version = host && host->abi_version != VIGIA_BACKEND_ABI_VERSION ? host->abi_version : VG_ABI1_VERSION;
    out->struct_size = sizeof *out;
    out->log = host && host->struct_size >= offsetof(vigia_host, log) + sizeof host->log ? host->log : NULL;
}


int
vg_abi1_probe(const vg_abi1_backend *t, const vigia_host *host, char *err, size_t errlen)
{
    static vg_abi1_host h1;        /* a plugin may keep the pointer: one for the process */
    if (!t->probe)
        return 0;
    host_of(host, &h1);
    return t->probe(&h1, err, errlen);
}


static const char *
wrap_get(const void *ctx, const char *key)
{
    const vigia_manifest *man = ctx;
    return man->get ? man->get(man, key) : NULL;
}


int
vg_abi1_open(const vg_abi1_backend *t, const vigia_host *host, const vigia_manifest *man,
             vigia_model **out, char *err, size_t errlen)
{
    struct vg_abi1_wrap *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return VIGIA_ENOMEM;
    }
    w->t = t;
    w->man = *man;
    host_of(host, &w->host);
    vg_abi1_manifest m1 = {
        .name = man->name, .dir = man->dir, .cfg_path = man->cfg_path, .weights_path = man->weights_path,
        .input_w = man->input_w, .input_h = man->input_h, .max_batch = man->max_batch,
        .threads = man->threads, .get = wrap_get, .get_ctx = &w->man,
    };
    int rc = t->open(&w->host, &m1, &w->model, err, errlen);
    if (rc != 0 || !w->model) {
        free(w);
        return rc ? rc : VIGIA_EBACKEND;
    }
    *out = (vigia_model *)(void *)w;
    return 0;
}


int
vg_abi1_describe(vigia_model *model, vigia_model_info *info, char *err, size_t errlen)
{
    struct vg_abi1_wrap *w = (struct vg_abi1_wrap *)(void *)model;
    vg_abi1_info i1;
    memset(&i1, 0, sizeof i1);
    int rc = w->t->describe(w->model, &i1, err, errlen);
    if (rc != 0)
        return rc;
    info->task = VIGIA_TASK_DETECT;
    info->output = VIGIA_OUTPUT_CANDIDATES;
    info->input_w = i1.input_w;
    info->input_h = i1.input_h;
    info->input_c = i1.input_c;
    info->classes = i1.classes;
    info->max_batch = i1.max_batch;
    info->device = i1.device;
    info->gflops = i1.gflops;
    memset(&info->input, 0, sizeof info->input);    /* planar RGB floats in [0, 1] */
    const char *only = w->t->struct_size >= offsetof(vg_abi1_backend, only_resize) + sizeof w->t->only_resize
                       ? w->t->only_resize : NULL;
    info->input.resize = only && strcmp(only, "letterbox") == 0 ? VIGIA_RESIZE_LETTERBOX : VIGIA_RESIZE_MODEL;
    return 0;
}


int
vg_abi1_infer(vigia_model *model, const vigia_batch *batch, vigia_candidates *out, char *err, size_t errlen)
{
    struct vg_abi1_wrap *w = (struct vg_abi1_wrap *)(void *)model;
    vg_abi1_candidates c1[VG_MODEL_MAX_BATCH];
    uint32_t n = batch->count;
    if (n > VG_MODEL_MAX_BATCH) {
        snprintf(err, errlen, "batch %u is larger than %d", n, VG_MODEL_MAX_BATCH);
        return VIGIA_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++)
        c1[i] = (vg_abi1_candidates){
            .capacity = out[i].capacity, .box = out[i].box, .objectness = out[i].objectness, .prob = out[i].prob,
        };
    int rc = w->t->infer(w->model, batch->input, (int)batch->count, batch->threshold, c1, err, errlen);
    for (uint32_t i = 0; i < n; i++) {
        out[i].count = c1[i].count;
        out[i].truncated = c1[i].truncated;
    }
    return rc;
}


void
vg_abi1_close(vigia_model *model)
{
    struct vg_abi1_wrap *w = (struct vg_abi1_wrap *)(void *)model;
    if (!w)
        return;
    w->t->close(w->model);
    free(w);
}
