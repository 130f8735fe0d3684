/*
 * pool: worker processes, per-model queues and statistics on a libev loop
 * (see pool.h for the contract).
 *
 * Objects:
 *   vg_pool  -> models[] (every listed model, loaded or not)
 *   model    -> its workers (list), its FIFO queue of jobs, its stats
 *   worker   -> a child process, its socket, its in-flight jobs (one batch)
 *   job      -> one submitted image (the vg_pool_req handle)
 *
 * A job is QUEUED (in its model's queue), SENT (in a worker's in-flight
 * batch) or DONE. It completes exactly once (complete()); after that it
 * may linger, callback-less, only while a worker still holds it (a
 * canceled job whose bytes are on their way), and is freed when the worker
 * answers or dies.
 *
 * A worker is STARTING (forked, loading), READY (serving), or gone: its
 * socket closed, its pid on the zombie list until waitpid() reaps it.
 * Losing a worker (EOF, protocol error, deadline kill, memory cap) goes
 * through worker_lost(), which retries or fails its jobs and schedules a
 * respawn with backoff.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "pool/ipc.h"
#include "base/log.h"
#include "pipeline/model.h"
#include "pool/pool.h"
#include "pool/worker.h"

#define LAT_WINDOW      1024        /* answers kept for percentiles */
#define START_FAILS_MAX 3           /* consecutive failed starts before "failed" */
#define REAP_INTERVAL   0.02        /* seconds between waitpid() sweeps */
#define MEM_INTERVAL    1.0         /* seconds between RSS polls */
#define SNDBUF_BYTES    (4 << 20)

const double vg_pool_hist_bounds_ms[VG_POOL_HIST_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, INFINITY
};

enum job_state { J_QUEUED, J_SENT, J_DONE };
enum worker_state { W_STARTING, W_READY, W_GONE };
enum model_state { M_UNLOADED, M_LOADING, M_READY, M_DEGRADED, M_FAILED, M_UNLOADING, M_INVALID };

static const char *const model_state_names[] = {
    "unloaded", "loading", "ready", "degraded", "failed", "unloading", "invalid"
};

typedef struct model model;
typedef struct worker worker;
typedef struct job job;

/* A model's manifest, shared by the workers started from it (reload keeps two). */
typedef struct def {
    vg_model *m;
    int refs;                      /* the model's current pointer + each worker */
    unsigned max_batch;            /* [batching] max_batch; 0 = the backend's batch */
    uint32_t delay_us;             /* [batching] max_queue_delay_us */
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
    int attempts;                  /* times sent to a worker */
    int batch;                     /* size of the batch it was last sent in */
    uint64_t submit_us, sent_us;
    ev_tstamp deadline;            /* loop time */
    ev_timer timer;
    worker *w;                     /* while SENT */
    vg_buf hdr;                    /* the JOB frame prefix while being written */
    job *prev, *next;              /* queue links */
};

struct worker {
    model *m;
    def *d;                        /* manifest it was started with */
    int gen;                       /* model generation (reload) */
    int index;
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
    vg_ipc_reader rd;
    struct iovec out[2 * VG_MODEL_MAX_BATCH + 1];
    int nout, outi;                /* pending iovecs, first not fully written */
    job *inflight[VG_MODEL_MAX_BATCH];
    int ninflight;
    int max_batch;
    size_t rss;
    uint64_t started_us;
    int lost_starting;             /* died before READY */
    const char *lost_why;          /* static reason when we killed it */
    worker *next;                  /* model's list, or the zombie list */
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
    worker *workers;
    int next_index;
    job *qhead, *qtail;
    unsigned qlen;
    unsigned start_fails;          /* consecutive */
    unsigned crash_streak;         /* consecutive losses, for the backoff */
    int ever_ready;                /* a worker of this load became ready */
    ev_timer respawn;
    /* what workers said */
    char backend[32], device[128], why[512], fail[512];
    int input_w, input_h, classes;
    /* stats */
    uint64_t ok, failed, rejected, timedout, retried, restarts, crashes;
    lat window[LAT_WINDOW];
    unsigned wpos, wlen;
    uint64_t hist[VG_POOL_HIST_BUCKETS];
    double hist_sum;
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
    worker *zombies;
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
};

static void dispatch(model *m);
static void worker_lost(worker *w, const char *why);
static void maybe_finish_stop(vg_pool *p);
static void model_update_state(model *m);
static void spawn_missing(model *m, int respawn);


static uint64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}


static void copy_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));


static void
copy_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


/* ---- manifests ------------------------------------------------------------- */

static def *
def_new(vg_model *vm)
{
    def *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->m = vm;
    d->refs = 1;
    return d;
}


static def *
def_ref(def *d)
{
    d->refs++;
    return d;
}


static void
def_unref(def *d)
{
    if (d && --d->refs == 0) {
        vg_model_destroy(d->m);
        free(d);
    }
}


/* ---- options ----------------------------------------------------------------- */

void
vg_pool_options_init(vg_pool_options *o)
{
    memset(o, 0, sizeof *o);
    o->workers = 1;
    o->queue_max = 64;
    o->job_timeout_ms = 30000;
    o->start_timeout_ms = 120000;
    o->backoff_min_ms = 100;
    o->backoff_max_ms = 30000;
    o->mem_cap = 0;
    o->max_image_bytes = 32u << 20;
    o->max_image_pixels = 40000000;
    o->max_image_side = 16384;
    o->log_fd = -1;
}


/* ---- jobs ------------------------------------------------------------------ */

static void
queue_remove(model *m, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        m->qhead = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        m->qtail = j->prev;
    j->prev = j->next = NULL;
    m->qlen--;
}


static void
queue_push(model *m, job *j, int front)
{
    j->state = J_QUEUED;
    j->w = NULL;
    if (front) {
        j->prev = NULL;
        j->next = m->qhead;
        if (m->qhead)
            m->qhead->prev = j;
        else
            m->qtail = j;
        m->qhead = j;
    } else {
        j->next = NULL;
        j->prev = m->qtail;
        if (m->qtail)
            m->qtail->next = j;
        else
            m->qhead = j;
        m->qtail = j;
    }
    m->qlen++;
}


static void
job_free(job *j)
{
    vg_pool *p = j->pool;
    ev_timer_stop(p->loop, &j->timer);
    if (j->image_free)
        j->image_free(j->image_ctx);
    free(j->image_copy);
    free(j->mask);
    vg_buf_release(&j->hdr);
    free(j);
}


static void
record_latency(model *m, double total_ms, double infer_ms)
{
    m->window[m->wpos].total_ms = (float)total_ms;
    m->window[m->wpos].infer_ms = (float)infer_ms;
    m->window[m->wpos].done_us = now_us();
    m->wpos = (m->wpos + 1) % LAT_WINDOW;
    if (m->wlen < LAT_WINDOW)
        m->wlen++;
    int b = 0;
    while (b < VG_POOL_HIST_BUCKETS - 1 && total_ms > vg_pool_hist_bounds_ms[b])
        b++;
    m->hist[b]++;
    m->hist_sum += total_ms;
}


/*
 * Completes a job: its callback runs now, exactly once. `r` carries the
 * worker's answer (NULL on pool-side errors). Frees the job unless a
 * worker still holds it.
 */
static void
complete(job *j, int status, const char *msg, const vg_ipc_result *r, const def *d, int pid)
{
    model *m = j->m;
    vg_pool_result res;
    vg_detection *dets = NULL;

    if (j->state == J_QUEUED)
        queue_remove(m, j);
    ev_timer_stop(j->pool->loop, &j->timer);
    vg_pool_cb cb = j->cb;
    j->cb = NULL;
    int held = j->state == J_SENT && j->w != NULL;
    j->state = held ? J_SENT : J_DONE;
    if (!cb)
        goto out;

    memset(&res, 0, sizeof res);
    res.model = m->name;
    res.backend = m->backend[0] ? m->backend : (m->d ? m->d->m->backend : "");
    res.message = msg ? msg : "";
    res.attempts = j->attempts;
    res.worker_pid = pid;
    res.batch = j->batch;
    uint64_t t = now_us();
    res.total_us = t - j->submit_us;
    res.queue_us = j->sent_us ? j->sent_us - j->submit_us : res.total_us;
    if (r) {
        res.width = r->w;
        res.height = r->h;
        res.decode_us = r->decode_us;
        res.infer_us = r->infer_us;
        res.post_us = r->post_us;
        res.annotate_us = r->annotate_us;
        if (status == 0 && r->ndet) {
            dets = malloc(r->ndet * sizeof *dets);
            if (!dets) {
                status = -ENOMEM;
                res.message = "out of memory";
            } else {
                memcpy(dets, r->dets, r->ndet * sizeof *dets);
                for (size_t i = 0; i < r->ndet; i++)
                    dets[i].label = d->m->labels[dets[i].class_id];
                res.count = r->ndet;
                res.detections = dets;
            }
        }
        if (status == 0 && r->jpeg && r->jpeg_len) {
            res.jpeg = malloc(r->jpeg_len);
            if (res.jpeg) {
                memcpy(res.jpeg, r->jpeg, r->jpeg_len);
                res.jpeg_len = r->jpeg_len;
            } else {
                status = -ENOMEM;
                res.message = "out of memory";
            }
        }
    }
    if (status == 0) {
        m->ok++;
        record_latency(m, res.total_us / 1000.0, res.infer_us / 1000.0);
    } else {
        m->failed++;
        if (status == VG_E_TIMEDOUT)
            m->timedout++;
        if (!res.message[0])
            res.message = vg_err_str(status);
    }
    cb(status, &res, j->ud);
    free(res.jpeg);
    free(dets);
out:
    if (!held)
        job_free(j);
}


static void
on_job_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    job *j = t->data;
    (void)loop;
    (void)revents;
    if (j->state == J_QUEUED) {
        complete(j, VG_E_TIMEDOUT, "the job waited in the queue past its deadline", NULL, NULL, 0);
        return;
    }
    if (j->state == J_SENT && j->w) {
        worker *w = j->w;
        model *m = w->m;
        char msg[160];
        snprintf(msg, sizeof msg, "the worker ran past the job's deadline and was killed");
        vg_warn("pool", "%s: job %llu ran past its deadline: killing worker %d (pid %d)", m->name,
                (unsigned long long)j->id, w->index, (int)w->pid);
        /* take it out of the batch first: it is answered, not retried */
        for (int i = 0; i < w->ninflight; i++)
            if (w->inflight[i] == j) {
                w->inflight[i] = w->inflight[--w->ninflight];
                break;
            }
        j->w = NULL;
        j->state = J_DONE;
        complete(j, VG_E_TIMEDOUT, msg, NULL, NULL, w->pid);
        worker_lost(w, "killed: job deadline");
        dispatch(m);
    }
}


/* ---- workers: output --------------------------------------------------------- */

static void
worker_flush(worker *w)
{
    vg_pool *p = w->m->pool;
    while (w->outi < w->nout) {
        ssize_t n = writev(w->fd, &w->out[w->outi], w->nout - w->outi);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(p->loop, &w->wio);
                return;
            }
            worker_lost(w, "socket write failed");
            return;
        }
        while (n > 0 && w->outi < w->nout) {
            struct iovec *v = &w->out[w->outi];
            if ((size_t)n >= v->iov_len) {
                n -= (ssize_t)v->iov_len;
                v->iov_len = 0;
                w->outi++;
            } else {
                v->iov_base = (char *)v->iov_base + n;
                v->iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    w->nout = w->outi = 0;
    ev_io_stop(p->loop, &w->wio);
}


static void
on_worker_writable(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    worker_flush(io->data);
}


static void
worker_push(worker *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (w->nout == 0)
        w->outi = 0;
    w->out[w->nout].iov_base = (void *)p;
    w->out[w->nout].iov_len = n;
    w->nout++;
}


static void
worker_send_quit(worker *w)
{
    static vg_buf quit;
    if (w->quit_sent || w->state == W_GONE)
        return;
    if (!quit.len)
        (void)vg_ipc_encode_quit(&quit);
    w->quit_sent = 1;
    if (w->nout >= (int)(sizeof w->out / sizeof w->out[0]))
        return;
    worker_push(w, quit.data, quit.len);
    worker_flush(w);
}


/* Sends a batch of jobs (already taken off the queue) to an idle worker. */
static void
worker_send(worker *w, job **jobs, int n)
{
    uint64_t t = now_us();
    for (int i = 0; i < n; i++) {
        job *j = jobs[i];
        vg_ipc_job ij = {
            .id = j->id, .threshold = j->threshold, .nms = j->nms,
            .class_mask = j->mask, .mask_len = j->mask_len,
            .annotate = j->annotate, .quality = j->quality,
            .image = j->image, .image_len = j->image_len,
        };
        j->hdr.len = 0;
        if (vg_ipc_encode_job(&j->hdr, &ij) != 0) {
            complete(j, VG_E_INVAL, "the job could not be encoded", NULL, NULL, 0);
            continue;
        }
        j->state = J_SENT;
        j->w = w;
        j->attempts++;
        j->batch = n;
        j->sent_us = t;
        w->inflight[w->ninflight++] = j;
        worker_push(w, j->hdr.data, j->hdr.len);
        worker_push(w, j->image, j->image_len);
    }
    if (w->ninflight) {
        model *m = w->m;
        m->batches++;
        m->batched_jobs += (uint64_t)w->ninflight;
        m->batch_sizes[w->ninflight]++;
    }
    worker_flush(w);
}


/* ---- workers: lifecycle ------------------------------------------------------ */

static int
worker_alive_count(const model *m, int ready_only)
{
    int n = 0;
    for (worker *w = m->workers; w; w = w->next)
        if (w->state != W_GONE && !w->retiring && (!ready_only || w->state == W_READY))
            n++;
    return n;
}


static void
model_update_state(model *m)
{
    if (!m->loaded) {
        if (m->state != M_INVALID)
            m->state = m->workers ? M_UNLOADING : M_UNLOADED;
        return;
    }
    if (m->state == M_FAILED)
        return;
    int ready = worker_alive_count(m, 1);
    if (ready == 0)
        m->state = m->ever_ready ? M_DEGRADED : M_LOADING;
    else
        m->state = (unsigned)ready >= m->target ? M_READY : M_DEGRADED;
}


/* Fails every queued job of the model. */
static void
fail_queue(model *m, int status, const char *msg)
{
    while (m->qhead)
        complete(m->qhead, status, msg, NULL, NULL, 0);
}


static void
model_fail(model *m, const char *reason)
{
    char why[sizeof m->why];
    snprintf(why, sizeof why, "%s", reason);   /* reason may be m->why itself */
    snprintf(m->fail, sizeof m->fail, "%s", why);
    snprintf(m->why, sizeof m->why, "%s", why);
    m->state = M_FAILED;
    ev_timer_stop(m->pool->loop, &m->respawn);
    vg_error("pool", "model %s failed: %s", m->name, why);
    fail_queue(m, VG_E_UNAVAILABLE, m->fail);
}


/* Logs how a reaped worker ended and frees it. */
static void
worker_reaped(worker *w, int st, int known)
{
    model *m = w->m;
    if (known && WIFSIGNALED(st))
        vg_info("pool", "worker %s#%d (pid %d) ended by signal %d (%s)", m->name, w->index,
                (int)w->pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (known && WIFEXITED(st) && WEXITSTATUS(st) != 0)
        vg_info("pool", "worker %s#%d (pid %d) exited with status %d", m->name, w->index,
                (int)w->pid, WEXITSTATUS(st));
    else
        vg_debug("pool", "worker %s#%d (pid %d) exited", m->name, w->index, (int)w->pid);
    if (known && w->lost_starting && WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL && !strstr(m->why, "signal")) {
        size_t used = strlen(m->why);
        if (used + 1 < sizeof m->why)
            snprintf(m->why + used, sizeof m->why - used, " (signal %d, %s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        if (m->state == M_FAILED)
            snprintf(m->fail, sizeof m->fail, "%s", m->why);
    }
    if (w->use_cw)
        ev_child_stop(m->pool->loop, &w->cw);
    def_unref(w->d);
    free(w);
}


static void
reap_sweep(vg_pool *p)
{
    worker **pp = &p->zombies;
    while (*pp) {
        worker *w = *pp;
        int st = 0, known = 0;
        if (w->use_cw) {
            if (!w->exited) {       /* libev reaps it and calls on_child */
                pp = &w->next;
                continue;
            }
            st = w->status;
            known = 1;
        } else {
            pid_t r = waitpid(w->pid, &st, WNOHANG);
            if (r == 0) {
                pp = &w->next;
                continue;
            }
            known = r == w->pid;    /* else ECHILD: someone else reaped it */
        }
        *pp = w->next;
        worker_reaped(w, st, known);
    }
    if (!p->zombies)
        ev_timer_stop(p->loop, &p->reap_timer);
    maybe_finish_stop(p);
}


static void
on_reap_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    reap_sweep(t->data);
}


static double
backoff_s(const vg_pool *p, unsigned streak)
{
    double ms = p->o.backoff_min_ms;
    for (unsigned i = 1; i < streak && ms < p->o.backoff_max_ms; i++)
        ms *= 2;
    if (ms > p->o.backoff_max_ms)
        ms = p->o.backoff_max_ms;
    return ms / 1000.0;
}


/*
 * The worker is gone or must go: kill it, close its socket, retry or fail
 * its in-flight jobs, put it on the zombie list, schedule a respawn.
 */
static void
worker_lost(worker *w, const char *why)
{
    model *m = w->m;
    vg_pool *p = m->pool;
    if (w->state == W_GONE)
        return;
    int was_starting = w->state == W_STARTING;
    int expected = w->retiring || w->quit_sent;

    w->state = W_GONE;
    if (!w->exited)              /* once reaped, the pid may belong to someone else */
        kill(w->pid, SIGKILL);
    ev_io_stop(p->loop, &w->rio);
    ev_io_stop(p->loop, &w->wio);
    ev_timer_stop(p->loop, &w->start_timer);
    close(w->fd);
    w->fd = -1;
    w->nout = w->outi = 0;
    vg_ipc_reader_release(&w->rd);

    /* unlink from the model, onto the zombie list */
    for (worker **pp = &m->workers; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    w->next = p->zombies;
    p->zombies = w;
    ev_timer_start(p->loop, &p->reap_timer);

    int nretry = 0;
    for (int i = 0; i < w->ninflight; i++) {
        job *j = w->inflight[i];
        j->w = NULL;
        if (!j->cb) {            /* canceled while in flight */
            j->state = J_DONE;
            job_free(j);
            continue;
        }
        if (j->attempts < 2 && !p->stopping && m->loaded && m->state != M_FAILED) {
            queue_push(m, j, 1);   /* to the front: it has waited already */
            m->retried++;
            nretry++;
        } else {
            j->state = J_DONE;
            complete(j, VG_E_WORKERDIED, "the worker died while running this job, twice", NULL, NULL, w->pid);
        }
    }
    w->ninflight = 0;

    if (!expected) {
        m->crashes++;
        m->crash_streak++;
        w->lost_starting = was_starting;
        vg_warn("pool", "model %s: worker %d (pid %d) lost%s: %s%s", m->name, w->index, (int)w->pid,
                was_starting ? " while loading" : "", why, nretry ? "; its job is retried" : "");
        if (was_starting) {
            m->start_fails++;
            snprintf(m->why, sizeof m->why, "worker lost while loading: %s", why);
            if (m->start_fails >= START_FAILS_MAX && worker_alive_count(m, 1) == 0)
                model_fail(m, m->why);
        }
    }
    if (m->loaded && m->state != M_FAILED && !p->stopping && !ev_is_active(&m->respawn)) {
        double delay = expected ? 0 : backoff_s(p, m->crash_streak);
        ev_timer_set(&m->respawn, delay, 0);
        ev_timer_start(p->loop, &m->respawn);
    }
    model_update_state(m);
    maybe_finish_stop(p);
}


static void
worker_handle_ready(worker *w, const vg_ipc_ready *r)
{
    model *m = w->m;
    vg_pool *p = m->pool;
    if (w->state != W_STARTING) {
        worker_lost(w, "protocol error: READY twice");
        return;
    }
    if (r->classes != w->d->m->classes) {
        worker_lost(w, "protocol error: class count differs from the manifest");
        return;
    }
    w->state = W_READY;
    w->max_batch = r->max_batch > VG_MODEL_MAX_BATCH ? VG_MODEL_MAX_BATCH : r->max_batch < 1 ? 1 : r->max_batch;
    m->backend_batch = w->max_batch;
    ev_timer_stop(p->loop, &w->start_timer);
    snprintf(m->backend, sizeof m->backend, "%.*s", (int)r->backend.n, r->backend.p);
    snprintf(m->device, sizeof m->device, "%.*s", (int)r->device.n, r->device.p);
    snprintf(m->why, sizeof m->why, "%.*s", (int)r->why.n, r->why.p);
    m->input_w = r->input_w;
    m->input_h = r->input_h;
    m->classes = r->classes;
    m->start_fails = 0;
    m->ever_ready = 1;
    vg_info("pool", "model %s: worker %d (pid %d) ready in %.0f ms: %s on %s", m->name, w->index,
            (int)w->pid, (now_us() - w->started_us) / 1000.0, m->backend, m->device);

    /* a reload: the first new-generation worker makes the new manifest current */
    if (w->gen == m->gen && m->next_d && w->d == m->next_d) {
        def_unref(m->d);
        m->d = m->next_d;
        m->next_d = NULL;
    }
    /* retire one older-generation worker per new one */
    for (worker *o = m->workers; o; o = o->next) {
        if (o->gen < w->gen && !o->retiring && o->state != W_GONE) {
            o->retiring = 1;
            if (o->ninflight == 0)
                worker_send_quit(o);
            break;
        }
    }
    model_update_state(m);
    dispatch(m);
}


static void
worker_handle_result(worker *w, vg_ipc_result *r)
{
    model *m = w->m;
    job *j = NULL;
    int at = -1;
    for (int i = 0; i < w->ninflight; i++)
        if (w->inflight[i]->id == r->id) {
            j = w->inflight[i];
            at = i;
            break;
        }
    if (!j) {
        worker_lost(w, "protocol error: a result for a job it does not hold");
        return;
    }
    for (size_t i = 0; i < r->ndet; i++)
        if (r->dets[i].class_id >= w->d->m->classes) {
            worker_lost(w, "protocol error: class id out of range");
            return;
        }
    w->inflight[at] = w->inflight[--w->ninflight];
    j->w = NULL;
    w->rss = r->rss;
    m->crash_streak = 0;
    if (!j->cb) {
        j->state = J_DONE;
        job_free(j);
    } else {
        char msg[VG_IPC_MAX_STR + 1];
        snprintf(msg, sizeof msg, "%.*s", (int)r->msg.n, r->msg.p ? r->msg.p : "");
        j->state = J_DONE;
        complete(j, r->status, msg, r, w->d, w->pid);
    }
    if (r->last) {
        /* over its memory cap: it exits after this answer; replace it */
        vg_info("pool", "model %s: worker %d recycles itself at %zu MiB", m->name, w->index, (size_t)(r->rss >> 20));
        w->retiring = 1;
        w->quit_sent = 1;
        spawn_missing(m, 1);
        return;
    }
    if (w->ninflight == 0 && (w->retiring || !m->loaded))
        worker_send_quit(w);
}


static void
on_worker_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    worker *w = io->data;
    model *m = w->m;
    (void)loop;
    (void)revents;
    ssize_t n = vg_ipc_reader_fill(&w->rd, w->fd);
    if (n == -EAGAIN)
        return;
    if (n == 0) {
        worker_lost(w, w->state == W_STARTING ? "exited before it was ready" : "exited (end of stream)");
        dispatch(m);
        return;
    }
    if (n < 0) {
        worker_lost(w, n == VG_E_PROTO ? "protocol error: oversized frame" : "socket read failed");
        dispatch(m);
        return;
    }
    const uint8_t *payload;
    size_t len;
    int r;
    while (w->state != W_GONE && (r = vg_ipc_reader_next(&w->rd, &payload, &len)) == 1) {
        vg_ipc_msg msg;
        int dr = vg_ipc_decode(payload, len, &msg);
        if (dr != 0) {
            worker_lost(w, "protocol error: malformed message");
            break;
        }
        switch (msg.type) {
        case VG_IPC_READY:
            worker_handle_ready(w, &msg.u.ready);
            break;
        case VG_IPC_RESULT:
            worker_handle_result(w, &msg.u.result);
            break;
        case VG_IPC_FATAL: {
            char why[600];
            snprintf(why, sizeof why, "%.*s", (int)msg.u.fatal.msg.n, msg.u.fatal.msg.p ? msg.u.fatal.msg.p : "");
            if (w->state == W_STARTING) {
                def *wd = w->d;
                int reloading = m->next_d && wd == m->next_d;
                w->retiring = 1;   /* an orderly refusal, not a crash */
                worker_lost(w, why);
                if (reloading) {
                    /* keep the old workers; drop the new manifest */
                    snprintf(m->why, sizeof m->why, "reload failed, still serving the previous manifest: %.400s", why);
                    vg_error("pool", "model %s: %s", m->name, m->why);
                    for (worker *o = m->workers, *onext; o; o = onext) {
                        onext = o->next;
                        if (o->d == wd && o->state != W_GONE) {
                            o->retiring = 1;
                            worker_lost(o, "reload aborted");
                        }
                    }
                    def_unref(m->next_d);
                    m->next_d = NULL;
                    m->gen--;
                } else {
                    model_fail(m, why);
                }
            } else {
                worker_lost(w, why);
            }
            break;
        }
        default:
            worker_lost(w, "protocol error: unexpected message");
            break;
        }
        vg_ipc_msg_release(&msg);
    }
    if (w->state != W_GONE && r < 0)
        worker_lost(w, "protocol error: oversized frame");
    dispatch(m);
    maybe_finish_stop(m->pool);
}


static void
on_child(struct ev_loop *loop, ev_child *c, int revents)
{
    worker *w = c->data;
    (void)revents;
    ev_child_stop(loop, c);
    w->exited = 1;
    w->status = c->rstatus;
    if (w->state != W_GONE) {
        /* the exit was seen before the end of its stream */
        model *m = w->m;
        worker_lost(w, w->state == W_STARTING ? "exited before it was ready" : "exited");
        dispatch(m);
    }
    reap_sweep(w->m->pool);
}


static void
on_start_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    worker *w = t->data;
    (void)loop;
    (void)revents;
    worker_lost(w, "did not load its model within the start timeout");
}


static int
spawn_worker(model *m, def *d, int gen)
{
    vg_pool *p = m->pool;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        close(sv[0]);
        close(sv[1]);
        return -ENOMEM;
    }
    w->m = m;
    w->d = def_ref(d);
    w->gen = gen;
    w->index = m->next_index++;
    w->state = W_STARTING;
    w->max_batch = 1;
    vg_ipc_reader_init(&w->rd, VG_IPC_MAX_FRAME);

    vg_worker_config cfg = {
        .model = d->m,
        .backend = m->backend_override,
        .backend_dir = p->backend_dir,
        .limits = { p->o.max_image_bytes, p->o.max_image_pixels, p->o.max_image_side },
        .mem_cap = p->o.mem_cap,
        .max_frame = p->o.max_image_bytes + 64 * 1024 + (size_t)d->m->classes,
        .log_fd = p->o.log_fd,
        .index = w->index,
    };
    vg_log_flush();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        def_unref(w->d);
        vg_ipc_reader_release(&w->rd);
        free(w);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        vg_worker_main(&cfg, sv[1]);   /* never returns */
    }
    close(sv[1]);
    w->pid = pid;
    w->fd = sv[0];
    w->started_us = now_us();
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    int sz = SNDBUF_BYTES;
    (void)setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    ev_io_init(&w->rio, on_worker_readable, w->fd, EV_READ);
    ev_io_init(&w->wio, on_worker_writable, w->fd, EV_WRITE);
    w->rio.data = w->wio.data = w;
    ev_timer_init(&w->start_timer, on_start_timeout, p->o.start_timeout_ms / 1000.0, 0);
    w->start_timer.data = w;
    ev_io_start(p->loop, &w->rio);
    ev_timer_start(p->loop, &w->start_timer);
    if (ev_is_default_loop(p->loop)) {
        ev_child_init(&w->cw, on_child, pid, 0);
        w->cw.data = w;
        w->use_cw = 1;
        ev_child_start(p->loop, &w->cw);
    }
    w->next = m->workers;
    m->workers = w;
    vg_debug("pool", "model %s: worker %d forked (pid %d)", m->name, w->index, (int)pid);
    return 0;
}


/* Starts workers until the model has its target (current generation, not retiring). */
static void
spawn_missing(model *m, int respawn)
{
    vg_pool *p = m->pool;
    if (!m->loaded || m->state == M_FAILED || p->stopping)
        return;
    def *d = m->next_d ? m->next_d : m->d;
    int have = 0;
    for (worker *w = m->workers; w; w = w->next)
        if (w->state != W_GONE && !w->retiring && w->gen == m->gen)
            have++;
    while ((unsigned)have < m->target) {
        int rc = spawn_worker(m, d, m->gen);
        if (rc != 0) {
            vg_error("pool", "model %s: cannot start a worker: %s", m->name, vg_err_str(rc));
            ev_timer_set(&m->respawn, backoff_s(p, ++m->crash_streak), 0);
            ev_timer_start(p->loop, &m->respawn);
            break;
        }
        if (respawn)
            m->restarts++;
        have++;
    }
    model_update_state(m);
}


static void
on_respawn(struct ev_loop *loop, ev_timer *t, int revents)
{
    model *m = t->data;
    (void)loop;
    (void)revents;
    spawn_missing(m, 1);
    dispatch(m);
}


/* ---- dispatch -------------------------------------------------------------- */

/* Jobs `w` takes at once: the manifest's [batching] max_batch within what its backend takes. */
static int
batch_cap(const worker *w)
{
    int cap = w->max_batch;
    if (w->d->max_batch && (int)w->d->max_batch < cap)
        cap = (int)w->d->max_batch;
    return cap;
}


static void
on_batch_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    dispatch(t->data);
}


static int
worker_idle(const worker *w)
{
    return w->state == W_READY && !w->retiring && !w->quit_sent && w->ninflight == 0;
}


/*
 * Sends queued jobs to idle workers, spread evenly over them (each takes
 * ceil(waiting / idle workers), at most its batch cap), so that batching
 * never leaves a worker idle beside a waiting job. With a
 * max_queue_delay_us, nothing leaves while the queue holds fewer jobs than
 * the idle workers could take in full batches and the oldest job has waited
 * less than the delay (the batch timer wakes us then); a draining pool goes
 * at once.
 */
static void
dispatch(model *m)
{
    vg_pool *p = m->pool;
    if (!m->qhead) {
        ev_timer_stop(p->loop, &m->batch_timer);
        return;
    }
    int idle = 0, room = 0;
    uint32_t delay = 0;
    for (worker *w = m->workers; w; w = w->next)
        if (worker_idle(w)) {
            idle++;
            room += batch_cap(w);
            if (w->d->delay_us > delay)
                delay = w->d->delay_us;
        }
    if (idle == 0)
        return;
    if (delay && (int)m->qlen < room && !p->stopping) {
        uint64_t waited = now_us() - m->qhead->submit_us;
        if (waited < delay) {
            ev_timer_stop(p->loop, &m->batch_timer);
            ev_timer_set(&m->batch_timer, (double)(delay - waited) / 1e6, 0);
            ev_timer_start(p->loop, &m->batch_timer);
            return;
        }
    }
    ev_timer_stop(p->loop, &m->batch_timer);
    /* look again after each send: a send that fails loses its worker */
    while (m->qhead) {
        worker *w = NULL;
        idle = 0;
        for (worker *x = m->workers; x; x = x->next)
            if (worker_idle(x)) {
                if (!w)
                    w = x;
                idle++;
            }
        if (!w)
            break;
        int share = ((int)m->qlen + idle - 1) / idle, cap = batch_cap(w);
        if (share > cap)
            share = cap;
        job *batch[VG_MODEL_MAX_BATCH];
        int n = 0;
        while (m->qhead && n < share) {
            job *j = m->qhead;
            queue_remove(m, j);
            batch[n++] = j;
        }
        worker_send(w, batch, n);
    }
}


/* ---- pool ------------------------------------------------------------------ */

static model *
find_model(const vg_pool *p, const char *name)
{
    for (size_t i = 0; i < p->nmodels; i++)
        if (strcmp(p->models[i]->name, name) == 0)
            return p->models[i];
    return NULL;
}


/* Runs before the loop blocks: sends what vg_pool_submit() queued. */
static void
on_kick(struct ev_loop *loop, ev_prepare *w, int revents)
{
    vg_pool *p = w->data;
    (void)revents;
    ev_prepare_stop(loop, w);
    for (size_t i = 0; i < p->nmodels; i++)
        if (p->models[i]->qhead)
            dispatch(p->models[i]);
}


static void
on_mem_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    vg_pool *p = t->data;
    (void)loop;
    (void)revents;
    if (!p->o.mem_cap)
        return;
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        for (worker *w = m->workers, *next; w; w = next) {
            next = w->next;
            if (w->state == W_GONE)
                continue;
            size_t rss = vg_worker_rss(w->pid);
            if (rss)
                w->rss = rss;
            if (rss > 2 * p->o.mem_cap) {
                vg_warn("pool", "model %s: worker %d uses %zu MiB, twice the cap: killing it",
                        m->name, w->index, rss >> 20);
                worker_lost(w, "killed: memory cap");
                dispatch(m);
            } else if (rss > p->o.mem_cap && w->ninflight == 0 && !w->retiring && w->state == W_READY) {
                vg_info("pool", "model %s: worker %d uses %zu MiB, above the cap: recycling", m->name,
                        w->index, rss >> 20);
                w->retiring = 1;
                worker_send_quit(w);
                spawn_missing(m, 1);
            }
        }
    }
}


int
vg_pool_create(struct ev_loop *loop, const vg_pool_options *opts, vg_pool **out)
{
    vg_pool_options def_opts;
    *out = NULL;
    if (!loop)
        return VG_E_INVAL;
    if (!opts) {
        vg_pool_options_init(&def_opts);
        opts = &def_opts;
    }
    if (opts->queue_max == 0 || opts->job_timeout_ms == 0 || opts->max_image_bytes == 0 ||
        opts->max_image_bytes > VG_IPC_MAX_FRAME - (1u << 20) || opts->workers > VG_MODEL_MAX_WORKERS ||
        opts->backoff_max_ms < opts->backoff_min_ms)
        return VG_E_INVAL;
    vg_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->o = *opts;
    if (p->o.workers == 0)
        p->o.workers = 1;
    if (p->o.start_timeout_ms == 0)
        p->o.start_timeout_ms = 120000;
    p->models_dir = strdup(opts->models_dir ? opts->models_dir : VIGIA_BUILDDIR "/models");
    p->backend_dir = opts->backend_dir && opts->backend_dir[0] ? strdup(opts->backend_dir) : NULL;
    p->default_model = opts->default_model && opts->default_model[0] ? strdup(opts->default_model) : NULL;
    if (!p->models_dir || (opts->backend_dir && opts->backend_dir[0] && !p->backend_dir) ||
        (opts->default_model && opts->default_model[0] && !p->default_model)) {
        free(p->models_dir);
        free(p->backend_dir);
        free(p->default_model);
        free(p);
        return -ENOMEM;
    }
    p->o.models_dir = p->models_dir;
    p->o.backend_dir = p->backend_dir;
    p->o.default_model = p->default_model;
    p->next_id = 1;
    ev_timer_init(&p->reap_timer, on_reap_timer, REAP_INTERVAL, REAP_INTERVAL);
    p->reap_timer.data = p;
    ev_timer_init(&p->mem_timer, on_mem_timer, MEM_INTERVAL, MEM_INTERVAL);
    p->mem_timer.data = p;
    ev_prepare_init(&p->kick, on_kick);
    p->kick.data = p;
    if (p->o.mem_cap) {
        ev_timer_start(loop, &p->mem_timer);
        ev_unref(loop);   /* the poll alone must not keep the loop running */
    }
    /* writes to a dead worker's socket must be EPIPE, not a fatal signal */
    signal(SIGPIPE, SIG_IGN);
    *out = p;
    return 0;
}


static model *
model_new(vg_pool *p, const char *name)
{
    model **nm = realloc(p->models, (p->nmodels + 1) * sizeof *nm);
    if (!nm)
        return NULL;
    p->models = nm;
    model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->name = strdup(name);
    if (!m->name) {
        free(m);
        return NULL;
    }
    m->pool = p;
    m->state = M_UNLOADED;
    ev_timer_init(&m->respawn, on_respawn, 0, 0);
    m->respawn.data = m;
    ev_timer_init(&m->batch_timer, on_batch_timer, 0, 0);
    m->batch_timer.data = m;
    /* keep the list sorted by name */
    size_t at = p->nmodels;
    while (at > 0 && strcmp(p->models[at - 1]->name, name) > 0)
        at--;
    memmove(&p->models[at + 1], &p->models[at], (p->nmodels - at) * sizeof *p->models);
    p->models[at] = m;
    p->nmodels++;
    return m;
}


/* A [batching] key: absent leaves *out alone; else a decimal integer in [lo, hi]. */
static int
batching_key(const vg_model *vm, const char *key, unsigned long long lo, unsigned long long hi,
             unsigned long long *out, char *err, size_t errlen)
{
    char full[64];
    snprintf(full, sizeof full, "batching.%s", key);
    const char *v = vg_model_get(vm, full);
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *v == '-' || *end || errno || x < lo || x > hi) {
        copy_err(err, errlen, "%s: [batching] %s must be an integer in %llu..%llu (the manifest's batch is %u), not '%.40s'",
                 vm->name, key, lo, hi, vm->batch, v);
        return -1;
    }
    *out = x;
    return 0;
}


/* (Re)reads a model's manifest into a new def. */
static int
read_manifest(vg_pool *p, const char *name, def **out, char *err, size_t errlen)
{
    char dir[4096];
    vg_model *vm = NULL;
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", p->models_dir, name) >= sizeof dir) {
        copy_err(err, errlen, "%s: path too long", name);
        return VG_E_MANIFEST;
    }
    int rc = vg_model_load(dir, &vm, err, errlen);
    if (rc != 0)
        return rc;
    unsigned long long mb = 0, delay = 0;
    if (batching_key(vm, "max_batch", 1, vm->batch, &mb, err, errlen) != 0 ||
        batching_key(vm, "max_queue_delay_us", 0, VG_POOL_MAX_QUEUE_DELAY_US, &delay, err, errlen) != 0) {
        vg_model_destroy(vm);
        return VG_E_MANIFEST;
    }
    for (size_t i = 0; i < vm->nkeys; i++)
        if (strncmp(vm->keys[i], "batching.", 9) == 0 && strcmp(vm->keys[i], "batching.max_batch") != 0 &&
            strcmp(vm->keys[i], "batching.max_queue_delay_us") != 0) {
            copy_err(err, errlen, "%s: unknown key '%s' in [batching]", name, vm->keys[i] + 9);
            vg_model_destroy(vm);
            return VG_E_MANIFEST;
        }
    *out = def_new(vm);
    if (!*out) {
        vg_model_destroy(vm);
        return -ENOMEM;
    }
    (*out)->max_batch = (unsigned)mb;
    (*out)->delay_us = (uint32_t)delay;
    return 0;
}


static int
scan_cb(void *ud, const char *name, const char *dir)
{
    vg_pool *p = ud;
    char err[512];
    (void)dir;
    if (!vg_model_name_valid(name))
        return 0;
    model *m = find_model(p, name);
    if (!m) {
        m = model_new(p, name);
        if (!m)
            return -ENOMEM;
    }
    if (m->loaded)
        return 0;
    def *d = NULL;
    int rc = read_manifest(p, name, &d, err, sizeof err);
    if (rc == -ENOMEM)
        return rc;
    def_unref(m->d);
    m->d = d;
    if (rc != 0) {
        m->state = M_INVALID;
        snprintf(m->why, sizeof m->why, "%s", err);
        vg_warn("pool", "model %s: %s", name, err);
    } else {
        m->state = M_UNLOADED;
        m->why[0] = '\0';
    }
    return 0;
}


int
vg_pool_scan(vg_pool *p)
{
    return vg_model_scan(p->models_dir, scan_cb, p);
}


int
vg_pool_model_load(vg_pool *p, const char *name, const char *backend, unsigned workers,
                   char *err, size_t errlen)
{
    def *d = NULL;
    char e[512];
    if (!name || !vg_model_name_valid(name)) {
        copy_err(err, errlen, "invalid model name '%.80s'", name ? name : "");
        return VG_E_NOMODEL;
    }
    if (p->stopping) {
        copy_err(err, errlen, "%s", "the server is shutting down");
        return VG_E_STOPPING;
    }
    model *m = find_model(p, name);
    if (m && m->loaded) {
        copy_err(err, errlen, "model %s is already loaded", name);
        return VG_E_EXISTS;
    }
    if (m && m->workers) {
        copy_err(err, errlen, "model %s is still unloading", name);
        return VG_E_EXISTS;
    }
    if (workers > VG_MODEL_MAX_WORKERS) {
        copy_err(err, errlen, "%s", "too many workers");
        return VG_E_INVAL;
    }
    int rc = read_manifest(p, name, &d, e, sizeof e);
    if (rc != 0) {
        if (!m && rc != -ENOMEM && access(p->models_dir, F_OK) == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", p->models_dir, name);
            if (access(path, F_OK) != 0) {
                copy_err(err, errlen, "no model directory %s", path);
                return VG_E_NOMODEL;
            }
        }
        copy_err(err, errlen, "%s", e);
        if (m) {
            m->state = M_INVALID;
            snprintf(m->why, sizeof m->why, "%s", e);
        }
        return rc == -ENOMEM ? rc : VG_E_MANIFEST;
    }
    if (!m && !(m = model_new(p, name))) {
        def_unref(d);
        copy_err(err, errlen, "%s", "out of memory");
        return -ENOMEM;
    }
    def_unref(m->d);
    m->d = d;
    free(m->backend_override);
    m->backend_override = backend && backend[0] ? strdup(backend) : NULL;
    m->target = workers ? workers : d->m->workers ? d->m->workers : p->o.workers;
    m->loaded = 1;
    m->loaded_us = now_us();
    m->gen++;
    m->state = M_LOADING;
    m->start_fails = m->crash_streak = 0;
    m->why[0] = m->fail[0] = m->backend[0] = m->device[0] = '\0';
    m->input_w = d->m->input_w;
    m->input_h = d->m->input_h;
    m->classes = d->m->classes;
    vg_info("pool", "model %s: starting %u worker(s), backend %s", name, m->target,
            m->backend_override ? m->backend_override : d->m->backend);
    m->ever_ready = 0;
    spawn_missing(m, 0);
    if (!m->workers) {
        m->loaded = 0;
        m->state = M_FAILED;
        copy_err(err, errlen, "model %s: no worker could be started", name);
        return VG_E_UNAVAILABLE;
    }
    return 0;
}


int
vg_pool_model_unload(vg_pool *p, const char *name)
{
    model *m = name ? find_model(p, name) : NULL;
    if (!m)
        return VG_E_NOMODEL;
    if (!m->loaded)
        return VG_E_NOTLOADED;
    m->loaded = 0;
    ev_timer_stop(p->loop, &m->respawn);
    ev_timer_stop(p->loop, &m->batch_timer);
    fail_queue(m, VG_E_NOTLOADED, "the model was unloaded");
    for (worker *w = m->workers, *next; w; w = next) {
        next = w->next;
        w->retiring = 1;
        if (w->state == W_STARTING)
            worker_lost(w, "unloaded");
        else if (w->ninflight == 0)
            worker_send_quit(w);
    }
    if (m->next_d) {
        def_unref(m->next_d);
        m->next_d = NULL;
    }
    model_update_state(m);
    vg_info("pool", "model %s: unloading", name);
    return 0;
}


int
vg_pool_model_reload(vg_pool *p, const char *name, char *err, size_t errlen)
{
    model *m = name ? find_model(p, name) : NULL;
    def *d = NULL;
    if (!m) {
        copy_err(err, errlen, "no model '%.80s'", name ? name : "");
        return VG_E_NOMODEL;
    }
    if (!m->loaded) {
        copy_err(err, errlen, "model %s is not loaded", name);
        return VG_E_NOTLOADED;
    }
    int rc = read_manifest(p, name, &d, err, errlen);
    if (rc != 0)
        return rc == -ENOMEM ? rc : VG_E_MANIFEST;
    if (m->state == M_FAILED) {
        /* nothing serves: a plain restart with the new manifest */
        def_unref(m->d);
        m->d = d;
        m->state = M_LOADING;
        m->start_fails = m->crash_streak = 0;
        m->gen++;
        m->target = d->m->workers ? d->m->workers : m->target;
        m->ever_ready = 0;
        spawn_missing(m, 0);
        return 0;
    }
    if (m->next_d)
        def_unref(m->next_d);
    m->next_d = d;
    m->gen++;
    vg_info("pool", "model %s: rolling restart (generation %d)", name, m->gen);
    spawn_missing(m, 0);
    return 0;
}


/* ---- submit ---------------------------------------------------------------- */

int
vg_pool_submit(vg_pool *p, const char *name, const vg_pool_job *jb, vg_pool_cb cb, void *ud,
               vg_pool_req **req, char *err, size_t errlen)
{
    if (req)
        *req = NULL;
    if (!jb || !cb) {
        copy_err(err, errlen, "%s", "missing job or callback");
        return VG_E_INVAL;
    }
    if (p->stopping) {
        copy_err(err, errlen, "%s", "the server is shutting down");
        return VG_E_STOPPING;
    }
    if (!name || !name[0])
        name = vg_pool_default_model(p);
    model *m = name ? find_model(p, name) : NULL;
    if (!m) {
        copy_err(err, errlen, "no model '%.80s'", name ? name : "");
        return VG_E_NOMODEL;
    }
    if (!m->loaded) {
        copy_err(err, errlen, "model %s is not loaded", m->name);
        return VG_E_NOTLOADED;
    }
    if (m->state == M_FAILED) {
        copy_err(err, errlen, "%s", m->fail[0] ? m->fail : "the model failed to load");
        return VG_E_UNAVAILABLE;
    }
    if (!jb->image || jb->image_len == 0) {
        copy_err(err, errlen, "%s", "empty image");
        return VG_E_NOTIMAGE;
    }
    if (jb->image_len > p->o.max_image_bytes) {
        if (err)
            snprintf(err, errlen, "image of %zu bytes exceeds the limit of %zu", jb->image_len,
                     p->o.max_image_bytes);
        return VG_E_TOOBIG;
    }
    if (!(jb->min_confidence < 0 || (jb->min_confidence > 0 && jb->min_confidence <= 1)) ||
        !(jb->nms < 0 || jb->nms <= 1) || isnan(jb->nms) || jb->jpeg_quality < 0 || jb->jpeg_quality > 100) {
        copy_err(err, errlen, "%s", "min_confidence must be in (0, 1], nms in [0, 1], jpeg_quality in 1..100");
        return VG_E_INVAL;
    }
    /* jobs an idle worker is about to take do not count as waiting */
    unsigned idle = 0;
    for (const worker *w = m->workers; w; w = w->next)
        if (w->state == W_READY && !w->retiring && !w->quit_sent && w->ninflight == 0)
            idle += (unsigned)w->max_batch;
    if (m->qlen >= p->o.queue_max + idle) {
        m->rejected++;
        copy_err(err, errlen, "the queue of model %s is full", m->name);
        return VG_E_QUEUEFULL;
    }
    const vg_model *vm = m->d->m;
    job *j = calloc(1, sizeof *j);
    if (!j) {
        copy_err(err, errlen, "%s", "out of memory");
        return -ENOMEM;
    }
    if (jb->classes && jb->nclasses) {
        j->mask = calloc((size_t)vm->classes, 1);
        if (!j->mask) {
            free(j);
            copy_err(err, errlen, "%s", "out of memory");
            return -ENOMEM;
        }
        j->mask_len = (size_t)vm->classes;
        for (size_t i = 0; i < jb->nclasses; i++) {
            int found = 0;
            for (int k = 0; k < vm->classes; k++)
                if (jb->classes[i] && strcmp(jb->classes[i], vm->labels[k]) == 0) {
                    j->mask[k] = 1;
                    found = 1;
                }
            if (!found) {
                if (err)
                    snprintf(err, errlen, "model %s has no class '%.80s'", m->name,
                             jb->classes[i] ? jb->classes[i] : "");
                free(j->mask);
                free(j);
                return VG_E_INVAL;
            }
        }
    }
    if (jb->image_free) {
        j->image = jb->image;
        j->image_free = jb->image_free;
        j->image_ctx = jb->image_ctx;
    } else {
        j->image_copy = malloc(jb->image_len);
        if (!j->image_copy) {
            free(j->mask);
            free(j);
            copy_err(err, errlen, "%s", "out of memory");
            return -ENOMEM;
        }
        memcpy(j->image_copy, jb->image, jb->image_len);
        j->image = j->image_copy;
    }
    j->image_len = jb->image_len;
    j->pool = p;
    j->m = m;
    j->cb = cb;
    j->ud = ud;
    j->id = p->next_id++;
    j->threshold = jb->min_confidence;
    j->nms = jb->nms;
    j->annotate = jb->annotate;
    j->quality = jb->jpeg_quality ? jb->jpeg_quality : 85;
    j->submit_us = now_us();
    vg_buf_init(&j->hdr);
    uint32_t dl = jb->deadline_ms ? jb->deadline_ms : p->o.job_timeout_ms;
    ev_timer_init(&j->timer, on_job_deadline, dl / 1000.0, 0);
    j->timer.data = j;
    ev_now_update(p->loop);
    ev_timer_start(p->loop, &j->timer);
    queue_push(m, j, 0);
    if (req)
        *req = (vg_pool_req *)j;
    /* sent from the loop, so that no callback ever runs inside submit */
    ev_prepare_start(p->loop, &p->kick);
    return 0;
}


void
vg_pool_cancel(vg_pool_req *req)
{
    job *j = (job *)req;
    if (!j || !j->cb)
        return;
    complete(j, VG_E_CANCELED, "canceled", NULL, NULL, 0);
}


unsigned
vg_pool_retry_after(const vg_pool *p, const char *name)
{
    if (!name || !name[0])
        name = vg_pool_default_model(p);
    const model *m = name ? find_model(p, name) : NULL;
    if (!m || m->wlen == 0)
        return 1;
    double sum = 0;
    for (unsigned i = 0; i < m->wlen; i++)
        sum += m->window[i].infer_ms + 1;
    double mean_ms = sum / m->wlen;
    unsigned workers = m->target ? m->target : 1;
    double s = ceil(m->qlen * mean_ms / workers / 1000.0);
    if (s < 1)
        s = 1;
    if (s > 60)
        s = 60;
    return (unsigned)s;
}


/* ---- stop / destroy -------------------------------------------------------- */

static void
on_stop_done(struct ev_loop *loop, ev_timer *w, int revents)
{
    vg_pool *p = w->data;
    (void)revents;
    ev_timer_stop(loop, w);
    void (*cb)(void *) = p->stop_cb;
    p->stop_cb = NULL;
    if (cb)
        cb(p->stop_ud);   /* may destroy the pool: touch nothing after */
}


static void
maybe_finish_stop(vg_pool *p)
{
    if (!p->stopping || p->stop_done)
        return;
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        if (m->qhead)
            return;
        for (worker *w = m->workers; w; w = w->next) {
            if (w->ninflight)
                return;
        }
    }
    /* every job is done: tell every worker to go */
    int alive = 0;
    for (size_t i = 0; i < p->nmodels; i++)
        for (worker *w = p->models[i]->workers, *next; w; w = next) {
            next = w->next;
            if (w->state == W_STARTING) {
                w->retiring = 1;
                worker_lost(w, "stopping");
                continue;
            }
            worker_send_quit(w);
            alive++;
        }
    if (alive || p->zombies)
        return;
    p->stop_done = 1;
    ev_timer_stop(p->loop, &p->stop_timer);
    ev_timer_start(p->loop, &p->stop_done_timer);
}


static void
on_stop_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
    vg_pool *p = t->data;
    (void)loop;
    (void)revents;
    vg_warn("pool", "drain grace period over: killing the remaining workers");
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        fail_queue(m, VG_E_STOPPING, "the server is shutting down");
        while (m->workers) {
            m->workers->retiring = 1;
            worker_lost(m->workers, "stopping");
        }
    }
    maybe_finish_stop(p);
}


void
vg_pool_stop(vg_pool *p, uint32_t grace_ms, void (*cb)(void *ud), void *ud)
{
    if (p->stopping)
        return;
    p->stopping = 1;
    p->stop_cb = cb;
    p->stop_ud = ud;
    ev_timer_init(&p->stop_done_timer, on_stop_done, 0, 0);
    p->stop_done_timer.data = p;
    ev_timer_init(&p->stop_timer, on_stop_grace, grace_ms / 1000.0, 0);
    p->stop_timer.data = p;
    ev_timer_start(p->loop, &p->stop_timer);
    for (size_t i = 0; i < p->nmodels; i++) {
        ev_timer_stop(p->loop, &p->models[i]->respawn);
        ev_timer_stop(p->loop, &p->models[i]->batch_timer);
    }
    /* jobs held back for a fuller batch leave now (from the loop, not inside this call) */
    ev_prepare_start(p->loop, &p->kick);
    vg_info("pool", "draining");
    maybe_finish_stop(p);
}


void
vg_pool_destroy(vg_pool *p)
{
    if (!p)
        return;
    p->stopping = 1;
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        ev_timer_stop(p->loop, &m->respawn);
        ev_timer_stop(p->loop, &m->batch_timer);
        fail_queue(m, VG_E_STOPPING, "the server is shutting down");
        while (m->workers) {
            worker *w = m->workers;
            /* fire in-flight callbacks before the worker goes */
            for (int k = 0; k < w->ninflight; k++) {
                job *j = w->inflight[k];
                j->w = NULL;
                j->state = J_DONE;
                if (j->cb)
                    complete(j, VG_E_STOPPING, "the server is shutting down", NULL, NULL, 0);
                else
                    job_free(j);
            }
            w->ninflight = 0;
            w->retiring = 1;
            worker_lost(w, "pool destroyed");
        }
    }
    /* the workers were SIGKILLed: reap them, waiting briefly */
    for (int tries = 0; p->zombies && tries < 200; tries++) {
        for (worker *w = p->zombies; w; w = w->next)
            (void)waitpid(w->pid, NULL, tries < 199 ? WNOHANG : 0);
        worker **pp = &p->zombies;
        while (*pp) {
            worker *w = *pp;
            if (w->exited || (kill(w->pid, 0) != 0 && errno == ESRCH)) {
                *pp = w->next;
                if (w->use_cw)
                    ev_child_stop(p->loop, &w->cw);
                def_unref(w->d);
                free(w);
            } else {
                pp = &w->next;
            }
        }
        if (p->zombies)
            usleep(5000);
    }
    while (p->zombies) {
        worker *w = p->zombies;
        p->zombies = w->next;
        if (w->use_cw)
            ev_child_stop(p->loop, &w->cw);
        def_unref(w->d);
        free(w);
    }
    ev_timer_stop(p->loop, &p->reap_timer);
    if (ev_is_active(&p->mem_timer)) {
        ev_ref(p->loop);
        ev_timer_stop(p->loop, &p->mem_timer);
    }
    if (p->stopping) {
        ev_timer_stop(p->loop, &p->stop_timer);
        ev_timer_stop(p->loop, &p->stop_done_timer);
    }
    ev_prepare_stop(p->loop, &p->kick);
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        def_unref(m->d);
        def_unref(m->next_d);
        free(m->backend_override);
        free(m->name);
        free(m);
    }
    free(p->models);
    free(p->models_dir);
    free(p->backend_dir);
    free(p->default_model);
    free(p);
}


/* ---- stats ----------------------------------------------------------------- */

static int
cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}


static double
percentile(float *v, unsigned n, double q)
{
    if (n == 0)
        return 0;
    unsigned i = (unsigned)ceil(q * n) - 1;
    if (i >= n)
        i = n - 1;
    return v[i];
}


static void
fill_stats(const model *m, vg_pool_model_stats *s)
{
    memset(s, 0, sizeof *s);
    const vg_model *vm = m->d ? m->d->m : NULL;
    s->name = m->name;
    s->state = model_state_names[m->state];
    s->why = m->why;
    s->backend = m->backend[0] ? m->backend : m->backend_override ? m->backend_override : vm ? vm->backend : "";
    s->device = m->device;
    s->description = vm ? vm->description : "";
    s->input_w = m->input_w ? m->input_w : vm ? vm->input_w : 0;
    s->input_h = m->input_h ? m->input_h : vm ? vm->input_h : 0;
    s->classes = vm ? vm->classes : 0;
    s->labels = vm ? (const char *const *)vm->labels : NULL;
    s->threshold = vm ? vm->threshold : 0;
    s->nms = vm ? vm->nms : 0;
    s->workers = m->loaded ? m->target : 0;
    for (const worker *w = m->workers; w; w = w->next) {
        if (w->state == W_READY && !w->retiring)
            s->workers_ready++;
        if (w->ninflight)
            s->workers_busy++;
    }
    s->queue_depth = m->qlen;
    s->queue_max = m->pool->o.queue_max;
    s->jobs_ok = m->ok;
    s->jobs_failed = m->failed;
    s->jobs_rejected = m->rejected;
    s->jobs_timedout = m->timedout;
    s->jobs_retried = m->retried;
    s->restarts = m->restarts;
    s->crashes = m->crashes;
    if (m->wlen) {
        float tot[LAT_WINDOW], inf[LAT_WINDOW];
        for (unsigned i = 0; i < m->wlen; i++) {
            tot[i] = m->window[i].total_ms;
            inf[i] = m->window[i].infer_ms;
        }
        qsort(tot, m->wlen, sizeof *tot, cmp_float);
        qsort(inf, m->wlen, sizeof *inf, cmp_float);
        s->p50_ms = percentile(tot, m->wlen, 0.50);
        s->p90_ms = percentile(tot, m->wlen, 0.90);
        s->p99_ms = percentile(tot, m->wlen, 0.99);
        s->infer_p50_ms = percentile(inf, m->wlen, 0.50);
        s->infer_p90_ms = percentile(inf, m->wlen, 0.90);
        s->infer_p99_ms = percentile(inf, m->wlen, 0.99);
        /* answers of the last minute (or since the load, when more recent) per second */
        uint64_t t = now_us(), span = 60000000u, recent = 0, oldest = t;
        if (m->loaded_us && t - m->loaded_us < span)
            span = t - m->loaded_us;
        for (unsigned i = 0; i < m->wlen; i++)
            if (t - m->window[i].done_us <= span) {
                recent++;
                if (m->window[i].done_us < oldest)
                    oldest = m->window[i].done_us;
            }
        if (recent == LAT_WINDOW)
            span = t - oldest;   /* the window holds less than the span: rate over what it holds */
        s->answers_per_s = span ? (double)recent * 1e6 / (double)span : 0;
    }
    memcpy(s->hist, m->hist, sizeof s->hist);
    s->hist_sum_ms = m->hist_sum;
    const def *bd = m->next_d ? m->next_d : m->d;
    s->backend_batch = (unsigned)m->backend_batch;
    s->max_batch = (unsigned)m->backend_batch;
    if (bd && bd->max_batch && (!s->max_batch || bd->max_batch < s->max_batch))
        s->max_batch = bd->max_batch;
    s->max_queue_delay_us = bd ? bd->delay_us : 0;
    s->batches = m->batches;
    s->batched_jobs = m->batched_jobs;
    memcpy(s->batch_sizes, m->batch_sizes, sizeof s->batch_sizes);
}


size_t
vg_pool_model_count(const vg_pool *p)
{
    return p->nmodels;
}


int
vg_pool_model_stats_at(const vg_pool *p, size_t i, vg_pool_model_stats *out)
{
    if (i >= p->nmodels)
        return VG_E_NOMODEL;
    fill_stats(p->models[i], out);
    return 0;
}


int
vg_pool_model_stats_by_name(const vg_pool *p, const char *name, vg_pool_model_stats *out)
{
    const model *m = name ? find_model(p, name) : NULL;
    if (!m)
        return VG_E_NOMODEL;
    fill_stats(m, out);
    return 0;
}


int
vg_pool_model_workers(const vg_pool *p, const char *name, vg_pool_worker_info *out, size_t max)
{
    const model *m = name ? find_model(p, name) : NULL;
    if (!m)
        return VG_E_NOMODEL;
    uint64_t t = now_us();
    size_t n = 0;
    for (const worker *w = m->workers; w; w = w->next) {
        if (w->state == W_GONE)
            continue;
        if (n < max) {
            vg_pool_worker_info *i = &out[n];
            i->pid = (int)w->pid;
            i->index = w->index;
            i->state = w->retiring || w->quit_sent ? "retiring" : w->state == W_READY ? "ready" : "starting";
            i->busy = w->ninflight;
            i->rss = w->rss;
            i->uptime_s = (t - w->started_us) / 1e6;
        }
        n++;
    }
    return (int)n;
}


const char *
vg_pool_default_model(const vg_pool *p)
{
    if (p->default_model) {
        const model *m = find_model(p, p->default_model);
        if (m && m->loaded)
            return m->name;
    }
    for (size_t i = 0; i < p->nmodels; i++)
        if (p->models[i]->loaded)
            return p->models[i]->name;
    return NULL;
}


int
vg_pool_is_ready(const vg_pool *p)
{
    int any = 0;
    if (p->stopping)
        return 0;
    for (size_t i = 0; i < p->nmodels; i++) {
        const model *m = p->models[i];
        if (!m->loaded)
            continue;
        any = 1;
        if (worker_alive_count(m, 1) == 0)
            return 0;
    }
    return any;
}
