/*
 * backends/cpu/plugin.c: the "cpu" backend plugin: vigia's backend ABI
 * (vigia/backend.h) over the engine (engine.h). The only exported symbol
 * is vigia_backend_entry.
 *
 * Manifest keys it reads besides the standard ones (section [cpu]):
 *   simd = generic | avx2 | avx512   force a kernel level (default: the best
 *                                    the CPU has)
 *   scale_x_y = ignore               decode the yolo heads as Debian's
 *                                    darknet does (it ignores scale_x_y)
 *   headroom_mb = N                  memory beyond the weights the model may
 *                                    use (default 56; more lets more 3x3
 *                                    layers run as Winograd)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define CPU_BACKEND_VERSION "1.0.0"

struct vigia_model {
    vgc_net *net;
    const vigia_host *host;
    char device[128];
};


static void host_log(const vigia_host *host, enum vigia_log_level level, const char *msg)
{
    if (host && host->struct_size >= offsetof(vigia_host, log) + sizeof host->log && host->log)
        host->log(level, msg);
}


static const char *manifest_get(const vigia_manifest *m, const char *key)
{
    return m->get ? m->get(m->get_ctx, key) : NULL;
}


/* A host built for another ABI is refused (its structs may differ from ours). */
static int check_host(const vigia_host *host, char *err, size_t errlen)
{
    if (host && host->abi_version != VIGIA_BACKEND_ABI_VERSION)
        return snprintf(err, errlen, "the host speaks backend abi %u, this plugin %u", host->abi_version,
                        VIGIA_BACKEND_ABI_VERSION), VIGIA_EINVAL;
    return 0;
}


static int cpu_probe(const vigia_host *host, char *err, size_t errlen)
{
    return check_host(host, err, errlen);
}


static int cpu_open(const vigia_host *host, const vigia_manifest *m, vigia_model **out,
                    char *err, size_t errlen)
{
    vgc_options opt = { 0 };
    vigia_model *model;
    const char *v;
    int rc, w, h, c;

    *out = NULL;
    if ((rc = check_host(host, err, errlen)) < 0)
        return rc;
    if (!m || !m->cfg_path || !m->weights_path)
        return snprintf(err, errlen, "the manifest names no cfg or weights"), VIGIA_EINVAL;
    if (m->max_batch < 1 || m->max_batch > VGC_MAX_BATCH || m->threads < 1 ||
        m->threads > VGC_MAX_THREADS)
        return snprintf(err, errlen, "batch %d or threads %d out of range", m->max_batch, m->threads),
               VIGIA_EINVAL;
    opt.input_w = m->input_w;
    opt.input_h = m->input_h;
    opt.max_batch = m->max_batch;
    opt.threads = m->threads;
    if ((v = manifest_get(m, "cpu.simd")) != NULL) {
        if (strcmp(v, "generic") == 0)
            opt.simd = VGC_SIMD_GENERIC;
        else if (strcmp(v, "avx2") == 0)
            opt.simd = VGC_SIMD_AVX2;
        else if (strcmp(v, "avx512") == 0)
            opt.simd = VGC_SIMD_AVX512;
        else if (strcmp(v, "auto") != 0)
            return snprintf(err, errlen, "[cpu] simd = %s: expected generic, avx2, avx512 or auto", v),
                   VIGIA_EINVAL;
    }
    if ((v = manifest_get(m, "cpu.scale_x_y")) != NULL) {
        if (strcmp(v, "ignore") == 0)
            opt.ignore_scale_x_y = 1;
        else if (strcmp(v, "honour") != 0 && strcmp(v, "honor") != 0)
            return snprintf(err, errlen, "[cpu] scale_x_y = %s: expected honour or ignore", v), VIGIA_EINVAL;
    }
    if ((v = manifest_get(m, "cpu.headroom_mb")) != NULL) {
        char *end;
        long mb = strtol(v, &end, 10);

        if (*v == '\0' || *end || mb < 0 || mb > 65536)
            return snprintf(err, errlen, "[cpu] headroom_mb = %s: expected 0 to 65536", v), VIGIA_EINVAL;
        opt.headroom = mb ? (size_t)mb << 20 : 1;
    }
    model = calloc(1, sizeof *model);
    if (!model)
        return snprintf(err, errlen, "out of memory"), VIGIA_ENOMEM;
    rc = vgc_net_load(&model->net, m->cfg_path, m->weights_path, &opt, err, errlen);
    if (rc < 0)
        goto fail;
    vgc_net_input_size(model->net, &w, &h, &c);
    if (c != 3) {
        rc = VIGIA_ENOTSUP;
        snprintf(err, errlen, "the network takes %d channels; vigia sends 3 (rgb)", c);
        goto fail;
    }
    if (vgc_net_classes(model->net) < 1) {
        rc = VIGIA_ENOTSUP;
        snprintf(err, errlen, "the network has no [yolo] layer");
        goto fail;
    }
    model->host = host;
    snprintf(model->device, sizeof model->device, "%s", vgc_net_device(model->net));
    {
        char msg[256];

        snprintf(msg, sizeof msg, "%s: %dx%d, %d layers, %.3f gflops/image, %.1f MiB arena, %s",
                 m->name ? m->name : "model", w, h, vgc_net_layers(model->net),
                 vgc_net_flops(model->net) / 1e9, vgc_net_arena_bytes(model->net) / 1048576.0, model->device);
        host_log(host, VIGIA_LOG_INFO, msg);
    }
    *out = model;
    return 0;

fail:
    vgc_net_destroy(model->net);
    free(model);
    return rc;
}


static int cpu_describe(vigia_model *model, vigia_model_info *info, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    vgc_net_input_size(model->net, &info->input_w, &info->input_h, &info->input_c);
    info->classes = vgc_net_classes(model->net);
    info->max_batch = vgc_net_max_batch(model->net);
    info->device = model->device;
    info->gflops = vgc_net_flops(model->net) / 1e9;
    return 0;
}


static int cpu_infer(vigia_model *model, const float *input, int batch, float threshold,
                     vigia_candidates *out, char *err, size_t errlen)
{
    int rc;

    if (!input || !out || batch < 1 || batch > vgc_net_max_batch(model->net))
        return snprintf(err, errlen, "batch %d is not in [1, %d]", batch, vgc_net_max_batch(model->net)),
               VIGIA_EINVAL;
    for (int b = 0; b < batch; b++)
        if (out[b].capacity && (!out[b].box || !out[b].objectness || !out[b].prob))
            return snprintf(err, errlen, "candidate set %d has no arrays", b), VIGIA_EINVAL;
    rc = vgc_net_forward(model->net, input, batch, err, errlen);
    for (int b = 0; rc == 0 && b < batch; b++)
        rc = vgc_net_candidates(model->net, b, threshold, &out[b], NULL);
    return rc;
}


static void cpu_close(vigia_model *model)
{
    if (!model)
        return;
    vgc_net_destroy(model->net);
    free(model);
}


static const vigia_backend cpu_backend = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = "cpu",
    .version = CPU_BACKEND_VERSION,
    .probe = cpu_probe,
    .open = cpu_open,
    .describe = cpu_describe,
    .infer = cpu_infer,
    .close = cpu_close,
};


VIGIA_EXPORT const vigia_backend *vigia_backend_entry(void)
{
    return &cpu_backend;
}
