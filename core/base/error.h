/*
 * error: the one error table of vigia. Every function that can fail returns
 * 0 or a negative code: one of the VG_E_* codes below, or -errno (some calls
 * pass a system error through, e.g. -ENOMEM). The codes live in their own
 * blocks (-1001 and down for requests, images, models and workers; -1101
 * and down for the store, users and tokens) so that they never collide with
 * -errno or with each other. The functions below understand every one.
 *
 * Each entry carries what an API answer needs: the short machine code of
 * {"error":{"code"}}, the HTTP status and a message for people.
 */
#ifndef VG_ERROR_H
#define VG_ERROR_H

/* XX(name, value, short code for JSON "error.code", HTTP status, message) */
#define VG_ERR_MAP(XX)                                                                           \
    /* requests, images, models, backends, workers, the pool */                                 \
    XX(INVAL,         -1001, "bad_request",       400, "invalid argument")                        \
    XX(NOMODEL,       -1002, "no_such_model",     404, "no such model")                           \
    XX(NOTIMAGE,      -1003, "unsupported_media_type", 415, "not a JPEG, PNG or WebP image")     \
    XX(DECODE,        -1004, "undecodable_image", 422, "the image could not be decoded")         \
    XX(TOOBIG,        -1005, "image_too_large",   413, "the image is too large")                  \
    XX(QUEUEFULL,     -1006, "queue_full",        429, "the model's queue is full")               \
    XX(UNAVAILABLE,   -1007, "model_unavailable", 503, "no healthy worker for the model")        \
    XX(TIMEDOUT,      -1008, "deadline_exceeded", 504, "the job ran past its deadline")          \
    XX(WORKERDIED,    -1009, "worker_died",       503, "the worker died twice on this job")       \
    XX(STOPPING,      -1010, "stopping",          503, "the server is shutting down")             \
    XX(CANCELED,      -1011, "canceled",          499, "the job was canceled")                    \
    XX(BACKEND,       -1012, "backend_error",     500, "the model backend failed")                \
    XX(NOBACKEND,     -1013, "no_backend",        503, "no usable backend for the model")         \
    XX(MANIFEST,      -1014, "bad_manifest",      422, "invalid model manifest")                  \
    XX(PROTO,         -1015, "protocol_error",    500, "malformed worker message")                \
    XX(NOMEM,         -1016, "out_of_memory",     500, "out of memory")                           \
    XX(IO,            -1017, "io_error",          500, "input/output error")                      \
    XX(EXISTS,        -1018, "already_exists",    409, "the model is already loaded")             \
    XX(NOTLOADED,     -1019, "model_not_loaded",  503, "the model is not loaded")                 \
    XX(MODELFAILED,   -1020, "model_failed",      503, "the model's workers crash: it was stopped until reloaded") \
    XX(WRONGTASK,     -1021, "wrong_task",        400, "the model does not do what the route asks (detect or classify)") \
    /* the store: records, users, tokens */                                                     \
    XX(NOTFOUND,      -1101, "not_found",         404, "no such record")                          \
    XX(CONFLICT,      -1102, "conflict",          409, "already exists")                          \
    XX(LASTADMIN,     -1103, "last_admin",        409, "the last active admin cannot be removed or demoted") \
    XX(FULL,          -1104, "insufficient_storage", 507, "the database is full")                 \
    XX(TOKEN_REUSED,  -1105, "token_reused",      401, "refresh token used twice: the session is revoked") \
    XX(TOKEN_EXPIRED, -1106, "token_expired",     401, "the token has expired")                   \
    XX(TOKEN_REVOKED, -1107, "token_revoked",     401, "the session was revoked")                 \
    XX(STORE_IO,      -1108, "store_error",       500, "storage error")                           \
    XX(STORE_PROTO,   -1109, "store_error",       500, "malformed store message")                 \
    XX(STORE_DOWN,    -1110, "store_unavailable", 503, "the store process is not running")        \
    XX(STORE_BUSY,    -1111, "store_busy",        503, "too many writes are waiting for the store") \
    XX(SCHEMA,        -1112, "store_error",       500, "the database schema is not supported")    \
    XX(CORRUPT,       -1113, "store_error",       500, "a stored record is malformed")            \
    XX(INVALID,       -1114, "invalid",           422, "invalid value")                           \
    /* cluster (core/cluster) */                                                                  \
    XX(UNPLACED,      -1201, "model_unplaced",    503, "no node of the cluster serves the model") \
    XX(BUSDOWN,       -1202, "cluster_unavailable", 503, "the cluster bus is down")

enum vg_err {
#define VG_ERR_ENUM(name, value, code, status, msg) VG_E_##name = (value),
    VG_ERR_MAP(VG_ERR_ENUM)
#undef VG_ERR_ENUM
};

/* A human message for any negative code (the table's or -errno). Never NULL. */
const char *vg_err_str(int err);
/* A short machine code ("queue_full", ...); "out_of_memory" for -ENOMEM, else "internal_error". */
const char *vg_err_code(int err);
/* The HTTP status an API answer should carry for this error (500 if unknown, 200 for 0). */
int vg_err_http_status(int err);
/* 1 when err is one of the table's codes. */
int vg_err_known(int err);

#endif
