/*
 * node: a worker node pulling jobs from the bus into its pool (see node.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "base/error.h"
#include "base/frame.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cluster/envelope.h"
#include "cluster/node.h"
#include "cluster/placement.h"

#define GROUP "workers"
#define CLAIM_MAX 64

typedef struct nmodel {
    vg_cluster_worker *w;
    char name[VG_CLUSTER_MAX_NAME + 1];
    char key[VG_CLUSTER_MAX_NAME + 16];     /* vigia:jobs:NAME */
    vg_bus *rbus;                  /* its blocking XREADGROUP */
    int reading;
    int group_ok;                  /* XGROUP CREATE answered */
    unsigned inflight;             /* jobs of it in the pool */
    /* vigia_node_jobs_total{model,result}, vigia_node_jobs_claimed_total{model} */
    vg_series *m_answered, *m_dropped, *m_dead, *m_left, *m_claimed;
} nmodel;

struct vg_cluster_worker {
    struct ev_loop *loop;
    vg_pool *pool;
    vg_cluster_options o;
    char node[VG_CLUSTER_MAX_NAME + 1];
    vg_bus *bus;
    vg_placement *pl;
    ev_timer tick;                 /* claims, and pulls a model whose workers became ready */
    nmodel models[VG_CLUSTER_MAX_MODELS];
    size_t nmodels;
    uint64_t ran, dropped, dead, claimed;
    int stopping;                  /* vg_cluster_worker_stop(): no more pulls, claims or pool calls */
    void (*drained)(void *ud);     /* vg_cluster_worker_drain(): called once, when nothing runs any more */
    void *drained_ud;
    int drain_pinged;              /* the PING after the last answer is in flight */
    vg_metric *m_running, *m_up;   /* read when scraped (collect) */
};

/* One job in the pool. */
typedef struct njob {
    nmodel *m;
    uint64_t id;
    int live;
    char entry[48];                /* its stream id */
    char reply[VG_CLUSTER_MAX_KEY + 1];
    char *frame;                   /* a copy of its JOB frame, for the dead letters */
    size_t frame_len;
} njob;


static void pull(nmodel *m);
static void drain_check(vg_cluster_worker *w);


/* Jobs the model would take now: ready workers less those it runs. */
static unsigned
free_slots(const nmodel *m)
{
    vg_pool_model_stats s;
    if (vg_pool_model_stats_by_name(m->w->pool, m->name, &s) != 0 || s.workers_ready == 0)
        return 0;
    return s.workers_ready > m->inflight ? s.workers_ready - m->inflight : 0;
}


static void
ack(nmodel *m, const char *entry)
{
    vg_bus_commandv(m->w->bus, NULL, NULL, "XACK", m->key, GROUP, entry, NULL);
    vg_bus_commandv(m->w->bus, NULL, NULL, "XDEL", m->key, entry, NULL);
}


/* XADDs an answer to the job's reply stream. */
static void
reply(vg_cluster_worker *w, const char *reply_key, uint64_t id, int status, const char *msg,
      const vg_pool_result *res)
{
    vg_buf fr, labels;
    vg_buf_init(&fr);
    vg_buf_init(&labels);
    vg_ipc_result ir;
    memset(&ir, 0, sizeof ir);
    ir.id = id;
    ir.status = status;
    ir.msg = vg_str_of(msg ? msg : "");
    if (ir.msg.n > VG_IPC_MAX_STR)
        ir.msg.n = VG_IPC_MAX_STR;
    const vg_detection *dets = NULL;
    if (res && status == 0) {
        ir.w = res->width;
        ir.h = res->height;
        ir.ndet = res->count;
        dets = res->detections;
        ir.decode_us = res->decode_us;
        ir.infer_us = res->infer_us;
        ir.post_us = res->post_us;
        ir.annotate_us = res->annotate_us;
        ir.jpeg = res->jpeg;
        ir.jpeg_len = res->jpeg ? res->jpeg_len : 0;
        for (size_t i = 0; i < res->count; i++) {
            if (i)
                vg_buf_putc(&labels, '\n');
            vg_buf_puts(&labels, res->detections[i].label ? res->detections[i].label : "?");
        }
    }
    if (vg_ipc_encode_result(&fr, &ir, dets) != 0) {
        vg_buf_release(&fr);
        memset(&ir, 0, sizeof ir);
        ir.id = id;
        ir.status = VG_E_PROTO;
        ir.msg = VG_STR("the answer does not fit a worker message");
        labels.len = 0;
        vg_ipc_encode_result(&fr, &ir, NULL);
    }
    if (ir.jpeg_len)
        vg_buf_append(&fr, ir.jpeg, ir.jpeg_len);
    vg_cluster_result r = { .id = id, .node = vg_str_of(w->node), .labels = { labels.data, labels.len },
                            .frame = { fr.data, fr.len } };
    const char *argv[6 + 2 * VG_CLUSTER_MAX_FIELDS];
    size_t lens[6 + 2 * VG_CLUSTER_MAX_FIELDS];
    char scratch[48];
    int k = 0;
    argv[k] = "XADD"; lens[k++] = 4;
    argv[k] = reply_key; lens[k++] = strlen(reply_key);
    argv[k] = "MAXLEN"; lens[k++] = 6;
    argv[k] = "~"; lens[k++] = 1;
    argv[k] = "1000"; lens[k++] = 4;
    argv[k] = "*"; lens[k++] = 1;
    k += vg_cluster_result_fields(&r, scratch, argv + k, lens + k);
    if (vg_bus_command(w->bus, NULL, NULL, k, argv, lens) != 0)
        vg_warn("cluster", "cannot answer job %" PRIu64 " on %s: the bus is down", id, reply_key);
    vg_buf_release(&fr);
    vg_buf_release(&labels);
}


static void
dead_letter(nmodel *m, const char *entry, const char *reply_key, uint64_t id, const char *why, const char *frame,
            size_t frame_len)
{
    char key[VG_CLUSTER_MAX_NAME + 16], ids[24];
    snprintf(key, sizeof key, "vigia:dead:%s", m->name);
    snprintf(ids, sizeof ids, "%" PRIu64, id);
    const char *argv[] = { "XADD", key, "MAXLEN", "~", "1000", "*", "entry", entry, "reply", reply_key, "id", ids,
                           "node", m->w->node, "why", why, "job", frame ? frame : "" };
    size_t lens[18];
    for (int i = 0; i < 17; i++)
        lens[i] = strlen(argv[i]);
    lens[17] = frame ? frame_len : 0;
    vg_bus_command(m->w->bus, NULL, NULL, 18, argv, lens);
    m->w->dead++;
    vg_series_add(m->m_dead, 1);
    vg_warn("cluster", "%s: job %s of %s dead-lettered to %s: %s", m->name, entry, reply_key, key, why);
}


static void
on_done(int status, vg_pool_result *res, void *ud)
{
    njob *j = ud;
    nmodel *m = j->m;
    vg_cluster_worker *w = m->w;
    if (status == VG_E_STOPPING) {
        /* this node is going: leave the job unacknowledged for another node to claim */
        vg_series_add(m->m_left, 1);
    } else {
        if (status == VG_E_WORKERDIED)   /* counted dead_lettered, not answered (each job one result) */
            dead_letter(m, j->entry, j->reply, j->id, res->message, j->frame, j->frame_len);
        else
            vg_series_add(m->m_answered, 1);
        if (!(j->live && status == VG_E_TIMEDOUT))
            reply(w, j->reply, j->id, status, res->message, res);
        ack(m, j->entry);
    }
    m->inflight--;
    w->ran++;
    free(j->frame);
    free(j);
    pull(m);
    drain_check(w);
}


/* Splits "a,b" into at most 256 NUL-terminated names in buf. */
static size_t
split_classes(vg_str s, char *buf, const char **out, size_t max)
{
    size_t n = 0;
    if (!s.n)
        return 0;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}


/*
 * One entry of the model's stream: `deliveries` is how often it was
 * handed out before (0 for a new one, from XPENDING for a claimed one).
 */
static void
take_entry(nmodel *m, const char *entry, const redisReply *fields, long long deliveries)
{
    vg_cluster_worker *w = m->w;
    vg_str kv[2 * VG_CLUSTER_MAX_FIELDS];
    size_t n = vg_bus_reply_strs(fields, kv, 2 * VG_CLUSTER_MAX_FIELDS);
    vg_cluster_job cj;
    char err[160];
    int rc = vg_cluster_job_decode(kv, n, &cj, err, sizeof err);
    if (rc != 0) {
        vg_warn("cluster", "%s: entry %s refused: %s", m->key, entry, rc == VG_E_PROTO ? err : vg_err_str(rc));
        ack(m, entry);
        return;
    }
    char reply_key[VG_CLUSTER_MAX_KEY + 1];
    snprintf(reply_key, sizeof reply_key, "%.*s", (int)cj.reply.n, cj.reply.p);
    int64_t left = cj.deadline_ms - vg_cluster_wall_ms();
    if (left <= 0 || (cj.live && deliveries > 0)) {
        /* late, or a live frame another node held: dropped, never run twice */
        if (!cj.live)
            reply(w, reply_key, cj.id, VG_E_TIMEDOUT, "the job reached its deadline before a node took it", NULL);
        w->dropped++;
        vg_series_add(m->m_dropped, 1);
        ack(m, entry);
        vg_cluster_job_release(&cj);
        return;
    }
    if (deliveries >= 2) {
        dead_letter(m, entry, reply_key, cj.id, "two nodes were lost while running it", cj.frame.p, cj.frame.n);
        reply(w, reply_key, cj.id, VG_E_WORKERDIED, "the job was lost with two nodes: dead-lettered", NULL);
        ack(m, entry);
        vg_cluster_job_release(&cj);
        return;
    }
    const vg_ipc_job *ij = &cj.msg.u.job;
    char cbuf[VG_CLUSTER_MAX_CLASSES + 1];
    const char *classes[256];
    size_t nclasses = split_classes(cj.classes, cbuf, classes, 256);
    vg_pool_job job = { .image = ij->image, .image_len = ij->image_len, .min_confidence = ij->threshold,
                        .nms = ij->nms, .classes = nclasses ? classes : NULL, .nclasses = nclasses,
                        .annotate = ij->annotate, .jpeg_quality = ij->quality, .deadline_ms = (uint32_t)left,
                        .lane = cj.live ? VG_POOL_LANE_NVR : VG_POOL_LANE_BULK, .live = cj.live };
    njob *j = calloc(1, sizeof *j);
    char *copy = j ? malloc(cj.frame.n) : NULL;
    if (!j || !copy) {
        free(j);
        reply(w, reply_key, cj.id, -ENOMEM, "out of memory", NULL);
        ack(m, entry);
        vg_cluster_job_release(&cj);
        return;
    }
    memcpy(copy, cj.frame.p, cj.frame.n);
    j->frame = copy;
    j->frame_len = cj.frame.n;
    j->m = m;
    j->id = cj.id;
    j->live = cj.live;
    snprintf(j->entry, sizeof j->entry, "%s", entry);
    snprintf(j->reply, sizeof j->reply, "%s", reply_key);
    rc = vg_pool_submit(w->pool, m->name, &job, on_done, j, NULL, err, sizeof err);
    if (rc != 0) {
        reply(w, reply_key, cj.id, rc, err, NULL);
        ack(m, entry);
        free(j->frame);
        free(j);
    } else {
        m->inflight++;
    }
    vg_cluster_job_release(&cj);
}


/* Walks [[stream, [[id, fields]...]]...] (XREADGROUP) or [[id, fields]...] (XCLAIM). */
static void
take_entries(nmodel *m, const redisReply *entries, const char (*ids)[48], const long long *deliv, size_t nids)
{
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        char id[48];
        snprintf(id, sizeof id, "%.*s", (int)e->element[0]->len, e->element[0]->str);
        long long d = 0;
        for (size_t k = 0; k < nids; k++)
            if (strcmp(ids[k], id) == 0)
                d = deliv[k];
        if (e->element[1]->type != REDIS_REPLY_ARRAY) {
            ack(m, id);   /* deleted meanwhile */
            continue;
        }
        take_entry(m, id, e->element[1], d);
    }
}


static void
on_pull(vg_bus *bus, struct redisReply *r, void *ud)
{
    (void)bus;
    nmodel *m = ud;
    m->reading = 0;
    if (!r) {
        drain_check(m->w);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        vg_warn("cluster", "XREADGROUP %s: %s", m->key, r->str);
        if (strstr(r->str, "NOGROUP"))
            m->group_ok = 0;   /* the stream went (a Redis restart): create it again */
        return;            /* the tick tries again */
    }
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t s = 0; s < r->elements; s++) {
            const redisReply *st = r->element[s];
            if (st->type == REDIS_REPLY_ARRAY && st->elements == 2 && st->element[1]->type == REDIS_REPLY_ARRAY)
                take_entries(m, st->element[1], NULL, NULL, 0);
        }
    pull(m);
    drain_check(m->w);   /* what a read in flight brought runs first */
}


static void
on_group(vg_bus *bus, struct redisReply *r, void *ud)
{
    (void)bus;
    nmodel *m = ud;
    m->reading = 0;
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ERROR && !strstr(r->str, "BUSYGROUP")) {
        vg_warn("cluster", "XGROUP CREATE %s: %s", m->key, r->str);
        return;
    }
    m->group_ok = 1;
    pull(m);
}


static void
pull(nmodel *m)
{
    if (m->w->stopping || m->reading || !vg_bus_is_up(m->rbus))
        return;
    if (!m->group_ok) {
        if (vg_bus_commandv(m->rbus, on_group, m, "XGROUP", "CREATE", m->key, GROUP, "0", "MKSTREAM", NULL) == 0)
            m->reading = 1;
        return;
    }
    unsigned n = free_slots(m);
    if (n == 0)
        return;   /* a job's end or the tick pulls again */
    char count[16];
    snprintf(count, sizeof count, "%u", n);
    if (vg_bus_commandv(m->rbus, on_pull, m, "XREADGROUP", "GROUP", GROUP, m->w->node, "COUNT", count, "BLOCK",
                        "1000", "STREAMS", m->key, ">", NULL) == 0)
        m->reading = 1;
}


static void
on_rbus_state(vg_bus *bus, int up, void *ud)
{
    (void)bus;
    nmodel *m = ud;
    if (up) {
        m->group_ok = 0;
        pull(m);
    }
}


/* ---- claims: jobs another node left unacknowledged ------------------------ */

typedef struct claim {
    nmodel *m;
    size_t n;
    char ids[CLAIM_MAX][48];
    long long deliv[CLAIM_MAX];
} claim;


static void
on_xclaim(vg_bus *bus, struct redisReply *r, void *ud)
{
    (void)bus;
    claim *c = ud;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        c->m->w->claimed += r->elements;
        vg_series_add(c->m->m_claimed, (double)r->elements);
        if (r->elements)
            vg_info("cluster", "%s: claimed %zu job(s) another node left", c->m->key, r->elements);
        take_entries(c->m, r, (const char (*)[48])c->ids, c->deliv, c->n);
    }
    free(c);
}


static void
on_xpending(vg_bus *bus, struct redisReply *r, void *ud)
{
    claim *c = ud;
    nmodel *m = c->m;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        free(c);
        return;
    }
    const char *argv[6 + CLAIM_MAX];
    size_t lens[6 + CLAIM_MAX];
    char idle[16];
    snprintf(idle, sizeof idle, "%u", m->w->o.claim_after_ms);
    int k = 0;
    argv[k++] = "XCLAIM";
    argv[k++] = m->key;
    argv[k++] = GROUP;
    argv[k++] = m->w->node;
    argv[k++] = idle;
    for (size_t i = 0; i < r->elements && c->n < CLAIM_MAX; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        snprintf(c->ids[c->n], sizeof c->ids[0], "%.*s", (int)e->element[0]->len, e->element[0]->str);
        c->deliv[c->n] = e->element[3]->integer;
        argv[k++] = c->ids[c->n++];
    }
    for (int i = 0; i < k; i++)
        lens[i] = strlen(argv[i]);
    if (c->n == 0 || vg_bus_command(bus, on_xclaim, c, k, argv, lens) != 0)
        free(c);
}


static void
claim_start(nmodel *m)
{
    unsigned n = free_slots(m);
    if (n == 0 || !m->group_ok)
        return;
    if (n > CLAIM_MAX)
        n = CLAIM_MAX;
    claim *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->m = m;
    char idle[16], count[16];
    snprintf(idle, sizeof idle, "%u", m->w->o.claim_after_ms);
    snprintf(count, sizeof count, "%u", n);
    if (vg_bus_commandv(m->w->bus, on_xpending, c, "XPENDING", m->key, GROUP, "IDLE", idle, "-", "+", count, NULL) != 0)
        free(c);
}


static void
on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    vg_cluster_worker *w = t->data;
    if (w->stopping || !vg_bus_is_up(w->bus))
        return;
    for (size_t i = 0; i < w->nmodels; i++) {
        claim_start(&w->models[i]);
        pull(&w->models[i]);
    }
}


static void
fill_self(vg_cluster_node *self, void *ud)
{
    vg_cluster_worker *w = ud;
    for (size_t i = 0; i < w->nmodels; i++) {
        nmodel *m = &w->models[i];
        vg_pool_model_stats s;
        vg_cluster_model *cm = &self->models[self->nmodels++];
        snprintf(cm->name, sizeof cm->name, "%s", m->name);
        if (vg_pool_model_stats_by_name(w->pool, m->name, &s) != 0) {
            snprintf(cm->state, sizeof cm->state, "missing");
            continue;
        }
        snprintf(cm->state, sizeof cm->state, "%s", s.state);
        cm->ready = s.workers_ready;
        cm->free = free_slots(m);
    }
}


/* At scrape time: the jobs each model runs, and whether every connection to the bus is up. */
static void
collect(vg_metric *m, void *ud)
{
    (void)m;
    vg_cluster_worker *w = ud;
    int up = vg_bus_is_up(w->bus);
    for (size_t i = 0; i < w->nmodels; i++) {
        const char *v[] = { w->models[i].name };
        vg_series_set(vg_metrics_series(w->m_running, v), w->models[i].inflight);
        up = up && vg_bus_is_up(w->models[i].rbus);
    }
    vg_series_set(vg_metrics_single(w->m_up), up);
}


static void
register_metrics(vg_cluster_worker *w)
{
    vg_metric *jobs = vg_metrics_register("vigia_node_jobs_total", "jobs this worker node took from the bus, by "
                                          "model and result (one each): answered, dropped (late), dead_lettered (and "
                                          "answered 503), left (unanswered at a stop, for another node)", VG_COUNTER, "model,result", NULL, 0);
    vg_metric *claimed = vg_metrics_register("vigia_node_jobs_claimed_total", "jobs this node claimed from nodes "
                                             "that left them unacknowledged", VG_COUNTER, "model", NULL, 0);
    w->m_running = vg_metrics_register("vigia_node_jobs_running", "jobs of each model this node runs now",
                                       VG_GAUGE, "model", NULL, 0);
    w->m_up = vg_metrics_register("vigia_node_bus_up", "1 while every connection of this node to the bus is up",
                                  VG_GAUGE, "", NULL, 0);
    vg_metrics_set_collect(w->m_running, collect, w);
    vg_metrics_set_collect(w->m_up, collect, w);
    for (size_t i = 0; i < w->nmodels; i++) {
        nmodel *m = &w->models[i];
        const char *a[] = { m->name, "answered" }, *d[] = { m->name, "dropped" }, *x[] = { m->name, "dead_lettered" },
                   *l[] = { m->name, "left" }, *c[] = { m->name };
        m->m_answered = vg_metrics_series(jobs, a);
        m->m_dropped = vg_metrics_series(jobs, d);
        m->m_dead = vg_metrics_series(jobs, x);
        m->m_left = vg_metrics_series(jobs, l);
        m->m_claimed = vg_metrics_series(claimed, c);
    }
}


int
vg_cluster_worker_create(struct ev_loop *loop, const vg_bus_url *url, const vg_cluster_options *o, vg_pool *pool,
                         const char *models, vg_cluster_worker **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    vg_cluster_worker *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    int rc = VG_E_INVAL;
    w->loop = loop;
    w->pool = pool;
    if (o)
        w->o = *o;
    else
        vg_cluster_options_init(&w->o);
    vg_cluster_node_name(&w->o, w->node, sizeof w->node);
    w->o.node = w->node;
    ev_timer_init(&w->tick, on_tick, 0, w->o.interval_ms / 1000.0);
    w->tick.data = w;
    if (!vg_cluster_name_ok(w->node, strlen(w->node))) {
        snprintf(err, errlen, "cluster node name '%s': use 1..64 of A-Z a-z 0-9 . _ -", w->node);
        goto fail;
    }
    char list[1024];
    snprintf(list, sizeof list, "%s", models ? models : "");
    char *save = NULL;
    for (char *name = strtok_r(list, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
        if (!vg_cluster_name_ok(name, strlen(name)) || w->nmodels == VG_CLUSTER_MAX_MODELS) {
            snprintf(err, errlen, "bad model name '%.64s' (or more than 32 models)", name);
            goto fail;
        }
        nmodel *m = &w->models[w->nmodels++];
        m->w = w;
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->key, sizeof m->key, "vigia:jobs:%s", name);
    }
    if (w->nmodels == 0) {
        snprintf(err, errlen, "%s", "a worker node needs at least one model (--models a,b)");
        goto fail;
    }
    vg_bus_options bo;
    vg_bus_options_init(&bo);
    bo.name = "bus";
    if ((rc = vg_bus_create(loop, url, &bo, &w->bus)) != 0)
        goto fail;
    for (size_t i = 0; i < w->nmodels; i++) {
        bo.name = w->models[i].name;
        if ((rc = vg_bus_create(loop, url, &bo, &w->models[i].rbus)) != 0)
            goto fail;
        vg_bus_on_state(w->models[i].rbus, on_rbus_state, &w->models[i]);
    }
    register_metrics(w);
    rc = vg_placement_create(loop, w->bus, w->node, "worker", w->o.interval_ms, w->o.ttl_ms, 0, fill_self, w, &w->pl);
    if (rc != 0)
        goto fail;
    ev_timer_start(loop, &w->tick);
    vg_info("cluster", "worker node %s on redis://%s:%d/%d, models %s", w->node, url->host, url->port, url->db,
            models);
    *out = w;
    return 0;
fail:
    if (rc != VG_E_INVAL || !err[0])
        snprintf(err, errlen, "cluster: %s", vg_err_str(rc));
    vg_cluster_worker_destroy(w);
    return rc;
}


int
vg_cluster_worker_ready(const vg_cluster_worker *w, char *why, size_t whylen)
{
    if (w->stopping) {
        snprintf(why, whylen, "the node is draining");
        return 0;
    }
    if (!vg_bus_is_up(w->bus)) {
        snprintf(why, whylen, "the cluster bus is down: %s", vg_bus_why(w->bus));
        return 0;
    }
    for (size_t i = 0; i < w->nmodels; i++) {
        vg_pool_model_stats s;
        if (vg_pool_model_stats_by_name(w->pool, w->models[i].name, &s) != 0 || s.workers_ready == 0) {
            snprintf(why, whylen, "model '%s' has no worker ready", w->models[i].name);
            return 0;
        }
    }
    return 1;
}


void
vg_cluster_worker_stop(vg_cluster_worker *w)
{
    if (!w)
        return;
    w->stopping = 1;
    ev_timer_stop(w->loop, &w->tick);
    vg_placement_destroy(w->pl);   /* leaves the view now */
    w->pl = NULL;
}


static void
on_drain_ping(vg_bus *bus, struct redisReply *r, void *ud)
{
    (void)bus;
    (void)r;   /* answered or dropped: either way nothing of ours waits on the connection any more */
    vg_cluster_worker *w = ud;
    void (*cb)(void *) = w->drained;
    w->drained = NULL;
    if (cb)
        cb(w->drained_ud);
}


/* Draining: once no job runs and no read is in flight, a PING flushes the answers and acks sent before it. */
static void
drain_check(vg_cluster_worker *w)
{
    if (!w->drained || w->drain_pinged)
        return;
    for (size_t i = 0; i < w->nmodels; i++)
        if (w->models[i].inflight || w->models[i].reading)
            return;
    w->drain_pinged = 1;
    if (!vg_bus_is_up(w->bus) || vg_bus_commandv(w->bus, on_drain_ping, w, "PING", NULL) != 0)
        on_drain_ping(w->bus, NULL, w);
}


unsigned
vg_cluster_worker_drain(vg_cluster_worker *w, void (*drained)(void *ud), void *ud)
{
    unsigned running = 0;
    vg_cluster_worker_stop(w);
    for (size_t i = 0; i < w->nmodels; i++)
        running += w->models[i].inflight;
    w->drained = drained;
    w->drained_ud = ud;
    drain_check(w);
    return running;
}


void
vg_cluster_worker_destroy(vg_cluster_worker *w)
{
    if (!w)
        return;
    ev_timer_stop(w->loop, &w->tick);
    if (w->m_running) {
        vg_metrics_set_collect(w->m_running, NULL, NULL);
        vg_metrics_set_collect(w->m_up, NULL, NULL);
    }
    vg_placement_destroy(w->pl);
    for (size_t i = 0; i < w->nmodels; i++)
        vg_bus_destroy(w->models[i].rbus);
    vg_bus_destroy(w->bus);
    free(w);
}
