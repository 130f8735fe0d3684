/*
 * pool: the master side of the detection workers, driven by a libev loop.
 *
 * A pool owns, per loaded model, N worker processes (forked at load time;
 * each dlopen()s its backend plugin and loads the model once), a bounded
 * FIFO queue of jobs, and the model's statistics. The master talks to each
 * worker over a non-blocking socketpair carrying length-prefixed msgpack
 * (core/pool/ipc.h). Nothing here blocks the loop: no image decoding, no
 * inference, no waiting for children.
 *
 * Failure handling, per job:
 *   - queue full                -> vg_pool_submit() fails with VG_E_QUEUEFULL
 *                                  (HTTP 429; vg_pool_retry_after() for Retry-After)
 *   - deadline (from submit)    -> callback VG_E_TIMEDOUT (504); a worker still
 *                                  running the job is killed and respawned
 *   - the worker dies mid-job   -> the job is retried once on another worker
 *                                  (same deadline); a second death -> VG_E_WORKERDIED (503)
 *   - no worker can start       -> queued jobs fail with VG_E_UNAVAILABLE (503)
 *   - bad image                 -> VG_E_NOTIMAGE (415), VG_E_DECODE (422),
 *                                  VG_E_TOOBIG (413); the worker keeps serving
 *   - the batch runs past the model's infer_timeout ([model] key, default
 *     job_timeout_ms)      -> VG_E_TIMEDOUT (504); the worker is killed
 * A worker that crashes, hangs past a deadline or grows past the memory cap
 * is killed and respawned with exponential backoff. A worker whose model
 * fails to load marks the model "failed" (with the reason) and is not
 * respawned until vg_pool_model_reload(). So does a crash loop: crash_limit
 * workers lost while serving (a signal, an exit, a kill past a deadline or
 * twice the memory cap) within crash_window_ms: `why` says how often, the
 * last signal and the sha256 of the image it held; queued jobs and later
 * submits fail with VG_E_MODELFAILED (503) until vg_pool_model_reload() or
 * vg_pool_model_load() starts it afresh.
 *
 * Plugin output: each worker's stdout and stderr are a pipe the pool reads
 * on the loop and logs line by line, tagged `worker MODEL#N pid P:`,
 * rate-limited per worker (core/pool/pool_output.c).
 *
 * Processes: workers are forked from the calling process. Call
 * vg_pool_create() and load models from the master before anything in it
 * initialises libvips (fork-safety; the master never should). On the
 * default loop (which reaps every child through its SIGCHLD watcher) each
 * worker gets an ev_child watcher; on any other loop the pool calls
 * waitpid() on its own pids only, never waitpid(-1). The pool ignores
 * SIGPIPE for the whole process (it writes to sockets of workers that may
 * have died).
 *
 * Callbacks run from the loop's watchers, never from inside
 * vg_pool_submit(). A call that returns an error never fires its callback;
 * one that returns 0 fires it exactly once (vg_pool_cancel(),
 * vg_pool_model_unload() and vg_pool_destroy() fire it early, synchronously,
 * with VG_E_CANCELED / VG_E_NOTLOADED / VG_E_STOPPING). A callback
 * may submit, cancel other jobs, stop the pool; it must not destroy the pool
 * (do that from vg_pool_stop()'s callback, which runs on a clean stack).
 * Error codes are in base/error.h; vg_err_http_status() maps them to
 * HTTP statuses.
 */
#ifndef VG_POOL_H
#define VG_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pipeline/postprocess.h"

struct ev_loop;

typedef struct vg_pool vg_pool;
typedef struct vg_pool_req vg_pool_req;

/* Pool-wide settings. vg_pool_options_init() fills the defaults shown. */
typedef struct vg_pool_options {
    const char *models_dir;        /* where NAME/model.conf live (NULL: the default, base/paths.h) */
    const char *backend_dir;       /* plugin directory (NULL: build tree or $(pkglibdir)/backends) */
    const char *default_model;     /* model used when a job names none (NULL: first loaded) */
    unsigned workers;              /* workers per model when its manifest says none (1) */
    unsigned queue_max;            /* jobs waiting per model, not counting running ones (64) */
    uint32_t job_timeout_ms;       /* deadline per job, from submit to answer (30000) */
    uint32_t start_timeout_ms;     /* a worker must load its model within this (120000) */
    uint32_t backoff_min_ms;       /* first respawn delay after a failure (100) */
    uint32_t backoff_max_ms;       /* respawn delay cap (30000) */
    size_t mem_cap;                /* RSS cap per worker in bytes, 0 = none; VG_POOL_MEM_CAP_AUTO: the
                                      model's weights x 2 + 256 MiB above the worker's RSS when it became
                                      ready (AUTO); a model's mem_cap overrides */
    unsigned crash_limit;          /* crashes of a model's workers within crash_window_ms that fail it,
                                      0 = never, <= 64 (5) */
    uint32_t crash_window_ms;      /* (60000) */
    size_t max_image_bytes;        /* largest encoded image accepted (32 MiB) */
    uint64_t max_image_pixels;     /* largest width*height decoded (40e6) */
    uint32_t max_image_side;       /* largest width or height (16384) */
    int full_decode;               /* decode every image whole, never reduced toward the network input (0) */
    int log_fd;                    /* fd the workers log to; -1 = their stderr (-1) */
    /* the NVR lane (see "lanes" below) */
    int nvr_priority;              /* 0: one FIFO for every job, lanes ignored (1) */
    unsigned nvr_workers;          /* workers per model that bulk jobs leave free (0) */
    unsigned nvr_burst;            /* NVR batches in a row before a waiting bulk job goes, >= 1 (8) */
} vg_pool_options;

void vg_pool_options_init(vg_pool_options *opts);

#define VG_POOL_MEM_CAP_AUTO SIZE_MAX
#define VG_POOL_MEM_CAP_MARGIN ((size_t)256 << 20)   /* auto cap: weights x 2 + this */

/*
 * Makes an empty pool on `loop`; no process is started yet. `opts` is
 * copied (the strings too). Errors: VG_E_INVAL, -ENOMEM.
 */
int vg_pool_create(struct ev_loop *loop, const vg_pool_options *opts, vg_pool **out);

/*
 * Kills every worker now (SIGKILL), fires every pending callback with
 * VG_E_STOPPING, waits for the children (briefly, blocking) and frees
 * the pool. For exit paths; use vg_pool_stop() to drain first.
 */
void vg_pool_destroy(vg_pool *pool);

/*
 * Drains: from now on vg_pool_submit() fails with VG_E_STOPPING; queued
 * and running jobs finish, then workers are told to exit. `cb` runs once on
 * the loop when every worker has exited (workers still running after
 * `grace_ms` are killed). Call vg_pool_destroy() afterwards.
 */
void vg_pool_stop(vg_pool *pool, uint32_t grace_ms, void (*cb)(void *ud), void *ud);

/* ---- models ------------------------------------------------------------ */

/*
 * Registers every model directory under models_dir (state "unloaded");
 * returns how many were found (>= 0) or a negative code. Bad manifests are
 * logged and listed with state "invalid" and the reason in `why`.
 */
int vg_pool_scan(vg_pool *pool);

/*
 * Loads model `name` (from models_dir/NAME, scanning it if not yet known):
 * forks its workers and returns; the model is "loading" until a worker
 * reports ready. `backend` overrides the manifest's backend (NULL: keep);
 * `workers` overrides the manifest's count (0: keep). Errors (with a message
 * in err): VG_E_NOMODEL, VG_E_MANIFEST, VG_E_EXISTS, -errno.
 */
int vg_pool_model_load(vg_pool *pool, const char *name, const char *backend,
                       unsigned workers, char *err, size_t errlen);

/*
 * Unloads: queued jobs of the model fail with VG_E_NOTLOADED (their
 * callbacks run inside this call), running ones finish, then its workers
 * exit. The model stays listed as "unloaded".
 * Errors: VG_E_NOMODEL, VG_E_NOTLOADED.
 */
int vg_pool_model_unload(vg_pool *pool, const char *name);

/*
 * Rolling restart (SIGHUP, new weights): re-reads the manifest and starts
 * new workers beside the old ones; each old worker retires (after its job)
 * when a new one is ready, so no request is dropped. If the new workers
 * cannot load the model the old ones keep serving and `why` says so.
 * Errors: VG_E_NOMODEL, VG_E_NOTLOADED, VG_E_MANIFEST (err says why).
 */
int vg_pool_model_reload(vg_pool *pool, const char *name, char *err, size_t errlen);

/* ---- jobs -------------------------------------------------------------- */

/*
 * Lanes. Each model has two queues: VG_POOL_LANE_NVR for callers that wait
 * on a short timeout for one image (Frigate's deepstack detector gives up
 * after 100 ms) and VG_POOL_LANE_BULK for everything else (batches,
 * compares, uploads). With nvr_priority on:
 *   - an idle worker takes NVR jobs first; a job of either lane never waits
 *     behind a later job of its own lane (each lane is FIFO);
 *   - starvation bound: after nvr_burst NVR batches in a row went out while
 *     a bulk job was waiting (and allowed to run), the next idle worker
 *     takes a bulk batch; bulk work keeps at least 1/(nvr_burst + 1) of the
 *     dispatches under any NVR load;
 *   - reserved share: bulk batches occupy at most (ready workers -
 *     nvr_workers) workers at once, never fewer than one, so with
 *     nvr_workers > 0 an NVR job finds a free worker instead of waiting
 *     for a bulk job to finish;
 *   - a batch holds jobs of one lane, and NVR jobs never wait for a fuller
 *     batch (max_queue_delay_us applies to bulk jobs);
 *   - queue_max bounds each lane on its own: a full bulk queue does not
 *     refuse NVR jobs.
 * With nvr_priority off every job goes in one FIFO (the bulk lane).
 */
enum { VG_POOL_LANE_BULK = 0, VG_POOL_LANE_NVR = 1, VG_POOL_LANES };

/* One image to run through a model. */
typedef struct vg_pool_job {
    const void *image;             /* encoded JPEG/PNG/WebP bytes */
    size_t image_len;
    /*
     * Ownership of `image`: with image_free == NULL the pool copies the
     * bytes during vg_pool_submit(). Otherwise the pool uses them in place
     * and calls image_free(image_ctx) exactly once when it no longer needs
     * them (before or right after the callback) -- but only if submit
     * returned 0; on a failed submit the caller keeps ownership.
     */
    void (*image_free)(void *image_ctx);
    void *image_ctx;
    float min_confidence;          /* (0, 1]; < 0 = the model's default threshold */
    float nms;                     /* IoU for NMS in [0, 1]; < 0 = the model's default */
    const char *const *classes;    /* keep only these labels (NULL: all); copied */
    size_t nclasses;
    int annotate;                  /* also return an annotated JPEG */
    int jpeg_quality;              /* of that JPEG, 1..100; 0 = 85 */
    uint32_t deadline_ms;          /* 0 = the pool's job_timeout_ms */
    int lane;                      /* VG_POOL_LANE_BULK (0) or VG_POOL_LANE_NVR */
    int live;                      /* a live stream's frame: another node drops it when late, never retries it */
    int attributes;                /* VG_ATTR_* (pipeline/colors.h): what to estimate per detection; 0 = none */
    /*
     * An overlay job (MJPEG overlays, docs/events.md): the worker runs no
     * model, it draws this on the image and answers the JPEG (of
     * jpeg_quality) with no detections; copied. Dropped first: refused
     * (VG_E_QUEUEFULL) when it would wait behind other jobs, never sent to
     * another node.
     */
    const struct vg_overlay *overlay;
} vg_pool_job;

/*
 * vg_detection (postprocess.h): class_id, label, confidence (0, 1] and
 * x_min, y_min, x_max, y_max: inclusive pixels of the auto-rotated image.
 */

/*
 * What the callback gets. Valid only during the callback, except `jpeg`:
 * the callback may take it by copying the pointer and setting res->jpeg to
 * NULL; it must then free() it.
 */
typedef struct vg_pool_result {
    const char *model;             /* model name */
    const char *backend;           /* backend that ran it ("darknet", "cpu", ...) */
    const char *message;           /* error detail when status != 0, else "" */
    int width, height;             /* image size after auto-rotation; 0 if unknown */
    size_t count;                  /* detections, sorted by confidence, highest first */
    const vg_detection *detections;
    uint64_t queue_us;             /* submit -> sent to the worker (last attempt) */
    uint64_t decode_us;            /* decode + letterbox, in the worker */
    uint64_t infer_us;             /* backend infer() */
    uint64_t post_us;              /* NMS, thresholds, box mapping */
    uint64_t annotate_us;          /* drawing + JPEG encoding; 0 if not asked */
    uint64_t total_us;             /* submit -> callback */
    uint8_t *jpeg;                 /* annotated JPEG (malloc'd) or NULL */
    size_t jpeg_len;
    int attempts;                  /* 1, or 2 when retried after a worker died */
    int worker_pid;                /* the worker that answered; 0 if none */
    int batch;                     /* jobs in the batch it ran in (dynamic batching); 0 if never sent */
    int task;                      /* VG_POOL_TASK_* of the model that ran it: CLASSIFY's detections are
                                      classes of the whole image, highest first */
} vg_pool_result;

/*
 * status is 0 or a negative VG_E_* code; `res` is never NULL (on error,
 * res->message says why and only model/width/height/timings may be set).
 */
typedef void (*vg_pool_cb)(int status, vg_pool_result *res, void *ud);

/*
 * Queues a job for `model` (NULL or "": the default model). Returns 0 and
 * sets *req (if req is not NULL; the handle is valid until the callback
 * starts), or fails without firing cb:
 *   VG_E_NOMODEL      no such model (404)
 *   VG_E_NOTLOADED    listed but not loaded (503)
 *   VG_E_UNAVAILABLE  failed model / no worker can run (503)
 *   VG_E_QUEUEFULL    the model's queue (of the job's lane) is full (429)
 *   VG_E_TOOBIG       image_len > max_image_bytes (413)
 *   VG_E_NOTIMAGE     empty image (415)
 *   VG_E_INVAL        bad option, lane or unknown class label (400; err says which)
 *   VG_E_STOPPING     the pool is draining (503)
 *   -ENOMEM
 * `err` (may be NULL) receives a message on failure.
 */
int vg_pool_submit(vg_pool *pool, const char *model, const vg_pool_job *job,
                   vg_pool_cb cb, void *ud, vg_pool_req **req,
                   char *err, size_t errlen);

/*
 * The caller no longer wants the answer (its client went away): fires the
 * callback now, synchronously, with VG_E_CANCELED. A job already running
 * in a worker finishes there and its answer is dropped. Must not be called
 * after the callback has started.
 */
void vg_pool_cancel(vg_pool_req *req);

/* Seconds a client refused with VG_E_QUEUEFULL should wait (>= 1). */
unsigned vg_pool_retry_after(const vg_pool *pool, const char *model);

/* ---- jobs elsewhere (multi-node mode) ------------------------------------ */

struct vg_jsonw;

/*
 * Where jobs go that this pool cannot take: another node (core/cluster
 * hands it in; the pool never names it). vg_pool_submit() offers a job to
 * `submit` when the local answer would be VG_E_NOMODEL, VG_E_NOTLOADED,
 * VG_E_UNAVAILABLE, VG_E_MODELFAILED or VG_E_QUEUEFULL (the model is not
 * here, or its queue is full). `submit` follows vg_pool_submit()'s
 * contract (0 and exactly one later callback, or an error and none; it
 * copies what it keeps of `job`, and the pool releases the caller's image
 * (image_free) as soon as it returns 0) and sets *handle; on its error the pool
 * answers with it, except that a full local queue stays VG_E_QUEUEFULL.
 * `cancel` forgets a handle without calling back (vg_pool_cancel() then
 * answers VG_E_CANCELED itself). `describe` writes the members of a JSON
 * object (the cluster view of /v1/models); it may be NULL.
 */
typedef struct vg_pool_remote {
    int (*submit)(void *ctx, const char *model, const vg_pool_job *job, vg_pool_cb cb, void *ud,
                  void **handle, char *err, size_t errlen);
    void (*cancel)(void *ctx, void *handle);
    void (*describe)(void *ctx, struct vg_jsonw *w);
    void *ctx;
} vg_pool_remote;

/* Sets (or with NULL clears) where jobs go that the pool cannot take; copied. */
void vg_pool_set_remote(vg_pool *pool, const vg_pool_remote *remote);
/* 1 when a remote is set. */
int vg_pool_has_remote(const vg_pool *pool);
/* Writes the remote's members into the open JSON object w; 0 when there is no remote. */
int vg_pool_remote_describe(const vg_pool *pool, struct vg_jsonw *w);

/* ---- state and statistics (for /v1/models, /ready, /metrics) --------- */

/*
 * Dynamic batching, per model, from the manifest's [batching] section:
 *   max_batch = N            jobs sent to a worker at once, 1..the backend's batch
 *                            (absent: the backend's batch; 1: batching off)
 *   max_queue_delay_us = D   an idle worker waits up to D microseconds, counted
 *                            from the arrival of the oldest waiting job, for the
 *                            queue to hold max_batch jobs (absent or 0: it takes
 *                            what is waiting at once)
 * as Triton's dynamic batcher does. A full batch leaves at once; a draining
 * pool never waits.
 */
#define VG_POOL_MAX_BATCH 64
/* What a model's workers said it does (ABI 2's task, vigia/backend.h): vg_pool_model_stats.task. */
#define VG_POOL_TASK_DETECT 0
#define VG_POOL_TASK_CLASSIFY 1
#define VG_POOL_MAX_QUEUE_DELAY_US 10000000u

/* Upper bounds (ms) of the latency histogram buckets; the last is +Inf. */
#define VG_POOL_HIST_BUCKETS 14
extern const double vg_pool_hist_bounds_ms[VG_POOL_HIST_BUCKETS];

typedef struct vg_pool_model_stats {
    const char *name;
    const char *state;             /* "unloaded", "loading", "ready", "degraded" (some workers
                                      down), "failed", "unloading", "invalid" */
    const char *why;               /* backend choice or failure reason; "" if none */
    const char *backend;           /* running backend, or the manifest's ("auto") before load */
    const char *device;            /* as the backend describes it; "" before load */
    const char *resize;            /* input geometry: "stretch" | "letterbox" (the manifest's before load) */
    const char *resize_why;        /* "manifest", "cfg", "default", or "backend NAME only letterboxes" */
    const char *head, *head_from;  /* a detector's output layout ("yolov8") and "detected" | "manifest"; "" none */
    const char *description;       /* from the manifest */
    const char *alias;             /* an alias: the model it names (its figures are that model's); NULL */
    int input_w, input_h;          /* network input */
    int classes;
    int task;                      /* VG_POOL_TASK_DETECT | VG_POOL_TASK_CLASSIFY (detect before load) */
    const char *const *labels;     /* `classes` names; an alias's: those it keeps (0: all its model's);
                                      NULL while a model without a names file has no ready worker */
    const char *labels_from;       /* "names file", "plugin" (no names file), or "" (an alias) */
    float threshold, nms;          /* manifest defaults */
    const char *nms_kind;          /* "default" | "greedynms" | "diounms"; "" for an alias */
    const char *nms_kind_from;     /* "manifest", "cfg" or "default"; "" for an alias */
    float nms_diou_beta;           /* the DIoU exponent NMS runs with; 0 = plain IoU */
    unsigned workers;              /* configured */
    unsigned workers_ready;        /* alive and loaded */
    unsigned workers_busy;         /* running a job */
    unsigned queue_depth, queue_max;    /* both lanes together; queue_max per lane */
    unsigned queue_depth_nvr;      /* of queue_depth, jobs in the NVR lane */
    uint64_t jobs_ok;              /* answered with detections */
    uint64_t jobs_failed;          /* answered with an error (bad images included) */
    uint64_t jobs_rejected;        /* refused at submit: queue full */
    uint64_t jobs_timedout;
    uint64_t jobs_retried;
    uint64_t restarts;             /* workers respawned */
    uint64_t crashes;              /* workers that died or were killed */
    double p50_ms, p90_ms, p99_ms; /* total latency over the last 1024 answers; 0 if none */
    double infer_p50_ms;           /* backend time, same window */
    uint64_t hist[VG_POOL_HIST_BUCKETS]; /* total latency counts per bucket (not cumulative) */
    double hist_sum_ms;            /* sum of all observed totals */
    uint64_t queue_us_sum, decode_us_sum, infer_us_sum, post_us_sum; /* phases summed over answers */
    int64_t last_answer_ms;        /* wall clock of the last answer, ms since the epoch; 0 if none */
    /* dynamic batching */
    unsigned max_batch;            /* jobs per batch now (0 before a worker is ready) */
    unsigned backend_batch;        /* the largest batch the backend takes (0 before ready) */
    uint32_t max_queue_delay_us;   /* from the manifest */
    uint64_t batches;              /* batches sent to workers */
    uint64_t batched_jobs;         /* jobs in them (batched_jobs / batches = mean size) */
    uint64_t batch_sizes[VG_POOL_MAX_BATCH + 1]; /* batches by size (index = size) */
    /* throughput */
    double answers_per_s;          /* answers in the last 60 s (or since load) per second */
    double infer_p90_ms, infer_p99_ms;
} vg_pool_model_stats;

/* Number of models listed (loaded or not). */
size_t vg_pool_model_count(const vg_pool *pool);
/*
 * Statistics of the i-th listed model (0 <= i < count), or by name with
 * vg_pool_model_stats_by_name(). Strings stay valid until the next pool call
 * that loads, unloads, reloads or scans. Errors: VG_E_NOMODEL.
 */
int vg_pool_model_stats_at(const vg_pool *pool, size_t i, vg_pool_model_stats *out);
int vg_pool_model_stats_by_name(const vg_pool *pool, const char *name, vg_pool_model_stats *out);

/* One live worker process of a model (for /v1/models/{name} and tests). */
typedef struct vg_pool_worker_info {
    int pid;
    int index;                     /* number within the model, increasing with respawns */
    int slot;                      /* 0 .. workers-1, kept by a respawned worker (its device) */
    const char *device;            /* where it runs, once ready ("" before); valid like `state` */
    const char *state;             /* "starting", "ready", "retiring" */
    int busy;                      /* jobs in flight */
    size_t rss;                    /* resident bytes, last known (0 if not yet) */
    double uptime_s;
} vg_pool_worker_info;

/*
 * Fills up to `max` entries about the model's live workers and returns how
 * many there are (possibly more than max), or VG_E_NOMODEL.
 */
int vg_pool_model_workers(const vg_pool *pool, const char *name, vg_pool_worker_info *out, size_t max);

/* Name of the default model, or NULL if none is loaded. */
const char *vg_pool_default_model(const vg_pool *pool);
/* The default model the options named (loaded or not), or NULL when they named none. */
const char *vg_pool_configured_default(const vg_pool *pool);
/*
 * Why the default model the options named cannot serve: 1 with a sentence
 * in why (it is not in the models folder, or its manifest is invalid, and
 * what to do), 0 when it can or none was named.
 */
int vg_pool_default_problem(const vg_pool *pool, char *why, size_t whylen);
/* 1 when every loaded model has at least one ready worker (and one is loaded). */
int vg_pool_is_ready(const vg_pool *pool);

#endif
