/*
 * pool_io: the master's end of each worker socket: JOB and QUIT frames out
 * (the image bytes written from where they are, with writev), READY,
 * RESULT and FATAL frames in (core/pool/ipc.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/clock.h"
#include "base/log.h"
#include "pool/pool_internal.h"
#include "pool/worker.h"


static void
worker_flush(worker *w)
{
    int rc = vg_frame_flush(w->m->pool->loop, &w->wio, w->out, w->nout, &w->outi);
    if (rc == 0)
        w->nout = w->outi = 0;
    else if (rc != -EAGAIN)
        vg_pool__worker_lost(w, "socket write failed");
}


VG_POOL__EV_CB(vg_pool__on_worker_writable, ev_io, worker_flush)


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


void
vg_pool__worker_send_quit(worker *w)
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
void
vg_pool__worker_send(worker *w, job **jobs, int n)
{
    uint64_t t = vg_mono_us();
    for (int i = 0; i < n; i++) {
        job *j = jobs[i];
        vg_ipc_job ij = {
            .id = j->id, .threshold = j->threshold, .nms = j->nms,
            .class_mask = j->mask, .mask_len = j->mask_len,
            .annotate = j->annotate, .quality = j->quality, .attributes = j->attributes,
            .overlay = j->overlay,
            .image = j->image, .image_len = j->image_len,
        };
        j->hdr.len = 0;
        if (vg_ipc_encode_job(&j->hdr, &ij) != 0) {
            vg_pool__complete(j, VG_E_INVAL, "the job could not be encoded", NULL, NULL, 0);
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
        if (w->d->infer_timeout_ms) {
            ev_timer_set(&w->infer_timer, w->d->infer_timeout_ms / 1000.0, 0);
            ev_timer_start(m->pool->loop, &w->infer_timer);
        }
        m->batches++;
        m->batched_jobs += (uint64_t)w->ninflight;
        m->batch_sizes[w->ninflight]++;
    }
    worker_flush(w);
}


/*
 * The labels of a READY against the manifest's: with a names file the
 * worker sends none and the class count must match; without one the first
 * worker's labels become the model's (the master needs them for answers
 * and class filters), and every later worker of that manifest must send
 * the same. 0 when the worker was lost over it.
 */
static int
ready_labels(worker *w, const vg_ipc_ready *r)
{
    vg_model *vm = w->d->m;
    char err[160];
    if (vm->names_path) {
        if (r->classes == vm->classes && r->nlabels == 0)
            return 1;
        vg_pool__worker_lost(w, "protocol error: class count differs from the manifest");
        return 0;
    }
    if (r->nlabels == 0) {
        vg_pool__worker_lost(w, "protocol error: no names file and no labels from the worker");
        return 0;
    }
    if (vm->labels) {
        int same = r->nlabels == (size_t)vm->classes;
        for (size_t i = 0; same && i < r->nlabels; i++)
            same = vg_str_eq(r->labels[i], vm->labels[i]);
        if (!same)
            vg_pool__worker_lost(w, "its plugin's labels differ from those of the model's first worker");
        return same;
    }
    int rc = vg_model_set_labels(vm, r->labels, r->nlabels, err, sizeof err);
    if (rc != 0) {
        vg_pool__worker_lost(w, rc == -ENOMEM ? "out of memory for its labels" : err);
        return 0;
    }
    vg_info("pool", "model %s: %zu labels from backend %.*s (no names file)", w->m->name, r->nlabels,
            (int)r->backend.n, r->backend.p);
    return 1;
}


static void
worker_handle_ready(worker *w, const vg_ipc_ready *r)
{
    model *m = w->m;
    vg_pool *p = m->pool;
    if (w->state != W_STARTING) {
        vg_pool__worker_lost(w, "protocol error: READY twice");
        return;
    }
    if (!ready_labels(w, r))
        return;
    w->state = W_READY;
    w->mem_cap = w->d->mem_cap;
    if (w->d->mem_cap && w->d->mem_cap_growth)
        w->mem_cap += vg_worker_rss(w->pid);
    w->max_batch = r->max_batch > VG_MODEL_MAX_BATCH ? VG_MODEL_MAX_BATCH : r->max_batch < 1 ? 1 : r->max_batch;
    m->backend_batch = w->max_batch;
    ev_timer_stop(p->loop, &w->start_timer);
    snprintf(m->backend, sizeof m->backend, "%.*s", (int)r->backend.n, r->backend.p);
    snprintf(m->device, sizeof m->device, "%.*s", (int)r->device.n, r->device.p);
    snprintf(w->device, sizeof w->device, "%s", m->device);
    snprintf(m->why, sizeof m->why, "%.*s", (int)r->why.n, r->why.p);
    snprintf(m->resize, sizeof m->resize, "%.*s", (int)r->resize.n, r->resize.p ? r->resize.p : "");
    snprintf(m->resize_why, sizeof m->resize_why, "%.*s", (int)r->resize_why.n,
             r->resize_why.p ? r->resize_why.p : "");
    snprintf(m->head, sizeof m->head, "%.*s", (int)r->head.n, r->head.p ? r->head.p : "");
    snprintf(m->head_from, sizeof m->head_from, "%.*s", (int)r->head_from.n, r->head_from.p ? r->head_from.p : "");
    m->input_w = r->input_w;
    m->input_h = r->input_h;
    m->classes = r->classes;
    m->task = r->task;
    m->start_fails = 0;
    m->ever_ready = 1;
    vg_info("pool", "model %s: worker %d (pid %d) ready in %.0f ms: %s on %s", m->name, w->slot,
            (int)w->pid, (vg_mono_us() - w->started_us) / 1000.0, m->backend, m->device);

    /* a reload: the first new-generation worker makes the new manifest current */
    if (w->gen == m->gen && m->next_d && w->d == m->next_d) {
        vg_pool__def_unref(m->d);
        m->d = m->next_d;
        m->next_d = NULL;
    }
    /* retire one older-generation worker per new one */
    vg_list_each(o, &m->workers, worker, link) {
        if (o->gen < w->gen && !o->retiring && o->state != W_GONE) {
            o->retiring = 1;
            if (o->ninflight == 0)
                vg_pool__worker_send_quit(o);
            break;
        }
    }
    vg_pool__model_update_state(m);
    vg_pool__dispatch(m);
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
        vg_pool__worker_lost(w, "protocol error: a result for a job it does not hold");
        return;
    }
    for (size_t i = 0; i < r->ndet; i++)
        if (r->dets[i].class_id >= w->d->m->classes) {
            vg_pool__worker_lost(w, "protocol error: class id out of range");
            return;
        }
    w->inflight[at] = w->inflight[--w->ninflight];
    j->w = NULL;
    if (w->ninflight == 0)
        ev_timer_stop(m->pool->loop, &w->infer_timer);
    w->rss = r->rss;
    m->crash_streak = 0;
    if (!j->cb) {
        j->state = J_DONE;
        vg_pool__job_free(j);
    } else {
        char msg[VG_IPC_MAX_STR + 1];
        snprintf(msg, sizeof msg, "%.*s", (int)r->msg.n, r->msg.p ? r->msg.p : "");
        j->state = J_DONE;
        vg_pool__complete(j, r->status, msg, r, w->d, w->pid);
    }
    if (r->last) {
        /* over its memory cap: it exits after this answer; replace it */
        vg_info("pool", "model %s: worker %d recycles itself at %zu MiB", m->name, w->slot, (size_t)(r->rss >> 20));
        w->retiring = 1;
        w->quit_sent = 1;
        vg_pool__spawn_missing(m, 1);
        return;
    }
    if (w->ninflight == 0 && (w->retiring || !m->loaded))
        vg_pool__worker_send_quit(w);
}


/* The worker's socket is readable: reads what it holds and handles each whole message. */
static void
worker_read(worker *w)
{
    model *m = w->m;
    ssize_t n = vg_frame_reader_fill(&w->rd, w->fd);
    if (n == -EAGAIN)
        return;
    if (n == 0) {
        vg_pool__worker_lost(w, w->state == W_STARTING ? "exited before it was ready" : "exited (end of stream)");
        vg_pool__dispatch(m);
        return;
    }
    if (n < 0) {
        vg_pool__worker_lost(w, n == VG_E_PROTO ? "protocol error: oversized frame" : "socket read failed");
        vg_pool__dispatch(m);
        return;
    }
    const uint8_t *payload;
    size_t len;
    int r;
    while (w->state != W_GONE && (r = vg_frame_reader_next(&w->rd, &payload, &len)) == 1) {
        vg_ipc_msg msg;
        int dr = vg_ipc_decode(payload, len, &msg);
        if (dr != 0) {
            vg_pool__worker_lost(w, "protocol error: malformed message");
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
                vg_pool__worker_lost(w, why);
                if (reloading) {
                    /* keep the old workers; drop the new manifest */
                    snprintf(m->why, sizeof m->why, "reload failed, still serving the previous manifest: %.400s", why);
                    vg_error("pool", "model %s: %s", m->name, m->why);
                    vg_list_each_safe(o, onext, &m->workers, worker, link) {
                        if (o->d == wd && o->state != W_GONE) {
                            o->retiring = 1;
                            vg_pool__worker_lost(o, "reload aborted");
                        }
                    }
                    vg_pool__def_unref(m->next_d);
                    m->next_d = NULL;
                    m->gen--;
                } else {
                    vg_pool__model_fail(m, VG_E_UNAVAILABLE, why);
                }
            } else {
                /* a running backend said the model can no longer run (VIGIA_EFATAL) */
                w->retiring = 1;
                vg_pool__worker_lost(w, why);
                vg_pool__model_fail(m, VG_E_UNAVAILABLE, why);
            }
            break;
        }
        default:
            vg_pool__worker_lost(w, "protocol error: unexpected message");
            break;
        }
        vg_ipc_msg_release(&msg);
    }
    if (w->state != W_GONE && r < 0)
        vg_pool__worker_lost(w, "protocol error: oversized frame");
    vg_pool__dispatch(m);
    vg_pool__maybe_finish_stop(m->pool);
}


VG_POOL__EV_CB(vg_pool__on_worker_readable, ev_io, worker_read)
