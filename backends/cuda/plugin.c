/*
 * backends/cuda/plugin.c: the "cuda" backend plugin: vigia's backend ABI
 * (vigia/backend.h) over the CUDA engine (plan.h, gpu.h). The only
 * exported symbol is vigia_backend_entry.
 *
 * probe() answers VIGIA_ENODEV, never crashes, when the machine has no
 * CUDA driver (CUDA error 35), no device (100) or only devices older than
 * sm_75, so that `backend = auto` falls back to the next backend (cpu).
 *
 * Manifest keys it reads besides the standard ones (section [cuda]):
 *   device = N                  CUDA device ordinal (default: the one the host
 *                               assigned this worker from [model] devices, else 0)
 *   math = fp32 | tf32          tf32 lets cuDNN use tensor cores (faster on
 *                               Ampere and later, no longer equal to the cpu
 *                               engine within 1e-3); default fp32
 *   graphs = on | off           replay a CUDA graph per batch size (default on)
 *   algorithms = timed | heuristic   how cuDNN algorithms are chosen at load
 *   fusion = on | off           cuDNN's fused convolution + bias + activation
 *   workspace_mb = N            cuDNN workspace limit (default 256)
 *   scale_x_y = honour | ignore as the cpu backend's [cpu] scale_x_y
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

#define CUDA_BACKEND_VERSION "1.0.0"

struct vigia_model {
    vgcu_gpu *gpu;
    char device[160];
};


static void host_log(const vigia_host *host, enum vigia_log_level level, const char *msg)
{
    if (host && host->struct_size >= offsetof(vigia_host, log) + sizeof host->log && host->log)
        host->log(level, msg);
}


/* A host of another ABI major is refused (its structs differ from ours); any minor is fine. */
static int check_host(const vigia_host *host, char *err, size_t errlen)
{
    if (host && VIGIA_ABI_MAJOR(host->abi_version) != VIGIA_BACKEND_ABI_MAJOR)
        return snprintf(err, errlen, "the host speaks backend abi %u, this plugin %u",
                        VIGIA_ABI_MAJOR(host->abi_version), VIGIA_BACKEND_ABI_MAJOR), VIGIA_EINVAL;
    return 0;
}


/* A manifest key with two values: *out = 0 for `no`, 1 for `yes`; absent leaves *out. */
static int two_way(const vigia_manifest *m, const char *key, const char *no, const char *yes, int *out,
                   char *err, size_t errlen)
{
    const char *const choices[] = { no, yes, NULL };
    const char *v;
    int rc = m->get_string(m, key, choices, NULL, &v, err, errlen);

    if (rc == 0 && v)
        *out = strcmp(v, yes) == 0;
    return rc;
}


static int cuda_probe(const vigia_host *host, char *err, size_t errlen)
{
    int rc = check_host(host, err, errlen);

    return rc < 0 ? rc : vgcu_probe(0, err, errlen);
}


static int cuda_open(const vigia_host *host, const vigia_manifest *m, vigia_model **out, char *err, size_t errlen)
{
    vgcu_options po = { 0 };
    vgcu_gpu_options go = { 0 };
    vgcu_plan *plan = NULL;
    vigia_model *model;
    const char *v;
    long long device, ws;
    int rc, graphs = 1, timed = 1, fusion = 1, ignore = 0;

    *out = NULL;
    if ((rc = check_host(host, err, errlen)) < 0)
        return rc;
    if (!m || !m->cfg_path || !m->weights_path)
        return snprintf(err, errlen, "the manifest names no cfg or weights"), VIGIA_EINVAL;
    if (m->max_batch < 1 || m->max_batch > VGCU_MAX_BATCH)
        return snprintf(err, errlen, "batch %d is not in [1, %d]", m->max_batch, VGCU_MAX_BATCH), VIGIA_EINVAL;
    /* [cuda] device wins; else the device the host assigned this worker; else 0 */
    if ((rc = m->get_int(m, "cuda.device", 0, 64, m->device >= 0 ? m->device : 0, &device, err, errlen)) < 0 ||
        (rc = m->get_int(m, "cuda.workspace_mb", 0, 1 << 20, 0, &ws, err, errlen)) < 0 ||
        (rc = two_way(m, "cuda.math", "fp32", "tf32", &go.tf32, err, errlen)) < 0 ||
        (rc = two_way(m, "cuda.graphs", "off", "on", &graphs, err, errlen)) < 0 ||
        (rc = two_way(m, "cuda.algorithms", "heuristic", "timed", &timed, err, errlen)) < 0 ||
        (rc = two_way(m, "cuda.fusion", "off", "on", &fusion, err, errlen)) < 0)
        return rc;
    static const char *const scales[] = { "honour", "honor", "ignore", NULL };
    if ((rc = m->get_string(m, "cuda.scale_x_y", scales, "honour", &v, err, errlen)) < 0)
        return rc;
    ignore = strcmp(v, "ignore") == 0;
    go.device = (int)device;
    go.workspace_limit = (size_t)ws << 20;
    go.no_graphs = !graphs;
    go.heuristic_algos = !timed;
    go.no_fusion = !fusion;
    /* no GPU: say so before reading anything */
    if ((rc = vgcu_probe(go.device, err, errlen)) < 0)
        return rc;
    po.input_w = m->input_w;
    po.input_h = m->input_h;
    po.max_batch = m->max_batch;
    po.ignore_scale_x_y = ignore;
    if ((rc = vgcu_plan_create(&plan, m->cfg_path, m->weights_path, &po, err, errlen)) < 0)
        return rc;
    model = calloc(1, sizeof *model);
    if (!model) {
        vgcu_plan_destroy(plan);
        return snprintf(err, errlen, "out of memory"), VIGIA_ENOMEM;
    }
    if ((rc = vgcu_gpu_create(&model->gpu, plan, &go, err, errlen)) < 0) {
        free(model);
        return rc;
    }
    snprintf(model->device, sizeof model->device, "%s", vgcu_gpu_device(model->gpu));
    {
        const vgcu_plan *p = vgcu_gpu_plan(model->gpu);
        char msg[640];

        snprintf(msg, sizeof msg, "%s: %dx%d, %d layers, %.3f gflops/image, %s; %s", m->name ? m->name : "model",
                 p->w, p->h, p->n, p->flops / 1e9, model->device, vgcu_gpu_summary(model->gpu));
        host_log(host, VIGIA_LOG_INFO, msg);
    }
    *out = model;
    return 0;
}


static int cuda_describe(vigia_model *model, vigia_model_info *info, char *err, size_t errlen)
{
    const vgcu_plan *p = vgcu_gpu_plan(model->gpu);

    (void)err;
    (void)errlen;
    info->input_w = p->w;
    info->input_h = p->h;
    info->input_c = p->c;
    info->classes = p->classes;
    info->max_batch = p->max_batch;
    info->device = model->device;
    info->gflops = p->flops / 1e9;
    info->task = VIGIA_TASK_DETECT;           /* raw candidates of planar RGB floats: the defaults */
    return 0;
}


static int cuda_infer(vigia_model *model, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    const vgcu_plan *p = vgcu_gpu_plan(model->gpu);
    const float *input = in ? in->input : NULL;
    int batch = in ? (int)in->count : 0;
    float threshold = in ? in->threshold : 1;

    if (!input || !out || batch < 1 || batch > p->max_batch)
        return snprintf(err, errlen, "batch %d is not in [1, %d]", batch, p->max_batch), VIGIA_EINVAL;
    for (int b = 0; b < batch; b++)
        if (out[b].capacity && (!out[b].box || !out[b].objectness || !out[b].prob))
            return snprintf(err, errlen, "candidate set %d has no arrays", b), VIGIA_EINVAL;
    return vgcu_gpu_infer(model->gpu, input, batch, threshold, out, err, errlen);
}


static void cuda_close(vigia_model *model)
{
    if (!model)
        return;
    vgcu_gpu_destroy(model->gpu);
    free(model);
}


/* The keys of [cuda]; the host refuses any other there. */
static const char *const cuda_keys[] = { "device", "workspace_mb", "math", "graphs", "algorithms", "fusion",
                                         "scale_x_y", NULL };


static const vigia_backend cuda_backend = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = "cuda",
    .version = CUDA_BACKEND_VERSION,
    .probe = cuda_probe,
    .open = cuda_open,
    .describe = cuda_describe,
    .infer = cuda_infer,
    .close = cuda_close,
    .keys = cuda_keys,
};


VIGIA_EXPORT const vigia_backend *vigia_backend_entry(void)
{
    return &cuda_backend;
}
