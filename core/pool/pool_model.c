/*
 * pool_model: the pool's list of models and their manifests: scanning the
 * models directory, load, unload and rolling reload, and each model's
 * state as its workers come and go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "pool/pool_internal.h"


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


def *
vg_pool__def_ref(def *d)
{
    d->refs++;
    return d;
}


void
vg_pool__def_unref(def *d)
{
    if (d && --d->refs == 0) {
        vg_model_destroy(d->m);
        free(d);
    }
}


int
vg_pool__worker_alive_count(const model *m, int ready_only)
{
    int n = 0;
    vg_list_each(w, &m->workers, const worker, link)
        if (w->state != W_GONE && !w->retiring && (!ready_only || w->state == W_READY))
            n++;
    return n;
}


void
vg_pool__model_update_state(model *m)
{
    if (!m->loaded) {
        if (m->state != M_INVALID)
            m->state = vg_list_empty(&m->workers) ? M_UNLOADED : M_UNLOADING;
        return;
    }
    if (m->state == M_FAILED)
        return;
    int ready = vg_pool__worker_alive_count(m, 1);
    if (ready == 0)
        m->state = m->ever_ready ? M_DEGRADED : M_LOADING;
    else
        m->state = (unsigned)ready >= m->target ? M_READY : M_DEGRADED;
}


void
vg_pool__model_fail(model *m, int status, const char *reason)
{
    char why[sizeof m->why];
    snprintf(why, sizeof why, "%s", reason);   /* reason may be m->why itself */
    snprintf(m->fail, sizeof m->fail, "%s", why);
    snprintf(m->why, sizeof m->why, "%s", why);
    m->state = M_FAILED;
    m->fail_status = status;
    ev_timer_stop(m->pool->loop, &m->respawn);
    vg_error("pool", "model %s failed: %s", m->name, why);
    vg_pool__fail_queue(m, status, m->fail);
    /* nothing more is sent to its workers: the idle ones go now, the busy ones after their batch */
    vg_list_each_safe(w, next, &m->workers, worker, link) {
        w->retiring = 1;
        if (w->state == W_READY && w->ninflight == 0)
            vg_pool__worker_send_quit(w);
    }
}


/* An alias's target: the model that runs its jobs, or NULL with err saying why (VG_E_NOMODEL). */
model *
vg_pool__alias_target(const vg_pool *p, const model *alias, char *err, size_t errlen)
{
    const char *target = alias->d->m->alias;
    model *t = vg_pool__find_model(p, target);
    if (!t || !t->d) {
        vg_pool__copy_err(err, errlen, "'%s' is an alias of model '%s', which is %s", alias->name, target,
                          t ? "invalid" : "not installed");
        return NULL;
    }
    if (t->d->m->alias) {
        vg_pool__copy_err(err, errlen, "'%s' is an alias of '%s', itself an alias: name a model", alias->name,
                          target);
        return NULL;
    }
    return t;
}


model *
vg_pool__find_model(const vg_pool *p, const char *name)
{
    for (size_t i = 0; i < p->nmodels; i++)
        if (strcmp(p->models[i]->name, name) == 0)
            return p->models[i];
    return NULL;
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
    ev_timer_init(&m->respawn, vg_pool__on_respawn, 0, 0);
    m->respawn.data = m;
    ev_timer_init(&m->batch_timer, vg_pool__on_batch_timer, 0, 0);
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
        vg_pool__copy_err(err, errlen, "%s: [batching] %s must be an integer in %llu..%llu (the manifest's batch is %u), not '%.40s'",
                 vm->name, key, lo, hi, vm->batch, v);
        return -1;
    }
    *out = x;
    return 0;
}


/*
 * The [model] keys the pool reads: mem_cap (a size; 0 = none; absent: the
 * pool's, where auto is the weights x 2 + VG_POOL_MEM_CAP_MARGIN above
 * the worker's RSS when it became ready) and
 * infer_timeout (a duration; absent: the pool's job_timeout_ms). 0, or -1
 * with err saying which key is wrong.
 */
static int
limits_of(const vg_pool *p, const vg_model *vm, def *d, char *err, size_t errlen)
{
    double v;
    const char *cap = vg_model_get(vm, "mem_cap");
    const char *it = vg_model_get(vm, "infer_timeout");
    if (cap) {
        if (vg_config_parse_size(cap, &v) != 0 || v > (double)((size_t)1 << 50)) {
            vg_pool__copy_err(err, errlen, "%s: mem_cap must be a size (e.g. 512M, 2G; 0 = none), not '%.40s'",
                              vm->name, cap);
            return -1;
        }
        d->mem_cap = (size_t)v;
    } else if (p->o.mem_cap == VG_POOL_MEM_CAP_AUTO) {
        struct stat st;
        size_t weights = vm->weights_path && stat(vm->weights_path, &st) == 0 ? (size_t)st.st_size : 0;
        d->mem_cap = 2 * weights + VG_POOL_MEM_CAP_MARGIN;
        d->mem_cap_growth = 1;
    } else {
        d->mem_cap = p->o.mem_cap;
    }
    d->infer_timeout_ms = p->o.job_timeout_ms;
    if (it) {
        if (vg_config_parse_seconds(it, &v) != 0 || v < 0.001 || v > 86400) {
            vg_pool__copy_err(err, errlen, "%s: infer_timeout must be a duration from 1ms to 1d (e.g. 10s), "
                              "not '%.40s'", vm->name, it);
            return -1;
        }
        d->infer_timeout_ms = (uint32_t)(v * 1000 + 0.5);
    }
    return 0;
}


/* (Re)reads a model's manifest into a new def. */
static int
read_manifest(vg_pool *p, const char *name, def **out, char *err, size_t errlen)
{
    char dir[4096];
    vg_model *vm = NULL;
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", p->models_dir, name) >= sizeof dir) {
        vg_pool__copy_err(err, errlen, "%s: path too long", name);
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
            vg_pool__copy_err(err, errlen, "%s: unknown key '%s' in [batching]", name, vm->keys[i] + 9);
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
    if (limits_of(p, vm, *out, err, errlen) != 0) {
        vg_pool__def_unref(*out);
        *out = NULL;
        return VG_E_MANIFEST;
    }
    return 0;
}


static int
scan_cb(void *ud, const char *name, const char *dir)
{
    vg_pool *p = ud;
    char err[1024];
    (void)dir;
    if (!vg_model_name_valid(name))
        return 0;
    model *m = vg_pool__find_model(p, name);
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
    vg_pool__def_unref(m->d);
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
        vg_pool__copy_err(err, errlen, "invalid model name '%.80s'", name ? name : "");
        return VG_E_NOMODEL;
    }
    if (p->stopping) {
        vg_pool__copy_err(err, errlen, "%s", "the server is shutting down");
        return VG_E_STOPPING;
    }
    model *m = vg_pool__find_model(p, name);
    if (m && m->loaded && m->state == M_FAILED)   /* load again = start afresh (a crash loop is over) */
        return vg_pool_model_reload(p, name, err, errlen);
    if (m && m->loaded) {
        vg_pool__copy_err(err, errlen, "model %s is already loaded", name);
        return VG_E_EXISTS;
    }
    if (m && !vg_list_empty(&m->workers)) {
        vg_pool__copy_err(err, errlen, "model %s is still unloading", name);
        return VG_E_EXISTS;
    }
    if (workers > VG_MODEL_MAX_WORKERS) {
        vg_pool__copy_err(err, errlen, "%s", "too many workers");
        return VG_E_INVAL;
    }
    int rc = read_manifest(p, name, &d, e, sizeof e);
    if (rc == 0 && d->m->alias) {
        vg_pool__copy_err(err, errlen, "%s is an alias of %s: load %s", name, d->m->alias, d->m->alias);
        vg_pool__def_unref(d);
        return VG_E_INVAL;
    }
    if (rc != 0) {
        if (!m && rc != -ENOMEM && access(p->models_dir, F_OK) == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", p->models_dir, name);
            if (access(path, F_OK) != 0) {
                vg_pool__copy_err(err, errlen, "no model directory %s", path);
                return VG_E_NOMODEL;
            }
        }
        vg_pool__copy_err(err, errlen, "%s", e);
        if (m) {
            m->state = M_INVALID;
            snprintf(m->why, sizeof m->why, "%s", e);
        }
        return rc == -ENOMEM ? rc : VG_E_MANIFEST;
    }
    if (!m && !(m = model_new(p, name))) {
        vg_pool__def_unref(d);
        vg_pool__copy_err(err, errlen, "%s", "out of memory");
        return -ENOMEM;
    }
    vg_pool__def_unref(m->d);
    m->d = d;
    free(m->backend_override);
    m->backend_override = backend && backend[0] ? strdup(backend) : NULL;
    m->target = workers ? workers : d->m->workers ? d->m->workers : p->o.workers;
    m->loaded = 1;
    m->loaded_us = vg_mono_us();
    m->gen++;
    m->state = M_LOADING;
    m->start_fails = m->crash_streak = 0;
    m->crash_len = m->crash_pos = 0;
    m->why[0] = m->fail[0] = m->backend[0] = m->device[0] = m->resize[0] = m->resize_why[0] = '\0';
    m->head[0] = m->head_from[0] = '\0';
    m->input_w = d->m->input_w;
    m->input_h = d->m->input_h;
    m->classes = d->m->classes;
    vg_info("pool", "model %s: starting %u worker(s), backend %s", name, m->target,
            m->backend_override ? m->backend_override : d->m->backend);
    m->ever_ready = 0;
    vg_pool__spawn_missing(m, 0);
    if (vg_list_empty(&m->workers)) {
        m->loaded = 0;
        m->state = M_FAILED;
        vg_pool__copy_err(err, errlen, "model %s: no worker could be started", name);
        return VG_E_UNAVAILABLE;
    }
    return 0;
}


int
vg_pool_model_unload(vg_pool *p, const char *name)
{
    model *m = name ? vg_pool__find_model(p, name) : NULL;
    if (!m)
        return VG_E_NOMODEL;
    if (!m->loaded)
        return VG_E_NOTLOADED;
    m->loaded = 0;
    ev_timer_stop(p->loop, &m->respawn);
    ev_timer_stop(p->loop, &m->batch_timer);
    vg_pool__fail_queue(m, VG_E_NOTLOADED, "the model was unloaded");
    vg_list_each_safe(w, next, &m->workers, worker, link) {
        w->retiring = 1;
        if (w->state == W_STARTING)
            vg_pool__worker_lost(w, "unloaded");
        else if (w->ninflight == 0)
            vg_pool__worker_send_quit(w);
    }
    if (m->next_d) {
        vg_pool__def_unref(m->next_d);
        m->next_d = NULL;
    }
    vg_pool__model_update_state(m);
    vg_info("pool", "model %s: unloading", name);
    return 0;
}


int
vg_pool_model_reload(vg_pool *p, const char *name, char *err, size_t errlen)
{
    model *m = name ? vg_pool__find_model(p, name) : NULL;
    def *d = NULL;
    if (!m) {
        vg_pool__copy_err(err, errlen, "no model '%.80s'", name ? name : "");
        return VG_E_NOMODEL;
    }
    if (!m->loaded) {
        vg_pool__copy_err(err, errlen, "model %s is not loaded", name);
        return VG_E_NOTLOADED;
    }
    int rc = read_manifest(p, name, &d, err, errlen);
    if (rc != 0)
        return rc == -ENOMEM ? rc : VG_E_MANIFEST;
    if (m->state == M_FAILED) {
        /* nothing serves: a plain restart with the new manifest */
        vg_pool__def_unref(m->d);
        m->d = d;
        m->state = M_LOADING;
        m->start_fails = m->crash_streak = 0;
        m->crash_len = m->crash_pos = 0;
        m->why[0] = m->fail[0] = '\0';
        vg_info("pool", "model %s: restarting after it failed", name);
        m->gen++;
        m->target = d->m->workers ? d->m->workers : m->target;
        m->ever_ready = 0;
        vg_pool__spawn_missing(m, 0);
        return 0;
    }
    if (m->next_d)
        vg_pool__def_unref(m->next_d);
    m->next_d = d;
    m->gen++;
    vg_info("pool", "model %s: rolling restart (generation %d)", name, m->gen);
    vg_pool__spawn_missing(m, 0);
    return 0;
}


const char *
vg_pool_configured_default(const vg_pool *p)
{
    return p->default_model;
}


int
vg_pool_default_problem(const vg_pool *p, char *why, size_t whylen)
{
    if (!p->default_model)
        return 0;
    const model *m = vg_pool__find_model(p, p->default_model);
    if (m && m->state != M_INVALID)
        return 0;
    if (m) {
        snprintf(why, whylen, "the default model '%s' is invalid: %s (fix its model.conf, or choose another "
                 "model with --detect-default-model NAME)", m->name, m->why);
        return 1;
    }
    int o = snprintf(why, whylen, "the default model '%s' is not in the models folder %s (fetch it with "
                     "scripts/fetch-models %s, or choose another model with --detect-default-model NAME",
                     p->default_model, p->models_dir, p->default_model);
    const char *sep = "; installed:";
    for (size_t i = 0; i < p->nmodels && o > 0 && (size_t)o < whylen; i++) {
        if (p->models[i]->state == M_INVALID)
            continue;
        o += snprintf(why + o, whylen - (size_t)o, "%s %s", sep, p->models[i]->name);
        sep = ",";
    }
    if (o > 0 && (size_t)o < whylen)
        snprintf(why + o, whylen - (size_t)o, "%s)", sep[0] == ';' ? "; none is installed" : "");
    return 1;
}


const char *
vg_pool_default_model(const vg_pool *p)
{
    if (p->default_model) {
        const model *m = vg_pool__find_model(p, p->default_model);
        if (m && m->loaded)
            return m->name;
    }
    for (size_t i = 0; i < p->nmodels; i++)
        if (p->models[i]->loaded)
            return p->models[i]->name;
    return NULL;
}
