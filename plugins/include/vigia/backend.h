/*
 * vigia backend ABI: the one header a model backend plugin is written against.
 *
 * A backend is a shared object that a vigia worker process loads with
 * dlopen(RTLD_NOW | RTLD_LOCAL) after fork. It exports exactly one symbol,
 * VIGIA_BACKEND_ENTRY ("vigia_backend_entry"), which returns a constant
 * operations table. Nothing in this header depends on vigia internals: a
 * backend is built from one .c file with
 *
 *     cc -shared -fPIC $(pkg-config --cflags vigia-backend) mybackend.c -o mybackend.so
 *
 * Threading: every call for one model is made from one thread of one
 * worker process, never concurrently. A backend may start its own threads.
 *
 * Errors: calls return 0 on success or a negative VIGIA_E* code, and write
 * a NUL-terminated, lowercase, one-line message into the caller's `err`
 * buffer of `errlen` bytes (always at least VIGIA_ERRLEN).
 *
 * Ownership: strings and arrays passed in are owned by the host and valid
 * only for the duration of the call unless stated. Pointers the backend
 * returns in vigia_model_info stay valid until close().
 */
#ifndef VIGIA_BACKEND_H
#define VIGIA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Versions: major.minor in one number, major in the high 16 bits. A host
 * loads a plugin of its own major whatever the minor: a newer minor only
 * adds fields at the end of a table or in reserved room, and an older
 * one's missing fields read as zero, which always means "the default".
 * ABI 1 plugins (abi_version 1, the number alone) load through the host's
 * compatibility path. A new major is for incompatible changes only.
 */
#define VIGIA_ABI(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define VIGIA_ABI_MAJOR(v) ((uint32_t)(v) >= 0x10000u ? (uint32_t)(v) >> 16 : (uint32_t)(v))
#define VIGIA_ABI_MINOR(v) ((uint32_t)(v) >= 0x10000u ? (uint32_t)(v) & 0xffffu : 0u)
#define VIGIA_BACKEND_ABI_MAJOR 2u
#define VIGIA_BACKEND_ABI_MINOR 1u
#define VIGIA_BACKEND_ABI_VERSION VIGIA_ABI(VIGIA_BACKEND_ABI_MAJOR, VIGIA_BACKEND_ABI_MINOR)
#define VIGIA_BACKEND_ENTRY "vigia_backend_entry"
#define VIGIA_ERRLEN 256

#if defined(__GNUC__)
#define VIGIA_EXPORT __attribute__((visibility("default")))
#else
#define VIGIA_EXPORT
#endif

/*
 * Error codes (negative returns). From infer(), VIGIA_EAGAIN and
 * VIGIA_EFATAL say what the host does next: EAGAIN runs the batch once
 * more, EFATAL fails the model with the message (it is not used again
 * until reloaded); any other code fails this batch only.
 */
#define VIGIA_EINVAL   (-1)  /* bad argument, manifest value or model files */
#define VIGIA_ENOENT   (-2)  /* a file named by the manifest is missing */
#define VIGIA_ENOMEM   (-3)  /* allocation failed */
#define VIGIA_ENOTSUP  (-4)  /* unsupported layer, option or batch size */
#define VIGIA_ENODEV   (-5)  /* probe: the hardware this backend needs is absent */
#define VIGIA_EBACKEND (-6)  /* any other failure inside the backend */
#define VIGIA_EAGAIN   (-7)  /* transient: try the same call again (device busy, memory for now) */
#define VIGIA_EFATAL   (-8)  /* permanent: this model can no longer run (device lost) */

/* Log levels for vigia_host.log. */
enum vigia_log_level {
    VIGIA_LOG_DEBUG = 0,
    VIGIA_LOG_INFO = 1,
    VIGIA_LOG_WARN = 2,
    VIGIA_LOG_ERROR = 3
};

/*
 * Services the host offers a backend. Passed to probe() and open(); the
 * pointer stays valid for the life of the process. The table may grow at
 * its end in later minors: read an entry only when struct_size covers it,
 * and check it is not NULL.
 */
typedef struct vigia_host {
    uint32_t abi_version;          /* VIGIA_BACKEND_ABI_VERSION of the host */
    uint32_t struct_size;          /* sizeof(vigia_host) as the host built it */
    /* One log line, attributed to the backend. `msg` has no newline. */
    void (*log)(enum vigia_log_level level, const char *msg);
    void *reserved[8];
} vigia_host;

/*
 * What the host read from the model's manifest, and where this worker
 * stands. Paths are absolute. Keys are "KEY" for [model] and
 * "SECTION.KEY" for the other sections ("cpu.simd").
 *
 * The typed getters return 0 with *out set (to `def` when the key is
 * absent or empty), or VIGIA_EINVAL with a message naming the manifest
 * file, line and key ("/m/x/model.conf:7: cpu.simd: ...") in err: return
 * that code and message from open() as they are.
 */
typedef struct vigia_manifest {
    uint32_t struct_size;          /* sizeof(vigia_manifest) as the host built it */
    uint32_t reserved0;
    const char *name;              /* model name */
    const char *dir;               /* the model directory */
    const char *cfg_path;          /* network description (darknet .cfg); NULL if none */
    const char *weights_path;      /* weights file; NULL if none */
    const char *names_path;        /* labels file; NULL if none */
    int input_w, input_h;          /* requested input size; 0 = the model's own */
    int max_batch;                 /* largest batch infer() will be given, >= 1 */
    int threads;                   /* compute threads the backend may use, >= 1 */
    int worker;                    /* this worker's index within the model, 0-based */
    int device;                    /* device the host assigned ([model] devices = 0,1: worker
                                      i gets entry i mod n); -1: none assigned, the plugin picks */
    /* Any key as its raw string, or NULL when absent. */
    const char *(*get)(const struct vigia_manifest *m, const char *key);
    /* An integer in [lo, hi]. */
    int (*get_int)(const struct vigia_manifest *m, const char *key, long long lo, long long hi,
                   long long def, long long *out, char *err, size_t errlen);
    /* A finite number in [lo, hi]. */
    int (*get_float)(const struct vigia_manifest *m, const char *key, double lo, double hi,
                     double def, double *out, char *err, size_t errlen);
    /* true/false, yes/no, on/off, 1/0: *out = 1 or 0. */
    int (*get_bool)(const struct vigia_manifest *m, const char *key, int def, int *out,
                    char *err, size_t errlen);
    /* A string; when `choices` (NULL-terminated) is given, one of them. *out lives as long as m. */
    int (*get_string)(const struct vigia_manifest *m, const char *key, const char *const *choices,
                      const char *def, const char **out, char *err, size_t errlen);
    const void *host_ctx;          /* the host's, for the functions above */
    void *reserved[8];
} vigia_manifest;

/* What a model does. Room for more (keypoints, masks) in later minors. */
enum vigia_task {
    VIGIA_TASK_DETECT = 0,         /* boxes with a class and a confidence */
    VIGIA_TASK_CLASSIFY = 1        /* one score per class for the whole image */
};

/* What infer() writes into vigia_candidates. */
enum vigia_output {
    VIGIA_OUTPUT_CANDIDATES = 0,   /* detect: raw boxes, the host runs NMS on them */
    VIGIA_OUTPUT_BOXES = 1,        /* detect: final boxes, the backend ran its own NMS */
    VIGIA_OUTPUT_SCORES = 2        /* classify: scores[c] per class */
};

enum vigia_dtype {
    VIGIA_DTYPE_F32 = 0,           /* float, (pixel / 255 - mean[c]) / std[c] */
    VIGIA_DTYPE_U8 = 1,            /* the 8-bit pixel values */
    VIGIA_DTYPE_ENCODED = 2        /* no tensor: the image file's bytes, the backend decodes */
};

enum vigia_layout {
    VIGIA_LAYOUT_NCHW = 0,         /* planar: every R, then every G, then every B */
    VIGIA_LAYOUT_NHWC = 1          /* interleaved: RGBRGB... */
};

enum vigia_channels {
    VIGIA_CHANNELS_RGB = 0,
    VIGIA_CHANNELS_BGR = 1
};

enum vigia_resize {
    VIGIA_RESIZE_MODEL = 0,        /* the manifest's `resize`, else the cfg's letter_box */
    VIGIA_RESIZE_LETTERBOX = 1,    /* aspect kept on a 0.5 grey canvas (darknet) */
    VIGIA_RESIZE_STRETCH = 2,      /* to the input size, aspect ratio lost */
    VIGIA_RESIZE_NONE = 3          /* the image must already be input_w x input_h */
};

/*
 * The tensor the backend wants: all zeros is ABI 1's input (planar RGB
 * float in [0, 1], resized as the model says). mean/std are indexed in the
 * tensor's channel order (BGR: mean[0] is blue's); a std of 0 reads as 1.
 */
typedef struct vigia_input_desc {
    uint32_t dtype;                /* enum vigia_dtype */
    uint32_t layout;               /* enum vigia_layout */
    uint32_t channels;             /* enum vigia_channels */
    uint32_t resize;               /* enum vigia_resize */
    float mean[3];                 /* F32 only */
    float std[3];                  /* F32 only; 0 = 1 */
} vigia_input_desc;

/*
 * What a loaded model is. The host zeroes it and sets struct_size before
 * describe(); the backend fills what it knows, and what it leaves zero is
 * the default.
 */
typedef struct vigia_model_info {
    uint32_t struct_size;          /* set by the host */
    uint32_t task;                 /* enum vigia_task */
    int input_w, input_h, input_c; /* tensor size the model takes; input_c must be 3 */
    int classes;                   /* class count of the outputs */
    int max_batch;                 /* largest batch the backend accepts */
    uint32_t output;               /* enum vigia_output; 0 = candidates (detect) */
    const char *device;            /* where it runs, e.g. "cpu avx512", "cuda:0 NVIDIA H100" */
    double gflops;                 /* multiply-adds*2 per image, 1e9 units; 0 if unknown */
    vigia_input_desc input;        /* the tensor infer() is given */
    /* `classes` labels, valid until close(); NULL: the manifest's names file
     * (which, when the manifest has one, wins over these) */
    const char *const *labels;
    /* minor 1: a detector's output layout, valid until close(); NULL: none to say
     * (e.g. "yolov8"), and where it came from ("detected" from the output's shape,
     * "manifest") */
    const char *head, *head_from;
    void *reserved[6];
} vigia_model_info;

/* One image of a batch. */
typedef struct vigia_image {
    uint32_t struct_size;          /* sizeof(vigia_image) of the host */
    uint32_t reserved0;
    const void *data;              /* this image's tensor, or its file bytes (ENCODED) */
    size_t len;                    /* bytes at data */
    int width, height;             /* the image's own size (auto-rotated); 0 if unknown */
    void *reserved[4];
} vigia_image;

/* What infer() gets. */
typedef struct vigia_batch {
    uint32_t struct_size;          /* sizeof(vigia_batch) of the host */
    uint32_t count;                /* images, 1 .. max_batch */
    const void *input;             /* count tensors back to back, as describe() asked;
                                      NULL for ENCODED */
    const vigia_image *images;     /* count entries */
    float threshold;               /* the lowest confidence the host wants back */
    uint32_t reserved0;
    void *reserved[6];
} vigia_batch;

/*
 * The answer for one image. The host provides the arrays; infer() gets one
 * of these per image (an array: it keeps its size within a major, and new
 * fields take reserved room).
 *
 * Detect: at most `capacity` boxes, `count` set (if there were more, the
 * ones with the highest objectness are kept and `truncated` is set).
 * box[4*i..4*i+3] = centre x, centre y, width, height as fractions of the
 * network input (the stretched or letterboxed tensor), not of the original
 * image (ENCODED or NONE: of the image itself).
 * objectness[i] is the box's objectness (1 for models without one).
 * prob[classes*i + c] = objectness * P(class c), or 0 where that is below
 * the threshold.
 * Classify: scores[c] in [0, 1] for every class; count = 1.
 *
 * status: 0, or a VIGIA_E* code when this image alone failed (a corrupt
 * ENCODED image, say); its message goes in err. infer() still returns 0
 * when the others succeeded.
 */
typedef struct vigia_candidates {
    uint32_t struct_size;          /* sizeof(vigia_candidates) of the host */
    uint32_t capacity;
    uint32_t count;
    uint32_t truncated;
    float *box;
    float *objectness;
    float *prob;
    float *scores;                 /* classify: `classes` floats; NULL for detect */
    int32_t status;                /* set by the backend: 0 or a VIGIA_E* code */
    uint32_t errlen;               /* bytes at err, >= VIGIA_ERRLEN */
    char *err;                     /* this image's message when status != 0 */
    void *reserved[6];
} vigia_candidates;

/* Opaque per-model state of the backend. */
typedef struct vigia_model vigia_model;

typedef struct vigia_backend {
    uint32_t abi_version;          /* VIGIA_BACKEND_ABI_VERSION: the host's major, any minor */
    uint32_t struct_size;          /* sizeof(vigia_backend) as the backend built it */
    const char *name;              /* short name used in manifests: "cpu", "darknet", ... */
    const char *version;           /* the backend's own version string */

    /*
     * Can this backend run here? 0 = yes; VIGIA_ENODEV = no (the host
     * falls back to another backend); other codes are errors. Must not
     * crash or abort when hardware or drivers are missing. May be NULL
     * (always usable).
     */
    int (*probe)(const vigia_host *host, char *err, size_t errlen);

    /* Load a model. On success *out is set and close() must follow. */
    int (*open)(const vigia_host *host, const vigia_manifest *manifest,
                vigia_model **out, char *err, size_t errlen);

    /* Describe a model opened by open(). */
    int (*describe)(vigia_model *model, vigia_model_info *info,
                    char *err, size_t errlen);

    /*
     * Run batch->count images, prepared as describe() asked; `out` points
     * at batch->count answers. Returns 0 (per-image failures in
     * out[i].status), or a code for the whole batch (see VIGIA_EAGAIN,
     * VIGIA_EFATAL).
     */
    int (*infer)(vigia_model *model, const vigia_batch *batch,
                 vigia_candidates *out, char *err, size_t errlen);

    /* Free everything open() made. Safe on any model open() returned. */
    void (*close)(vigia_model *model);

    /*
     * The keys of this backend's own manifest section ([NAME]), without the
     * section, NULL-terminated: the host refuses any other key there at
     * load (a typo is an error naming file, line and key). NULL: the
     * backend declares none and the host checks nothing.
     */
    const char *const *keys;

    void *reserved[8];
} vigia_backend;

/* The one exported function: returns a pointer to a static table. */
typedef const vigia_backend *(*vigia_backend_entry_fn)(void);

VIGIA_EXPORT const vigia_backend *vigia_backend_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_BACKEND_H */
