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

/* Bumped on any incompatible change to the structs or the operations table. */
#define VIGIA_BACKEND_ABI_VERSION 1u
#define VIGIA_BACKEND_ENTRY "vigia_backend_entry"
#define VIGIA_ERRLEN 256

#if defined(__GNUC__)
#define VIGIA_EXPORT __attribute__((visibility("default")))
#else
#define VIGIA_EXPORT
#endif

/* Error codes (negative returns). */
#define VIGIA_EINVAL   (-1)  /* bad argument or malformed model files */
#define VIGIA_ENOENT   (-2)  /* a file named by the manifest is missing */
#define VIGIA_ENOMEM   (-3)  /* allocation failed */
#define VIGIA_ENOTSUP  (-4)  /* unsupported layer, option or batch size */
#define VIGIA_ENODEV   (-5)  /* probe: the hardware this backend needs is absent */
#define VIGIA_EBACKEND (-6)  /* any other failure inside the backend */

/* Log levels for vigia_host.log. */
enum vigia_log_level {
    VIGIA_LOG_DEBUG = 0,
    VIGIA_LOG_INFO = 1,
    VIGIA_LOG_WARN = 2,
    VIGIA_LOG_ERROR = 3
};

/*
 * Services the host offers a backend. Passed to probe() and open(); the
 * pointer stays valid for the life of the process. Any entry may be NULL
 * in a future host: check before calling.
 */
typedef struct vigia_host {
    uint32_t abi_version;          /* VIGIA_BACKEND_ABI_VERSION of the host */
    uint32_t struct_size;          /* sizeof(vigia_host) as the host built it */
    /* One log line, attributed to the backend. `msg` has no newline. */
    void (*log)(enum vigia_log_level level, const char *msg);
    void *reserved[6];
} vigia_host;

/*
 * What the host read from the model's manifest. Paths are absolute.
 * get() returns any manifest key (e.g. "threads", or a backend-specific
 * one) as a string, or NULL when absent.
 */
typedef struct vigia_manifest {
    const char *name;              /* model name */
    const char *dir;               /* the model directory */
    const char *cfg_path;          /* network description (darknet .cfg) */
    const char *weights_path;      /* weights file */
    int input_w, input_h;          /* requested input size; 0 = the cfg's */
    int max_batch;                 /* largest batch infer() will be given, >= 1 */
    int threads;                   /* compute threads the backend may use, >= 1 */
    const char *(*get)(const void *ctx, const char *key);
    const void *get_ctx;
} vigia_manifest;

/* What a loaded model is. Filled by describe(). */
typedef struct vigia_model_info {
    int input_w, input_h, input_c; /* tensor shape the model takes (CHW) */
    int classes;                   /* class count of the outputs */
    int max_batch;                 /* largest batch the backend accepts */
    const char *device;            /* where it runs, e.g. "cpu avx512", "cuda:0 NVIDIA H100" */
    double gflops;                 /* multiply-adds*2 per image, 1e9 units; 0 if unknown */
} vigia_model_info;

/*
 * Candidate detections of one image, before non-maximum suppression.
 * The host provides the arrays; the backend fills at most `capacity`
 * entries and sets `count` (if there were more, it keeps the ones with
 * the highest objectness and sets `truncated`).
 *
 * box[4*i..4*i+3] = centre x, centre y, width, height as fractions of the
 * network input (the stretched or letterboxed tensor), not of the original
 * image.
 * objectness[i] is the box's objectness (1 for models without one).
 * prob[classes*i + c] = objectness * P(class c), or 0 where that is below
 * the threshold given to infer().
 */
typedef struct vigia_candidates {
    uint32_t capacity;
    uint32_t count;
    uint32_t truncated;
    float *box;
    float *objectness;
    float *prob;
} vigia_candidates;

/* Opaque per-model state of the backend. */
typedef struct vigia_model vigia_model;

typedef struct vigia_backend {
    uint32_t abi_version;          /* must equal the host's VIGIA_BACKEND_ABI_VERSION */
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
     * Run `batch` images. `input` holds batch x C x H x W floats, planar
     * RGB in [0, 1], stretched or letterboxed (see only_resize) to the
     * size describe() reported. `out`
     * points at `batch` candidate sets. `threshold` is the lowest
     * objectness * class probability the host wants back.
     */
    int (*infer)(vigia_model *model, const float *input, int batch,
                 float threshold, vigia_candidates *out,
                 char *err, size_t errlen);

    /* Free everything open() made. Safe on any model open() returned. */
    void (*close)(vigia_model *model);

    /*
     * NULL: infer() takes the input as the host prepares it (the model's
     * `resize`: stretched or letterboxed). "letterbox": the backend stands
     * for a library that only letterboxes, and the host letterboxes every
     * input for it whatever the manifest or cfg says. (A spare slot of
     * ABI 1: older backends leave it NULL.)
     */
    const char *only_resize;

    void *reserved[7];
} vigia_backend;

/* The one exported function: returns a pointer to a static table. */
typedef const vigia_backend *(*vigia_backend_entry_fn)(void);

VIGIA_EXPORT const vigia_backend *vigia_backend_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_BACKEND_H */
