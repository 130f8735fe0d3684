/*
 * front: jobs sent to the cluster and their answers read back (see
 * front.h). A job waits in `pending` from XADD to its result, its deadline
 * or the loss of the bus, and is answered exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/frame.h"
#include "base/jsonw.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cluster/envelope.h"
#include "cluster/front.h"
#include "cluster/placement.h"

typedef struct rjob rjob;

struct vg_cluster_front {
    struct ev_loop *loop;
    vg_pool *pool;
    vg_cluster_options o;
    char node[VG_CLUSTER_MAX_NAME + 1];
    char reply_key[VG_CLUSTER_MAX_KEY];     /* vigia:reply:NODE */
    vg_bus *bus;                   /* commands */
    vg_bus *rbus;                  /* the blocking XREAD of the reply stream */
    vg_placement *pl;
    vg_list pending;               /* rjob.link, oldest first */
    uint64_t next_id;
    char last_id[48];              /* the last reply entry read ("$" before the first) */
    int reading;                   /* an XREAD is in flight (destroy ends it first, with NULL) */
    uint64_t sent, answered, late, refused;
    vg_metric *m_jobs, *m_waiting, *m_up;   /* read at each scrape (collect) */
};

struct rjob {
    vg_cluster_front *f;
    vg_link link;
    uint64_t id;
    char model[VG_CLUSTER_MAX_NAME + 1];
    vg_pool_cb cb;
    void *ud;
    int live;
    uint64_t start_us;
    ev_timer timer;                /* its deadline */
};



void
vg_cluster_options_init(vg_cluster_options *o)
{
    memset(o, 0, sizeof *o);
    o->interval_ms = 1000;
    o->ttl_ms = 3000;
    o->claim_after_ms = 5000;
    o->job_timeout_ms = 30000;
    o->max_inflight = 64;
    o->stream_max = 10000;
}


void
vg_cluster_node_name(const vg_cluster_options *o, char *out, size_t outlen)
{
    if (o->node && o->node[0]) {
        snprintf(out, outlen, "%s", o->node);
        return;
    }
    char host[65] = "node";
    if (gethostname(host, sizeof host - 1) != 0 || !vg_cluster_name_ok(host, strlen(host)))
        snprintf(host, sizeof host, "node");
    host[40] = '\0';
    snprintf(out, outlen, "%s-%d", host, (int)getpid());
}


/* Answers a waiting job once and frees it. `res` may be NULL (an error without a worker's answer). */
static void
rjob_finish(rjob *j, int status, vg_pool_result *res, const char *msg)
{
    vg_cluster_front *f = j->f;
    vg_pool_result empty;
    char model[sizeof j->model];   /* the answer names it after j is gone */
    memcpy(model, j->model, sizeof model);
    ev_timer_stop(f->loop, &j->timer);
    vg_list_remove(&f->pending, &j->link);
    if (!res) {
        memset(&empty, 0, sizeof empty);
        empty.backend = "";
        empty.message = msg ? msg : vg_err_str(status);
        empty.total_us = vg_mono_us() - j->start_us;
        empty.queue_us = empty.total_us;
        res = &empty;
    }
    res->model = model;
    vg_pool_cb cb = j->cb;
    void *ud = j->ud;
    free(j);
    cb(status, res, ud);
}


static void
on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    rjob *j = t->data;
    rjob_finish(j, VG_E_TIMEDOUT, NULL, "no node of the cluster answered before the job's deadline");
}


static void
fail_pending(vg_cluster_front *f, int status, const char *msg)
{
    rjob *j;
    while ((j = vg_list_first(&f->pending, rjob, link)))
        rjob_finish(j, status, NULL, msg);
}


/* ---- answers ----------------------------------------------------------- */

static void read_replies(vg_cluster_front *f);


static void
take_result(vg_cluster_front *f, const redisReply *fields)
{
    vg_str kv[2 * VG_CLUSTER_MAX_FIELDS];
    size_t n = vg_bus_reply_strs(fields, kv, 2 * VG_CLUSTER_MAX_FIELDS);
    vg_cluster_result r;
    char err[160];
    int rc = vg_cluster_result_decode(kv, n, &r, err, sizeof err);
    if (rc != 0) {
        vg_warn("cluster", "reply stream %s: %s", f->reply_key, rc == VG_E_PROTO ? err : vg_err_str(rc));
        return;
    }
    rjob *j = NULL;
    vg_list_each(x, &f->pending, rjob, link)
        if (x->id == r.id) {
            j = x;
            break;
        }
    if (!j) {
        f->late++;   /* past its deadline, or answered twice after a claim */
        vg_cluster_result_release(&r);
        return;
    }
    const vg_ipc_result *ir = &r.msg.u.result;
    vg_pool_result res;
    memset(&res, 0, sizeof res);
    char by[VG_CLUSTER_MAX_NAME + 16];
    snprintf(by, sizeof by, "cluster:%.*s", (int)r.node.n, r.node.p);
    res.backend = by;   /* model: set by rjob_finish */
    char msg[VG_IPC_MAX_STR + 1];
    snprintf(msg, sizeof msg, "%.*s", (int)ir->msg.n, ir->msg.p ? ir->msg.p : "");
    res.message = msg;
    res.width = ir->w;
    res.height = ir->h;
    res.count = ir->status == 0 ? ir->ndet : 0;
    res.detections = ir->dets;
    res.decode_us = ir->decode_us;
    res.infer_us = ir->infer_us;
    res.post_us = ir->post_us;
    res.annotate_us = ir->annotate_us;
    res.total_us = vg_mono_us() - j->start_us;
    res.queue_us = res.total_us > ir->decode_us + ir->infer_us + ir->post_us + ir->annotate_us
                       ? res.total_us - (ir->decode_us + ir->infer_us + ir->post_us + ir->annotate_us) : 0;
    res.attempts = 1;
    res.batch = 1;
    if (ir->status == 0 && ir->jpeg && ir->jpeg_len) {
        res.jpeg = malloc(ir->jpeg_len);
        if (res.jpeg) {
            memcpy(res.jpeg, ir->jpeg, ir->jpeg_len);
            res.jpeg_len = ir->jpeg_len;
        }
    }
    f->answered++;
    rjob_finish(j, ir->status, &res, NULL);
    free(res.jpeg);
    vg_cluster_result_release(&r);
}


static void
on_xread(vg_bus *bus, struct redisReply *r, void *ud)
{
    (void)bus;
    vg_cluster_front *f = ud;
    f->reading = 0;
    if (!r)
        return;   /* the bus dropped: read again when it is back */
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t s = 0; s < r->elements; s++) {
            redisReply *st = r->element[s];
            if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 || st->element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            redisReply *entries = st->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                redisReply *e = entries->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                    continue;
                snprintf(f->last_id, sizeof f->last_id, "%.*s", (int)e->element[0]->len, e->element[0]->str);
                if (e->element[1]->type == REDIS_REPLY_ARRAY)
                    take_result(f, e->element[1]);
            }
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        vg_warn("cluster", "XREAD %s: %s", f->reply_key, r->str);
    }
    read_replies(f);
}


static void
read_replies(vg_cluster_front *f)
{
    if (f->reading || !vg_bus_is_up(f->rbus))
        return;
    if (vg_bus_commandv(f->rbus, on_xread, f, "XREAD", "COUNT", "256", "BLOCK", "1000", "STREAMS", f->reply_key,
                        f->last_id, NULL) == 0)
        f->reading = 1;
}


static void
on_rbus_state(vg_bus *bus, int up, void *ud)
{
    (void)bus;
    vg_cluster_front *f = ud;
    if (up)
        read_replies(f);
}


static void
on_bus_state(vg_bus *bus, int up, void *ud)
{
    (void)bus;
    vg_cluster_front *f = ud;
    if (!up)
        fail_pending(f, VG_E_BUSDOWN, "the cluster bus went down before a node answered");
}


/* ---- the pool's remote -------------------------------------------------- */

static int
remote_submit(void *ctx, const char *model, const vg_pool_job *jb, vg_pool_cb cb, void *ud, void **handle,
              char *err, size_t errlen)
{
    vg_cluster_front *f = ctx;
    *handle = NULL;
    size_t ml = strlen(model);
    if (!vg_cluster_name_ok(model, ml)) {
        snprintf(err, errlen, "no model '%.64s'", model);
        return VG_E_NOMODEL;
    }
    if (!vg_bus_is_up(f->bus) || !vg_bus_is_up(f->rbus)) {
        snprintf(err, errlen, "model '%.64s' is not served here and the cluster bus is down (%s)", model,
                 vg_bus_why(f->bus));
        f->refused++;
        return VG_E_BUSDOWN;
    }
    unsigned free_slots = 0;
    if (vg_placement_find(f->pl, model, &free_slots, err, errlen) == 0) {
        f->refused++;
        return VG_E_UNPLACED;
    }
    unsigned waiting = 0;
    vg_list_each(x, &f->pending, rjob, link)
        waiting += strcmp(x->model, model) == 0;
    if (waiting >= f->o.max_inflight) {
        snprintf(err, errlen, "%u jobs of model %s already wait on the cluster", waiting, model);
        f->refused++;
        return VG_E_QUEUEFULL;
    }
    /* the job as the workers' own JOB frame, the image right after it */
    vg_buf fr;
    vg_buf_init(&fr);
    vg_ipc_job ij = { .id = f->next_id, .threshold = jb->min_confidence, .nms = jb->nms,
                      .annotate = jb->annotate, .quality = jb->jpeg_quality ? jb->jpeg_quality : 85,
                      .image = jb->image, .image_len = jb->image_len };
    int rc = vg_ipc_encode_job(&fr, &ij);
    if (rc != 0) {
        vg_buf_release(&fr);
        snprintf(err, errlen, "%s", "the job does not fit a worker message");
        return rc;
    }
    vg_buf_append(&fr, jb->image, jb->image_len);
    vg_buf classes;
    vg_buf_init(&classes);
    for (size_t i = 0; jb->classes && i < jb->nclasses; i++) {
        if (i)
            vg_buf_putc(&classes, ',');
        vg_buf_puts(&classes, jb->classes[i] ? jb->classes[i] : "");
    }
    if (classes.len > VG_CLUSTER_MAX_CLASSES) {
        vg_buf_release(&fr);
        vg_buf_release(&classes);
        snprintf(err, errlen, "%s", "class list too long");
        return VG_E_INVAL;
    }
    rjob *j = calloc(1, sizeof *j);
    if (!j) {
        vg_buf_release(&fr);
        vg_buf_release(&classes);
        return -ENOMEM;
    }
    uint32_t dl = jb->deadline_ms ? jb->deadline_ms : f->o.job_timeout_ms;
    vg_cluster_job cj = { .id = f->next_id, .reply = vg_str_of(f->reply_key), .deadline_ms = vg_cluster_wall_ms() + dl,
                          .live = jb->live, .classes = { classes.data, classes.len }, .frame = { fr.data, fr.len } };
    const char *argv[6 + 2 * VG_CLUSTER_MAX_FIELDS];
    size_t lens[6 + 2 * VG_CLUSTER_MAX_FIELDS];
    char key[VG_CLUSTER_MAX_NAME + 16], maxlen[16], scratch[96];
    snprintf(key, sizeof key, "vigia:jobs:%s", model);
    snprintf(maxlen, sizeof maxlen, "%u", f->o.stream_max);
    int k = 0;
    argv[k] = "XADD"; lens[k++] = 4;
    argv[k] = key; lens[k++] = strlen(key);
    argv[k] = "MAXLEN"; lens[k++] = 6;
    argv[k] = "~"; lens[k++] = 1;
    argv[k] = maxlen; lens[k++] = strlen(maxlen);
    argv[k] = "*"; lens[k++] = 1;
    k += vg_cluster_job_fields(&cj, scratch, argv + k, lens + k);
    rc = vg_bus_command(f->bus, NULL, NULL, k, argv, lens);
    vg_buf_release(&fr);
    vg_buf_release(&classes);
    if (rc != 0) {
        free(j);
        snprintf(err, errlen, "%s", "the cluster bus is down");
        return VG_E_BUSDOWN;
    }
    j->f = f;
    j->id = f->next_id++;
    snprintf(j->model, sizeof j->model, "%s", model);
    j->cb = cb;
    j->ud = ud;
    j->live = jb->live;
    j->start_us = vg_mono_us();
    ev_timer_init(&j->timer, on_deadline, dl / 1000.0, 0);
    j->timer.data = j;
    ev_timer_start(f->loop, &j->timer);
    vg_list_push_back(&f->pending, &j->link);
    f->sent++;
    *handle = j;
    read_replies(f);
    return 0;
}


static void
remote_cancel(void *ctx, void *handle)
{
    vg_cluster_front *f = ctx;
    rjob *j = handle;
    ev_timer_stop(f->loop, &j->timer);
    vg_list_remove(&f->pending, &j->link);
    free(j);
}


static void
remote_describe(void *ctx, struct vg_jsonw *w)
{
    vg_cluster_front *f = ctx;
    vg_jsonw_kbool(w, "enabled", 1);
    vg_jsonw_kstr(w, "node", f->node);
    vg_jsonw_kstr(w, "bus", vg_bus_is_up(f->bus) ? "up" : "down");
    if (!vg_bus_is_up(f->bus))
        vg_jsonw_kstr(w, "why", vg_bus_why(f->bus));
    vg_jsonw_kuint(w, "waiting", f->pending.n);
    vg_jsonw_kuint(w, "sent", f->sent);
    vg_jsonw_kuint(w, "answered", f->answered);
    vg_jsonw_kuint(w, "late_answers", f->late);
    vg_jsonw_kuint(w, "refused", f->refused);
    vg_placement_describe(f->pl, w);
}


/* This front end's own record: its local models, which it does not lend (free 0). */
static void
fill_self(vg_cluster_node *self, void *ud)
{
    vg_cluster_front *f = ud;
    /* called every interval: the reply stream outlives this front end by ten TTLs at most */
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%u", f->o.ttl_ms * 10);
    vg_bus_commandv(f->bus, NULL, NULL, "PEXPIRE", f->reply_key, ttl, NULL);
    size_t n = vg_pool_model_count(f->pool);
    for (size_t i = 0; i < n && self->nmodels < VG_CLUSTER_MAX_MODELS; i++) {
        vg_pool_model_stats s;
        if (vg_pool_model_stats_at(f->pool, i, &s) != 0 || !vg_cluster_name_ok(s.name, strlen(s.name)) ||
            strcmp(s.state, "unloaded") == 0 || strcmp(s.state, "invalid") == 0)
            continue;
        vg_cluster_model *m = &self->models[self->nmodels++];
        snprintf(m->name, sizeof m->name, "%s", s.name);
        snprintf(m->state, sizeof m->state, "%s", s.state);
        m->ready = s.workers_ready;
        m->free = 0;
    }
}


/* /metrics: the counters and states above, read when scraped. */
static void
collect(vg_metric *m, void *ud)
{
    vg_cluster_front *f = ud;
    if (m == f->m_jobs) {
        const char *res[] = { "sent", "answered", "refused", "late" };
        const uint64_t v[] = { f->sent, f->answered, f->refused, f->late };
        for (int i = 0; i < 4; i++) {
            const char *l[] = { res[i] };
            vg_series_set(vg_metrics_series(m, l), (double)v[i]);
        }
    } else if (m == f->m_waiting) {
        vg_series_set(vg_metrics_single(m), (double)f->pending.n);
    } else {
        vg_series_set(vg_metrics_single(m), vg_bus_is_up(f->bus) && vg_bus_is_up(f->rbus));
    }
}


static void
metrics_init(vg_cluster_front *f)
{
    f->m_jobs = vg_metrics_register("vigia_cluster_jobs_total", "jobs this front end sent to the cluster, answered "
                                    "from it, refused before sending (unplaced, 429, bus down) and answers that came "
                                    "late (dropped)", VG_COUNTER, "result", NULL, 0);
    f->m_waiting = vg_metrics_register("vigia_cluster_jobs_waiting", "jobs waiting for an answer from the cluster",
                                       VG_GAUGE, "", NULL, 0);
    f->m_up = vg_metrics_register("vigia_cluster_bus_up", "1 while both connections to the cluster bus are up",
                                  VG_GAUGE, "", NULL, 0);
    vg_metric *all[] = { f->m_jobs, f->m_waiting, f->m_up };
    for (int i = 0; i < 3; i++)
        if (all[i])
            vg_metrics_set_collect(all[i], collect, f);
}


int
vg_cluster_front_create(struct ev_loop *loop, const vg_bus_url *url, const vg_cluster_options *o, vg_pool *pool,
                        vg_cluster_front **out, char *err, size_t errlen)
{
    *out = NULL;
    vg_cluster_front *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->loop = loop;
    f->pool = pool;
    if (o)
        f->o = *o;
    else
        vg_cluster_options_init(&f->o);
    vg_cluster_node_name(&f->o, f->node, sizeof f->node);
    f->o.node = f->node;
    if (!vg_cluster_name_ok(f->node, strlen(f->node))) {
        snprintf(err, errlen, "cluster node name '%s': use 1..64 of A-Z a-z 0-9 . _ -", f->node);
        free(f);
        return VG_E_INVAL;
    }
    snprintf(f->reply_key, sizeof f->reply_key, "vigia:reply:%s", f->node);
    snprintf(f->last_id, sizeof f->last_id, "$");
    vg_list_init(&f->pending);
    vg_bus_options bo;
    vg_bus_options_init(&bo);
    bo.name = "bus";
    int rc = vg_bus_create(loop, url, &bo, &f->bus);
    bo.name = "replies";
    if (rc == 0)
        rc = vg_bus_create(loop, url, &bo, &f->rbus);
    if (rc == 0)
        rc = vg_placement_create(loop, f->bus, f->node, "front", f->o.interval_ms, f->o.ttl_ms, 1, fill_self, f,
                                 &f->pl);
    if (rc != 0) {
        snprintf(err, errlen, "cluster: %s", vg_err_str(rc));
        vg_cluster_front_destroy(f);
        return rc;
    }
    vg_bus_on_state(f->bus, on_bus_state, f);
    vg_bus_on_state(f->rbus, on_rbus_state, f);
    metrics_init(f);
    vg_pool_remote r = { .submit = remote_submit, .cancel = remote_cancel, .describe = remote_describe, .ctx = f };
    vg_pool_set_remote(pool, &r);
    vg_info("cluster", "front end %s on redis://%s:%d/%d (replies on %s)", f->node, url->host, url->port, url->db,
            f->reply_key);
    *out = f;
    return 0;
}


void
vg_cluster_front_destroy(vg_cluster_front *f)
{
    if (!f)
        return;
    if (f->pool)
        vg_pool_set_remote(f->pool, NULL);
    vg_metric *all[] = { f->m_jobs, f->m_waiting, f->m_up };
    for (int i = 0; i < 3; i++)
        if (all[i])
            vg_metrics_set_collect(all[i], NULL, NULL);
    fail_pending(f, VG_E_STOPPING, "the server is shutting down");
    vg_placement_destroy(f->pl);
    vg_bus_destroy(f->rbus);   /* an XREAD in flight gets NULL now, while f lives */
    vg_bus_destroy(f->bus);
    free(f);
}
