/*
 * pool_queue: jobs from submit to completion: the per-model queues (a FIFO
 * per lane, and which lane an idle worker serves next), deadlines, dynamic
 * batching (how many queued jobs go to which idle worker, and when to wait
 * for a fuller batch) and the one place a job's callback runs
 * (vg_pool__complete).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "pool/pool_internal.h"


static void
queue_remove(model *m, job *j)
{
    vg_list_remove(&m->queue[j->lane], &j->qlink);
}


void
vg_pool__queue_push(model *m, job *j, int front)
{
    j->state = J_QUEUED;
    j->w = NULL;
    if (front)
        vg_list_push_front(&m->queue[j->lane], &j->qlink);
    else
        vg_list_push_back(&m->queue[j->lane], &j->qlink);
}


unsigned
vg_pool__queued(const model *m)
{
    size_t n = 0;
    for (int l = 0; l < VG_POOL_LANES; l++)
        n += m->queue[l].n;
    return (unsigned)n;
}


void
vg_pool__job_free(job *j)
{
    vg_pool *p = j->pool;
    ev_timer_stop(p->loop, &j->timer);
    if (j->image_free)
        j->image_free(j->image_ctx);
    free(j->image_copy);
    free(j->overlay);
    free(j->mask);
    vg_buf_release(&j->hdr);
    free(j);
}


/*
 * Completes a job: its callback runs now, exactly once. `r` carries the
 * worker's answer (NULL on pool-side errors). Frees the job unless a
 * worker still holds it.
 */
void
vg_pool__complete(job *j, int status, const char *msg, const vg_ipc_result *r, const def *d, int pid)
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
    res.task = m->task;
    uint64_t t = vg_mono_us();
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
        vg_pool__record_latency(m, res.total_us / 1000.0, res.infer_us / 1000.0);
        vg_pool__record_phases(m, &res);
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
        vg_pool__job_free(j);
}


/* Fails every queued job of the model. */
void
vg_pool__fail_queue(model *m, int status, const char *msg)
{
    job *j;
    for (int l = 0; l < VG_POOL_LANES; l++)
        while ((j = vg_list_first(&m->queue[l], job, qlink)))
            vg_pool__complete(j, status, msg, NULL, NULL, 0);
}


static void
job_deadline(job *j)
{
    if (j->state == J_QUEUED) {
        vg_pool__complete(j, VG_E_TIMEDOUT, "the job waited in the queue past its deadline", NULL, NULL, 0);
        return;
    }
    if (j->state == J_SENT && j->w) {
        worker *w = j->w;
        model *m = w->m;
        char msg[160];
        snprintf(msg, sizeof msg, "the worker ran past the job's deadline and was killed");
        vg_warn("pool", "%s: job %llu ran past its deadline: killing worker %d (pid %d)", m->name,
                (unsigned long long)j->id, w->slot, (int)w->pid);
        /* take it out of the batch first: it is answered, not retried */
        for (int i = 0; i < w->ninflight; i++)
            if (w->inflight[i] == j) {
                w->inflight[i] = w->inflight[--w->ninflight];
                break;
            }
        j->w = NULL;
        j->state = J_DONE;
        w->fault_kill = 1;
        vg_pool__complete(j, VG_E_TIMEDOUT, msg, NULL, NULL, w->pid);
        vg_pool__worker_lost(w, "killed: job deadline");
        vg_pool__dispatch(m);
    }
}


static VG_POOL__EV_CB(on_job_deadline, ev_timer, job_deadline)


/* Jobs `w` takes at once: the manifest's [batching] max_batch within what its backend takes. */
static int
batch_cap(const worker *w)
{
    int cap = w->max_batch;
    if (w->d->max_batch && (int)w->d->max_batch < cap)
        cap = (int)w->d->max_batch;
    return cap;
}


VG_POOL__EV_CB(vg_pool__on_batch_timer, ev_timer, vg_pool__dispatch)


static int
worker_idle(const worker *w)
{
    return w->state == W_READY && !w->retiring && !w->quit_sent && w->ninflight == 0;
}


/* The lane of the batch a worker runs (a batch is of one lane), or -1 when it runs none. */
static int
worker_lane(const worker *w)
{
    return w->ninflight ? w->inflight[0]->lane : -1;
}


/*
 * How many more workers bulk batches may take now: the workers that take
 * jobs, less nvr_workers (at least one), less those running a bulk batch.
 */
static int
bulk_room(const model *m)
{
    const vg_pool *p = m->pool;
    if (!p->o.nvr_priority)
        return VG_MODEL_MAX_WORKERS;
    int open = 0, bulk = 0;
    vg_list_each(w, &m->workers, const worker, link)
        if (w->state == W_READY && !w->retiring && !w->quit_sent) {
            open++;
            bulk += worker_lane(w) == VG_POOL_LANE_BULK;
        }
    int share = open - (int)p->o.nvr_workers;
    return (share < 1 ? 1 : share) - bulk;
}


/*
 * The lane the next idle worker serves, or -1 when none may go: NVR first,
 * unless nvr_burst NVR batches in a row went out while bulk jobs that may
 * go (bulk_ok) were waiting.
 */
static int
next_lane(const model *m, int bulk_ok)
{
    int nvr = !vg_list_empty(&m->queue[VG_POOL_LANE_NVR]);
    int bulk = bulk_ok && !vg_list_empty(&m->queue[VG_POOL_LANE_BULK]);
    if (nvr && (!bulk || m->nvr_streak < m->pool->o.nvr_burst))
        return VG_POOL_LANE_NVR;
    return bulk ? VG_POOL_LANE_BULK : -1;
}


/*
 * Sends queued jobs to idle workers, lane by lane (next_lane(); see "lanes"
 * in pool.h), spread evenly over them (each takes ceil(waiting in the lane
 * / idle workers), at most its batch cap), so that batching never leaves a
 * worker idle beside a waiting job. With a max_queue_delay_us, no bulk job
 * leaves while the bulk queue holds fewer jobs than the idle workers could
 * take in full batches and its oldest job has waited less than the delay
 * (the batch timer wakes us then); NVR jobs and a draining pool go at once.
 */
void
vg_pool__dispatch(model *m)
{
    vg_pool *p = m->pool;
    if (!vg_pool__queued(m)) {
        ev_timer_stop(p->loop, &m->batch_timer);
        return;
    }
    int idle = 0, room = 0;
    uint32_t delay = 0;
    vg_list_each(w, &m->workers, worker, link)
        if (worker_idle(w)) {
            idle++;
            room += batch_cap(w);
            if (w->d->delay_us > delay)
                delay = w->d->delay_us;
        }
    if (idle == 0)
        return;
    const vg_list *bulkq = &m->queue[VG_POOL_LANE_BULK];
    int hold = 0;   /* bulk jobs wait for a fuller batch */
    ev_timer_stop(p->loop, &m->batch_timer);
    if (delay && !vg_list_empty(bulkq) && (int)bulkq->n < room && !p->stopping) {
        uint64_t waited = vg_mono_us() - vg_list_first(bulkq, job, qlink)->submit_us;
        if (waited < delay) {
            hold = 1;
            ev_timer_set(&m->batch_timer, (double)(delay - waited) / 1e6, 0);
            ev_timer_start(p->loop, &m->batch_timer);
        }
    }
    /* look again after each send: a send that fails loses its worker */
    for (;;) {
        worker *w = NULL;
        idle = 0;
        vg_list_each(x, &m->workers, worker, link)
            if (worker_idle(x)) {
                if (!w)
                    w = x;
                idle++;
            }
        if (!w)
            break;
        int lane = next_lane(m, !hold && bulk_room(m) > 0);
        if (lane < 0)
            break;
        if (lane == VG_POOL_LANE_BULK)
            m->nvr_streak = 0;
        else if (!vg_list_empty(bulkq) && !hold && bulk_room(m) > 0)
            m->nvr_streak++;   /* a bulk job that could have gone waits */
        else
            m->nvr_streak = 0;
        vg_list *q = &m->queue[lane];
        int share = ((int)q->n + idle - 1) / idle, cap = batch_cap(w);
        if (share > cap)
            share = cap;
        job *batch[VG_MODEL_MAX_BATCH];
        int n = 0;
        job *j;
        while (n < share && (j = vg_list_first(q, job, qlink))) {
            queue_remove(m, j);
            batch[n++] = j;
        }
        vg_pool__worker_send(w, batch, n);
    }
}


/*
 * The classes a job keeps, as a mask over m's labels (NULL: all): the job's
 * own `classes`, which must lie within those of the alias it named (am, or
 * NULL), else the alias's.
 */
static int
job_mask(const model *m, const vg_model *am, const vg_pool_job *jb, uint8_t **out, char *err, size_t errlen)
{
    const vg_model *vm = m->d->m;
    const char *const *want = jb->classes;
    size_t n = jb->classes ? jb->nclasses : 0;
    int from_alias = 0;
    *out = NULL;
    if (n && am && am->alias_classes) {
        for (size_t i = 0; i < n; i++) {
            int kept = 0;
            for (int k = 0; k < am->alias_nclasses && !kept; k++)
                kept = want[i] && strcmp(want[i], am->alias_classes[k]) == 0;
            if (!kept) {
                vg_pool__copy_err(err, errlen, "model %s keeps no class '%.80s'", am->name, want[i] ? want[i] : "");
                return VG_E_INVAL;
            }
        }
    } else if (!n && am && am->alias_classes) {
        want = (const char *const *)am->alias_classes;
        n = (size_t)am->alias_nclasses;
        from_alias = 1;
    }
    if (!n)
        return 0;
    if (!vm->labels) {
        vg_pool__copy_err(err, errlen, "model %s has no names file and no worker has told its labels yet", m->name);
        return VG_E_UNAVAILABLE;
    }
    uint8_t *mask = calloc((size_t)vm->classes, 1);
    if (!mask) {
        vg_pool__copy_err(err, errlen, "%s", "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (int k = 0; k < vm->classes; k++)
            if (want[i] && strcmp(want[i], vm->labels[k]) == 0)
                mask[k] = found = 1;
        if (!found && from_alias) {
            /* the alias's manifest is wrong, not the request */
            vg_pool__copy_err(err, errlen, "alias %s keeps class '%.80s', which model %s does not have", am->name,
                              want[i], m->name);
            free(mask);
            return VG_E_UNAVAILABLE;
        }
        if (!found) {
            vg_pool__copy_err(err, errlen, "model %s has no class '%.80s'", m->name, want[i] ? want[i] : "");
            free(mask);
            return VG_E_INVAL;
        }
    }
    *out = mask;
    return 0;
}


static int
submit_local(vg_pool *p, const char *name, const vg_pool_job *jb, vg_pool_cb cb, void *ud,
             vg_pool_req **req, char *err, size_t errlen)
{
    if (req)
        *req = NULL;
    if (!jb || !cb) {
        vg_pool__copy_err(err, errlen, "%s", "missing job or callback");
        return VG_E_INVAL;
    }
    if (p->stopping) {
        vg_pool__copy_err(err, errlen, "%s", "the server is shutting down");
        return VG_E_STOPPING;
    }
    if (!name || !name[0]) {
        char why[1024];
        if (vg_pool_default_problem(p, why, sizeof why)) {
            vg_pool__copy_err(err, errlen, "%s", why);
            return VG_E_UNAVAILABLE;
        }
        name = vg_pool_default_model(p);
        if (!name) {
            vg_pool__copy_err(err, errlen, "%s", "no model is loaded: name one that is installed "
                              "(GET /v1/models), or load one (POST /v1/models/NAME/load, --detect-load NAME)");
            return VG_E_UNAVAILABLE;
        }
    }
    model *m = vg_pool__find_model(p, name);
    if (!m) {
        vg_pool__copy_err(err, errlen, "no model '%.80s'", name);
        return VG_E_NOMODEL;
    }
    if (m->state == M_INVALID) {
        vg_pool__copy_err(err, errlen, "model %s is invalid: %s", m->name, m->why);
        return VG_E_MANIFEST;
    }
    const vg_model *am = m->d && m->d->m->alias ? m->d->m : NULL;   /* the alias named, if one was */
    if (am && !(m = vg_pool__alias_target(p, m, err, errlen)))
        return VG_E_NOMODEL;
    if (!m->loaded) {
        vg_pool__copy_err(err, errlen, "model %s is not loaded", m->name);
        return VG_E_NOTLOADED;
    }
    if (m->state == M_FAILED) {
        vg_pool__copy_err(err, errlen, "%s", m->fail[0] ? m->fail : "the model failed to load");
        return m->fail_status ? m->fail_status : VG_E_UNAVAILABLE;
    }
    if (!jb->image || jb->image_len == 0) {
        vg_pool__copy_err(err, errlen, "%s", "empty image");
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
        vg_pool__copy_err(err, errlen, "%s", "min_confidence must be in (0, 1], nms in [0, 1], jpeg_quality in 1..100");
        return VG_E_INVAL;
    }
    if (jb->lane < 0 || jb->lane >= VG_POOL_LANES) {
        vg_pool__copy_err(err, errlen, "no lane %d", jb->lane);
        return VG_E_INVAL;
    }
    int lane = p->o.nvr_priority ? jb->lane : VG_POOL_LANE_BULK;
    /* jobs an idle worker is about to take do not count as waiting */
    unsigned idle = 0;
    vg_list_each(w, &m->workers, const worker, link)
        if (w->state == W_READY && !w->retiring && !w->quit_sent && w->ninflight == 0)
            idle += (unsigned)w->max_batch;
    if (jb->overlay && m->queue[lane].n > 0 && m->queue[lane].n >= idle) {
        m->rejected++;
        vg_pool__copy_err(err, errlen, "an overlay of model %s was dropped: jobs are waiting", m->name);
        return VG_E_QUEUEFULL;
    }
    if (m->queue[lane].n >= p->o.queue_max + idle) {
        m->rejected++;
        vg_pool__copy_err(err, errlen, "the %squeue of model %s is full", lane == VG_POOL_LANE_NVR ? "NVR " : "",
                          m->name);
        return VG_E_QUEUEFULL;
    }
    const vg_model *vm = m->d->m;
    job *j = calloc(1, sizeof *j);
    if (!j) {
        vg_pool__copy_err(err, errlen, "%s", "out of memory");
        return -ENOMEM;
    }
    int rc = job_mask(m, am, jb, &j->mask, err, errlen);
    if (rc != 0) {
        free(j);
        return rc;
    }
    j->mask_len = j->mask ? (size_t)vm->classes : 0;
    if (jb->overlay) {
        j->overlay = malloc(sizeof *j->overlay);
        if (!j->overlay) {
            free(j->mask);
            free(j);
            vg_pool__copy_err(err, errlen, "%s", "out of memory");
            return -ENOMEM;
        }
        memcpy(j->overlay, jb->overlay, sizeof *j->overlay);
    }
    if (jb->image_free) {
        j->image = jb->image;
        j->image_free = jb->image_free;
        j->image_ctx = jb->image_ctx;
    } else {
        j->image_copy = malloc(jb->image_len);
        if (!j->image_copy) {
            free(j->overlay);
            free(j->mask);
            free(j);
            vg_pool__copy_err(err, errlen, "%s", "out of memory");
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
    j->lane = lane;
    j->threshold = jb->min_confidence;
    j->nms = jb->nms;
    j->annotate = jb->annotate;
    j->attributes = jb->attributes;
    j->quality = jb->jpeg_quality ? jb->jpeg_quality : 85;
    j->submit_us = vg_mono_us();
    vg_buf_init(&j->hdr);
    uint32_t dl = jb->deadline_ms ? jb->deadline_ms : p->o.job_timeout_ms;
    ev_timer_init(&j->timer, on_job_deadline, dl / 1000.0, 0);
    j->timer.data = j;
    ev_now_update(p->loop);
    ev_timer_start(p->loop, &j->timer);
    vg_pool__queue_push(m, j, 0);
    if (req)
        *req = (vg_pool_req *)j;
    /* sent from the loop, so that no callback ever runs inside submit */
    ev_prepare_start(p->loop, &p->kick);
    return 0;
}


/* A remote job's answer: its caller's callback, then the handle goes. */
static void
remote_done(int status, vg_pool_result *res, void *ud)
{
    job *j = ud;
    vg_pool_cb cb = j->cb;
    void *cud = j->ud;
    free(j);
    cb(status, res, cud);
}


/* What a remote may take: the jobs this pool refuses for want of the model or of room. */
static int
remote_may_take(int rc)
{
    return rc == VG_E_NOMODEL || rc == VG_E_NOTLOADED || rc == VG_E_UNAVAILABLE || rc == VG_E_MODELFAILED ||
           rc == VG_E_QUEUEFULL;
}


int
vg_pool_submit(vg_pool *p, const char *name, const vg_pool_job *jb, vg_pool_cb cb, void *ud,
               vg_pool_req **req, char *err, size_t errlen)
{
    int rc = submit_local(p, name, jb, cb, ud, req, err, errlen);
    if (rc == 0 || !p->remote.submit || !remote_may_take(rc) || jb->overlay)
        return rc;
    if (!name || !name[0])
        name = vg_pool_configured_default(p);
    job *j = calloc(1, sizeof *j);
    if (!j)
        return rc;
    j->pool = p;
    j->cb = cb;
    j->ud = ud;
    j->state = J_REMOTE;
    char why[512];
    int rrc = p->remote.submit(p->remote.ctx, name ? name : "", jb, remote_done, j, &j->remote, why, sizeof why);
    if (rrc != 0) {
        free(j);
        if (rc == VG_E_QUEUEFULL)
            return rc;
        vg_pool__copy_err(err, errlen, "%s", why);
        return rrc;
    }
    if (jb->image_free)
        jb->image_free(jb->image_ctx);   /* the remote copied the bytes it sends */
    if (req)
        *req = (vg_pool_req *)j;
    return 0;
}


void
vg_pool_set_remote(vg_pool *p, const vg_pool_remote *remote)
{
    if (remote)
        p->remote = *remote;
    else
        memset(&p->remote, 0, sizeof p->remote);
}


int
vg_pool_has_remote(const vg_pool *p)
{
    return p->remote.submit != NULL;
}


int
vg_pool_remote_describe(const vg_pool *p, struct vg_jsonw *w)
{
    if (!p->remote.describe)
        return 0;
    p->remote.describe(p->remote.ctx, w);
    return 1;
}


void
vg_pool_cancel(vg_pool_req *req)
{
    job *j = (job *)req;
    if (!j || !j->cb)
        return;
    if (j->state == J_REMOTE) {
        vg_pool_result res;
        memset(&res, 0, sizeof res);
        res.model = "";
        res.backend = "";
        res.message = "canceled";
        vg_pool_cb cb = j->cb;
        void *ud = j->ud;
        j->pool->remote.cancel(j->pool->remote.ctx, j->remote);
        free(j);
        cb(VG_E_CANCELED, &res, ud);
        return;
    }
    vg_pool__complete(j, VG_E_CANCELED, "canceled", NULL, NULL, 0);
}


unsigned
vg_pool_retry_after(const vg_pool *p, const char *name)
{
    if (!name || !name[0])
        name = vg_pool_default_model(p);
    const model *m = name ? vg_pool__find_model(p, name) : NULL;
    if (!m || m->wlen == 0)
        return 1;
    double sum = 0;
    for (unsigned i = 0; i < m->wlen; i++)
        sum += m->window[i].infer_ms + 1;
    double mean_ms = sum / m->wlen;
    unsigned workers = m->target ? m->target : 1;
    double s = ceil(vg_pool__queued(m) * mean_ms / workers / 1000.0);
    if (s < 1)
        s = 1;
    if (s > 60)
        s = 60;
    return (unsigned)s;
}
