/*
 * pool_lifecycle: options, creating the pool, draining it (vg_pool_stop)
 * and destroying it; the clock and error helpers the other pool files use.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/paths.h"
#include "pool/pool_internal.h"

#define REAP_INTERVAL   0.02        /* seconds between waitpid() sweeps */
#define MEM_INTERVAL    1.0         /* seconds between RSS polls */


void
vg_pool__copy_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


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
    o->mem_cap = VG_POOL_MEM_CAP_AUTO;
    o->crash_limit = 5;
    o->crash_window_ms = 60000;
    o->max_image_bytes = 32u << 20;
    o->max_image_pixels = 40000000;
    o->max_image_side = 16384;
    o->log_fd = -1;
    o->nvr_priority = 1;
    o->nvr_workers = 0;
    o->nvr_burst = 8;
}


/* Runs before the loop blocks: sends what vg_pool_submit() queued. */
static void
pool_kick(vg_pool *p)
{
    ev_prepare_stop(p->loop, &p->kick);
    for (size_t i = 0; i < p->nmodels; i++)
        if (vg_pool__queued(p->models[i]))
            vg_pool__dispatch(p->models[i]);
}


static VG_POOL__EV_CB(on_kick, ev_prepare, pool_kick)


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
        opts->backoff_max_ms < opts->backoff_min_ms || opts->nvr_burst == 0 ||
        opts->nvr_workers > VG_MODEL_MAX_WORKERS)
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
    if (p->o.crash_limit > VG_POOL_CRASHES_MAX)
        p->o.crash_limit = VG_POOL_CRASHES_MAX;
    if (p->o.crash_window_ms == 0)
        p->o.crash_window_ms = 60000;
    p->models_dir = strdup(opts->models_dir ? opts->models_dir : vg_paths_get(VG_PATH_MODELS));
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
    ev_timer_init(&p->reap_timer, vg_pool__on_reap_timer, REAP_INTERVAL, REAP_INTERVAL);
    p->reap_timer.data = p;
    ev_timer_init(&p->mem_timer, vg_pool__on_mem_timer, MEM_INTERVAL, MEM_INTERVAL);
    p->mem_timer.data = p;
    ev_prepare_init(&p->kick, on_kick);
    p->kick.data = p;
    ev_timer_start(loop, &p->mem_timer);   /* models may set their own cap */
    ev_unref(loop);   /* the poll alone must not keep the loop running */
    /* writes to a dead worker's socket must be EPIPE, not a fatal signal */
    signal(SIGPIPE, SIG_IGN);
    *out = p;
    return 0;
}


/* From a clean stack once the drain is over: the stop callback. */
static void
pool_stop_done(vg_pool *p)
{
    ev_timer_stop(p->loop, &p->stop_done_timer);
    void (*cb)(void *) = p->stop_cb;
    p->stop_cb = NULL;
    if (cb)
        cb(p->stop_ud);   /* may destroy the pool: touch nothing after */
}


static VG_POOL__EV_CB(on_stop_done, ev_timer, pool_stop_done)


void
vg_pool__maybe_finish_stop(vg_pool *p)
{
    if (!p->stopping || p->stop_done)
        return;
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        if (vg_pool__queued(m))
            return;
        vg_list_each(w, &m->workers, worker, link) {
            if (w->ninflight)
                return;
        }
    }
    /* every job is done: tell every worker to go */
    int alive = 0;
    for (size_t i = 0; i < p->nmodels; i++)
        vg_list_each_safe(w, next, &p->models[i]->workers, worker, link) {
            if (w->state == W_STARTING) {
                w->retiring = 1;
                vg_pool__worker_lost(w, "stopping");
                continue;
            }
            vg_pool__worker_send_quit(w);
            alive++;
        }
    if (alive || !vg_list_empty(&p->zombies))
        return;
    p->stop_done = 1;
    ev_timer_stop(p->loop, &p->stop_timer);
    ev_timer_start(p->loop, &p->stop_done_timer);
}


/* The drain's grace period is over: what is left is failed or killed. */
static void
pool_stop_grace_over(vg_pool *p)
{
    vg_warn("pool", "drain grace period over: killing the remaining workers");
    for (size_t i = 0; i < p->nmodels; i++) {
        model *m = p->models[i];
        vg_pool__fail_queue(m, VG_E_STOPPING, "the server is shutting down");
        worker *w;
        while ((w = vg_list_first(&m->workers, worker, link))) {
            w->retiring = 1;
            vg_pool__worker_lost(w, "stopping");
        }
    }
    vg_pool__maybe_finish_stop(p);
}


static VG_POOL__EV_CB(on_stop_grace, ev_timer, pool_stop_grace_over)


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
    vg_pool__maybe_finish_stop(p);
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
        vg_pool__fail_queue(m, VG_E_STOPPING, "the server is shutting down");
        worker *w;
        while ((w = vg_list_first(&m->workers, worker, link))) {
            /* fire in-flight callbacks before the worker goes */
            for (int k = 0; k < w->ninflight; k++) {
                job *j = w->inflight[k];
                j->w = NULL;
                j->state = J_DONE;
                if (j->cb)
                    vg_pool__complete(j, VG_E_STOPPING, "the server is shutting down", NULL, NULL, 0);
                else
                    vg_pool__job_free(j);
            }
            w->ninflight = 0;
            w->retiring = 1;
            vg_pool__worker_lost(w, "pool destroyed");
        }
    }
    /* the workers were SIGKILLed: reap them, waiting briefly */
    for (int tries = 0; !vg_list_empty(&p->zombies) && tries < 200; tries++) {
        vg_list_each(w, &p->zombies, worker, link)
            (void)waitpid(w->pid, NULL, tries < 199 ? WNOHANG : 0);
        vg_list_each_safe(w, next, &p->zombies, worker, link)
            if (w->exited || (kill(w->pid, 0) != 0 && errno == ESRCH)) {
                vg_list_remove(&p->zombies, &w->link);
                vg_pool__worker_free(w);
            }
        if (!vg_list_empty(&p->zombies))
            usleep(5000);
    }
    worker *w;
    while ((w = vg_list_first(&p->zombies, worker, link))) {
        vg_list_remove(&p->zombies, &w->link);
        vg_pool__worker_free(w);
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
        vg_pool__def_unref(m->d);
        vg_pool__def_unref(m->next_d);
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
