/*
 * backends/cuda/gpu.c: a plan on the GPU (gpu.h).
 *
 * Load: weights copied once; every device buffer and pinned host buffer
 * allocated once; for each convolution and each batch size that will run
 * (the "buckets": powers of two up to max_batch, and max_batch), cuDNN
 * descriptors and an algorithm (timed with cudnnFindConvolutionForward-
 * AlgorithmEx, or cuDNN's heuristics), one shared workspace sized for the
 * largest choice; the fused convolution + bias + activation is tried and
 * kept where cuDNN accepts it (ReLU, and identity with the implicit
 * precomputed GEMM); then the whole forward of each bucket is captured in
 * a CUDA graph and checked against a direct run.
 *
 * Infer: the host tensor is copied into a pinned buffer and sent with the
 * threshold; the bucket's graph (or the layers one by one) runs; the
 * candidate kernel of each yolo head appends the cells above the threshold
 * to per-image record lists; the counts and the first records of each
 * image come back in the same round trip, the rest only when an image has
 * more. The host sorts the records into darknet's order (plan.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "gpu.h"
#include "gpu_kernels.h"

#define MAX_BUCKETS 12
#define DEFAULT_WORKSPACE ((size_t)256 << 20)
#define DEVICE_CAP 4096u      /* candidate records per image kept on the device */
#define HOST_PREFIX 256u      /* records per image copied back before the first wait, at most */
#define PREFIX_BUDGET (1u << 20) /* bytes of records copied back before the first wait, per call */

/* One convolution: descriptors and choices for every bucket. */
typedef struct conv_plan {
    cudnnFilterDescriptor_t w;
    cudnnTensorDescriptor_t bias;              /* 1 x filters x 1 x 1 */
    cudnnActivationDescriptor_t act;           /* for the fused call (relu, identity), or NULL */
    cudnnConvolutionDescriptor_t conv[MAX_BUCKETS];
    cudnnTensorDescriptor_t x[MAX_BUCKETS], y[MAX_BUCKETS];
    cudnnConvolutionFwdAlgo_t algo[MAX_BUCKETS];
    size_t ws[MAX_BUCKETS];                    /* workspace bytes the algorithm needs */
    int fused[MAX_BUCKETS];                    /* cudnnConvolutionBiasActivationForward accepted it */
} conv_plan;

struct vgcu_gpu {
    vgcu_plan *p;
    vgcu_gpu_options opt;
    cudaStream_t stream;
    int have_stream;
    cudnnHandle_t dnn;
    float *d_params;          /* weights and biases */
    float *d_arena;           /* every activation */
    float *d_input;           /* max_batch input images */
    float *d_thresh;          /* the threshold of the infer in progress */
    uint32_t *d_counts;       /* candidates found per image */
    uint64_t *d_keys;         /* max_batch x cap keys */
    float *d_recs;            /* max_batch x cap records */
    void *d_work;             /* cuDNN workspace */
    size_t work_bytes;
    float *h_input;           /* pinned: max_batch input images */
    float *h_thresh;          /* pinned: 1 float */
    uint32_t *h_counts;       /* pinned: max_batch counts */
    uint64_t *h_keys;         /* pinned: max_batch x prefix keys */
    float *h_recs;            /* pinned: max_batch x prefix records */
    uint64_t *h_more_keys;    /* pageable: max_batch x cap keys, for images with more than a prefix */
    float *h_more_recs;       /* pageable: max_batch x cap records */
    const float **heads;      /* nheads pointers (images with more than cap candidates) */
    uint32_t cap, prefix;
    conv_plan *convs;         /* one per layer (used for convolutions) */
    int nbuckets, buckets[MAX_BUCKETS];
    cudaGraphExec_t graphs[MAX_BUCKETS];
    int use_graphs;
    int nfused, nconv;        /* fused convolutions of the largest bucket, convolutions */
    vgcu_cand_work work;
    float *h_heads;           /* one image of every head (images with more than cap candidates) */
    size_t device_bytes;
    char device[160];
    char summary[320];
};

/* ---- errors ------------------------------------------------------------------------------ */

static int cuda_fail(char *err, size_t errlen, const char *what, cudaError_t e)
{
    snprintf(err, errlen, "%s: cuda error %d (%s): %s", what, (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
    return e == cudaErrorMemoryAllocation ? VIGIA_ENOMEM : VIGIA_EBACKEND;
}


static int dnn_fail(char *err, size_t errlen, const char *what, cudnnStatus_t s)
{
    snprintf(err, errlen, "%s: cudnn status %d (%s)", what, (int)s, cudnnGetErrorString(s));
    return s == CUDNN_STATUS_ALLOC_FAILED ? VIGIA_ENOMEM : VIGIA_EBACKEND;
}

#define CU(call, what)                                                     \
    do {                                                                   \
        cudaError_t e_ = (call);                                           \
        if (e_ != cudaSuccess) {                                           \
            rc = cuda_fail(err, errlen, (what), e_);                       \
            goto fail;                                                     \
        }                                                                  \
    } while (0)
#define DNN(call, what)                                                    \
    do {                                                                   \
        cudnnStatus_t s_ = (call);                                         \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                  \
            rc = dnn_fail(err, errlen, (what), s_);                        \
            goto fail;                                                     \
        }                                                                  \
    } while (0)
#define KERNEL(call, what) CU((cudaError_t)(call), (what))

/* ---- probe ---------------------------------------------------------------------------------- */

int vgcu_probe(int device, char *err, size_t errlen)
{
    int n = 0, major = 0, minor = 0;
    cudaError_t e = cudaGetDeviceCount(&n);

    switch (e) {
    case cudaSuccess:
        break;
    case cudaErrorInsufficientDriver:       /* 35: also what no driver at all gives */
    case cudaErrorSystemDriverMismatch:     /* 803 */
        snprintf(err, errlen, "no CUDA driver (error %d: %s)", (int)e, cudaGetErrorString(e));
        return VIGIA_ENODEV;
    case cudaErrorNoDevice:                 /* 100 */
    case cudaErrorDevicesUnavailable:       /* 46: every device busy in exclusive mode */
    case cudaErrorCompatNotSupportedOnDevice:
        snprintf(err, errlen, "no CUDA device (error %d: %s)", (int)e, cudaGetErrorString(e));
        return VIGIA_ENODEV;
    default:
        return cuda_fail(err, errlen, "cudaGetDeviceCount", e);
    }
    if (n < 1) {
        snprintf(err, errlen, "no CUDA device");
        return VIGIA_ENODEV;
    }
    if (device < 0 || device >= n) {
        snprintf(err, errlen, "CUDA device %d asked for, %d present", device, n);
        return VIGIA_ENODEV;
    }
    if ((e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device)) != cudaSuccess)
        return cuda_fail(err, errlen, "cudaDeviceGetAttribute", e);
    if (major * 10 + minor < 75) {
        snprintf(err, errlen, "cuda:%d has compute capability %d.%d; this build runs on 7.5 or later",
                 device, major, minor);
        return VIGIA_ENODEV;
    }
    return 0;
}

const char *vgcu_gpu_describe_device(int device)
{
    static char buf[384];
    struct cudaDeviceProp prop;
    int drv = 0, rt = 0, ver = (int)cudnnGetVersion();

    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, sizeof buf, "cuda:%d (no properties)", device);
        return buf;
    }
    (void)cudaDriverGetVersion(&drv);
    (void)cudaRuntimeGetVersion(&rt);
    snprintf(buf, sizeof buf, "cuda:%d %.200s, sm_%d%d, %zu MiB, driver %d.%d, runtime %d.%d, cudnn %d.%d.%d", device,
             prop.name, prop.major, prop.minor, prop.totalGlobalMem >> 20, drv / 1000, drv % 1000 / 10, rt / 1000,
             rt % 1000 / 10, ver / 10000, ver / 100 % 100, ver % 100);
    return buf;
}

/* ---- the forward pass ------------------------------------------------------------------------ */

/* Queue the whole forward of bucket k (buckets[k] images) and the candidate kernels on the stream. */
static int enqueue_forward(vgcu_gpu *g, int k, char *err, size_t errlen)
{
    const vgcu_plan *p = g->p;
    const int B = g->buckets[k];
    const float one = 1.0f, zero = 0.0f;
    int rc = 0;

    CU(cudaMemsetAsync(g->d_counts, 0, (size_t)B * sizeof(uint32_t), g->stream), "clearing the counts");
    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];
        const vgc_layer *l = &L->l;
        const int src = vgcu_plan_input_of(p, i);
        const float *in = src < 0 ? g->d_input : g->d_arena + p->layers[src].off;
        float *out = g->d_arena + L->off;
        const size_t n = (size_t)B * l->out_size;
        const vgk_shape sh = { l->w, l->h, l->c, l->out_w, l->out_h, l->out_c };

        switch (l->type) {
        case VGC_L_CONV: {
            const conv_plan *c = &g->convs[i];

            if (c->fused[k]) {
                DNN(cudnnConvolutionBiasActivationForward(g->dnn, &one, c->x[k], in, c->w, g->d_params + L->woff,
                                                          c->conv[k], c->algo[k], g->d_work, g->work_bytes, &zero,
                                                          c->y[k], out, c->bias, g->d_params + L->boff, c->act,
                                                          c->y[k], out),
                    "fused convolution");
            } else {
                DNN(cudnnConvolutionForward(g->dnn, &one, c->x[k], in, c->w, g->d_params + L->woff, c->conv[k],
                                            c->algo[k], g->d_work, g->work_bytes, &zero, c->y[k], out),
                    "convolution");
                KERNEL(vgcu_launch_bias_act(g->stream, out, g->d_params + L->boff,
                                            (size_t)l->out_w * (size_t)l->out_h, l->filters, (int)l->act, n),
                       "bias and activation kernel");
            }
            break;
        }
        case VGC_L_MAXPOOL:
            KERNEL(vgcu_launch_maxpool(g->stream, in, out, sh, l->size, l->stride, l->pad, n), "maxpool kernel");
            break;
        case VGC_L_UPSAMPLE:
            KERNEL(vgcu_launch_upsample(g->stream, in, out, sh, l->stride, l->scale, n), "upsample kernel");
            break;
        case VGC_L_ROUTE: {
            size_t at = 0;

            if (L->root != i)
                break;
            /* each source's channel slice, for every image: one strided copy per source */
            for (int s = 0; s < l->nsrc; s++) {
                const vgcu_layer *S = &p->layers[l->src[s]];
                const size_t part = S->l.out_size / (size_t)l->groups;

                CU(cudaMemcpy2DAsync(out + at, l->out_size * sizeof(float),
                                     g->d_arena + S->off + part * (size_t)l->group_id, S->l.out_size * sizeof(float),
                                     part * sizeof(float), (size_t)B, cudaMemcpyDeviceToDevice, g->stream),
                   "route copy");
                at += part;
            }
            break;
        }
        case VGC_L_SHORTCUT: {
            vgk_shortcut_args a;

            vgcu_plan_shortcut_args(p, i, g->d_arena, g->d_input, &a);
            KERNEL(vgcu_launch_shortcut(g->stream, &a, out, n), "shortcut kernel");
            break;
        }
        case VGC_L_DROPOUT:
            if (L->root == i)
                CU(cudaMemcpyAsync(out, in, n * sizeof(float), cudaMemcpyDeviceToDevice, g->stream), "dropout copy");
            break;
        case VGC_L_YOLO: {
            vgk_yolo_args a;

            vgcu_plan_yolo_args(p, i, &a);
            KERNEL(vgcu_launch_yolo(g->stream, in, out, &a, n), "yolo kernel");
            KERNEL(vgcu_launch_candidates(g->stream, out, &a, B, g->d_thresh, g->d_counts, g->cap, g->d_keys,
                                          g->d_recs),
                   "candidate kernel");
            break;
        }
        }
    }
fail:
    return rc;
}


/* Run bucket k: its graph, or the layers one by one. */
static int run_bucket(vgcu_gpu *g, int k, char *err, size_t errlen)
{
    int rc = 0;

    if (!g->use_graphs)
        return enqueue_forward(g, k, err, errlen);
    CU(cudaGraphLaunch(g->graphs[k], g->stream), "cudaGraphLaunch");
fail:
    return rc;
}


static int bucket_of(const vgcu_gpu *g, int batch)
{
    for (int k = 0; k < g->nbuckets; k++)
        if (g->buckets[k] >= batch)
            return k;
    return g->nbuckets - 1;
}

/* ---- load ---------------------------------------------------------------------------------------- */

/* Choose the algorithm of convolution i for bucket k: the fastest (timed or by heuristics) within the limit. */
static int choose_algo(vgcu_gpu *g, int i, int k, void *ws, size_t limit, char *err, size_t errlen)
{
    const vgcu_plan *p = g->p;
    const vgcu_layer *L = &p->layers[i];
    conv_plan *c = &g->convs[i];
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    const int src = vgcu_plan_input_of(p, i);
    int returned = 0, rc = 0, chosen = -1;

    if (g->opt.heuristic_algos)
        DNN(cudnnGetConvolutionForwardAlgorithm_v7(g->dnn, c->x[k], c->w, c->conv[k], c->y[k],
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
            "cudnnGetConvolutionForwardAlgorithm_v7");
    else
        DNN(cudnnFindConvolutionForwardAlgorithmEx(g->dnn, c->x[k], src < 0 ? g->d_input : g->d_arena + p->layers[src].off,
                                                   c->w, g->d_params + L->woff, c->conv[k], c->y[k],
                                                   g->d_arena + L->off, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                                   perf, ws, limit),
            "cudnnFindConvolutionForwardAlgorithmEx");
    for (int r = 0; r < returned && chosen < 0; r++) {
        if (perf[r].status != CUDNN_STATUS_SUCCESS || perf[r].memory > limit)
            continue;
        /* fp32 means no tensor-core math, whatever cuDNN would allow */
        if (!g->opt.tf32 && (perf[r].mathType == CUDNN_TENSOR_OP_MATH ||
                             perf[r].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
            continue;
        chosen = r;
    }
    if (chosen < 0) {
        snprintf(err, errlen, "cudnn has no algorithm for layer %d (cfg line %d) at batch %d within %zu MiB of workspace",
                 i, L->l.line, g->buckets[k], limit >> 20);
        return VIGIA_ENOTSUP;
    }
    c->algo[k] = perf[chosen].algo;
    c->ws[k] = perf[chosen].memory;
    if (g->opt.heuristic_algos)
        DNN(cudnnGetConvolutionForwardWorkspaceSize(g->dnn, c->x[k], c->w, c->conv[k], c->y[k], c->algo[k], &c->ws[k]),
            "cudnnGetConvolutionForwardWorkspaceSize");
    DNN(cudnnSetConvolutionMathType(c->conv[k], g->opt.tf32 ? perf[chosen].mathType : CUDNN_FMA_MATH),
        "cudnnSetConvolutionMathType");
fail:
    return rc;
}


/* Descriptors of convolution i for every bucket. */
static int describe_conv(vgcu_gpu *g, int i, char *err, size_t errlen)
{
    const vgc_layer *l = &g->p->layers[i].l;
    conv_plan *c = &g->convs[i];
    int rc = 0;

    DNN(cudnnCreateFilterDescriptor(&c->w), "cudnnCreateFilterDescriptor");
    DNN(cudnnSetFilter4dDescriptor(c->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, l->filters, l->c / l->groups, l->size,
                                   l->size), "cudnnSetFilter4dDescriptor");
    DNN(cudnnCreateTensorDescriptor(&c->bias), "cudnnCreateTensorDescriptor");
    DNN(cudnnSetTensor4dDescriptor(c->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, l->filters, 1, 1),
        "cudnnSetTensor4dDescriptor");
    if (!g->opt.no_fusion && (l->act == VGC_ACT_RELU || l->act == VGC_ACT_LINEAR)) {
        DNN(cudnnCreateActivationDescriptor(&c->act), "cudnnCreateActivationDescriptor");
        DNN(cudnnSetActivationDescriptor(c->act, l->act == VGC_ACT_RELU ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                         CUDNN_NOT_PROPAGATE_NAN, 0.0), "cudnnSetActivationDescriptor");
    }
    for (int k = 0; k < g->nbuckets; k++) {
        int dims[4];

        DNN(cudnnCreateConvolutionDescriptor(&c->conv[k]), "cudnnCreateConvolutionDescriptor");
        DNN(cudnnSetConvolution2dDescriptor(c->conv[k], l->pad, l->pad, l->stride, l->stride, 1, 1,
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            "cudnnSetConvolution2dDescriptor");
        DNN(cudnnSetConvolutionGroupCount(c->conv[k], l->groups), "cudnnSetConvolutionGroupCount");
        DNN(cudnnSetConvolutionMathType(c->conv[k], g->opt.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
            "cudnnSetConvolutionMathType");
        DNN(cudnnCreateTensorDescriptor(&c->x[k]), "cudnnCreateTensorDescriptor");
        DNN(cudnnSetTensor4dDescriptor(c->x[k], CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g->buckets[k], l->c, l->h, l->w),
            "cudnnSetTensor4dDescriptor");
        DNN(cudnnCreateTensorDescriptor(&c->y[k]), "cudnnCreateTensorDescriptor");
        DNN(cudnnSetTensor4dDescriptor(c->y[k], CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g->buckets[k], l->filters,
                                       l->out_h, l->out_w), "cudnnSetTensor4dDescriptor");
        DNN(cudnnGetConvolution2dForwardOutputDim(c->conv[k], c->x[k], c->w, &dims[0], &dims[1], &dims[2], &dims[3]),
            "cudnnGetConvolution2dForwardOutputDim");
        if (dims[0] != g->buckets[k] || dims[1] != l->filters || dims[2] != l->out_h || dims[3] != l->out_w) {
            snprintf(err, errlen, "layer %d (cfg line %d): cudnn computes a %dx%dx%d output, the plan %dx%dx%d",
                     i, l->line, dims[3], dims[2], dims[1], l->out_w, l->out_h, l->out_c);
            return VIGIA_EBACKEND;
        }
    }
fail:
    return rc;
}


/* Try the fused call for every convolution that has an activation descriptor; keep it where cuDNN runs it. */
static int try_fusion(vgcu_gpu *g, char *err, size_t errlen)
{
    const vgcu_plan *p = g->p;
    const float one = 1.0f, zero = 0.0f;
    int rc = 0;

    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];
        conv_plan *c = &g->convs[i];
        const int src = vgcu_plan_input_of(p, i);

        if (L->l.type != VGC_L_CONV || !c->act)
            continue;
        for (int k = 0; k < g->nbuckets; k++) {
            cudnnStatus_t s;

            /* cuDNN: the identity activation only with the implicit precomputed GEMM */
            if (L->l.act == VGC_ACT_LINEAR && c->algo[k] != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
                continue;
            s = cudnnConvolutionBiasActivationForward(g->dnn, &one, c->x[k],
                                                      src < 0 ? g->d_input : g->d_arena + p->layers[src].off, c->w,
                                                      g->d_params + L->woff, c->conv[k], c->algo[k], g->d_work,
                                                      g->work_bytes, &zero, c->y[k], g->d_arena + L->off, c->bias,
                                                      g->d_params + L->boff, c->act, c->y[k], g->d_arena + L->off);
            c->fused[k] = s == CUDNN_STATUS_SUCCESS;
        }
    }
    CU(cudaStreamSynchronize(g->stream), "trying fused convolutions");
fail:
    /* a refused fused call is not an error */
    (void)cudaGetLastError();
    return rc;
}


/* Copy every head's output for image b into g->h_heads and point heads[] at them. */
static int fetch_heads(vgcu_gpu *g, int b, const float **heads, char *err, size_t errlen)
{
    const vgcu_plan *p = g->p;
    size_t at = 0;
    int rc = 0;

    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];

        if (L->ordinal < 0)
            continue;
        CU(cudaMemcpyAsync(g->h_heads + at, g->d_arena + L->off + (size_t)b * L->l.out_size,
                           L->l.out_size * sizeof(float), cudaMemcpyDeviceToHost, g->stream), "copying a head");
        heads[L->ordinal] = g->h_heads + at;
        at += L->l.out_size;
    }
    CU(cudaStreamSynchronize(g->stream), "copying the heads");
fail:
    return rc;
}


/*
 * Capture every bucket's forward in a graph. The first bucket's graph is
 * checked against a direct run (the heads must be equal bit for bit);
 * anything going wrong turns graphs off (logged in the summary), it is
 * not an error.
 */
static const char *capture_graphs(vgcu_gpu *g)
{
    char err[VIGIA_ERRLEN];
    const size_t errlen = sizeof err;
    const vgcu_plan *p = g->p;
    float *direct = NULL;
    const float **heads = NULL;
    const char *why = NULL;
    size_t hsize = 0;
    int rc = 0;

    for (int k = 0; k < g->nbuckets; k++) {
        cudaGraph_t graph = NULL;
        cudaError_t e;

        /* relaxed: cuDNN may make calls a stricter mode refuses while we capture */
        if (cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
            why = "stream capture refused";
            goto off;
        }
        rc = enqueue_forward(g, k, err, errlen);
        e = cudaStreamEndCapture(g->stream, &graph);
        if (rc < 0 || e != cudaSuccess || !graph) {
            if (graph)
                cudaGraphDestroy(graph);
            why = "capture failed";
            goto off;
        }
        e = cudaGraphInstantiate(&g->graphs[k], graph, 0);
        cudaGraphDestroy(graph);
        if (e != cudaSuccess) {
            g->graphs[k] = NULL;
            why = "graph instantiation failed";
            goto off;
        }
    }
    /* the graph of bucket 0 against a direct run of the same input */
    for (int i = 0; i < p->n; i++)
        if (p->layers[i].ordinal >= 0)
            hsize += p->layers[i].l.out_size;
    direct = malloc(hsize * sizeof(float));
    heads = calloc((size_t)p->nheads, sizeof *heads);
    if (!direct || !heads) {
        why = "out of memory for the check";
        goto off;
    }
    if (enqueue_forward(g, 0, err, errlen) < 0 || fetch_heads(g, 0, heads, err, errlen) < 0) {
        why = "direct run failed";
        goto off;
    }
    memcpy(direct, g->h_heads, hsize * sizeof(float));
    if (cudaGraphLaunch(g->graphs[0], g->stream) != cudaSuccess || fetch_heads(g, 0, heads, err, errlen) < 0) {
        why = "graph launch failed";
        goto off;
    }
    if (memcmp(direct, g->h_heads, hsize * sizeof(float)) != 0) {
        why = "graph results differ from a direct run";
        goto off;
    }
    g->use_graphs = 1;
    free(direct);
    free(heads);
    return NULL;

off:
    (void)cudaStreamSynchronize(g->stream);
    (void)cudaGetLastError();
    for (int k = 0; k < g->nbuckets; k++) {
        if (g->graphs[k])
            cudaGraphExecDestroy(g->graphs[k]);
        g->graphs[k] = NULL;
    }
    g->use_graphs = 0;
    free(direct);
    free(heads);
    return why;
}


int vgcu_gpu_create(vgcu_gpu **out, vgcu_plan *p, const vgcu_gpu_options *opt, char *err, size_t errlen)
{
    const size_t R = VGK_REC_FLOATS(p->classes);
    vgcu_gpu *g;
    struct cudaDeviceProp prop;
    size_t limit, heads = 0, free_b = 0, total_b = 0;
    void *probe_ws = NULL;
    const char *graphs_off = "off by the manifest";
    int rc = 0, ver;

    *out = NULL;
    g = calloc(1, sizeof *g);
    if (!g) {
        vgcu_plan_destroy(p);
        snprintf(err, errlen, "out of memory");
        return VIGIA_ENOMEM;
    }
    g->p = p;
    if (opt)
        g->opt = *opt;
    limit = g->opt.workspace_limit ? g->opt.workspace_limit : DEFAULT_WORKSPACE;
    if ((rc = vgcu_probe(g->opt.device, err, errlen)) < 0)
        goto fail;
    CU(cudaSetDevice(g->opt.device), "cudaSetDevice");
    CU(cudaGetDeviceProperties(&prop, g->opt.device), "cudaGetDeviceProperties");
    ver = (int)cudnnGetVersion();
    snprintf(g->device, sizeof g->device, "cuda:%d %.100s, sm_%d%d, cudnn %d.%d.%d, %s", g->opt.device, prop.name,
             prop.major, prop.minor, ver / 10000, ver / 100 % 100, ver % 100, g->opt.tf32 ? "tf32" : "fp32");
    CU(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    g->have_stream = 1;
    DNN(cudnnCreate(&g->dnn), "cudnnCreate");
    DNN(cudnnSetStream(g->dnn, g->stream), "cudnnSetStream");

    /* batch sizes: powers of two up to max_batch, and max_batch */
    for (int b = 1; b < p->max_batch && g->nbuckets < MAX_BUCKETS - 1; b *= 2)
        g->buckets[g->nbuckets++] = b;
    g->buckets[g->nbuckets++] = p->max_batch;
    g->cap = (uint32_t)p->max_cand < DEVICE_CAP ? (uint32_t)p->max_cand : DEVICE_CAP;
    g->prefix = g->cap < HOST_PREFIX ? g->cap : HOST_PREFIX;

    /* everything on the device, once */
    CU(cudaMalloc((void **)&g->d_params, p->params_floats * sizeof(float) + 1), "cudaMalloc weights");
    CU(cudaMalloc((void **)&g->d_arena, p->arena_floats * sizeof(float) + 1), "cudaMalloc activations");
    CU(cudaMalloc((void **)&g->d_input, p->in_size * (size_t)p->max_batch * sizeof(float)), "cudaMalloc input");
    CU(cudaMalloc((void **)&g->d_thresh, sizeof(float)), "cudaMalloc");
    CU(cudaMalloc((void **)&g->d_counts, (size_t)p->max_batch * sizeof(uint32_t)), "cudaMalloc");
    CU(cudaMalloc((void **)&g->d_keys, (size_t)p->max_batch * g->cap * sizeof(uint64_t) + 1), "cudaMalloc");
    CU(cudaMalloc((void **)&g->d_recs, (size_t)p->max_batch * g->cap * R * sizeof(float) + 1), "cudaMalloc");
    g->device_bytes = (p->params_floats + p->arena_floats + p->in_size * (size_t)p->max_batch + 1 +
                       (size_t)p->max_batch * (1 + g->cap * (2 + R))) * sizeof(float);
    CU(cudaMemcpy(g->d_params, p->params, p->params_floats * sizeof(float), cudaMemcpyHostToDevice), "copying the weights");
    /* defined contents everywhere: a batch smaller than its bucket reads the rest of the input */
    CU(cudaMemset(g->d_arena, 0, p->arena_floats * sizeof(float)), "cudaMemset");
    CU(cudaMemset(g->d_input, 0, p->in_size * (size_t)p->max_batch * sizeof(float)), "cudaMemset");
    CU(cudaMemset(g->d_thresh, 0, sizeof(float)), "cudaMemset");
    /* those ran on the legacy default stream, which our non-blocking stream does not wait for */
    CU(cudaDeviceSynchronize(), "initialising device memory");
    CU(cudaHostAlloc((void **)&g->h_input, p->in_size * (size_t)p->max_batch * sizeof(float), cudaHostAllocDefault),
       "cudaHostAlloc input");
    CU(cudaHostAlloc((void **)&g->h_thresh, sizeof(float), cudaHostAllocDefault), "cudaHostAlloc");
    CU(cudaHostAlloc((void **)&g->h_counts, (size_t)p->max_batch * sizeof(uint32_t), cudaHostAllocDefault),
       "cudaHostAlloc");
    CU(cudaHostAlloc((void **)&g->h_keys, (size_t)p->max_batch * g->prefix * sizeof(uint64_t) + 1,
                     cudaHostAllocDefault), "cudaHostAlloc");
    CU(cudaHostAlloc((void **)&g->h_recs, (size_t)p->max_batch * g->prefix * R * sizeof(float) + 1,
                     cudaHostAllocDefault), "cudaHostAlloc");
    if (vgcu_cand_work_init(&g->work, p) < 0) {
        rc = VIGIA_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < p->n; i++)
        if (p->layers[i].ordinal >= 0)
            heads += p->layers[i].l.out_size;
    g->h_heads = malloc(heads * sizeof(float) + 1);
    g->heads = calloc((size_t)p->nheads + 1, sizeof *g->heads);
    g->h_more_keys = malloc((size_t)p->max_batch * g->cap * sizeof(uint64_t) + 1);
    g->h_more_recs = malloc((size_t)p->max_batch * g->cap * R * sizeof(float) + 1);
    g->convs = calloc((size_t)p->n, sizeof *g->convs);
    if (!g->h_heads || !g->heads || !g->h_more_keys || !g->h_more_recs || !g->convs) {
        rc = VIGIA_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    /* convolutions: descriptors, then an algorithm per bucket within the workspace limit */
    if (!g->opt.heuristic_algos) {
        /* the timed search needs a workspace of the limit's size (less if the GPU has less free) */
        CU(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
        if (limit > free_b / 2)
            limit = free_b / 2;
        CU(cudaMalloc(&probe_ws, limit + 1), "cudaMalloc workspace for the algorithm search");
    }
    for (int i = 0; i < p->n; i++) {
        if (p->layers[i].l.type != VGC_L_CONV)
            continue;
        g->nconv++;
        if ((rc = describe_conv(g, i, err, errlen)) < 0)
            goto fail;
        for (int k = 0; k < g->nbuckets; k++) {
            if ((rc = choose_algo(g, i, k, probe_ws, limit, err, errlen)) < 0)
                goto fail;
            if (g->convs[i].ws[k] > g->work_bytes)
                g->work_bytes = g->convs[i].ws[k];
        }
    }
    if (probe_ws) {
        CU(cudaFree(probe_ws), "cudaFree");
        probe_ws = NULL;
    }
    if (g->work_bytes)
        CU(cudaMalloc(&g->d_work, g->work_bytes), "cudaMalloc workspace");
    g->device_bytes += g->work_bytes;
    if ((rc = try_fusion(g, err, errlen)) < 0)
        goto fail;
    for (int i = 0; i < p->n; i++)
        g->nfused += p->layers[i].l.type == VGC_L_CONV && g->convs[i].fused[g->nbuckets - 1];
    /*
     * One direct run of every batch size: a model that loads, runs; and the
     * kernels and cuDNN's engines, loaded lazily on first use, are loaded
     * before any capture.
     */
    for (int k = 0; k < g->nbuckets; k++) {
        if ((rc = enqueue_forward(g, k, err, errlen)) < 0)
            goto fail;
        CU(cudaStreamSynchronize(g->stream), "a first run");
    }
    if (!g->opt.no_graphs)
        graphs_off = capture_graphs(g);
    CU(cudaStreamSynchronize(g->stream), "loading the model");
    snprintf(g->summary, sizeof g->summary,
             "%d convolutions (%d fused with bias and activation), batch sizes %d..%d in %d steps, "
             "cudnn algorithms %s, workspace %.1f MiB, %.1f MiB of device memory, cuda graphs %s%s",
             g->nconv, g->nfused, g->buckets[0], g->buckets[g->nbuckets - 1], g->nbuckets,
             g->opt.heuristic_algos ? "by heuristics" : "timed", g->work_bytes / 1048576.0,
             g->device_bytes / 1048576.0, g->use_graphs ? "on" : "off: ", g->use_graphs ? "" : graphs_off);
    *out = g;
    return 0;

fail:
    if (probe_ws)
        cudaFree(probe_ws);
    vgcu_gpu_destroy(g);
    return rc;
}


void vgcu_gpu_destroy(vgcu_gpu *g)
{
    if (!g)
        return;
    if (g->have_stream)
        (void)cudaStreamSynchronize(g->stream);
    for (int k = 0; k < MAX_BUCKETS; k++)
        if (g->graphs[k])
            cudaGraphExecDestroy(g->graphs[k]);
    if (g->convs) {
        for (int i = 0; i < g->p->n; i++) {
            conv_plan *c = &g->convs[i];

            if (c->w)
                cudnnDestroyFilterDescriptor(c->w);
            if (c->bias)
                cudnnDestroyTensorDescriptor(c->bias);
            if (c->act)
                cudnnDestroyActivationDescriptor(c->act);
            for (int k = 0; k < MAX_BUCKETS; k++) {
                if (c->conv[k])
                    cudnnDestroyConvolutionDescriptor(c->conv[k]);
                if (c->x[k])
                    cudnnDestroyTensorDescriptor(c->x[k]);
                if (c->y[k])
                    cudnnDestroyTensorDescriptor(c->y[k]);
            }
        }
        free(g->convs);
    }
    if (g->dnn)
        cudnnDestroy(g->dnn);
    if (g->have_stream)
        cudaStreamDestroy(g->stream);
    cudaFree(g->d_params);
    cudaFree(g->d_arena);
    cudaFree(g->d_input);
    cudaFree(g->d_thresh);
    cudaFree(g->d_counts);
    cudaFree(g->d_keys);
    cudaFree(g->d_recs);
    cudaFree(g->d_work);
    cudaFreeHost(g->h_input);
    cudaFreeHost(g->h_thresh);
    cudaFreeHost(g->h_counts);
    cudaFreeHost(g->h_keys);
    cudaFreeHost(g->h_recs);
    vgcu_cand_work_release(&g->work);
    free(g->h_heads);
    free(g->heads);
    free(g->h_more_keys);
    free(g->h_more_recs);
    vgcu_plan_destroy(g->p);
    free(g);
}

/* ---- infer ---------------------------------------------------------------------------------------- */

int vgcu_gpu_infer(vgcu_gpu *g, const float *input, int batch, float thresh, vigia_candidates *out,
                   char *err, size_t errlen)
{
    return vgcu_gpu_infer_indexed(g, input, batch, thresh, out, NULL, err, errlen);
}


int vgcu_gpu_infer_indexed(vgcu_gpu *g, const float *input, int batch, float thresh, vigia_candidates *out,
                           uint32_t *const *index, char *err, size_t errlen)
{
    const vgcu_plan *p = g->p;
    const size_t R = VGK_REC_FLOATS(p->classes);
    uint32_t prefix;
    int rc = 0, k, more = 0;

    if (!input || !out || batch < 1 || batch > p->max_batch) {
        snprintf(err, errlen, "batch %d is not in [1, %d]", batch, p->max_batch);
        return VIGIA_EINVAL;
    }
    k = bucket_of(g, batch);
    /* records per image brought back with the counts: at most PREFIX_BUDGET bytes in all */
    prefix = PREFIX_BUDGET / ((uint32_t)batch * (uint32_t)(sizeof(uint64_t) + R * sizeof(float)));
    prefix = prefix < 8 ? 8 : prefix;
    prefix = prefix > g->prefix ? g->prefix : prefix;
    /* the runtime's current device is per thread */
    CU(cudaSetDevice(g->opt.device), "cudaSetDevice");
    memcpy(g->h_input, input, (size_t)batch * p->in_size * sizeof(float));
    *g->h_thresh = thresh;
    CU(cudaMemcpyAsync(g->d_input, g->h_input, (size_t)batch * p->in_size * sizeof(float), cudaMemcpyHostToDevice,
                       g->stream), "copying the input");
    CU(cudaMemcpyAsync(g->d_thresh, g->h_thresh, sizeof(float), cudaMemcpyHostToDevice, g->stream),
       "copying the threshold");
    if ((rc = run_bucket(g, k, err, errlen)) < 0)
        goto fail;
    /* the counts and the first records of every image in one round trip */
    CU(cudaMemcpyAsync(g->h_counts, g->d_counts, (size_t)batch * sizeof(uint32_t), cudaMemcpyDeviceToHost, g->stream),
       "copying the counts");
    CU(cudaMemcpy2DAsync(g->h_keys, prefix * sizeof(uint64_t), g->d_keys, g->cap * sizeof(uint64_t),
                         prefix * sizeof(uint64_t), (size_t)batch, cudaMemcpyDeviceToHost, g->stream),
       "copying the candidates");
    CU(cudaMemcpy2DAsync(g->h_recs, prefix * R * sizeof(float), g->d_recs, g->cap * R * sizeof(float),
                         prefix * R * sizeof(float), (size_t)batch, cudaMemcpyDeviceToHost, g->stream),
       "copying the candidates");
    CU(cudaStreamSynchronize(g->stream), "running the network");
    /* images with more: all their records in a second round trip */
    for (int b = 0; b < batch; b++) {
        const uint32_t count = g->h_counts[b];

        if (count <= prefix || count > g->cap)
            continue;
        CU(cudaMemcpyAsync(g->h_more_keys + (size_t)b * g->cap, g->d_keys + (size_t)b * g->cap,
                           count * sizeof(uint64_t), cudaMemcpyDeviceToHost, g->stream), "copying the candidates");
        CU(cudaMemcpyAsync(g->h_more_recs + (size_t)b * g->cap * R, g->d_recs + (size_t)b * g->cap * R,
                           count * R * sizeof(float), cudaMemcpyDeviceToHost, g->stream), "copying the candidates");
        more = 1;
    }
    if (more)
        CU(cudaStreamSynchronize(g->stream), "copying the candidates");
    for (int b = 0; b < batch; b++) {
        const uint32_t count = g->h_counts[b];
        uint32_t *idx = index ? index[b] : NULL;

        if (count <= prefix) {
            vgcu_candidates_finish(p->classes, g->h_keys + (size_t)b * prefix, g->h_recs + (size_t)b * prefix * R,
                                   count, &g->work, &out[b], idx);
        } else if (count <= g->cap) {
            vgcu_candidates_finish(p->classes, g->h_more_keys + (size_t)b * g->cap,
                                   g->h_more_recs + (size_t)b * g->cap * R, count, &g->work, &out[b], idx);
        } else {
            /* more than the device keeps: decode this image's heads on the host */
            if ((rc = fetch_heads(g, b, g->heads, err, errlen)) < 0)
                goto fail;
            vgcu_candidates_host(p, g->heads, thresh, &g->work, &out[b], idx);
        }
    }
fail:
    return rc;
}


int vgcu_gpu_forward_only(vgcu_gpu *g, int batch, char *err, size_t errlen)
{
    int rc = 0;

    if (batch < 1 || batch > g->p->max_batch) {
        snprintf(err, errlen, "batch %d is not in [1, %d]", batch, g->p->max_batch);
        return VIGIA_EINVAL;
    }
    if ((rc = run_bucket(g, bucket_of(g, batch), err, errlen)) < 0)
        return rc;
    CU(cudaStreamSynchronize(g->stream), "running the network");
fail:
    return rc;
}


int vgcu_gpu_layer_output(vgcu_gpu *g, int i, int b, float *host, char *err, size_t errlen)
{
    const vgcu_layer *L;
    int rc = 0;

    if (i < 0 || i >= g->p->n || b < 0 || b >= g->p->max_batch) {
        snprintf(err, errlen, "no layer %d / image %d", i, b);
        return VIGIA_EINVAL;
    }
    L = &g->p->layers[i];
    CU(cudaMemcpyAsync(host, g->d_arena + L->off + (size_t)b * L->l.out_size, L->l.out_size * sizeof(float),
                       cudaMemcpyDeviceToHost, g->stream), "copying a layer's output");
    CU(cudaStreamSynchronize(g->stream), "copying a layer's output");
fail:
    return rc;
}


const vgcu_plan *vgcu_gpu_plan(const vgcu_gpu *g) { return g->p; }
const char *vgcu_gpu_device(const vgcu_gpu *g) { return g->device; }
const char *vgcu_gpu_summary(const vgcu_gpu *g) { return g->summary; }
size_t vgcu_gpu_device_bytes(const vgcu_gpu *g) { return g->device_bytes; }
