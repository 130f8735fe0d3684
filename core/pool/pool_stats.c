/*
 * pool_stats: what the pool reports: per-model counters, the latency
 * window (percentiles, answer rate), histograms, batching figures, and
 * the workers of a model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool_internal.h"
#include "base/clock.h"

const double vg_pool_hist_bounds_ms[VG_POOL_HIST_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, INFINITY
};

static const char *const model_state_names[] = {
    "unloaded", "loading", "ready", "degraded", "failed", "unloading", "invalid"
};


void
vg_pool__record_latency(model *m, double total_ms, double infer_ms)
{
    m->window[m->wpos].total_ms = (float)total_ms;
    m->window[m->wpos].infer_ms = (float)infer_ms;
    m->window[m->wpos].done_us = vg_mono_us();
    m->wpos = (m->wpos + 1) % VG_POOL__LAT_WINDOW;
    if (m->wlen < VG_POOL__LAT_WINDOW)
        m->wlen++;
    int b = 0;
    while (b < VG_POOL_HIST_BUCKETS - 1 && total_ms > vg_pool_hist_bounds_ms[b])
        b++;
    m->hist[b]++;
    m->hist_sum += total_ms;
}


void
vg_pool__record_phases(model *m, const vg_pool_result *res)
{
    m->phase_us[0] += res->queue_us;
    m->phase_us[1] += res->decode_us;
    m->phase_us[2] += res->infer_us;
    m->phase_us[3] += res->post_us;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->last_ok_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


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
    const vg_model *vm = m->d ? m->d->m : NULL;
    const def *bd = m->next_d ? m->next_d : m->d;   /* batching: the manifest being loaded, if any */
    *s = (vg_pool_model_stats){
        .name = m->name, .state = model_state_names[m->state], .why = m->why,
        .backend = m->backend[0] ? m->backend : m->backend_override ? m->backend_override : vm ? vm->backend : "",
        .device = m->device,
        .resize = m->resize[0] ? m->resize : vm && !vm->alias ? (vm->resize == VG_RESIZE_STRETCH ? "stretch" : "letterbox") : "",
        .resize_why = m->resize[0] ? m->resize_why : vm && !vm->alias ? vm->resize_from : "",
        .head = m->head, .head_from = m->head_from,
        .description = vm ? vm->description : "",
        .input_w = m->input_w ? m->input_w : vm ? vm->input_w : 0,
        .input_h = m->input_h ? m->input_h : vm ? vm->input_h : 0,
        .alias = vm ? vm->alias : NULL,
        .classes = vm ? (vm->alias ? vm->alias_nclasses : vm->classes) : 0,
        .task = m->task,   /* an alias: its model's, below */
        .labels = vm ? (const char *const *)(vm->alias ? vm->alias_classes : vm->labels) : NULL,
        .labels_from = vm && !vm->alias ? vg_model_labels_source(vm) : "",
        .threshold = vm ? vm->threshold : 0, .nms = vm ? vm->nms : 0,
        .nms_kind = vm && !vm->alias ? vg_model_nms_kind_name(vm->nms_kind) : "",
        .nms_kind_from = vm && !vm->alias ? vm->nms_kind_from : "",
        .nms_diou_beta = vm && !vm->alias ? vg_model_diou_beta(vm) : 0,
        .workers = m->loaded ? m->target : 0,
        .queue_depth = vg_pool__queued(m), .queue_max = m->pool->o.queue_max,
        .queue_depth_nvr = (unsigned)m->queue[VG_POOL_LANE_NVR].n,
        .jobs_ok = m->ok, .jobs_failed = m->failed, .jobs_rejected = m->rejected,
        .jobs_timedout = m->timedout, .jobs_retried = m->retried,
        .restarts = m->restarts, .crashes = m->crashes,
        .hist_sum_ms = m->hist_sum,
        .queue_us_sum = m->phase_us[0], .decode_us_sum = m->phase_us[1],
        .infer_us_sum = m->phase_us[2], .post_us_sum = m->phase_us[3],
        .last_answer_ms = m->last_ok_ms,
        .backend_batch = (unsigned)m->backend_batch,
        .max_queue_delay_us = bd ? bd->delay_us : 0,
        .batches = m->batches, .batched_jobs = m->batched_jobs,
    };
    const model *target = vm && vm->alias ? vg_pool__find_model(m->pool, vm->alias) : NULL;
    if (target)
        s->task = target->task;
    vg_list_each(w, &m->workers, const worker, link) {
        if (w->state == W_READY && !w->retiring)
            s->workers_ready++;
        if (w->ninflight)
            s->workers_busy++;
    }
    if (m->wlen) {
        float tot[VG_POOL__LAT_WINDOW], inf[VG_POOL__LAT_WINDOW];
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
        uint64_t t = vg_mono_us(), span = 60000000u, recent = 0, oldest = t;
        if (m->loaded_us && t - m->loaded_us < span)
            span = t - m->loaded_us;
        for (unsigned i = 0; i < m->wlen; i++)
            if (t - m->window[i].done_us <= span) {
                recent++;
                if (m->window[i].done_us < oldest)
                    oldest = m->window[i].done_us;
            }
        if (recent == VG_POOL__LAT_WINDOW)
            span = t - oldest;   /* the window holds less than the span: rate over what it holds */
        s->answers_per_s = span ? (double)recent * 1e6 / (double)span : 0;
    }
    memcpy(s->hist, m->hist, sizeof s->hist);
    memcpy(s->batch_sizes, m->batch_sizes, sizeof s->batch_sizes);
    s->max_batch = (unsigned)m->backend_batch;
    if (bd && bd->max_batch && (!s->max_batch || bd->max_batch < s->max_batch))
        s->max_batch = bd->max_batch;
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
    const model *m = name ? vg_pool__find_model(p, name) : NULL;
    if (!m)
        return VG_E_NOMODEL;
    fill_stats(m, out);
    return 0;
}


int
vg_pool_model_workers(const vg_pool *p, const char *name, vg_pool_worker_info *out, size_t max)
{
    const model *m = name ? vg_pool__find_model(p, name) : NULL;
    if (!m)
        return VG_E_NOMODEL;
    uint64_t t = vg_mono_us();
    size_t n = 0;
    vg_list_each(w, &m->workers, const worker, link) {
        if (w->state == W_GONE)
            continue;
        if (n < max) {
            vg_pool_worker_info *i = &out[n];
            i->pid = (int)w->pid;
            i->index = w->index;
            i->slot = w->slot;
            i->device = w->device;
            i->state = w->retiring || w->quit_sent ? "retiring" : w->state == W_READY ? "ready" : "starting";
            i->busy = w->ninflight;
            i->rss = w->rss;
            i->uptime_s = (t - w->started_us) / 1e6;
        }
        n++;
    }
    return (int)n;
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
        if (vg_pool__worker_alive_count(m, 1) == 0)
            return 0;
    }
    return any;
}
