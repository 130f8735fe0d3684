/*
 * backends/cuda/plan.h: the CUDA engine's plan of a network, built on the
 * host with no CUDA at all: the layers (as the CPU engine reads them from
 * the cfg), the weights with batch norm folded in the layout cuDNN takes,
 * where every output lives in one device arena, and how yolo candidates
 * become the plugin ABI's candidate sets.
 *
 * The plan is what the GPU executes (gpu.c) and what the host emulation
 * executes (emul.c, for tests on machines without a GPU); both read the
 * same offsets and parameters, so a planning mistake shows up in either.
 *
 * The cfg and weights are read by the CPU engine's own loader
 * (backends/cpu: vgc_net_load), so both backends accept, refuse and fold
 * exactly the same files: the plan copies its layer list and weights and
 * frees it.
 *
 * Errors: functions return 0 or a negative VIGIA_E* code and write a
 * lowercase one-line message into err.
 */
#ifndef VGCU_PLAN_H
#define VGCU_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "kernels.h"

/* Device memory a model may take for weights, activations and candidates, by default. */
#define VGCU_MAX_DEVICE_BYTES ((size_t)16 << 30)
/* Arena and parameter blocks start on 256-byte boundaries (cuDNN, coalescing). */
#define VGCU_ALIGN_FLOATS 64
/* Largest batch the CUDA backend accepts. */
#define VGCU_MAX_BATCH 256

/* How a plan is made. Zero means "default" for every field. */
typedef struct vgcu_options {
    int input_w, input_h;     /* network input; 0 = the cfg's */
    int max_batch;            /* images per forward, default 1 */
    int ignore_scale_x_y;     /* decode as Debian's darknet, which ignores it */
    int keep_outputs;         /* give every layer its own buffer (tests) */
    int no_weights;           /* no weights file: the CPU engine's deterministic random weights */
    uint32_t seed;            /* seed for no_weights */
    size_t max_bytes;         /* refuse plans needing more device memory (0 = VGCU_MAX_DEVICE_BYTES) */
} vgcu_options;

/* One layer of the plan. */
typedef struct vgcu_layer {
    vgc_layer l;              /* the CPU engine's description; weights/biases/packed/out are NULL */
    int root;                 /* the layer whose buffer holds this output (itself unless an alias) */
    int last_use;             /* last layer that reads this buffer (planning) */
    size_t off;               /* arena offset in floats of image 0's output (image b at off + b*out_size) */
    size_t woff;              /* conv: params offset of the weights, [filters][c/groups][size][size] */
    size_t boff;              /* conv: params offset of the biases, [filters] */
    int ordinal;              /* yolo: which head (0 = first in the cfg), else -1 */
} vgcu_layer;

typedef struct vgcu_plan {
    vgcu_layer *layers;       /* n layers, [net] excluded */
    int n;
    int w, h, c;              /* network input */
    size_t in_size;           /* floats per input image: w*h*c */
    int max_batch;
    int classes;              /* of the yolo heads (all equal) */
    int nheads;               /* yolo heads */
    int max_cand;             /* cells x anchors over all heads, per image */
    int ignore_scale_x_y;
    float *params;            /* every conv's weights and biases (host copy) */
    size_t params_floats;
    size_t arena_floats;      /* the activation arena for max_batch images */
    double flops;             /* per image, 2 x multiply-adds */
} vgcu_plan;

/*
 * Read cfg and weights (weights_path may be NULL with opt->no_weights) and
 * plan the network. On success *out must be freed with vgcu_plan_destroy().
 * Errors as vgc_net_load() (VIGIA_ENOENT, VIGIA_EINVAL, VIGIA_ENOTSUP with
 * the cfg line, VIGIA_ENOMEM), and VIGIA_ENOTSUP for networks without yolo
 * heads or whose input is not 3 channels.
 */
VGC_HIDDEN int vgcu_plan_create(vgcu_plan **out, const char *cfg_path, const char *weights_path,
                                const vgcu_options *opt, char *err, size_t errlen);

/* Free a plan; NULL is fine. */
VGC_HIDDEN void vgcu_plan_destroy(vgcu_plan *p);

/*
 * Where layer i reads its input: the root layer of layer i-1, or -1 for the
 * network input.
 */
VGC_HIDDEN int vgcu_plan_input_of(const vgcu_plan *p, int i);

/* The parameters of yolo layer i for vgk_yolo() and the candidate functions. */
VGC_HIDDEN void vgcu_plan_yolo_args(const vgcu_plan *p, int i, vgk_yolo_args *a);

/*
 * The parameters of shortcut layer i, with x and the sources as offsets
 * from `arena` (a host or device address: nothing is dereferenced) and
 * `input` (the network input, for a source that is layer -1: never, as a
 * shortcut reads layers).
 */
VGC_HIDDEN void vgcu_plan_shortcut_args(const vgcu_plan *p, int i, const float *arena, const float *input,
                                        vgk_shortcut_args *a);

/* Scratch for turning records into candidate sets (sized for one image of a plan). */
typedef struct vgcu_key_index {
    uint64_t key;             /* darknet order */
    uint32_t index;           /* the record */
} vgcu_key_index;

typedef struct vgcu_cand_work {
    uint64_t *keys;           /* max_cand keys */
    float *recs;              /* max_cand records of VGK_REC_FLOATS(classes) */
    vgcu_key_index *order;    /* max_cand entries, for sorting */
    float *objs;              /* max_cand objectness values, for truncation */
    uint32_t max_cand;
} vgcu_cand_work;

VGC_HIDDEN int vgcu_cand_work_init(vgcu_cand_work *w, const vgcu_plan *p);
VGC_HIDDEN void vgcu_cand_work_release(vgcu_cand_work *w);

/*
 * Turn `count` records (keys[i], recs[i * VGK_REC_FLOATS(classes)], in any
 * order; count <= w->max_cand) into the ABI's candidate set of one image,
 * exactly as the CPU engine's vgc_net_candidates() orders and truncates
 * them: darknet's order (head, cell, anchor); when more than
 * out->capacity, the ones with the highest objectness (ties in darknet's
 * order) and out->truncated set. Uses w->order and w->objs as scratch
 * (keys and recs may be w->keys and w->recs). `index`, when not NULL,
 * receives each candidate's darknet identity as the CPU engine gives it
 * (head << 24 | cell * 64 + anchor), for tests.
 */
VGC_HIDDEN void vgcu_candidates_finish(int classes, const uint64_t *keys, const float *recs, uint32_t count,
                                       vgcu_cand_work *w, vigia_candidates *out, uint32_t *index);

/*
 * The candidate set of one image from the yolo heads' outputs on the host:
 * heads[k] is head k's output for that image (p->layers[...].l.out_size
 * floats). Used by the emulation and by the GPU path when an image has
 * more candidates than the device keeps.
 */
VGC_HIDDEN void vgcu_candidates_host(const vgcu_plan *p, const float *const *heads, float thresh,
                                     vgcu_cand_work *w, vigia_candidates *out, uint32_t *index);

/* Bytes of device memory a plan needs for weights, activations and input. */
VGC_HIDDEN size_t vgcu_plan_device_bytes(const vgcu_plan *p);

#endif /* VGCU_PLAN_H */
