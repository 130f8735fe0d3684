/*
 * pool_internal: what the files of the pool share (pool.h is the contract;
 * nothing outside core/pool/ includes this).
 *
 * Objects:
 *   vg_pool  -> models[] (every listed model, loaded or not)
 *   model    -> its workers (list), its queues of jobs (a FIFO per lane), its stats
 *   worker   -> a child process, its socket, its in-flight jobs (one batch)
 *   job      -> one submitted image (the vg_pool_req handle)
 *
 * A job is QUEUED (in its model's queue), SENT (in a worker's in-flight
 * batch) or DONE. It completes exactly once (vg_pool__complete()); after
 * that it may linger, callback-less, only while a worker still holds it (a
 * canceled job whose bytes are on their way), and is freed when the worker
 * answers or dies.
 *
 * A worker is STARTING (forked, loading), READY (serving), or gone: its
 * socket closed, its pid on the zombie list until waitpid() reaps it.
 * Losing a worker (EOF, protocol error, deadline kill, memory cap) goes
 * through vg_pool__worker_lost(), which retries or fails its jobs and
 * schedules a respawn with backoff.
 *
 * The files, one per part of the job:
 *   pool_lifecycle.c  options, create, stop (drain), destroy
 *   pool_model.c      manifests, the model list, load / unload / reload
 *   pool_queue.c      jobs: submit, the per-model queue, dynamic batching, completion
 *   pool_proc.c       worker processes: spawn, respawn with backoff, reaping, memory cap
 *   pool_io.c         the worker sockets: JOB frames out, READY / RESULT / FATAL in
 *   pool_stats.c      latency window, histograms, per-model and per-worker figures
 * Everything runs on the pool's loop, one callback at a time.
 */
#ifndef VG_POOL_INTERNAL_H
#define VG_POOL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <ev.h>

#include "base/buf.h"
#include "base/list.h"
#include "pipeline/model.h"
#include "pool/ipc.h"
#include "pool/pool.h"

#define VG_POOL__LAT_WINDOW 1024   /* answers kept for percentiles */

enum job_state { J_QUEUED, J_SENT, J_DONE, J_REMOTE };
enum worker_state { W_STARTING, W_READY, W_GONE };
enum model_state { M_UNLOADED, M_LOADING, M_READY, M_DEGRADED, M_FAILED, M_UNLOADING, M_INVALID };

/*
 * A worker's captured stdout and stderr (pool_output.c): per worker at most
 * VG_POOL_OUT_LINES lines and VG_POOL_OUT_BYTES bytes a second reach the
 * log; lines are cut at VG_POOL_OUT_LINE bytes.
 */
#define VG_POOL_OUT_LINES 20
#define VG_POOL_OUT_BYTES (64 * 1024)
#define VG_POOL_OUT_LINE  1024

typedef struct vg_pool_out {
    int fd;                        /* read end of the worker's stdout/stderr pipe; -1 when closed */
    ev_io io;
    char line[VG_POOL_OUT_LINE];   /* the line being assembled */
    size_t len;
    int cutting;                   /* dropping the rest of a line that was too long */
    ev_tstamp window;              /* start of the current one-second window (loop time) */
    unsigned lines;                /* lines logged in it */
    size_t bytes;                  /* bytes logged in it */
    unsigned long long suppressed; /* lines held back since the last report */
    ev_timer report;               /* reports them when their window is over */
} vg_pool_out;

#define VG_POOL_CRASHES_MAX 64     /* largest workers.crash_limit */

typedef struct model model;
typedef struct worker worker;
typedef struct job job;

/* A model's manifest, shared by the workers started from it (reload keeps two). */
typedef struct def {
    vg_model *m;
    int refs;                      /* the model's current pointer + each worker */
    unsigned max_batch;            /* [batching] max_batch; 0 = the backend's batch */
    uint32_t delay_us;             /* [batching] max_queue_delay_us */
    size_t mem_cap;                /* RSS cap per worker: [model] mem_cap, else the pool's; 0 = none */
    int mem_cap_growth;            /* auto: mem_cap (weights x 2 + 256 MiB) counts above the RSS the
                                      worker had when it became ready (a CUDA context, the weights) */
    uint32_t infer_timeout_ms;     /* [model] infer_timeout, else the pool's job_timeout_ms */
} def;

_Static_assert(VG_POOL_MAX_BATCH == VG_MODEL_MAX_BATCH, "pool.h and model.h disagree on the largest batch");

struct job {
    vg_pool *pool;
    model *m;
    vg_pool_cb cb;                 /* NULL once completed */
    void *ud;
    enum job_state state;
    uint64_t id;
    const uint8_t *image;
    size_t image_len;
    void (*image_free)(void *);
    void *image_ctx;
    uint8_t *image_copy;           /* when the pool copied the bytes */
    float threshold, nms;
    uint8_t *mask;                 /* classes bytes, or NULL */
    size_t mask_len;
    int annotate, quality;
    int attributes;                /* VG_ATTR_* asked for */
    vg_overlay *overlay;           /* an overlay job's drawing (malloc'd), or NULL */
    int lane;                      /* VG_POOL_LANE_*: the queue it waits in */
    int attempts;                  /* times sent to a worker */
    int batch;                     /* size of the batch it was last sent in */
    uint64_t submit_us, sent_us;
    ev_tstamp deadline;            /* loop time */
    ev_timer timer;
    worker *w;                     /* while SENT */
    vg_buf hdr;                    /* the JOB frame prefix while being written */
    vg_link qlink;                 /* in its model's queue of its lane while QUEUED */
    void *remote;                  /* J_REMOTE: the remote's handle (m is NULL then) */
};

struct worker {
    model *m;
    def *d;                        /* manifest it was started with */
    int gen;                       /* model generation (reload) */
    int index;                     /* unique within the model, growing: each process its own */
    int slot;                      /* 0 .. target-1, reused by its replacement: the manifest's
                                      `worker`, so its device; names it in the log (see spawn_worker) */
    char device[128];              /* where it runs, from its READY */
    enum worker_state state;
    int retiring;                  /* takes no new job; QUIT when idle */
    int quit_sent;
    pid_t pid;
    int fd;
    ev_io rio, wio;
    ev_timer start_timer;
    ev_child cw;                   /* on the default loop, which reaps every child itself */
    int use_cw;
    int exited, status;            /* from cw: the child is reaped */
    vg_frame_reader rd;
    struct iovec out[2 * VG_MODEL_MAX_BATCH + 1];
    int nout, outi;                /* pending iovecs, first not fully written */
    job *inflight[VG_MODEL_MAX_BATCH];
    int ninflight;
    int max_batch;
    size_t rss;
    size_t mem_cap;                /* its cap in bytes once READY (def's, plus its RSS then if growth); 0 = none */
    uint64_t started_us;
    int lost_starting;             /* died before READY */
    char lost_why[96];             /* why it was lost, when it counts as a crash */
    int crashed;                   /* lost while serving, unasked: counted in the crash window once
                                      reaped, unless a SIGKILL from outside ended it */
    int fault_kill;                /* we killed it for the plugin's fault (deadline, infer_timeout,
                                      twice the memory cap): counted whatever the signal */
    char crash_image[65];          /* sha256 (hex) of the image it held when lost; "" if none */
    ev_timer infer_timer;          /* the batch it runs must be answered within infer_timeout */
    vg_pool_out output;            /* its stdout and stderr */
    vg_link link;                  /* in its model's workers, or the pool's zombies */
};

typedef struct lat {
    float total_ms, infer_ms;
    uint64_t done_us;              /* when it was answered (monotonic) */
} lat;

struct model {
    vg_pool *pool;
    char *name;
    def *d;                        /* current manifest; NULL if invalid or never read */
    def *next_d;                   /* reload in progress: the new manifest */
    enum model_state state;
    int loaded;                    /* between load and unload */
    int gen;
    char *backend_override;
    unsigned target;               /* workers wanted */
    vg_list workers;               /* live workers, newest first (worker.link) */
    int next_index;                /* the next worker's index */
    vg_list queue[VG_POOL_LANES];  /* QUEUED jobs per lane, oldest first (job.qlink) */
    unsigned nvr_streak;           /* NVR batches sent in a row while bulk jobs could have gone */
    unsigned start_fails;          /* consecutive */
    unsigned crash_streak;         /* consecutive losses, for the backoff */
    int ever_ready;                /* a worker of this load became ready */
    uint64_t crash_us[VG_POOL_CRASHES_MAX]; /* when workers crashed, newest at crash_pos - 1 (ring) */
    unsigned crash_pos, crash_len;
    int fail_status;               /* what submit answers while failed: VG_E_UNAVAILABLE or VG_E_MODELFAILED */
    ev_timer respawn;
    /* what workers said */
    char backend[32], device[128], why[1024], fail[1024];
    char resize[16], resize_why[128];   /* the input geometry the workers use, and why */
    char head[16], head_from[16];       /* a detector's output layout and where it came from; "" none */
    int input_w, input_h, classes;
    int task;                    /* VG_POOL_TASK_* the ready workers reported */
    /* stats */
    uint64_t ok, failed, rejected, timedout, retried, restarts, crashes;
    lat window[VG_POOL__LAT_WINDOW];
    unsigned wpos, wlen;
    uint64_t hist[VG_POOL_HIST_BUCKETS];
    double hist_sum;
    uint64_t phase_us[4];          /* summed over answers: queue, decode, infer, postprocess */
    int64_t last_ok_ms;            /* wall clock of the last answer, ms since the epoch; 0 if none */
    uint64_t loaded_us;            /* when it was last loaded, for the answer rate */
    /* dynamic batching */
    ev_timer batch_timer;          /* an idle worker waits for a fuller batch until this fires */
    int backend_batch;             /* what the last ready worker's backend takes */
    uint64_t batches, batched_jobs;
    uint64_t batch_sizes[VG_POOL_MAX_BATCH + 1];
};

struct vg_pool {
    struct ev_loop *loop;
    vg_pool_options o;
    char *models_dir, *backend_dir, *default_model;
    model **models;
    size_t nmodels;
    uint64_t next_id;
    vg_list zombies;               /* lost workers not yet reaped (worker.link) */
    ev_timer reap_timer;
    ev_timer mem_timer;
    int stopping;
    void (*stop_cb)(void *);
    void *stop_ud;
    ev_timer stop_timer;           /* grace period */
    ev_timer stop_done_timer;      /* fires stop_cb from a clean stack */
    ev_prepare kick;               /* dispatches what submit queued, outside submit */
    int stop_done;
    char scratch[64];
    vg_pool_remote remote;         /* where jobs go that no local worker can take; submit NULL: none */
};

/*
 * Defines `name`, the libev callback of a watcher of type `type` (ev_timer,
 * ev_io, ...), as a call of fn(watcher->data): every pool watcher runs on
 * the pool's loop and none needs revents, so each handler is a function of
 * its object (model, worker, job or pool) alone. Put `static` before it for
 * a file's own callback.
 */
#define VG_POOL__EV_CB(name, type, fn)                      \
    void name(struct ev_loop *loop, type *watcher, int revents) \
    {                                                       \
        (void)loop;                                         \
        (void)revents;                                      \
        fn(watcher->data);                                  \
    }

/* ---- shared helpers (pool_lifecycle.c) ---- */

/* Monotonic clock in microseconds. */
/* snprintf into err (when err and errlen are set). */
void vg_pool__copy_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* When stopping and every job is done: QUIT every worker; once all are reaped, fire the stop callback. */
void vg_pool__maybe_finish_stop(vg_pool *p);

/* ---- models (pool_model.c) ---- */

def *vg_pool__def_ref(def *d);
/* Drops one reference; the last frees the manifest. NULL is a no-op. */
void vg_pool__def_unref(def *d);
/* The model called `name`, or NULL. */
model *vg_pool__alias_target(const vg_pool *p, const model *alias, char *err, size_t errlen);
model *vg_pool__find_model(const vg_pool *p, const char *name);
/* Workers alive and not retiring (only READY ones with ready_only). */
int vg_pool__worker_alive_count(const model *m, int ready_only);
/* Recomputes m->state from its workers (loading, ready, degraded, ...). */
void vg_pool__model_update_state(model *m);
/*
 * Marks the model failed with `reason` and fails its queue with `status`
 * (VG_E_UNAVAILABLE: it cannot load; VG_E_MODELFAILED: its workers crash),
 * which submit answers from then on; idle workers of it are told to quit.
 */
void vg_pool__model_fail(model *m, int status, const char *reason);

/* ---- jobs, queue, batching (pool_queue.c) ---- */

/* Puts a job in its model's queue of its lane (at the front for a retry). */
void vg_pool__queue_push(model *m, job *j, int front);
/* Jobs waiting in the model's queues, every lane. */
unsigned vg_pool__queued(const model *m);
void vg_pool__job_free(job *j);
/* Completes a job: its callback runs now, exactly once (see pool_queue.c). */
void vg_pool__complete(job *j, int status, const char *msg, const vg_ipc_result *r, const def *d, int pid);
/* Fails every queued job of the model. */
void vg_pool__fail_queue(model *m, int status, const char *msg);
/* Sends queued jobs to idle workers (see pool_queue.c for the batching rule). */
void vg_pool__dispatch(model *m);
void vg_pool__on_batch_timer(struct ev_loop *loop, ev_timer *t, int revents);

/* ---- worker processes (pool_proc.c) ---- */

/* Starts workers until the model has its target (current generation, not retiring). */
void vg_pool__spawn_missing(model *m, int respawn);
/* The worker is gone or must go: kill, retry or fail its jobs, respawn (see pool_proc.c). */
void vg_pool__worker_lost(worker *w, const char *why);
/* Frees a worker that is on no list (reaped, or given up on by destroy). */
void vg_pool__worker_free(worker *w);
void vg_pool__on_respawn(struct ev_loop *loop, ev_timer *t, int revents);
void vg_pool__on_reap_timer(struct ev_loop *loop, ev_timer *t, int revents);
void vg_pool__on_mem_timer(struct ev_loop *loop, ev_timer *t, int revents);
/* The worker's batch ran past its model's infer_timeout: its jobs get VG_E_TIMEDOUT, it is killed. */
void vg_pool__on_infer_timeout(struct ev_loop *loop, ev_timer *t, int revents);

/* ---- worker stdout and stderr (pool_output.c) ---- */

/* Starts reading fd (the read end of the worker's pipe, non-blocking; owned from now on). */
void vg_pool__output_start(worker *w, int fd);
/* Logs what the pipe still holds, closes it. Safe to call twice. */
void vg_pool__output_stop(worker *w);

/* ---- worker sockets (pool_io.c) ---- */

/* Sends a batch of jobs (already taken off the queue) to an idle worker. */
void vg_pool__worker_send(worker *w, job **jobs, int n);
/* Sends QUIT (the worker answers what it holds, then exits), at most once per worker. */
void vg_pool__worker_send_quit(worker *w);
void vg_pool__on_worker_readable(struct ev_loop *loop, ev_io *io, int revents);
void vg_pool__on_worker_writable(struct ev_loop *loop, ev_io *io, int revents);

/* ---- statistics (pool_stats.c) ---- */

/* Records one answer's latencies in the model's window and histogram. */
void vg_pool__record_latency(model *m, double total_ms, double infer_ms);
/* Adds an answer's phases to the model's sums and notes when it came (KServe's statistics). */
void vg_pool__record_phases(model *m, const vg_pool_result *res);

#endif
