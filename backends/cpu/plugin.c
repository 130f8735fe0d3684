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
 *   precision = fp32 | bf16 | int8   what the convolutions compute in
 *                                    (default fp32; docs/engine.md). What
 *                                    runs, and why when it fell back, is in
 *                                    the device string (/v1/models).
 *   int8_kernel = auto | ref | avx2 | vnni | amx
 *                                    the best int8 kernel allowed (default
 *                                    auto: the best the CPU has); bf16 runs
 *                                    on AMX-BF16 or AVX-512 BF16, else fp32
 *   int8_min_channels = N            fewest terms per output (input channels
 *                                    x kernel area) of a convolution run in int8 (default 64, measured on the
 *                                    shipped models: docs/engine.md)
 *   int8_calibration = DIR           static int8 input ranges measured once
 *                                    over the *.f32 input tensors in DIR
 *                                    (relative: to the model's folder;
 *                                    q8_calib.h), cached beside the weights
 *                                    as WEIGHTS.int8cal (absent: each image's
 *                                    own ranges, computed at run time)
 *
 * A manifest with no cfg whose weights file ends in ".onnx" is an ONNX
 * graph with a detection head (onnx_head.h), run one image at a time on
 * the manifest's `threads` compute threads; of the keys above, precision,
 * int8_kernel, int8_min_channels and int8_calibration apply to it (its
 * convolutions that qualify run reduced). The file is read once; its
 * output's shape says the task. The [model] key
 *   head = auto | yolov5 | yolov8 | boxes   its output's layout (auto: from
 *                                    the output's shape)
 * names it; a boxes head takes its class count from the labels file.
 *   mean = R,G,B, std = R,G,B        the graph's input normalisation, in
 *                                    0..1 units: (pixel / 255 - mean) / std
 *                                    (absent: 0 and 1, pixels in [0, 1])
 *
 * An ONNX graph whose output is one score per class is a classifier
 * (onnx_classify.h: task classify, scores), with the same mean and std and
 *   [cpu] channels = rgb | bgr       the tensor's channel order
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "input_norm.h"
#include "onnx_classify.h"
#include "onnx_model.h"
#include "q8_calib.h"

#define CPU_BACKEND_VERSION "1.0.0"

struct vigia_model {
    vgc_net *net;             /* a darknet network, or NULL for */
    vgc_onnx_model *onnx;     /* an ONNX graph */
    float mean[3], std[3];    /* ONNX: its input's normalisation (manifest mean, std) */
    vgc_onnx_classify *cls;   /* an ONNX classifier */
    vigia_input_desc cls_in;  /* the tensor the classifier takes */
    int max_batch;            /* images per infer() (ONNX: run one by one) */
    const vigia_host *host;
    char device[320];
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


static int cpu_probe(const vigia_host *host, char *err, size_t errlen)
{
    return check_host(host, err, errlen);
}


/* The labels in a names file: its non-blank lines (the host refuses blank ones inside); 0 if unreadable. */
static int count_labels(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[1024];
    long bytes = 0;
    int n = 0;

    if (!f)
        return 0;
    while (n <= VGC_MAX_CLASSES && bytes < (16L << 20) && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        bytes += (long)len;
        if (strspn(line, " \t\r\n") < len)
            n++;
        while (len == sizeof line - 1 && line[len - 1] != '\n' && fgets(line, sizeof line, f))
            len = strlen(line), bytes += (long)len;  /* the rest of a long line */
    }
    fclose(f);
    return n;
}


/* Whether path names an ONNX file (by its suffix). */
static int is_onnx(const char *path)
{
    size_t n = path ? strlen(path) : 0;

    return n > 5 && strcmp(path + n - 5, ".onnx") == 0;
}


/*
 * [cpu] int8_calibration: the int8 layers' input ranges from the cache
 * beside the weights, or measured over the folder's tensors (and cached).
 * A model not running int8 ignores the key.
 */
static int calibrate(const vigia_host *host, const vigia_manifest *m, vgc_net *net, vgc_onnx_exec *onnx,
                     char *err, size_t errlen)
{
    const char *dir, *prec;
    char path[4096], cache[4096], note[VIGIA_ERRLEN + 256], msg[VIGIA_ERRLEN + 512];
    int rc;

    if ((rc = m->get_string(m, "cpu.int8_calibration", NULL, "", &dir, err, errlen)) < 0)
        return rc;
    if (!dir[0] || (net && vgc_net_precision(net, &prec) != VGC_PREC_INT8))
        return 0;
    if ((size_t)snprintf(path, sizeof path, "%s%s%s", dir[0] == '/' ? "" : m->dir, dir[0] == '/' ? "" : "/", dir) >=
            sizeof path ||
        (size_t)snprintf(cache, sizeof cache, "%s.int8cal", m->weights_path) >= sizeof cache)
        return snprintf(err, errlen, "int8 calibration: path too long"), VIGIA_EINVAL;
    rc = net ? vgc_q8_calibrate(net, path, cache, m->cfg_path, m->weights_path, note, sizeof note, err, errlen)
             : vgc_onnx_exec_calibrate(onnx, path, cache, m->weights_path, note, sizeof note, err, errlen);
    if (rc < 0 || !note[0])
        return rc;
    snprintf(msg, sizeof msg, "%s: %s", m->name ? m->name : "model", note);
    host_log(host, VIGIA_LOG_INFO, msg);
    return 0;
}


/*
 * [cpu] precision on an ONNX graph's executor (a detector's or a
 * classifier's): its convolutions reduced where they qualify, calibrated
 * when int8 asks for it; model->device says what runs: "cpu onnx, 1 thread,
 * int8 amx, 12 of 20 convolutions" or "cpu onnx, 1 thread, fp32 (bf16
 * asked: why)".
 */
static int onnx_precision(const vigia_host *host, const vigia_manifest *m, vigia_model *model, vgc_onnx_exec *ex,
                          const vgc_options *opt, char *err, size_t errlen)
{
    char threads[32];
    const char *note = "";
    int rc;

    snprintf(threads, sizeof threads, "%d thread%s", m->threads, m->threads > 1 ? "s" : "");
    snprintf(model->device, sizeof model->device, "cpu onnx, %s", threads);
    if (opt->precision == VGC_PREC_FP32)
        return 0;
    if ((rc = vgc_onnx_exec_precision(ex, opt, &note, err, errlen)) < 0 ||
        (opt->precision == VGC_PREC_INT8 && strstr(note, " of ") && (rc = calibrate(host, m, NULL, ex, err, errlen)) < 0))
        return rc;
    snprintf(model->device, sizeof model->device, "cpu onnx, %s, %s%s%s", threads, strstr(note, " of ") ? "" : "fp32 (",
             note, strstr(note, " of ") ? "" : ")");
    return 0;
}


/* A classifier on the open graph g (taken) into model (mean and std already read). */
static int onnx_classify_open(const vigia_host *host, const vigia_manifest *m, vigia_model *model,
                              vgc_onnx_graph *g, const vgc_options *opt, char *err, size_t errlen)
{
    char msg[512];
    size_t len;
    int rc, w, h;

    if ((rc = vgc_onnx_classify_open_graph(&model->cls, g, m->threads, err, errlen)) < 0)
        return rc;
    if ((rc = vgc_onnx_classify_input(m, model->mean, model->std, &model->cls_in, err, errlen)) < 0 ||
        (rc = onnx_precision(host, m, model, vgc_onnx_classify_exec(model->cls), opt, err, errlen)) < 0) {
        vgc_onnx_classify_destroy(model->cls);
        model->cls = NULL;
        return rc;
    }
    len = strlen(model->device);
    snprintf(model->device + len, sizeof model->device - len, ", %s",
             vgc_onnx_classify_softmax(model->cls) ? "scores: the graph's softmax" : "scores: softmax of the logits");
    vgc_onnx_classify_input_size(model->cls, &w, &h);
    snprintf(msg, sizeof msg, "%s: onnx classifier %dx%d, %d classes, %s", m->name ? m->name : "model", w, h,
             vgc_onnx_classify_classes(model->cls), model->device);
    host_log(host, VIGIA_LOG_INFO, msg);
    return 0;
}


/* A detector on the open graph g (taken) into model. */
static int onnx_detector_open(const vigia_host *host, const vigia_manifest *m, vigia_model *model,
                              vgc_onnx_graph *g, const char *head, const vgc_options *opt, char *err, size_t errlen)
{
    const vgc_onnx_head *hd;
    char msg[512];
    int rc, w, h;

    if ((rc = vgc_onnx_model_open_graph(&model->onnx, g, head, count_labels(m->names_path), m->threads, err,
                                        errlen)) < 0)
        return rc;
    if ((rc = onnx_precision(host, m, model, vgc_onnx_model_exec(model->onnx), opt, err, errlen)) < 0) {
        vgc_onnx_model_destroy(model->onnx);
        model->onnx = NULL;
        return rc;
    }
    vgc_onnx_model_input_size(model->onnx, &w, &h);
    hd = vgc_onnx_model_head(model->onnx);
    snprintf(msg, sizeof msg, "%s: onnx %dx%d, %d classes, head %s (%s), %s", m->name ? m->name : "model", w, h,
             vgc_onnx_model_classes(model->onnx), vgc_onnx_head_name(hd->kind),
             hd->detected ? "detected" : "manifest", model->device);
    host_log(host, VIGIA_LOG_INFO, msg);
    return 0;
}


/* [cpu] precision, int8_kernel, int8_min_channels into opt; *prec: the precision's name. */
static int precision_keys(const vigia_manifest *m, vgc_options *opt, const char **prec, char *err, size_t errlen)
{
    static const char *const precisions[] = { "fp32", "bf16", "int8", NULL };
    static const char *const q8kernels[] = { "auto", "ref", "avx2", "vnni", "amx", NULL };
    const char *q8k;
    long long minc;
    int rc;

    if ((rc = m->get_string(m, "cpu.precision", precisions, "fp32", prec, err, errlen)) < 0 ||
        (rc = m->get_string(m, "cpu.int8_kernel", q8kernels, "auto", &q8k, err, errlen)) < 0 ||
        (rc = m->get_int(m, "cpu.int8_min_channels", 1, VGC_MAX_CHANNELS, 64, &minc, err, errlen)) < 0)
        return rc;
    opt->q8_min_channels = (int)minc;
    opt->precision = strcmp(*prec, "int8") == 0 ? VGC_PREC_INT8 : strcmp(*prec, "bf16") == 0 ? VGC_PREC_BF16
                   : VGC_PREC_FP32;
    for (int i = 1; opt->precision == VGC_PREC_INT8 && q8kernels[i]; i++)
        if (strcmp(q8k, q8kernels[i]) == 0)
            opt->q8_kernel = i;   /* enum vgc_q8_kind + 1, in the order of q8.h */
    return 0;
}


/* An ONNX graph, read once: a classifier when its output is one score per class, else a detector. */
static int onnx_open(const vigia_host *host, const vigia_manifest *m, vigia_model **out, char *err, size_t errlen)
{
    static const char *const heads[] = { "auto", "yolov5", "yolov8", "boxes", NULL };
    vigia_model *model;
    vgc_onnx_graph *g;
    const char *head;
    float mean[3], std[3];
    vgc_options opt = { 0 };
    const char *prec;
    int rc;

    if ((rc = m->get_string(m, "head", heads, "auto", &head, err, errlen)) < 0 ||
        (rc = vgc_input_norm(m, mean, std, err, errlen)) < 0 || (rc = precision_keys(m, &opt, &prec, err, errlen)) < 0)
        return rc;
    if (!(model = calloc(1, sizeof *model)))
        return snprintf(err, errlen, "out of memory"), VIGIA_ENOMEM;
    memcpy(model->mean, mean, sizeof mean);
    memcpy(model->std, std, sizeof std);
    model->host = host;
    model->max_batch = m->max_batch;
    if ((rc = vgc_onnx_graph_open(&g, m->weights_path, m->input_w, m->input_h, err, errlen)) < 0 ||
        (rc = vgc_onnx_graph_classifies(g) ? onnx_classify_open(host, m, model, g, &opt, err, errlen)
                                           : onnx_detector_open(host, m, model, g, head, &opt, err, errlen)) < 0) {
        free(model);
        return rc;
    }
    *out = model;
    return 0;
}


static int cpu_open(const vigia_host *host, const vigia_manifest *m, vigia_model **out,
                    char *err, size_t errlen)
{
    vgc_options opt = { 0 };
    vigia_model *model;
    int rc, w, h, c;

    *out = NULL;
    if ((rc = check_host(host, err, errlen)) < 0)
        return rc;
    if (!m || (!m->cfg_path && !is_onnx(m->weights_path)) || !m->weights_path)
        return snprintf(err, errlen, "the manifest names no cfg or weights, nor an .onnx file as weights"),
               VIGIA_EINVAL;
    if (m->max_batch < 1 || m->max_batch > VGC_MAX_BATCH || m->threads < 1 ||
        m->threads > VGC_MAX_THREADS)
        return snprintf(err, errlen, "batch %d or threads %d out of range", m->max_batch, m->threads),
               VIGIA_EINVAL;
    if (!m->cfg_path)
        return onnx_open(host, m, out, err, errlen);
    opt.input_w = m->input_w;
    opt.input_h = m->input_h;
    opt.max_batch = m->max_batch;
    opt.threads = m->threads;
    static const char *const simds[] = { "auto", "generic", "avx2", "avx512", NULL };
    static const char *const scales[] = { "honour", "honor", "ignore", NULL };
    const char *simd, *scale, *prec;
    long long mb;
    if ((rc = m->get_string(m, "cpu.simd", simds, "auto", &simd, err, errlen)) < 0 ||
        (rc = m->get_string(m, "cpu.scale_x_y", scales, "honour", &scale, err, errlen)) < 0 ||
        (rc = m->get_int(m, "cpu.headroom_mb", 0, 65536, -1, &mb, err, errlen)) < 0 ||
        (rc = precision_keys(m, &opt, &prec, err, errlen)) < 0)
        return rc;
    opt.simd = strcmp(simd, "generic") == 0 ? VGC_SIMD_GENERIC : strcmp(simd, "avx2") == 0 ? VGC_SIMD_AVX2
             : strcmp(simd, "avx512") == 0 ? VGC_SIMD_AVX512 : opt.simd;
    opt.ignore_scale_x_y = strcmp(scale, "ignore") == 0;
    if (mb >= 0)
        opt.headroom = mb ? (size_t)mb << 20 : 1;
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
    if ((rc = calibrate(host, m, model->net, NULL, err, errlen)) < 0)
        goto fail;
    {
        const char *note;
        int p = vgc_net_precision(model->net, &note);

        /* "cpu avx512, 1 thread, int8 amx, 53 of 84 convolutions" or "..., fp32 (bf16 asked: why)" */
        if (p != VGC_PREC_FP32)
            snprintf(model->device, sizeof model->device, "%s, %s", vgc_net_device(model->net), note);
        else
            snprintf(model->device, sizeof model->device, "%s, fp32%s%s%s", vgc_net_device(model->net),
                     note[0] ? " (" : "", note, note[0] ? ")" : "");
        if (opt.precision != p) {
            char msg[400];

            snprintf(msg, sizeof msg, "%s: precision %s asked, running fp32: %s", m->name ? m->name : "model",
                     prec, note);
            host_log(host, VIGIA_LOG_WARN, msg);
        }
    }
    {
        char msg[512];

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
    if (model->cls) {
        vgc_onnx_classify_input_size(model->cls, &info->input_w, &info->input_h);
        info->input_c = 3;
        info->classes = vgc_onnx_classify_classes(model->cls);
        info->max_batch = model->max_batch;
        info->device = model->device;
        info->task = VIGIA_TASK_CLASSIFY;
        info->output = VIGIA_OUTPUT_SCORES;
        info->input = model->cls_in;
        return 0;
    }
    if (model->onnx) {
        vgc_onnx_model_input_size(model->onnx, &info->input_w, &info->input_h);
        info->input_c = 3;
        info->classes = vgc_onnx_model_classes(model->onnx);
        info->max_batch = model->max_batch;
        info->device = model->device;
        info->task = VIGIA_TASK_DETECT;
        {
            const vgc_onnx_head *hd = vgc_onnx_model_head(model->onnx);
            info->output = hd->kind == VGC_HEAD_BOXES ? VIGIA_OUTPUT_BOXES : VIGIA_OUTPUT_CANDIDATES;
            info->head = vgc_onnx_head_name(hd->kind);
            info->head_from = hd->detected ? "detected" : "manifest";
        }
        memcpy(info->input.mean, model->mean, sizeof info->input.mean);   /* planar RGB floats */
        memcpy(info->input.std, model->std, sizeof info->input.std);
        return 0;
    }
    vgc_net_input_size(model->net, &info->input_w, &info->input_h, &info->input_c);
    info->classes = vgc_net_classes(model->net);
    info->max_batch = vgc_net_max_batch(model->net);
    info->device = model->device;
    info->gflops = vgc_net_flops(model->net) / 1e9;
    info->task = VIGIA_TASK_DETECT;           /* raw candidates of planar RGB floats: the defaults */
    return 0;
}


static int cpu_infer(vigia_model *model, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    const float *input = in ? in->input : NULL;
    int batch = in ? (int)in->count : 0, rc = 0;
    float threshold = in ? in->threshold : 1;
    const int max = model->onnx || model->cls ? model->max_batch : vgc_net_max_batch(model->net);

    if (!input || !out || batch < 1 || batch > max)
        return snprintf(err, errlen, "batch %d is not in [1, %d]", batch, max), VIGIA_EINVAL;
    for (int b = 0; b < batch; b++)
        if (out[b].capacity && (!out[b].box || !out[b].objectness || !out[b].prob))
            return snprintf(err, errlen, "candidate set %d has no arrays", b), VIGIA_EINVAL;
    if (model->cls) {
        int w, h;

        vgc_onnx_classify_input_size(model->cls, &w, &h);
        for (int b = 0; rc == 0 && b < batch; b++)
            rc = out[b].scores ? vgc_onnx_classify_run(model->cls, input + (size_t)b * 3 * w * h, out[b].scores,
                                                       err, errlen)
                               : (snprintf(err, errlen, "answer %d has no scores", b), VIGIA_EINVAL);
        for (int b = 0; rc == 0 && b < batch; b++)
            out[b].count = 1;
        return rc;
    }
    if (model->onnx) {
        int w, h;

        vgc_onnx_model_input_size(model->onnx, &w, &h);
        for (int b = 0; rc == 0 && b < batch; b++)
            rc = vgc_onnx_model_detect(model->onnx, input + (size_t)b * 3 * w * h, threshold, &out[b], err, errlen);
        return rc;
    }
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
    vgc_onnx_model_destroy(model->onnx);
    vgc_onnx_classify_destroy(model->cls);
    free(model);
}


/* The keys of [cpu]; the host refuses any other there. */
static const char *const cpu_keys[] = { "simd", "scale_x_y", "headroom_mb", "precision", "int8_kernel",
                                        "int8_min_channels", "int8_calibration",
                                        "channels",      /* onnx classifiers */
                                        NULL };


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
    .keys = cpu_keys,
};


VIGIA_EXPORT const vigia_backend *vigia_backend_entry(void)
{
    return &cpu_backend;
}
