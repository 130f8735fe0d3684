/*
 * detect_error: the error codes of the detection pipeline (images, models,
 * backends, workers, the pool), shared by the master and the workers.
 *
 * Every function of the pipeline modules returns 0 or a negative code. The
 * codes below live in their own block (-1000 and down) so that they never
 * collide with -errno values, which some calls also return (e.g. -ENOMEM).
 * vg_derr_str(), vg_derr_code() and vg_derr_http_status() understand both.
 */
#ifndef VG_DETECT_ERROR_H
#define VG_DETECT_ERROR_H

/* XX(name, value, short code for JSON "error.code", HTTP status, message) */
#define VG_DERR_MAP(XX)                                                                      \
    XX(INVAL,       -1001, "bad_request",     400, "invalid argument")                        \
    XX(NOMODEL,     -1002, "no_such_model",   404, "no such model")                           \
    XX(NOTIMAGE,    -1003, "unsupported_media_type", 415, "not a JPEG, PNG or WebP image")   \
    XX(DECODE,      -1004, "undecodable_image", 422, "the image could not be decoded")       \
    XX(TOOBIG,      -1005, "image_too_large", 413, "the image is too large")                  \
    XX(QUEUEFULL,   -1006, "queue_full",      429, "the model's queue is full")               \
    XX(UNAVAILABLE, -1007, "model_unavailable", 503, "no healthy worker for the model")      \
    XX(TIMEDOUT,    -1008, "deadline_exceeded", 504, "the job ran past its deadline")        \
    XX(WORKERDIED,  -1009, "worker_died",     503, "the worker died twice on this job")       \
    XX(STOPPING,    -1010, "stopping",        503, "the server is shutting down")             \
    XX(CANCELED,    -1011, "canceled",        499, "the job was canceled")                    \
    XX(BACKEND,     -1012, "backend_error",   500, "the model backend failed")                \
    XX(NOBACKEND,   -1013, "no_backend",      503, "no usable backend for the model")         \
    XX(MANIFEST,    -1014, "bad_manifest",    500, "invalid model manifest")                  \
    XX(PROTO,       -1015, "protocol_error",  500, "malformed worker message")                \
    XX(NOMEM,       -1016, "out_of_memory",   500, "out of memory")                           \
    XX(IO,          -1017, "io_error",        500, "input/output error")                      \
    XX(EXISTS,      -1018, "already_exists",  409, "the model is already loaded")             \
    XX(NOTLOADED,   -1019, "model_not_loaded", 503, "the model is not loaded")

enum vg_derr {
#define VG_DERR_ENUM(name, value, code, status, msg) VG_DERR_##name = (value),
    VG_DERR_MAP(VG_DERR_ENUM)
#undef VG_DERR_ENUM
};

/* A human message for any negative code (pipeline or -errno). Never NULL. */
const char *vg_derr_str(int err);
/* A short machine code ("queue_full", ...); "internal_error" for unknown. */
const char *vg_derr_code(int err);
/* The HTTP status an API answer should carry for this error (500 if unknown). */
int vg_derr_http_status(int err);

#endif
