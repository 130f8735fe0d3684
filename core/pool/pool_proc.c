/*
 * pool_proc: the worker processes: fork (vg_worker_main runs in the
 * child), losing a worker (its jobs retried or failed), respawn with
 * exponential backoff, reaping, the start timeout and the memory cap.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "base/clock.h"
#include "base/child.h"
#include "base/hex.h"
#include "base/log.h"
#include "pool/pool_internal.h"
#include "pool/worker.h"

#define START_FAILS_MAX 3           /* consecutive failed starts before "failed" */
#define SNDBUF_BYTES    (4 << 20)


void
vg_pool__worker_free(worker *w)
{
    vg_pool__output_stop(w);
    ev_timer_stop(w->m->pool->loop, &w->infer_timer);
    if (w->use_cw)
        ev_child_stop(w->m->pool->loop, &w->cw);
    vg_pool__def_unref(w->d);
    free(w);
}


/* Counts a crash in the model's window; 1 when the window now holds crash_limit of them. */
static int
crash_counted(model *m)
{
    const vg_pool *p = m->pool;
    uint64_t now = vg_mono_us(), window = (uint64_t)p->o.crash_window_ms * 1000;
    if (p->o.crash_limit == 0)
        return 0;
    m->crash_us[m->crash_pos] = now;
    m->crash_pos = (m->crash_pos + 1) % VG_POOL_CRASHES_MAX;
    if (m->crash_len < VG_POOL_CRASHES_MAX)
        m->crash_len++;
    /* forget what fell out of the window (the oldest sit crash_len back from crash_pos) */
    while (m->crash_len) {
        unsigned oldest = (m->crash_pos + VG_POOL_CRASHES_MAX - m->crash_len) % VG_POOL_CRASHES_MAX;
        if (now - m->crash_us[oldest] <= window)
            break;
        m->crash_len--;
    }
    return m->crash_len >= p->o.crash_limit;
}


/*
 * The why of a model failed by a crash loop: how often in what window, how
 * the last worker ended (`how`: its signal, or why the pool killed it) and
 * on which image.
 */
static void
crash_loop_why(model *m, const worker *w, const char *how)
{
    const vg_pool *p = m->pool;
    snprintf(m->why, sizeof m->why, "worker crashed %u times in %g s: last %s%s%s", m->crash_len,
             p->o.crash_window_ms / 1000.0, how, w->crash_image[0] ? " on image sha256 " : "", w->crash_image);
    snprintf(m->fail, sizeof m->fail, "%s", m->why);
}


/* Logs how a reaped worker ended and frees it. */
static void
worker_reaped(worker *w, int st, int known)
{
    model *m = w->m;
    /* the plugin's fault, not a SIGKILL from outside (an operator, the OOM killer) */
    int plugin_fault = known && (w->fault_kill || !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
    if (w->crashed && plugin_fault && m->loaded && m->state != M_FAILED && crash_counted(m)) {
        char how[96];
        if (w->fault_kill)
            snprintf(how, sizeof how, "%s", w->lost_why);
        else if (WIFSIGNALED(st))
            snprintf(how, sizeof how, "signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                     WCOREDUMP(st) ? ", core dumped" : "");
        else
            snprintf(how, sizeof how, "exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        crash_loop_why(m, w, how);
        vg_pool__model_fail(m, VG_E_MODELFAILED, m->why);
    }
    if (known && WIFSIGNALED(st))
        vg_info("pool", "worker %s#%d (pid %d) ended by signal %d (%s)", m->name, w->slot,
                (int)w->pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (known && WIFEXITED(st) && WEXITSTATUS(st) != 0)
        vg_info("pool", "worker %s#%d (pid %d) exited with status %d", m->name, w->slot,
                (int)w->pid, WEXITSTATUS(st));
    else
        vg_debug("pool", "worker %s#%d (pid %d) exited", m->name, w->slot, (int)w->pid);
    if (known && w->lost_starting && WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL && !strstr(m->why, "signal")) {
        size_t used = strlen(m->why);
        if (used + 1 < sizeof m->why)
            snprintf(m->why + used, sizeof m->why - used, " (signal %d, %s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        if (m->state == M_FAILED)
            snprintf(m->fail, sizeof m->fail, "%s", m->why);
    }
    vg_pool__worker_free(w);
}


static void
reap_sweep(vg_pool *p)
{
    vg_list_each_safe(w, next, &p->zombies, worker, link) {
        int st = 0, known = 0;
        if (w->use_cw) {
            if (!w->exited)         /* libev reaps it and calls on_child */
                continue;
            st = w->status;
            known = 1;
        } else {
            pid_t r = waitpid(w->pid, &st, WNOHANG);
            if (r == 0)
                continue;
            known = r == w->pid;    /* else ECHILD: someone else reaped it */
        }
        vg_list_remove(&p->zombies, &w->link);
        worker_reaped(w, st, known);
    }
    if (vg_list_empty(&p->zombies))
        ev_timer_stop(p->loop, &p->reap_timer);
    vg_pool__maybe_finish_stop(p);
}


VG_POOL__EV_CB(vg_pool__on_reap_timer, ev_timer, reap_sweep)


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


/* Remembers the sha256 of the first image the worker holds (what it crashed or hung on). */
static void
note_image(worker *w)
{
    unsigned char sum[32];
    if (w->ninflight == 0 || w->crash_image[0])
        return;
    const job *j = w->inflight[0];
    if (mbedtls_sha256_ret(j->image, j->image_len, sum, 0) == 0)
        vg_hex_encode(sum, sizeof sum, w->crash_image);
}


/*
 * The worker is gone or must go: kill it, close its socket, retry or fail
 * its in-flight jobs, put it on the zombie list, schedule a respawn. A
 * worker lost while serving, unasked, counts in the model's crash window
 * when it is reaped (worker_reaped(): a SIGKILL from outside does not
 * count, a kill of ours with fault_kill set does); crash_limit of them
 * within crash_window_ms fail the model.
 */
void
vg_pool__worker_lost(worker *w, const char *why)
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
    vg_pool__output_stop(w);     /* what it wrote before it went (a backtrace) is logged first */
    ev_timer_stop(p->loop, &w->infer_timer);
    int crashed = !expected && !was_starting;
    if (crashed)
        note_image(w);
    ev_io_stop(p->loop, &w->rio);
    ev_io_stop(p->loop, &w->wio);
    ev_timer_stop(p->loop, &w->start_timer);
    close(w->fd);
    w->fd = -1;
    w->nout = w->outi = 0;
    vg_frame_reader_release(&w->rd);

    /* unlink from the model, onto the zombie list */
    vg_list_remove(&m->workers, &w->link);
    vg_list_push_front(&p->zombies, &w->link);
    ev_timer_start(p->loop, &p->reap_timer);

    int nretry = 0;
    for (int i = 0; i < w->ninflight; i++) {
        job *j = w->inflight[i];
        j->w = NULL;
        if (!j->cb) {            /* canceled while in flight */
            j->state = J_DONE;
            vg_pool__job_free(j);
            continue;
        }
        if (j->attempts < 2 && !p->stopping && m->loaded && m->state != M_FAILED) {
            vg_pool__queue_push(m, j, 1);   /* to the front: it has waited already */
            m->retried++;
            nretry++;
        } else {
            j->state = J_DONE;
            vg_pool__complete(j, VG_E_WORKERDIED, "the worker died while running this job, twice", NULL, NULL, w->pid);
        }
    }
    w->ninflight = 0;

    if (!expected) {
        m->crashes++;
        m->crash_streak++;
        w->lost_starting = was_starting;
        vg_warn("pool", "model %s: worker %d (pid %d) lost%s: %s%s", m->name, w->slot, (int)w->pid,
                was_starting ? " while loading" : "", why, nretry ? "; its job is retried" : "");
        if (was_starting) {
            m->start_fails++;
            snprintf(m->why, sizeof m->why, "worker lost while loading: %s", why);
            if (m->start_fails >= START_FAILS_MAX && vg_pool__worker_alive_count(m, 1) == 0)
                vg_pool__model_fail(m, VG_E_UNAVAILABLE, m->why);
        } else {
            w->crashed = 1;      /* counted in the crash window once reaped, when its end is known */
            snprintf(w->lost_why, sizeof w->lost_why, "%s", why);
        }
    }
    if (m->loaded && m->state != M_FAILED && !p->stopping && !ev_is_active(&m->respawn)) {
        double delay = expected ? 0 : backoff_s(p, m->crash_streak);
        ev_timer_set(&m->respawn, delay, 0);
        ev_timer_start(p->loop, &m->respawn);
    }
    vg_pool__model_update_state(m);
    vg_pool__maybe_finish_stop(p);
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
        vg_pool__worker_lost(w, w->state == W_STARTING ? "exited before it was ready" : "exited");
        vg_pool__dispatch(m);
    }
    reap_sweep(w->m->pool);
}


static void
worker_start_timed_out(worker *w)
{
    vg_pool__worker_lost(w, "did not load its model within the start timeout");
}


static VG_POOL__EV_CB(on_start_timeout, ev_timer, worker_start_timed_out)


/*
 * The lowest slot in 0 .. target-1 that no worker of generation `gen`
 * holds (a retiring one has handed its slot on). The slot, not the growing
 * index, is what the worker is told (the manifest's `worker`, and so its
 * device: [model] devices = 0,1 gives slot s device s mod 2) and what the
 * log calls it: a replacement is "the same worker" to an operator reading
 * the log per device, and the pid in every such line tells successive
 * processes apart. The index stays unique in the workers listing.
 */
static int
free_slot(const model *m, int gen)
{
    for (int s = 0;; s++) {
        int taken = 0;
        vg_list_each(w, &m->workers, const worker, link)
            if (w->slot == s && w->gen == gen && w->state != W_GONE && !w->retiring)
                taken = 1;
        if (!taken)
            return s;
    }
}


static int
spawn_worker(model *m, def *d, int gen)
{
    vg_pool *p = m->pool;
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->m = m;
    w->d = vg_pool__def_ref(d);
    w->gen = gen;
    w->index = m->next_index++;
    w->slot = free_slot(m, gen);
    w->state = W_STARTING;
    w->max_batch = 1;
    vg_frame_reader_init(&w->rd, VG_IPC_MAX_FRAME);

    vg_worker_config cfg = {
        .model = d->m,
        .backend = m->backend_override,
        .backend_dir = p->backend_dir,
        .limits = { p->o.max_image_bytes, p->o.max_image_pixels, p->o.max_image_side },
        .full_decode = p->o.full_decode,
        .mem_cap = d->mem_cap,
        .mem_cap_growth = d->mem_cap_growth,
        /* a JOB's class mask has a byte per class: without a names file, as many as there may be */
        .max_frame = p->o.max_image_bytes + 64 * 1024 +
                     (size_t)(d->m->names_path ? d->m->classes : VG_MODEL_MAX_LABELS),
        .log_fd = p->o.log_fd >= 0 ? p->o.log_fd : vg_log_get_fd(),
        .slot = w->slot,
        .out_fd = -1,
    };
    int fd, out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        int e = -errno;
        vg_pool__def_unref(w->d);
        vg_frame_reader_release(&w->rd);
        free(w);
        return e;
    }
    cfg.out_fd = out[1];
    pid_t pid = vg_child_fork(&fd, SNDBUF_BYTES);
    if (pid == 0)
        vg_worker_main(&cfg, fd);   /* never returns */
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        vg_pool__def_unref(w->d);
        vg_frame_reader_release(&w->rd);
        free(w);
        return (int)pid;
    }
    w->pid = pid;
    w->fd = fd;
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    vg_pool__output_start(w, out[0]);
    ev_timer_init(&w->infer_timer, vg_pool__on_infer_timeout, 0, 0);
    w->infer_timer.data = w;
    w->started_us = vg_mono_us();
    ev_io_init(&w->rio, vg_pool__on_worker_readable, w->fd, EV_READ);
    ev_io_init(&w->wio, vg_pool__on_worker_writable, w->fd, EV_WRITE);
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
    vg_list_push_front(&m->workers, &w->link);
    vg_debug("pool", "model %s: worker %d forked (pid %d)", m->name, w->slot, (int)pid);
    return 0;
}


/* Starts workers until the model has its target (current generation, not retiring). */
void
vg_pool__spawn_missing(model *m, int respawn)
{
    vg_pool *p = m->pool;
    if (!m->loaded || m->state == M_FAILED || p->stopping)
        return;
    def *d = m->next_d ? m->next_d : m->d;
    int have = 0;
    vg_list_each(w, &m->workers, worker, link)
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
    vg_pool__model_update_state(m);
}


/* The backoff after a lost worker is over: start what is missing. */
static void
model_respawn(model *m)
{
    vg_pool__spawn_missing(m, 1);
    vg_pool__dispatch(m);
}


VG_POOL__EV_CB(vg_pool__on_respawn, ev_timer, model_respawn)


/* Every MEM_INTERVAL: each worker's resident memory against its model's cap. */
static void
pool_check_memory(vg_pool *p)
{
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        vg_list_each_safe(w, next, &m->workers, worker, link) {
            size_t cap = w->mem_cap;
            if (w->state != W_READY || !cap)
                continue;
            size_t rss = vg_worker_rss(w->pid);
            if (rss)
                w->rss = rss;
            if (rss > 2 * cap) {
                vg_warn("pool", "model %s: worker %d uses %zu MiB, twice the cap: killing it",
                        m->name, w->slot, rss >> 20);
                w->fault_kill = 1;
                vg_pool__worker_lost(w, "killed: memory cap");
                vg_pool__dispatch(m);
            } else if (rss > cap && w->ninflight == 0 && !w->retiring && w->state == W_READY) {
                vg_info("pool", "model %s: worker %d uses %zu MiB, above the cap: recycling", m->name,
                        w->slot, rss >> 20);
                w->retiring = 1;
                vg_pool__worker_send_quit(w);
                vg_pool__spawn_missing(m, 1);
            }
        }
    }
}


VG_POOL__EV_CB(vg_pool__on_mem_timer, ev_timer, pool_check_memory)


/* The batch the worker runs is past its model's infer_timeout: answer it 504, kill the worker. */
static void
worker_infer_timed_out(worker *w)
{
    model *m = w->m;
    char msg[200];
    snprintf(msg, sizeof msg, "model %s: the backend ran past the model's infer_timeout of %g s; the worker was "
             "killed", m->name, w->d->infer_timeout_ms / 1000.0);
    vg_warn("pool", "model %s: worker %d (pid %d) ran past infer_timeout (%g s): killing it", m->name, w->slot,
            (int)w->pid, w->d->infer_timeout_ms / 1000.0);
    note_image(w);
    w->fault_kill = 1;
    for (int i = 0; i < w->ninflight; i++) {
        job *j = w->inflight[i];
        j->w = NULL;
        j->state = J_DONE;
        if (j->cb)
            vg_pool__complete(j, VG_E_TIMEDOUT, msg, NULL, NULL, w->pid);
        else
            vg_pool__job_free(j);
    }
    w->ninflight = 0;
    vg_pool__worker_lost(w, "killed: infer_timeout");
    vg_pool__dispatch(m);
}


VG_POOL__EV_CB(vg_pool__on_infer_timeout, ev_timer, worker_infer_timed_out)
