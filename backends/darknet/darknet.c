/*
 * darknet: the reference backend, a thin wrapper around libdarknet
 * (Debian's `darknet`, pjreddie's 2018 code).
 *
 * libdarknet is hostile to a host process, so this plugin:
 *   - checks that the cfg and weights exist and are regular files before
 *     handing them over (darknet exit(0)s on a missing file);
 *   - parses the cfg without weights, computes the exact weights size the
 *     network needs and refuses a file of any other size (darknet loads a
 *     truncated file silently, leaving garbage in the layers);
 *   - sends darknet's own chatter on stdout/stderr to /dev/null while it
 *     parses and loads (stdout may be a JSON stream: `vigia detect`);
 *   - defines no global symbol but the entry point (darknet exports
 *     `error`, `strip`, `gemm`, ... and would bind to ours).
 * It is single-threaded, like the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vigia/backend.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <darknet.h>
#pragma GCC diagnostic pop

#define DN_VERSION "1.0 (libdarknet 2018)"

struct vigia_model {
    network *net;
    int classes;
    int max_batch;
    size_t in_size;                /* floats per image */
    float *scratch;                /* darknet takes a non-const input */
    double gflops;
    const vigia_host *host;
};


static void
dn_log(const vigia_host *host, enum vigia_log_level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!host || !host->log || host->struct_size < offsetof(vigia_host, reserved))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host->log(level, msg);
}


static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}


/* Silences fds 1 and 2 around darknet calls that print; restored by unmute(). */
typedef struct muted {
    int out, err;
} muted;


static void
mute(muted *m)
{
    fflush(stdout);
    fflush(stderr);
    m->out = dup(1);
    m->err = dup(2);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
}


static void
unmute(muted *m)
{
    fflush(stdout);
    fflush(stderr);
    if (m->out >= 0) {
        dup2(m->out, 1);
        close(m->out);
    }
    if (m->err >= 0) {
        dup2(m->err, 2);
        close(m->err);
    }
}


static int
check_file(const char *what, const char *path, off_t *size, char *err, size_t errlen)
{
    struct stat st;
    if (!path || !path[0])
        return fail(err, errlen, VIGIA_EINVAL, "the manifest names no %s file", what);
    if (stat(path, &st) != 0)
        return fail(err, errlen, VIGIA_ENOENT, "%s %s: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(err, errlen, VIGIA_EINVAL, "%s %s is not a regular file", what, path);
    if (access(path, R_OK) != 0)
        return fail(err, errlen, VIGIA_ENOENT, "%s %s: %s", what, path, strerror(errno));
    if (size)
        *size = st.st_size;
    return 0;
}


/* The weights header: 3 int32 then `seen`, an int64 from format 0.2 on. */
static int
weights_header(const char *path, size_t *hdr, char *err, size_t errlen)
{
    int32_t v[3];
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, VIGIA_ENOENT, "weights %s: %s", path, strerror(errno));
    size_t got = fread(v, sizeof v[0], 3, f);
    fclose(f);
    if (got != 3)
        return fail(err, errlen, VIGIA_EINVAL, "weights %s: shorter than a header", path);
    if (v[0] < 0 || v[1] < 0 || v[0] > 1000 || v[1] > 1000)
        return fail(err, errlen, VIGIA_EINVAL, "weights %s: not a darknet weights file (version %d.%d)",
                    path, v[0], v[1]);
    *hdr = 12 + ((v[0] * 10 + v[1]) >= 2 ? 8 : 4);
    return 0;
}


/*
 * Bytes of parameters load_weights() reads for this network, or 0 when a
 * layer type with weights is one this wrapper does not account for.
 */
static size_t
weights_bytes(const network *net, double *gflops)
{
    size_t floats = 0;
    double flops = 0;
    for (int i = 0; i < net->n; i++) {
        const layer *l = &net->layers[i];
        if (l->dontload)
            continue;
        switch (l->type) {
        case CONVOLUTIONAL:
        case DECONVOLUTIONAL:
            floats += (size_t)l->n + (size_t)l->nweights + (l->batch_normalize ? 3 * (size_t)l->n : 0);
            flops += 2.0 * l->nweights * (double)l->out_h * l->out_w;
            break;
        case CONNECTED:
            floats += (size_t)l->outputs + (size_t)l->outputs * l->inputs +
                      (l->batch_normalize ? 3 * (size_t)l->outputs : 0);
            flops += 2.0 * l->outputs * (double)l->inputs;
            break;
        case BATCHNORM:
            floats += 3 * (size_t)l->c;
            break;
        case RNN: case GRU: case LSTM: case CRNN: case LOCAL:
            return 0;
        default:
            break;
        }
    }
    if (gflops)
        *gflops = flops / 1e9;
    return floats * sizeof(float);
}


static int
detection_classes(const network *net)
{
    for (int i = net->n - 1; i >= 0; i--) {
        const layer *l = &net->layers[i];
        if (l->type == YOLO || l->type == REGION || l->type == DETECTION)
            return l->classes;
    }
    return -1;
}


static int
dn_probe(const vigia_host *host, char *err, size_t errlen)
{
    (void)host;
    (void)err;
    (void)errlen;
    return 0;   /* libdarknet is linked in: if we were loaded, it runs */
}


static void dn_close(vigia_model *m);


static int
dn_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out,
        char *err, size_t errlen)
{
    vigia_model *m = NULL;
    off_t wsize = 0;
    size_t hdr = 0;
    muted mu;
    int rc;

    *out = NULL;
    if (!host || VIGIA_ABI_MAJOR(host->abi_version) != VIGIA_BACKEND_ABI_MAJOR)
        return fail(err, errlen, VIGIA_ENOTSUP, "host ABI %u, this backend speaks %u",
                    host ? VIGIA_ABI_MAJOR(host->abi_version) : 0, VIGIA_BACKEND_ABI_MAJOR);
    if (!man)
        return fail(err, errlen, VIGIA_EINVAL, "no manifest");
    if ((rc = check_file("cfg", man->cfg_path, NULL, err, errlen)) != 0)
        return rc;
    if ((rc = check_file("weights", man->weights_path, &wsize, err, errlen)) != 0)
        return rc;
    if ((rc = weights_header(man->weights_path, &hdr, err, errlen)) != 0)
        return rc;
    if (man->max_batch < 1 || man->max_batch > 1024)
        return fail(err, errlen, VIGIA_EINVAL, "max_batch %d out of range", man->max_batch);

    m = calloc(1, sizeof *m);
    if (!m)
        return fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    m->host = host;
    m->max_batch = man->max_batch;

    mute(&mu);
    m->net = load_network((char *)man->cfg_path, NULL, 0);
    unmute(&mu);
    if (!m->net || m->net->n <= 0) {
        rc = fail(err, errlen, VIGIA_EINVAL, "darknet could not parse %s", man->cfg_path);
        goto fail_out;
    }
    size_t need = weights_bytes(m->net, &m->gflops);
    if (need == 0) {
        rc = fail(err, errlen, VIGIA_ENOTSUP, "%s has recurrent or local layers, not supported", man->cfg_path);
        goto fail_out;
    }
    if ((uint64_t)wsize != hdr + need) {
        rc = fail(err, errlen, VIGIA_EINVAL,
                  "weights %s is %lld bytes but %s needs %zu (truncated, or weights of another network)",
                  man->weights_path, (long long)wsize, man->cfg_path, hdr + need);
        goto fail_out;
    }
    m->classes = detection_classes(m->net);
    if (m->classes <= 0) {
        rc = fail(err, errlen, VIGIA_ENOTSUP, "%s has no yolo, region or detection layer", man->cfg_path);
        goto fail_out;
    }
    if (m->net->c != 3) {
        rc = fail(err, errlen, VIGIA_ENOTSUP, "%s takes %d channels, not 3", man->cfg_path, m->net->c);
        goto fail_out;
    }
    mute(&mu);
    load_weights(m->net, (char *)man->weights_path);
    set_batch_network(m->net, 1);
    if (man->input_w > 0 && man->input_h > 0 &&
        (man->input_w != m->net->w || man->input_h != m->net->h))
        resize_network(m->net, man->input_w, man->input_h);
    unmute(&mu);
    m->in_size = (size_t)m->net->w * m->net->h * m->net->c;
    m->scratch = malloc(m->in_size * sizeof(float));
    if (!m->scratch) {
        rc = fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail_out;
    }
    dn_log(host, VIGIA_LOG_DEBUG, "darknet: %s loaded, %d layers, %dx%d, %d classes, %.2f GFLOP",
           man->name ? man->name : "?", m->net->n, m->net->w, m->net->h, m->classes, m->gflops);
    *out = m;
    return 0;
fail_out:
    dn_close(m);
    return rc;
}


static int
dn_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    if (!m || !info)
        return fail(err, errlen, VIGIA_EINVAL, "no model");
    info->input_w = m->net->w;
    info->input_h = m->net->h;
    info->input_c = m->net->c;
    info->classes = m->classes;
    info->max_batch = m->max_batch;
    info->device = "cpu (libdarknet, 1 thread)";
    info->gflops = m->gflops;
    /* libdarknet 2018 has no letter_box=0: its detector always letterboxes */
    info->input.resize = VIGIA_RESIZE_LETTERBOX;
    return 0;
}


typedef struct ranked {
    float obj;
    int idx;
} ranked;


static int
cmp_obj(const void *a, const void *b)
{
    float x = ((const ranked *)a)->obj, y = ((const ranked *)b)->obj;
    return (x < y) - (x > y);
}


/* Copies darknet's boxes into `out`, keeping the highest objectness if they do not fit. */
static int
fill(vigia_model *m, detection *dets, int n, vigia_candidates *out, char *err, size_t errlen)
{
    ranked *order = NULL;
    uint32_t take = (uint32_t)n;

    out->count = 0;
    out->truncated = 0;
    if (take > out->capacity) {
        take = out->capacity;
        out->truncated = 1;
        order = malloc((size_t)n * sizeof *order);
        if (!order)
            return fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            order[i].obj = dets[i].objectness;
            order[i].idx = i;
        }
        qsort(order, (size_t)n, sizeof *order, cmp_obj);
    }
    for (uint32_t i = 0; i < take; i++) {
        const detection *d = &dets[order ? order[i].idx : (int)i];
        out->box[4 * i] = d->bbox.x;
        out->box[4 * i + 1] = d->bbox.y;
        out->box[4 * i + 2] = d->bbox.w;
        out->box[4 * i + 3] = d->bbox.h;
        if (out->objectness)
            out->objectness[i] = d->objectness;
        memcpy(out->prob + (size_t)i * m->classes, d->prob, (size_t)m->classes * sizeof(float));
    }
    out->count = take;
    free(order);
    return 0;
}


static int
dn_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    const float *input = in ? in->input : NULL;
    int batch = in ? (int)in->count : 0;
    float threshold = in ? in->threshold : 1;
    if (!m || !input || !out)
        return fail(err, errlen, VIGIA_EINVAL, "missing argument");
    if (batch < 1 || batch > m->max_batch)
        return fail(err, errlen, VIGIA_ENOTSUP, "batch %d outside 1..%d", batch, m->max_batch);
    if (!(threshold >= 0 && threshold <= 1))
        return fail(err, errlen, VIGIA_EINVAL, "threshold %g outside [0, 1]", threshold);
    /* darknet's yolo layer reads only batch 0: run images one by one */
    for (int b = 0; b < batch; b++) {
        int n = 0;
        memcpy(m->scratch, input + (size_t)b * m->in_size, m->in_size * sizeof(float));
        network_predict(m->net, m->scratch);
        detection *dets = get_network_boxes(m->net, m->net->w, m->net->h, threshold, 0.5f, NULL, 1, &n);
        if (!dets && n > 0)
            return fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        if (out[b].capacity && (!out[b].box || !out[b].prob)) {
            free_detections(dets, n);
            return fail(err, errlen, VIGIA_EINVAL, "candidate arrays missing");
        }
        int rc = fill(m, dets, n, &out[b], err, errlen);
        free_detections(dets, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}


static void
dn_close(vigia_model *m)
{
    if (!m)
        return;
    if (m->net)
        free_network(m->net);
    free(m->scratch);
    free(m);
}


/* [darknet] has no keys of its own: the host refuses any there. */
static const char *const dn_keys[] = { NULL };


static const vigia_backend dn_backend = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_backend),
    .name = "darknet",
    .version = DN_VERSION,
    .probe = dn_probe,
    .open = dn_open,
    .describe = dn_describe,
    .infer = dn_infer,
    .close = dn_close,
    .keys = dn_keys,
};


VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &dn_backend;
}
