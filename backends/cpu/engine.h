/*
 * backends/cpu/engine.h: vigia's CPU inference engine for darknet networks.
 *
 * The engine reads a darknet .cfg and .weights itself (no libdarknet), builds
 * the layer list with every shape checked, folds batch normalisation into
 * the convolution weights, plans one arena for all activations, and runs
 * the network on batches of planar RGB images. The yolo heads produce the
 * same tensors darknet's forward pass produces; vgc_net_candidates() turns
 * them into the candidate boxes get_network_boxes() would give.
 *
 * This header is internal to the cpu backend, its tests, its benchmark and
 * its fuzz harness; nothing here is exported from the plugin (every symbol
 * is hidden, the plugin's only export is vigia_backend_entry).
 *
 * Threading: a vgc_net is used by one thread at a time. vgc_net_forward()
 * may use `threads` compute threads of its own (a private pool).
 *
 * Errors: functions return 0 or a negative VIGIA_E* code (see
 * vigia/backend.h) and write a lowercase one-line message into err.
 */
#ifndef VGC_ENGINE_H
#define VGC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "vigia/backend.h"

#define VGC_HIDDEN __attribute__((visibility("hidden")))

/* Limits that bound every input (a hostile cfg cannot make us allocate much). */
#define VGC_CFG_MAX_BYTES     (1u << 20)  /* cfg file size */
#define VGC_CFG_MAX_LINE      4096        /* characters per cfg line */
#define VGC_MAX_LAYERS        1000        /* layers in a network */
#define VGC_MAX_OPTIONS       256         /* options in one section */
#define VGC_MAX_SOURCES       16          /* inputs of one route/shortcut */
#define VGC_MAX_ANCHORS       64          /* anchors (num) of one yolo layer */
#define VGC_MAX_DIM           8192        /* width/height of any tensor */
#define VGC_MAX_CHANNELS      32768       /* channels of any tensor */
#define VGC_MAX_KERNEL        31          /* convolution / pooling window */
#define VGC_MAX_CLASSES       100000      /* classes of a yolo layer */
#define VGC_MAX_BATCH         1024        /* images per forward */
#define VGC_MAX_THREADS       256         /* compute threads */
#define VGC_MAX_PARAMS        (400u * 1000u * 1000u) /* floats in a weights file */
#define VGC_MAX_ARENA_BYTES   ((size_t)8 << 30) /* activations + scratch */
/*
 * Memory a model may use beyond its weights file (activations, scratch,
 * and the larger Winograd form of some weights): the budget of
 * weights + 64 MB per worker, less 8 MB for everything else in the process.
 * Winograd is applied to as many layers as fit (largest outputs first).
 */
#define VGC_HEADROOM_BYTES    ((size_t)56 << 20)

enum vgc_layer_type {
    VGC_L_CONV,        /* [convolutional] */
    VGC_L_MAXPOOL,     /* [maxpool] */
    VGC_L_ROUTE,       /* [route] */
    VGC_L_SHORTCUT,    /* [shortcut] */
    VGC_L_UPSAMPLE,    /* [upsample] */
    VGC_L_DROPOUT,     /* [dropout]: identity at inference */
    VGC_L_YOLO         /* [yolo] */
};

enum vgc_act {
    VGC_ACT_LINEAR,
    VGC_ACT_LEAKY,     /* x > 0 ? x : 0.1x */
    VGC_ACT_RELU,
    VGC_ACT_RELU6,
    VGC_ACT_LOGISTIC,
    VGC_ACT_MISH,      /* x tanh(softplus(x)), AlexeyAB's threshold 20 */
    VGC_ACT_SWISH      /* x logistic(x) */
};

/* How a convolution is computed (chosen at load). */
enum vgc_conv_kind {
    VGC_CONV_GEMM,     /* any size/stride/groups: implicit GEMM from padded input rows
                          (AVX2/AVX-512), im2col by row bands + sgemm (generic) */
    VGC_CONV_1X1,      /* 1x1, stride 1, no padding, groups 1: sgemm on the input */
    VGC_CONV_DW,       /* depthwise (groups == c == filters): direct kernel */
    VGC_CONV_WINO      /* 3x3, stride 1, pad 1, groups 1: Winograd F(2x2, 3x3) or F(4x4, 3x3) */
};

/* One layer, with its shapes resolved. */
typedef struct vgc_layer {
    enum vgc_layer_type type;
    int line;                 /* cfg line of the section header */
    int w, h, c;              /* input shape (of the layer before it) */
    int out_w, out_h, out_c;  /* output shape */
    size_t out_size;          /* out_w * out_h * out_c: floats per image */

    /* convolutional (size/stride/pad are also used by maxpool) */
    int filters;              /* output channels */
    int size;                 /* kernel (or pool window) side */
    int stride;               /* stride (or upsample factor) */
    int pad;                  /* padding: each side for conv, total for maxpool */
    int groups;               /* conv groups; route groups */
    int batch_normalize;      /* the weights file holds scales/mean/variance */
    enum vgc_act act;         /* activation (conv, shortcut) */
    enum vgc_conv_kind kind;  /* how the convolution runs */
    float *weights;           /* [filters][c/groups][size][size], BN folded */
    float *biases;            /* [filters], BN folded */
    size_t nweights;          /* floats in weights */
    void *packed;             /* kernel-specific repacked weights, or NULL */
    int chunk;                /* work split: output rows (GEMM), columns (1x1),
                                 channels (depthwise, pooling) or tile rows
                                 (Winograd) per task */
    int split;                /* Winograd: filter ranges per block of tiles */
    int pool_fused;           /* an fp32 implicit-GEMM convolution whose only reader is a maxpool
                                 with windows that tile its rows: both run a band of rows at a time
                                 (forward.c), the convolution's output is never written */
    int expand_fused;         /* a depthwise convolution whose input, an fp32 1x1 convolution (the layer
                                 before it), has no other reader: both run a group of channels at a
                                 time (forward.c), the 1x1's output is never written */
    int packs_next;           /* an fp32 convolution run in bands of output rows (conv_rows) whose one
                                 reader, the s16 1x1 after it, is packed whole for its depthwise
                                 layer (q16.h): each band's blocks are packed as soon as it is written,
                                 while in L2, not in a pass over the whole output after it */
    int wino_m;               /* Winograd output tile side: 2 or 4 */

    /* route / shortcut */
    int nsrc;                 /* number of source layers */
    int src[VGC_MAX_SOURCES]; /* absolute source layer indexes */
    int group_id;             /* route: which channel group of each source */
    float alpha, beta;        /* shortcut: out = alpha*prev + beta*from */

    /* upsample */
    float scale;              /* output multiplied by scale */

    /* yolo */
    int classes;              /* classes per box */
    int n;                    /* boxes per cell (mask entries) */
    int total;                /* anchors given (num) */
    int mask[VGC_MAX_ANCHORS];
    float anchors[2 * VGC_MAX_ANCHORS];
    float scale_x_y;          /* AlexeyAB's grid sensitivity, 1 = none */
    int new_coords;           /* AlexeyAB's scaled-yolov4 decoding */

    /* memory */
    int alias;                /* output is the output of layer `alias` (-1: own) */
    int last_use;             /* last layer reading this output (planning) */
    size_t off;               /* arena offset in floats of the output */
    float *out;               /* output of image 0; image b at out + b*out_size */

    /* reduced precision */
    struct vgc_q8_layer *q8;  /* the int8 form of a convolution (q8.h), or NULL: fp32 */
    struct vgc_q8_first *q8first; /* an int8 network's first layer in int8 (q8_first.h), or NULL */
    struct vgc_q16_layer *q16; /* an int8 network's 1x1 convolution that int8 leaves fp32, in
                                 16-bit integers (q16.h), or NULL */
    int q16_feeds;            /* a depthwise layer whose 1x1 layer after it is fed s16 (q16.h's
                                 vgc_q16_feeds: whether it is, in a given forward) */
} vgc_layer;

/* How a network is opened. Zero means "default" for every field. */
typedef struct vgc_options {
    int input_w, input_h;     /* network input; 0 = the cfg's */
    int max_batch;            /* images per forward, default 1 */
    int threads;              /* compute threads, default 1 */
    int simd;                 /* force a kernel level (enum vgc_simd), 0 = best */
    int no_winograd;          /* compute 3x3 convolutions directly (im2col + GEMM) */
    int ignore_scale_x_y;     /* decode as Debian's darknet, which ignores it */
    int keep_outputs;         /* give every layer its own buffer (tests) */
    int no_weights;           /* no weights file: deterministic random weights */
    uint32_t seed;            /* seed for no_weights */
    int profile;              /* time every layer (vgc_net_profile) */
    size_t max_bytes;         /* refuse networks whose weights or activations need
                                 more (0 = VGC_MAX_ARENA_BYTES) */
    size_t headroom;          /* memory beyond the weights (0 = VGC_HEADROOM_BYTES) */
    int precision;            /* enum vgc_precision: what the convolutions compute in */
    int q8_kernel;            /* int8, bf16: 0 = the best the CPU has, else enum vgc_q8_kind + 1 (at most;
                                 the bf16 ones for bf16) */
    const float *q8_ranges;   /* int8: calibrated input range of each layer (min, max), or NULL:
                                 dynamic (each image's own) */
    const float *q8_chan_ranges; /* int8: with q8_ranges, each depthwise int8 layer's input range per
                                 channel (min, max; the layers in order), or NULL: those stay dynamic */
    int q8_min_channels;      /* int8: fewest terms per output (channels x size^2) of an int8 convolution (0 = 64) */
    int q8_dw_static;         /* int8: calibration gives depthwise layers static ranges per channel too
                                 (off by default: they cost the accuracy bars, docs/engine.md); the
                                 cache holds them either way */
    int q8_blocks;            /* int8, with static ranges: the 1x1 convolutions around depthwise layers
                                 too (1 expansions, 2 projections, 3 both; 0 none, the default) */
    int q8_no_fuse;           /* int8, static ranges: float tensors between int8 layers too
                                 (tests, benchmarks; q8.h's vgc_q8_plan) */
    int q8_direct;            /* int8: direct convolutions (q8.h's vgc_q8_gemm taps): 0 with AMX,
                                 where they measured faster, 1 with every kernel that has them (AMX
                                 and the reference: tests), -1 none: every GEMM on a packed band */
    int q8_px4;               /* int8, dynamic ranges: 3x3 layers of few channels on wide planes read
                                 as rows of 4-channel pixels, without packing (q8.c's px4_layer): 0
                                 where they qualify, -1 never */
    int q8_first;             /* int8: the first layer (the image's) in int8 (q8_first.h): 0 where
                                 it qualifies and the int8 kernels are VNNI's, AMX's or the
                                 reference, -1 never (fp32) */
    int q16;                  /* int8: the 1x1 convolutions int8 leaves fp32 in 16-bit integers
                                 (q16.h): 0 where the CPU has AVX-512 VNNI, -1 never, 1 also with
                                 the scalar kernels elsewhere (tests) */
    int q16_feed;             /* s16: depthwise layers write their 1x1 layer's packed input (q16.h's
                                 vgc_q16_feeds): 0 where it measured faster, -1 never (float
                                 between them), 1 wherever it can (tests) */
} vgc_options;

/* What the convolutions compute in (the manifest's `[cpu] precision`). */
enum vgc_precision {
    VGC_PREC_FP32 = 0,
    VGC_PREC_BF16 = 1,
    VGC_PREC_INT8 = 2
};

enum vgc_simd {
    VGC_SIMD_AUTO = 0,
    VGC_SIMD_GENERIC = 1,     /* portable C */
    VGC_SIMD_AVX2 = 2,        /* AVX2 + FMA */
    VGC_SIMD_AVX512 = 3       /* AVX-512 F/BW/DQ/VL */
};

typedef struct vgc_net vgc_net;

/*
 * Load a network from files. weights_path may be NULL when
 * opt->no_weights is set. On success *out must be freed with
 * vgc_net_destroy(). Fails with VIGIA_ENOENT (missing file),
 * VIGIA_EINVAL (malformed), VIGIA_ENOTSUP (layer/option not supported,
 * the message names the cfg line), VIGIA_ENOMEM.
 */
VGC_HIDDEN int vgc_net_load(vgc_net **out, const char *cfg_path, const char *weights_path,
                            const vgc_options *opt, char *err, size_t errlen);

/* The same from memory (the fuzz harness uses this). weights may be NULL with no_weights. */
VGC_HIDDEN int vgc_net_load_mem(vgc_net **out, const char *cfg, size_t cfg_len,
                                const void *weights, size_t weights_len,
                                const vgc_options *opt, char *err, size_t errlen);

/* Free a network; NULL is fine. */
VGC_HIDDEN void vgc_net_destroy(vgc_net *net);

/*
 * Run `batch` (1..max_batch) images: input is batch x c x h x w floats.
 * The input must stay valid until the next call (layer 0 reads it in place).
 */
VGC_HIDDEN int vgc_net_forward(vgc_net *net, const float *input, int batch,
                               char *err, size_t errlen);

/*
 * Candidate boxes of image `image` of the last forward, as the plugin ABI
 * defines them (before NMS). `index`, when not NULL, receives for each
 * candidate its darknet identity: yolo layer ordinal * 2^24 + cell * 64 + anchor
 * (cells and anchors in darknet's order), for tests.
 */
VGC_HIDDEN int vgc_net_candidates(vgc_net *net, int image, float thresh,
                                  vigia_candidates *out, uint32_t *index);

/* Shape and description. */
VGC_HIDDEN int vgc_net_layers(const vgc_net *net);
VGC_HIDDEN const vgc_layer *vgc_net_layer(const vgc_net *net, int i);
VGC_HIDDEN void vgc_net_input_size(const vgc_net *net, int *w, int *h, int *c);
VGC_HIDDEN int vgc_net_classes(const vgc_net *net);
VGC_HIDDEN int vgc_net_max_batch(const vgc_net *net);
VGC_HIDDEN double vgc_net_flops(const vgc_net *net);       /* per image, 2 x multiply-adds */
VGC_HIDDEN size_t vgc_net_arena_bytes(const vgc_net *net);
VGC_HIDDEN const char *vgc_net_device(const vgc_net *net); /* e.g. "cpu avx512, 2 threads" */
/*
 * The precision the network runs in (enum vgc_precision) and a note: what
 * runs in it ("int8 amx, 19 of 21 convolutions") or, when the asked one
 * fell back to fp32, why. The note is empty for fp32 asked.
 */
VGC_HIDDEN int vgc_net_precision(const vgc_net *net, const char **note);
/* Bytes of the weights the forward pass reads (int8 layers at 1 byte a weight, bf16 at 2). */
VGC_HIDDEN size_t vgc_net_weight_bytes(const vgc_net *net);
VGC_HIDDEN int vgc_net_max_candidates(const vgc_net *net); /* cells x anchors over all heads */

/*
 * Output of layer i for image b of the last forward (valid only for layers
 * whose buffer was not reused: all of them with keep_outputs, the yolo
 * heads always).
 */
VGC_HIDDEN const float *vgc_net_output(const vgc_net *net, int i, int b);

/*
 * With opt.profile: seconds spent in each layer over all forwards so far
 * (ms must hold vgc_net_layers() doubles). Returns the number of forwards.
 */
VGC_HIDDEN int vgc_net_profile(const vgc_net *net, double *seconds);

/*
 * Weight k (of (c/groups)*size*size) of filter f of convolution l, batch
 * norm folded, whatever layout the kernels keep it in.
 */
VGC_HIDDEN float vgc_layer_weight(const vgc_net *net, const vgc_layer *l, int f, int k);

/* Count the floats the weights file of a cfg must hold (after the header). */
VGC_HIDDEN int vgc_cfg_param_count(const char *cfg, size_t cfg_len, size_t *count,
                                   char *err, size_t errlen);

/*
 * Write a weights file of the right size for cfg with deterministic random
 * values (BN variances positive). For tests and benchmarks.
 */
VGC_HIDDEN int vgc_weights_write_random(const char *cfg_path, const char *weights_path,
                                        uint32_t seed, char *err, size_t errlen);

/* The SIMD level the machine supports, and its name. */
VGC_HIDDEN int vgc_simd_detect(void);
VGC_HIDDEN const char *vgc_simd_name(int simd);

#endif /* VGC_ENGINE_H */
