/*
 * model: a model directory and its manifest (NAME/model.conf).
 *
 * The manifest is an INI file (docs/models.md):
 *
 *   [model]
 *   name = yolo-fastest-1.1-xl      # must equal the directory name
 *   description = COCO, 80 classes
 *   backend = auto                  # auto | cpu | darknet | cuda | /abs/path/plugin.so
 *   cfg = yolo-fastest-1.1-xl.cfg   # relative to the directory
 *   weights = yolo-fastest-1.1-xl.weights
 *   names = coco.names              # one label per line; absent: the plugin supplies them
 *   width = 320                     # network input; 0 or absent = the cfg's [net]
 *   height = 320
 *   threshold = 0.25                # default min confidence
 *   nms = 0.45                      # default overlap above which class-wise NMS suppresses
 *   nms_kind = greedynms            # default | greedynms | diounms; absent: the cfg's last [yolo]
 *   beta_nms = 0.6                  # diounms' exponent; absent: the cfg's, else 0.6
 *   resize = stretch                # stretch | letterbox; absent: the cfg's [net] letter_box
 *   workers = 0                     # 0 = the server's default
 *   batch = 1
 *   threads = 1                     # compute threads per worker
 *   mem_cap = 2G                    # read by the pool: RSS cap per worker (absent: the server's)
 *   infer_timeout = 10s             # read by the pool: per batch in a worker (absent: detect.timeout)
 *   devices = 0,1                   # worker i runs on device i mod 2 (absent: the backend picks)
 *   [files]                         # used by scripts/fetch-models and checked at load
 *   weights_size = 3693964
 *   weights_sha256 = ...
 *   [darknet]                       # backend-specific keys, read as "darknet.KEY"
 *
 * An alias manifest names another model instead of files, and may keep only
 * some of its classes (the answers hold detections of those alone):
 *
 *   [model]
 *   name = ipcam-combined           # the alias's own name (its directory)
 *   alias = yolo-fastest-1.1-xl     # the model that runs
 *   classes = person, car, dog      # optional: the labels kept (absent: all)
 *
 * An alias takes no other [model] key; its target is looked up when a job
 * names it (core/pool), so an alias of a missing model loads here and is
 * refused there with a message naming the target.
 *
 * Loading checks everything a worker would trip on later, without running
 * anything: the files exist and are regular, sizes are sane, the label
 * count equals the classes of the cfg's last [yolo]/[region] layer.
 * Safe to call in the master (it reads a few small files).
 */
#ifndef VG_MODEL_H
#define VG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VG_MODEL_MANIFEST   "model.conf"
#define VG_MODEL_NAME_MAX   64          /* bytes of a model name */
#define VG_MODEL_MAX_LABELS 10000       /* classes */
#define VG_MODEL_LABEL_MAX  128         /* bytes of one label */
#define VG_MODEL_MAX_SIDE   8192        /* network input width/height */
#define VG_MODEL_MAX_WORKERS 64
#define VG_MODEL_MAX_BATCH  64
#define VG_MODEL_MAX_DEVICES 64         /* entries of `devices` */

/* How an image becomes the network input (and how boxes map back). */
enum vg_resize {
    VG_RESIZE_STRETCH = 0,     /* to the network size, aspect ratio lost (AlexeyAB letter_box=0) */
    VG_RESIZE_LETTERBOX = 1    /* kept aspect ratio on a grey canvas (libdarknet 2018, letter_box=1) */
};

/* How NMS measures overlap: AlexeyAB's darknet nms_kind (src/box.c). */
enum vg_nms_kind {
    VG_NMS_DEFAULT = 0,        /* IoU (do_nms_sort; libdarknet 2018's only kind) */
    VG_NMS_GREEDY = 1,         /* greedynms: DIoU, IoU - (d2/c2)^0.6 (box_diou) */
    VG_NMS_DIOU = 2            /* diounms: IoU - (d2/c2)^beta_nms (box_diounms) */
};

typedef struct vg_model {
    char *name;                /* [A-Za-z0-9._-], <= VG_MODEL_NAME_MAX */
    char *dir;                 /* absolute model directory */
    char *description;         /* "" if none */
    char *backend;             /* "auto", a backend name, or a plugin path */
    char *cfg_path;            /* absolute; NULL if the manifest has none */
    char *weights_path;        /* absolute; NULL if none */
    char *names_path;          /* absolute; NULL: the manifest has no `names`, the plugin must
                                  supply the labels (vg_model_set_labels() then installs them) */
    char **labels;             /* `classes` NUL-terminated labels; NULL (and classes 0) while
                                  names_path is NULL and none were installed */
    int classes;
    int input_w, input_h;      /* from the manifest, else the cfg; 0 if neither says */
    float threshold;           /* (0, 1] */
    float nms;                 /* [0, 1] */
    int nms_kind;              /* VG_NMS_*: the manifest's `nms_kind`, else the cfg's last [yolo] */
    float beta_nms;            /* (0, 16]: the manifest's, else that layer's, else 0.6 */
    const char *nms_kind_from; /* static: "manifest", "cfg", or "default" (no cfg) */
    int resize;                /* VG_RESIZE_*: the manifest's `resize`, else the cfg's [net] letter_box */
    const char *resize_from;   /* static: "manifest", "cfg", or "default" (no cfg: letterbox) */
    unsigned workers;          /* 0 = server default */
    unsigned batch;            /* >= 1 */
    unsigned threads;          /* >= 1 */
    uint64_t weights_size;     /* expected size, 0 = unchecked */
    char *weights_sha256;      /* lowercase hex, or NULL */
    char *alias;               /* an alias manifest: the model it names; NULL for a model */
    char **alias_classes;      /* the labels an alias keeps (NUL-terminated); NULL: all */
    int alias_nclasses;        /* <= VG_MODEL_MAX_LABELS */
    int devices[VG_MODEL_MAX_DEVICES]; /* `devices`: worker i gets devices[i % ndevices] */
    int ndevices;              /* 0: none given */
    char *manifest;            /* absolute path of model.conf, for messages */
    size_t nkeys;              /* every manifest key, for vigia_manifest.get() */
    char **keys;               /* "key" for [model], "section.key" otherwise */
    char **values;
    int *lines;                /* the manifest line of each key */
} vg_model;

/*
 * Reads DIR/model.conf and checks the files it names; a DIR without one
 * that holds one .onnx graph and one labels file reads as a manifest naming
 * them (pipeline/model_auto.h). On error returns
 * VG_E_MANIFEST (or -ENOMEM) with a one-line message in err naming the
 * file and the problem.
 */
int vg_model_load(const char *dir, vg_model **out, char *err, size_t errlen);
void vg_model_destroy(vg_model *model);

/* A manifest key ("threads", "darknet.foo"), or NULL when absent. */
const char *vg_model_get(const vg_model *model, const char *key);

/*
 * Typed reads of a manifest key (what vigia_manifest's getters call). Each
 * returns 0 with *out set (to `def` when the key is absent or empty), or
 * VG_E_MANIFEST with "MANIFEST:LINE: KEY: why" in err.
 *   int:    a decimal integer in [lo, hi]
 *   float:  a finite number in [lo, hi]
 *   bool:   true/false, yes/no, on/off, 1/0
 *   string: any string, or one of `choices` (NULL-terminated) when given;
 *           *out points into the model
 */
int vg_model_get_int(const vg_model *model, const char *key, long long lo, long long hi, long long def,
                     long long *out, char *err, size_t errlen);
int vg_model_get_float(const vg_model *model, const char *key, double lo, double hi, double def,
                       double *out, char *err, size_t errlen);
int vg_model_get_bool(const vg_model *model, const char *key, int def, int *out, char *err, size_t errlen);
int vg_model_get_string(const vg_model *model, const char *key, const char *const *choices, const char *def,
                        const char **out, char *err, size_t errlen);

/*
 * Refuses keys of [section] that are not in `keys` (NULL-terminated, names
 * without the section): 0, or VG_E_MANIFEST with "MANIFEST:LINE:
 * section.KEY: unknown key ..." naming `who` (the backend) and what it reads.
 */
int vg_model_check_section(const vg_model *model, const char *section, const char *const *keys,
                           const char *who, char *err, size_t errlen);

/*
 * Installs labels a plugin supplied for a model without a names file
 * (names_path NULL, none installed yet): copies `n` counted strings, each
 * non-empty, at most VG_MODEL_LABEL_MAX bytes and without a NUL, n in
 * [1, VG_MODEL_MAX_LABELS]. Errors: VG_E_INVAL (a message in err: the
 * model has a names file or labels already, or a label is bad), -ENOMEM.
 */
int vg_model_set_labels(vg_model *model, const vg_str *labels, size_t n, char *err, size_t errlen);

/* "names file" when the labels come from the manifest's names file, else "plugin". */
const char *vg_model_labels_source(const vg_model *model);

/* The device worker `worker` runs on: devices[worker mod ndevices], or -1 when none are given. */
int vg_model_device(const vg_model *model, int worker);

/* "default", "greedynms" or "diounms" (AlexeyAB's spellings). */
const char *vg_model_nms_kind_name(int kind);

/* The DIoU exponent the model's NMS runs with: 0 = plain IoU (see vg_post_params). */
float vg_model_diou_beta(const vg_model *model);

/* 1 if `name` is a valid model name. */
int vg_model_name_valid(const char *name);

/*
 * Calls cb(ud, name, dir) for each subdirectory of models_dir holding a
 * model.conf, or with none one .onnx graph and one labels file
 * (pipeline/model_auto.h), in name order. Returns how many were found, or -errno when
 * models_dir cannot be read. A non-zero return of cb stops the scan and is
 * returned.
 */
int vg_model_scan(const char *models_dir,
                  int (*cb)(void *ud, const char *name, const char *dir), void *ud);

#endif
